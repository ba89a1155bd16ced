"""Run an image-to-image export with numpy, Pillow and onnxruntime only (no torch).

An export whose metadata says ``ganzoo.task`` = "translate" (pix2pix, CycleGAN, SRGAN; see
:mod:`ganzoo.onnx.translation`) takes ``source`` float32 [batch, C, height, width] in [-1, 1]
and returns ``images`` float32 [batch, C', scale x height, scale x width] in [-1, 1]. This
module turns pictures into such sources and the outputs back into pictures
(``ganzoo translate``, the demo's upload):

    from ganzoo.onnx import translate
    T = translate.load("exports/pix2pix.onnx")        # provider="auto", as runtime.load
    out = T.translate(x)                              # x float32 [n, C, H, W] in [-1, 1], any H, W
    T.translate_file("edges.png", "digit.png")        # a picture in, a PNG out

- Pictures are read header first: the size is checked against the limits before any pixel is
  decoded (Pillow's decompression-bomb check made an error), then brought to the file's channel
  count: RGB to grey by ITU-R 601 luminance, grey to RGB by replication, transparency composited
  on white, 16-bit and float pictures scaled to 8 bits; EXIF orientation is applied.
- Sides the network cannot take (``ganzoo.multiple``; and anything under the training size) are
  padded by reflection and the output cropped back, so any picture size works.
- A network that takes any side (``ganzoo.multiple`` = 1: super-resolution) runs large pictures
  in overlapping tiles (:data:`~ganzoo.limits.TILE_DEFAULT` source pixels, the outer
  :data:`~ganzoo.limits.TILE_OVERLAP` of each only context, cropped away at the seams), so memory
  stays bounded whatever the size; a network that sees the whole image at once is refused above
  :data:`~ganzoo.limits.WHOLE_IMAGE_PIXELS_MAX` pixels.
- Pictures of one size run together, up to :data:`~ganzoo.limits.TRANSLATE_CALL_PIXELS` output
  pixels per onnxruntime call; tiles likewise.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganzoo import limits, schema
from ganzoo.errors import GanzooError, writing
from ganzoo.onnx import IMAGES, SOURCE
from ganzoo.onnx.runtime import _short, is_translator, open_file
from ganzoo.onnx.session import CUDA

#: Files a folder is read for (the training folders' list), and the decoders Pillow may pick for them.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "GIF", "TIFF")
#: Set to 1 to leave out unreadable images of a folder (with a count) instead of stopping: the
#: same switch as for training folders (ganzoo.data.files).
SKIP_ENV = "GANZOO_SKIP_BAD_IMAGES"
SKIP_HINT = f"remove or replace the file, or set {SKIP_ENV}=1 to skip unreadable images"
#: Pillow modes of each channel count a picture can be brought to (grey, RGB, RGBA).
PICTURE_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
#: Largest scale factor and size multiple a file may declare; longest domain name kept.
MAX_SCALE, MAX_MULTIPLE, MAX_DOMAIN = 64, 4096, schema.MAX_DOMAIN_NAME
#: White space between the two halves of a side-by-side picture.
GAP = 4


def skip_requested() -> bool:
    return os.environ.get(SKIP_ENV, "").strip().lower() in ("1", "true", "yes")


class BadImage(Exception):
    """A picture that cannot be used; the message is the reason, for one line naming the file."""


class TooLarge(BadImage):
    """A picture over a size limit (bytes or pixels), found before its pixels were decoded."""


# -- the file ------------------------------------------------------------------------------------
def _meta_shape(path: Path, metadata: dict[str, str], key: str) -> tuple[int, int, int]:
    from ganzoo.schema import MAX_SIDE

    text = metadata.get(key, "")
    try:
        dims = json.loads(text) if len(text) <= 200 else None
    except (ValueError, RecursionError):
        dims = None
    if not (isinstance(dims, list) and len(dims) == 3 and all(type(d) is int for d in dims)
            and 1 <= dims[0] <= 64 and all(1 <= d <= MAX_SIDE for d in dims[1:])):
        raise GanzooError(f"'{path}' has a corrupt {key} {text!r:.40} (want [C, H, W] with C in 1..64 and H, W in "
                          f"1..{MAX_SIDE}); export it again")
    return dims[0], dims[1], dims[2]


def _meta_count(path: Path, metadata: dict[str, str], key: str, high: int) -> int:
    text = metadata.get(key, "1").strip()
    value = int(text) if text.isdigit() and len(text) <= 6 else 0
    if not 1 <= value <= high:
        raise GanzooError(f"'{path}' has a corrupt {key} {text!r:.40} (want an integer in 1..{high}); export it again")
    return value


def _meta_domains(path: Path, metadata: dict[str, str]) -> tuple[str, str]:
    text = metadata.get("ganzoo.domains")
    if text is None:
        return "source", "target"
    try:
        names = json.loads(text) if len(text) <= 400 else None
    except (ValueError, RecursionError):
        names = None
    if not (isinstance(names, list) and len(names) == 2 and all(isinstance(n, str) and n.isprintable()
                                                                and 0 < len(n) <= MAX_DOMAIN for n in names)):
        raise GanzooError(f"'{path}' has a corrupt ganzoo.domains {text!r:.60} (want two short names, "
                          "[from, to]); export it again")
    return names[0], names[1]


def not_a_translator(path: Path, metadata: dict[str, str]) -> str:
    """Why ``ganzoo translate`` cannot run a file that is no image-to-image export, and what can."""
    if "ganzoo.latent_dim" in metadata or "ganzoo.output_shape" in metadata:
        return (f"'{path}' is a noise -> image generator ({metadata.get('ganzoo.model', '?')}), not an "
                f"image-to-image model: use ganzoo generate {path} -o grid.png")
    return (f"'{path}' is not a ganzoo image-to-image export (its metadata has no ganzoo.task = translate); "
            "export a pix2pix, cyclegan or srgan run with: ganzoo export RUN_DIR --onnx")


class Translator:
    """An image-to-image export: its metadata and the runs that turn sources into outputs.

    Attributes: ``channels`` and ``out_channels`` (C and C'), ``source_shape`` and ``output_shape``
    (the training sizes, [C, H, W]), ``scale`` (output side / source side), ``multiple`` (sides
    the network takes: multiples of it; 1 = any, and such a network may run in tiles),
    ``domains`` ((from, to)), ``direction``, ``model``, ``dataset``, ``steps``, ``weights``,
    ``version``, ``metadata``, ``provider``, ``path``, ``session``."""

    def __init__(self, path: Path, session: Any, metadata: dict[str, str]) -> None:
        self.path, self.session, self.metadata = path, session, metadata
        self.source_shape = _meta_shape(path, metadata, "ganzoo.source_shape")
        self.output_shape = _meta_shape(path, metadata, "ganzoo.output_shape")
        self.scale = _meta_count(path, metadata, "ganzoo.scale", MAX_SCALE)
        self.multiple = _meta_count(path, metadata, "ganzoo.multiple", MAX_MULTIPLE)
        self.domains = _meta_domains(path, metadata)
        self.direction = metadata.get("ganzoo.direction", "")[:20]
        self.channels, self.out_channels = self.source_shape[0], self.output_shape[0]
        self.model = metadata.get("ganzoo.model", path.stem)[:80]
        self.dataset: str | None = metadata.get("ganzoo.dataset") or None
        steps = metadata.get("ganzoo.steps", "")
        self.steps = int(steps) if steps.isdigit() and len(steps) <= 12 else None
        self.weights: str | None = metadata.get("ganzoo.weights") or None
        self.version: str | None = metadata.get("ganzoo.version") or None
        self.provider: str = session.get_providers()[0]
        _, h, w = self.source_shape
        if self.output_shape[1:] != (h * self.scale, w * self.scale):
            raise GanzooError(f"'{path}' says ganzoo.scale {self.scale} but its source {list(self.source_shape)} and "
                              f"output {list(self.output_shape)} differ by another factor; export it again")
        self._check_graph()

    def _check_graph(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        dim = inputs[0].shape[1] if len(inputs) == 1 and len(inputs[0].shape) == 4 else 0
        ok = (len(inputs) == 1 and inputs[0].name == SOURCE and inputs[0].type == "tensor(float)"
              and (dim == self.channels or not isinstance(dim, int)))
        if not ok:
            described = ", ".join(f"{i.name} {i.type} {i.shape}" for i in inputs)
            raise GanzooError(f"'{self.path}' has inputs {described}; an image-to-image export takes one, '{SOURCE}' "
                              f"float [batch, {self.channels}, height, width]; export it again")
        if [o.name for o in outputs] != [IMAGES]:
            raise GanzooError(f"'{self.path}' has outputs {', '.join(o.name for o in outputs)}; an image-to-image "
                              f"export returns '{IMAGES}'; export it again")

    def __repr__(self) -> str:
        return (f"<ganzoo.onnx.translate.Translator {self.model!r} {self.domains[0]} -> {self.domains[1]} "
                f"source={list(self.source_shape)} scale={self.scale} multiple={self.multiple} "
                f"provider={self.provider}>")

    @property
    def describe(self) -> str:
        """``pix2pix, edges -> digits``: for lines the user reads."""
        return f"{self.model}, {self.domains[0]} -> {self.domains[1]}"

    @property
    def tileable(self) -> bool:
        """Whether the network takes any side, so that a large picture may run in tiles."""
        return self.multiple == 1

    # -- planning ------------------------------------------------------------------------------
    def plan(self, height: int, width: int, tile: int | None = None) -> Plan:
        """How a ``height`` x ``width`` source runs: padded size, tiles, output size; one line
        when it cannot (over a limit, or ``tile`` for a network that needs the whole image).

        ``tile``: None picks (tiles of :data:`~ganzoo.limits.TILE_DEFAULT` for a network that
        takes any side, else the whole image); 0 runs the whole image; N runs N-pixel tiles."""
        tile = self.check_tile(tile)
        out_pixels = height * width * self.scale**2
        if out_pixels > limits.GRID_PIXELS_MAX:
            raise GanzooError(f"{width} x {height} pixels give a {width * self.scale} x {height * self.scale} result "
                              f"(x{self.scale}), over the {limits.GRID_PIXELS_MAX:,} pixels Pillow opens; downscale "
                              "or crop the source")
        # up to the next multiple the network takes, never to a size the file's metadata claims:
        # a file that says it trained at 2048 x 2048 must not turn a 1-pixel picture into minutes
        m = self.multiple
        ph, pw = -(-height // m) * m, -(-width // m) * m
        tiled = bool(tile) and (ph > tile or pw > tile)
        if not tiled and ph * pw > limits.WHOLE_IMAGE_PIXELS_MAX:
            fix = "drop --tile 0 to run it in tiles" if self.tileable else "downscale or crop it"
            raise GanzooError(f"{width} x {height} pixels is more than {self.model} takes at once: it sees the whole "
                              f"image, at most {limits.WHOLE_IMAGE_PIXELS_MAX:,} pixels (1024 x 1024); {fix}")
        return Plan(height, width, ph, pw, self.scale, tile if tiled else 0)

    def check_tile(self, tile: int | None) -> int:
        """The tile side ``tile`` asks for (None: the default for this network; 0: none), or one line."""
        if tile is None:
            return limits.TILE_DEFAULT if self.tileable else 0
        if tile and not self.tileable:
            raise GanzooError(f"--tile {tile}: {self.model} sees the whole image at once (sides multiples of "
                              f"{self.multiple}), so it cannot run in tiles; drop --tile")
        if tile:
            limits.check_int("--tile", tile, limits.TILE_MIN, limits.TILE_MAX, "0 runs the whole image")
        return tile

    # -- running ---------------------------------------------------------------------------------
    def run(self, source: np.ndarray) -> np.ndarray:
        """The network on ``source`` float32 [n, C, H, W] as it is (sides it takes): no padding,
        no tiles, one onnxruntime call."""
        x = np.ascontiguousarray(source, dtype=np.float32)
        try:
            if self.provider == CUDA:
                binding = self.session.io_binding()
                binding.bind_cpu_input(SOURCE, x)
                binding.bind_output(IMAGES, "cuda")
                self.session.run_with_iobinding(binding)
                out = binding.copy_outputs_to_cpu()[0]
            else:
                out = self.session.run([IMAGES], {SOURCE: x})[0]
        except Exception as exc:
            shape = "x".join(str(d) for d in x.shape)
            raise GanzooError(f"onnxruntime failed on '{self.path}' with a {shape} source: {_short(exc)}") from None
        n, _, h, w = x.shape
        want = (n, self.out_channels, h * self.scale, w * self.scale)
        if tuple(out.shape) != want:
            raise GanzooError(f"'{self.path}' returned {list(out.shape)} for a {n}x{h}x{w} source, but its metadata "
                              f"(ganzoo.scale, ganzoo.output_shape) promise {list(want)}; export it again")
        return out

    def translate(self, source: np.ndarray, tile: int | None = None) -> np.ndarray:
        """Sources float32 [n, C, H, W] (or one [C, H, W]) in [-1, 1], any H and W, to outputs
        float32 [n, C', scale x H, scale x W] in [-1, 1]: padded and cropped back, in tiles where
        :meth:`plan` says so (``tile`` as there), a call per batch of equal work."""
        x = np.asarray(source, dtype=np.float32)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[1] != self.channels or not len(x):
            raise GanzooError(f"sources must be float32 [n, {self.channels}, height, width] with n >= 1, "
                              f"got {list(x.shape)}")
        plan = self.plan(int(x.shape[2]), int(x.shape[3]), tile)
        out = np.empty((len(x), self.out_channels, *plan.output_size), np.float32)
        self.fill(x, plan, out)
        return out

    def fill(self, x: np.ndarray, plan: Plan, out: np.ndarray) -> None:
        """Write the outputs of ``x`` [n, C, H, W] (one size, ``plan``'s) into ``out`` [n, C', sH, sW]:
        float32 as they are, or uint8 pictures (0..255) when ``out`` is uint8."""
        convert = to_uint8 if out.dtype == np.uint8 else (lambda a: a)
        s = self.scale
        if not plan.tile:
            per = plan.batch
            for i in range(0, len(x), per):
                y = self.run(pad(x[i:i + per], plan.padded_height, plan.padded_width))
                out[i:i + per] = convert(y[:, :, :plan.height * s, :plan.width * s])
            return
        boxes = plan.tiles()
        per = plan.batch
        for n in range(len(x)):
            padded = pad(x[n:n + 1], plan.padded_height, plan.padded_width)[0]
            for k in range(0, len(boxes), per):
                group = boxes[k:k + per]
                batch = np.stack([padded[:, b.y:b.y + b.h, b.x:b.x + b.w] for b in group])
                y = self.run(batch)
                for b, tile_out in zip(group, y):
                    top, bottom = min(b.keep_top, plan.height), min(b.keep_bottom, plan.height)
                    left, right = min(b.keep_left, plan.width), min(b.keep_right, plan.width)
                    if bottom <= top or right <= left:
                        continue  # a tile over padding only
                    out[n, :, top * s:bottom * s, left * s:right * s] = convert(
                        tile_out[:, (top - b.y) * s:(bottom - b.y) * s, (left - b.x) * s:(right - b.x) * s])

    # -- pictures ----------------------------------------------------------------------------------
    def check_pictures(self) -> None:
        """One line when the file's channel counts are none a picture has (grey, grey+alpha, RGB, RGBA)."""
        for what, c in (("sources", self.channels), ("outputs", self.out_channels)):
            if c not in PICTURE_MODES:
                raise GanzooError(f"{self.model} has {c}-channel {what}, which no picture converts to (grey, "
                                  "RGB and RGBA have 1, 3 and 4); run arrays through "
                                  "ganzoo.onnx.translate.load(...).translate in Python")

    def translate_file(self, image: str | Path, output: str | Path, tile: int | None = None,
                       side_by_side: bool = False) -> Path:
        """Translate one picture file to a PNG at ``output``; returns ``output``."""
        self.check_pictures()
        picture = read_picture(Path(image), self.channels)
        result = self.translate_picture(picture, tile)
        return save_png(side_by_side_picture(picture.pixels, result, self.scale) if side_by_side else result,
                        Path(output))

    def translate_picture(self, picture: Picture, tile: int | None = None) -> np.ndarray:
        """A decoded :class:`Picture` to the uint8 output [H', W', C']."""
        x = picture.source()[None]
        plan = self.plan(picture.height, picture.width, tile)
        out = np.empty((1, self.out_channels, *plan.output_size), np.uint8)
        self.fill(x, plan, out)
        return out[0].transpose(1, 2, 0)


@dataclass
class Box:
    """A tile: its source box (y, x, h, w) in the padded source and the part of it kept."""

    y: int
    x: int
    h: int
    w: int
    keep_top: int
    keep_bottom: int
    keep_left: int
    keep_right: int


def _spans(length: int, tile: int) -> list[tuple[int, int, int, int]]:
    """(start, size, keep from, keep to) along one side: tiles of ``tile`` overlapping by
    2 x TILE_OVERLAP; each keeps from TILE_OVERLAP past its start (the first from 0) to
    TILE_OVERLAP before its end (the last to the end), so the kept parts meet exactly."""
    if length <= tile:
        return [(0, length, 0, length)]
    stride = tile - 2 * limits.TILE_OVERLAP
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    spans = []
    kept = 0
    for i, start in enumerate(starts):
        end = length if i == len(starts) - 1 else start + tile - limits.TILE_OVERLAP
        spans.append((start, tile, kept, end))
        kept = end
    return spans


@dataclass
class Plan:
    """How one source size runs (see :meth:`Translator.plan`)."""

    height: int
    width: int
    padded_height: int
    padded_width: int
    scale: int
    tile: int  # 0: the whole image in one piece

    @property
    def output_size(self) -> tuple[int, int]:
        return self.height * self.scale, self.width * self.scale

    @property
    def padded(self) -> bool:
        return (self.padded_height, self.padded_width) != (self.height, self.width)

    def tiles(self) -> list[Box]:
        if not self.tile:
            return [Box(0, 0, self.padded_height, self.padded_width, 0, self.height, 0, self.width)]
        return [Box(y, x, h, w, top, bottom, left, right)
                for y, h, top, bottom in _spans(self.padded_height, self.tile)
                for x, w, left, right in _spans(self.padded_width, self.tile)]

    @property
    def batch(self) -> int:
        """Images (or tiles) per onnxruntime call: within TRANSLATE_CALL_PIXELS output pixels."""
        box = self.tiles()[0]
        pixels = box.h * box.w * self.scale**2
        return max(1, min(limits.TRANSLATE_BATCH_MAX, limits.TRANSLATE_CALL_PIXELS // pixels))

    def note(self, model: str, multiple: int) -> str | None:
        """One line saying what was done to the source besides translating it; None when nothing."""
        parts = []
        if self.padded:
            why = takes(multiple)
            parts.append(f"{self.width} x {self.height} padded to {self.padded_width} x "
                         f"{self.padded_height} for {model}, which takes {why}, and the result cropped back")
        if self.tile:
            parts.append(f"run in {len(self.tiles())} tiles of {self.tile} px with {limits.TILE_OVERLAP} px of "
                         "context cropped at each seam")
        return "; ".join(parts) or None


def takes(multiple: int) -> str:
    """What sides a network takes, in words: "sides that are multiples of 32"."""
    return f"sides that are multiples of {multiple}" if multiple > 1 else "any side"


def pad(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """``x`` [n, C, h, w] padded at the bottom and right to ``height`` x ``width`` by reflection
    (repeated where the padding is longer than the side; a 1-pixel side is repeated)."""
    h, w = x.shape[-2:]
    if (h, w) == (height, width):
        return x
    if height > h:
        x = np.pad(x, ((0, 0), (0, 0), (0, height - h), (0, 0)), mode="reflect" if h > 1 else "edge")
    if width > w:
        x = np.pad(x, ((0, 0), (0, 0), (0, 0), (0, width - w)), mode="reflect" if w > 1 else "edge")
    return x


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] to 0..255 (rounded, clipped)."""
    return np.clip(np.rint((np.asarray(x, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


# -- reading pictures ----------------------------------------------------------------------------
@dataclass
class Picture:
    """A decoded picture at the file's channel count: ``pixels`` uint8 [H, W, C]."""

    where: str
    pixels: np.ndarray
    original_mode: str = ""

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    def source(self) -> np.ndarray:
        """float32 [C, H, W] in [-1, 1]."""
        return self.pixels.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0


def _pil() -> Any:
    from PIL import Image

    return Image


def _reason(exc: BaseException, pixels_max: int) -> str:
    if "DecompressionBomb" in type(exc).__name__:
        return f"a decompression bomb: far over the limit of {pixels_max:,} pixels per image"
    text = " ".join(str(exc).split()) or type(exc).__name__
    if type(exc).__name__ == "UnidentifiedImageError":
        text = "not an image Pillow reads (PNG, JPEG, BMP, WebP, GIF or TIFF)"
    return text if len(text) <= 160 else text[:157] + "..."


def _open(data: Path | bytes) -> Any:
    """Pillow's lazy image (header read, no pixels), bombs an error; the caller closes it."""
    Image = _pil()
    fp: Any = io.BytesIO(data) if isinstance(data, bytes) else data
    return Image.open(fp, formats=FORMATS)


def probe(data: Path | bytes, pixels_max: int = limits.TRANSLATE_PIXELS_MAX,
          bytes_max: int = limits.TRANSLATE_BYTES_MAX) -> tuple[int, int]:
    """(width, height) from the header alone; :class:`BadImage` naming why the picture is unusable."""
    Image = _pil()
    size = len(data) if isinstance(data, bytes) else _file_size(data)
    if size > bytes_max:
        raise TooLarge(f"{size / 1024**2:.1f} MB, over the limit of {bytes_max / 1024**2:g} MB per image")
    if not size:
        raise BadImage("an empty file, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _open(data) as im:
                w, h = im.size
    except Exception as exc:  # Pillow raises many kinds for a hostile header: each is this file's fault
        kind = TooLarge if "DecompressionBomb" in type(exc).__name__ else BadImage
        raise kind(_reason(exc, pixels_max)) from None
    if w * h > pixels_max:
        raise TooLarge(f"{w} x {h} pixels, over the limit of {pixels_max:,} pixels per image; downscale it")
    return w, h


def _file_size(path: Path) -> int:
    try:
        info = path.stat()
    except OSError as exc:
        raise BadImage(exc.strerror or str(exc)) from None
    if not path.is_file():
        raise BadImage("not a regular file")
    return info.st_size


def read_picture(data: Path | bytes, channels: int, where: str | None = None,
                 pixels_max: int = limits.TRANSLATE_PIXELS_MAX, bytes_max: int = limits.TRANSLATE_BYTES_MAX
                 ) -> Picture:
    """A picture file (or its bytes) decoded at ``channels`` (see :data:`PICTURE_MODES`), after
    :func:`probe`; :class:`BadImage` when it cannot be used."""
    Image = _pil()
    from PIL import ImageOps

    probe(data, pixels_max, bytes_max)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _open(data) as im:
                im.seek(0)  # an animation: its first frame
                mode = str(im.mode)
                upright = ImageOps.exif_transpose(im)
                pixels = convert(upright if upright is not None else im, channels)
    except BadImage:
        raise
    except Exception as exc:  # truncated data, a broken stream: this file's fault
        raise BadImage(_reason(exc, pixels_max)) from None
    if pixels.shape[0] * pixels.shape[1] > pixels_max:  # EXIF cannot add pixels, but be sure
        raise BadImage(f"over the limit of {pixels_max:,} pixels per image")
    return Picture(where or (str(data) if isinstance(data, Path) else "upload"), pixels, mode)


def _eight_bit(im: Any) -> Any:
    """16-bit and 32-bit grey (I;16, I, F) as 8-bit grey: Pillow's own conversion clips them."""
    Image = _pil()
    a = np.asarray(im, dtype=np.float64)
    if im.mode == "F":
        top = 1.0 if float(np.nanmax(a, initial=0.0)) <= 1.0 else 255.0
    else:
        top = 65535.0 if im.mode.startswith("I;16") or float(a.max(initial=0)) > 255 else 255.0
    return Image.fromarray(np.clip(np.nan_to_num(a) / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")


def convert(im: Any, channels: int) -> np.ndarray:
    """A Pillow image as uint8 [H, W, channels]: transparency composited on white (unless the
    file keeps alpha), RGB to grey by ITU-R 601 luminance, grey to RGB replicated."""
    Image = _pil()
    target = PICTURE_MODES[channels]
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        im = _eight_bit(im)
    alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if alpha and target != "RGBA":
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    elif im.mode not in ("1", "L", "RGB", "P", "RGBA", "LA") and target == "L":
        im = im.convert("RGB")  # CMYK, YCbCr, LAB, HSV: to RGB first, then the luminance
    pixels = np.asarray(im.convert(target), dtype=np.uint8)
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


# -- writing pictures ------------------------------------------------------------------------------
def _rgb(pixels: np.ndarray) -> np.ndarray:
    c = pixels.shape[2]
    if c == 3:
        return pixels
    if c == 1:
        return np.repeat(pixels[:, :, :1], 3, axis=2)
    return pixels[:, :, :3]


def side_by_side_picture(source: np.ndarray, result: np.ndarray, scale: int = 1) -> np.ndarray:
    """``source | result`` as one uint8 [H, W, C] picture: the source enlarged ``scale`` times
    (nearest, so its pixels show), a white gap, both grey or both RGB."""
    if scale > 1:
        source = np.repeat(np.repeat(source, scale, axis=0), scale, axis=1)
    grey = source.shape[2] == 1 and result.shape[2] == 1
    a, b = (source, result) if grey else (_rgb(source), _rgb(result))
    height = max(a.shape[0], b.shape[0])
    canvas = np.full((height, a.shape[1] + GAP + b.shape[1], a.shape[2]), 255, np.uint8)
    canvas[:a.shape[0], :a.shape[1]] = a
    canvas[:b.shape[0], a.shape[1] + GAP:] = b
    return canvas


def png_bytes(pixels: np.ndarray) -> bytes:
    """uint8 [H, W, C] as PNG bytes."""
    Image = _pil()
    c = pixels.shape[2]
    im = Image.fromarray(pixels[:, :, 0] if c == 1 else pixels, PICTURE_MODES[c])
    buffer = io.BytesIO()
    im.save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(pixels: np.ndarray, path: Path) -> Path:
    """Write uint8 [H, W, C] as a PNG at ``path`` (beside it first, then renamed: a failure
    leaves no half file); a full disk or a read-only folder is one line naming the path."""
    data = png_bytes(pixels)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    with writing(path, "choose another -o"):
        try:
            part.write_bytes(data)
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)
    return path


# -- files and folders -----------------------------------------------------------------------------
def list_images(folder: Path) -> list[Path]:
    """The picture files directly in ``folder`` (sub-folders are not read), by name."""
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise GanzooError(f"cannot read the folder '{folder}': {exc.strerror or exc}") from None
    return [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            and not p.is_dir()]


def output_names(images: Sequence[Path]) -> list[str]:
    """Each input's output file name: its name with .png for its suffix, or its whole name with
    .png added where two inputs share a stem (a.jpg and a.png: a.jpg.png and a.png)."""
    stems: dict[str, int] = {}
    for p in images:
        stems[p.stem.lower()] = stems.get(p.stem.lower(), 0) + 1
    return [f"{p.stem}.png" if stems[p.stem.lower()] == 1 or p.suffix.lower() == ".png" else f"{p.name}.png"
            for p in images]


@dataclass
class Job:
    """One picture to translate: where it is, where its output goes, its header size."""

    source: Path
    target: Path
    width: int = 0
    height: int = 0
    plan: Plan | None = None


@dataclass
class Summary:
    """What :func:`translate_files` did."""

    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    padded: int = 0
    tiled: int = 0
    pixels: int = 0

    def folder_note(self, T: Translator, tile: int | None) -> str | None:
        """The notes of a folder in one line: how many pictures were padded, how many tiled."""
        parts = []
        if self.padded:
            parts.append(f"{self.padded} of {len(self.written)} pictures padded for {T.model}, which takes "
                         f"{takes(T.multiple)}, and the results cropped back")
        if self.tiled:
            parts.append(f"{self.tiled} of {len(self.written)} run in tiles of {T.check_tile(tile)} px with "
                         f"{limits.TILE_OVERLAP} px of context cropped at each seam")
        return "; ".join(parts) or None


def translate_files(T: Translator, jobs: list[Job], tile: int | None = None, side_by_side: bool = False,
                    folder: bool = False, echo: Callable[[str], None] | None = None) -> Summary:
    """Translate every job's picture to its PNG. Every header is checked first, so that a
    picture over a limit, or no picture at all, stops everything in one line naming it before
    any work; in a ``folder`` with GANZOO_SKIP_BAD_IMAGES=1 it is left out instead (listed in
    ``skipped``, a note to ``echo``). Then pictures of one size run together, a call per batch.
    ``echo`` gets a progress line per picture written when there are several."""
    T.check_pictures()
    T.check_tile(tile)
    skip = folder and skip_requested()
    summary = Summary()
    say = echo or (lambda line: None)
    ready = _checked(T, jobs, tile, folder, skip, summary, say)
    total = len(ready)

    def done(job: Job) -> None:
        if len(jobs) > 1:
            say(f"translated {len(summary.written)} of {total}: {job.source.name}")

    for group in _groups(ready):
        pictures = []
        for job in group:
            try:
                pictures.append(read_picture(job.source, T.channels))
            except BadImage as bad:
                _bad(job, bad, folder, skip, summary, say)
                total -= 1
        for same in _same_size(pictures, group):
            _translate_group(T, same, tile, side_by_side, summary, done)
    if not summary.written and summary.skipped:
        raise GanzooError(f"no readable images: all {len(summary.skipped)} were skipped (first: "
                          f"'{summary.skipped[0][0]}': {summary.skipped[0][1]})")
    return summary


def _checked(T: Translator, jobs: list[Job], tile: int | None, folder: bool, skip: bool, summary: Summary,
             say: Callable[[str], None]) -> list[Job]:
    ready = []
    for job in jobs:
        try:
            job.width, job.height = probe(job.source)
            job.plan = _plan(T, job.width, job.height, tile)
        except BadImage as bad:
            _bad(job, bad, folder, skip, summary, say)
            continue
        ready.append(job)
    return ready


def _plan(T: Translator, width: int, height: int, tile: int | None) -> Plan:
    """The plan for a picture, its limits as :class:`BadImage` (the picture's fault, not the command's)."""
    try:
        return T.plan(height, width, tile)
    except GanzooError as exc:
        if str(exc).startswith("--tile"):
            raise
        raise TooLarge(str(exc)) from None


def _bad(job: Job, bad: BadImage, folder: bool, skip: bool, summary: Summary, say: Callable[[str], None]) -> None:
    """A picture that cannot be used: one line naming it (in a folder, with the way to skip it),
    or, skipping, a note."""
    reason = str(bad).rstrip(".")
    large = isinstance(bad, TooLarge)
    if not skip:
        hint = (f"; or set {SKIP_ENV}=1 to skip such images" if large else f"; {SKIP_HINT}") if folder else ""
        verb = "translate" if large else "read"
        raise GanzooError(f"cannot {verb} image '{job.source}': {reason}{hint}")
    summary.skipped.append((str(job.source), reason))
    say(f"note: skipped {'too large' if large else 'unreadable'} image '{job.source}' ({reason}); "
        f"{len(summary.skipped)} skipped so far")


def _groups(jobs: list[Job]) -> Iterator[list[Job]]:
    """Jobs in runs of one header size (in the order sizes first appear), each at most a batch
    long; a tiled picture alone."""
    by_size: dict[tuple[int, int], list[Job]] = {}
    for job in jobs:
        by_size.setdefault((job.height, job.width), []).append(job)
    for same in by_size.values():
        plan = same[0].plan
        per = 1 if plan is None or plan.tile else plan.batch
        for i in range(0, len(same), per):
            yield same[i:i + per]


def _same_size(pictures: list[Picture], jobs: list[Job]) -> Iterator[list[tuple[Picture, Job]]]:
    """Decoded pictures regrouped by their decoded size (EXIF rotation can swap the header's)."""
    by_path = {str(job.source): job for job in jobs}
    groups: dict[tuple[int, int], list[tuple[Picture, Job]]] = {}
    for p in pictures:
        groups.setdefault((p.height, p.width), []).append((p, by_path[p.where]))
    yield from groups.values()


def _translate_group(T: Translator, pairs: list[tuple[Picture, Job]], tile: int | None, side_by_side: bool,
                     summary: Summary, done: Callable[[Job], None]) -> None:
    first = pairs[0][0]
    plan = T.plan(first.height, first.width, tile)
    x = np.stack([p.source() for p, _ in pairs])
    out = np.empty((len(pairs), T.out_channels, *plan.output_size), np.uint8)
    limits.check_memory(f"translating {len(pairs)} picture(s) of {first.width} x {first.height}",
                        x.nbytes * 2 + out.nbytes * (3 if side_by_side else 1), "downscale the pictures")
    T.fill(x, plan, out)
    note = plan.note(T.model, T.multiple)
    if note and note not in summary.notes:
        summary.notes.append(note)
    for (picture, job), result in zip(pairs, out):
        pixels = result.transpose(1, 2, 0)
        if side_by_side:
            pixels = side_by_side_picture(picture.pixels, pixels, T.scale)
        summary.written.append(save_png(pixels, job.target))
        summary.pixels += int(result.shape[1] * result.shape[2])
        summary.padded += plan.padded
        summary.tiled += bool(plan.tile)
        done(job)


def plan_jobs(source: str | Path, output: str | Path | None) -> tuple[list[Job], bool, Path]:
    """(jobs, whether ``source`` is a folder, the output file or folder) for ``ganzoo translate IN
    -o OUT``: IN an image file (OUT a .png file, or an existing folder to write NAME.png in) or a
    folder of images, not its sub-folders (OUT a folder, created, one NAME.png per image)."""
    from ganzoo.errors import check_writable

    source = Path(source)
    if not source.exists():
        raise GanzooError(f"no such image or folder '{source}'")
    if output is None:
        example = "out/" if source.is_dir() else "out.png"
        raise GanzooError(f"give the output with -o: a .png file for one image, a folder for a folder (e.g. -o "
                          f"{example})")
    out = Path(output)
    if not source.is_dir():
        if out.is_dir():
            out = out / f"{source.stem}.png"
        if out.resolve() == source.resolve():
            raise GanzooError(f"-o {out} is the input picture: its translation would replace it; give another -o")
        return [Job(source, check_writable(out, "choose another -o", suffix=".png"))], False, out
    if out.exists() and not out.is_dir():
        raise GanzooError(f"-o {out} is a file, but {source} is a folder: give a folder for the translations")
    if out.resolve() == source.resolve():
        raise GanzooError(f"-o {out} is the input folder: the translations would replace the images; "
                          "give another folder")
    images = list_images(source)
    if not images:
        raise GanzooError(f"folder '{source}' holds no images ({' '.join(IMAGE_SUFFIXES)}); put images in it "
                          "(sub-folders are not read)")
    with writing(out, "choose another -o", action="create the folder"):
        out.mkdir(parents=True, exist_ok=True)
    check_writable(out / ".ganzoo-probe.png", "choose another -o")
    return [Job(image, out / name) for image, name in zip(images, output_names(images))], True, out


def load(path: str | Path, provider: str = "auto", threads: int | None = None) -> Translator:
    """Open an image-to-image export (``provider`` and ``threads`` as :func:`ganzoo.onnx.runtime.load`);
    a noise -> image generator is refused in one line pointing to ``ganzoo generate``."""
    path, session, metadata = open_file(path, provider, threads)
    if not is_translator(metadata):
        raise GanzooError(not_a_translator(path, metadata))
    return Translator(path, session, metadata)


def load_any(path: str | Path, provider: str = "auto", threads: int | None = None) -> Any:
    """A :class:`Translator` for an image-to-image export, else the runtime's Generator."""
    from ganzoo.onnx.runtime import generator_from

    path, session, metadata = open_file(path, provider, threads)
    if is_translator(metadata):
        return Translator(path, session, metadata)
    return generator_from(path, session, metadata)


__all__ = ["FORMATS", "IMAGE_SUFFIXES", "BadImage", "Job", "Picture", "Plan", "Summary", "TooLarge", "Translator",
           "convert", "list_images", "load", "load_any", "output_names", "pad", "plan_jobs", "png_bytes", "probe",
           "read_picture", "save_png", "side_by_side_picture", "to_uint8", "translate_files"]
