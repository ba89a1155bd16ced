"""The original GAN: two multilayer perceptrons (Goodfellow et al. 2014,
"Generative Adversarial Nets", NeurIPS), and its conditional form (Mirza &
Osindero 2014, "Conditional Generative Adversarial Nets").

Deviations from the papers, all standard since DCGAN:
- G's hidden layers are Linear -> BatchNorm -> LeakyReLU(0.2) and its output Tanh
  (the paper: ReLU/sigmoid units, no normalisation, sigmoid on [0, 1] pixels);
  ganzoo images live in [-1, 1]. On 2-D points the output is linear. Without
  BatchNorm the MLP generator collapsed to one blurry mode on mnist5k within
  2,000 steps here; with it, it draws varied digits (``--set norm=false`` to compare).
- D keeps the paper's dropout (0.3) on images but uses LeakyReLU(0.2) instead of
  maxout units. On the 2-D mixtures D has no dropout, as in PacGAN's networks: in
  5,000-step ring8 runs here, dropping it (with lr 1e-4 and batch 100) raised the
  share of samples within 3 sigma of a mode from 3 % to 22 %.
- Conditioning (cgan) concatenates a learned label embedding to G's noise and to
  D's input, where Mirza & Osindero used one-hot vectors into separate hidden layers.
  An embedding at least as wide as the number of classes (``embed_dim`` 10 for the
  10 digits) followed by the first linear layer is the same function class as a
  one-hot input; the paper's separate label layers (G: 200 noise + 1,000 label
  units joined into 1,200; D: maxout 240 + 50 joined into 240) become vanilla's
  joint layers, its uniform noise N(0, I), its SGD with momentum Adam.
- Optimiser: Adam with betas (0.5, 0.999) in place of the paper's SGD with momentum; on
  images G learns at 1e-3 and D at 2e-4 (InfoGAN's MNIST rates): with both at 2e-4 the
  digits stayed rougher at the same length (benchmarks/results/image-sweeps.md); cgan,
  and vanilla on the mixtures, keep 2e-4 for both.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ganzoo.errors import GanzooError
from ganzoo.layers import check_size, is_points, mlp

IMAGE_G_HIDDEN = (256, 512, 1024)
IMAGE_D_HIDDEN = (512, 256)
# PacGAN's 2-D experiments: G four layers of 400, D three layers of 200.
POINT_G_HIDDEN = (400, 400, 400, 400)
POINT_D_HIDDEN = (200, 200, 200)


def _sizes(hidden: Any, embed_dim: Any) -> tuple[int, ...]:
    """``--set hidden=[...]`` and ``embed_dim``, checked before any layer is allocated."""
    check_size(embed_dim, "embed_dim", "vanilla", 10)
    if not isinstance(hidden, (list, tuple)) or not hidden:
        raise GanzooError(f"vanilla: --set hidden must be a list of layer sizes such as [256, 512], got {hidden!r}")
    return tuple(check_size(h, "hidden", "vanilla", 256) for h in hidden)


class Generator(nn.Module):
    def __init__(self, shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 100,
                 hidden: tuple[int, ...] | None = None, embed_dim: int = 10, norm: bool = True,
                 dropout: float | None = None) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.output_shape = latent_dim, num_classes, tuple(shape)
        points = is_points(self.output_shape)
        hidden = _sizes(hidden or (POINT_G_HIDDEN if points else IMAGE_G_HIDDEN), embed_dim)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        in_dim = latent_dim + (embed_dim if num_classes else 0)
        out_dim = math.prod(self.output_shape)
        self.net = nn.Sequential(
            *mlp([in_dim, *hidden], norm=norm),
            nn.Linear(hidden[-1], out_dim),
            *([] if points else [nn.Tanh()]),
        )

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(z).view(z.shape[0], *self.output_shape)


class Discriminator(nn.Module):
    def __init__(self, shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 100,
                 hidden: tuple[int, ...] | None = None, embed_dim: int = 10, norm: bool = True,
                 dropout: float | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        points = is_points(shape)
        hidden = _sizes(hidden or (POINT_D_HIDDEN if points else IMAGE_D_HIDDEN), embed_dim)
        dropout = (0.0 if points else 0.3) if dropout is None else dropout
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        in_dim = math.prod(shape) + (embed_dim if num_classes else 0)
        self.net = nn.Sequential(*mlp([in_dim, *hidden], dropout=dropout), nn.Linear(hidden[-1], 1))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = x.flatten(1)
        if self.embed is not None:
            h = torch.cat([h, self.embed(labels)], dim=1)
        return self.net(h).squeeze(1)
