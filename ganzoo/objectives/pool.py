"""The history of generated images that a discriminator is also shown (Shrivastava et al.
2017, "Learning from Simulated and Unsupervised Images through Adversarial Training",
section 2.3; CycleGAN trains with one of 50 images).

D judging only the newest fakes can forget earlier generators' artefacts, and G returns
to them; a pool makes each D batch half new images and half old ones. :meth:`query`
takes the new batch and returns the batch D sees: while the pool fills, the new images
themselves; after that, each image is, with probability 1/2, swapped for a random pooled
one, which it replaces in the pool. Draws come from torch's global RNG, which checkpoints
save, and the pool is part of the checkpoint state, so a resumed run is bit-identical.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ganzoo.errors import GanzooError


class ImagePool:
    def __init__(self, size: int) -> None:
        self.size = int(size)
        self.images: Tensor | None = None  # [filled, C, H, W], on the batch's device
        self.filled = 0

    @torch.no_grad()
    def query(self, batch: Tensor) -> Tensor:
        """The batch D is shown instead of ``batch`` (detached, same shape)."""
        batch = batch.detach()
        if self.size <= 0:
            return batch
        if self.images is None or self.images.shape[1:] != batch.shape[1:]:
            self.images, self.filled = batch.new_empty((self.size, *batch.shape[1:])), 0
        out = batch.clone()
        n = batch.shape[0]
        fill = min(n, self.size - self.filled)
        if fill:
            self.images[self.filled:self.filled + fill] = batch[:fill]
            self.filled += fill
        rest = n - fill
        if rest:
            swap = torch.rand(rest, device=batch.device) < 0.5
            slot = torch.randint(self.size, (rest,), device=batch.device)
            rows = torch.arange(fill, n, device=batch.device)[swap]
            slots = slot[swap]
            for row, at in zip(rows.tolist(), slots.tolist()):  # in order: a slot drawn twice swaps twice
                out[row] = self.images[at]
                self.images[at] = batch[row]
        return out

    def state_dict(self) -> dict[str, Any]:
        if self.images is None:
            return {}
        return {"images": self.images[:self.filled].cpu().clone(), "filled": self.filled}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s pool; a saved pool that is not one (an edited or damaged
        state.pt) is one line, before any of it is used."""
        if not state:
            return
        saved, filled = state.get("images") if isinstance(state, dict) else None, state.get("filled")
        if not isinstance(saved, Tensor) or saved.dim() < 2 or isinstance(filled, bool) \
                or not isinstance(filled, int) or not 0 <= filled <= self.size or len(saved) != filled:
            raise GanzooError(f"corrupt checkpoint state: the history pool of {self.size} generated images does not "
                              "hold what it says; restore the checkpoint from a copy, or start a new run")
        self.images = saved.new_empty((self.size, *saved.shape[1:]))
        self.filled = filled
        self.images[:filled] = saved
