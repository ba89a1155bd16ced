"""The 2-D Gaussian mixtures of PacGAN (Lin et al. 2018) and VEEGAN (Srivastava et al. 2017).

Their modes are known exactly, so mode collapse can be counted rather than guessed.
"""

from __future__ import annotations

import math

import torch

from ganzoo.data import Data

NUM_POINTS = 100_000


def ring_modes(k: int = 8, radius: float = 1.0) -> torch.Tensor:
    angles = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_modes(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    coords = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def _mixture(name: str, modes: torch.Tensor, sigma: float, seed: int) -> Data:
    gen = torch.Generator().manual_seed(seed)
    which = torch.randint(len(modes), (NUM_POINTS,), generator=gen)
    x = modes[which] + sigma * torch.randn(NUM_POINTS, 2, generator=gen)
    # Labels are the mode index: lets conditional models ask for one mode.
    return Data(name, x, which, num_classes=len(modes), kind="points", modes=modes, sigma=sigma)


def ring8(arg: str | None = None, data_dir: str | None = None, download: bool = False,
          seed: int = 0, image_size: int | None = None) -> Data:
    return _mixture("ring8", ring_modes(8, 1.0), 0.01, seed)


def grid25(arg: str | None = None, data_dir: str | None = None, download: bool = False,
           seed: int = 0, image_size: int | None = None) -> Data:
    return _mixture("grid25", grid_modes(5, 2.0), 0.05, seed)
