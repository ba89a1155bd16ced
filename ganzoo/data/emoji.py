"""``emoji``: an offline colour image set drawn from Debian's Noto Color Emoji font.

Why this set: every other colour set ganzoo knows (CIFAR-10, an image folder) has to be
downloaded or brought along; the Noto Color Emoji font (``fonts-noto-color-emoji``) and
the Unicode emoji test file (``unicode-data``) are ordinary distribution packages, so a
machine with no network can still train and score a colour GAN with labels.

What it holds: every emoji that ``emoji-test.txt`` lists as *fully-qualified* and that the
font has a bitmap for, labelled by its Unicode **group** (9 classes, in the file's order:
:data:`GROUPS`; the "Component" group, bare skin tones and hair styles, is no picture
of its own and is dropped). With the font and file of Debian 12 that is 1,861 images:

======================  =====    ======================  =====
Smileys & Emotion         166    Travel & Places           218
People & Body             362    Activities                 85
Animals & Nature          152    Objects                   261
Food & Drink              133    Symbols                   223
Flags                     261
======================  =====    ======================  =====

The groups keep their natural frequencies (People & Body is four times Activities): the
set is what the font draws, not a balanced benchmark, so class histograms of real data are
not uniform either, and ``ganzoo eval`` shows the real data's figures beside a model's.

Choices, and why:

- **Skin tones**: only the default (yellow) tone is kept; the 1,785 sequences with a skin
  tone modifier (U+1F3FB..U+1F3FF) are dropped. They are five recolourings of pictures
  already in the set, so keeping them would make People & Body 59 % of the data, count one
  drawing six times, and let a held-out split hold copies of its training images.
- **Duplicates**: a few emoji share one bitmap (Norway, Svalbard and Bouvet Island; France
  and St. Martin; "family" and "family: man, man, boy"; ...); each picture is kept once,
  for the first emoji in file order.
- **Background**: the font's transparent pixels are composited onto plain white, the page
  most emoji are seen on; their dark outlines and eyes stay sharp against it, and a
  constant background is trivial for a generator to learn, so capacity goes to the emoji.
- **Size**: the 136x128 bitmaps are padded with white to 136x136 (centred, no stretch) and
  resized with Pillow's Lanczos filter, which averages over the whole footprint when it
  shrinks, so thin lines do not alias. 32 px by default, 64 px on request; nothing else.
- **Order**: the file's (CLDR) order, so the set is the same on every run.

Decoding takes about a second; the result is cached as uint8 (:mod:`ganzoo.data.cache`),
keyed by the font, the test file and the image size.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ganzoo.data import Data
from ganzoo.data.cache import cache_file, cached
from ganzoo.errors import GanzooError

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
#: The labels: Unicode emoji groups in emoji-test.txt's order ("Component" left out).
GROUPS = ("Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Travel & Places",
          "Activities", "Objects", "Symbols", "Flags")
SIZES = (32, 64)
DEFAULT_SIZE = 32
#: Skin tone modifiers (Fitzpatrick types 1-2 .. 6).
SKIN_TONES = range(0x1F3FB, 0x1F400)
VARIATION_SELECTOR = 0xFE0F  # asks for emoji presentation; the font maps it to no glyph
CACHE_VERSION = 1  # bump when the decoding changes, so old caches are not reused


def _require(path: Path, package: str) -> Path:
    if not path.is_file():
        raise GanzooError(f"the emoji data set needs {path}, which is missing; install it with: "
                          f"apt-get install {package}")
    return path


def _parse_test_file(path: Path) -> list[tuple[tuple[int, ...], int]]:
    """(code points, group index) of every fully-qualified, default-tone emoji, in file order."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GanzooError(f"cannot read {path} ({exc}); reinstall it with: apt-get install --reinstall unicode-data"
                          ) from None
    entries: list[tuple[tuple[int, ...], int]] = []
    group: int | None = None
    for line in text.splitlines():
        if line.startswith("# group:"):
            name = line.split(":", 1)[1].strip()
            group = GROUPS.index(name) if name in GROUPS else None
            continue
        if group is None or line.startswith("#") or ";" not in line:
            continue
        points, rest = line.split(";", 1)
        if rest.split("#", 1)[0].strip() != "fully-qualified":
            continue
        try:
            seq = tuple(int(p, 16) for p in points.split())
        except ValueError:
            continue
        if seq and not any(p in SKIN_TONES for p in seq):
            entries.append((seq, group))
    if not entries:
        raise GanzooError(f"{path} lists no fully-qualified emoji in the groups {', '.join(GROUPS)}; "
                          "reinstall it with: apt-get install --reinstall unicode-data")
    return entries


def _glyph_bitmaps(font: Path) -> tuple[dict[int, str], dict[tuple[str, ...], str], dict[str, bytes]]:
    """(code point -> glyph, glyph sequence -> ligature glyph, glyph -> PNG) from the font.

    A single code point is drawn by its cmap glyph; a sequence (ZWJ sequences, flags,
    keycaps) by the ligature the font's GSUB ligature lookups make of its glyphs."""
    try:
        from fontTools.ttLib import TTFont
    except ImportError:
        raise GanzooError("the emoji data set reads the font with fontTools: pip install fonttools") from None
    try:
        tt = TTFont(str(font), lazy=True)
        cmap = tt.getBestCmap()
        ligatures: dict[tuple[str, ...], str] = {}
        for lookup in tt["GSUB"].table.LookupList.Lookup:
            if lookup.LookupType != 4:  # ligature substitution
                continue
            for sub in lookup.SubTable:
                for first, ligs in sub.ligatures.items():
                    for lig in ligs:
                        ligatures.setdefault((first, *lig.Component), lig.LigGlyph)
        strike = max(tt["CBDT"].strikeData, key=len)
        return cmap, ligatures, {name: bitmap.imageData for name, bitmap in strike.items()}
    except Exception as exc:  # a damaged font file can fail anywhere inside fontTools
        raise GanzooError(f"cannot read the colour bitmaps of {font} ({type(exc).__name__}: {exc}); reinstall it "
                          "with: apt-get install --reinstall fonts-noto-color-emoji") from None


def _draw(png: bytes, size: int) -> np.ndarray:
    """One bitmap on white, padded square and resized: uint8 [3, size, size]."""
    from PIL import Image

    glyph = Image.open(io.BytesIO(png)).convert("RGBA")
    side = max(glyph.size)
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.alpha_composite(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
    picture = canvas.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(picture, dtype=np.uint8).transpose(2, 0, 1)


def decode(size: int = DEFAULT_SIZE, font: Path | None = None, test_file: Path | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images [N, 3, size, size], int64 group labels [N]) straight from the font, no cache."""
    entries = _parse_test_file(_require(test_file or EMOJI_TEST, "unicode-data"))
    cmap, ligatures, bitmaps = _glyph_bitmaps(_require(font or FONT, "fonts-noto-color-emoji"))
    images, labels, seen = [], [], set()  # seen: the PNGs drawn so far (a few glyphs share one picture)
    for seq, group in entries:
        if any(p != VARIATION_SELECTOR and p not in cmap for p in seq):
            continue
        glyphs = tuple(cmap[p] for p in seq if p != VARIATION_SELECTOR)
        glyph = glyphs[0] if len(glyphs) == 1 else ligatures.get(glyphs)
        if glyph is None or glyph not in bitmaps or bitmaps[glyph] in seen:
            continue
        seen.add(bitmaps[glyph])
        try:
            images.append(_draw(bitmaps[glyph], size))
        except (OSError, ValueError) as exc:
            raise GanzooError(f"the bitmap of glyph {glyph} in {font or FONT} is not a readable PNG ({exc}); "
                              "reinstall it with: apt-get install --reinstall fonts-noto-color-emoji") from None
        labels.append(group)
    if not images:
        raise GanzooError(f"{font or FONT} draws none of the emoji in {test_file or EMOJI_TEST}; install Debian's "
                          "colour emoji font with: apt-get install fonts-noto-color-emoji")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def cache_path(size: int, data_dir: str | Path | None = None) -> Path:
    """The cache file for ``size`` px: a new name whenever the font or the test file changes."""
    sources = (_require(FONT, "fonts-noto-color-emoji"), _require(EMOJI_TEST, "unicode-data"))
    return cache_file("emoji", f"emoji-{size}px", sources, CACHE_VERSION, size, data_dir=data_dir)


def fits(size: int) -> Callable[[np.ndarray, np.ndarray], bool]:
    """What a cache file of ``size`` px must hold: uint8 images and labels that are groups."""
    return lambda x, y: (x.dtype == np.uint8 and x.ndim == 4 and x.shape[1:] == (3, size, size)
                         and int(y.min()) >= 0 and int(y.max()) < len(GROUPS))


def emoji(arg: str | None = None, data_dir: str | None = None, download: bool = False,
          seed: int = 0, image_size: int | None = None) -> Data:
    """1,861 Noto colour emoji on white, 32 (or 64) px, labelled by Unicode group; see the module docs."""
    size = DEFAULT_SIZE if image_size is None else image_size
    if size not in SIZES:
        raise GanzooError(f"the emoji data set is drawn at 32 or 64 px, not {size}: pass --image-size 32 or 64")
    x, y = cached(cache_path(size, data_dir), lambda: decode(size), fits(size))
    return Data("emoji", torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y), num_classes=len(GROUPS),
                class_names=list(GROUPS))


#: Images in the limited-data subset (``emoji-1k``), the regime ADA and DiffAugment were made for.
SUBSET = 1000


def subset_indices(labels: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` indices drawn without replacement, each group keeping its share of the set
    (largest remainders decide the last few), in the set's order. The draw belongs to the
    data set, not to a run: the same seed gives every run the same images."""
    rng = np.random.default_rng(seed)
    groups = np.unique(labels)
    sizes = np.array([(labels == g).sum() for g in groups])
    exact = sizes * count / len(labels)
    take = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - take), kind="stable")[: count - int(take.sum())]:
        take[i] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == g))[:k] for g, k in zip(groups, take)]
    return np.sort(np.concatenate(chosen))


def emoji_1k(arg: str | None = None, data_dir: str | None = None, download: bool = False,
             seed: int = 0, image_size: int | None = None) -> Data:
    """1,000 of the emoji, every group at its share, always the same ones: the limited-data
    benchmark on which augmentation (``--augment ada`` or ``diffaug``) is compared. ``ganzoo
    eval`` scores it against the whole emoji set, as Karras et al. 2020 score their subsets
    against the full data set: copying the 1,000 training images is not a perfect score."""
    full = emoji(arg, data_dir, download, seed, image_size)
    labels = full.y
    assert labels is not None  # the emoji set is labelled by group
    index = torch.from_numpy(subset_indices(labels.numpy(), SUBSET))
    return Data("emoji-1k", full.x[index], labels[index], num_classes=len(GROUPS), class_names=list(GROUPS))
