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


def matched_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Image batches ``[n, C, H, W]`` of different channel counts and sides (a grey source,
    its colour translation; an 8-px source, its 32-px upscaling) as one batch of the largest
    side (whole-pixel nearest enlargement, so a low-resolution source looks as low as it is)
    and of 3 channels where any row has colour: rows of a source | translation | target grid."""
    side = max(int(r.shape[-1]) for r in rows)
    colour = any(r.shape[1] == 3 for r in rows)
    out = []
    for r in rows:
        r = np.asarray(r, dtype=np.float32)
        factor = max(1, side // r.shape[-1])
        if factor > 1:
            r = r.repeat(factor, axis=-2).repeat(factor, axis=-1)
        if r.shape[-1] != side or r.shape[-2] != side:  # not a whole multiple: pad with white
            pad_h, pad_w = side - r.shape[-2], side - r.shape[-1]
            r = np.pad(r, ((0, 0), (0, 0), (0, max(0, pad_h)), (0, max(0, pad_w))), constant_values=1.0)
        if colour and r.shape[1] == 1:
            r = r.repeat(3, axis=1)
        out.append(r)
    return np.concatenate(out)


#: Grids of small tiles are enlarged (nearest neighbour, whole pixels) until their long side
#: reaches this: 64 MNIST digits make a 242-px grid, a thumbnail on any screen; 512 px reads.
READABLE_SIDE = 512
#: ... but no tile beyond this side: one 8x8 sample need not fill a screen.
TILE_MAX = 256
#: Row names are written when a row is at least this tall on the picture (Pillow's default
#: font draws ~11-pixel capitals at size LABEL_FONT); in shorter rows they would overlap.
LABEL_ROW_MIN = 14
LABEL_FONT = 12
#: The name column is at most this wide; a longer name is cut with an ellipsis.
LABEL_WIDTH_MAX = 160


def enlargement(long_side: int, tile: int) -> int:
    """How many times a grid ``long_side`` pixels long, of tiles ``tile`` pixels wide, is
    enlarged: the smallest whole factor that brings it to READABLE_SIDE, tiles at most
    TILE_MAX; 1 for a grid that is already that large."""
    if long_side >= READABLE_SIDE:
        return 1
    return max(1, min(math.ceil(READABLE_SIDE / long_side), TILE_MAX // max(1, tile)))


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # a Pillow without FreeType: its bitmap font
        return ImageFont.load_default()


def _fitted(draw: Any, name: str, font: Any, width: int) -> str:
    """``name``, cut with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(name, font=font) <= width:
        return name
    while name and draw.textlength(name + "…", font=font) > width:
        name = name[:-1]
    return name + "…"


def _with_row_names(im: Any, names: list[str], row_height: float, top: float) -> Any:
    """``im`` with a white column at its left holding each row's name, centred on the row."""
    from PIL import Image, ImageDraw

    font = _font(max(LABEL_FONT, min(2 * LABEL_FONT, int(row_height) // 3)))  # larger rows, larger names
    probe = ImageDraw.Draw(im)
    width = min(LABEL_WIDTH_MAX, max(int(probe.textlength(name, font=font)) for name in names)) + 8
    mode = im.mode if im.mode in ("L", "RGB", "RGBA") else "RGB"
    canvas = Image.new(mode, (im.width + width, im.height), "white")
    canvas.paste(im.convert(mode), (width, 0))
    draw = ImageDraw.Draw(canvas)
    ink: int | tuple[int, ...] = 40 if mode == "L" else (40, 40, 40, 255)[:len(mode)]
    for r, name in enumerate(names):
        middle = top + (r + 0.5) * row_height
        draw.text((4, middle), _fitted(draw, name, font, width - 8), fill=ink, font=font, anchor="lm")
    return canvas


def grid_picture(images: np.ndarray, nrow: int | None = None, scale: int | None = None,
                 row_names: list[str] | None = None, pad: int = 2) -> Any:
    """A Pillow image of :func:`image_grid`, enlarged by ``scale`` (None: :func:`enlargement`),
    with ``row_names`` (one per row: the class each row holds) written at the left when a row
    is at least LABEL_ROW_MIN pixels tall on the picture; smaller grids go without them."""
    from PIL import Image

    grid = image_grid(images, nrow=nrow, pad=pad)
    if scale is None:
        scale = enlargement(max(grid.shape[:2]), images.shape[-1])
    im = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    rows = math.ceil(len(images) / (nrow or max(1, math.ceil(math.sqrt(len(images))))))
    row_height = (images.shape[-2] + pad) * scale
    if row_names and len(row_names) == rows and images.shape[-2] * scale >= LABEL_ROW_MIN:
        im = _with_row_names(im, row_names, row_height, pad * scale / 2)
    return im


def save_image_grid(images: np.ndarray, path: str | Path, nrow: int | None = None, scale: int | None = None,
                    row_names: list[str] | None = None) -> Path:
    """Write a grid picture: small grids enlarged (nearest) to be readable, rows named where
    ``row_names`` gives them (see :func:`grid_picture`)."""
    return _written(grid_picture(images, nrow, scale, row_names).save, picture_path(path))


def save_animation(frames: list[np.ndarray], path: str | Path, nrow: int | None = None,
                   seconds: float = 4.0, row_names: list[str] | None = None) -> list[Path]:
    """Grids of image batches as an animated GIF (``.gif``, looping) or as numbered PNGs
    (``walk.png`` → ``walk-000.png``, ``walk-001.png``, ...); returns the files written."""
    path = Path(path)
    pictures = [grid_picture(f, nrow, None, row_names) for f in frames]
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
