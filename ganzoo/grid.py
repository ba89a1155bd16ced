"""Pictures of samples, with numpy and Pillow only (the torch-free runtime and the demo use it too).

Where each sample sits in a grid (rows per class or per code value) is decided by
:func:`ganzoo.sampling.layout`; this module tiles and writes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ganzoo.errors import GanzooError, check_writable, writing

#: What both writers (Pillow for grids, matplotlib for scatter plots) can write.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")


def picture_path(path: str | Path) -> Path:
    """Check an output picture path before any work: a known suffix, not a folder, a folder
    that exists or can be made. One line naming the fix otherwise."""
    path = Path(path)
    if path.is_dir():
        raise GanzooError(f"'{path}' is a folder; give a file name such as {path / 'samples.png'}")
    if path.suffix.lower() not in PICTURE_SUFFIXES:
        raise GanzooError(f"cannot write a picture as '{path.name}': use one of {', '.join(PICTURE_SUFFIXES)} "
                          "(e.g. -o samples.png), or --npy for the raw samples")
    return check_writable(path, "choose another -o")


def _written(save: Any, path: Path) -> Path:
    """Run a writer; a full disk or a read-only folder becomes one line naming the path."""
    with writing(path):
        save(path)
    return path


def image_grid(images: np.ndarray, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile ``[N, C, H, W]`` images in [-1, 1] into one uint8 ``[H', W', C]`` picture,
    ``nrow`` images per row (a square-ish grid when None)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"expected images of shape [N, C, H, W], got {images.shape}")
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    pixels = ((np.clip(images, -1, 1) + 1) * 127.5).round().astype(np.uint8)
    canvas = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        canvas[top : top + h, left : left + w] = pixels[i].transpose(1, 2, 0)
    return canvas


def enlargement(side: int) -> int:
    """How many times images ``side`` pixels wide are enlarged (nearest) in a picture, so
    that 8x8 digits stay visible."""
    return max(1, 64 // side) if side < 32 else 1


def grid_picture(images: np.ndarray, nrow: int | None = None, scale: int | None = None) -> Any:
    """A Pillow image of :func:`image_grid`, small images enlarged by ``scale`` (None: :func:`enlargement`)."""
    from PIL import Image

    grid = image_grid(images, nrow=nrow)
    if scale is None:
        scale = enlargement(images.shape[-1])
    im = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    return im


def save_image_grid(images: np.ndarray, path: str | Path, nrow: int | None = None, scale: int | None = None) -> Path:
    """Write a grid picture; small images are enlarged (nearest) so 8x8 digits stay visible."""
    return _written(grid_picture(images, nrow, scale).save, picture_path(path))


def save_animation(frames: list[np.ndarray], path: str | Path, nrow: int | None = None,
                   seconds: float = 4.0) -> list[Path]:
    """Grids of image batches as an animated GIF (``.gif``, looping) or as numbered PNGs
    (``walk.png`` → ``walk-000.png``, ``walk-001.png``, ...); returns the files written."""
    path = Path(path)
    scale = enlargement(frames[0].shape[-1])
    pictures = [grid_picture(f, nrow, scale) for f in frames]
    if path.suffix.lower() == ".gif":
        check_writable(path, "choose another -o")
        duration = max(20, int(1000 * seconds / len(pictures)))
        return [_written(lambda p: pictures[0].save(p, save_all=True, append_images=pictures[1:],
                                                    duration=duration, loop=0), path)]
    written = []
    for i, picture in enumerate(pictures):
        written.append(_written(picture.save, picture_path(path.with_name(f"{path.stem}-{i:03d}{path.suffix}"))))
    return written


def save_scatter(points: np.ndarray, path: str | Path, real: np.ndarray | None = None,
                 modes: np.ndarray | None = None, title: str = "") -> Path:
    """2-D samples as a scatter plot over the real data, for the Gaussian mixtures."""
    try:
        import matplotlib
    except ImportError:  # the torch-free base install
        raise GanzooError("drawing 2-D points needs matplotlib: pip install matplotlib, or save the points "
                          "with --npy points.npy") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=2, c="#bbbbbb", label="real")
    ax.scatter(points[:, 0], points[:, 1], s=2, c="#d62728", label="generated")
    if modes is not None:
        ax.scatter(modes[:, 0], modes[:, 1], s=30, marker="x", c="black", label="modes")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    try:
        return _written(fig.savefig, picture_path(path))
    finally:
        plt.close(fig)
