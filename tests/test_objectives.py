"""The objective boundary: the default objective reproduces the plugin API 1.0 math,
new objectives (ragan, lazy R1, acgan-aux, infogan) see what they need, every term is
logged, and runs with objective state resume bit-exactly."""

import json
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import assert_one_line_error, invoke
from ganzoo import GanzooError, LossSpec, RegularizerSpec, hookimpl
from ganzoo.api import Objective, Outputs, Step
from ganzoo.engine.config import resolve
from ganzoo.engine.train import train
from ganzoo.objectives.losses import Hinge, LeastSquares, Minimax, NonSaturating, Wasserstein
from ganzoo.objectives import LossObjective, Part, RegularizerObjective, collect_terms, total
from ganzoo.objectives.penalties import R1, GradientPenalty
from ganzoo.registry import Registry, get_registry


def _critic() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))


def _step(D, real, fake, phase="d", labels=None, d_step=0):
    return Step(phase=phase, step=0, d_step=d_step, G=None, D=D, real=real, labels=labels, z=torch.zeros(len(real), 1),
                codes={}, fake=fake, num_classes=0,
                discriminate=lambda x, y: Outputs(logits=D(x).squeeze(1).float()))


@pytest.mark.parametrize("loss", [Minimax(), NonSaturating(), Wasserstein(), LeastSquares(), Hinge()],
                         ids=lambda l: type(l).__name__)
def test_default_objective_computes_exactly_the_old_loss_plus_penalty(loss):
    """The old loop: d = loss.d_loss(D(real), D(fake)) + GP(D, real, fake); g = loss.g_loss(D(fake_g))."""
    D = _critic()
    real, fake = torch.randn(8, 2), torch.randn(8, 2)

    def logits(x):
        return D(x).squeeze(1)

    torch.manual_seed(5)
    old_adv = loss.d_loss(logits(real).float(), logits(fake).float())
    eps = torch.rand(8, 1)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(logits(x_hat).sum(), x_hat, create_graph=True)
    old_gp = 10.0 * ((grad.norm(2, dim=1) - 1) ** 2).mean()
    old_total = old_adv + old_gp

    torch.manual_seed(5)
    parts = [Part(LossObjective(loss), "loss"), Part(GradientPenalty(10.0), "gp:10")]
    terms, scales = collect_terms(parts, "d", _step(D, real, fake), 0)
    assert list(terms) == ["adv", "gp"]
    assert torch.equal(terms["adv"], old_adv) and torch.equal(terms["gp"], old_gp)
    assert torch.equal(total(terms, scales), old_total)

    fake_g = torch.randn(8, 2, requires_grad=True)
    g_terms, _ = collect_terms(parts, "g", _step(D, real, fake_g, phase="g"), 0)
    assert list(g_terms) == ["adv"] and torch.equal(g_terms["adv"], loss.g_loss(logits(fake_g).float()))


def test_r1_uses_the_shared_real_pass_and_matches_a_second_forward():
    D = _critic()
    real = torch.randn(8, 2)
    calls = []
    D.register_forward_hook(lambda *a: calls.append(1))
    step = _step(D, real.clone().requires_grad_(True), torch.randn(8, 2))
    shared = R1(4.0).d_terms(step)["r1"]
    x = real.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    assert len(calls) == 2  # one pass inside the objective, one for the reference
    assert torch.allclose(shared, 2.0 * grad.pow(2).sum(1).mean())


def test_lazy_part_runs_every_k_updates_scaled_by_k():
    D = _critic()
    part = Part(R1(1.0), "r1:1@4", every=4)
    seen = []
    for index in range(8):
        step = _step(D, torch.randn(8, 2).requires_grad_(True), torch.randn(8, 2), d_step=index)
        terms, scales = collect_terms([part], "d", step, index)
        seen.append(bool(terms))
        if terms:
            assert scales["r1"] == 4 and torch.equal(total(terms, scales), terms["r1"] * 4)
    assert seen == [True, False, False, False, True, False, False, False]


def test_ragan_generator_loss_sees_the_real_logits_of_the_step():
    from ganzoo.objectives.ragan import RelativisticAverage

    D = _critic()
    real, fake = torch.randn(8, 2), torch.randn(8, 2, requires_grad=True)
    g = RelativisticAverage().g_terms(_step(D, real, fake, phase="g"))["adv"]
    r, f = D(real).squeeze(1), D(fake).squeeze(1)
    want = F.softplus(-(f - r.mean())).mean() + F.softplus(r - f.mean()).mean()
    assert torch.allclose(g, want)
    other = RelativisticAverage().g_terms(_step(D, real + 3, fake, phase="g"))["adv"]
    assert not torch.allclose(g, other)  # a different real batch changes G's loss


def test_two_objectives_with_one_term_name_is_an_error():
    D = _critic()
    parts = [Part(GradientPenalty(1.0), "gp"), Part(GradientPenalty(2.0), "gp:2")]
    with pytest.raises(GanzooError, match="both add a term 'gp'"):
        collect_terms(parts, "d", _step(D, torch.randn(4, 2), torch.randn(4, 2)), 0)


# -- through the loop ----------------------------------------------------------------------------
def _train(tmp_path, model, name="run", steps=4, registry=None, **overrides):
    registry = registry or get_registry()
    cfg = resolve(model, registry, steps=steps, batch_size=8, device="cpu", out=str(tmp_path / name),
                  log_every=1, sample_every=1000, ckpt_every=2, **overrides)
    train(cfg, quiet=True, registry=registry, echo=lambda message: None)
    return cfg


def _rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _weights(run):
    from safetensors.torch import load_file

    folder = run / "checkpoint"
    return {f.name: load_file(str(f)) for f in sorted(folder.glob("*.safetensors"))}


RESUMABLE = [
    ("vanilla", {"loss": "ragan", "dataset": "ring8"}),
    ("infogan", {}),
    ("dcgan", {"reg": ["r1:10@2"], "augment": "diffaug", "dataset": "digits"}),
    ("acgan", {"dataset": "digits"}),
    ("r3gan", {"dataset": "digits", "options": {"width": 16}}),
    ("dcgan", {"augment": "ada:kimg=1", "dataset": "digits", "options": {"width": 8}}),
    ("dcgan", {"amp": True, "dataset": "digits", "options": {"width": 8}}),  # bf16 where the CPU has it
]


@pytest.mark.parametrize("model,overrides", RESUMABLE,
                         ids=[m + ("-ada" if "augment" in o else "-amp" if "amp" in o else "") for m, o in RESUMABLE])
def test_new_objectives_train_and_resume_bit_exactly(tmp_path, model, overrides):
    _train(tmp_path, model, "straight", **overrides)
    _train(tmp_path, model, "resumed", steps=2, **overrides)
    cfg = resolve(model, get_registry(), steps=4, batch_size=8, device="cpu", out=str(tmp_path / "resumed"),
                  log_every=1, sample_every=1000, ckpt_every=2, **overrides)
    train(cfg, resume=True, quiet=True, echo=lambda message: None)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for name in a:
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), (name, key)

    def terms(run):
        return [{k: v for k, v in r.items() if k not in ("steps_per_s", "elapsed_s")} for r in _rows(run)]

    assert terms(tmp_path / "straight") == terms(tmp_path / "resumed")


def test_every_term_is_logged_on_its_own(tmp_path):
    _train(tmp_path, "wgan-gp", dataset="ring8", steps=2)
    row = _rows(tmp_path / "run")[-1]
    assert {"d/adv", "d/gp", "g/adv", "d_loss", "g_loss"} <= row.keys()
    assert row["d_loss"] == pytest.approx(row["d/adv"] + row["d/gp"], rel=1e-5)
    _train(tmp_path, "infogan", name="info", steps=2)
    assert {"d/adv", "d/info", "g/adv", "g/info"} <= _rows(tmp_path / "info")[-1].keys()
    assert (tmp_path / "info" / "losses.png").is_file()


def _count_body_passes(tmp_path, model, **overrides):
    from ganzoo.models import acgan

    passes = []
    original = acgan.ACGANDiscriminator.heads

    def counted(self, x, labels=None):
        passes.append(len(x))
        return original(self, x, labels)

    acgan.ACGANDiscriminator.heads = counted
    try:
        _train(tmp_path, model, steps=3, **overrides)
    finally:
        acgan.ACGANDiscriminator.heads = original
    return passes


def test_acgan_passes_d_body_once_per_batch(tmp_path):
    passes = _count_body_passes(tmp_path, "acgan", dataset="digits")
    assert len(passes) == 3 * 3  # per step: real and fake for D, fake for G; no extra pass for the class term


def test_acgan_class_head_learns_from_real_images_only_by_default():
    from ganzoo.objectives.auxiliary import AuxiliaryClassifier

    torch.manual_seed(0)
    labels = torch.tensor([0, 1, 2, 1])
    real_classes, fake_classes = torch.randn(4, 3), torch.randn(4, 3)
    outs = {"real": Outputs(logits=torch.zeros(4), classes=real_classes),
            "fake": Outputs(logits=torch.zeros(4), classes=fake_classes)}
    step = Step(phase="d", step=0, d_step=0, G=None, D=None, real=torch.zeros(4, 1), labels=labels,
                z=torch.zeros(4, 1), codes={}, fake=torch.zeros(4, 1), num_classes=3,
                discriminate=lambda x, y: None, _cache=outs)
    real_only = AuxiliaryClassifier(1.0)
    real_only.on_fakes = False
    paper = AuxiliaryClassifier(1.0)
    assert torch.allclose(real_only.d_terms(step)["class"], F.cross_entropy(real_classes, labels))
    assert torch.allclose(paper.d_terms(step)["class"],
                          F.cross_entropy(real_classes, labels) + F.cross_entropy(fake_classes, labels))


# -- plugins written against API 1.0 and 1.1 -------------------------------------------------------
class HalfHinge:
    """An API 1.0 loss: d_loss/g_loss only."""

    def d_loss(self, real_logits, fake_logits):
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def g_loss(self, fake_logits):
        return -fake_logits.mean()


class Smooth:
    """An API 1.0 regularizer exactly as docs/plugins.md 1.0 described: d_term/g_term, no check()."""

    def __init__(self, weight):
        self.weight = weight

    def d_term(self, D, real, fake, labels):
        return self.weight * D(real, labels).pow(2).mean()

    def g_term(self, D, fake, labels):
        return None


class Counter(Objective):
    """An API 1.1 objective with state that must survive a resume."""

    def __init__(self, weight):
        super().__init__()
        self.seen = torch.zeros((), dtype=torch.int64)

    def d_terms(self, step):
        self.seen += 1
        return {"zero": step.d_fake.logits.sum() * 0}

    def g_terms(self, step):
        return {}

    def state_dict(self):
        return {"seen": self.seen.clone()}

    def load_state_dict(self, state):
        self.seen = state["seen"].clone()


COUNTERS: list = []


def _counter(weight):
    COUNTERS.append(Counter(weight))
    return COUNTERS[-1]


def _plugin_registry():
    return _registry_with(losses={"half-hinge": HalfHinge}, regs={"smooth": Smooth, "counter": _counter})


def test_plugin_written_against_api_1_0_trains(tmp_path):
    registry = _plugin_registry()
    _train(tmp_path, "vanilla", registry=registry, dataset="ring8", loss="half-hinge", reg=["smooth:0.1"], steps=2)
    row = _rows(tmp_path / "run")[-1]
    assert {"d/adv", "d/smooth", "g/adv"} <= row.keys()


def test_objective_state_is_saved_and_restored(tmp_path):
    registry = _plugin_registry()
    _train(tmp_path, "vanilla", registry=registry, dataset="ring8", reg=["counter"], steps=2)
    assert int(COUNTERS[-1].seen) == 2
    cfg = resolve("vanilla", registry, steps=3, batch_size=8, device="cpu", out=str(tmp_path / "run"),
                  log_every=1, sample_every=1000, ckpt_every=2, dataset="ring8", reg=["counter"])
    train(cfg, resume=True, quiet=True, registry=registry, echo=lambda message: None)
    assert int(COUNTERS[-1].seen) == 3  # restored to 2 from the checkpoint, then one more update


def test_compile_leaves_d_eager_under_a_double_backward_penalty(tmp_path, monkeypatch):
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda fn, *a, **k: compiled.append(fn) or fn)
    notes = []
    cfg = resolve("wgan-gp", get_registry(), steps=1, batch_size=8, device="cpu", out=str(tmp_path / "run"),
                  dataset="ring8", compile=True, n_critic=1)
    train(cfg, quiet=False, echo=notes.append)
    assert len(compiled) == 1 and hasattr(compiled[0], "latent_dim")  # G only
    assert any("compiles G only" in n and "gp" in n for n in notes)
    compiled.clear()
    cfg = resolve("dcgan", get_registry(), steps=1, batch_size=8, device="cpu", out=str(tmp_path / "run2"),
                  dataset="ring8", compile=True)
    train(cfg, quiet=True, echo=notes.append)
    assert len(compiled) == 2  # G and D


@pytest.mark.parametrize("args,expected", [
    (["--reg", "r1:10@0"], "interval after '@' must be a positive integer"),
    (["--reg", "r1:10@x"], "interval after '@' must be a positive integer"),
    (["--augment", "diffaug:blur"], "blur"),
])
def test_bad_objective_options_are_one_line_errors(args, expected):
    from conftest import assert_one_line_error

    assert_one_line_error(["train", "dcgan", "--steps", "1", *args], expected)


@pytest.mark.parametrize("option", [["--augment", "diffaug"], ["--image-size", "32"]])
def test_image_options_on_points_are_refused(tmp_path, option):
    from conftest import assert_one_line_error

    assert_one_line_error(["train", "vanilla", "--dataset", "ring8", *option, "--steps", "1",
                           "--out", str(tmp_path / "r")], f"{option[0]} applies to images")
    assert not (tmp_path / "r").exists()


def test_train_help_explains_objective_options():
    code, out = invoke("train", "--help")
    assert code == 0 and "--augment" in out and "@EVERY" in out and "ragan" in out


def test_infogan_exports_and_generates_with_codes(tmp_path):
    from ganzoo.onnx import runtime

    _train(tmp_path, "infogan", dataset="digits", steps=2)
    run, onnx_file = tmp_path / "run", tmp_path / "infogan.onnx"
    code, out = invoke("export", run, "-o", onnx_file)
    assert code == 0 and "codes c1, c2, c3" in out, out
    G = runtime.load(onnx_file, provider="cpu")
    assert [c["name"] for c in G.codes] == ["c1", "c2", "c3"]
    a = G.sample(10, codes={"c1": 3}, seed=0)
    b = G.sample(10, codes={"c1": 4}, seed=0)
    assert a.shape == (10, 1, 8, 8) and not (a == b).all()  # the code steers what is drawn
    code, out = invoke("generate", onnx_file, "--code", "c1=all", "--code", "c2=0.5", "-o", tmp_path / "g.png")
    assert code == 0 and (tmp_path / "g.png").is_file(), out
    code, out = invoke("sample", run, "--code", "c1=all", "-o", tmp_path / "s.png")
    assert code == 0 and (tmp_path / "s.png").is_file(), out
    scores = {}
    for source in (run, onnx_file):  # c1 scored as a classifier, the same from the run and its export
        code, out = invoke("eval", source, "--n", "200", "--json")
        assert code == 0, out
        scores[source] = json.loads(out)["metrics"]
        assert "code accuracy (c1 matched to digits)" in invoke("eval", source, "--n", "200")[1]
    metrics = scores[run]
    assert metrics["code"] == "c1" and 0.1 <= metrics["code_accuracy"] <= 1
    assert sorted(metrics["code_to_class"]) == sorted(set(metrics["code_to_class"]))  # one-to-one
    assert scores[onnx_file]["code_accuracy"] == pytest.approx(metrics["code_accuracy"], abs=0.02)


# -- plugin mistakes in objectives are one line naming the plugin ------------------------------------
def _registry_with(**entries):
    """A registry with plugin 'mine' (loaded by hand, as from a notebook) registering losses and
    regularizers given as name -> target."""
    module = types.ModuleType("mine_plugin")

    @hookimpl
    def ganzoo_register_losses(register):
        for name, target in entries.get("losses", {}).items():
            register(LossSpec(name=name, summary="s", target=target))

    @hookimpl
    def ganzoo_register_regularizers(register):
        for name, target in entries.get("regs", {}).items():
            register(RegularizerSpec(name=name, summary="s", target=target))

    module.ganzoo_register_losses = ganzoo_register_losses
    module.ganzoo_register_regularizers = ganzoo_register_regularizers
    registry = Registry(load_entry_points=False)
    registry.add_plugin(module, "mine", version="1.0")
    return registry


class DOnly(Objective):
    def d_terms(self, step):
        return {"adv": F.softplus(-step.d_real.logits).mean() + F.softplus(step.d_fake.logits).mean()}

    def g_terms(self, step):
        return {}


class Returns(Objective):
    def __init__(self, weight=1.0, what="tensor"):
        super().__init__()
        self.what = what

    def d_terms(self, step):
        return step.d_fake.logits.mean() if self.what == "tensor" else {"x": step.d_fake.logits}

    def g_terms(self, step):
        return {}


class BadSetup(Returns):
    def setup(self, run):
        raise ValueError("boom")


class NumpyState(Returns):
    def d_terms(self, step):
        return {}

    def state_dict(self):
        import numpy as np

        return {"k": np.float32(0.5)}


class OnlyDLoss:
    def d_loss(self, real_logits, fake_logits):
        return fake_logits.mean() - real_logits.mean()


@pytest.mark.parametrize("entries,overrides,expected", [
    ({"regs": {"t": lambda w: Returns(w)}}, {"reg": ["t"]}, "regularizer 'mine:t' (plugin 'mine'): d_terms() returned Tensor"),
    ({"regs": {"t": lambda w: Returns(w, "shaped")}}, {"reg": ["t"]}, "term 'x' is [8], not a scalar tensor"),
    ({"regs": {"t": lambda w: BadSetup(w)}}, {"reg": ["t"]}, "setup() raised ValueError: boom"),
    ({"regs": {"t": lambda w: NumpyState(w)}}, {"reg": ["t"]}, "state_dict() holds a float32"),
    ({"losses": {"half": OnlyDLoss}}, {"loss": "half"}, "nor a plugin API 1.0 loss with d_loss and g_loss"),
], ids=["not-a-dict", "not-a-scalar", "setup-raises", "numpy-state", "half-a-loss"])
def test_objective_mistakes_are_one_line_errors(tmp_path, entries, overrides, expected):
    registry = _registry_with(**entries)
    with pytest.raises(GanzooError) as info:
        _train(tmp_path, "vanilla", registry=registry, dataset="ring8", steps=2, **overrides)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_a_phase_without_terms_skips_that_update(tmp_path):
    registry = _registry_with(losses={"d-only": DOnly})
    _train(tmp_path, "vanilla", registry=registry, dataset="ring8", loss="d-only", steps=2)
    row = _rows(tmp_path / "run")[-1]
    assert "d/adv" in row and "g_loss" not in row


def test_lazy_terms_are_logged_with_several_critic_steps(tmp_path):
    _train(tmp_path, "wgan-gp", dataset="ring8", steps=4, reg=["gp:10", "r1:1@8"], n_critic=5)
    rows = _rows(tmp_path / "run")  # d_step 0, 8, 16 fall on critic steps 0, 3 and 1 of steps 1, 2, 4
    assert [("d/r1" in r) for r in rows] == [True, True, False, True]


def test_builtin_specs_keep_their_own_entries_when_a_plugin_shadows_a_name(tmp_path):
    registry = _registry_with(losses={"hinge": Hinge})
    cfg = _train(tmp_path, "sngan", registry=registry, dataset="ring8", steps=1)
    assert cfg.loss == "ganzoo:hinge"


def test_the_tutorial_objective_in_the_docs_trains(tmp_path):
    """docs/plugins.md section 8, as a plugin author would copy it."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
    block = text.split("# ganzoo_ragan/objective.py", 1)[1].split("\n", 1)[1].split("```", 1)[0]
    module = types.ModuleType("ganzoo_ragan_objective")
    exec(compile(block, "docs/plugins.md", "exec"), module.__dict__)
    registry = _registry_with(losses={"my-ragan": module.RelativisticAverage})
    _train(tmp_path, "vanilla", registry=registry, dataset="ring8", loss="my-ragan", steps=2)
    assert {"d/adv", "g/adv"} <= _rows(tmp_path / "run")[-1].keys()


def test_reg_naming_a_models_own_term_sets_its_weight(tmp_path):
    cfg = resolve("infogan", get_registry(), reg=["info:2", "r1:1"], dataset="digits", out=str(tmp_path / "r"))
    assert (cfg.terms, cfg.reg) == (["info:2"], ["r1:1"])  # retuned, not a second 'info' objective
    assert resolve("acgan", get_registry(), reg=["acgan-aux:0.5@2"], dataset="digits",
                   out=str(tmp_path / "a")).terms == ["acgan-aux:0.5@2"]


def test_a_regularizer_given_twice_is_refused_before_the_run_folder_exists(tmp_path):
    out = tmp_path / "run"
    assert_one_line_error(["train", "vanilla", "--dataset", "ring8", "--reg", "r1:1", "--reg", "r1:2@4", "--out", out],
                          "'r1' is given twice")
    assert not out.exists()


class Forgetful(Counter):
    """Saves its state but does not restore it: a resumed run silently starts counting again."""

    def load_state_dict(self, state):
        pass


def test_kit_fails_an_objective_that_does_not_restore_its_state():
    from ganzoo.testing import ConformanceError, check_regularizer

    registry = _registry_with(regs={"counter": Counter, "forgetful": Forgetful})
    check_regularizer("counter", registry)  # restores: passes
    with pytest.raises(ConformanceError, match=r"after --resume .* differs from an uninterrupted run's.*"
                                               r"load_state_dict\(state\) must restore"):
        check_regularizer("forgetful", registry)
