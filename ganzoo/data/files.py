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
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganzoo.data import Data, to_float
from ganzoo.errors import GanzooError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
LABELS_FILE = "dataset.json"  # stylegan2-ada's: {"labels": [["00000/img00000000.png", 6], ...]} or null
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F", "P")


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES) and not Path(name).name.startswith(".")


class ImageFiles(torch.utils.data.Dataset):
    """The images of a folder or zip archive, each decoded when read: item ``i`` is
    ``(uint8 [C, size, size], label)`` (label -1 when the set is unlabelled)."""

    kind = "images"
    modes = None
    sigma = None

    def __init__(self, name: str, source: Path, members: list[str], labels: list[int] | None, num_classes: int,
                 size: int, channels: int) -> None:
        self.name, self.source, self.members = name, source, members
        self.labels, self.num_classes, self.size, self.channels = labels, num_classes, size, channels
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid = -1

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, source: Path, size: int) -> ImageFiles:
        """List the images under ``source`` (a folder or a .zip) and their labels; decodes
        a few to learn the channel count. One line naming the fix for every mistake."""
        if not source.exists():
            raise GanzooError(f"image folder '{source}' does not exist; check the path in folder:PATH")
        archive = source.is_file()
        if archive and not zipfile.is_zipfile(source):
            raise GanzooError(f"'{source}' is neither a folder nor a zip archive; folder:PATH takes either")
        names = _zip_names(source) if archive else _folder_names(source)
        members, labels, classes = _labelled(source, names, archive)
        if not members:
            raise GanzooError(f"image folder '{source}' holds no images ({' '.join(IMAGE_SUFFIXES)}); "
                              "put images in it, or in one sub-folder per class")
        files = cls(f"folder:{source}", source, members, labels, classes, size, 3)
        step = max(1, len(members) // 16)
        grey = all(files._mode(i) in _GREY_MODES for i in range(0, len(members), step))
        files.channels = 1 if grey else 3
        return files

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
        from PIL import Image, UnidentifiedImageError

        mode = "L" if self.channels == 1 else "RGB"
        try:
            with Image.open(io.BytesIO(self._read(i))) as im:
                pixels = _square(im if im.mode == mode else im.convert(mode), self.size)
        except (UnidentifiedImageError, OSError, KeyError, zipfile.BadZipFile) as exc:
            raise GanzooError(f"cannot read image '{self._where(i)}': {exc}; remove or replace the file") from None
        x = torch.from_numpy(pixels).unsqueeze(0) if pixels.ndim == 2 else torch.from_numpy(pixels).permute(2, 0, 1)
        return x.contiguous(), self.labels[i] if self.labels is not None else -1

    def load(self, workers: int = 0, progress: Callable[[int], None] | None = None) -> Data:
        """Decode every image once into one uint8 tensor (``workers`` decode processes)."""
        x = torch.empty((len(self), *self.shape), dtype=torch.uint8)
        loader = torch.utils.data.DataLoader(self, batch_size=256, num_workers=workers,
                                             generator=torch.Generator().manual_seed(0))
        done = 0
        for batch, _ in loader:
            x[done:done + len(batch)] = batch
            done += len(batch)
            if progress is not None:
                progress(len(batch))
        return Data(self.name, x, self.y if self.labelled else None, num_classes=self.num_classes)

    # -- files -----------------------------------------------------------------------------------
    def _read(self, i: int) -> bytes:
        if not self.source.is_file():
            return (self.source / self.members[i]).read_bytes()
        if self._zip is None or self._zip_pid != os.getpid():  # one handle per decode worker
            self._zip, self._zip_pid = zipfile.ZipFile(self.source), os.getpid()
        return self._zip.read(self.members[i])

    def _mode(self, i: int) -> str:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(self._read(i))) as im:
                return str(im.mode)
        except (UnidentifiedImageError, OSError) as exc:
            raise GanzooError(f"cannot read image '{self._where(i)}': {exc}; remove or replace the file") from None

    def _where(self, i: int) -> str:
        return f"{self.source}:{self.members[i]}" if self.source.is_file() else str(self.source / self.members[i])

    def __getstate__(self) -> dict[str, Any]:  # decode workers open their own zip handle
        return {**self.__dict__, "_zip": None, "_zip_pid": -1}


def _folder_names(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
                  and (_is_image(p.name) or p.name == LABELS_FILE))


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return sorted(n for n in zf.namelist() if not n.endswith("/") and (_is_image(n) or n == LABELS_FILE))
    except (zipfile.BadZipFile, OSError) as exc:
        raise GanzooError(f"cannot read the zip archive '{path}': {exc}; check the file") from None


def _labelled(source: Path, names: list[str], archive: bool) -> tuple[list[str], list[int] | None, int]:
    """(image members, labels or None, number of classes): dataset.json decides when present,
    else (folders only) one sub-folder per class."""
    images = [n for n in names if n != LABELS_FILE]
    if LABELS_FILE in names:
        raw = zipfile.ZipFile(source).read(LABELS_FILE) if archive else (source / LABELS_FILE).read_bytes()
        try:
            pairs = json.loads(raw).get("labels")
            table = {str(name): int(label) for name, label in pairs} if pairs is not None else None
        except (ValueError, TypeError, AttributeError) as exc:
            raise GanzooError(f"'{source}/{LABELS_FILE}' is not {{\"labels\": [[file, label], ...]}} or "
                              f"{{\"labels\": null}}: {exc}; fix or remove it") from None
        if table is None:
            return images, None, 0
        missing = [n for n in images if n not in table]
        if missing:
            raise GanzooError(f"'{source}/{LABELS_FILE}' gives no label for {len(missing)} image(s), e.g. "
                              f"'{missing[0]}'; label every image or set \"labels\": null")
        labels = [table[n] for n in images]
        if min(labels) < 0:
            raise GanzooError(f"'{source}/{LABELS_FILE}' has negative labels; labels are 0, 1, 2, ...")
        return images, labels, max(labels) + 1
    if archive:
        return images, None, 0
    nested = [n for n in images if "/" in n]
    if not nested:
        return images, None, 0
    if len(nested) != len(images):
        raise GanzooError(f"image folder '{source}' mixes loose images with class sub-folders; "
                          "move the loose images into a sub-folder")
    classes = sorted({n.split("/", 1)[0] for n in images})
    index = {c: i for i, c in enumerate(classes)}
    return images, [index[n.split("/", 1)[0]] for n in images], len(classes)


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
        self._batches: Iterator[tuple[Tensor, Tensor]] | None = None
        ShardedBatches(len(files), batch_size, seed, rank, world)  # a batch larger than the shard: one line, now

    def __call__(self) -> tuple[Tensor, Tensor | None]:
        if self._batches is None:
            sampler = ShardedBatches(len(self.files), self.batch_size, self.seed, self.rank, self.world, self.drawn)
            loader = torch.utils.data.DataLoader(
                self.files, batch_sampler=sampler, num_workers=self.workers, pin_memory=self.device.type == "cuda",
                persistent_workers=self.workers > 0, prefetch_factor=4 if self.workers > 0 else None,
                generator=torch.Generator().manual_seed(self.seed))  # not the global RNG, which checkpoints replay
            self._batches = iter(loader)
        x, y = next(self._batches)
        self.drawn += 1
        real = to_float(x.to(self.device, non_blocking=True))
        return real, (y.to(self.device, non_blocking=True) if self.with_labels else None)

    def state_dict(self) -> dict[str, int]:
        return {"drawn": self.drawn}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.drawn = int(state["drawn"])
        self._batches = None  # the next draw starts a loader at that batch
