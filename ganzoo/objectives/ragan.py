"""Relativistic average GAN (Jolicoeur-Martineau 2018, "The relativistic
discriminator: a key element missing from standard GAN", arXiv 2018; ICLR 2019).

A standard discriminator estimates the probability that its input is real. The
relativistic average discriminator estimates the probability that its input is *more
realistic than the other batch on average*: with C the critic's raw logit,

    D(x_r) = sigmoid(C(x_r) - E_f[C(x_f)])      D(x_f) = sigmoid(C(x_f) - E_r[C(x_r)])

RaSGAN's losses (the paper's eq. 13 and 14, written with -log sigmoid(a) = softplus(-a)
and -log(1 - sigmoid(a)) = softplus(a)):

    L_D = E_r[softplus(-(C(x_r) - E_f C(x_f)))] + E_f[softplus(C(x_f) - E_r C(x_r))]
    L_G = E_f[softplus(-(C(x_f) - E_r C(x_r)))] + E_r[softplus(C(x_r) - E_f C(x_f))]

G's loss needs the real logits too: that is why this is an objective rather than a
plugin API 1.0 loss. In G's update ``step.d_real`` runs the discriminator as it is
after its own update on the same real batch (the paper's reference code does the
same); D's parameters are frozen there, so no gradient reaches D.

Deviations: none in the loss. The expectations are batch means, as in the paper.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ganzoo.api import Objective, Step


class RelativisticAverage(Objective):
    """RaSGAN: the standard GAN loss on relativistic average logits (term ``adv``)."""

    @staticmethod
    def _relative(real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        return real - fake.mean(), fake - real.mean()

    def d_terms(self, step: Step) -> dict[str, Tensor]:
        real, fake = self._relative(step.d_real.logits, step.d_fake.logits)
        return {"adv": F.softplus(-real).mean() + F.softplus(fake).mean()}

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        real, fake = self._relative(step.d_real.logits, step.d_fake.logits)
        return {"adv": F.softplus(-fake).mean() + F.softplus(real).mean()}
