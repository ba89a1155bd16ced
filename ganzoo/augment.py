"""DiffAugment (Zhao, Liu, Lin, Zhu & Han 2020, "Differentiable Augmentation for
Data-Efficient GAN Training", NeurIPS).

With little data the discriminator memorises the training images and stops giving
the generator a useful signal. Augmenting only the real images does not help: G
then learns to produce augmented-looking images. DiffAugment applies the *same
kind* of random transformation to real and generated images right before D, in
both D's and G's steps, and every transformation is differentiable, so G's
gradient flows back through it. D sees more varied images; G is still asked for
unaugmented ones.

The three policies of the paper, each drawn independently per sample:

- ``color``: brightness shift ``b ~ U[-0.5, 0.5]`` (``x + b``), then saturation
  scale ``s ~ U[0, 2]`` around the per-pixel channel mean, then contrast scale
  ``c ~ U[0.5, 1.5]`` around the per-image mean, in that order, on ganzoo's [-1, 1]
  images as the reference code does on its own [-1, 1] range (nothing is clamped,
  so values may leave [-1, 1]). Saturation does nothing on one-channel images;
- ``translation``: an integer shift of up to 1/8 of the side in each direction
  (``round(side / 8)`` pixels, drawn separately for rows and columns; 4 on MNIST's
  28), the vacated pixels zero;
- ``cutout``: a square of half the side (``round(side / 2)``) set to zero. As in the
  reference code, its position is uniform over placements that keep at least half of
  it (rounded up) inside the image along each axis, and the part outside is dropped:
  near a border a smaller rectangle is zeroed.

``diffaug`` alone means ``color,translation,cutout``, all three in the order of the
paper's reference code, its recommendation when data are scarce (colour last would
paint over the cut-out square). The module has no parameters and draws every random number
from torch's global generator of the images' device, so the RNG state a checkpoint
saves makes a resumed run draw the same augmentations.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ganzoo.errors import GanzooError

PREFIX = "diffaug"
POLICIES = ("color", "translation", "cutout")
#: ``diffaug`` with no list: the paper's policy for small data sets.
DEFAULT_POLICY = ("color", "translation", "cutout")
#: Smallest image side the policies are defined for (cutout needs a square of at least 2).
MIN_SIDE = 4


def _uniform(x: Tensor, low: float, high: float) -> Tensor:
    """One draw per sample, shaped to broadcast over [C, H, W]."""
    return low + (high - low) * torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def color(x: Tensor) -> Tensor:
    """Brightness, then saturation, then contrast, each with its own per-sample factor."""
    x = x + _uniform(x, -0.5, 0.5)
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * _uniform(x, 0.0, 2.0) + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, 0.5, 1.5) + mean


def _fraction(side: int, parts: int) -> int:
    """``side / parts`` rounded half up, as the reference code sizes shifts and squares."""
    return int(side / parts + 0.5)


def translation(x: Tensor) -> Tensor:
    """Shift each image by whole pixels, at most ``round(side / 8)``, filling with zeros.

    Gathering from a zero-padded copy keeps it a pure index operation: every output
    pixel is one input pixel or zero, so gradients reach exactly the pixels kept."""
    n, c, h, w = x.shape
    dh, dw = _fraction(h, 8), _fraction(w, 8)
    shift_h = torch.randint(-dh, dh + 1, (n, 1), device=x.device)
    shift_w = torch.randint(-dw, dw + 1, (n, 1), device=x.device)
    padded = nn.functional.pad(x, (dw, dw, dh, dh))
    rows = torch.arange(h, device=x.device) + dh + shift_h  # [n, h], indices into the padded rows
    cols = torch.arange(w, device=x.device) + dw + shift_w  # [n, w]
    out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * dw))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))


def cutout(x: Tensor) -> Tensor:
    """Zero one square of half the side per image, at a random place (clipped at the borders)."""
    n, _, h, w = x.shape
    size_h, size_w = _fraction(h, 2), _fraction(w, 2)

    def keep(side: int, size: int) -> Tensor:
        # Top edge uniform in [-(size//2), side - size + size//2]: the square's centre
        # ranges over the image, so at least half of it stays inside.
        top = torch.randint(-(size // 2), side - size + size // 2 + 1, (n, 1), device=x.device)
        index = torch.arange(side, device=x.device)
        return (index < top) | (index >= top + size)  # [n, side]: True outside the square

    rows, cols = keep(h, size_h), keep(w, size_w)
    mask = rows[:, :, None] | cols[:, None, :]
    return x * mask[:, None].to(x.dtype)


_FUNCTIONS = {"color": color, "translation": translation, "cutout": cutout}


class Augment(nn.Module):
    """Differentiable augmentation applied to real and generated images before D.

    Holds no parameters, so adding it changes neither checkpoints nor exported
    generators; ``str()`` gives the canonical text stored in a run's config."""

    def __init__(self, policy: Sequence[str] = DEFAULT_POLICY) -> None:
        super().__init__()
        self.policy: tuple[str, ...] = _check_policy(tuple(policy))

    def forward(self, x: Tensor) -> Tensor:
        check_images(tuple(x.shape[1:]))
        if not x.is_floating_point():
            raise GanzooError(f"{self} needs float images in [-1, 1], got dtype {x.dtype}; convert with x.float()")
        for name in self.policy:
            x = _FUNCTIONS[name](x)
        return x

    def __str__(self) -> str:
        return f"{PREFIX}:{','.join(self.policy)}"

    def extra_repr(self) -> str:
        return f"policy={','.join(self.policy)}"


def check_images(shape: Sequence[int]) -> None:
    """Refuse, before any step, a data set augmentation cannot apply to.

    ``shape`` is one sample's shape, (C, H, W) for images or (D,) for vectors."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        raise GanzooError(f"--augment applies to images only, not to vector data of shape {shape}; drop --augment")
    if len(shape) != 3:
        raise GanzooError(f"--augment applies to images [N, C, H, W] only, got samples of shape {shape}; "
                          "drop --augment")
    if min(shape[1:]) < MIN_SIDE:
        raise GanzooError(f"--augment needs images of at least {MIN_SIDE}x{MIN_SIDE} pixels, "
                          f"got {shape[1]}x{shape[2]}; drop --augment")


def _check_policy(policy: tuple[str, ...]) -> tuple[str, ...]:
    if not policy:
        raise GanzooError(f"diffaug needs at least one policy; use e.g. --augment {PREFIX}:{','.join(DEFAULT_POLICY)}")
    for name in policy:
        if name not in POLICIES:
            raise GanzooError(f"unknown DiffAugment policy '{name}'; valid policies: {', '.join(POLICIES)} "
                              f"(e.g. --augment {PREFIX}:color,translation)")
    repeated = sorted({name for name in policy if policy.count(name) > 1})
    if repeated:
        raise GanzooError(f"diffaug lists {', '.join(repeated)} more than once; name each policy once")
    return policy


def parse_augment(text: str | None) -> nn.Module | None:
    """``--augment`` text → an augmentation module, or None for no augmentation.

    ``none`` (or nothing) → None; ``diffaug`` → color,translation,cutout (the paper's
    choice for small data); ``diffaug:color,translation`` → those policies in that order;
    ``ada`` or ``ada:target=0.6,kimg=100`` → adaptive augmentation (:mod:`ganzoo.ada`)."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise GanzooError(f"--augment must be text such as 'diffaug' or 'none', got {text!r}")
    spec = text.strip().lower()
    if spec in ("", "none"):
        return None
    head, sep, tail = spec.partition(":")
    if head.strip() == "ada":
        from ganzoo.ada import parse_ada

        return parse_ada(spec)
    if head.strip() != PREFIX:
        raise GanzooError(f"unknown augmentation '{text}'; use none, ada, {PREFIX} or {PREFIX}:POLICY,... "
                          f"with policies from {', '.join(POLICIES)}")
    if not sep:
        return Augment(DEFAULT_POLICY)
    return Augment(tuple(name.strip() for name in tail.split(",") if name.strip()))


__all__ = ["DEFAULT_POLICY", "POLICIES", "Augment", "check_images", "color", "cutout", "parse_augment", "translation"]
