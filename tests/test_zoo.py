"""The zoo: every registered model trains, honours the contracts of docs/plugins.md §2 and
round-trips through safetensors; plus the pieces the models are made of (gradient
penalty, spectral norm, ACGAN's class loss, timm discriminators, EMA, 64-px folders).

Fast on a CPU: tiny widths, 8x8 digits, a handful of steps."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine.build import build_discriminator, build_generator, load_generator
from ganzoo.engine.config import resolve
from ganzoo.engine.train import train
from ganzoo.errors import GanzooError
from ganzoo.registry import get_registry

MODELS = [spec.name for spec in get_registry().list("model") if spec.task == "generate"]  # tests/test_translation.py
#: covers the image-to-image models
ZOO = ("dcgan", "cgan", "cdcgan", "acgan", "wgan-gp", "lsgan", "sngan")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_options(model: str) -> dict:
    """Narrow networks where the model has a width knob: the contracts do not depend on width."""
    return {"width": 8} if "width" in get_registry().model(model).options else {}


def config(model: str, tmp_path, **overrides):
    base = {"dataset": "digits", "steps": 3, "batch_size": 8, "log_every": 1, "sample_every": 3, "ckpt_every": 3,
            "device": "cpu", "out": str(tmp_path / model), "options": small_options(model)}
    base.update(overrides)
    return resolve(model, **base)


def networks(model: str, shape: tuple[int, ...], num_classes: int = 10):
    cfg = resolve(model, device="cpu", out="unused", options=small_options(model))
    k = num_classes if get_registry().model(model).conditional else 0
    torch.manual_seed(0)
    return build_generator(cfg, shape, k), build_discriminator(cfg, shape, k), k


def test_the_seven_are_registered_with_papers():
    for name in ZOO:
        spec = get_registry().model(name)
        assert spec.paper and spec.summary
    assert set(ZOO) <= set(MODELS)


def test_paper_defaults():
    reg = get_registry()
    wgan = reg.model("wgan-gp")
    # the paper's recipe on the 2-D mixtures; on images a faster one (1 critic step, 1e-3) that draws digits
    points = wgan.point_defaults
    assert (wgan.loss, points.reg, points.n_critic) == ("wasserstein", ("gp:10",), 5)
    assert (points.lr_g, points.lr_d, points.betas) == (1e-4, 1e-4, (0.0, 0.9))
    assert (wgan.defaults.reg, wgan.defaults.n_critic, wgan.defaults.betas) == (("gp:10",), 1, (0.5, 0.9))
    assert reg.model("sngan").loss == "hinge"
    assert reg.model("lsgan").loss == "lsgan"
    assert reg.model("acgan").terms == ("acgan-aux:1",) and reg.model("infogan").terms == ("info:1",)
    assert reg.model("dcgan").defaults.betas == (0.5, 0.999) and reg.model("cdcgan").defaults.lr_g == 2e-4
    assert all(reg.model(m).defaults.lr_g == 1e-3 for m in ("vanilla", "acgan", "sngan", "infogan"))
    for name in ("dcgan", "lsgan"):  # InfoGAN's rates; D's head chosen by channel count (their docstring)
        spec = reg.model(name)
        assert (spec.defaults.lr_g, spec.defaults.lr_d, spec.options["d_hidden"]) == (1e-3, 2e-4, None)
    assert all(reg.model(m).conditional for m in ("cgan", "cdcgan", "acgan"))


# -- every registered model -------------------------------------------------------------------
def gen(G, z, labels=None):
    """G as the loop calls it: with latent codes drawn from their priors when it has some (InfoGAN)."""
    codes = {c.name: c.sample(len(z), generator=torch.Generator().manual_seed(0)) for c in getattr(G, "codes", ())}
    return G(z, labels, codes=codes) if codes else G(z, labels)


@pytest.mark.parametrize("model", MODELS)
def test_trains_a_few_steps(model, tmp_path):
    cfg = config(model, tmp_path)
    result = train(cfg, quiet=True)
    assert result.step == 3
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert math.isfinite(result.metrics[key]), (key, result.metrics)
    run = tmp_path / model
    assert (run / "checkpoint" / ckpt.GENERATOR).is_file() and (run / "checkpoint" / ckpt.DISCRIMINATOR).is_file()
    assert (run / "samples" / "step-000003.png").is_file()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]

    G, meta, weights = load_generator(run)
    assert weights == ("ema" if meta["ema"] else "raw") and not G.training
    n = 4
    labels = torch.arange(n) % G.num_classes if G.num_classes else None
    out = gen(G, torch.randn(n, G.latent_dim), labels)
    assert out.shape == (n, 1, 8, 8)


@pytest.mark.parametrize("model", ZOO)
def test_trains_on_2d_points(model, tmp_path):
    result = train(config(model, tmp_path, dataset="ring8", batch_size=16, steps=2, sample_every=2, ckpt_every=2),
                   quiet=True)
    assert math.isfinite(result.metrics["d_loss"]) and math.isfinite(result.metrics["g_loss"])
    assert (tmp_path / model / "samples" / "step-000002.png").is_file()


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (2,)], ids=["8px", "28px", "32px", "points"])
@pytest.mark.parametrize("model", MODELS)
def test_contracts(model, shape):
    G, D, k = networks(model, shape)
    assert (G.latent_dim, G.num_classes, tuple(G.output_shape)) == (G.latent_dim, k, shape)
    n = 6
    z = torch.randn(n, G.latent_dim)
    labels = torch.arange(n) % k if k else None

    G.eval(), D.eval()
    with torch.no_grad():
        x = gen(G, z, labels)
        assert x.shape == (n, *shape) and x.dtype == torch.float32
        if len(shape) == 3:
            assert x.min() >= -1 and x.max() <= 1
        assert torch.equal(x, gen(G, z, labels)), "generator not deterministic in eval mode"
        logits = D(x, labels)
        assert logits.shape == (n,) and logits.dtype == torch.float32
        assert torch.equal(logits, D(x, labels)), "discriminator not deterministic in eval mode"
        if k:
            other = (labels + 1) % k
            assert not torch.allclose(gen(G, z, other), x), "generator ignores its labels"
            if hasattr(D, "heads"):  # ACGAN: D reads the class from the image, not from labels
                assert D.heads(x, labels)["classes"].shape == (n, k)
            else:
                assert not torch.allclose(D(x, other), logits), "discriminator ignores its labels"

    G.train(), D.train()  # a training-mode step runs and reaches G through D
    fake = gen(G, z, labels)
    D(fake, labels).mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())


@pytest.mark.parametrize("model", MODELS)
def test_state_round_trip_through_safetensors(model, tmp_path):
    G, D, k = networks(model, (1, 8, 8))
    with torch.no_grad():  # make sure nothing is at its initial value (BatchNorm stats included)
        for t in list(G.state_dict().values()) + list(D.state_dict().values()):
            if t.is_floating_point():
                t.add_(0.01 * torch.randn_like(t))
    ckpt.save_checkpoint(tmp_path, {ckpt.GENERATOR: G, ckpt.DISCRIMINATOR: D}, {"step": 1})
    G2, D2, _ = networks(model, (1, 8, 8))
    ckpt.load_weights(tmp_path / "checkpoint" / ckpt.GENERATOR, G2)
    ckpt.load_weights(tmp_path / "checkpoint" / ckpt.DISCRIMINATOR, D2)
    z = torch.randn(6, G.latent_dim)  # even: packing discriminators (PacGAN) need it
    labels = torch.arange(6) % k if k else None
    for m in (G, D, G2, D2):
        m.eval()
    with torch.no_grad():
        assert torch.equal(gen(G, z, labels), gen(G2, z, labels))
        x = gen(G, z, labels)
        assert torch.equal(D(x, labels), D2(x, labels))


# -- DCGAN sizes and options --------------------------------------------------------------------
@pytest.mark.parametrize("side", [8, 16, 28, 32, 64])
def test_dcgan_image_sizes(side):
    G, D, _ = networks("dcgan", (3, side, side))
    with torch.no_grad():
        x = G.eval()(torch.randn(2, G.latent_dim))
        assert x.shape == (2, 3, side, side)
        assert D.eval()(x).shape == (2,)


def test_dcgan_follows_the_paper():
    from ganzoo.models.dcgan import DCGANDiscriminator, DCGANGenerator

    G, D, _ = networks("dcgan", (1, 28, 28))
    assert isinstance(G, DCGANGenerator) and isinstance(D, DCGANDiscriminator)
    assert any(isinstance(m, nn.ConvTranspose2d) for m in G.modules())
    assert isinstance(list(G.modules())[-1], nn.Tanh)
    assert any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert any(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in D.modules())
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in list(G.modules()) + list(D.modules()))
    linear, norm, _ = D.head.hidden  # the hidden layer before the logit (a documented deviation)
    assert linear.out_features == 1024 and isinstance(norm, nn.BatchNorm1d)
    paper = build_discriminator(resolve("dcgan", device="cpu", out="x", options={"d_hidden": 0}), (1, 28, 28), 0)
    assert isinstance(paper.head.hidden, nn.Identity) and paper.head.linear.in_features == 128 * 7 * 7
    colour = build_discriminator(resolve("dcgan", device="cpu", out="x"), (3, 28, 28), 0)
    assert isinstance(colour.head.hidden, nn.Identity)  # the paper's head on colour images by default
    chosen = build_discriminator(resolve("lsgan", device="cpu", out="x", options={"d_hidden": 256}), (3, 28, 28), 0)
    assert chosen.head.hidden[0].out_features == 256  # an explicit --set d_hidden wins on any data
    cdcgan = build_discriminator(resolve("cdcgan", device="cpu", out="x"), (1, 28, 28), 10)
    assert isinstance(cdcgan.head.hidden, nn.Identity)  # cdcgan keeps the paper's head everywhere
    G64 = build_generator(resolve("dcgan", device="cpu", out="unused"), (3, 64, 64), 0)
    convs = [m.weight for m in G64.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(convs) == 4  # 4x4 → 8 → 16 → 32 → 64
    assert abs(torch.cat([w.flatten() for w in convs]).std().item() - 0.02) < 0.002  # N(0, 0.02) init


def test_points_fall_back_to_mlp():
    from ganzoo.models import vanilla

    G, D, _ = networks("dcgan", (2,))
    assert isinstance(G, vanilla.Generator) and isinstance(D, vanilla.Discriminator)


@pytest.mark.parametrize("shape, match", [((1, 30, 30), "image-size"), ((1, 28, 32), "square"), ((4, 4), "images")])
def test_dcgan_bad_shapes(shape, match):
    with pytest.raises(GanzooError, match=match):
        networks("dcgan", shape)


def test_bad_options():
    with pytest.raises(GanzooError, match="width"):
        build_generator(resolve("dcgan", device="cpu", out="x", options={"width": 0}), (1, 8, 8), 0)
    with pytest.raises(GanzooError, match="d_hidden must be 0"):
        build_discriminator(resolve("dcgan", device="cpu", out="x", options={"d_hidden": -1}), (1, 8, 8), 0)
    with pytest.raises(GanzooError, match="norm"):
        build_discriminator(resolve("wgan-gp", device="cpu", out="x", options={"norm": "batch"}), (1, 8, 8), 0)
    with pytest.raises(GanzooError, match="norm"):
        build_discriminator(resolve("wgan-gp", device="cpu", out="x", options={"norm": "instance"}), (1, 8, 8), 0)


def test_conditional_networks_need_labels():
    G, D, _ = networks("cdcgan", (1, 8, 8))
    with pytest.raises(GanzooError, match="labels"):
        G(torch.randn(2, G.latent_dim))
    with pytest.raises(GanzooError, match="labels"):
        D(torch.zeros(2, 1, 8, 8))


def test_conditional_model_refuses_unlabelled_data(tmp_path):
    with pytest.raises(GanzooError, match="no labels"):
        train(config("cdcgan", tmp_path, dataset=f"folder:{_image_folder(tmp_path, 4)}", batch_size=2), quiet=True)


# -- WGAN-GP --------------------------------------------------------------------------------------
def test_wgan_critic_has_no_batchnorm():
    for shape in ((1, 28, 28), (2,)):
        _, D, _ = networks("wgan-gp", shape)
        assert not any(isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.Dropout)) for m in D.modules())
    cfg = resolve("wgan-gp", device="cpu", out="x", options={"norm": "layer"})
    assert any(isinstance(m, nn.GroupNorm) for m in build_discriminator(cfg, (1, 28, 28), 0).modules())


class _LinearCritic(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x, labels=None):
        return x.flatten(1) @ self.w + 0.5


class _QuadraticCritic(nn.Module):
    """D(x) = sum(a * x^2): its gradient 2 a x depends on where the interpolate lies."""

    def __init__(self, a):
        super().__init__()
        self.a = torch.tensor(a)

    def forward(self, x, labels=None):
        return (self.a * x.flatten(1) ** 2).sum(dim=1)


def _gp(weight, D, real, fake):
    from ganzoo.api import Outputs, Step
    from ganzoo.specs import resolve as resolve_target

    step = Step(phase="d", step=0, d_step=0, G=None, D=D, real=real, labels=None, z=torch.zeros(len(real), 1),
                codes={}, fake=fake, num_classes=0, discriminate=lambda x, y: Outputs(logits=D(x, y)))
    return resolve_target(get_registry().regularizer("gp").target)(weight).d_terms(step)["gp"]


def test_gradient_penalty_on_a_linear_critic():
    # grad D = w everywhere: the penalty is weight * (||w|| - 1)^2 whatever the interpolates.
    D = _LinearCritic([3.0, 4.0])
    real, fake = torch.tensor([[1.0, 2.0], [0.0, -1.0]]), torch.tensor([[5.0, 5.0], [-2.0, 0.5]])
    assert _gp(10.0, D, real, fake).item() == pytest.approx(10 * (5 - 1) ** 2)


def test_gradient_penalty_uses_one_epsilon_per_sample():
    a = [0.5, 2.0]
    D = _QuadraticCritic(a)
    real = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
    fake = torch.tensor([[5.0, 5.0], [-2.0, 0.5], [0.0, 0.0]])
    torch.manual_seed(123)
    value = _gp(10.0, D, real, fake).item()
    torch.manual_seed(123)
    eps = torch.rand(3).tolist()  # what the penalty drew: one number per sample
    expected = 0.0
    for e, r, f in zip(eps, real.tolist(), fake.tolist()):
        x_hat = [e * ri + (1 - e) * fi for ri, fi in zip(r, f)]
        norm = math.sqrt(sum((2 * ai * xi) ** 2 for ai, xi in zip(a, x_hat)))
        expected += (norm - 1) ** 2
    assert value == pytest.approx(10 * expected / 3, rel=1e-5)


# -- SNGAN ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 28, 28), (2,)])
def test_sngan_discriminator_is_spectrally_normalised(shape):
    from torch.nn.utils import parametrize

    _, D, _ = networks("sngan", shape)
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())
    D.train()
    x = torch.randn(4, *shape)
    with torch.no_grad():
        for _ in range(30):  # power iteration converges to the top singular value
            D(x)
    D.eval()
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=0.05)


# -- ACGAN ------------------------------------------------------------------------------------------
def _ce(logits, labels):
    """Cross-entropy from scratch: mean of logsumexp(row) - row[label]."""
    total = 0.0
    for row, y in zip(logits, labels):
        m = max(row)
        total += m + math.log(sum(math.exp(v - m) for v in row)) - row[y]
    return total / len(labels)


def _acgan_step(real_logits, fake_logits, labels):
    from ganzoo.api import Outputs, Step

    zeros = torch.zeros(len(labels))
    cache = {"real": Outputs(logits=zeros, classes=real_logits), "fake": Outputs(logits=zeros, classes=fake_logits)}
    return Step(phase="d", step=0, d_step=0, G=None, D=None, real=torch.ones(len(labels), 1), labels=labels,
                z=zeros[:, None], codes={}, fake=-torch.ones(len(labels), 1), num_classes=3,
                discriminate=lambda x, y: None, _cache=cache)


def _aux(weight, **options):
    from ganzoo.api import Setup
    from ganzoo.specs import resolve as resolve_target

    aux = resolve_target(get_registry().regularizer("acgan-aux").target)(weight)
    _, D, _ = networks("acgan", (1, 8, 8))
    aux.setup(Setup(G=None, D=D, num_classes=3, options=options, device=torch.device("cpu"), data_shape=(1, 8, 8),
                    n_critic=1, steps=1))
    return aux


def test_acgan_class_loss_on_known_logits():
    real_logits = [[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]]
    fake_logits = [[-1.0, 1.0, 0.0], [0.5, 0.5, 0.5]]
    labels = [0, 2]
    step = _acgan_step(torch.tensor(real_logits), torch.tensor(fake_logits), torch.tensor(labels))
    paper = _aux(2.0, aux_fakes=True)
    assert paper.d_terms(step)["class"].item() == pytest.approx(2 * (_ce(real_logits, labels) + _ce(fake_logits, labels)))
    assert paper.g_terms(step)["class"].item() == pytest.approx(2 * _ce(fake_logits, labels))
    real_only = _aux(2.0, aux_fakes=False)  # the acgan model's default
    assert real_only.d_terms(step)["class"].item() == pytest.approx(2 * _ce(real_logits, labels))
    assert real_only.g_terms(step)["class"].item() == pytest.approx(2 * _ce(fake_logits, labels))
    # On logits, not on probabilities: a softmax before the cross-entropy would change the value.
    assert _ce(fake_logits, labels) != pytest.approx(_ce(torch.softmax(torch.tensor(fake_logits), 1).tolist(), labels))


def test_acgan_class_loss_errors():
    from ganzoo.api import Setup
    from ganzoo.specs import resolve as resolve_target

    aux = resolve_target(get_registry().regularizer("acgan-aux").target)(1.0)

    def setup(D, classes):
        aux.setup(Setup(G=None, D=D, num_classes=classes, options={}, device=torch.device("cpu"),
                        data_shape=(2,), n_critic=1, steps=1))

    with pytest.raises(GanzooError, match="class head"):
        setup(_LinearCritic([1.0]), 3)
    with pytest.raises(GanzooError, match="labels"):
        setup(_LinearCritic([1.0]), 0)


def _info(options):
    from ganzoo.api import Setup
    from ganzoo.specs import resolve as resolve_target

    info = resolve_target(get_registry().regularizer("info").target)(2.0)
    G, D, _ = networks("infogan", (1, 8, 8))
    info.setup(Setup(G=G, D=D, num_classes=0, options=options, device=torch.device("cpu"), data_shape=(1, 8, 8),
                     n_critic=1, steps=1))
    return info


def test_infogan_weighs_its_continuous_codes_by_the_option():
    """term = lambda * (cross-entropy of c1 + continuous_weight * 0.5 * sum of the continuous
    codes' squared errors); a run saved before the option existed (no such key) keeps 1."""
    features = torch.randn(6, 1024)
    codes = {"c1": torch.tensor([0, 1, 2, 3, 4, 5]), "c2": torch.linspace(-1, 1, 6), "c3": torch.linspace(1, -1, 6)}
    terms = {}
    for weight in (0.0, 0.1, 1.0, None):
        info = _info({} if weight is None else {"continuous_weight": weight})
        torch.manual_seed(0)
        info.d_modules["q"] = nn.Sequential(nn.Linear(1024, 12))  # the same Q for every weight
        params = info.d_modules["q"](features)
        terms[weight] = info.d_terms(_info_step(features, codes))["info"].item()
    ce = torch.nn.functional.cross_entropy(params[:, :10], codes["c1"]).item()
    squared = (0.5 * (codes["c2"] - params[:, 10]).pow(2).mean() + 0.5 * (codes["c3"] - params[:, 11]).pow(2).mean())
    assert terms[0.0] == pytest.approx(2.0 * ce, rel=1e-5)
    assert terms[0.1] == pytest.approx(2.0 * (ce + 0.1 * squared.item()), rel=1e-5)
    assert terms[None] == terms[1.0] == pytest.approx(2.0 * (ce + squared.item()), rel=1e-5)
    assert get_registry().model("infogan").options["continuous_weight"] == 0.1


def _info_step(features, codes):
    from ganzoo.api import Outputs, Step

    zeros = torch.zeros(len(features))
    cache = {"fake": Outputs(logits=zeros, features=features)}
    return Step(phase="d", step=0, d_step=0, G=None, D=None, real=zeros[:, None], labels=None, z=zeros[:, None],
                codes=codes, fake=zeros[:, None], num_classes=0, discriminate=lambda x, y: None, _cache=cache)


@pytest.mark.parametrize("value", ["-1", "abc"])
def test_a_bad_continuous_weight_is_one_line(tmp_path, value):
    from conftest import assert_one_line_error

    assert_one_line_error(["train", "infogan", "--dataset", "digits", "--steps", "1", "--set",
                           f"continuous_weight={value}", "--out", tmp_path / "run"], "continuous_weight")


def test_an_infogan_run_saved_before_the_option_resumes(tmp_path):
    cfg = config("infogan", tmp_path, steps=2, ckpt_every=2)
    train(cfg, quiet=True)
    meta_path = tmp_path / "infogan" / "config.json"
    meta = json.loads(meta_path.read_text())
    del meta["options"]["continuous_weight"]  # as ganzoo 0.3.0 wrote it
    meta_path.write_text(json.dumps(meta))
    from ganzoo.engine.build import read_run_config
    from ganzoo.engine.config import TrainConfig

    old = TrainConfig.from_dict(read_run_config(tmp_path / "infogan"))
    old.steps = 3
    train(old, resume=True, quiet=True)
    assert ckpt.load_state(ckpt.checkpoint_dir(tmp_path / "infogan"))["step"] == 3


def test_acgan_discriminator_learns_classes(tmp_path):
    # With the class loss the classifier head gets better than chance on real digits quickly.
    cfg = config("acgan", tmp_path, steps=40, batch_size=32, log_every=20, sample_every=40, ckpt_every=40)
    train(cfg, quiet=True)
    from ganzoo.data.images import digits

    data = digits()
    _, D, _ = networks("acgan", (1, 8, 8))
    ckpt.load_weights(tmp_path / "acgan" / "checkpoint" / ckpt.DISCRIMINATOR, D)
    with torch.no_grad():
        classes = D.eval().heads(data.x[:500])["classes"]
        accuracy = (classes.argmax(1) == data.y[:500]).float().mean().item()
    assert accuracy > 0.3


# -- timm discriminators ------------------------------------------------------------------------
def test_timm_discriminator_end_to_end(tmp_path):
    cfg = config("dcgan", tmp_path, discriminator="timm:test_resnet")
    result = train(cfg, quiet=True)
    assert all(math.isfinite(result.metrics[k]) for k in ("d_loss", "g_loss"))
    saved = ckpt.load_state(tmp_path / "dcgan" / "checkpoint")
    assert saved["step"] == 3


def test_timm_discriminator_contract():
    from ganzoo.models.timm_d import build_timm_discriminator

    D = build_timm_discriminator("timm:test_resnet", (1, 8, 8), 0)
    x = torch.randn(3, 1, 8, 8)
    assert D(x).shape == (3,)
    cond = build_timm_discriminator("timm:test_resnet", (3, 8, 8), 5).eval()
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(cond(x, torch.tensor([0, 1, 2])), cond(x, torch.tensor([3, 4, 0])))
    with pytest.raises(GanzooError, match="labels"):
        cond(x)


def test_timm_discriminator_resizes_for_patch_models():
    from ganzoo.models.timm_d import build_timm_discriminator

    D = build_timm_discriminator("timm:test_vit", (1, 8, 8), 0)
    assert D.input_side is not None and D.input_side > 8
    x = torch.randn(2, 1, 8, 8, requires_grad=True)
    D(x).sum().backward()  # G's gradient passes through the resize
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("spec, shape, match", [
    ("timm:resnet10", (1, 8, 8), "resnet10t"),
    ("timm:no_such_net_xyz", (1, 8, 8), "timm has no architecture"),
    ("resnet10t", (1, 8, 8), "timm:ARCH"),
    ("timm:", (1, 8, 8), "timm:ARCH"),
    ("timm:resnet10t", (2,), "points"),
])
def test_timm_discriminator_errors(spec, shape, match):
    from ganzoo.models.timm_d import build_timm_discriminator

    with pytest.raises(GanzooError, match=match):
        build_timm_discriminator(spec, shape, 0)


# -- 64-px folders, EMA ----------------------------------------------------------------------------
def _image_folder(tmp_path, n: int):
    from PIL import Image

    root = tmp_path / "images"
    root.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = np.zeros((80, 80, 3), dtype=np.uint8)
        y, x = rng.integers(0, 50, size=2)
        pixels[y:y + 30, x:x + 30] = rng.integers(60, 255, size=3)
        Image.fromarray(pixels).save(root / f"img{i}.png")
    return root


def test_dcgan_on_a_64px_folder(tmp_path):
    folder = _image_folder(tmp_path, 8)
    result = train(config("dcgan", tmp_path, dataset=f"folder:{folder}", batch_size=4, steps=2, sample_every=2,
                          ckpt_every=2), quiet=True)
    assert math.isfinite(result.metrics["g_loss"])
    G, meta, _ = load_generator(tmp_path / "dcgan")
    assert tuple(G.output_shape) == (3, 64, 64) and meta["data"]["shape"] == [3, 64, 64]
    with torch.no_grad():
        assert G(torch.randn(2, G.latent_dim)).shape == (2, 3, 64, 64)


def test_ema_weights_are_saved_and_preferred(tmp_path):
    train(config("dcgan", tmp_path, ema=True, ema_decay=0.9), quiet=True)
    where = tmp_path / "dcgan" / "checkpoint"
    assert (where / ckpt.GENERATOR_EMA).is_file()
    G_ema, _, weights = load_generator(tmp_path / "dcgan")
    G_raw, _, raw = load_generator(tmp_path / "dcgan", weights="raw")
    assert (weights, raw) == ("ema", "raw")
    z = torch.randn(4, G_ema.latent_dim)
    with torch.no_grad():
        assert not torch.allclose(G_ema(z), G_raw(z))


def test_cli_keeps_the_models_default_regularizers(tmp_path):
    # `ganzoo train wgan-gp` without --reg must still train with gp:10 (and acgan with acgan-aux).
    from click.testing import CliRunner

    from ganzoo.cli import cli

    for model, reg, terms, extra in (("wgan-gp", ["gp:10"], [], []), ("acgan", [], ["acgan-aux:1"], []),
                                     ("acgan", ["r1:1"], ["acgan-aux:1"], ["--reg", "r1:1"])):
        out = tmp_path / f"{model}{len(extra)}"
        result = CliRunner().invoke(cli, ["train", model, "--dataset", "digits", "--steps", "1", "--batch-size", "4",
                                          "--set", "width=4", "--device", "cpu", "--out", str(out), "-q", *extra])
        assert result.exit_code == 0, result.output
        config = json.loads((out / "config.json").read_text())
        assert (config["reg"], config["terms"]) == (reg, terms)  # --reg never drops the model's own terms
