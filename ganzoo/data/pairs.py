"""Translation sets: images paired with what a generator should turn them into, or two
unpaired domains. The built-in ones are derived from what ships, offline and deterministic:

- ``edges2digits`` (pairs): the digit's 1-px outline -> the mnist5k digit, 1x32x32; 500 held out (50 per class).
- ``digits-x4`` (pairs): the digit's 4x4 box average, 1x8x8 -> the digit, 1x32x32; 500 held out.
- ``masked-digits`` (pairs): the digit with a 12-px mid-grey square -> the digit, 1x32x32; 500 held out.
- ``emoji-x4`` (pairs): the emoji's 4x4 box average, 3x8x8 -> the emoji, 3x32x32; 186 held out (10 %).
- ``grey2emoji`` (pairs): luminance, 1x32x32 -> the colour emoji, 3x32x32; 186 held out (10 %).
- ``digits2textured`` (domains): half of mnist5k as grey 3x32x32 -> the other half on colour
  textures, 3x32x32; 250 of each domain held out (25 per class).

Rules every set here keeps:

- **uint8** pixels, white digits on black as mnist5k has them; the digits are mnist5k's 28x28
  padded by 2 px to 32x32 (the size the convolutional stacks take), or that resized to 64 px
  with ``--image-size 64``. The emoji sets take 32 or 64 px as ``emoji`` does; nothing else.
- **The same set on every run**: whatever is drawn at random (the holes' places, the textures,
  the emoji held out) comes from a seed that belongs to the set (:data:`SET_SEED`), never from
  the run's ``--seed``.
- **Held out**: the last ``held_out`` samples (of ``x`` and of ``source``) are never trained
  on. The digit sets hold out the last 50 of every class in mnist5k's order, the unpaired set
  the last 25 of every class of each half, and the emoji sets a fixed group-stratified tenth.
  The digit sets' samples come class after class (0, 1, ..., 9, 0, 1, ...) in each block, so
  any prefix of either block is balanced.
- **Labels**: ``y`` labels the targets (digits, or emoji groups), ``source_y`` the unpaired
  set's domain A.

Users' own data (:func:`pairs`, :func:`domains`) go through :class:`ImageFiles`: every file
gets the same header checks, limits and one-line errors as ``folder:PATH``, and the images
are brought to a square side by the folder set's rules; see docs/data.md.
"""

from __future__ import annotations

import io
import statistics
import sys
import warnings
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np
import torch
import torch.nn.functional as F

from ganzoo.data import Data
from ganzoo.data.files import (
    _FORMATS,
    IMAGE_SUFFIXES,
    LABELS_FILE,
    SKIP_HINT,
    ImageFiles,
    _Bad,
    _check_pixels,
    _pil,
    _reason,
    _square,
    list_names,
)
from ganzoo.data.images import DIGIT_NAMES, _resize, mnist5k
from ganzoo.errors import GanzooError

#: The sides the digit sets are made at: mnist5k padded to 32, or that resized to 64.
SIZES = (32, 64)
#: Seeds the sets' own random draws (hole places, textures, the emoji held out): a property of
#: the set, not of a run.
SET_SEED = 20_240_601
#: Paired digit sets: the last this many of every class (in mnist5k's order) are held out.
HELD_PER_CLASS = 50
#: digits2textured: each domain takes this many digits of every class, and holds out the last
#: ``HELD_PER_DOMAIN_CLASS`` of them.
HALF_PER_CLASS = 250
HELD_PER_DOMAIN_CLASS = 25
#: The emoji sets hold out this share of every group (a fixed draw).
EMOJI_HELD = 0.1
#: masked-digits: the hole's side at 32 px (twice that at 64), and the grey it is filled with.
HOLE = 12
HOLE_GREY = 128
#: The area downsampling factor of the x4 sets.
FACTOR = 4
#: ITU-R BT.601 luma weights, in thousandths: grey = (299 R + 587 G + 114 B) / 1000.
LUMA = (299, 587, 114)
#: Users' folders: the sub-folders of the A/B layout.
A, B = "A", "B"


# -- shared pieces ---------------------------------------------------------------------------------
def _size(name: str, image_size: int | None, sizes: tuple[int, ...] = SIZES) -> int:
    size = sizes[0] if image_size is None else image_size
    if size not in sizes:
        allowed = " or ".join(map(str, sizes))
        raise GanzooError(f"the {name} data set is made at {allowed} px, not {size}: pass --image-size {allowed}")
    return size


def _padded_digits(size: int, data_dir: str | None) -> tuple[torch.Tensor, np.ndarray]:
    """mnist5k's digits padded by 2 px to 32x32, resized to ``size``: (uint8 [5000, 1, size, size], labels)."""
    digits = mnist5k(data_dir=data_dir)
    assert digits.y is not None  # mnist5k is labelled
    return _resize(F.pad(digits.x, (2, 2, 2, 2)), size), digits.y.numpy()


def _interleave(by_class: list[np.ndarray]) -> np.ndarray:
    """Equal-length index lists, one per class, as 0, 1, ..., 9, 0, 1, ...: every prefix balanced."""
    return np.stack(by_class, axis=1).reshape(-1)


def _digit_order(labels: np.ndarray, per_class: int | None = None, held: int = HELD_PER_CLASS,
                 part: int = 0) -> tuple[np.ndarray, int]:
    """(indices: the training block then the held-out block, each interleaved by class; held-out count).

    Every class's indices in mnist5k's order are cut into runs of ``per_class`` (all of them when
    None) and run ``part`` is taken; its last ``held`` are held out."""
    train, heldout = [], []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        if per_class is not None:
            idx = idx[part * per_class:(part + 1) * per_class]
        train.append(idx[:-held])
        heldout.append(idx[-held:])
    return np.concatenate([_interleave(train), _interleave(heldout)]), held * 10


def area_downsample(x: torch.Tensor, factor: int = FACTOR) -> torch.Tensor:
    """uint8 images averaged over factor x factor blocks, rounded half to even: the x4 sets' sources."""
    return F.avg_pool2d(x.float(), factor).round().to(torch.uint8)


def outline(x: torch.Tensor) -> torch.Tensor:
    """The 1-px outline of white-on-black uint8 images: the pixels outside the stroke (below 128)
    that touch it across an edge (4-neighbourhood), white (255) on black."""
    ink = x > 127
    grown = ink.clone()
    grown[..., 1:, :] |= ink[..., :-1, :]
    grown[..., :-1, :] |= ink[..., 1:, :]
    grown[..., :, 1:] |= ink[..., :, :-1]
    grown[..., :, :-1] |= ink[..., :, 1:]
    return (grown & ~ink).to(torch.uint8) * 255


def hole_corners(count: int, size: int) -> np.ndarray:
    """masked-digits' holes: (top, left) of each image's square hole, int64 [count, 2], in mnist5k's
    order. Drawn on the 32-px grid so that the 64-px set has its holes in the same places."""
    rng = np.random.default_rng(SET_SEED)
    corners = rng.integers(4, 32 - 4 - HOLE + 1, size=(count, 2))  # inside the digits' 4..28 box
    return corners * (size // 32)


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 3, H, W] -> uint8 [N, 1, H, W] with ITU-R 601 weights, rounded (integer arithmetic)."""
    r, g, b = (rgb[:, i:i + 1].to(torch.int32) for i in range(3))
    return ((LUMA[0] * r + LUMA[1] * g + LUMA[2] * b + 500) // 1000).to(torch.uint8)


def _paired_digits(name: str, domains: tuple[str, str], image_size: int | None, data_dir: str | None,
                   make_source: Callable[[torch.Tensor, int], torch.Tensor]) -> Data:
    size = _size(name, image_size)
    x, labels = _padded_digits(size, data_dir)
    order, held = _digit_order(labels)
    index = torch.from_numpy(order)
    source = make_source(x, size)[index]
    return Data(name, x[index].contiguous(), torch.from_numpy(labels[order]), num_classes=10, kind="pairs",
                class_names=DIGIT_NAMES, source=source.contiguous(), domains=domains, held_out=held)


# -- the digit sets ----------------------------------------------------------------------------------
def edges2digits(arg: str | None = None, data_dir: str | None = None, download: bool = False,
                 seed: int = 0, image_size: int | None = None) -> Data:
    """mnist5k's 5,000 digits at 32 (or 64) px, each from its 1-px outline (:func:`outline`)."""
    return _paired_digits("edges2digits", ("edges", "digits"), image_size, data_dir, lambda x, size: outline(x))


def digits_x4(arg: str | None = None, data_dir: str | None = None, download: bool = False,
              seed: int = 0, image_size: int | None = None) -> Data:
    """x4 super-resolution: mnist5k's digits at 32 (or 64) px from their 4x4 box averages, 8 (or 16) px."""
    return _paired_digits("digits-x4", ("8px", "32px") if (image_size or 32) == 32 else ("16px", "64px"),
                          image_size, data_dir, lambda x, size: area_downsample(x))


def masked_digits(arg: str | None = None, data_dir: str | None = None, download: bool = False,
                  seed: int = 0, image_size: int | None = None) -> Data:
    """Inpainting: mnist5k's digits from copies with a 12-px (24 at 64 px) square of mid-grey
    (128) in place of the digit, at a place fixed per image (:func:`hole_corners`)."""

    def mask(x: torch.Tensor, size: int) -> torch.Tensor:
        side = HOLE * (size // 32)
        corners = torch.from_numpy(hole_corners(len(x), size))
        rows = torch.arange(size)
        inside_r = (rows >= corners[:, :1]) & (rows < corners[:, :1] + side)  # [N, size]
        inside_c = (rows >= corners[:, 1:]) & (rows < corners[:, 1:] + side)
        hole = (inside_r[:, :, None] & inside_c[:, None, :]).unsqueeze(1)
        return torch.where(hole, torch.tensor(HOLE_GREY, dtype=torch.uint8), x)

    return _paired_digits("masked-digits", ("masked", "digits"), image_size, data_dir, mask)


def _smooth_noise(gen: torch.Generator, n: int, size: int, octaves: tuple[int, ...] = (2, 4, 8)) -> torch.Tensor:
    """[n, 1, size, size] in [0, 1]: octaves of uniform noise at low resolution, upsampled bilinearly
    (halving amplitude per octave), stretched to the whole range per image."""
    out = torch.zeros(n, 1, size, size)
    amp, total = 1.0, 0.0
    for res in octaves:
        noise = torch.rand(n, 1, res, res, generator=gen)
        out += amp * F.interpolate(noise, size=(size, size), mode="bilinear", align_corners=False)
        total += amp
        amp /= 2
    low, high = out.amin((1, 2, 3), keepdim=True), out.amax((1, 2, 3), keepdim=True)
    return (out - low) / (high - low).clamp(min=1e-6)


def textures(n: int, size: int, seed: int = SET_SEED) -> torch.Tensor:
    """uint8 [n, 3, size, size] smooth saturated colour fields: a hue spread over a third of the
    colour wheel around a random one, saturation 0.7..1 and value 0.75..1, each a smooth noise
    field. The noise is drawn at 2..8 px and the colours made at 32 px, then upsampled bilinearly
    to ``size``: 32 and 64 px give the same textures (and 64 px costs little more)."""
    gen = torch.Generator().manual_seed(seed)
    base = min(size, 32)
    hue = (0.3 * _smooth_noise(gen, n, base) + torch.rand(n, 1, 1, 1, generator=gen)) % 1.0
    sat = 0.7 + 0.3 * _smooth_noise(gen, n, base)
    val = 0.75 + 0.25 * _smooth_noise(gen, n, base)

    def channel(k0: float) -> torch.Tensor:  # HSV -> RGB, one channel
        k = (k0 + hue * 6) % 6
        return val - val * sat * torch.clamp(torch.minimum(k, 4 - k), 0, 1)

    rgb = torch.cat([channel(5), channel(3), channel(1)], 1)
    if size != base:
        rgb = F.interpolate(rgb, size=(size, size), mode="bilinear", align_corners=False)
    return (rgb * 255).round().clamp(0, 255).to(torch.uint8)


def digits2textured(arg: str | None = None, data_dir: str | None = None, download: bool = False,
                    seed: int = 0, image_size: int | None = None) -> Data:
    """Unpaired, in the spirit of MNIST-M (Ganin et al. 2016): domain A (``source``) is one half
    of mnist5k (the first 250 of every class) as 3-channel grey, domain B (``x``) the other half
    blended onto colour textures (:func:`textures`) as |texture - digit| per channel, so the
    digit takes the texture's complementary colour. 2,500 images each, 250 of each held out."""
    size = _size("digits2textured", image_size)
    x, labels = _padded_digits(size, data_dir)
    order_a, held = _digit_order(labels, HALF_PER_CLASS, HELD_PER_DOMAIN_CLASS, part=0)
    order_b, _ = _digit_order(labels, HALF_PER_CLASS, HELD_PER_DOMAIN_CLASS, part=1)
    plain = x[torch.from_numpy(order_a)].expand(-1, 3, -1, -1).contiguous()
    digits_b = x[torch.from_numpy(order_b)].to(torch.int16)
    textured = (textures(len(order_b), size).to(torch.int16) - digits_b).abs().to(torch.uint8)
    return Data("digits2textured", textured, torch.from_numpy(labels[order_b]), num_classes=10, kind="domains",
                class_names=DIGIT_NAMES, source=plain, source_y=torch.from_numpy(labels[order_a]),
                domains=("plain", "textured"), held_out=held)


# -- the emoji sets ----------------------------------------------------------------------------------
def _emoji(name: str, image_size: int | None, data_dir: str | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(emoji uint8 [N, 3, s, s], group labels, held-out count), the held-out tenth last."""
    from ganzoo.data.emoji import SIZES as EMOJI_SIZES
    from ganzoo.data.emoji import emoji, subset_indices

    size = _size(name, image_size, EMOJI_SIZES)
    full = emoji(data_dir=data_dir, image_size=size)
    assert full.y is not None  # grouped
    labels = full.y.numpy()
    held = subset_indices(labels, round(EMOJI_HELD * len(labels)), seed=SET_SEED)
    train = np.setdiff1d(np.arange(len(labels)), held)
    index = torch.from_numpy(np.concatenate([train, held]))
    return full.x[index].contiguous(), full.y[index], len(held)


def emoji_x4(arg: str | None = None, data_dir: str | None = None, download: bool = False,
             seed: int = 0, image_size: int | None = None) -> Data:
    """x4 super-resolution of colour emoji: 32 (or 64) px from their 4x4 box averages, 8 (or 16) px."""
    from ganzoo.data.emoji import GROUPS

    x, y, held = _emoji("emoji-x4", image_size, data_dir)
    low = x.shape[-1] // FACTOR
    return Data("emoji-x4", x, y, num_classes=len(GROUPS), kind="pairs", class_names=list(GROUPS),
                source=area_downsample(x), domains=(f"{low}px", f"{x.shape[-1]}px"), held_out=held)


def grey2emoji(arg: str | None = None, data_dir: str | None = None, download: bool = False,
               seed: int = 0, image_size: int | None = None) -> Data:
    """Colourization: colour emoji from their luminance (ITU-R 601 weights, one channel)."""
    from ganzoo.data.emoji import GROUPS

    x, y, held = _emoji("grey2emoji", image_size, data_dir)
    return Data("grey2emoji", x, y, num_classes=len(GROUPS), kind="pairs", class_names=list(GROUPS),
                source=luminance(x), domains=("grey", "colour"), held_out=held)


# -- users' folders ----------------------------------------------------------------------------------
PAIRS_LAYOUT = ("pairs:PATH takes side-by-side images (the source in the left half, the target in the right) "
                "or A/ and B/ sub-folders holding the same file names")
DOMAINS_LAYOUT = ("domains:PATH takes A/ (source domain) and B/ (target domain) sub-folders, or CycleGAN's "
                  "trainA/ and trainB/ (with testA/ and testB/ held out)")
FIX_FILE = "remove or replace the file (GANZOO_SKIP_BAD_IMAGES does not apply to pairs: and domains:)"


class _SideBySide(ImageFiles):
    """Side-by-side A|B images: item ``i`` is uint8 [6, size, size], the left half's RGB then the
    right half's, each centre-cropped to a square and resized as ``folder:PATH`` does."""

    def _decode(self, i: int) -> torch.Tensor:
        Image = _pil()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(self._read(i)), formats=_FORMATS) as im:
                    _check_pixels(*im.size)
                    rgb = im.convert("RGB")
            w, h = rgb.size
            if w % 2:
                raise _Bad(f"{w} px wide, an odd width")
            halves = [_square(rgb.crop(box), self.size) for box in ((0, 0, w // 2, h), (w // 2, 0, w, h))]
        except _Bad:
            raise
        except Exception as exc:  # truncated data, a file gone: this file's fault
            raise _Bad(_reason(exc)) from None
        return torch.from_numpy(np.concatenate(halves, axis=2)).permute(2, 0, 1).contiguous()


def _where(root: Path, name: str) -> str:
    return f"{root}:{name}" if root.is_file() else str(root / name)


def _listing(root: Path, flag: str, layout: str) -> list[str]:
    """The image files under ``root`` (a folder or a zip archive), checked as folder:PATH checks
    them; files that cannot be used (broken links, over the size limit) stop here, named."""
    names, unusable, _ = list_names(root, flag)
    names = [n for n in names if PurePosixPath(n).name != LABELS_FILE]
    for name in names:
        if name in unusable:
            raise GanzooError(f"cannot read image '{_where(root, name)}': {unusable[name]}; {FIX_FILE}")
    if not names:
        raise GanzooError(f"'{root}' holds no images ({' '.join(IMAGE_SUFFIXES)}); {layout}")
    return names


def _top(name: str) -> str:
    """The top folder of a member name ("" for a file at the top)."""
    return name.split("/", 1)[0] if "/" in name else ""


def _only(root: Path, names: list[str], allowed: tuple[str, ...], layout: str) -> None:
    stray = [n for n in names if _top(n) not in allowed]
    if stray:
        folders = ", ".join(f"{a}/" for a in allowed)
        raise GanzooError(f"'{_where(root, stray[0])}' is outside {folders}: with those sub-folders nothing else "
                          f"may be there; move it out ({layout})")


def _sizes(files: ImageFiles, side_by_side: bool = False) -> list[tuple[int, int]]:
    """Every image's (width, height) from its header, or one line naming the file that is no usable image."""
    sizes = []
    for i in range(len(files)):
        try:
            _, w, h = files._header(i)
        except _Bad as bad:
            raise GanzooError(f"cannot read image '{files._where(i)}': {bad}; {FIX_FILE}") from None
        if side_by_side and w % 2:
            raise GanzooError(f"'{files._where(i)}' is {w} px wide, an odd width, so it has no left and right "
                              "halves of one size: a side-by-side pair is the source and the target side by side, "
                              "each half as wide; crop one column off, or use A/ and B/ sub-folders")
        sizes.append((w // 2 if side_by_side else w, h))
    files._close()
    return sizes


def _decoded(files: ImageFiles) -> torch.Tensor:
    try:
        return files.load().x
    except GanzooError as exc:  # the folder set's hint names GANZOO_SKIP_BAD_IMAGES, which does not apply here
        raise GanzooError(str(exc).replace(SKIP_HINT, FIX_FILE)) from None


def _channels(x: torch.Tensor) -> torch.Tensor:
    """RGB images whose every pixel is grey become one channel."""
    if x.shape[1] == 3 and bool((x[:, 0] == x[:, 1]).all()) and bool((x[:, 1] == x[:, 2]).all()):
        return x[:, :1].contiguous()
    return x


def _note(files: ImageFiles) -> None:
    if files.size_note:
        print(files.size_note, file=sys.stderr)


def _median_side(sizes: list[tuple[int, int]]) -> float:
    return float(statistics.median(min(w, h) for w, h in sizes))


def _matched(root: Path, names: list[str], prefix: str) -> list[tuple[str, str]]:
    """(A file, B file) pairs of ``prefix``A/ and ``prefix``B/, matched by path without suffix."""
    sides: dict[str, dict[str, str]] = {A: {}, B: {}}
    for name in names:
        rel = name[len(prefix):]
        side, _, inner = rel.partition("/")
        key = str(PurePosixPath(inner).with_suffix(""))
        if key in sides[side]:
            raise GanzooError(f"'{_where(root, sides[side][key])}' and '{_where(root, name)}' have one name, so "
                              "neither has a single partner (pairs match by file name, the suffix aside); "
                              "rename or remove one of them")
        sides[side][key] = name
    for side, other in ((A, B), (B, A)):
        lonely = sorted(set(sides[side]) - set(sides[other]))
        if lonely:
            more = f" ({len(lonely):,} files have none)" if len(lonely) > 1 else ""
            raise GanzooError(f"'{_where(root, sides[side][lonely[0]])}' has no partner in {prefix}{other}/{more}: "
                              f"pairs match by file name, the suffix aside; add {prefix}{other}/{lonely[0]}.* "
                              "or remove it")
    return [(sides[A][k], sides[B][k]) for k in sorted(sides[A])]


def _pair_parts(root: Path, names: list[str]) -> tuple[list[list[str]], list[list[tuple[str, str]]]]:
    """The training and held-out parts (pix2pix's train/ and test/ or val/ sub-folders; without
    train/, everything trains): side-by-side files, or A/B pairs, per part."""
    tops = {_top(n) for n in names}
    if "train" in tops:
        held = "test" if "test" in tops else ("val" if "val" in tops else None)
        _only(root, names, ("train", "val", "test"), PAIRS_LAYOUT)
        prefixes = ["train/"] + ([f"{held}/"] if held else [])
    else:
        prefixes = [""]
    side_by_side: list[list[str]] = []
    ab: list[list[tuple[str, str]]] = []
    for prefix in prefixes:
        part = [n for n in names if n.startswith(prefix)]
        inner = {_top(n[len(prefix):]) for n in part}
        if A in inner or B in inner:
            missing = B if A in inner else A
            if missing not in inner:
                present = A if missing == B else B
                raise GanzooError(f"'{_where(root, prefix + present)}' has no partner folder {prefix}{missing}/; "
                                  f"add it, holding the same file names ({PAIRS_LAYOUT})")
            _only(root, [n[len(prefix):] for n in part], (A, B), PAIRS_LAYOUT)
            ab.append(_matched(root, part, prefix))
        else:
            side_by_side.append(part)
    if side_by_side and ab:
        raise GanzooError(f"'{root}' mixes side-by-side images with A/ and B/ sub-folders between train/ and "
                          f"{prefixes[-1]}; use one layout for both")
    return side_by_side, ab


def pairs(arg: str | None = None, data_dir: str | None = None, download: bool = False,
          seed: int = 0, image_size: int | None = None) -> Data:
    """Users' paired images, ``pairs:PATH`` (a folder or a zip archive): either side-by-side
    images as pix2pix's data sets come (source left half, target right half; any sub-folders),
    or ``A/`` (sources) and ``B/`` (targets) holding the same file names (suffixes may differ).
    Both sides come to one square side by ``folder:PATH``'s rules (``--image-size`` overrides);
    A/B pairs whose targets are k >= 2 times as large as their sources (super-resolution) keep
    that factor. A side whose pixels are all grey is one channel. With pix2pix's ``train/`` and
    ``test/`` (or ``val/``) sub-folders the latter are held out; else nothing is."""
    name = f"pairs:{arg}"
    root = Path(arg or "").expanduser()
    names = _listing(root, "pairs", PAIRS_LAYOUT)
    side_by_side, ab = _pair_parts(root, names)
    if side_by_side:
        members = side_by_side[0] + (side_by_side[1] if len(side_by_side) > 1 else [])
        held = len(side_by_side[1]) if len(side_by_side) > 1 else 0
        files = _SideBySide(name, root, members, None, 0, 64, 6)
        files._fit(_sizes(files, side_by_side=True), image_size)
        _note(files)
        both = _decoded(files)
        source, target = _channels(both[:, :3]), _channels(both[:, 3:])
    else:
        chosen = ab[0] + (ab[1] if len(ab) > 1 else [])
        held = len(ab[1]) if len(ab) > 1 else 0
        files_a = ImageFiles(f"{name} (A)", root, [a for a, _ in chosen], None, 0, 64, 3)
        files_b = ImageFiles(f"{name} (B)", root, [b for _, b in chosen], None, 0, 64, 3)
        sizes_a, sizes_b = _sizes(files_a), _sizes(files_b)
        for i, ((wa, ha), (wb, hb)) in enumerate(zip(sizes_a, sizes_b)):
            if abs(wa / ha - wb / hb) > 0.02 * max(wa / ha, wb / hb):
                raise GanzooError(f"'{files_a._where(i)}' is {wa}x{ha} px but its partner '{files_b._where(i)}' is "
                                  f"{wb}x{hb}: a pair's images must have one shape (or one a scaled copy of the "
                                  "other), or their square crops would not match; crop or resize one of them")
        ratio = _median_side(sizes_b) / _median_side(sizes_a)
        factor = max(1, round(ratio)) if ratio >= 1.5 else 1
        files_b._fit(sizes_b, image_size)
        if image_size is None:
            files_a._fit(sizes_a, None)  # stops on a source image it would enlarge over 2x
        files_a._fit(sizes_a, max(4, files_b.size // factor))
        _note(files_b)
        if factor > 1 and image_size is None and any((w, h) != (files_a.size,) * 2 for w, h in sizes_a):
            print(f"note: {name}: sources at {files_a.size} px, 1/{factor} of the targets' {files_b.size} px, as their "
                  f"median side is {ratio:.1f}x smaller", file=sys.stderr)
        source, target = _channels(_decoded(files_a)), _channels(_decoded(files_b))
    if held >= len(target):
        raise GanzooError(f"'{root}/train' holds no pairs to train on; put the training pairs there")
    return Data(name, target, None, kind="pairs", source=source, domains=("A", "B"), held_out=held)


def domains(arg: str | None = None, data_dir: str | None = None, download: bool = False,
            seed: int = 0, image_size: int | None = None) -> Data:
    """Users' unpaired images, ``domains:PATH`` (a folder or a zip archive): ``A/`` (the source
    domain) and ``B/`` (the target domain), any number of images each, nothing held out; or
    CycleGAN's ``trainA/``, ``trainB/``, ``testA/``, ``testB/``, where as many test images of
    each domain as the smaller test folder holds are held out (the rest of the larger one is
    left out). Both domains come to one square side by ``folder:PATH``'s rules over all their
    images (``--image-size`` overrides); a domain whose pixels are all grey is one channel."""
    name = f"domains:{arg}"
    root = Path(arg or "").expanduser()
    names = _listing(root, "domains", DOMAINS_LAYOUT)
    tops = {_top(n) for n in names}
    if tops & {"trainA", "trainB", "testA", "testB"}:
        folders = ("trainA", "trainB", "testA", "testB")
    elif tops & {A, B}:
        folders = (A, B, "", "")
    else:
        raise GanzooError(f"'{root}' has no A/ and B/ sub-folders; {DOMAINS_LAYOUT}")
    _only(root, names, tuple(f for f in folders if f), DOMAINS_LAYOUT)
    listed = {f: [n for n in names if f and _top(n) == f] for f in folders}
    for first, second in ((folders[0], folders[1]), (folders[1], folders[0]), (folders[2], folders[3]),
                          (folders[3], folders[2])):
        if listed[first] and not listed[second]:
            raise GanzooError(f"'{_where(root, first)}' has no partner folder {second}/ with images; add it "
                              f"({DOMAINS_LAYOUT})")
    if not listed[folders[0]]:
        raise GanzooError(f"'{_where(root, folders[0])}' holds no images to train on; put the training images of "
                          f"each domain in {folders[0]}/ and {folders[1]}/ ({DOMAINS_LAYOUT})")
    held = min(len(listed[folders[2]]), len(listed[folders[3]])) if folders[2] else 0
    side_a = listed[folders[0]] + (listed[folders[2]][:held] if held else [])
    side_b = listed[folders[1]] + (listed[folders[3]][:held] if held else [])
    files = ImageFiles(name, root, side_a + side_b, None, 0, 64, 3)
    files._fit(_sizes(files), image_size)
    _note(files)
    both = _decoded(files)
    source, target = _channels(both[:len(side_a)]), _channels(both[len(side_a):])
    return Data(name, target, None, kind="domains", source=source, domains=("A", "B"), held_out=held)
