"""Path-length regularisation (Karras et al. 2020, "Analyzing and Improving the Image
Quality of StyleGAN", section 3.2), as a ganzoo objective on G's side.

A fixed-size step in w should change the image by a fixed amount, whatever the w: the
paper penalises the Jacobian J_w of the synthesis network for straying from a constant
length. With y ~ N(0, I) / sqrt(H W) a random image-space direction,

    penalty = weight * E_w,y [ (||J_w^T y||_2 - a)^2 ]

where ``a`` is a running mean of the lengths (decay 0.01): the network may choose the
scale, only its consistency is regularised. ``||J_w^T y||`` is one backward pass from
the image to the styles ``ws`` ``[N, num_ws, w_dim]`` (squared, summed over w_dim,
averaged over the layers, square-rooted, as the paper's code does), differentiated
again for G's update.

The paper computes it lazily, every 4th generator update on half the batch, its term
scaled by 4: ``--reg pl:2@4`` (2 is the paper's weight, this regularizer's default).

It needs a style-based generator: one with ``mapping(z, labels)`` returning the styles
and ``synthesis(ws)`` returning images (ganzoo's ``stylegan2``). The running mean is
objective state: checkpointed and restored on ``--resume``.

Deviations: the paper's training code also applies style mixing to the styles of this
pass; here the styles are one w per sample, so the penalty measures the Jacobian the
unmixed generator has (it needs nothing beyond ``mapping`` and ``synthesis``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ganzoo.api import Objective, Setup, Step
from ganzoo.errors import GanzooError

#: Decay of the running mean of path lengths.
PL_DECAY = 0.01
#: The pass uses batch // PL_BATCH_SHRINK samples, as the paper.
PL_BATCH_SHRINK = 2


class PathLength(Objective):
    """weight * E[(||J_w^T y|| - a)^2], term ``pl``, on G's side only."""

    def __init__(self, weight: float = 2.0) -> None:
        super().__init__()
        self.weight = float(weight)
        self.pl_mean = torch.zeros([])

    def setup(self, run: Setup) -> None:
        G = run.G
        if not (callable(getattr(G, "mapping", None)) and callable(getattr(G, "synthesis", None))):
            raise GanzooError(f"regularizer 'pl' needs a style-based generator with mapping(z, labels) and "
                              f"synthesis(ws), such as stylegan2's; {type(G).__name__} has not both: drop pl from "
                              "--reg (or use a style-based model)")

    def d_terms(self, step: Step) -> dict[str, Tensor]:
        return {}  # a constraint on G alone

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        G: Any = step.G
        n = max(1, step.z.shape[0] // PL_BATCH_SHRINK)
        labels = step.labels[:n] if step.labels is not None else None
        ws = G.mapping(step.z[:n].detach(), labels)
        images = G.synthesis(ws)
        pixels = math.prod(images.shape[2:]) if images.dim() > 2 else 1
        direction = torch.randn_like(images) / math.sqrt(pixels)
        (grad,) = torch.autograd.grad((images * direction).sum(), ws, create_graph=True)
        lengths = grad.square().sum(dim=2).mean(dim=1).sqrt()
        mean = self.pl_mean.to(lengths.device, lengths.dtype).lerp(lengths.mean().detach(), PL_DECAY)
        self.pl_mean = mean.detach()
        return {"pl": self.weight * (lengths - mean).square().mean()}

    def state_dict(self) -> dict[str, Any]:
        return {"pl_mean": self.pl_mean.detach().float().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        value = state.get("pl_mean") if isinstance(state, dict) else None
        if not isinstance(value, (Tensor, float, int)) or isinstance(value, bool):
            raise GanzooError(f"regularizer 'pl': the checkpoint's state has no running mean pl_mean (got "
                              f"{state!r}); resume with the configuration that wrote it")
        self.pl_mean = torch.as_tensor(value, dtype=torch.float32).reshape([]).clone()
