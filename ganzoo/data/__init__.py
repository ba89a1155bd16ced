"""Data sets as tensors: what every built-in and plugin data set loader returns.

A loader returns :class:`Data` (the whole set in memory) or, for image sets that may
not fit, :class:`ganzoo.data.files.ImageFiles` (files decoded on demand), which the
training loop holds in memory as uint8 when it fits the memory budget and streams
through a DataLoader otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def to_float(x: Tensor) -> Tensor:
    """Images stored as uint8 pixels (0..255) → float32 in [-1, 1]; float data unchanged.
    Done per batch, on the batch's device, so a set is held at a quarter of its float size."""
    if x.dtype == torch.uint8:
        return x.float() / 255 * 2 - 1
    return x


@dataclass
class Data:
    """A whole data set in memory.

    ``x`` is ``[N, *shape]`` (the targets, for a translation set): images as uint8 pixels
    0..255 (4x less memory; converted per batch) or float32 scaled to [-1, 1] (``kind="images"``), or raw float
    coordinates (``kind="points"``). ``y`` holds int64 labels in ``[0, num_classes)``
    or is None. Point mixtures also carry their ``modes`` and ``sigma`` so plots and
    mode-coverage metrics need nothing else. ``class_names`` names each class where the
    loader knows the names (digits "0".."9", emoji groups, a folder's sub-folders), so
    that runs, exports, ``--labels NAME`` and labelled grid rows can use them.
    """

    name: str
    x: Tensor
    y: Tensor | None = None
    num_classes: int = 0
    kind: str = "images"
    modes: Tensor | None = None
    sigma: float | None = None
    class_names: list[str] | None = None
    #: Translation sets: the generator's input images, ``[M, *source_shape]`` (uint8 0..255
    #: or float32 in [-1, 1]). Paired (``kind="pairs"``): ``source[i]`` becomes ``x[i]``, so
    #: M = N. Unpaired (``kind="domains"``): two domains drawn independently, source A and
    #: target B (``x``), M and N free; ``source_y`` labels domain A where it is labelled.
    source: Tensor | None = None
    source_y: Tensor | None = None
    #: The names of the source and target domains ("edges", "digits"), for grids and exports.
    domains: tuple[str, str] | None = None
    #: The last ``held_out`` samples (of ``x``, and of ``source`` for pairs and domains) are
    #: never drawn for training: ``ganzoo eval`` scores translations on them.
    held_out: int = 0

    def __post_init__(self) -> None:
        if self.x.dtype != torch.float32 and not (self.x.dtype == torch.uint8 and self.kind != "points"):
            self.x = self.x.float()
        if self.source is not None:
            if self.kind not in ("pairs", "domains"):
                raise ValueError(f"data set {self.name}: source images need kind 'pairs' or 'domains', "
                                 f"not {self.kind!r}")
            if self.source.dtype not in (torch.uint8, torch.float32):
                self.source = self.source.float()
            if self.kind == "pairs" and self.source.shape[0] != self.x.shape[0]:
                raise ValueError(f"data set {self.name}: {self.x.shape[0]} targets but {self.source.shape[0]} sources")
            if self.source_y is not None:
                self.source_y = self.source_y.long()
        elif self.kind in ("pairs", "domains"):
            raise ValueError(f"data set {self.name}: kind {self.kind!r} needs source images")
        if not 0 <= self.held_out < min(len(self), len(self.source) if self.source is not None else len(self)):
            raise ValueError(f"data set {self.name}: held_out {self.held_out} leaves nothing to train on")
        if self.y is not None:
            self.y = self.y.long()
            if self.y.shape[0] != self.x.shape[0]:
                raise ValueError(f"data set {self.name}: {self.x.shape[0]} samples but {self.y.shape[0]} labels")
        if self.class_names is not None:
            from ganzoo.schema import class_names_problem

            self.class_names = list(self.class_names)
            problem = class_names_problem(self.class_names, self.num_classes)
            if problem:
                raise ValueError(f"data set {self.name}: class_names must be {problem}")

    def floats(self, stop: int | None = None) -> Tensor:
        """The first ``stop`` samples (all when None) as float32, images in [-1, 1]."""
        return to_float(self.x[:stop])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def source_shape(self) -> tuple[int, ...] | None:
        return tuple(self.source.shape[1:]) if self.source is not None else None

    @property
    def translation(self) -> bool:
        """Whether this is a translation set (pairs or two domains) rather than samples of one distribution."""
        return self.source is not None

    @property
    def labelled(self) -> bool:
        return self.y is not None and self.num_classes > 0

    @property
    def nbytes(self) -> int:
        extra = self.source.numel() * self.source.element_size() if self.source is not None else 0
        return self.x.numel() * self.x.element_size() + extra

    def __len__(self) -> int:
        return self.x.shape[0]
