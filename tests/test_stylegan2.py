"""StyleGAN2 (ganzoo.models.stylegan2) and path-length regularisation (ganzoo.objectives.path_length).

Tiny widths throughout (8-16 channels, 2 mapping layers, w of 16): the math does not
depend on the width. The layers are checked against the paper's own formulation (weight
modulation with a grouped convolution, upfirdn2d by zero insertion and filtering, the
minibatch standard deviation by reshaping); the loop, resume, export and the conformance
kit run on the 8x8 digits.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import invoke

from ganzoo.api import Setup, Step
from ganzoo.errors import GanzooError
from ganzoo.models import stylegan2 as sg2
from ganzoo.objectives.path_length import PathLength

torch.set_num_threads(1)

TINY = {"channels": 8, "max_channels": 16, "mapping_layers": 2, "w_dim": 16}
LATENT = 16


def nets(shape=(3, 32, 32), num_classes=0, **options):
    torch.manual_seed(0)
    opts = {**TINY, **options}
    return (sg2.generator(shape, num_classes, LATENT, **opts), sg2.discriminator(shape, num_classes, LATENT, **opts))


def loud_noise(G) -> None:
    """Noise strengths start at 0 (the paper's init); make them count."""
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, sg2.ModulatedConv):
                m.noise_strength.fill_(1.0)


# -- shapes, range, determinism -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 32, 32), (3, 64, 64), (1, 64, 64), (3, 16, 16), (1, 28, 28)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("num_classes", [0, 5], ids=["uncond", "cond"])
def test_shapes_and_range(shape, num_classes):
    G, D = nets(shape, num_classes)
    z = torch.randn(3, LATENT)
    labels = torch.tensor([0, 1, 4]) if num_classes else None
    x = G(z, labels)  # train mode: unbounded, as the paper
    assert x.shape == (3, *shape) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert D(x, labels).shape == (3,)
    G.eval()
    with torch.no_grad():
        y = G(z, labels)
    assert y.shape == (3, *shape) and y.min() >= -1 and y.max() <= 1
    _, base, plan = sg2.widths(shape, **{k: TINY[k] for k in ("channels", "max_channels")})
    assert base * 2 ** (len(plan) - 1) == shape[1] and G.num_ws == 2 * (len(plan) - 1) + 2
    assert G.synthesis(G.mapping(z, labels)).shape == (3, *shape)
    if num_classes:
        with torch.no_grad():
            assert not torch.allclose(G(z, (labels + 1) % num_classes), y)
            assert not torch.allclose(D(y, (labels + 1) % num_classes), D(y, labels))
        with pytest.raises(GanzooError, match="conditional"):
            G(z)
        with pytest.raises(GanzooError, match="conditional"):
            D(y)


def test_widths_double_towards_4x4_and_are_capped():
    _, base, plan = sg2.widths((3, 64, 64), channels=8, max_channels=32)
    assert base == 4 and plan == {64: 8, 32: 16, 16: 32, 8: 32, 4: 32}
    G, D = nets((3, 64, 64), channels=8, max_channels=32)
    assert G.synthesis_network.const.shape == (32, 4, 4)
    assert D.from_rgb.weight.shape[0] == 8 and D.conv.weight.shape[:2] == (32, 33)  # + the mbstd feature


def test_eval_is_deterministic_and_train_draws_noise():
    G, _ = nets()
    loud_noise(G)
    z = torch.randn(4, LATENT)
    G.eval()
    with torch.no_grad():
        rng = torch.get_rng_state()
        a, b = G(z), G(z)
        assert torch.equal(rng, torch.get_rng_state()), "eval mode drew random numbers"
        one = G(z[:1])
    assert torch.equal(a, b)
    assert torch.allclose(one, a[:1], atol=1e-5), "a sample depends on its batch in eval mode"
    G.train()
    G.mixing = 0.0
    with torch.no_grad():
        assert not torch.allclose(G(z), G(z)), "train mode should draw fresh noise per call"


def test_style_mixing_in_train_mode_only():
    G, _ = nets(mixing=1.0)
    seen = []
    inner = G.synthesis_network.forward
    G.synthesis_network.forward = lambda ws: seen.append(ws.detach().clone()) or inner(ws)  # type: ignore[method-assign]
    z = torch.randn(4, LATENT)
    torch.manual_seed(1)
    G(z)
    ws = seen[-1]
    same = [torch.equal(ws[:, i], ws[:, 0]) for i in range(G.num_ws)]
    cutoff = same.index(False)  # mixing = 1: some layer from 1 on takes the second z's styles
    assert 1 <= cutoff < G.num_ws and all(same[:cutoff]) and not any(same[cutoff:])
    assert all(torch.equal(ws[:, i], ws[:, cutoff]) for i in range(cutoff, G.num_ws))
    G.eval()
    with torch.no_grad():
        G(z)
    assert all(torch.equal(seen[-1][:, i], seen[-1][:, 0]) for i in range(G.num_ws))
    G.train()
    G.mixing = 0.0
    G(z)
    assert all(torch.equal(seen[-1][:, i], seen[-1][:, 0]) for i in range(G.num_ws))


def test_runs_under_bf16_autocast():
    """--amp runs G and D under bf16 autocast (CUDA); the CPU's autocast finds the same dtype clashes."""
    G, D = nets(num_classes=3)
    z, labels = torch.randn(4, LATENT), torch.tensor([0, 1, 2, 0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x = G(z, labels, truncation=0.7)
        real = torch.randn(4, 3, 32, 32, requires_grad=True)
        logits = D(real, labels)
        (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
        loss = D(x, labels).mean() + grad.square().sum() + PathLength().g_terms(_step(G, z, labels))["pl"]
    loss.backward()
    assert G.w_avg.dtype == torch.float32 and torch.isfinite(G.w_avg).all() and G.w_avg.abs().sum() > 0


# -- the average w and truncation --------------------------------------------------------------------------------
def test_w_avg_moves_in_train_mode_only():
    G, _ = nets()
    z = torch.randn(8, LATENT)
    assert torch.equal(G.w_avg, torch.zeros_like(G.w_avg))
    G.eval()
    with torch.no_grad():
        G(z)
    assert torch.equal(G.w_avg, torch.zeros_like(G.w_avg))
    G.train()
    with torch.no_grad():
        w = G.mapping_network(z)
        G(z)
    assert torch.allclose(G.w_avg, (1 - sg2.W_AVG_BETA) * w.mean(0), atol=1e-6)
    before = G.w_avg.clone()
    with torch.no_grad():
        G.mapping(z)  # what path-length regularisation calls: tracks nothing
    assert torch.equal(G.w_avg, before)


def test_truncation():
    G, _ = nets(num_classes=3)
    with torch.no_grad():
        G.w_avg.normal_()
    G.eval()
    z, labels = torch.randn(5, LATENT), torch.tensor([0, 1, 2, 0, 1])
    with torch.no_grad():
        plain = G(z, labels)
        collapsed = G(z, labels, truncation=0.0)
        assert torch.equal(G(z, labels, truncation=1.0), plain)
        assert torch.equal(G(z, labels, truncation=None), plain)
        assert torch.allclose(G(z, labels, truncation=torch.tensor([1.0])), plain, atol=1e-6)
        half = G(z, labels, truncation=torch.tensor([0.5]))
        assert torch.allclose(half, G(z, labels, truncation=0.5), atol=1e-6)
        assert not torch.allclose(half, plain)
        mean_image = G.synthesis(G.w_avg.expand(1, G.num_ws, -1)).clamp(-1, 1)
    assert torch.allclose(collapsed, mean_image.expand_as(collapsed), atol=1e-6), "psi = 0 must give the average w"
    for bad in (float("nan"), "0.5", torch.tensor([0.5, 0.7]), torch.tensor([1])):
        with pytest.raises(GanzooError, match="truncation"):
            G(z, labels, truncation=bad)


# -- the layers against the paper's formulation -------------------------------------------------------------------
def test_activation_modulation_equals_weight_modulation():
    """x * style → conv → x * demod is the paper's per-sample modulated, demodulated weight
    run as a grouped convolution (its 'fused' form)."""
    torch.manual_seed(0)
    layer = sg2.ModulatedConv(6, 5, w_dim=16, side=8, up=False).eval()
    x, w = torch.randn(3, 6, 8, 8), torch.randn(3, 16)
    with torch.no_grad():
        got = layer(x, w)
        styles = layer.affine(w)
        weight = layer.weight[None] * styles[:, None, :, None, None]  # [N, O, I, 3, 3]
        weight = weight * (weight.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
        y = F.conv2d(x.reshape(1, -1, 8, 8), weight.reshape(-1, 6, 3, 3), padding=1, groups=3).reshape(3, 5, 8, 8)
        want = F.leaky_relu(y + layer.noise_const * layer.noise_strength + layer.bias[None, :, None, None], 0.2)
    assert torch.allclose(got, want * math.sqrt(2), atol=1e-5)


def _upfirdn(x, up, down):
    """The paper's upfirdn2d with the [1, 3, 3, 1] filter, written out: zero insertion, padding, filter, subsampling."""
    f = torch.tensor(sg2.FIR)
    k = torch.outer(f, f) / f.sum() ** 2 * up**2
    n, c, h, w = x.shape
    if up > 1:
        z = x.new_zeros(n, c, h * up, w * up)
        z[:, :, ::up, ::up] = x
        x = F.pad(z, (2, 1, 2, 1))
    else:
        x = F.pad(x, (1, 1, 1, 1))
    x = F.conv2d(x, k.flip([0, 1]).expand(c, 1, 4, 4), groups=c)
    return x[:, :, ::down, ::down]


def test_fir_resampling_is_upfirdn2d():
    x = torch.randn(2, 3, 8, 8)
    assert torch.allclose(sg2.Upsample2x(3)(x), _upfirdn(x, 2, 1), atol=1e-6)
    assert torch.allclose(sg2.Downsample2x(3)(x), _upfirdn(x, 1, 2), atol=1e-6)
    flat = torch.ones(1, 3, 8, 8)
    assert torch.allclose(sg2.Upsample2x(3)(flat)[:, :, 1:-1, 1:-1], torch.ones(1, 3, 14, 14))  # gain 4: flat stays 1


def _paper_mbstd(x, group):
    n, c, h, w = x.shape
    y = x.reshape(group, -1, 1, c, h, w)
    y = (y - y.mean(0)).square().mean(0)
    y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4]).reshape(-1, 1, 1, 1).repeat(group, 1, h, w)
    return torch.cat([x, y], dim=1)


@pytest.mark.parametrize("n", [1, 3, 5, 8, 12])
def test_minibatch_stddev_any_batch(n):
    x = torch.randn(n, 4, 3, 3)
    out = sg2.minibatch_stddev(x)
    assert out.shape == (n, 5, 3, 3) and torch.equal(out[:, :4], x)
    stat = out[:, 4, 0, 0]
    assert torch.equal(out[:, 4], stat[:, None, None].expand(n, 3, 3))
    if n % min(4, n) == 0:  # the paper's reshape where it applies
        assert torch.allclose(out, _paper_mbstd(x, min(4, n)), atol=1e-6)
    groups = -(-n // min(4, n))
    for g in range(groups):  # samples g, g + M, ...: the deviation within that group
        members = x[g::groups]
        want = (members.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        assert torch.allclose(stat[g::groups], want.expand(len(members)), atol=1e-6)
    if n == 1:
        assert torch.allclose(stat, torch.full((1,), 1e-4))  # one sample: no deviation


@pytest.mark.parametrize("n", [1, 3, 5])
def test_discriminator_takes_any_batch_and_r1_double_backward(n):
    _, D = nets()
    x = torch.randn(n, 3, 32, 32, requires_grad=True)
    out = D(x)
    assert out.shape == (n,)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    (out.mean() + grad.square().sum()).backward()  # the loss plus R1, as a lazy R1 step
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in D.parameters())


def test_bad_options_are_one_line():
    for options, match in (({"channels": 0}, "channels"), ({"max_channels": "a"}, "max_channels"),
                           ({"mixing": 1.5}, "mixing"), ({"mapping_layers": 0}, "mapping_layers"),
                           ({"w_dim": -1}, "w_dim")):
        for factory in (sg2.generator, sg2.discriminator):
            with pytest.raises(GanzooError, match=match) as err:
                factory((3, 32, 32), 0, LATENT, **{**TINY, **options})
            assert "\n" not in str(err.value)
    with pytest.raises(GanzooError, match="image-size"):
        sg2.generator((3, 30, 30), 0, LATENT, **TINY)


# -- path-length regularisation ------------------------------------------------------------------------------------
def _step(G, z, labels=None) -> Step:
    return Step(phase="g", step=0, d_step=0, G=G, D=torch.nn.Identity(), real=torch.zeros(1), labels=labels, z=z,
                codes={}, fake=torch.zeros(1), num_classes=G.num_classes, discriminate=lambda x, y: None)


def test_path_length_term_mean_and_state():
    G, D = nets(num_classes=3)
    pl = PathLength(2.0)
    pl.setup(Setup(G=G, D=D, num_classes=3, options={}, device=torch.device("cpu"), data_shape=(3, 32, 32),
                   n_critic=1, steps=1))
    z, labels = torch.randn(6, LATENT), torch.tensor([0, 1, 2, 0, 1, 2])
    assert pl.d_terms(_step(G, z, labels)) == {}
    torch.manual_seed(3)
    terms = pl.g_terms(_step(G, z, labels))
    assert list(terms) == ["pl"] and terms["pl"].dim() == 0 and torch.isfinite(terms["pl"])
    terms["pl"].backward()
    assert G.mapping_network.layers[0].weight.grad is not None  # through the double backward to the mapping
    first = float(pl.pl_mean)
    assert first > 0
    # the running mean is the paper's: a = lerp(a, mean length, 0.01), from 0
    torch.manual_seed(3)
    ws = G.mapping(z[:3], labels[:3])
    images = G.synthesis(ws)
    (grad,) = torch.autograd.grad((images * torch.randn_like(images) / 32).sum(), ws)
    assert math.isclose(first, 0.01 * float(grad.square().sum(2).mean(1).sqrt().mean()), rel_tol=1e-4)

    saved = pl.state_dict()
    fresh = PathLength(2.0)
    fresh.load_state_dict(json.loads(json.dumps({k: float(v) for k, v in saved.items()})))  # numbers do too
    assert float(fresh.pl_mean) == pytest.approx(first)
    restored = PathLength(2.0)
    restored.load_state_dict(saved)
    torch.manual_seed(4)
    a = pl.g_terms(_step(G, z, labels))["pl"]
    torch.manual_seed(4)
    b = restored.g_terms(_step(G, z, labels))["pl"]
    assert torch.equal(a, b) and torch.equal(pl.pl_mean, restored.pl_mean)
    with pytest.raises(GanzooError, match="pl_mean"):
        PathLength().load_state_dict({"other": 1})


def test_path_length_refuses_generators_without_mapping_and_synthesis(tmp_path):
    from ganzoo.models import dcgan

    G = dcgan.generator((1, 8, 8), 0, 16, width=8)
    with pytest.raises(GanzooError, match="mapping") as err:
        PathLength().setup(Setup(G=G, D=G, num_classes=0, options={}, device=torch.device("cpu"),
                                 data_shape=(1, 8, 8), n_critic=1, steps=1))
    assert "\n" not in str(err.value)
    code, output = invoke("train", "dcgan", "--dataset", "digits", "--steps", "1", "--reg", "pl@4",
                          "--set", "width=8", "--out", str(tmp_path / "run"))
    assert code == 2 and output.strip().startswith("Error: ") and "mapping" in output, output


# -- the loop, resume, EMA, export, conformance --------------------------------------------------------------------
SET = [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny CLI run on the digits: 3 steps, then resumed to 5 (pl runs at steps 0 and 4)."""
    out = tmp_path_factory.mktemp("sg2") / "run"
    args = ["train", "stylegan2", "--dataset", "digits", "--batch-size", "6", "--latent-dim", str(LATENT),
            "--log-every", "1", "--sample-every", "5", "--ckpt-every", "3", "--threads", "1", "-q", *SET,
            "--reg", "r1:0.01@16", "--reg", "pl:2@4", "--out", str(out)]  # the FFHQ recipe's lazy terms
    code, output = invoke(*args, "--steps", "3")
    assert code == 0, output
    code, output = invoke("train", "--resume", str(out), "--steps", "5", "--threads", "1", "-q")
    assert code == 0, output
    return out


def test_train_resumes_with_lazy_terms(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert "g/pl" in rows[0] and "g/pl" in rows[4] and not any("g/pl" in r for r in rows[1:4])
    assert "d/r1" in rows[0] and not any("d/r1" in r for r in rows[1:])  # r1@16: first D update only
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in rows)
    state = torch.load(run / "checkpoint" / "state.pt", weights_only=True)
    pl_state = [s for s in state["objectives"] if "pl_mean" in s]
    assert len(pl_state) == 1 and float(pl_state[0]["pl_mean"]) > 0
    config = json.loads((run / "config.json").read_text())
    assert config["options"] == {**TINY, "mixing": 0.0} and config["reg"] == ["r1:0.01@16", "pl:2@4"]


def test_ema_generator_carries_w_avg(run):
    from ganzoo.engine.build import load_generator

    ema, _, weights = load_generator(run)
    raw, _, _ = load_generator(run, "raw")
    assert weights == "ema" and not ema.training
    assert ema.w_avg.abs().sum() > 0, "the EMA generator's average w was not carried over"
    # buffers are copied from G, not averaged (as the paper's training loop does): the EMA
    # generator truncates towards the same centre as the raw one
    for (name, a), (_, b) in zip(ema.named_buffers(), raw.named_buffers()):
        assert torch.equal(a, b), name
    params = dict(ema.named_parameters())
    assert any(not torch.equal(params[k], v) for k, v in raw.named_parameters())  # weights are averaged


def test_export_verifies_and_truncates_in_the_graph(run, tmp_path):
    from ganzoo.onnx import runtime
    from ganzoo.onnx.export import export_run, read_metadata

    result = export_run(run, output=tmp_path / "sg2.onnx")
    assert result.verified and result.worst_diff <= 1e-4, result.verification_line()
    assert result.exporter == "dynamo", result.fallback_reason  # taken whole: no custom op, no fallback
    meta = read_metadata(result.path)
    assert meta["ganzoo.model"] == "stylegan2" and json.loads(meta["ganzoo.output_shape"]) == [1, 8, 8]
    G = runtime.load(str(result.path), provider="cpu")
    a = G.sample(7, seed=0)
    assert a.shape == (7, 1, 8, 8) and a.min() >= -1 and a.max() <= 1
    if G.truncates_w:  # the average w is inside the graph: psi = 0 gives one image for every z
        same = G.sample(7, seed=0, truncation=0.0)
        assert np.allclose(same, same[:1], atol=1e-6) and not np.allclose(a, a[:1], atol=1e-3)
        np.testing.assert_allclose(G.sample(7, seed=0, truncation=1.0), a, atol=1e-6)
    code, output = invoke("export", str(run), "--onnx", "-o", str(tmp_path / "cli.onnx"))
    assert code == 0 and "verified" in output, output


def test_conformance_kit():
    from ganzoo.testing import check_model, check_regularizer

    check_model("stylegan2", dataset="digits", options=TINY)
    check_regularizer("pl", model="stylegan2", dataset="digits")
