"""The exponential moving average of G, and BatchNorm statistics that fit it.

Two things go wrong with a plain EMA of a GAN generator:

- early on, a decay of 0.999 averages over the random initial weights for thousands of
  steps, so early EMA samples are worse than the raw generator's. The decay is warmed
  up instead (timm's schedule: 1 - (1 + step)^-3/4, capped at the configured decay,
  which it reaches after about 10,000 steps at 0.999);
- BatchNorm running statistics are averaged alongside the weights, but an average of
  statistics is not the statistics of the averaged weights. Before the EMA generator
  is used (sample grids, the checkpoint that ``sample``, ``export`` and ``eval`` read),
  its statistics are measured again from its own activations on fixed latents.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganzoo.api import generate, sample_codes

#: Batches of latents the statistics are measured on (16 x the batch size).
RECALIBRATION_BATCHES = 16


def make_ema(G: nn.Module, decay: float, device: torch.device) -> Any:
    """timm's EMA of ``G`` with its decay warm-up."""
    from timm.utils import ModelEmaV3

    return ModelEmaV3(G, decay=decay, use_warmup=True, warmup_power=3 / 4, device=device)


@torch.no_grad()
def recalibrate_batchnorm(G: nn.Module, batch_size: int, seed: int, num_classes: int = 0,
                          batches: int = RECALIBRATION_BATCHES) -> None:
    """Replace the running statistics of every BatchNorm layer in ``G`` by their exact
    average over ``batches`` batches of fixed latents (seeded: the same numbers every
    time, on every rank). Everything else stays in eval mode; G is left in eval mode."""
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return
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
