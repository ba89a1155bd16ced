"""Mode coverage on the 2-D Gaussian mixtures (PacGAN / VEEGAN protocol).

Protocol (Srivastava et al. 2017, VEEGAN §5.1; Lin et al. 2018, PacGAN §5 and
Table 1), the same numbers the papers print:

- draw 2,500 samples from the generator;
- assign each to its nearest mode mean; it is *high quality* (HQ) when that
  distance is at most 3σ (σ the mixture's standard deviation, the same on both
  axes and for every mode, as in ring8 and grid25);
- a mode is *captured* when at least one HQ sample is assigned to it;
- ``hq_percent`` = HQ samples / all samples × 100;
- ``reverse_kl`` = KL(p ‖ uniform) where ``p`` is the histogram of HQ samples over
  the modes, normalized over the HQ samples (PacGAN normalizes the same
  histogram of "good" points); see :mod:`ganzoo.metrics.histogram` for why no
  epsilon is needed. It is None when no sample is HQ.

Points far from every mode thus count against quality, not against balance:
a generator that covers every mode evenly but blurrily gets a low reverse KL
and a low HQ share; one that sits sharply on a few modes gets a high HQ share
and a high reverse KL. The numbers only tell the story together.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganzoo.errors import GanzooError
from ganzoo.metrics.histogram import counts, kl_to_uniform

#: The protocol's sample count and HQ radius in standard deviations.
NUM_SAMPLES = 2500
THRESHOLD = 3.0


def nearest_modes(samples: np.ndarray, modes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the nearest mode, Euclidean distance to it) for every sample."""
    d2 = ((samples[:, None, :].astype(np.float64) - modes[None, :, :]) ** 2).sum(-1)
    nearest = d2.argmin(axis=1)
    return nearest, np.sqrt(d2[np.arange(len(samples)), nearest])


def mode_coverage(samples: np.ndarray, modes: np.ndarray, sigma: float,
                  threshold: float = THRESHOLD) -> dict[str, Any]:
    """Modes captured, % high quality and reverse KL of ``samples`` [N, D] against a
    mixture with ``modes`` [K, D] and standard deviation ``sigma``.

    Returns ``modes_captured``, ``num_modes``, ``hq_percent``, ``median_distance_sigma``
    (median distance to the nearest mode, in sigma), ``reverse_kl`` (or None),
    ``num_samples`` and ``per_mode`` (HQ samples per mode), plus ``assigned`` — the
    nearest mode of every sample — for callers that score conditional models."""
    samples = np.asarray(samples, dtype=np.float64)
    modes = np.asarray(modes, dtype=np.float64)
    if samples.ndim != 2 or modes.ndim != 2 or samples.shape[1] != modes.shape[1]:
        raise GanzooError(f"samples {list(samples.shape)} and modes {list(modes.shape)} must be [N, D] and [K, D] "
                          "with the same D")
    if len(samples) == 0 or len(modes) == 0:
        raise GanzooError("mode coverage needs at least one sample and one mode")
    if not sigma or sigma <= 0:
        raise GanzooError(f"mixture standard deviation must be positive, got {sigma}")
    if not np.isfinite(samples).all():
        raise GanzooError(f"{int((~np.isfinite(samples)).any(axis=1).sum())} generated samples are NaN or infinite; "
                          "the generator diverged: retrain it or evaluate an earlier checkpoint")
    nearest, dist = nearest_modes(samples, modes)
    hq = dist <= threshold * sigma
    per_mode = counts(nearest[hq], len(modes))
    return {
        "modes_captured": int((per_mode > 0).sum()),
        "num_modes": len(modes),
        "hq_percent": float(100.0 * hq.mean()),
        # A generator collapsed onto one mode scores 100 % high quality: read this with the
        # mode count; the median distance says how far typical samples sit from a mode.
        "median_distance_sigma": float(np.median(dist) / sigma),
        "reverse_kl": kl_to_uniform(per_mode),
        "num_samples": len(samples),
        "per_mode": per_mode.tolist(),
        "assigned": nearest,
    }
