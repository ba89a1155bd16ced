"""Data sets as tensors: what every built-in and plugin data set loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Data:
    """A whole data set in memory.

    ``x`` is float32 ``[N, *shape]``: images scaled to [-1, 1] (``kind="images"``) or
    raw coordinates (``kind="points"``). ``y`` holds int64 labels in
    ``[0, num_classes)`` or is None. Point mixtures also carry their ``modes`` and
    ``sigma`` so plots and mode-coverage metrics need nothing else.
    """

    name: str
    x: Tensor
    y: Tensor | None = None
    num_classes: int = 0
    kind: str = "images"
    modes: Tensor | None = None
    sigma: float | None = None

    def __post_init__(self) -> None:
        if self.x.dtype != torch.float32:
            self.x = self.x.float()
        if self.y is not None:
            self.y = self.y.long()
            if self.y.shape[0] != self.x.shape[0]:
                raise ValueError(f"data set {self.name}: {self.x.shape[0]} samples but {self.y.shape[0]} labels")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def labelled(self) -> bool:
        return self.y is not None and self.num_classes > 0

    def __len__(self) -> int:
        return self.x.shape[0]
