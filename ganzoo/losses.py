"""Adversarial losses and regularizers (torch code behind the built-in plugin).

Every loss works on raw discriminator logits. Probabilities never appear:
log D = log sigmoid(l) = -softplus(-l) and log(1 - D) = -softplus(l), which stay
finite where sigmoid followed by log would give -inf.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Loss(ABC):
    """Base class: ``d_loss`` is minimised by D, ``g_loss`` by G."""

    @abstractmethod
    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """D's loss on logits of a real and a generated batch."""

    @abstractmethod
    def g_loss(self, fake_logits: Tensor) -> Tensor:
        """G's loss on D's logits of a generated batch."""


class Minimax(Loss):
    """Exactly the value function of Goodfellow et al. 2014:
    D minimises -(log D(x) + log(1 - D(G(z)))), G minimises log(1 - D(G(z)))."""

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        return -F.softplus(fake_logits).mean()


class NonSaturating(Minimax):
    """G minimises -log D(G(z)) instead, which does not saturate when D wins early."""

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        return F.softplus(-fake_logits).mean()


class Wasserstein(Loss):
    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        return -fake_logits.mean()


class LeastSquares(Loss):
    """Mao et al. 2017 with the 0-1 coding (a=0, b=1, c=1), on the logits directly."""

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return 0.5 * ((real_logits - 1) ** 2).mean() + 0.5 * (fake_logits**2).mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        return 0.5 * ((fake_logits - 1) ** 2).mean()


class Hinge(Loss):
    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        return -fake_logits.mean()


class Regularizer:
    """A weighted term added to D's loss (``d_term``) and/or G's loss (``g_term``)."""

    def __init__(self, weight: float) -> None:
        self.weight = float(weight)

    def check(self, D: nn.Module, num_classes: int) -> None:
        """Raise a GanzooError before training starts if this term cannot work with D or the labels."""

    def d_term(self, D: nn.Module, real: Tensor, fake: Tensor, labels: Tensor | None) -> Tensor | None:
        return None

    def g_term(self, D: nn.Module, fake: Tensor, labels: Tensor | None) -> Tensor | None:
        return None


def _input_grad(D: nn.Module, x: Tensor, labels: Tensor | None) -> Tensor:
    x = x.detach().requires_grad_(True)
    out = D(x, labels)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1)


class GradientPenalty(Regularizer):
    """Gulrajani et al. 2017: penalise ||grad D|| away from 1 on random interpolates,
    one mixing coefficient per sample."""

    def d_term(self, D, real, fake, labels):
        eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
        x_hat = eps * real.detach() + (1 - eps) * fake.detach()
        grad = _input_grad(D, x_hat, labels)
        return self.weight * ((grad.norm(2, dim=1) - 1) ** 2).mean()


class R1(Regularizer):
    """Mescheder et al. 2018: (weight / 2) * E ||grad D(x)||^2 on real data only."""

    def d_term(self, D, real, fake, labels):
        grad = _input_grad(D, real, labels)
        return 0.5 * self.weight * grad.pow(2).sum(dim=1).mean()
