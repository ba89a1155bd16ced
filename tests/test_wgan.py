"""wgan-gp's network options: He initialisation, the hidden critic layer, and runs saved before them."""

import pytest
import torch

from ganzoo.engine.build import build_discriminator, build_generator
from ganzoo.engine.config import resolve
from ganzoo.errors import GanzooError
from ganzoo.models import wgan
from ganzoo.registry import get_registry

SHAPE = (1, 28, 28)


def _input_grad_norm(init: str) -> float:
    torch.manual_seed(0)
    critic = wgan.critic(SHAPE, width=8, init=init)
    x = (torch.rand(16, *SHAPE) * 2 - 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    return float(grad.flatten(1).norm(dim=1).mean())


def test_he_init_starts_the_critic_near_the_penalty_target():
    # The gradient penalty pulls ||grad_x D|| to 1; N(0, 0.02) starts it two orders below.
    assert 0.3 < _input_grad_norm("he") < 3.0
    assert _input_grad_norm("dcgan") < 0.1


def test_factory_defaults_rebuild_runs_saved_before_the_options():
    torch.manual_seed(0)
    old = wgan.critic(SHAPE, width=8)
    torch.manual_seed(0)
    explicit = wgan.critic(SHAPE, width=8, init="dcgan", d_hidden=0)
    assert old.state_dict().keys() == explicit.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), explicit.state_dict().values()))
    assert not any(isinstance(m, torch.nn.Linear) and m.out_features > 1 for m in old.modules())


def test_spec_defaults_build_the_new_networks():
    spec = get_registry().model("wgan-gp")
    assert spec.options["init"] == "he" and spec.options["d_hidden"] == 1024
    assert spec.defaults.n_critic == 1 and spec.point_defaults is not None and spec.point_defaults.n_critic == 5
    cfg = resolve("wgan-gp", device="cpu", out="x", options={"width": 8})
    D = build_discriminator(cfg, SHAPE, 0)
    assert any(isinstance(m, torch.nn.Linear) and m.out_features == 1024 for m in D.modules())
    G = build_generator(cfg, SHAPE, 0)
    assert G(torch.randn(4, cfg.latent_dim)).shape == (4, *SHAPE)


def test_unknown_init_is_one_error():
    with pytest.raises(GanzooError, match="--set init must be one of dcgan, he"):
        wgan.critic(SHAPE, width=8, init="xavier")
    with pytest.raises(GanzooError, match="--set init"):
        wgan.generator(SHAPE, width=8, init="xavier")
