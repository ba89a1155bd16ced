"""Which figure scores which data set, the real samples it is measured against, and the
samples every protocol draws from a generator.

Shared by ``ganzoo eval`` (:mod:`ganzoo.metrics.evaluate`, which opens run folders and ONNX
files) and the figure computed while training (:mod:`ganzoo.metrics.quick`), which sits
below the engine and so cannot import the evaluation command: both meet here, so a run's
in-training figure and ``ganzoo eval`` of the same weights, latents and sample count agree.
Nothing here imports torch at module level; loading a data set does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganzoo.errors import GanzooError

STACKED = "stacked-mnist"
#: Real images used as the reference set of the feature metrics (a seeded random subset above this).
MAX_REAL = 10_000
GENERATE_BATCH = 1000
#: Seed the reference data set is loaded with (it decides e.g. which mixture points or digit triples are drawn).
REFERENCE_SEED = 0

Generate = Callable[..., np.ndarray]  # (z, labels[, codes]) -> samples, all numpy


@dataclass(frozen=True)
class FeatureScoring:
    """How an image data set is scored in a shipped classifier's features."""

    protocol: str  # what eval.json records as the protocol
    classifier: str  # a name in ganzoo.metrics.classifier.CLASSIFIERS
    classes: str  # what the classes are, for the printed table ("code accuracy (c1 matched to digits)")
    reference: str | None = None  # the data set real samples come from, when not the run's own (a subset's)


#: Built-in image data set -> the shipped classifier whose features and predictions score it.
FEATURE_SCORING = {
    "digits": FeatureScoring("digits", "digits8", "digits"),
    "mnist5k": FeatureScoring("digits", "mnist28", "digits"),
    "mnist": FeatureScoring("digits", "mnist28", "digits"),
    "emoji": FeatureScoring("emoji", "emoji32", "groups"),
    "emoji-1k": FeatureScoring("emoji", "emoji32", "groups", reference="emoji"),
}
FEATURE_PROTOCOLS = frozenset(scoring.protocol for scoring in FEATURE_SCORING.values())

#: The data sets with an offline figure, as error messages list them.
SCORED = ("ring8, grid25 (and other 2-D mixtures that declare their modes), digits, mnist5k, mnist, emoji and "
          "stacked-mnist")
UNSUPPORTED = "ganzoo eval has no offline metric for data set '{name}': it scores " + SCORED


@dataclass
class Evaluated:
    """What is being scored: a generator, however it is stored, and what it was trained on."""

    path: Path
    kind: str  # "run", "onnx", or "training" (the generator of a run in progress)
    model: str
    dataset: str
    latent_dim: int
    num_classes: int
    output_shape: tuple[int, ...]
    generate: Generate = field(repr=False)
    steps: int | None = None
    weights: str | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    codes: list[dict[str, Any]] = field(default_factory=list)  # latent codes, as ganzoo.codes lists them
    checkpoint: str | None = None  # run folders: which checkpoint (latest, best, a step)
    class_names: list[str] | None = None  # one per class where the data set named them
    #: ``eval --labels``: the classes asked for and scored (their real images the reference);
    #: None: every class in equal numbers.
    classes: list[int] | None = None

    def choose_classes(self, labels: str | Sequence[Any] | None) -> None:
        """``--labels`` as ``sample`` takes it (names or numbers; ``all`` is the default), or
        from Python a list of classes, each a name or a number."""
        from ganzoo.sampling import find_class, parse_labels

        if labels is None:
            return
        if not self.num_classes:
            raise GanzooError(f"--labels applies to conditional models; '{self.model}' is unconditional: drop it")
        if isinstance(labels, str):
            if labels.strip() != "all":
                found = parse_labels(labels, self.num_classes, self.num_classes, self.class_names) or []
                self.classes = sorted(set(found))
            return
        found = [find_class(v, self.num_classes, self.class_names, flag="labels") for v in labels]
        if not found:
            raise GanzooError("labels= names no class; give one or more classes, or leave it out for all")
        self.classes = sorted(set(found))

    def class_label(self) -> list[str] | None:
        """The scored classes as people read them, for eval.json and the report."""
        from ganzoo.sampling import class_name

        return [class_name(k, self.class_names) for k in self.classes] if self.classes is not None else None


def latents(n: int, latent_dim: int, seed: int) -> np.ndarray:
    """The latents every evaluation feeds its generator: :mod:`ganzoo.sampling`'s (numpy, float32),
    so ``ganzoo eval --seed S`` and ``ganzoo generate --seed S`` start from the same latents."""
    from ganzoo import sampling

    return sampling.latents(n, latent_dim, seed)


def requested_labels(n: int, num_classes: int, classes: list[int] | None = None) -> np.ndarray | None:
    """Labels 0, 1, ..., K-1, 0, 1, ...: every class (or each of ``classes``) asked for equally
    often (None if unconditional)."""
    if not num_classes:
        return None
    pool = np.asarray(classes if classes is not None else range(num_classes), dtype=np.int64)
    return pool[np.arange(n) % len(pool)]


def only_classes(x: np.ndarray, y: np.ndarray | None, classes: list[int] | None, name: str
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """The reference samples of ``classes`` (``eval --labels``): scored samples of a few classes
    are compared with real samples of the same classes, not with the whole set."""
    if classes is None:
        return x, y
    if y is None:
        raise GanzooError(f"data set '{name}' has no labels to pick the classes of --labels from; drop --labels")
    keep = np.isin(y, classes)
    if not keep.any():
        raise GanzooError(f"data set '{name}' holds no samples of the classes of --labels; choose others")
    return x[keep], y[keep]


def draw_samples(target: Evaluated, n: int, seed: int, progress: bool = False
                 ) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    """(samples, the labels asked for, the latent codes drawn): n samples from their priors."""
    from tqdm.auto import tqdm

    from ganzoo.sampling import sample_codes

    z = latents(n, target.latent_dim, seed)
    labels = requested_labels(n, target.num_classes, target.classes)
    codes = sample_codes(target.codes, n, seed)  # from their priors, the same for a run and its export
    out = np.empty((n, *target.output_shape), np.float32)
    bar = tqdm(total=n, unit="sample", desc="sampling", disable=not progress, leave=False, dynamic_ncols=True)
    for start in range(0, n, GENERATE_BATCH):
        y = labels[start:start + GENERATE_BATCH] if labels is not None else None
        c = {name: v[start:start + GENERATE_BATCH] for name, v in codes.items()}
        part = target.generate(z[start:start + GENERATE_BATCH], y, *([c] if c else []))
        if part.shape != (len(z[start:start + GENERATE_BATCH]), *target.output_shape):
            raise GanzooError(f"generator returned {list(part.shape)}, expected "
                              f"{[len(z[start:start + GENERATE_BATCH]), *target.output_shape]}; "
                              "its output_shape attribute does not match its forward")
        out[start:start + GENERATE_BATCH] = part
        bar.update(len(part))
    bar.close()
    bad = int((~np.isfinite(out.reshape(n, -1))).any(axis=1).sum())
    if bad:
        raise GanzooError(f"{bad} of {n} generated samples are NaN or infinite: training diverged; "
                          "retrain with lower learning rates or evaluate an earlier run")
    return out, labels, codes


def protocol_for(dataset: str, plugin: str) -> str | None:
    """The protocol of a registered data set, decided by name for ganzoo's own data sets
    (an error for those without one, before anything loads); None for a plugin's, whose
    loaded data decide (a point set with modes and sigma is a mixture)."""
    from ganzoo.registry import BUILTIN_PLUGIN

    if plugin != BUILTIN_PLUGIN:
        return None
    if dataset in ("ring8", "grid25"):
        return "mixture"
    if dataset == STACKED:
        return "stacked-mnist"
    if dataset in FEATURE_SCORING:
        return FEATURE_SCORING[dataset].protocol
    raise GanzooError(UNSUPPORTED.format(name=dataset))


def load_reference(target: Evaluated, data_dir: str | None, download: bool) -> tuple[str, str, Any]:
    """(data set name, protocol, the data set loaded as the reference)."""
    from ganzoo.registry import BUILTIN_PLUGIN, get_registry
    from ganzoo.specs import load_target

    spec, arg = get_registry().dataset(target.dataset)
    name = spec.name if spec.plugin == BUILTIN_PLUGIN else spec.qualified_name
    protocol = protocol_for(spec.name, spec.plugin)
    scoring = FEATURE_SCORING.get(spec.name) if spec.plugin == BUILTIN_PLUGIN else None
    if scoring is not None and scoring.reference:  # a subset is scored against the whole set
        spec, arg = get_registry().dataset(scoring.reference)
    options = dict(target.data_options)
    if data_dir:
        options["data_dir"] = data_dir
    if target.kind == "onnx" and len(target.output_shape) == 3 and spec.shape and len(spec.shape) == 3 \
            and tuple(spec.shape[1:]) != target.output_shape[1:]:
        options["image_size"] = target.output_shape[-1]  # trained with --image-size: compare at that size
    loader = load_target(spec, "dataset")
    # Seed 0 whatever seed the run trained with: the reference set belongs to the data set, and a
    # run and its ONNX export (which does not record the training seed) meet the same real samples.
    data = loader(arg=arg, data_dir=options.get("data_dir"), download=download, seed=REFERENCE_SEED,
                  image_size=options.get("image_size"))
    if protocol is None:
        if data.kind != "points":
            raise GanzooError(UNSUPPORTED.format(name=name))
        protocol = "mixture"
    if protocol == "mixture" and (data.modes is None or not data.sigma):
        raise GanzooError(f"data set '{name}' is a point set without known modes and sigma; "
                          "ganzoo eval scores 2-D mixtures that declare them (ring8, grid25)")
    return name, protocol, data


def real_images(data: Any, seed: int, limit: int, classes: list[int] | None = None, name: str = ""
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """The reference images (and labels) as floats: all of them, or a seeded subset of ``limit``;
    only those of ``classes`` (``eval --labels``), chosen before the subset is drawn."""
    x, y = only_classes(data.floats().numpy(), data.y.numpy() if data.y is not None else None, classes,
                        name or str(getattr(data, "name", "")))
    if len(x) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(x), limit, replace=False))
        x, y = x[keep], (y[keep] if y is not None else None)
    return x, y


def check_images(target: Evaluated, data: Any, channels: int) -> None:
    shape = target.output_shape
    if len(shape) != 3 or shape[0] != channels:
        raise GanzooError(f"generator makes {list(shape)} samples, but data set '{target.dataset}' holds "
                          f"{list(data.shape)} images; evaluate a generator trained on it")
