"""The exponential moving average of G, and BatchNorm statistics that fit it.

Two things go wrong with a plain EMA of a GAN generator:

- early on, a decay of 0.999 averages over the random initial weights for thousands of
  steps, so early EMA samples are worse than the raw generator's. The decay is warmed
  up instead (1 - (1 + step)^-3/4, timm's schedule, capped at the configured decay,
  which it reaches after about 10,000 steps at 0.999);
- buffers are not weights: they are copied from G at every update (:func:`update_ema`),
  and BatchNorm running statistics, which belong to neither set of weights, are
  measured again from the EMA generator's own activations on fixed latents before it is
  used (sample grids, the checkpoint that ``sample``, ``export`` and ``eval`` read).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ganzoo.api import generate, sample_codes

#: Batches of latents the statistics are measured on (16 x the batch size).
RECALIBRATION_BATCHES = 16


class EMA:
    """The averaged generator, ``module``: a copy of G in eval mode without gradients.

    Written here rather than taken from timm: the same arithmetic as timm's ModelEmaV3 with
    its warm-up (so runs made with it resume unchanged), without importing timm, which pulls
    in torchvision and an HTTP client at every start of ``ganzoo train``."""

    def __init__(self, G: nn.Module, decay: float, device: torch.device) -> None:
        self.module = copy.deepcopy(G).to(device).eval().requires_grad_(False)
        self.decay = decay
        self._params: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None

    def params(self, G: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The averaged parameters and G's, listed at the first update: walking both modules
        for them at every step cost a third as much as the average itself. The Parameter
        objects are kept, not their tensors, so ``.data`` reassigned (``G.to(...)``) is seen."""
        if self._params is None:
            self._params = [p for p in self.module.parameters()], [p for p in G.parameters()]
        return self._params

    def decay_at(self, step: int) -> float:
        """0 on the first update (the average starts as G), then 1 - (1 + k)^-3/4 for the
        k-th later update, capped at ``decay``."""
        k = step - 1
        return 0.0 if k <= 0 else min(1.0 - (1.0 + k) ** -0.75, self.decay)


def make_ema(G: nn.Module, decay: float, device: torch.device) -> EMA:
    """An EMA of ``G``'s parameters with the decay warm-up; :func:`update_ema` copies the buffers."""
    return EMA(G, decay, device)


@torch.no_grad()
def update_ema(ema: EMA, G: nn.Module, step: int) -> None:
    """Average the parameters (one fused lerp over all of them); copy the buffers, as
    StyleGAN2's training loop does. A buffer is a statistic the generator tracks itself
    (StyleGAN2's average w, spectral norm's vectors): an average of it lags behind the value
    that belongs to the weights, so the EMA generator's truncation would pull towards a stale
    centre. BatchNorm statistics are measured again before the EMA generator is used either way."""
    mine, theirs = ema.params(G)
    torch._foreach_lerp_(mine, theirs, 1.0 - ema.decay_at(step))
    for buffer, source in zip(ema.module.buffers(), G.buffers()):  # walked each time: a buffer may be reassigned
        buffer.copy_(source)


@torch.no_grad()
def recalibrate_batchnorm(G: nn.Module, batch_size: int, seed: int, num_classes: int = 0,
                          batches: int = RECALIBRATION_BATCHES) -> None:
    """Replace the running statistics of every BatchNorm layer in ``G`` by their exact
    average over ``batches`` batches of fixed latents (seeded: the same numbers every
    time, on every rank). Everything else stays in eval mode; G is left in eval mode."""
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms or hasattr(G, "source_shape") or getattr(G, "directions", None):
        return  # an image-to-image generator takes images, not latents: its averaged statistics stay
    device = next(iter(G.parameters())).device
    latent_dim = int(G.latent_dim)  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(seed)
    momenta = [m.momentum for m in norms]
    G.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: the exact mean over the batches
        m.train()
    try:
        for _ in range(batches):
            z = torch.randn(batch_size, latent_dim, generator=gen).to(device)
            labels = torch.randint(num_classes, (batch_size,), generator=gen).to(device) if num_classes else None
            generate(G, z, labels, sample_codes(G, batch_size, device, gen))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        G.eval()
