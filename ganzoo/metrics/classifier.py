"""The classifiers ganzoo ships, run in plain numpy.

Why numpy: FID-style metrics usually download an Inception network, which an
offline machine cannot do. ganzoo instead ships small LeNet-style CNNs as
safetensors files inside the package: ``mnist28`` for 28x28 MNIST digits,
``digits8`` for scikit-learn's 8x8 digits (a bilinear upsampling of 8x8 digits
to 28x28 looks nothing like MNIST, so each resolution has its own network),
``emoji32`` for the colour ``emoji`` set's 9 Unicode groups, ``textured32`` and ``plain32``
for the two domains of ``digits2textured`` (digits on colour textures, and plain ones), so
that a translation either way can be checked to keep its digit by a reader that never saw
a held-out digit. They are trained by
:mod:`ganzoo.metrics.train_classifier` (torch, fixed seed, a train split) and
read here with ``safetensors.numpy``: evaluation then needs neither torch nor
onnxruntime for the classifier, so a run directory and the ONNX file exported
from it go through exactly the same metric code, and the figures of the two can
be compared number for number. The networks are tiny (47,000 weights, 183 KB,
for ``mnist28``; 14,000 for ``digits8``; 273,000, 1.1 MB, for ``emoji32``); an
im2col convolution in numpy classifies tens of thousands of images in seconds.

Architecture (stored in the file's metadata and weight shapes, so the reader
needs no code change when the trainer changes a width or a depth): one or more
conv(kernel, padding) - ReLU - 2x2 max-pool blocks (two for the digits, three
for emoji), then linear(hidden) - ReLU - linear(classes). The ``hidden``
activations are the "penultimate features" for the Fréchet distance and
precision/recall.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ganzoo.errors import GanzooError

HERE = Path(__file__).resolve().parent
#: Classifier name -> the image side it reads.
CLASSIFIERS = {"mnist28": 28, "digits8": 8, "emoji32": 32, "textured32": 32, "plain32": 32}
#: Share of each class held out from training; the accuracy ganzoo reports is on these.
HELDOUT_FRACTION = 0.2
SPLIT_SEED = 0
BATCH = 256


def weights_path(name: str) -> Path:
    return HERE / f"{name}.safetensors"


def heldout_split(labels: np.ndarray, fraction: float = HELDOUT_FRACTION, seed: int = SPLIT_SEED
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices): the same share of every class held out.

    Stratified so both splits stay balanced; seeded so the trainer and the test
    that checks the shipped accuracy agree on which images were never trained on."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, held = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cut = round(len(idx) * fraction)
        held.append(idx[:cut])
        train.append(idx[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def _conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, padding: int) -> np.ndarray:
    """x [N, H, W, C] (channels last keeps the im2col matrix contiguous), w [O, C, k, k]."""
    if padding:
        x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    k = w.shape[-1]
    windows = sliding_window_view(x, (k, k), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3)  # [N, Ho, Wo, k, k, C]
    n, ho, wo = windows.shape[:3]
    cols = windows.reshape(n * ho * wo, -1)  # one copy into [N*Ho*Wo, k*k*C], C innermost (contiguous runs)
    out = cols @ w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1).T + b
    return out.reshape(n, ho, wo, w.shape[0])


def _maxpool2(x: np.ndarray) -> np.ndarray:
    """2x2 max-pool, stride 2, of [N, H, W, C] (odd edges dropped, as torch does)."""
    h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
    return np.maximum(np.maximum(x[:, 0:h:2, 0:w:2], x[:, 1:h:2, 0:w:2]),
                      np.maximum(x[:, 0:h:2, 1:w:2], x[:, 1:h:2, 1:w:2]))


@dataclass
class Classifier:
    """A shipped LeNet: ``predict`` for class labels, ``features`` for distances."""

    name: str
    size: int
    kernel: int
    padding: int
    weights: dict[str, np.ndarray] = field(repr=False)
    heldout_accuracy: float | None = None
    info: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def feature_dim(self) -> int:
        return int(self.weights["fc1.weight"].shape[0])

    @property
    def in_channels(self) -> int:
        return int(self.weights["conv1.weight"].shape[1])

    @property
    def num_classes(self) -> int:
        return int(self.weights["fc2.weight"].shape[0])

    @property
    def depth(self) -> int:
        """Conv blocks: conv1, conv2, ... as far as the weights go."""
        return sum(1 for k in self.weights if k.startswith("conv") and k.endswith(".weight"))

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (self.in_channels, self.size, self.size):
            raise GanzooError(
                f"classifier '{self.name}' reads images [N, {self.in_channels}, {self.size}, {self.size}] in [-1, 1], "
                f"got {list(x.shape)}; "
                "resize the images or pick the classifier for their size")
        return x

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = self.weights
        h = x.transpose(0, 2, 3, 1)
        # ReLU after the pool: the two commute, and the pooled array is four times smaller.
        for i in range(1, self.depth + 1):
            h = np.maximum(_maxpool2(_conv2d(h, w[f"conv{i}.weight"], w[f"conv{i}.bias"], self.padding)), 0)
        h = h.transpose(0, 3, 1, 2).reshape(len(h), -1)  # flatten in torch's (C, H, W) order
        feats = np.maximum(h @ w["fc1.weight"].T + w["fc1.bias"], 0)
        return feats, feats @ w["fc2.weight"].T + w["fc2.bias"]

    def run(self, x: np.ndarray, batch: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
        """(penultimate features [N, hidden], logits [N, classes]), in batches to bound memory."""
        x = self._check(x)
        feats, logits = [], []
        for start in range(0, len(x), batch):
            f, lg = self._forward(x[start:start + batch])
            feats.append(f)
            logits.append(lg)
        if not feats:
            return np.zeros((0, self.feature_dim), np.float32), np.zeros((0, self.num_classes), np.float32)
        return np.concatenate(feats), np.concatenate(logits)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.run(x)[1].argmax(axis=1)

    def features(self, x: np.ndarray) -> np.ndarray:
        return self.run(x)[0]


@cache
def load_classifier(name: str) -> Classifier:
    """Read a shipped classifier; one-line error when the file is missing or foreign."""
    if name not in CLASSIFIERS:
        raise GanzooError(f"unknown classifier '{name}': choose {', '.join(CLASSIFIERS)}")
    path = weights_path(name)
    if not path.is_file():
        raise GanzooError(f"classifier weights {path} are missing; recreate them with: "
                          f"python -m ganzoo.metrics.train_classifier {name}")
    from safetensors import safe_open
    from safetensors.numpy import load_file

    with safe_open(str(path), framework="numpy") as f:
        info = dict(f.metadata() or {})
    try:
        arch = json.loads(info["arch"])
        weights = {k: v.astype(np.float32) for k, v in load_file(str(path)).items()}
        layers = [f"conv{i + 1}" for i in range(len(arch.get("channels", (16, 32))))] + ["fc1", "fc2"]
        expected = {f"{layer}.{p}" for layer in layers for p in ("weight", "bias")}
        missing = expected - set(weights)
        if missing:
            raise KeyError(", ".join(sorted(missing)))
    except (KeyError, ValueError) as exc:
        raise GanzooError(f"{path} is not a ganzoo classifier ({exc}); recreate it with: "
                          f"python -m ganzoo.metrics.train_classifier {name}") from None
    acc = float(info["heldout_accuracy"]) if "heldout_accuracy" in info else None
    return Classifier(name, int(arch["size"]), int(arch["kernel"]), int(arch["padding"]), weights, acc, info)


def resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """Resize [N, C, H, W] images to size x size with Pillow's antialiased bilinear filter.

    Used when a generator makes images at another resolution than its classifier
    reads (a DCGAN's digits at 32 or 64 px, emoji at 64 px): generated and real
    images go through the same resize before the classifier sees them, so neither
    side gains from it."""
    x = np.asarray(x, dtype=np.float32)
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    from PIL import Image

    out = np.empty((*x.shape[:2], size, size), np.float32)
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            im = Image.fromarray(np.ascontiguousarray(x[i, c])).resize((size, size), Image.Resampling.BILINEAR)
            out[i, c] = np.asarray(im, dtype=np.float32)
    return np.clip(out, -1.0, 1.0)
