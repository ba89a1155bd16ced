"""``ganzoo eval``: score a trained generator offline, from its run directory or its ONNX file.

The protocol follows from the data set the generator was trained on:

==========================  =====================================================  ==========
data set                    figures                                                 samples
==========================  =====================================================  ==========
2-D mixtures (ring8,        modes captured, % high quality, reverse KL              2,500
grid25, any points set      (:mod:`ganzoo.metrics.mixtures`)
with known modes)
digits, mnist5k, mnist      Fréchet distance, precision/recall (k = 3) in the       5,000
                            shipped classifier's features; classes covered,
                            KL(class histogram ‖ uniform)
                            (:mod:`ganzoo.metrics.features`)
emoji                       the same in the shipped emoji classifier's features;    5,000
                            classes are the 9 Unicode groups
stacked-mnist               modes captured of 1,000, KL to uniform                  26,000
                            (:mod:`ganzoo.metrics.stacked`)
translation sets (pairs,    PSNR, SSIM, L1 against a baseline; unpaired: digits     all held
unpaired domains)           kept and Fréchet distance per direction                 out
                            (:mod:`ganzoo.metrics.translation`)
==========================  =====================================================  ==========

Conditional models also get a *conditional accuracy*: labels are requested in
equal numbers, and the figure is the share of samples that the classifier (for
points: the nearest mode) assigns to the label asked for (for emoji: the group).
A digits or emoji generator with a categorical latent code of at most as many
values as classes (InfoGAN's c1) gets a *code accuracy*: the same share under the
best one-to-one matching of code values to classes, drawn without labels, as
InfoGAN reports its "5 % error" on MNIST.

Which classifier scores which data set is decided in one table,
:data:`FEATURE_SCORING`; everything after it reads the classifier's own input
shape and class count.

Next to every figure stands the same figure for real data (as many samples of
the data set as the model gets; for digits and emoji the whole set, at most 10,000), so a
reader sees at once what "good" is: only about 99 % of real ring8 points are high
quality, and the classifier is not perfect either (for digits, mnist5k and emoji it was
trained on 80 % of those very images, so their real-data column leans optimistic;
the held-out accuracy printed under the table is the honest figure). The reference set is the data
set loaded with seed 0 whatever seed the run trained with, so a run and its ONNX
export meet the same real samples.

Run directories and ONNX files go through the same code. Latents are the
runtime's (numpy ``default_rng(seed).standard_normal``, float32), fed to the torch
generator or to the onnxruntime session alike, and every metric is numpy; so a run
and its export score the same up to the export's float tolerance. An ONNX file
needs no generator code and no torch for the model or the classifier; the
reference data set is loaded through the data set registry, whose loaders build
torch tensors (docs/plugins.md §5), so evaluating (unlike generating) does import torch.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from ganzoo.errors import GanzooError, check_writable, writing
from ganzoo.metrics.protocols import (  # noqa: F401 -- FEATURE_PROTOCOLS, latents, ...: names this module always had
    FEATURE_PROTOCOLS,
    FEATURE_SCORING,
    GENERATE_BATCH,
    MAX_REAL,
    REFERENCE_SEED,
    STACKED,
    UNSUPPORTED,
    Evaluated,
    FeatureScoring,
    Generate,
    latents,
    only_classes,
    protocol_for,
    requested_labels,
)
from ganzoo.metrics.protocols import check_images as _check_images
from ganzoo.metrics.protocols import draw_samples as _sample
from ganzoo.metrics.protocols import load_reference as _load_data
from ganzoo.metrics.protocols import real_images as _real_images

#: Samples per protocol when --n is not given.
DEFAULT_N = {"mixture": 2500, "digits": 5000, "emoji": 5000, "stacked-mnist": 26_000}


def default_output(source: str | Path) -> Path:
    """Where ``ganzoo eval`` writes its JSON: ``RUN_DIR/eval.json`` or ``MODEL.eval.json`` beside the file."""
    source = Path(source)
    return source.with_name(source.stem + ".eval.json") if source.suffix == ".onnx" else source / "eval.json"


# -- opening what is evaluated ---------------------------------------------------------------
def open_run(run_dir: str | Path, weights: str | None = None, checkpoint: str | None = None) -> Evaluated:
    """A run directory's generator (EMA weights when the run has them, unless ``weights`` says),
    from its latest checkpoint or the one ``checkpoint`` names (best, a step)."""
    import torch

    from ganzoo.engine import checkpoint as ckpt
    from ganzoo.engine.build import load_generator

    G, meta, used = load_generator(run_dir, weights, checkpoint=checkpoint)
    try:
        steps = int(ckpt.load_state(ckpt.find_checkpoint(Path(run_dir), checkpoint))["step"])
    except (GanzooError, KeyError, TypeError, ValueError):
        steps = None

    def generate(z: np.ndarray, labels: np.ndarray | None, codes: dict[str, np.ndarray] | None = None) -> np.ndarray:
        with torch.no_grad():
            y = torch.from_numpy(labels) if labels is not None else None
            if codes:
                c = {k: torch.from_numpy(v) for k, v in codes.items()}
                return G(torch.from_numpy(z), y, codes=c).float().numpy()
            return G(torch.from_numpy(z), y).float().numpy()

    options = {k: meta.get(k) for k in ("data_dir", "image_size")}
    return Evaluated(Path(run_dir), "run", meta["model"], meta["dataset"],
                     int(cast(int, G.latent_dim)), int(cast(int, G.num_classes)),
                     tuple(int(s) for s in cast("tuple[int, ...]", G.output_shape)), generate, steps, used, options,
                     [c.as_dict() for c in (getattr(G, "codes", None) or ())], (checkpoint or ckpt.LATEST).lower(),
                     (meta.get("data") or {}).get("class_names"))


def open_onnx(path: str | Path, provider: str = "cpu") -> Evaluated:
    """An exported generator: everything needed comes from the file's ``ganzoo.*`` metadata."""
    from ganzoo.onnx import runtime

    model = runtime.load(str(path), provider=provider)
    if not model.dataset or model.dataset == "unknown":
        raise GanzooError(f"'{path}' has no ganzoo.dataset metadata, so ganzoo cannot tell which data set to "
                          "compare it with; export it from its run directory with: ganzoo export RUN_DIR --onnx")
    if model.output_shape is None:
        raise GanzooError(f"'{path}' does not say its output shape (ganzoo.output_shape); export it again")

    def generate(z: np.ndarray, labels: np.ndarray | None, codes: dict[str, np.ndarray] | None = None) -> np.ndarray:
        return np.asarray(model.run(z, labels, codes), dtype=np.float32)

    return Evaluated(Path(path), "onnx", model.model, model.dataset, int(model.latent_dim), int(model.num_classes),
                     tuple(int(s) for s in model.output_shape), generate, model.steps, model.weights,
                     codes=model.codes, class_names=model.class_names)


def open_source(source: str | Path, weights: str | None = None, provider: str = "cpu",
                checkpoint: str | None = None) -> Evaluated:
    """A run directory or an ``.onnx`` file, with a one-line error for anything else."""
    path, is_onnx = source_path(source, weights, checkpoint)
    return open_onnx(path, provider) if is_onnx else open_run(path, weights, checkpoint)


def source_path(source: str | Path, weights: str | None, checkpoint: str | None) -> tuple[Path, bool]:
    """(the path, whether it is an ONNX file) of what ``ganzoo eval`` scores: an existing
    ``.onnx`` file (without ``--weights``/``--checkpoint``) or else a run directory."""
    path = Path(source)
    if path.suffix == ".onnx" or path.is_file():
        if not path.is_file():
            raise GanzooError(f"ONNX file '{path}' does not exist; export one with: ganzoo export RUN_DIR --onnx")
        if path.suffix != ".onnx":
            raise GanzooError(f"'{path}' is neither a run directory nor an .onnx file; "
                              "pass the folder ganzoo train wrote, or an exported MODEL.onnx")
        for flag, given in (("--weights", weights), ("--checkpoint", checkpoint)):
            if given:
                raise GanzooError(f"{flag} applies to run directories; an ONNX file holds the weights it was "
                                  "exported with")
        return path, True
    return path, False


# -- the reference data set ---------------------------------------------------------------------
# -- the three protocols ------------------------------------------------------------------------
def _mixture(target: Evaluated, data, n: int, seed: int, progress: bool = False) -> tuple[dict, dict, dict | None]:
    from ganzoo.metrics.mixtures import mode_coverage

    modes, sigma = data.modes.numpy(), float(data.sigma)
    fake, labels, _ = _sample(target, n, seed, progress)
    model = mode_coverage(fake, modes, sigma)
    real_x, real_y = only_classes(data.floats().numpy(), data.y.numpy() if data.y is not None else None,
                                  target.classes, target.dataset)
    real_x, real_y = real_x[:n], (real_y[:n] if real_y is not None else None)
    real = mode_coverage(real_x, modes, sigma)
    if labels is not None:
        model["conditional_accuracy"] = float((model["assigned"] == labels).mean())
        if real_y is not None:
            real["conditional_accuracy"] = float((real["assigned"] == real_y).mean())
    for d in (model, real):
        d.pop("assigned")
    return model, real, None


def _features(target: Evaluated, scoring: FeatureScoring, data, n: int, seed: int, progress: bool = False
              ) -> tuple[dict, dict, dict]:
    """Fréchet distance, precision/recall and class figures in the features of ``scoring``'s classifier."""
    from ganzoo.metrics.classifier import load_classifier, resize_images
    from ganzoo.metrics.features import (
        K_NEAREST,
        class_metrics,
        code_accuracy,
        conditional_accuracy,
        frechet_distance,
        precision_recall,
    )

    clf = load_classifier(scoring.classifier)
    _check_images(target, data, clf.in_channels)
    fake, labels, codes = _sample(target, n, seed, progress)
    real, real_y = _real_images(data, REFERENCE_SEED, MAX_REAL, target.classes, target.dataset)
    f_fake, logits_fake = clf.run(resize_images(fake, clf.size))
    f_real, logits_real = clf.run(resize_images(real, clf.size))
    pred_fake, pred_real = logits_fake.argmax(1), logits_real.argmax(1)
    m = min(len(f_fake), len(f_real))
    # A seeded subset of the real set, not its first m: data sets stored class by class (emoji
    # by group) would otherwise give fewer samples than the set a reference of a few classes.
    pick = np.sort(np.random.default_rng(REFERENCE_SEED).choice(len(f_real), m, replace=False))
    precision, recall = precision_recall(f_real[pick], f_fake[:m], K_NEAREST)
    model = {"frechet_distance": frechet_distance(f_real, f_fake), "precision": precision, "recall": recall,
             "pr_samples": m, **class_metrics(pred_fake, clf.num_classes)}
    ref = dict(class_metrics(pred_real, clf.num_classes))
    if labels is not None:
        model["conditional_accuracy"] = conditional_accuracy(pred_fake, labels)
        if real_y is not None:
            ref["conditional_accuracy"] = conditional_accuracy(pred_real, real_y)
    first = next((c for c in target.codes if c["kind"] == "categorical" and int(c["size"]) <= clf.num_classes), None)
    if first is not None:  # InfoGAN's c1: does the code, unsupervised, sort the classes?
        model.update(code_accuracy(pred_fake, codes[first["name"]], clf.num_classes), code=first["name"])
    info = {"name": clf.name, "heldout_accuracy": clf.heldout_accuracy, "features": clf.feature_dim,
            "real_samples": len(real), "k": K_NEAREST, "classes": scoring.classes}
    if "class_names" in clf.info:
        info["class_names"] = json.loads(clf.info["class_names"])
    return model, ref, info


def _stacked(target: Evaluated, data, n: int, seed: int, progress: bool = False) -> tuple[dict, dict, dict]:
    from ganzoo.metrics.classifier import load_classifier
    from ganzoo.metrics.stacked import stacked_mnist_modes

    _check_images(target, data, 3)
    clf = load_classifier("mnist28")
    fake, labels, _ = _sample(target, n, seed, progress)
    model = stacked_mnist_modes(fake, clf)
    real_x, real_y = _real_images(data, REFERENCE_SEED, n, target.classes, target.dataset)
    ref = stacked_mnist_modes(real_x, clf)
    if labels is not None:
        model["conditional_accuracy"] = float((model["assigned"] == labels).mean())
        if real_y is not None:
            ref["conditional_accuracy"] = float((ref["assigned"] == real_y).mean())
    for d in (model, ref):
        d.pop("assigned")
    return model, ref, {"name": clf.name, "heldout_accuracy": clf.heldout_accuracy}


def evaluate(source: str | Path, n: int | None = None, seed: int = 0, weights: str | None = None,
             data_dir: str | None = None, download: bool = False, provider: str = "cpu",
             progress: bool = False, echo: Callable[[str], None] | None = None,
             checkpoint: str | None = None, labels: str | Sequence[Any] | None = None) -> dict[str, Any]:
    """Score the generator in ``source`` (run directory or .onnx file); returns what eval.json holds.
    ``progress`` shows a bar on stderr while the samples are drawn; ``echo`` gets one line once
    the inputs are checked, so a long evaluation is never silent. ``labels`` (a conditional
    model's ``--labels``) scores those classes alone, against their own real samples."""
    from ganzoo import __version__, limits

    if n is not None:
        limits.check_int("--n", n, 1, limits.EVAL_N_MAX, "every protocol settles long before; the samples are "
                         "held in memory")
    from ganzoo.metrics import translation

    if translation.is_translation(source):  # image-to-image: held-out pairs, not samples from noise
        return translation.evaluate(source, n=n, seed=seed, weights=weights, data_dir=data_dir, download=download,
                                    provider=provider, echo=echo, checkpoint=checkpoint, labels=labels)
    start = time.perf_counter()
    target = open_source(source, weights, provider, checkpoint)
    target.choose_classes(labels)
    name, protocol, data = _load_data(target, data_dir, download)
    n = n or DEFAULT_N[protocol]
    # the samples (n x C x H x W x 4 bytes for images) are held whole, and once more as the
    # classifier's input or the points being matched to modes: checked before the first is drawn
    limits.check_memory(f"scoring {n:,} samples of {list(target.output_shape)}",
                        2 * n * limits.sample_bytes(target.output_shape), "lower -n")
    if echo is not None:
        only = f" (classes {', '.join(target.class_label() or [])})" if target.classes is not None else ""
        echo(f"scoring {n:,} samples of {target.model}{only} against {name} ({protocol} protocol) ...")
    if protocol == "mixture":
        if target.output_shape != tuple(data.shape):
            raise GanzooError(f"generator makes {list(target.output_shape)} samples, but data set '{name}' holds "
                              f"{list(data.shape)} points; evaluate a generator trained on it")
        model, real, classifier = _mixture(target, data, n, seed, progress)
    elif protocol in FEATURE_PROTOCOLS:
        model, real, classifier = _features(target, FEATURE_SCORING[name], data, n, seed, progress)
    else:
        model, real, classifier = _stacked(target, data, n, seed, progress)
    return {
        "ganzoo_version": __version__, "source": str(target.path), "source_kind": target.kind,
        "model": target.model, "dataset": name, "steps": target.steps, "weights": target.weights,
        "checkpoint": target.checkpoint,
        "conditional": bool(target.num_classes), "labels": target.class_label(), "protocol": protocol, "n": n,
        "seed": seed, "metrics": model, "real": real, "classifier": classifier,
        "seconds": round(time.perf_counter() - start, 2),
    }


def check_output(output: str | Path) -> Path:
    """Refuse an output path whose folder is missing before minutes of evaluation, not after."""
    return check_writable(output, "choose another -o", suffix=".json")


def write_result(result: dict[str, Any], output: str | Path) -> Path:
    """Write eval JSON atomically (write aside, rename) so a crash leaves no half file."""
    output = check_output(output)
    tmp = output.with_name(output.name + ".tmp")
    try:
        with writing(output, "choose another -o"):
            tmp.write_text(json.dumps(result, indent=2) + "\n")
            tmp.replace(output)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return output


# -- the printed table --------------------------------------------------------------------------
def _fmt(value: Any, kind: str, total: int | None = None) -> str:
    if value is None:
        return "-"
    if kind == "count":
        return f"{value} / {total}"
    if kind == "percent":
        return f"{value:.1f} %"
    if kind == "share":
        return f"{100 * value:.1f} %"
    if abs(value) < 0.01 and value != 0:
        return f"{value:.2e}"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def table_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, model, real data) rows for the printed table."""
    m, r, proto = result["metrics"], result["real"], result["protocol"]
    rows: list[tuple[str, Any, Any, str, Any]] = []
    if proto == "mixture":
        rows += [("modes captured", m["modes_captured"], r["modes_captured"], "count", m["num_modes"]),
                 ("high-quality samples (<= 3 sigma)", m["hq_percent"], r["hq_percent"], "percent", None),
                 ("median distance to nearest mode (sigma)", m.get("median_distance_sigma"),
                  r.get("median_distance_sigma"), "num", None),
                 ("reverse KL to uniform (nats)", m["reverse_kl"], r["reverse_kl"], "num", None)]
    elif proto in FEATURE_PROTOCOLS:
        from ganzoo.metrics.features import MIN_CLASS_SHARE

        share = 100 * MIN_CLASS_SHARE / m["num_classes"]
        rows += [("Frechet distance (classifier features)", m["frechet_distance"], None, "num", None),
                 (f"precision (k={result['classifier']['k']})", m["precision"], None, "share", None),
                 (f"recall (k={result['classifier']['k']})", m["recall"], None, "share", None),
                 (f"classes covered (>= {share:.3g} % each)", m["classes_covered"], r["classes_covered"], "count",
                  m["num_classes"]),
                 ("KL(class histogram || uniform)", m["class_kl"], r["class_kl"], "num", None)]
    elif proto == "inception":
        rows += [(label, m[key], None, "num", None) for key, label in (
            ("fid", "FID (InceptionV3 pool features)"), ("kid", "KID"), ("kid_std", "KID, sd over subsets"),
            ("is", "Inception Score"), ("is_std", "Inception Score, sd over splits")) if m.get(key) is not None]
    else:
        rows += [("modes captured", m["modes_captured"], r["modes_captured"], "count", m["num_modes"]),
                 ("KL to uniform over 1,000 (nats)", m["kl"], r["kl"], "num", None)]
    if "conditional_accuracy" in m:
        rows.append(("conditional accuracy", m["conditional_accuracy"], r.get("conditional_accuracy"), "share", None))
    if "code_accuracy" in m:
        classes = (result.get("classifier") or {}).get("classes", "classes")
        rows.append((f"code accuracy ({m['code']} matched to {classes})", m["code_accuracy"], None, "share", None))
    return [(label, _fmt(a, kind, total), _fmt(b, kind, total)) for label, a, b, kind, total in rows]


def scored(result: dict[str, Any]) -> str:
    """What an evaluation scored, for the first line of its report: ``cgan (run, ema weights, step 3000)``."""
    what = f"{result['model']} ({result['source_kind']}"
    if result.get("weights"):
        what += f", {result['weights']} weights"
    if result.get("checkpoint") not in (None, "latest"):
        what += f", checkpoint {result['checkpoint']}"
    if result.get("steps") is not None:
        what += f", step {result['steps']}"
    if result.get("direction"):
        what += f", direction {result['direction']}"
    return what + ")"


def format_report(result: dict[str, Any]) -> str:
    """A short human-readable table of an evaluation result."""
    from ganzoo.metrics import translation

    if result.get("protocol") in translation.PROTOCOLS:
        return translation.format_report(result)
    what = scored(result)
    only = f", classes {', '.join(result['labels'])} only" if result.get("labels") else ""
    lines = [f"{what} on {result['dataset']}{only}: {result['n']:,} samples, seed {result['seed']}"]
    rows = table_rows(result)
    headers = ("figure", "model", "real data")
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines.append("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths))))
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    clf = result.get("classifier")
    if clf:
        acc = f"{100 * clf['heldout_accuracy']:.1f} %" if clf.get("heldout_accuracy") is not None else "unknown"
        lines.append(f"classifier {clf['name']}: held-out accuracy {acc}")
    return "\n".join(lines)
