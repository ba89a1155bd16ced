"""Image sets decoded on demand, from a folder or a zip archive, and the batches that stream them.

:class:`ImageFiles` is a ``torch.utils.data.Dataset`` of uint8 images: the training
loop either decodes it once into memory (:meth:`ImageFiles.load`, when it fits the
memory budget) or streams it through a ``DataLoader`` whose decode workers read the
files as batches are needed (:class:`Stream`). The order of a stream comes from the
seed alone and its position is checkpointed, so a resumed run continues mid-epoch
with exactly the batches it would have drawn; under torchrun each rank reads its own
shard of every epoch.
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganzoo import schema
from ganzoo.data import Data, to_float
from ganzoo.errors import GanzooError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
LABELS_FILE = "dataset.json"  # stylegan2-ada's: {"labels": [["00000/img00000000.png", 6], ...]} or null
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F", "P")
#: The decoders Pillow may pick: those of IMAGE_SUFFIXES, never the exotic ones (EPS runs Ghostscript).
_FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "GIF", "TIFF")

# -- limits: every file is checked against them before its pixels are decoded --------------------
#: Pixels in one image (8192 x 8192); Pillow's own bomb limit is set to it, its warning made an error.
MAX_IMAGE_PIXELS = 8192 * 8192
#: Bytes of one image file or archive member.
MAX_IMAGE_BYTES = 256 * 1024**2
#: Images in one folder or archive (ImageNet's 1.28 million fit).
MAX_MEMBERS = 2_000_000
#: Bytes an archive may expand to, in all; and how many times its compressed size it may
#: expand to, in all and per member of 1 MiB or more (zipped PNG or JPEG barely shrink).
MAX_ARCHIVE_BYTES = 256 * 1024**3
MAX_RATIO = 100
_RATIO_FLOOR = 1024**2
#: Set to 1 to leave out unreadable images (with a count on stderr) instead of stopping.
SKIP_ENV = "GANZOO_SKIP_BAD_IMAGES"
SKIP_HINT = f"remove or replace the file, or set {SKIP_ENV}=1 to skip unreadable images"
#: Neighbours tried in place of an image that fails to decode mid-stream when skipping.
_SUBSTITUTES = 16
#: Without --image-size a folder trains at its images' median side, brought down to a side the
#: models take (4..7 x 2^k) and to at most this: 64 px is what the CPU-sized models train at.
DEFAULT_SIZE = 64
#: Without --image-size no image is enlarged more than this: a blurry 4x enlargement is rarely what
#: someone meant, and asking for it by name (--image-size) costs one flag.
MAX_UPSCALE = 2.0


def model_side(limit: int) -> int:
    """The largest side of the form base x 2^k, base in 4..7, not over ``limit`` (4 at least):
    the sides every convolution stack here halves down to its 4..7-pixel start."""
    best = 4
    for base in range(4, 8):
        side = base
        while side * 2 <= limit:
            side *= 2
        if side <= limit:
            best = max(best, side)
    return best


def skip_requested() -> bool:
    return os.environ.get(SKIP_ENV, "").strip().lower() in ("1", "true", "yes")


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES) and not Path(name).name.startswith(".")


def _pil() -> Any:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # deliberately ours, whatever another import set
    return Image


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if type(exc).__name__ == "DecompressionBombError":  # Pillow's words name its limit, twice ours
        pixels = re.search(r"\((\d+) pixels\)", text)
        text = f"{int(pixels[1]):,} pixels" if pixels else "a decompression bomb"
        text += f", over the limit of {MAX_IMAGE_PIXELS:,} pixels per image"
    return text if len(text) <= 160 else text[:157] + "..."


class _Bad(Exception):
    """An image that cannot be used; the message is the reason, for one line naming the file."""


class ImageFiles(torch.utils.data.Dataset):
    """The images of a folder or zip archive, each decoded when read: item ``i`` is
    ``(uint8 [C, size, size], label)`` (label -1 when the set is unlabelled)."""

    kind = "images"
    modes = None
    sigma = None

    def __init__(self, name: str, source: Path, members: list[str], labels: list[int] | None, num_classes: int,
                 size: int, channels: int, skip_bad: bool = False, class_names: list[str] | None = None) -> None:
        self.name, self.source, self.members = name, source, members
        self.labels, self.num_classes, self.size, self.channels = labels, num_classes, size, channels
        self.skip_bad = skip_bad
        #: the sub-folders' names, index order, when the classes are sub-folders (dataset.json names none)
        self.class_names = class_names
        #: one line saying how the images are fitted to ``size`` (None when every image has that side)
        self.size_note: str | None = None
        #: (file, reason) of every image left out: at opening, and (main process) while streaming
        self.skipped: list[tuple[str, str]] = []
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid = -1

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, source: Path, size: int | None, skip_bad: bool | None = None) -> ImageFiles:
        """List the images under ``source`` (a folder or a .zip) and their labels, and read
        every image's header (format, mode, size: no pixels decoded), so that a file that is
        no image, a decompression bomb or one over the size limits is one line naming it
        before any training starts, or, with ``skip_bad`` (default: ``GANZOO_SKIP_BAD_IMAGES``),
        is left out and listed in ``skipped``. One line naming the fix for every mistake.

        ``size`` None (no --image-size) picks the side from the headers (:meth:`_fit`)."""
        skip = skip_requested() if skip_bad is None else skip_bad
        names, unusable, archive = list_names(source, "folder")
        members, labels, classes, class_names = _labelled(source, names, archive)
        files = cls(f"folder:{source}", source, members, labels, classes, size or DEFAULT_SIZE, 3, skip, class_names)
        modes: list[str | None] = []
        sides: list[tuple[int, int]] = []
        for i, member in enumerate(members):
            try:
                why = unusable.get(member)
                if why is not None:
                    raise _Bad(why)
                mode, w, h = files._header(i)
                modes.append(mode)
                sides.append((w, h))
            except _Bad as bad:
                if not skip:
                    raise GanzooError(f"cannot read image '{files._where(i)}': {bad}; {SKIP_HINT}") from None
                files.skipped.append((files._where(i), str(bad)))
                modes.append(None)
                sides.append((0, 0))
        files._close()
        if files.skipped:
            keep = [i for i, m in enumerate(modes) if m is not None]
            files.members = [members[i] for i in keep]
            files.labels = [labels[i] for i in keep] if labels is not None else None
            modes = [modes[i] for i in keep]
            sides = [sides[i] for i in keep]
        if not files.members:
            what = "no readable images" if files.skipped else "no images"
            raise GanzooError(f"image folder '{source}' holds {what} ({' '.join(IMAGE_SUFFIXES)}); "
                              "put images in it, or in one sub-folder per class")
        step = max(1, len(files.members) // 16)
        grey = all(modes[i] in _GREY_MODES for i in range(0, len(files.members), step))
        files.channels = 1 if grey else 3
        files._fit(sides, size)
        return files

    def _fit(self, sizes: list[tuple[int, int]], asked: int | None) -> None:
        """Choose the side the images are brought to, and (``size_note``) say why when ganzoo
        chose it and any image is resized.

        Asked for (``--image-size``): that side, whatever the images. Not asked: the median of
        the images' sides (the shorter side, as each is centre-cropped to a square) brought
        down to a side the models take (:func:`model_side`) and to at most DEFAULT_SIZE, so
        that 40-px images train at 40 px, not silently enlarged to 64; an image that side
        would enlarge more than MAX_UPSCALE times stops the command, naming it."""
        sides = sorted(min(w, h) for w, h in sizes)
        median = sides[len(sides) // 2]
        size = asked if asked is not None else model_side(min(median, DEFAULT_SIZE))
        self.size = size
        if asked is None:
            small = [(i, min(w, h)) for i, (w, h) in enumerate(sizes) if min(w, h) * MAX_UPSCALE < size]
            if small:
                i, side = small[0]
                more = f"{len(small):,} images, e.g. " if len(small) > 1 else ""
                raise GanzooError(
                    f"{self.name}: {more}'{self._where(i)}' is {side} px on its shorter side, more than "
                    f"{MAX_UPSCALE:g}x smaller than the {size} px chosen from the images' median side ({median} px); "
                    f"pass --image-size {size} to enlarge such images anyway, or remove them")
        if asked is not None or all(w == h == size for w, h in sizes):  # asked for, or nothing to resize
            self.size_note = None
            return
        cropped = " centre-cropped to squares and" if any(w != h for w, h in sizes) else ""
        spread = f"{sides[0]}..{sides[-1]} px, median {median}" if sides[0] != sides[-1] else f"{median} px"
        self.size_note = (f"note: {self.name}: images{cropped} resized to {size} px, from their median shorter side "
                          f"({spread}): the largest side the models take (4..7 x 2^k) within it and within "
                          f"{DEFAULT_SIZE} px; --image-size N chooses another")

    # -- what the loop and the run folder read -------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (self.channels, self.size, self.size)

    @property
    def labelled(self) -> bool:
        return self.labels is not None and self.num_classes > 0

    @property
    def y(self) -> Tensor | None:
        return torch.tensor(self.labels, dtype=torch.int64) if self.labels is not None else None

    @property
    def nbytes(self) -> int:
        """Bytes the set takes in memory as uint8 pixels."""
        return len(self) * self.channels * self.size * self.size

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        try:
            x = self._decode(i)
        except _Bad as bad:
            raise GanzooError(f"cannot read image '{self._where(i)}': {bad}; {SKIP_HINT}") from None
        return x, self.labels[i] if self.labels is not None else -1

    def load(self, workers: int = 0, progress: Callable[[int], None] | None = None) -> Data:
        """Decode every image once into one uint8 tensor (``workers`` decode processes). An
        image that fails to decode is one line naming it, or (``skip_bad``) left out."""
        x = torch.empty((len(self), *self.shape), dtype=torch.uint8)
        keep = torch.ones(len(self), dtype=torch.bool)
        loader = torch.utils.data.DataLoader(_Guarded(self, substitute=False), batch_size=256, num_workers=workers,
                                             generator=torch.Generator().manual_seed(0))
        done = 0
        for batch, _, bad in loader:
            x[done:done + len(batch)] = batch
            for i in self.account(bad):
                keep[i] = False
            done += len(batch)
            if progress is not None:
                progress(len(batch))
        y = self.y if self.labelled else None
        if not bool(keep.all()):
            x, y = x[keep], (y[keep] if y is not None else None)
        if not len(x):
            raise GanzooError(f"image folder '{self.source}' holds no readable images; {SKIP_HINT.split(', or')[0]}")
        return Data(self.name, x, y, num_classes=self.num_classes, class_names=self.class_names)

    def account(self, bad: Tensor) -> list[int]:
        """The decode failures a batch reports (see :class:`_Guarded`), in the main process:
        one line naming the first failed file unless ``skip_bad``; else each new file is
        added to ``skipped`` with a note on stderr. Returns the indices that failed."""
        failed = []
        for code in bad.tolist():
            if code == -1:
                continue
            i = code if code >= 0 else -code - 2
            failed.append(i)
            where = self._where(i)
            if not self.skip_bad:
                raise GanzooError(f"cannot read image '{where}': {self._why(i)}; {SKIP_HINT}")
            if all(w != where for w, _ in self.skipped):
                self.skipped.append((where, self._why(i)))
                print(f"note: skipped unreadable image '{where}' ({self.skipped[-1][1]}); "
                      f"{len(self.skipped)} skipped so far", file=sys.stderr)
        return failed

    def _why(self, i: int) -> str:
        try:
            self._decode(i)
        except _Bad as bad:
            return str(bad)
        return "it failed to decode in a worker process"

    # -- files -----------------------------------------------------------------------------------
    def _handle(self) -> zipfile.ZipFile:
        if self._zip is None or self._zip_pid != os.getpid():  # one handle per decode worker
            self._zip, self._zip_pid = zipfile.ZipFile(self.source), os.getpid()
        return self._zip

    def _close(self) -> None:
        if self._zip is not None and self._zip_pid == os.getpid():
            self._zip.close()
        self._zip, self._zip_pid = None, -1

    def _read(self, i: int) -> bytes:
        if not self.source.is_file():
            path = self.source / self.members[i]
            if path.stat().st_size > MAX_IMAGE_BYTES:  # a file replaced since it was listed
                raise _Bad(f"over the limit of {MAX_IMAGE_BYTES // 1024**2} MB")
            return path.read_bytes()
        return self._handle().read(self.members[i])

    def _header(self, i: int) -> tuple[str, int, int]:
        """The image's (mode, width, height), from its header alone; :class:`_Bad` when it is no usable image."""
        Image = _pil()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                fp: Any = self._handle().open(self.members[i]) if self.source.is_file() else \
                    (self.source / self.members[i]).open("rb")
                with fp, Image.open(fp, formats=_FORMATS) as im:
                    w, h = im.size
                    mode = str(im.mode)
        except Exception as exc:  # Pillow raises many kinds for a hostile header: each is this file's fault
            raise _Bad(_reason(exc)) from None
        _check_pixels(w, h)
        return mode, w, h

    def _decode(self, i: int) -> Tensor:
        Image = _pil()
        mode = "L" if self.channels == 1 else "RGB"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(self._read(i)), formats=_FORMATS) as im:
                    _check_pixels(*im.size)
                    pixels = _square(im if im.mode == mode else im.convert(mode), self.size)
        except _Bad:
            raise
        except Exception as exc:  # truncated data, a bad member, a file gone: this file's fault
            raise _Bad(_reason(exc)) from None
        x = torch.from_numpy(pixels).unsqueeze(0) if pixels.ndim == 2 else torch.from_numpy(pixels).permute(2, 0, 1)
        return x.contiguous()

    def _where(self, i: int) -> str:
        return f"{self.source}:{self.members[i]}" if self.source.is_file() else str(self.source / self.members[i])

    def __getstate__(self) -> dict[str, Any]:  # decode workers open their own zip handle
        return {**self.__dict__, "_zip": None, "_zip_pid": -1}


def list_names(source: Path, flag: str) -> tuple[list[str], dict[str, str], bool]:
    """(image names, the unusable ones with why, whether ``source`` is an archive) of a folder
    or a zip archive given as ``FLAG:PATH``; one line when it is neither."""
    if not source.exists():
        raise GanzooError(f"image folder '{source}' does not exist; check the path in {flag}:PATH")
    archive = source.is_file()
    if archive and not zipfile.is_zipfile(source):
        raise GanzooError(f"'{source}' is neither a folder nor a zip archive; {flag}:PATH takes either")
    names, unusable = _zip_names(source) if archive else _folder_names(source)
    return names, unusable, archive


def _check_pixels(w: int, h: int) -> None:
    if w * h > MAX_IMAGE_PIXELS:
        raise _Bad(f"{w} x {h} pixels, over the limit of {MAX_IMAGE_PIXELS:,} pixels per image")


class _Guarded(torch.utils.data.Dataset):
    """:class:`ImageFiles` as a DataLoader reads it: never raises in a decode worker (a
    worker's exception reaches the user as its whole traceback), but reports each item's
    fate as a third value: -1 decoded; ``i`` >= 0 image ``i`` failed (a zero image stands
    in); ``-i - 2`` image ``i`` failed and, with ``substitute``, the next decodable image
    stands in, so batches keep their size and a seed still gives the same batches."""

    def __init__(self, files: ImageFiles, substitute: bool) -> None:
        self.files, self.substitute = files, substitute

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Tensor, int, int]:
        files = self.files
        for k in range(_SUBSTITUTES if self.substitute else 1):
            j = (i + k) % len(files)
            try:
                x = files._decode(j)
            except _Bad:
                continue
            return x, files.labels[j] if files.labels is not None else -1, -1 if k == 0 else -i - 2
        return torch.zeros(files.shape, dtype=torch.uint8), -1, i


def _unsafe_name(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return (name.startswith(("/", "\\")) or ".." in parts or "\0" in name
            or (len(name) > 1 and name[1] == ":" and name[0].isalpha()))


def _folder_names(root: Path) -> tuple[list[str], dict[str, str]]:
    """(image files and labels files under ``root``, {name: why it is unusable}): a symlink
    leading outside the folder, or to something that is no regular file, or a file over the
    size limit, is unusable. Symlinked folders are not entered."""
    real_root = root.resolve()
    names: list[str] = []
    unusable: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for file in files:
            if not (_is_image(file) or file == LABELS_FILE):
                continue
            path = Path(folder) / file
            name = path.relative_to(root).as_posix()
            names.append(name)
            if len(names) > MAX_MEMBERS:
                raise GanzooError(f"image folder '{root}' holds more than {MAX_MEMBERS:,} images, the limit; "
                                  "split it into smaller folders")
            try:
                target = path.resolve(strict=True)
                info = target.stat()
            except (OSError, RuntimeError) as exc:
                unusable[name] = f"a broken link ({_reason(exc)})"
                continue
            if path.is_symlink() and not target.is_relative_to(real_root):
                unusable[name] = f"a symlink to '{target}', outside the folder"
            elif not stat.S_ISREG(info.st_mode):
                unusable[name] = "not a regular file"
            elif info.st_size > MAX_IMAGE_BYTES:
                unusable[name] = f"{info.st_size / 1024**2:.0f} MB, over the limit of {MAX_IMAGE_BYTES // 1024**2} MB"
    return sorted(names), unusable


def _zip_entries(path: Path) -> int | None:
    """The member count the archive's end record declares (zip64 too), read before the
    central directory is parsed; None when there is no end record (zipfile will say so)."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        tail_size = min(size, 22 + 65535)
        handle.seek(size - tail_size)
        tail = handle.read(tail_size)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return None
        _, _, _, _, total, cd_size, cd_offset, _ = struct.unpack("<4s4H2LH", tail[at:at + 22])
        locator = tail[at - 20:at] if at >= 20 else b""
        if (0xFFFF in (total,) or 0xFFFFFFFF in (cd_size, cd_offset)) and locator[:4] == b"PK\x06\x07":
            record_at = struct.unpack("<4sLQL", locator)[2]
            handle.seek(record_at)
            record = handle.read(56)
            if record[:4] == b"PK\x06\x06" and len(record) == 56:
                total = struct.unpack("<Q", record[32:40])[0]
        return int(total)


def _zip_names(path: Path) -> tuple[list[str], dict[str, str]]:
    """(image members and the labels file, {member: why it is unusable}), after the checks
    the central directory allows before anything is decompressed: member count, total
    expanded size, expansion ratio (a zip bomb), names that climb out of the archive."""
    try:
        declared = _zip_entries(path)
        if declared is not None and declared > MAX_MEMBERS:
            raise GanzooError(f"zip archive '{path}' declares {declared:,} members, over the limit of "
                              f"{MAX_MEMBERS:,}; split the data set")
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, struct.error) as exc:
        raise GanzooError(f"cannot read the zip archive '{path}': {_reason(exc)}; check the file") from None
    if len(infos) > MAX_MEMBERS:
        raise GanzooError(f"zip archive '{path}' holds {len(infos):,} members, over the limit of {MAX_MEMBERS:,}; "
                          "split the data set")
    names: list[str] = []
    unusable: dict[str, str] = {}
    expanded = packed = 0
    for info in infos:
        if _unsafe_name(info.filename):
            raise GanzooError(f"zip archive '{path}' has a member named '{info.filename[:80]}', a path that leaves "
                              "the archive's folder; rebuild the archive with relative names")
        if info.is_dir() or not (_is_image(info.filename) or info.filename == LABELS_FILE):
            continue
        names.append(info.filename)
        expanded += info.file_size
        packed += info.compress_size
        if info.file_size >= _RATIO_FLOOR and info.file_size > MAX_RATIO * max(1, info.compress_size):
            raise GanzooError(f"zip archive '{path}': member '{info.filename}' expands {info.compress_size:,} bytes "
                              f"to {info.file_size:,}, over {MAX_RATIO}x (a zip bomb?); rebuild the archive")
        if info.file_size > MAX_IMAGE_BYTES and info.filename != LABELS_FILE:
            unusable[info.filename] = (f"{info.file_size / 1024**2:.0f} MB expanded, over the limit of "
                                       f"{MAX_IMAGE_BYTES // 1024**2} MB")
    if expanded > MAX_ARCHIVE_BYTES:
        raise GanzooError(f"zip archive '{path}' expands to {expanded / 1024**3:.1f} GB, over the limit of "
                          f"{MAX_ARCHIVE_BYTES // 1024**3} GB; split the data set")
    if expanded >= _RATIO_FLOOR and expanded > MAX_RATIO * max(1, packed):
        raise GanzooError(f"zip archive '{path}' expands {packed:,} bytes to {expanded:,}, over {MAX_RATIO}x "
                          "(a zip bomb?); rebuild the archive")
    return sorted(set(names)), unusable


def _read_labels(source: Path, archive: bool) -> dict[str, int] | None:
    """dataset.json, size-capped before it is read and checked against its form."""
    where = f"{source}/{LABELS_FILE}"
    fix = f"it is not {schema.LABELS_FORM}: {schema.LABELS_FIX}"
    if not archive:
        return schema.check_labels(schema.read_json(source / LABELS_FILE, fix), where)
    try:
        with zipfile.ZipFile(source) as zf:
            info = zf.getinfo(LABELS_FILE)
            schema.check_size(info.file_size, where, fix)
            raw = zf.read(info)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, ValueError) as exc:
        raise GanzooError(f"cannot read '{where}': {_reason(exc)}; {schema.LABELS_FIX}") from None
    return schema.check_labels(schema.parse_json(raw, where, fix), where)


def _labelled(source: Path, names: list[str], archive: bool
              ) -> tuple[list[str], list[int] | None, int, list[str] | None]:
    """(image members, labels or None, number of classes, class names or None): dataset.json
    decides when present (its classes have numbers, no names), else (folders only) one
    sub-folder per class, named as the sub-folder, numbered in sorted order."""
    images = [n for n in names if n != LABELS_FILE and Path(n).name != LABELS_FILE]
    if LABELS_FILE in names:
        table = _read_labels(source, archive)
        if table is None:
            return images, None, 0, None
        missing = [n for n in images if n not in table]
        if missing:
            raise GanzooError(f"'{source}/{LABELS_FILE}' gives no label for {len(missing)} image(s), e.g. "
                              f"'{missing[0]}'; label every image or set \"labels\": null")
        labels = [table[n] for n in images]
        return images, labels, (max(labels) + 1 if labels else 0), None
    if archive:
        return images, None, 0, None
    nested = [n for n in images if "/" in n]
    if not nested:
        return images, None, 0, None
    if len(nested) != len(images):
        raise GanzooError(f"image folder '{source}' mixes loose images with class sub-folders; "
                          "move the loose images into a sub-folder")
    classes = sorted({n.split("/", 1)[0] for n in images})
    if len(classes) > schema.MAX_CLASSES:
        raise GanzooError(f"image folder '{source}' has {len(classes):,} class sub-folders, over the limit of "
                          f"{schema.MAX_CLASSES:,}; group the images into fewer classes")
    problem = schema.class_names_problem(classes)
    if problem:
        raise GanzooError(f"image folder '{source}': its class sub-folders name the classes, so they must be "
                          f"{problem}; rename the sub-folder")
    index = {c: i for i, c in enumerate(classes)}
    return images, [index[n.split("/", 1)[0]] for n in images], len(classes), classes


def _square(im: Any, size: int) -> np.ndarray:
    from PIL import Image

    w, h = im.size
    if w != h:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side))
    if im.size != (size, size):  # images already at the size (a prepared data set) skip the resampling
        im = im.resize((size, size), Image.Resampling.BICUBIC)
    return np.array(im, dtype=np.uint8)  # a writable copy


# -- streaming -----------------------------------------------------------------------------------
class ShardedBatches(torch.utils.data.Sampler[list[int]]):
    """Endless batches of indices. Epoch ``e`` is a permutation of the set drawn from
    ``(seed, e)`` alone; rank ``r`` of ``world`` takes every world-th index of it; the
    last partial batch of an epoch is dropped. ``start`` counts batches from the run's
    beginning, so ``ShardedBatches(..., start=k)`` yields exactly what the k-th batch on was."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1, start: int = 0) -> None:
        self.n, self.batch_size, self.seed, self.rank, self.world, self.start = n, batch_size, seed, rank, world, start
        self.per_epoch = (n // world) // batch_size
        if self.per_epoch < 1:
            raise GanzooError(f"--batch-size {batch_size} is larger than the data set ({n // world} images per "
                              f"process); use --batch-size {max(1, n // world)} or less")

    def __iter__(self) -> Iterator[list[int]]:
        k = self.start
        epoch, shard = -1, torch.empty(0, dtype=torch.int64)
        while True:
            e, b = divmod(k, self.per_epoch)
            if e != epoch:
                gen = torch.Generator().manual_seed(self.seed * 1_000_003 + e)
                epoch, shard = e, torch.randperm(self.n, generator=gen)[self.rank::self.world]
            yield shard[b * self.batch_size:(b + 1) * self.batch_size].tolist()
            k += 1


class Stream:
    """Draws training batches from :class:`ImageFiles` through a DataLoader with decode
    workers; ``drawn`` (batches handed out) is its checkpoint state."""

    def __init__(self, files: ImageFiles, batch_size: int, seed: int, device: torch.device, rank: int = 0,
                 world: int = 1, workers: int = 1, with_labels: bool = False) -> None:
        self.files, self.batch_size, self.seed, self.device = files, batch_size, seed, device
        self.with_labels = with_labels and files.labelled
        self.rank, self.world, self.workers = rank, world, workers
        self.drawn = 0
        self._batches: Iterator[tuple[Tensor, Tensor, Tensor]] | None = None
        ShardedBatches(len(files), batch_size, seed, rank, world)  # a batch larger than the shard: one line, now

    def __call__(self) -> tuple[Tensor, Tensor | None]:
        if self._batches is None:
            sampler = ShardedBatches(len(self.files), self.batch_size, self.seed, self.rank, self.world, self.drawn)
            loader = torch.utils.data.DataLoader(
                _Guarded(self.files, substitute=self.files.skip_bad), batch_sampler=sampler, num_workers=self.workers,
                pin_memory=self.device.type == "cuda",
                persistent_workers=self.workers > 0, prefetch_factor=4 if self.workers > 0 else None,
                generator=torch.Generator().manual_seed(self.seed))  # not the global RNG, which checkpoints replay
            self._batches = iter(loader)
        x, y, bad = next(self._batches)
        self.files.account(bad)  # an image that failed in a worker: one line naming it (or a note)
        self.drawn += 1
        real = to_float(x.to(self.device, non_blocking=True))
        return real, (y.to(self.device, non_blocking=True) if self.with_labels else None)

    def state_dict(self) -> dict[str, int]:
        return {"drawn": self.drawn}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.drawn = int(state["drawn"])
        self._batches = None  # the next draw starts a loader at that batch
