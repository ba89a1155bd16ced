"""Pictures of samples, with numpy and Pillow only (the torch-free runtime uses it too)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


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


def save_image_grid(images: np.ndarray, path: str | Path, nrow: int | None = None, scale: int | None = None) -> Path:
    """Write a grid PNG; small images are enlarged (nearest) so 8x8 digits stay visible."""
    from PIL import Image

    grid = image_grid(images, nrow=nrow)
    h = images.shape[-1]
    if scale is None:
        scale = max(1, 64 // h) if h < 32 else 1
    im = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


def save_scatter(points: np.ndarray, path: str | Path, real: np.ndarray | None = None,
                 modes: np.ndarray | None = None, title: str = "") -> Path:
    """2-D samples as a scatter plot over the real data, for the Gaussian mixtures."""
    import matplotlib

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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
