"""Distances between real and generated samples in a classifier's feature space.

All numpy, so the same code scores a torch generator and its ONNX export.

- **Fréchet distance** (Heusel et al. 2017, the "F" of FID) between Gaussians
  fitted to the two feature sets: ``|μ₁ − μ₂|² + Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½)``. ganzoo
  computes it in the penultimate features of its own digit classifier, so its
  values are *not* FID values and are comparable only with other ganzoo figures
  made with the same classifier and sample counts (the estimator is biased
  upwards for small sets). ``Tr (Σ₁Σ₂)^½`` is taken as the sum of square roots of
  the eigenvalues of ``Σ₁^½ Σ₂ Σ₁^½`` — a symmetric matrix, so ``eigh`` applies and
  no complex parts or scipy ``sqrtm`` warnings arise.
- **Improved precision and recall** (Kynkäänniemi et al. 2019): each real
  feature vector gets a hypersphere reaching its k-th nearest real neighbour
  (k = 3 as in the paper); precision is the share of generated samples inside
  at least one real sphere (are samples realistic?), recall the share of real
  samples inside at least one generated sphere (is the data covered?).
- **Class coverage** and ``KL(class histogram ‖ uniform)`` from the classifier's
  predictions, and **conditional accuracy**: the share of samples a conditional
  model made for label ``c`` that the classifier calls ``c``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganzoo.errors import GanzooError
from ganzoo.metrics.histogram import counts, kl_to_uniform

#: Neighbourhood size of the k-NN manifolds (Kynkäänniemi et al. 2019 use k = 3).
K_NEAREST = 3
#: A class counts as covered when it gets at least this share of a uniform split
#: (with 10 classes: at least 1 % of the samples). One stray misclassified sample
#: in 5,000 should not count as producing a digit.
MIN_CLASS_SHARE = 0.1
_CHUNK = 512


def _as_features(x: np.ndarray, what: str, min_rows: int = 1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < min_rows:
        raise GanzooError(f"{what} must be a [N, D] feature matrix with N >= {min_rows}, got shape {list(x.shape)}")
    if not np.isfinite(x).all():
        raise GanzooError(
            f"{what} hold NaN or infinite values; the generator diverged: retrain it or use an earlier checkpoint")
    return x


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased) of [N, D] features, N >= 2."""
    f = _as_features(features, "features", min_rows=2)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise GanzooError(f"Fréchet distance needs matching statistics; got means {mu1.shape} and {mu2.shape}, "
                          f"covariances {sigma1.shape} and {sigma2.shape}")
    w, v = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(max(0.0, diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt))


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two [N, D] feature sets."""
    return frechet_from_stats(*feature_stats(real), *feature_stats(fake))


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def _distances(a: np.ndarray, b: np.ndarray, b_norms: np.ndarray) -> np.ndarray:
    d2 = _sq_norms(a)[:, None] + b_norms[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.clip(d2, 0, None))


def knn_radii(features: np.ndarray, k: int = K_NEAREST) -> np.ndarray:
    """Distance from each row to its k-th nearest other row."""
    if len(features) <= k:
        raise GanzooError(
            f"k-NN manifolds need more than k={k} samples, got {len(features)}; evaluate more samples (--n)")
    norms = _sq_norms(features)
    out = np.empty(len(features))
    for start in range(0, len(features), _CHUNK):
        d = _distances(features[start:start + _CHUNK], features, norms)
        out[start:start + _CHUNK] = np.partition(d, k, axis=1)[:, k]  # index 0 is the point itself
    return out


def _inside(query: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each query row: does it lie within radius of at least one centre?"""
    norms = _sq_norms(centres)
    hit = np.empty(len(query), dtype=bool)
    for start in range(0, len(query), _CHUNK):
        d = _distances(query[start:start + _CHUNK], centres, norms)
        hit[start:start + _CHUNK] = (d <= radii[None, :] * (1 + 1e-9) + 1e-12).any(axis=1)
    return hit


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = K_NEAREST) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of ``fake`` against ``real``.

    Use equally many real and fake samples: the radii shrink as a set grows, so
    unequal sets bias the two figures in opposite directions."""
    real = _as_features(real, "real features", k + 1)
    fake = _as_features(fake, "generated features", k + 1)
    if real.shape[1] != fake.shape[1]:
        raise GanzooError(f"real and generated features differ in width: {real.shape[1]} vs {fake.shape[1]}")
    precision = float(_inside(fake, real, knn_radii(real, k)).mean())
    recall = float(_inside(real, fake, knn_radii(fake, k)).mean())
    return precision, recall


def class_metrics(predictions: np.ndarray, num_classes: int, min_share: float = MIN_CLASS_SHARE) -> dict[str, Any]:
    """Classes covered (at least ``min_share`` of a uniform share each), KL(class
    histogram ‖ uniform) and the histogram itself."""
    hist = counts(predictions, num_classes)
    n = int(hist.sum())
    covered = hist >= max(1.0, min_share * n / num_classes)
    return {"classes_covered": int(covered.sum()), "num_classes": num_classes,
            "class_kl": kl_to_uniform(hist), "class_histogram": hist.tolist()}


def conditional_accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Share of samples whose predicted class is the label the generator was asked for."""
    predictions, labels = np.asarray(predictions).ravel(), np.asarray(labels).ravel()
    if predictions.shape != labels.shape or predictions.size == 0:
        raise GanzooError(
            f"conditional accuracy needs one prediction per label; got {predictions.size} and {labels.size}")
    return float((predictions == labels).mean())


def code_accuracy(predictions: np.ndarray, code: np.ndarray, num_classes: int) -> dict[str, Any]:
    """How well a categorical latent code (InfoGAN's c1) works as a classifier: the share
    of samples whose predicted class is the one matched to their code value, under the
    best one-to-one matching of code values to classes (the InfoGAN paper's "5 % error").
    A many-to-one mapping would reward a code whose values all draw one digit; the
    matching does not. Exact, by dynamic programming over the matched classes' subsets
    (fine for the ten or so values such codes have)."""
    predictions, code = np.asarray(predictions).ravel(), np.asarray(code).ravel()
    size = int(code.max()) + 1 if code.size else 0
    if predictions.shape != code.shape or not 0 < size <= num_classes <= 16:
        raise GanzooError(f"code accuracy needs one prediction per code value and at most {num_classes} values "
                          f"(at most 16 classes); got {predictions.size} predictions, {size} values")
    hits = np.zeros((size, num_classes), np.int64)
    np.add.at(hits, (code, predictions), 1)
    # best[mask]: the most hits of code values 0..popcount(mask)-1 matched to the classes in mask
    best = np.full(1 << num_classes, -1, np.int64)
    choice = np.zeros(1 << num_classes, np.int64)
    best[0] = 0
    for mask in range(1 << num_classes):
        value = bin(mask).count("1")
        if best[mask] < 0 or value >= size:
            continue
        for cls in range(num_classes):
            if not mask >> cls & 1 and best[mask] + hits[value, cls] > best[mask | 1 << cls]:
                best[mask | 1 << cls], choice[mask | 1 << cls] = best[mask] + hits[value, cls], cls
    full = max((m for m in range(1 << num_classes) if bin(m).count("1") == size), key=lambda m: best[m])
    mapping, mask = [0] * size, full
    for value in range(size - 1, -1, -1):
        mapping[value] = int(choice[mask])
        mask &= ~(1 << mapping[value])
    return {"code_accuracy": float(best[full] / code.size), "code_to_class": mapping}
