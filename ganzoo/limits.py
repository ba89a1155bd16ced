"""The documented range of every number a user can hand the command line, and the memory
estimates checked before anything large is allocated.

One place, so that ``train``, ``sample``, ``generate``, ``eval`` and ``bench`` refuse the same
values with the same words, before a run folder exists or a tensor is allocated. Each bound
says why it sits where it does (docs/limits.md lists them). Torch- and numpy-free: the
base install's ``generate`` and ``bench`` use it too.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

from ganzoo.errors import GanzooError

#: Seeds are 0 .. 2**32 - 1. torch takes 64-bit seeds, numpy any integer, but the training loop
#: derives seeds from the user's (seed x 1,000 + rank + 1 + step x 7,919 for the noise, seed x
#: 1,000,003 + epoch for the order of image files): 2**63 overflowed those after the run folder
#: was made, leaving a run that could not start or resume. Below 2**32 every derived seed stays
#: far inside torch's range for any allowed --steps, and the range is the one most tools accept.
SEED_MAX = 2**32 - 1
#: Training steps: 10**9 is years of training at any speed this zoo reaches, and keeps
#: step x 7,919 (a derived seed) and the step counters in logs far from overflow.
STEPS_MAX = 10**9
#: Samples per step: 65,536 is 32x BigGAN's 2,048, the largest batch in the zoo's papers; larger
#: ones only exhaust memory (images are also checked by the estimate in :func:`training_bytes`).
BATCH_MAX = 65_536
#: Latent size: 65,536 is 128x StyleGAN's 512; the first layer alone is latent_dim x width weights.
LATENT_MAX = 65_536
#: Discriminator steps per generator step: WGAN uses 5; past 1,000 a run never moves G.
N_CRITIC_MAX = 1_000
#: Training image side in pixels: 4 (the smallest a convolutional stack starts from) to 1,024
#: (the largest the zoo's papers train at, StyleGAN's FFHQ).
IMAGE_SIZE_MIN, IMAGE_SIZE_MAX = 4, 1024
#: CPU threads: up to 4 per core. More threads than that only add switching on any machine.
THREADS_PER_CORE = 4
#: A picture (a sample grid, a frame of a walk) may have as many pixels as Pillow opens without
#: calling it a decompression bomb (Image.MAX_IMAGE_PIXELS): a grid nobody can open is no use.
GRID_PIXELS_MAX = 89_478_485
#: Points in one scatter plot: matplotlib draws a million in seconds; beyond, save --npy.
SCATTER_MAX = 1_000_000
#: Samples one ``generate --npy`` file may hold: they are written in chunks (bounded memory) and
#: the file must fit the disk; ten million is already minutes of onnxruntime.
NPY_SAMPLES_MAX = 10_000_000
#: Frames of a latent walk: 1,000 frames is 40 s at 25 frames per second; every frame is held in
#: memory until the GIF is written, so the memory estimate applies as well.
FRAMES_MAX = 1_000
#: Samples ``ganzoo eval`` draws: every protocol here uses 2,500 to 26,000 and the figures settle
#: long before a million; the samples are held in memory (also checked by the estimate).
EVAL_N_MAX = 1_000_000
#: A continuous --code value: the priors are U(-1, 1) or N(0, 1); a thousand is far past anything a
#: generator learned, and larger values only overflow float32 activations into NaN pictures.
CODE_VALUE_MAX = 1_000.0
#: ``bench``: runs per backend and batch size (percentiles settle within hundreds), and seconds
#: (an hour per backend and batch size is already a day for a full table).
BENCH_RUNS_MAX = 100_000
BENCH_SECONDS_MAX = 3600
#: Share of the memory available now that one request may plan to use.
MEMORY_SHARE = 0.5
#: ``translate``: pixels of one source picture, read from its header before any pixel is decoded:
#: 4096 x 4096, four times what a whole-image model takes, for the models that run in tiles.
TRANSLATE_PIXELS_MAX = 4096 * 4096
#: ``translate``: bytes of one source file (a 16-megapixel PNG is rarely past 64 MB).
TRANSLATE_BYTES_MAX = 256 * 1024**2
#: ``translate``: source pixels (after padding) a model that sees the whole image at once
#: (``ganzoo.multiple`` > 1, or ``--tile 0``) takes: at 1024 x 1024 the zoo's CycleGAN peaks at
#: about 1 GB in onnxruntime and pix2pix at 0.5 GB; memory grows with the pixels.
WHOLE_IMAGE_PIXELS_MAX = 1024 * 1024
#: ``translate``: output pixels one onnxruntime call may produce (images of one size, or tiles,
#: batched up to it): 1 megapixel, the size measured above.
TRANSLATE_CALL_PIXELS = 1024 * 1024
#: ``translate``: images or tiles in one onnxruntime call, whatever their size.
TRANSLATE_BATCH_MAX = 16
#: ``translate``: source side of a tile (overlap included) for models that take any side
#: (``ganzoo.multiple`` 1, super-resolution), and the overlap kept on each side of a seam: a
#: tile's outer TILE_OVERLAP pixels only give context and are cropped away, so a network whose
#: receptive field reaches at most that far gives the untiled result exactly.
TILE_DEFAULT, TILE_OVERLAP = 64, 8
#: ``translate --tile N``: N in this range (0 turns tiling off): at least 3 overlaps, so each tile
#: keeps some pixels, and at most the whole-image limit's side.
TILE_MIN, TILE_MAX = 3 * TILE_OVERLAP, 1024
#: ``demo`` of an image-to-image export: an upload's bytes (the HTTP body, refused unread when its
#: Content-Length is larger), its source pixels (read from the header before decoding) and its
#: output pixels (super-resolution multiplies them by scale^2), so one request stays at seconds.
DEMO_UPLOAD_BYTES = 8 * 1024**2
DEMO_SOURCE_PIXELS_MAX = 1024 * 1024
DEMO_OUTPUT_PIXELS_MAX = 2048 * 2048
#: ``demo --examples FOLDER``: example sources listed on the page, each at most DEMO_UPLOAD_BYTES.
DEMO_EXAMPLES_MAX = 24


def cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def threads_max() -> int:
    return cores() * THREADS_PER_CORE


def check_int(flag: str, value: Any, low: int, high: int, why: str = "") -> int:
    """``value`` in ``low..high`` or one line naming the flag, the range and why."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        shown = str(value) if not isinstance(value, int) or len(str(value)) <= 24 else f"{str(value)[:12]}... " \
            f"({len(str(value))} digits)"
        reason = f" ({why})" if why else ""
        bounds = f"be a non-negative integer, at most {high:,}" if low == 0 else \
            f"be at least {low:,} and at most {high:,}"
        raise GanzooError(f"{flag} must {bounds}{reason}, got {shown}")
    return value


def check_seed(value: Any, flag: str = "--seed") -> int:
    return check_int(flag, value, 0, SEED_MAX, "a 32-bit seed; the loop derives its own seeds from it")


def check_threads(value: Any, flag: str = "--threads", auto: bool = True) -> int:
    """0 (automatic) where ``auto``, else 1 .. 4 x the cores."""
    low = 0 if auto else 1
    why = f"{THREADS_PER_CORE} per core on this {cores()}-core machine" + ("; 0: automatic" if auto else "")
    return check_int(flag, value, low, threads_max(), why)


def available_memory() -> int | None:
    """Bytes of memory available now (Linux: MemAvailable; elsewhere free pages), None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def size_text(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1000
    return f"{count:,.1f} TB"  # pragma: no cover - the loop always returns


def check_memory(what: str, estimate: float, fix: str) -> None:
    """Refuse a plan whose ``estimate`` (bytes) exceeds :data:`MEMORY_SHARE` of the memory available."""
    free = available_memory()
    if free is None:
        return
    budget = free * MEMORY_SHARE
    if estimate > budget:
        raise GanzooError(f"{what} needs about {size_text(estimate)} of memory, more than half of the "
                          f"{size_text(free)} available: {fix}")


def sample_bytes(shape: Iterable[int]) -> int:
    """Bytes of one float32 sample of ``shape`` (C x H x W x 4 for an image)."""
    return 4 * math.prod(int(s) for s in shape)


def grid_pixels(n: int, shape: tuple[int, ...], nrow: int | None = None, pad: int = 2) -> int:
    """Pixels of the grid picture ganzoo.grid draws for n images of ``shape`` [C, H, W], after the
    enlargement it gives small grids (a column of row names, at most 160 pixels, included)."""
    from ganzoo.grid import enlargement

    h, w = int(shape[-2]), int(shape[-1])
    cols = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    height, width = rows * (h + pad) + pad, cols * (w + pad) + pad
    scale = enlargement(max(height, width), max(h, w))
    return height * scale * (width * scale + 160)


def check_picture(flag: str, n: int, shape: tuple[int, ...], nrow: int | None = None, frames: int = 1) -> None:
    """A grid (or each frame of a walk) of n samples of ``shape``: a picture Pillow can open again,
    and the floats behind it (n x C x H x W x 4 bytes, per frame) within the memory budget."""
    if len(shape) == 1:  # 2-D points: a scatter plot
        check_int(flag, n, 1, SCATTER_MAX, "points in one scatter plot; save more with --npy")
        check_memory(f"{n:,} points", 3 * n * sample_bytes(shape), "lower -n")
        return
    pixels = grid_pixels(n, shape, nrow)
    if pixels > GRID_PIXELS_MAX:
        most = max(1, int(n * GRID_PIXELS_MAX / pixels))
        raise GanzooError(f"{flag} {n:,}: a grid of {n:,} images of {shape[-2]}x{shape[-1]} would have {pixels:,} "
                          f"pixels, more than the {GRID_PIXELS_MAX:,} Pillow opens; lower {flag} to about "
                          f"{most:,} or fewer" + (" (or use --npy)" if frames == 1 else ""))
    # the float samples (4 bytes a value) plus the uint8 grid and its Pillow copy (C bytes a pixel, twice)
    per_frame = n * sample_bytes(shape) + 2 * pixels * int(shape[0])
    check_memory(f"{frames:,} frame(s) of {n:,} samples" if frames > 1 else f"{n:,} samples of {list(shape)}",
                 frames * per_frame, "lower -n" + (" or --interpolate" if frames > 1 else ""))


def training_bytes(batch_size: int, image_size: int, channels: int) -> int:
    """A lower bound on one training step's memory for images, true of any GAN: the real batch,
    the fake batch and the gradient D hands back to G for it, each batch x C x S x S x 4 bytes.
    Feature maps, weights and optimiser state come on top, so only a step that cannot fit even
    this is refused."""
    return 3 * batch_size * channels * image_size * image_size * 4


def check_code_value(text: str, value: float) -> None:
    if abs(value) > CODE_VALUE_MAX:
        raise GanzooError(f"--code {text}: continuous code values must lie in -{CODE_VALUE_MAX:g}..{CODE_VALUE_MAX:g} "
                          "(the priors are U(-1, 1) or N(0, 1)); give a value near them")


def check_not_empty(params: dict[str, Any], names: dict[str, str]) -> None:
    """An empty string for a path or a name is refused: ``--out ''`` would silently mean the default
    (or the current folder), ``--host ''`` every interface."""
    for key, value in params.items():
        values = value if isinstance(value, (tuple, list)) else (value,)
        if any(isinstance(v, str) and not v.strip() for v in values):
            flag = names.get(key, key)
            raise GanzooError(f"{flag} is empty; give a value or leave {flag} out")
