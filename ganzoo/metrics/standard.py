"""FID, KID and Inception Score: figures that stand beside the papers', through torch-fidelity.

Why torch-fidelity rather than torchmetrics: its InceptionV3 is the TensorFlow FID
network converted weight for weight, with TensorFlow's resizing, and its figures match
the original implementations to float precision; torchmetrics' FID borrows that very
feature extractor, so depending on torch-fidelity alone gives the same numbers with one
package instead of two.

Nothing is downloaded unless asked: the Inception weights come from ``--inception-weights
PATH`` or from torch's hub cache, where torch-fidelity keeps them after one online use, and
``--download`` fetches them into that cache (checked against their SHA-256 before they are
put there, so a truncated or altered file never is). Since torch-fidelity unpickles that
file, ganzoo first reads it as a plain state dict (no code can run) and refuses anything else.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganzoo.errors import GanzooError, writing

METRICS = ("fid", "kid", "is")
WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's InceptionV3 (TF FID weights)
DEFAULT_N = 10_000  # generated samples; the reference takes as many real images (a seeded subset)
#: Where torch-fidelity itself fetches its weights from (its URL_INCEPTION_V3), and their SHA-256: the
#: file name's "6726825d" is its first 8 digits, as torch.hub names files.
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILE}"
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
#: The real file is 91 MB; a download that grows past this is not it.
DOWNLOAD_MAX_BYTES = 256 * 1024**2
DOWNLOAD_TIMEOUT_S = 60


def inception_weights(path: str | None, download: bool = False, echo: Callable[[str], None] | None = None) -> Path:
    """The InceptionV3 weights file: ``path``, else torch's hub cache (fetched into it first
    with ``download``); checked to be a plain state dict of the right network before
    torch-fidelity loads it."""
    cached = Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE
    where = Path(path) if path else cached
    if not where.is_file():
        if path:
            raise GanzooError(f"--inception-weights '{where}' does not exist; pass the path of {WEIGHTS_FILE}")
        if not download:
            raise GanzooError(f"FID, KID and IS need torch-fidelity's InceptionV3 weights ({WEIGHTS_FILE}), which are "
                              f"not in {cached.parent}; add --download to fetch them there (91 MB, SHA-256 checked), "
                              "or copy that file there from a machine with network, or pass --inception-weights PATH")
        fetch(INCEPTION_URL, cached, INCEPTION_SHA256, echo)
    try:
        state = torch.load(where, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise GanzooError(f"'{where}' is not a plain PyTorch state dict ({type(exc).__name__}); ganzoo loads only "
                          f"weights that cannot run code: use torch-fidelity's {WEIGHTS_FILE}") from None
    fc = state.get("fc.weight") if isinstance(state, dict) else None
    if fc is None or tuple(fc.shape) != (1008, 2048):
        raise GanzooError(f"'{where}' does not hold torch-fidelity's InceptionV3 weights (no fc.weight [1008, 2048]); "
                          f"use {WEIGHTS_FILE}")
    return where


def fetch(url: str, dest: Path, sha256: str, echo: Callable[[str], None] | None = None) -> Path:
    """Download ``url`` to ``dest`` through a ``.part`` file that becomes ``dest`` only when
    its SHA-256 is ``sha256``: an interrupted, truncated or altered download leaves nothing
    behind that a later run would trust. Any failure is one line naming ``--download``."""
    import urllib.error
    import urllib.request

    with writing(dest.parent, "free some space, or pass --inception-weights PATH", action="create the folder"):
        dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f"{dest.name}.{os.getpid()}.part")
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, \
                writing(part, "free some space, or pass --inception-weights PATH"), open(part, "wb") as out:
            if echo is not None:  # once connected: offline, the error is the only line
                echo(f"downloading {url} to {dest} ...")
            while chunk := response.read(1 << 20):
                size += len(chunk)
                if size > DOWNLOAD_MAX_BYTES:
                    raise GanzooError(f"--download: {url} sent more than {DOWNLOAD_MAX_BYTES // 1024**2} MB, which "
                                      f"is not {dest.name}; nothing was saved")
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise GanzooError(f"--download: the file from {url} has SHA-256 {digest.hexdigest()[:16]}..., not "
                              f"{sha256[:16]}... ({size:,} bytes: cut short or altered); nothing was saved, "
                              "try again or pass --inception-weights PATH")
        with writing(dest, "free some space, or pass --inception-weights PATH"):
            os.replace(part, dest)
    except (urllib.error.URLError, OSError, ValueError) as exc:  # no network, refused, timed out, bad URL
        reason = getattr(exc, "reason", None) or exc
        raise GanzooError(f"--download could not fetch {url} ({reason}); on a machine without network, copy "
                          f"{dest.name} into {dest.parent} or pass --inception-weights PATH") from None
    finally:
        part.unlink(missing_ok=True)
    return dest


def parse_metrics(text: str) -> list[str]:
    """``fid,kid`` → ["fid", "kid"]; one line naming the choices for anything else."""
    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        raise GanzooError(f"--metric {text}: choose from classifier (the offline default) or any of "
                          f"{', '.join(METRICS)}, comma-separated (e.g. --metric fid,kid)")
    return list(dict.fromkeys(names))


def _pixels(x: np.ndarray) -> np.ndarray:
    """float images in [-1, 1] → uint8 RGB ``[N, 3, H, W]`` as torch-fidelity reads them."""
    out = np.clip(np.rint((x + 1) * 127.5), 0, 255).astype(np.uint8)
    return np.repeat(out, 3, axis=1) if out.shape[1] == 1 else out


class _Images(torch.utils.data.Dataset):
    """uint8 ``[3, H, W]`` tensors over an array, as torch-fidelity reads its inputs."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self.pixels[i])


def _reference(name: str, shape: tuple[int, ...], limit: int, seed: int, data_dir: str | None,
               download: bool, classes: list[int] | None = None) -> np.ndarray:
    """Up to ``limit`` images of data set ``name`` (a seeded subset when larger) at the generator's
    size; only those of ``classes`` when ``eval --labels`` picks some."""
    from ganzoo.data.files import ImageFiles
    from ganzoo.metrics.protocols import only_classes
    from ganzoo.registry import get_registry
    from ganzoo.specs import load_target

    spec, arg = get_registry().dataset(name)
    data = load_target(spec, "dataset")(arg=arg, data_dir=data_dir, download=download, seed=0,
                                        image_size=shape[-1])
    if data.kind != "images":
        raise GanzooError(f"--metric fid/kid/is compares images; data set '{name}' holds points: use the default "
                          "--metric classifier (mode coverage)")
    keep = np.arange(len(data))
    if classes is not None:
        y = data.y.numpy() if data.y is not None else None
        keep = only_classes(keep, y, classes, name)[0]
    if len(keep) > limit:  # positions within keep, which may already be one class's indices
        keep = np.sort(keep[np.random.default_rng(seed).choice(len(keep), limit, replace=False)])
    if isinstance(data, ImageFiles):
        x = torch.stack([data[int(i)][0] for i in keep]).float() / 255 * 2 - 1
    else:
        x = data.floats()[torch.from_numpy(keep)]
    if tuple(x.shape[1:]) != tuple(shape) and tuple(x.shape[2:]) != tuple(shape[1:]):
        raise GanzooError(f"reference '{name}' holds {list(x.shape[1:])} images, the generator makes {list(shape)}; "
                          "pass a --reference of the generator's size")
    return _pixels(x.numpy())


def score(source: str | Path, metrics: list[str], n: int | None = None, seed: int = 0, weights: str | None = None,
          reference: str | None = None, inception: str | None = None, data_dir: str | None = None,
          download: bool = False, provider: str = "cpu", progress: bool = False,
          echo: Callable[[str], None] | None = None, checkpoint: str | None = None,
          labels: str | Sequence[Any] | None = None) -> dict[str, Any]:
    """FID / KID / IS of the generator in ``source`` against ``reference`` (default: the data
    set it trained on); returns what eval.json holds. ``download`` lets the data set and the
    Inception weights be fetched when missing."""
    from ganzoo import __version__
    from ganzoo.metrics.evaluate import _sample, open_source

    try:
        import torch_fidelity
    except ImportError:
        raise GanzooError("--metric fid/kid/is needs torch-fidelity: pip install 'ganzoo-onnx[fid]'") from None
    if n is not None and n < 2:
        raise GanzooError(f"--n must be at least 2 for {', '.join(metrics)}, got {n}")
    start = time.perf_counter()
    path = inception_weights(inception, download, echo)
    target = open_source(source, weights, provider, checkpoint)
    target.choose_classes(labels)
    if len(target.output_shape) != 3:
        raise GanzooError(f"--metric {','.join(metrics)} scores images; '{target.model}' makes "
                          f"{list(target.output_shape)} points: use the default --metric classifier")
    n = n or DEFAULT_N
    name = reference or target.dataset
    real = _reference(name, target.output_shape, n, 0, data_dir, download, target.classes) \
        if {"fid", "kid"} & set(metrics) else None
    if echo is not None:
        against = f" against {len(real):,} images of {name}" if real is not None else ""
        echo(f"scoring {n:,} samples of {target.model} with InceptionV3 ({', '.join(metrics)}){against} ...")
    fake, _, _ = _sample(target, n, seed, progress)
    subset = min(1000, n, len(real) if real is not None else n)
    out = torch_fidelity.calculate_metrics(
        input1=_Images(_pixels(fake)), input2=_Images(real) if real is not None else None,
        fid="fid" in metrics, kid="kid" in metrics, isc="is" in metrics, feature_extractor_weights_path=str(path),
        cuda=torch.cuda.is_available(), batch_size=64, kid_subset_size=subset, isc_splits=min(10, n),
        verbose=progress, cache=False, rng_seed=seed)
    figures = {"fid": out.get("frechet_inception_distance"), "kid": out.get("kernel_inception_distance_mean"),
               "kid_std": out.get("kernel_inception_distance_std"), "is": out.get("inception_score_mean"),
               "is_std": out.get("inception_score_std")}
    return {
        "ganzoo_version": __version__, "source": str(target.path), "source_kind": target.kind,
        "model": target.model, "dataset": name, "steps": target.steps, "weights": target.weights,
        "checkpoint": target.checkpoint,
        "conditional": bool(target.num_classes), "labels": target.class_label(), "protocol": "inception", "n": n,
        "seed": seed,
        "metrics": {k: (float(v) if v is not None else None) for k, v in figures.items()},
        "real": {"n": len(real) if real is not None else 0}, "classifier": None, "inception_weights": str(path),
        "seconds": round(time.perf_counter() - start, 2),
    }
