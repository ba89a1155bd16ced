"""Relativistic pairing GAN (RpGAN): Jolicoeur-Martineau 2019 ("The relativistic
discriminator"), as R3GAN uses it (Huang, Gokaslan, Kuleshov & Tompkin 2024, "The GAN is
dead; long live the GAN! A Modern GAN Baseline", eq. 2 and 3).

Each real sample is paired with one generated sample and D is asked which of the two is
the more realistic, with C the critic's raw logit and f(t) = softplus(-t):

    L_D = E[f(C(x_r) - C(x_f))]        L_G = E[f(C(x_f) - C(x_r))]

Unlike the standard loss, whose landscape has a mode-dropping local optimum for every
subset of the data, every basin of RpGAN's is a global optimum: a generator cannot be
stuck covering part of the data (the paper's section 2.1). Pairs are the i-th real and
the i-th generated sample of the batch; both batches have the batch size.

Pair it with R1 and R2 (``--reg r1:G --reg r2:G``): without them RpGAN is not locally
convergent (the paper's section 2.2). G's loss needs the real logits too, so, as for the
relativistic average loss, it is an objective: in G's update ``step.d_real`` runs D (its
parameters frozen) on the step's real batch.

Deviations: none in the loss.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ganzoo.api import Objective, Step
from ganzoo.errors import GanzooError


class RelativisticPairing(Objective):
    """RpGAN: softplus of the negated difference of paired logits (term ``adv``)."""

    @staticmethod
    def _pairs(step: Step) -> tuple[Tensor, Tensor]:
        real, fake = step.d_real.logits, step.d_fake.logits
        if real.shape != fake.shape:
            raise GanzooError(f"rpgan pairs real and generated samples one to one, but D returned "
                              f"{list(real.shape)} logits for the real batch and {list(fake.shape)} for the "
                              "generated one; the discriminator must return one logit per sample")
        return real, fake

    def d_terms(self, step: Step) -> dict[str, Tensor]:
        real, fake = self._pairs(step)
        return {"adv": F.softplus(fake - real).mean()}

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        real, fake = self._pairs(step)
        return {"adv": F.softplus(real - fake).mean()}
