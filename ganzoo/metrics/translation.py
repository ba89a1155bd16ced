"""``ganzoo eval`` of image-to-image models (pix2pix, srgan, cyclegan): figures on the held-out pairs
or the held-out images of both domains, beside a baseline that translates nothing.

Every figure is measured on the data set's **held-out** samples (:attr:`ganzoo.data.Data.held_out`:
the last ones of ``x`` and of ``source``, never trained on), all of them unless ``-n`` asks for
fewer (a prefix: the built-in digit sets interleave their classes, so any prefix is balanced).
Nothing is drawn at random, so an evaluation is deterministic; ``--seed`` does not apply.

==================  ========================================================  =====================
data set            figures                                                   baseline
==================  ========================================================  =====================
paired (``pairs``)  PSNR (dB), SSIM, L1 on [0, 1] pixels against the target   super-resolution:
edges2digits,                                                                  bicubic (and nearest)
digits-x4,                                                                     upscaling of the
masked-digits,                                                                 source; same size:
emoji-x4,                                                                      the source itself
grey2emoji,                                                                    ("identity"; a grey
pairs:PATH with                                                                source as RGB for
test/ or val/                                                                  grey -> colour)
unpaired            per direction: digits kept (the target domain's shipped   the untranslated
(``domains``)       classifier on the translations, against the source's     source, scored the
digits2textured     labels), Fréchet distance to the real held-out target     same way
                    images in that classifier's features
==================  ========================================================  =====================

- **PSNR** ``10 log10(1 / MSE)`` per image on pixels in [0, 1], averaged over images (as super-
  resolution papers report it); identical images count as 100 dB.
- **SSIM** (Wang et al. 2004): an 11 x 11 Gaussian window of sigma 1.5, K1 = 0.01, K2 = 0.03,
  dynamic range 1, the window's weighted (population) statistics; the map over every position where
  the window lies wholly inside the image ("valid", as Wang's reference code ``ssim_index.m`` and
  ``skimage.metrics.structural_similarity(gaussian_weights=True, use_sample_covariance=False)``
  compute it), averaged over positions, channels and images. Images smaller than 11 px take the
  largest odd window that fits, with the same sigma (recorded as ``ssim_window``).
- **L1**: the mean absolute difference of [0, 1] pixels.
- **digits kept**: the built-in unpaired set is digits; a translation A -> B keeps its digit when
  ``textured32`` (trained on domain B's training part) reads the source's label in it, and B -> A
  when ``plain32`` (trained on domain A's training part) does: neither reader saw a held-out digit.
  The "real target" column is the same classifier on the real held-out images of the target
  domain; the Fréchet distance there is between those and as many training images of that domain
  (the floor at this sample count: the estimate is biased upward for a few hundred samples).

A run directory's generator runs in torch on the CPU, an ONNX file in onnxruntime; the data set is
loaded through the registry (torch) either way, and every figure is numpy, so a run and its export
agree up to the export's float tolerance. On an unpaired set a CycleGAN run is scored both ways, an
export only in its own direction (``ganzoo.direction``); on a paired set a model with two generators
is scored on its first (A -> B), and an export of the other (b2a) on the pairs the other way round.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganzoo.errors import GanzooError

PAIRED, UNPAIRED = "paired", "unpaired"
PROTOCOLS = (PAIRED, UNPAIRED)
#: Sources translated per call.
BATCH = 100
#: SSIM (Wang et al. 2004): window side, Gaussian sigma, and the stabilising constants' factors.
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
#: PSNR of identical images (the MSE is floored at 10^-10).
PSNR_MAX = 100.0
#: ITU-R BT.601 luma weights: the grey the B -> A figures read.
LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class DomainScoring:
    """How images of one domain of an unpaired set are judged: a shipped classifier, read
    after conversion to grey (one channel, luma) when ``grey``."""

    classifier: str
    grey: bool = False


#: Built-in unpaired set -> how its domain A and its domain B are judged.
UNPAIRED_SCORING: dict[str, tuple[DomainScoring, DomainScoring]] = {
    "digits2textured": (DomainScoring("plain32"), DomainScoring("textured32")),
}


# -- the figures ------------------------------------------------------------------------------------
def to_unit(x: np.ndarray) -> np.ndarray:
    """Images in [-1, 1] (clipped there first) -> float64 pixels in [0, 1]."""
    return (np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0) + 1.0) / 2.0


def _pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 4:
        raise GanzooError(f"image figures need two [N, C, H, W] arrays of one shape, got {list(x.shape)} "
                          f"and {list(y.shape)}")
    return x, y


def psnr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB of [N, C, H, W] images with pixels in [0, 1] (peak 1)."""
    x, y = _pair(x, y)
    mse = ((x - y) ** 2).reshape(len(x), -1).mean(axis=1)
    return 10.0 * np.log10(1.0 / np.maximum(mse, 10.0 ** (-PSNR_MAX / 10)))


def l1(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-image mean absolute difference of [N, C, H, W] images."""
    x, y = _pair(x, y)
    return np.abs(x - y).reshape(len(x), -1).mean(axis=1)


def ssim_window(height: int, width: int) -> int:
    """The SSIM window side for an image: 11, or the largest odd side that fits a smaller image."""
    side = min(SSIM_WINDOW, height, width)
    return max(1, side if side % 2 else side - 1)


def gaussian(size: int, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """A normalised 1-D Gaussian of ``size`` taps; its outer product with itself is Wang's
    ``fspecial('gaussian', size, sigma)``."""
    k = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(k ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _filter(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The 'valid' weighted mean of every len(g) x len(g) window of a [..., H, W] array (separable)."""
    from numpy.lib.stride_tricks import sliding_window_view

    k = len(g)
    a = sliding_window_view(a, k, axis=-1) @ g  # [..., H, W-k+1]
    return sliding_window_view(a, k, axis=-2) @ g  # [..., H-k+1, W-k+1]


def ssim(x: np.ndarray, y: np.ndarray, data_range: float = 1.0, window: int | None = None) -> np.ndarray:
    """Per-image SSIM of [N, C, H, W] images (Wang et al. 2004; see the module's notes): the
    mean of the SSIM map over valid positions and channels."""
    x, y = _pair(x, y)
    g = gaussian(window or ssim_window(*x.shape[-2:]))
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    out = np.empty(len(x))
    for start in range(0, len(x), 256):  # five filtered copies of a chunk at a time
        a, b = x[start:start + 256], y[start:start + 256]
        mu_a, mu_b = _filter(a, g), _filter(b, g)
        var_a = _filter(a * a, g) - mu_a ** 2
        var_b = _filter(b * b, g) - mu_b ** 2
        cov = _filter(a * b, g) - mu_a * mu_b
        s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
        out[start:start + 256] = s.reshape(len(a), -1).mean(axis=1)
    return out


def image_figures(made: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """PSNR, SSIM and L1 (means over images) of [0, 1] images against their targets."""
    return {"psnr": float(psnr(made, target).mean()), "ssim": float(ssim(made, target).mean()),
            "l1": float(l1(made, target).mean())}


def upscale(x: np.ndarray, scale: int, method: str = "bicubic") -> np.ndarray:
    """[N, C, h, w] pixels in [0, 1] -> [N, C, scale h, scale w] by Pillow's ``method`` ("bicubic"
    or "nearest") on float images, clipped to [0, 1] (bicubic overshoots at edges)."""
    from PIL import Image

    resample = {"bicubic": Image.Resampling.BICUBIC, "nearest": Image.Resampling.NEAREST}[method]
    n, c, h, w = x.shape
    out = np.empty((n, c, h * scale, w * scale), np.float64)
    for i in range(n):
        for j in range(c):
            im = Image.fromarray(np.ascontiguousarray(x[i, j], dtype=np.float32), mode="F")
            out[i, j] = np.asarray(im.resize((w * scale, h * scale), resample), dtype=np.float64)
    return np.clip(out, 0.0, 1.0)


def baselines(source: np.ndarray, target_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """What a model that learned nothing would give, named, as [0, 1] images of the target's shape:
    bicubic and nearest upscaling of the source for super-resolution, the source itself
    ("identity") at the same size and channels, a grey source repeated as RGB ("grey as RGB");
    nothing where none applies (other channel counts)."""
    c, h, w = target_shape
    sc, sh, sw = source.shape[1:]
    if (h, w) != (sh, sw):
        scale = h // sh
        if scale < 2 or (sh * scale, sw * scale) != (h, w) or sc != c:
            return {}
        return {"bicubic": upscale(source, scale, "bicubic"), "nearest": upscale(source, scale, "nearest")}
    if sc == c:
        return {"identity": source}
    if sc == 1 and c == 3:
        return {"grey as RGB": np.repeat(source, 3, axis=1)}
    return {}


# -- what is evaluated ------------------------------------------------------------------------------
Translate = Callable[[np.ndarray], np.ndarray]  # sources [N, C, h, w] in [-1, 1] -> images, numpy


@dataclass
class Translator:
    """An image-to-image generator, however it is stored: one translation function per direction
    ("" for a model with one generator, else "a2b", "b2a")."""

    path: Path
    kind: str  # "run" or "onnx"
    model: str
    dataset: str
    runner: str  # what runs the network, for the report
    directions: dict[str, Translate] = field(repr=False)
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]]  # direction -> (source shape, output shape)
    steps: int | None = None
    weights: str | None = None
    checkpoint: str | None = None
    data_options: dict[str, Any] = field(default_factory=dict)


def is_translation(source: str | Path) -> bool:
    """Whether ``source`` (a run directory or an .onnx file) holds an image-to-image generator;
    False for anything unreadable, which the noise -> image path then reports in its own words."""
    path = Path(source)
    try:
        if path.is_dir():
            meta = json.loads((path / "config.json").read_text())
            return bool((meta.get("data") or {}).get("source_shape"))
        if path.suffix == ".onnx" and path.is_file():
            import onnx

            from ganzoo.onnx.runtime import MAX_ONNX_BYTES

            if path.stat().st_size > MAX_ONNX_BYTES:  # the runtime refuses it in its own words
                return False

            proto = onnx.load_model(str(path), load_external_data=False)
            return any(p.key == "ganzoo.task" and p.value == "translate" for p in proto.metadata_props)
    except Exception:
        return False
    return False


def open_run(run_dir: str | Path, weights: str | None = None, checkpoint: str | None = None) -> Translator:
    """A run's generator(s) in torch, on the CPU, in eval mode."""
    import torch

    from ganzoo.api import direction, directions
    from ganzoo.engine import checkpoint as ckpt
    from ganzoo.engine.build import load_generator

    G, meta, used = load_generator(run_dir, weights, checkpoint=checkpoint)
    try:
        steps: int | None = int(ckpt.load_state(ckpt.find_checkpoint(Path(run_dir), checkpoint))["step"])
    except (GanzooError, KeyError, TypeError, ValueError):
        steps = None
    fns: dict[str, Translate] = {}
    shapes = {}
    for name in directions(G) or ("",):
        g = direction(G, name or None)

        def run(x: np.ndarray, g: Any = g) -> np.ndarray:
            with torch.no_grad():
                return g(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).float().numpy()

        fns[name] = run
        shapes[name] = (tuple(int(s) for s in g.source_shape), tuple(int(s) for s in g.output_shape))
    options = {k: meta.get(k) for k in ("data_dir", "image_size")}
    return Translator(Path(run_dir), "run", meta["model"], meta["dataset"], "torch, CPU", fns, shapes, steps, used,
                      (checkpoint or ckpt.LATEST).lower(), options)


def _shape(path: Path, meta: dict[str, str], key: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in json.loads(meta[key]))
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError
    except (KeyError, ValueError, TypeError):
        raise GanzooError(f"'{path}' has no valid {key} metadata ([C, H, W]); export it again with: "
                          "ganzoo export RUN_DIR --onnx") from None
    return shape


def open_onnx(path: str | Path, provider: str = "cpu") -> Translator:
    """An exported image-to-image generator, run by onnxruntime; what it is comes from its metadata."""
    from ganzoo.onnx import IMAGES, SOURCE
    from ganzoo.onnx.session import ProviderUnavailable, open_session

    path = Path(path)
    try:
        session = open_session(path, provider)
    except ProviderUnavailable as why:
        raise GanzooError(f"--provider {provider} does not run here ({why.reason}); use --provider cpu") from None
    except Exception as exc:
        raise GanzooError(f"onnxruntime cannot load '{path}': {str(exc).splitlines()[0][:200]}; "
                          "export it again with: ganzoo export RUN_DIR --onnx") from None
    meta = dict(session.get_modelmeta().custom_metadata_map)
    dataset = meta.get("ganzoo.dataset", "")
    if not dataset or dataset == "unknown":
        raise GanzooError(f"'{path}' has no ganzoo.dataset metadata, so ganzoo cannot tell which held-out pairs to "
                          "score it on; export it from its run directory with: ganzoo export RUN_DIR --onnx")
    names = [i.name for i in session.get_inputs()]
    if names != [SOURCE]:
        raise GanzooError(f"'{path}' takes inputs {names}; an image-to-image export takes one, '{SOURCE}'")
    shapes = (_shape(path, meta, "ganzoo.source_shape"), _shape(path, meta, "ganzoo.output_shape"))
    out = next((o.name for o in session.get_outputs() if o.name == IMAGES), None)
    if out is None:
        raise GanzooError(f"'{path}' has no '{IMAGES}' output; export it again with: ganzoo export RUN_DIR --onnx")

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run([out], {SOURCE: np.ascontiguousarray(x, dtype=np.float32)})[0], np.float32)

    try:
        steps: int | None = int(meta["ganzoo.steps"])
    except (KeyError, ValueError):
        steps = None
    name = meta.get("ganzoo.direction", "")
    return Translator(path, "onnx", meta.get("ganzoo.model", "?"), dataset, f"onnxruntime, {provider}",
                      {name: run}, {name: shapes}, steps, meta.get("ganzoo.weights") or None)


def open_source(source: str | Path, weights: str | None = None, provider: str = "cpu",
                checkpoint: str | None = None) -> Translator:
    from ganzoo.metrics.evaluate import source_path

    path, is_onnx = source_path(source, weights, checkpoint)
    return open_onnx(path, provider) if is_onnx else open_run(path, weights, checkpoint)


# -- the data set -----------------------------------------------------------------------------------
def load_pairs(target: Translator, data_dir: str | None, download: bool) -> tuple[str, Any]:
    """(data set name, the data set), loaded as the run trained on it (the set's own seed decides
    its draws, so the held-out block is the one training never saw)."""
    from ganzoo.metrics.protocols import REFERENCE_SEED
    from ganzoo.registry import BUILTIN_PLUGIN, get_registry
    from ganzoo.specs import load_target

    spec, arg = get_registry().dataset(target.dataset)
    name = spec.name if spec.plugin == BUILTIN_PLUGIN else spec.qualified_name
    if arg:
        name = f"{name}:{arg}"
    options = dict(target.data_options)
    if data_dir:
        options["data_dir"] = data_dir
    if target.kind == "onnx":  # trained with --image-size: load the set at that size
        first = next(iter(target.directions))
        out_side = target.shapes[first][1 if first != "b2a" else 0][-1]
        if spec.shape and len(spec.shape) == 3 and spec.shape[-1] != out_side:
            options["image_size"] = out_side
    data = load_target(spec, "dataset")(arg=arg, data_dir=options.get("data_dir"), download=download,
                                        seed=REFERENCE_SEED, image_size=options.get("image_size"))
    if getattr(data, "source", None) is None:
        raise GanzooError(f"data set '{name}' has no source images, so it has nothing to translate; "
                          f"{target.model} is an image-to-image model: evaluate one trained on a paired or "
                          "unpaired set")
    if not int(getattr(data, "held_out", 0)):
        raise GanzooError(f"data set '{name}' holds out no {'pairs' if data.kind == 'pairs' else 'images'}, so "
                          "there is nothing the model never trained on to score: give the set a held-out part "
                          "(pairs:PATH: a test/ or val/ folder beside train/; domains:PATH: testA/ and testB/) "
                          "and train on it")
    return name, data


def _floats(x: Any) -> np.ndarray:
    from ganzoo.data import to_float

    return to_float(x).numpy().astype(np.float32)


def _translate(fn: Translate, sources: np.ndarray, want: tuple[int, ...], what: str) -> np.ndarray:
    out = np.empty((len(sources), *want), np.float32)
    for start in range(0, len(sources), BATCH):
        chunk = sources[start:start + BATCH]
        part = fn(chunk)
        if part.shape != (len(chunk), *want):
            raise GanzooError(f"the {what} generator returned {list(part.shape)} for {len(chunk)} sources of "
                              f"{list(sources.shape[1:])}, expected {[len(chunk), *want]}")
        out[start:start + BATCH] = part
    bad = int((~np.isfinite(out.reshape(len(out), -1))).any(axis=1).sum())
    if bad:
        raise GanzooError(f"{bad} of {len(out)} translations are NaN or infinite: training diverged; "
                          "retrain with lower learning rates or evaluate an earlier checkpoint")
    return out


def _check_shape(target: Translator, name: str, data_name: str, source: np.ndarray, want: tuple[int, ...]) -> None:
    takes = target.shapes[name][0]
    if tuple(source.shape[1:]) != tuple(takes) or tuple(want) != tuple(target.shapes[name][1]):
        raise GanzooError(f"the generator turns {list(takes)} into {list(target.shapes[name][1])} images, but data "
                          f"set '{data_name}' pairs {list(source.shape[1:])} with {list(want)}; evaluate it on the "
                          "set it trained on")


# -- the two protocols ------------------------------------------------------------------------------
def _held(data: Any, n: int | None) -> tuple[int, int]:
    """(held-out count of the set, how many are scored)."""
    held = int(data.held_out)
    return held, min(held, n) if n else held


def _paired(target: Translator, name: str, data: Any, n: int | None) -> dict[str, Any]:
    held, used = _held(data, n)
    which = next(iter(target.directions))
    back = which == "b2a"  # an exported way back: targets become sources
    src_all, tgt_all = (data.x, data.source) if back else (data.source, data.x)
    src = _floats(src_all[len(src_all) - held:][:used])
    tgt = _floats(tgt_all[len(tgt_all) - held:][:used])
    _check_shape(target, which, name, src, tuple(tgt.shape[1:]))
    made = to_unit(_translate(target.directions[which], src, tuple(tgt.shape[1:]), which or "image-to-image"))
    truth, source01 = to_unit(tgt), to_unit(src)
    base = {k: image_figures(v, truth) for k, v in baselines(source01, tuple(truth.shape[1:])).items()}
    return {"metrics": image_figures(made, truth), "baselines": base, "baseline": next(iter(base), None),
            "direction": which or None, "n": used, "held_out": held,
            "ssim_window": ssim_window(*truth.shape[-2:]), "scale": truth.shape[-1] // src.shape[-1]}


def _judge(images: np.ndarray, scoring: DomainScoring) -> tuple[np.ndarray, np.ndarray, Any]:
    """(features, predicted classes, classifier) of [-1, 1] images in ``scoring``'s classifier."""
    from ganzoo.metrics.classifier import load_classifier, resize_images

    clf = load_classifier(scoring.classifier)
    x = images
    if scoring.grey and x.shape[1] == 3:
        x = np.tensordot(np.asarray(LUMA, np.float32), x, axes=([0], [1]))[:, None].astype(np.float32)
    if x.shape[1] != clf.in_channels:
        raise GanzooError(f"classifier '{clf.name}' reads {clf.in_channels}-channel images, the translations have "
                          f"{x.shape[1]}")
    feats, logits = clf.run(resize_images(x, clf.size))
    return feats, logits.argmax(1), clf


def _unpaired_direction(fn: Translate, sources: np.ndarray, labels: np.ndarray, real: np.ndarray,
                        reference: np.ndarray, real_labels: np.ndarray, scoring: DomainScoring, what: str
                        ) -> tuple[dict[str, float], dict[str, float], dict[str, float], dict[str, Any]]:
    """(model, untranslated source, real target) figures of one direction, and its classifier."""
    from ganzoo.metrics.features import frechet_distance

    made = _translate(fn, sources, tuple(real.shape[1:]), what)
    f_made, p_made, clf = _judge(made, scoring)
    f_real, p_real, _ = _judge(real, scoring)
    f_ref, _, _ = _judge(reference, scoring)
    model = {"digits_kept": float((p_made == labels).mean()), "frechet_distance": frechet_distance(f_real, f_made)}
    identity: dict[str, float] = {}
    if sources.shape[1:] == real.shape[1:] or scoring.grey:
        f_src, p_src, _ = _judge(sources, scoring)
        identity = {"digits_kept": float((p_src == labels).mean()), "frechet_distance": frechet_distance(f_real, f_src)}
    ref = {"digits_kept": float((p_real == real_labels).mean()), "frechet_distance": frechet_distance(f_real, f_ref)}
    info = {"name": clf.name, "heldout_accuracy": clf.heldout_accuracy, "grey": scoring.grey, "size": clf.size}
    return model, identity, ref, info


def _unpaired(target: Translator, name: str, data: Any, n: int | None) -> dict[str, Any]:
    base_name = name.split(":", 1)[0]
    scoring = UNPAIRED_SCORING.get(base_name)
    if scoring is None or data.y is None or data.source_y is None:
        raise GanzooError(f"ganzoo eval scores unpaired translations by whether a shipped classifier still reads "
                          f"each image's class, and data set '{name}' has no classifier or no labels (it scores "
                          f"{', '.join(UNPAIRED_SCORING)}); look at the translations with: ganzoo sample RUN_DIR")
    held, used = _held(data, n)
    a_all, b_all = data.source, data.x
    a = _floats(a_all[len(a_all) - held:][:used])
    b = _floats(b_all[len(b_all) - held:][:used])
    ya = data.source_y.numpy()[len(a_all) - held:][:used]
    yb = data.y.numpy()[len(b_all) - held:][:used]
    a_ref, b_ref = _floats(a_all[:used]), _floats(b_all[:used])  # training images: the real-to-real floor
    metrics, identity, real, classifiers = {}, {}, {}, {}
    for which, fn in target.directions.items():
        back = which == "b2a"
        src, labels, tgt, ref, tgt_labels = (b, yb, a, a_ref, ya) if back else (a, ya, b, b_ref, yb)
        _check_shape(target, which, name, src, tuple(tgt.shape[1:]))
        key = which or "a2b"
        metrics[key], identity[key], real[key], classifiers[key] = _unpaired_direction(
            fn, src, labels, tgt, ref, tgt_labels, scoring[0 if back else 1], key)
    return {"metrics": metrics, "baselines": {"identity": identity}, "baseline": "identity", "real": real,
            "classifier": classifiers, "direction": None if len(metrics) > 1 else next(iter(metrics)),
            "n": used, "held_out": held}


def evaluate(source: str | Path, n: int | None = None, seed: int = 0, weights: str | None = None,
             data_dir: str | None = None, download: bool = False, provider: str = "cpu",
             echo: Callable[[str], None] | None = None, checkpoint: str | None = None,
             labels: Any = None) -> dict[str, Any]:
    """Score the image-to-image generator in ``source`` on its data set's held-out samples;
    returns what eval.json holds."""
    from ganzoo import __version__

    if labels is not None:
        raise GanzooError("--labels applies to conditional noise -> image models; an image-to-image model is scored "
                          "on every held-out sample: drop --labels (-n scores the first N)")
    start = time.perf_counter()
    target = open_source(source, weights, provider, checkpoint)
    name, data = load_pairs(target, data_dir, download)
    protocol = PAIRED if data.kind == "pairs" else UNPAIRED
    held = int(data.held_out)
    used = min(held, n) if n else held
    if echo is not None:
        what = "pairs" if protocol == PAIRED else "images per domain"
        every = " (all of them)" if used == held else f" of {held:,}"
        echo(f"scoring {target.model} on {used:,} held-out {what}{every} of {name} ({protocol} protocol, "
             f"{target.runner}) ...")
    result = (_paired if protocol == PAIRED else _unpaired)(target, name, data, n)
    domains = list(getattr(data, "domains", None) or ("source", "target"))
    return {
        "ganzoo_version": __version__, "source": str(target.path), "source_kind": target.kind,
        "model": target.model, "dataset": name, "steps": target.steps, "weights": target.weights,
        "checkpoint": target.checkpoint, "conditional": False, "labels": None, "protocol": protocol,
        "seed": seed, "domains": domains, "runner": target.runner, **result,
        "seconds": round(time.perf_counter() - start, 2),
    }


# -- the printed table ------------------------------------------------------------------------------
FIGURE_LABELS = {"psnr": "PSNR (dB, [0,1] pixels)", "ssim": "SSIM (Gaussian window, sigma 1.5)",
                 "l1": "L1 ([0,1] pixels)"}


def _num(value: Any, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _share(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def table(result: dict[str, Any]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """(headers, rows) of the printed table of a translation result."""
    m = result["metrics"]
    if result["protocol"] == PAIRED:
        names = list(result["baselines"])
        heads = ("figure", "model", *names)
        window = result.get("ssim_window", SSIM_WINDOW)
        rows = []
        for key, digits in (("psnr", 2), ("ssim", 3), ("l1", 4)):
            label = FIGURE_LABELS[key] if key != "ssim" else f"SSIM ({window}-px Gaussian window, sigma 1.5)"
            rows.append((label, _num(m[key], digits), *(_num(result["baselines"][b][key], digits) for b in names)))
        return heads, rows
    a, b = (result.get("domains") or ["A", "B"])[:2]
    heads = ("figure", "model", "untranslated", "real target")
    rows = []
    for which, fig in m.items():
        way = f"{b} -> {a}" if which == "b2a" else f"{a} -> {b}"
        ident = result["baselines"]["identity"].get(which) or {}
        real = result["real"][which]
        clf = result["classifier"][which]["name"]
        rows.append((f"digits kept, {way} ({clf})", _share(fig["digits_kept"]), _share(ident.get("digits_kept")),
                     _share(real["digits_kept"])))
        rows.append((f"Frechet distance, {way} ({clf} features)", _num(fig["frechet_distance"], 2),
                     _num(ident.get("frechet_distance"), 2), _num(real["frechet_distance"], 2)))
    return heads, rows


def format_report(result: dict[str, Any]) -> str:
    """The translation counterpart of :func:`ganzoo.metrics.evaluate.format_report`."""
    from ganzoo.metrics.evaluate import scored

    what = scored(result)
    n, held = result["n"], result["held_out"]
    unit = "pairs" if result["protocol"] == PAIRED else "images per domain"
    every = "all of them" if n == held else f"of {held:,}"
    lines = [f"{what} on {result['dataset']}: {n:,} held-out {unit} ({every}), translated by {result['runner']}"]
    heads, rows = table(result)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(heads)]
    lines.append("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(heads, widths))))
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    if result["protocol"] == PAIRED:
        names = list(result["baselines"])
        if names:
            said = {"bicubic": "bicubic upscaling of the source (Pillow)",
                    "nearest": "nearest-neighbour upscaling of the source",
                    "identity": "the source itself, untranslated",
                    "grey as RGB": "the grey source repeated on 3 channels"}
            lines.append("baseline: " + "; ".join(f"{k} = {said.get(k, k)}" for k in names))
        else:
            lines.append("baseline: none (source and target differ in channels)")
        if result.get("ssim_window", SSIM_WINDOW) != SSIM_WINDOW:
            lines.append(f"note: images under {SSIM_WINDOW} px: SSIM used a {result['ssim_window']}-px window")
    else:
        lines.append("untranslated: the held-out sources scored as if translated; real target: the real held-out "
                     "images of the target domain (Frechet distance: to as many of its training images)")
        for which, clf in result["classifier"].items():
            acc = f"{100 * clf['heldout_accuracy']:.1f} %" if clf.get("heldout_accuracy") is not None else "unknown"
            lines.append(f"classifier {clf['name']} ({which}): held-out accuracy {acc}")
    return "\n".join(lines)


__all__ = ["PAIRED", "PROTOCOLS", "UNPAIRED", "UNPAIRED_SCORING", "DomainScoring", "Translator", "baselines",
           "evaluate", "format_report", "gaussian", "image_figures", "is_translation", "l1", "psnr", "ssim",
           "ssim_window", "table", "to_unit", "upscale"]
