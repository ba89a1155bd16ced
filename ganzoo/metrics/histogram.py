"""Histograms over modes or classes, and their divergence from uniform.

Every mode-collapse figure ganzoo reports (2-D mixtures, digit classes, Stacked
MNIST triples) is ``KL(p ‖ u)``: ``p`` the share of samples that landed in each
mode, ``u`` uniform over the ``K`` modes. In that direction (the "reverse" KL of
PacGAN, model distribution first) the divergence is always finite, because ``u``
is never zero, and empty modes contribute ``0 · log 0 = 0``; so no smoothing
epsilon is needed and none is added. It equals ``log K − H(p)``: 0 when every mode
gets the same share, ``log K`` when all samples land in one mode (natural log, nats).
"""

from __future__ import annotations

import numpy as np

from ganzoo.errors import GanzooError


def counts(assignments: np.ndarray, num_modes: int) -> np.ndarray:
    """How many samples fell in each of ``num_modes`` modes (int64, length ``num_modes``)."""
    assignments = np.asarray(assignments, dtype=np.int64).ravel()
    if num_modes < 1:
        raise GanzooError(f"need at least one mode, got {num_modes}")
    if assignments.size and (assignments.min() < 0 or assignments.max() >= num_modes):
        raise GanzooError(f"mode indices must lie in [0, {num_modes}); got {assignments.min()}..{assignments.max()}")
    return np.bincount(assignments, minlength=num_modes)


def kl_to_uniform(histogram: np.ndarray) -> float | None:
    """KL(p ‖ uniform) in nats for a histogram of counts; None for an empty histogram
    (no samples: the distribution is undefined, and 0 would read as perfect)."""
    h = np.asarray(histogram, dtype=np.float64).ravel()
    if h.size == 0 or (h < 0).any():
        raise GanzooError("a histogram needs at least one bin and no negative counts")
    total = h.sum()
    if total == 0:
        return None
    p = h[h > 0] / total
    return float(max(0.0, np.sum(p * np.log(p * h.size))))
