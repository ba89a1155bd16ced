import math

import pytest
import torch

from ganzoo.registry import get_registry
from ganzoo.specs import resolve

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([-3.0, 0.0, 1.5])


def sig(x):
    return 1 / (1 + math.exp(-x))


def loss(name):
    return resolve(get_registry().loss(name).target)()


def test_minimax_is_the_seed_formula():
    # D maximises log D(x) + log(1 - D(G(z))); G minimises log(1 - D(G(z))).
    value = sum(math.log(sig(r)) for r in REAL.tolist()) / 3 + sum(math.log(1 - sig(f)) for f in FAKE.tolist()) / 3
    assert loss("minimax").d_loss(REAL, FAKE).item() == pytest.approx(-value, rel=1e-6)
    g = sum(math.log(1 - sig(f)) for f in FAKE.tolist()) / 3
    assert loss("minimax").g_loss(FAKE).item() == pytest.approx(g, rel=1e-6)


def test_nonsaturating():
    g = -sum(math.log(sig(f)) for f in FAKE.tolist()) / 3
    assert loss("nonsaturating").g_loss(FAKE).item() == pytest.approx(g, rel=1e-6)
    assert loss("nonsaturating").d_loss(REAL, FAKE).item() == pytest.approx(loss("minimax").d_loss(REAL, FAKE).item())


def test_wasserstein():
    assert loss("wasserstein").d_loss(REAL, FAKE).item() == pytest.approx((-1.5 / 3) - (1.5 / 3))
    assert loss("wasserstein").g_loss(FAKE).item() == pytest.approx(1.5 / 3)


def test_lsgan():
    d = 0.5 * ((1 + 4 + 0.25) / 3) + 0.5 * ((9 + 0 + 2.25) / 3)
    assert loss("lsgan").d_loss(REAL, FAKE).item() == pytest.approx(d)
    assert loss("lsgan").g_loss(FAKE).item() == pytest.approx(0.5 * ((16 + 1 + 0.25) / 3))


def test_hinge():
    d = (0 + 2 + 0.5) / 3 + (0 + 1 + 2.5) / 3
    assert loss("hinge").d_loss(REAL, FAKE).item() == pytest.approx(d)
    assert loss("hinge").g_loss(FAKE).item() == pytest.approx(1.5 / 3)


@pytest.mark.parametrize("name", ["minimax", "nonsaturating"])
def test_stable_on_extreme_logits(name):
    big = torch.tensor([1e4, -1e4])
    assert torch.isfinite(loss(name).d_loss(big, -big))
    assert torch.isfinite(loss(name).g_loss(big))
    assert torch.isfinite(loss(name).g_loss(-big))


def test_r1_matches_hand_computed_value():
    # D(x) = w . x  → grad = w for every sample → R1 = weight/2 * ||w||^2
    from ganzoo.api import Outputs, Step
    from ganzoo.objectives.penalties import R1

    w = torch.tensor([3.0, 4.0])
    real = torch.randn(5, 2).requires_grad_(True)
    step = Step(phase="d", step=0, d_step=0, G=None, D=None, real=real, labels=None, z=torch.zeros(5, 1), codes={},
                fake=torch.randn(5, 2), num_classes=0, discriminate=lambda x, y: Outputs(logits=x @ w))
    assert R1(2.0).d_terms(step)["r1"].item() == pytest.approx(25.0)
