"""The adversarial losses of D's logits alone (torch code behind the built-in plugin).

These are plugin API 1.0 losses; the loop wraps them in the default objective
(:class:`ganzoo.objectives.LossObjective`). They live with the objectives, beside the
losses that need more of the step (:mod:`ganzoo.objectives.ragan`,
:mod:`ganzoo.objectives.rpgan`), so that every loss ganzoo ships is in one package.

Every loss works on raw discriminator logits. Probabilities never appear:
log D = log sigmoid(l) = -softplus(-l) and log(1 - D) = -softplus(l), which stay
finite where sigmoid followed by log would give -inf.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch.nn.functional as F
from torch import Tensor


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
    """Mao et al. 2017, on the logits directly: D pulls real logits to ``b`` and fake ones to
    ``a``, G pulls fake ones to ``c``. The default 0-1 coding (a=0, b=1, c=1) is the paper's
    eq. 9; a=-1, b=1, c=0 is its eq. 8, which minimises the Pearson chi-squared divergence
    (``--loss lsgan:a=-1,b=1,c=0``)."""

    def __init__(self, a: float = 0.0, b: float = 1.0, c: float = 1.0) -> None:
        self.a, self.b, self.c = float(a), float(b), float(c)

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return 0.5 * ((real_logits - self.b) ** 2).mean() + 0.5 * ((fake_logits - self.a) ** 2).mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        return 0.5 * ((fake_logits - self.c) ** 2).mean()


class Hinge(Loss):
    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        return -fake_logits.mean()
