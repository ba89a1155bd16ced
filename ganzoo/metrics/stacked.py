"""The Stacked MNIST mode count (VEEGAN §5.2; PacGAN §5, Table 2).

A Stacked MNIST image holds three MNIST digits as its three colour channels, so
the data set has 10³ = 1,000 modes. Protocol: draw 26,000 samples, classify each
channel with a pretrained MNIST classifier (ganzoo's shipped ``mnist28``), read
the triple ``(d0, d1, d2)`` as mode ``100·d0 + 10·d1 + d2``; report the number of
distinct modes seen at least once and ``KL(mode histogram ‖ uniform over 1,000)``
— the same quantity PacGAN's evaluation code computes (it sums ``p log(p/q)`` over
the modes with ``p > 0``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganzoo.errors import GanzooError
from ganzoo.metrics.classifier import Classifier, resize_images
from ganzoo.metrics.histogram import counts, kl_to_uniform

NUM_SAMPLES = 26_000
NUM_MODES = 1000


def channel_digits(images: np.ndarray, classifier: Classifier) -> np.ndarray:
    """[N, 3] digits, one per channel, of [N, 3, H, W] images in [-1, 1]."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1] != 3:
        raise GanzooError(f"Stacked MNIST images are [N, 3, H, W]; got {list(images.shape)}: "
                          "evaluate a generator trained on stacked-mnist")
    images = resize_images(images, classifier.size)
    return np.stack([classifier.predict(images[:, c:c + 1]) for c in range(3)], axis=1)


def triple_modes(digits: np.ndarray) -> np.ndarray:
    """Mode index ``100·d0 + 10·d1 + d2`` of [N, 3] digits (the data set's label, too)."""
    digits = np.asarray(digits, dtype=np.int64)
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


def stacked_mnist_modes(images: np.ndarray, classifier: Classifier) -> dict[str, Any]:
    """Modes captured (of 1,000) and KL to uniform for [N, 3, H, W] Stacked MNIST samples.

    Returns ``modes_captured``, ``num_modes``, ``kl``, ``num_samples`` and ``assigned``
    (every sample's mode, for conditional accuracy)."""
    modes = triple_modes(channel_digits(images, classifier))
    hist = counts(modes, NUM_MODES)
    return {"modes_captured": int((hist > 0).sum()), "num_modes": NUM_MODES, "kl": kl_to_uniform(hist),
            "num_samples": len(modes), "assigned": modes}
