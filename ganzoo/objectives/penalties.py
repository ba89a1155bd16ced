"""Penalties on D's input gradient: WGAN-GP's gradient penalty, R1 and R2.

All are objectives, so they see the step's shared D outputs: R1 differentiates the real
logits D already computed for the adversarial loss, and R2 the generated ones, instead
of running D a second time, which also keeps BatchNorm statistics to one pass per batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganzoo.api import Objective, Step


def squared_gradient_norm(logits: Tensor, inputs: Tensor) -> Tensor:
    """E ||d logits / d inputs||^2 over the batch, kept differentiable (R1 and R2's quantity)."""
    (grad,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


class GradientPenalty(Objective):
    """Gulrajani et al. 2017, "Improved Training of Wasserstein GANs": weight *
    E[(||grad_x D(x_hat)|| - 1)^2] on random interpolates x_hat between a real and a
    generated sample, one mixing coefficient per sample. The interpolates are a batch of
    their own, so this is the one penalty that needs an extra D pass."""

    double_backward = True

    def __init__(self, weight: float = 10.0) -> None:
        super().__init__()
        self.weight = float(weight)

    def d_terms(self, step: Step) -> dict[str, Tensor]:
        real, fake = step.real.detach(), step.fake.detach()
        eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        out = step.discriminate(x_hat, step.condition).logits
        (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
        return {"gp": self.weight * ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()}

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        return {}  # a constraint on D alone


class R1(Objective):
    """Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?":
    (weight / 2) * E ||grad_x D(x)||^2 on real data.

    With ``--reg r1:W@K`` it is lazy, as in Karras et al. 2020 (StyleGAN2): computed on
    every K-th D update only and scaled by K. Unlike StyleGAN2, which runs a separate
    regularisation pass, it differentiates the logits of the D pass that the
    adversarial loss already made (the real batch requires grad on those updates)."""

    needs_real_grad = True
    double_backward = True

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = float(weight)

    def d_terms(self, step: Step) -> dict[str, Tensor]:
        return {"r1": 0.5 * self.weight * squared_gradient_norm(step.d_real.logits, step.real)}

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        return {}  # a constraint on D alone


class R2(Objective):
    """Mescheder et al. 2018's R2: (weight / 2) * E ||grad_x D(x)||^2 on *generated* data.
    R3GAN (Huang et al. 2024) shows that with the relativistic pairing loss R1 alone does
    not give local convergence and R1 + R2 does. The penalty differentiates the logits of
    D's own pass on the generated batch (``needs_fake_grad``), so it costs a double
    backward but no extra forward; lazy ``r2:W@K`` works as for R1."""

    needs_fake_grad = True
    double_backward = True

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = float(weight)

    def d_terms(self, step: Step) -> dict[str, Tensor]:
        return {"r2": 0.5 * self.weight * squared_gradient_norm(step.d_fake.logits, step.fake)}

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        return {}  # a constraint on D alone
