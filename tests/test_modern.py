"""Plugin API 1.4 and what the modern models need from it: the relativistic pairing loss,
R2 on the generated batch's own D pass, parameters for losses and regularizers, values
logged beside the terms, ADA's probability as objective state, and R3GAN's networks."""

import json

import pytest
import torch
import torch.nn.functional as F
from conftest import assert_one_line_error
from torch import nn

from ganzoo import GanzooError
from ganzoo.ada import AdaptiveAugment, colour, geometry
from ganzoo.api import Outputs, Step
from ganzoo.engine.config import resolve
from ganzoo.engine.train import train
from ganzoo.objectives import Part, collect_terms
from ganzoo.objectives.penalties import R2
from ganzoo.objectives.rpgan import RelativisticPairing
from ganzoo.registry import get_registry
from ganzoo.terms import parse_loss, parse_reg


def _critic() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))


def _step(D, real, fake, phase="d", d_step=0):
    calls = []

    def discriminate(x, y):
        calls.append(x)
        return Outputs(logits=D(x).squeeze(1).float())

    step = Step(phase=phase, step=0, d_step=d_step, G=None, D=D, real=real, labels=None, z=torch.zeros(len(real), 1),
                codes={}, fake=fake, num_classes=0, discriminate=discriminate)
    return step, calls


def test_rpgan_pairs_each_real_sample_with_one_fake():
    D = _critic()
    real, fake = torch.randn(6, 3, 2, 2), torch.randn(6, 3, 2, 2)
    step, _ = _step(D, real, fake)
    lr, lf = D(real).squeeze(1), D(fake).squeeze(1)
    d = RelativisticPairing().d_terms(step)["adv"]
    assert torch.allclose(d, F.softplus(-(lr - lf)).mean())
    g = RelativisticPairing().g_terms(_step(D, real, fake, "g")[0])["adv"]
    assert torch.allclose(g, F.softplus(-(lf - lr)).mean())


def test_r2_reuses_the_fake_pass_and_matches_a_second_forward():
    D = _critic()
    real = torch.randn(5, 3, 2, 2)
    fake = torch.randn(5, 3, 2, 2).requires_grad_(True)
    step, calls = _step(D, real, fake)
    parts = [Part(RelativisticPairing(), "rpgan"), Part(R2(0.5), "r2:0.5")]
    assert parts[1].needs_fake_grad and not parts[0].needs_fake_grad
    terms, _ = collect_terms(parts, "d", step, 0)
    assert len([x for x in calls if x is fake]) == 1  # one D pass on the generated batch, shared
    again = fake.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(again).sum(), again, create_graph=True)
    assert torch.allclose(terms["r2"], 0.25 * grad.flatten(1).pow(2).sum(1).mean())


def _train(tmp_path, model, name="run", steps=4, **overrides):
    registry = get_registry()
    cfg = resolve(model, registry, steps=steps, batch_size=8, device="cpu", out=str(tmp_path / name),
                  log_every=1, sample_every=1000, ckpt_every=2, **overrides)
    train(cfg, quiet=True, registry=registry, echo=lambda message: None)
    return [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]


def test_r3gan_trains_with_r1_and_r2_as_its_own_terms(tmp_path):
    rows = _train(tmp_path, "r3gan", dataset="digits", options={"width": 16})
    assert {"d/adv", "d/r1", "d/r2", "g/adv"} <= rows[-1].keys()
    cfg = resolve("r3gan", get_registry(), dataset="digits", reg=["r2:0.5"])
    assert cfg.terms == ["r1:0.05", "r2:0.5"] and cfg.reg == []  # --reg retunes the model's own term


def test_r3gan_networks_start_as_identity_blocks_and_take_labels():
    from ganzoo.models.r3gan import Discriminator, Generator

    G = Generator((3, 32, 32), num_classes=4, latent_dim=8, width=16)
    D = Discriminator((3, 32, 32), num_classes=4, width=16)
    z, y = torch.randn(3, 8), torch.tensor([0, 1, 3])
    x = G(z, y)
    assert x.shape == (3, 3, 32, 32) and x.abs().max() <= 1
    assert D(x, y).shape == (3,)
    block = G.stages[1][0]
    h = torch.randn(2, 16, 8, 8)
    assert torch.equal(block(h), h)  # the branch's last layer starts at zero
    with pytest.raises(GanzooError, match="conditional"):
        G(z)


def test_r3gan_refuses_bad_options():
    from ganzoo.models.r3gan import generator

    with pytest.raises(GanzooError, match="group_size"):
        generator((1, 8, 8), 0, 8, width=16, group_size=0)


def test_loss_and_regularizer_parameters_reach_their_objects():
    registry = get_registry()
    spec, params = parse_loss("lsgan:a=-1,b=1,c=0", registry)
    assert spec.name == "lsgan" and params == {"a": -1.0, "b": 1.0, "c": 0.0}
    assert parse_loss("ganzoo:lsgan:c=0.5", registry).params == {"c": 0.5}
    assert parse_loss("ganzoo:hinge", registry).spec.name == "hinge"
    from ganzoo.objectives import build_parts

    cfg = resolve("lsgan", registry, dataset="digits", loss="lsgan:a=-1,b=1,c=0")
    loss = build_parts(cfg, registry)[0].objective.loss
    assert (loss.a, loss.b, loss.c) == (-1.0, 1.0, 0.0)
    item = parse_reg("r1:2@4", registry)
    assert (item.weight, item.every, item.params) == (2.0, 4, {})


@pytest.mark.parametrize("args,expected", [
    (["--loss", "lsgan:d=1"], "lsgan has no parameter 'd' (its parameters: a=0.0, b=1.0, c=1.0)"),
    (["--loss", "lsgan:a=x"], "'a' takes a number (default 0.0), got 'x'"),
    (["--loss", "lsgan:a=nan"], "'a' must be finite"),
    (["--loss", "lsgan:a=1,a=2"], "'a' is given twice"),
    (["--reg", "r1:1,k=2"], "r1 has no parameter 'k' (its parameters: none)"),
    (["--augment", "ada:target=2"], "the target must lie in (0, 1)"),
    (["--augment", "ada:speed=2"], "'speed=2' is not one of target=NUMBER"),
])
def test_bad_parameters_are_one_line_errors(tmp_path, args, expected):
    assert_one_line_error(["train", "dcgan", "--dataset", "digits", "--steps", "1", "--out", str(tmp_path / "r"),
                           *args], expected)
    assert not (tmp_path / "r").exists()


def test_logged_values_are_not_loss_terms(tmp_path):
    rows = _train(tmp_path, "dcgan", dataset="digits", augment="ada:kimg=1,p=0.5", options={"width": 8})
    last = rows[-1]
    assert "stat/ada_p" in last and "stat/ada_rt" in last
    assert last["d_loss"] == pytest.approx(last["d/adv"])  # p is not in D's loss
    assert 0 < last["stat/ada_p"] <= 1


def test_ada_probability_is_restored_exactly_by_resume(tmp_path):
    opts = dict(dataset="digits", augment="ada:kimg=1,p=0.5", options={"width": 8})
    _train(tmp_path, "dcgan", "run", steps=6, **opts)
    state = torch.load(tmp_path / "run" / "checkpoint" / "state.pt", weights_only=True)
    saved = state["objectives"][-1]
    assert saved["p"] != 0.5 and set(saved) == {"p", "signs", "count"}  # moved from its start
    straight = _train(tmp_path, "dcgan", "straight", steps=10, **opts)
    cfg = resolve("dcgan", get_registry(), steps=10, batch_size=8, device="cpu", out=str(tmp_path / "run"),
                  log_every=1, sample_every=1000, ckpt_every=2, **opts)
    train(cfg, resume=True, quiet=True, echo=lambda m: None)
    resumed = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    keep = ("stat/ada_p", "stat/ada_rt", "d/adv", "g/adv")
    assert [{k: r.get(k) for k in keep} for r in straight] == [{k: r.get(k) for k in keep} for r in resumed]


def test_ada_at_p_zero_is_the_identity_and_at_p_one_changes_every_image():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    assert torch.allclose(colour(geometry(x, 0.0), 0.0), x, atol=1e-5)
    y = colour(geometry(x, 1.0), 1.0)
    assert y.shape == x.shape
    assert ((y - x).flatten(1).abs().amax(1) > 0.05).all()
    grey = torch.rand(3, 1, 16, 16)
    assert colour(geometry(grey, 1.0), 1.0).shape == grey.shape
    x.requires_grad_(True)
    AdaptiveAugment(p=0.5)(x).sum().backward()  # differentiable: G learns through it
    assert x.grad is not None and x.grad.abs().sum() > 0
