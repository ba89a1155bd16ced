"""The data set's own figure, on a small sample, while a run trains (``ganzoo train --eval-every K``).

Lightweight-gan's ``--calculate-fid-every`` and StudioGAN's best-FID checkpoint are what people
reach for on long runs; this is the offline equivalent: the figure ``ganzoo eval`` puts first
for the run's data set, computed from the same latents (seed 0), the same reference images
and the same classifier, so ``ganzoo eval RUN --checkpoint best -n N`` gives back the figure
the run logged for that checkpoint with ``--eval-n N``.

==================  ==============================================  ===============================
data set            figure (logged as ``eval/NAME``)                 better
==================  ==============================================  ===============================
2-D mixtures        ``modes_captured``, then ``hq_percent``          more modes; on a tie, more HQ
digits, mnist5k,    ``frechet_distance`` in the shipped              lower
mnist, emoji        classifier's features
stacked-mnist       ``modes_captured`` (of 1,000), then ``kl``       more modes; on a tie, lower KL
==================  ==============================================  ===============================

Stacked MNIST has no Fréchet distance in ``ganzoo eval`` (its classifier reads one digit per
channel), so its figure here is the one ``eval`` reports first, the mode count; with the
default 1,000 samples at most about 632 of its 1,000 modes can appear even for a perfect
generator, so compare runs at one ``--eval-n``, not with the 26,000-sample table.

Cheap because the reference is prepared once (the real features' mean and covariance, the
mixture's modes) and only ``n`` samples are drawn per evaluation: 1,000 by default, so the
Fréchet distance sits above ``ganzoo eval``'s 5,000-sample one (the estimate is biased upward
at small n); it ranks checkpoints of one run, which is what choosing ``best/`` needs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ganzoo.errors import GanzooError
from ganzoo.metrics.protocols import (
    FEATURE_PROTOCOLS,
    FEATURE_SCORING,
    MAX_REAL,
    REFERENCE_SEED,
    SCORED,
    Evaluated,
    check_images,
    draw_samples,
    load_reference,
    protocol_for,
    real_images,
)

#: Samples per in-training evaluation when --eval-n is not given.
DEFAULT_N = 1000
#: Seed of the latents: ganzoo eval's default, so its figure for a checkpoint is the one logged.
SEED = 0

#: Per protocol, the logged figures and the sign that makes each "higher is better", in the
#: order they are compared (the first decides; the next breaks ties).
FIGURES: dict[str, tuple[tuple[str, int], ...]] = {
    "mixture": (("modes_captured", 1), ("hq_percent", 1)),
    "digits": (("frechet_distance", -1),),
    "emoji": (("frechet_distance", -1),),
    "stacked-mnist": (("modes_captured", 1), ("kl", -1)),
}


def check_dataset(dataset: str) -> None:
    """Refuse ``--eval-every`` on a built-in data set without a figure, before anything loads
    (a plugin's data set is decided once it is loaded, by :class:`TrainingFigure`)."""
    from ganzoo.registry import get_registry

    spec = get_registry().dataset(dataset)[0]
    try:
        protocol_for(spec.name, spec.plugin)
    except GanzooError:
        raise GanzooError(f"--eval-every needs a data set with an offline figure ({SCORED}); '{dataset}' has none: "
                          "drop --eval-every") from None


class TrainingFigure:
    """The figure of one run's data set, its reference prepared once; call it with the
    generator's numpy ``generate(z, labels[, codes])`` for ``{name: value}``."""

    def __init__(self, model: str, dataset: str, data_options: dict[str, Any], download: bool,
                 output_shape: tuple[int, ...], latent_dim: int, num_classes: int, codes: list[dict[str, Any]],
                 n: int = DEFAULT_N) -> None:
        self.n = n
        self.target = Evaluated(Path("training"), "training", model, dataset, latent_dim, num_classes,
                                tuple(output_shape), _unset, data_options=dict(data_options), codes=list(codes))
        try:
            self.dataset, self.protocol, data = load_reference(self.target, None, download)
        except GanzooError as exc:
            raise GanzooError(f"--eval-every: {exc}") from None
        self.names = tuple(name for name, _ in FIGURES[self.protocol])
        if self.protocol == "mixture":
            if tuple(output_shape) != tuple(data.shape):
                raise GanzooError(f"--eval-every: the generator makes {list(output_shape)} samples, but data set "
                                  f"'{dataset}' holds {list(data.shape)} points")
            self.modes, self.sigma = data.modes.numpy(), float(data.sigma)
        else:
            from ganzoo.metrics.classifier import load_classifier, resize_images

            name = FEATURE_SCORING[self.dataset].classifier if self.protocol in FEATURE_PROTOCOLS else "mnist28"
            self.classifier = load_classifier(name)
            check_images(self.target, data, 3 if self.protocol == "stacked-mnist" else self.classifier.in_channels)
            if self.protocol in FEATURE_PROTOCOLS:
                from ganzoo.metrics.features import feature_stats

                real, _ = real_images(data, REFERENCE_SEED, MAX_REAL)
                features, _ = self.classifier.run(resize_images(real, self.classifier.size))
                self.real_stats = feature_stats(features)

    def __call__(self, generate: Callable[..., np.ndarray]) -> dict[str, float]:
        self.target.generate = generate
        fake, _, _ = draw_samples(self.target, self.n, SEED)
        if self.protocol == "mixture":
            from ganzoo.metrics.mixtures import mode_coverage

            found = mode_coverage(fake, self.modes, self.sigma)
        elif self.protocol == "stacked-mnist":
            from ganzoo.metrics.stacked import stacked_mnist_modes

            found = stacked_mnist_modes(fake, self.classifier)
        else:
            from ganzoo.metrics.classifier import resize_images
            from ganzoo.metrics.features import feature_stats, frechet_from_stats

            features, _ = self.classifier.run(resize_images(fake, self.classifier.size))
            found = {"frechet_distance": frechet_from_stats(*self.real_stats, *feature_stats(features))}
        return {name: float("inf") if found[name] is None else float(found[name]) for name in self.names}

    def better(self, new: dict[str, float], old: dict[str, float] | None) -> bool:
        """Whether ``new`` beats ``old`` (None: nothing yet), first figure first; a tie is not better."""
        return old is None or rank(self.protocol, new) > rank(self.protocol, old)


def rank(protocol: str, figures: dict[str, float]) -> tuple[float, ...]:
    """Figures as a tuple that compares higher-is-better, in :data:`FIGURES` order."""
    return tuple(sign * float(figures.get(name, -sign * float("inf"))) for name, sign in FIGURES[protocol])


def _unset(*args: Any) -> np.ndarray:
    raise AssertionError("TrainingFigure is called with the generator to score")
