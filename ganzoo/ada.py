"""Adaptive discriminator augmentation, ADA (Karras, Aittala, Hellsten, Laine, Lehtinen & Aila
2020, "Training Generative Adversarial Networks with Limited Data", NeurIPS).

With a few thousand images D memorises the training set and G's signal collapses. ADA
augments every image D sees, real and generated, in D's and G's updates alike, with
transformations that D cannot mistake for the data's own distribution as long as each
is applied with probability p < ~0.8 (the augmentations "do not leak"). p is not a
constant to tune: it is steered during training by an overfitting heuristic, the mean
sign of D's outputs on the real images, r_t = E[sign(D(x_real))], which rises towards 1
as D becomes sure of the training images. Every ``interval`` D updates, p moves up when
r_t is above ``target`` (0.6, the paper's) and down otherwise, by a step sized so that p
could cross [0, 1] in ``kimg`` thousand images.

The pipeline here is the paper's "bgc": blits (x-flip, 90-degree rotations, integer
translation), general geometric transforms (isotropic scaling, rotation, anisotropic
scaling, fractional translation) and colour transforms (brightness, contrast, luma flip,
hue rotation, saturation), each applied per image with probability p (the two rotations
with 1 - sqrt(1 - p), so that some rotation happens with probability p), with the paper's
parameter distributions. The geometric ones are composed into one affine map per image
and applied by one bilinear resampling with reflected borders; the colour ones into one
4x4 matrix per image. Every step is differentiable, so G learns through it.

p is objective state (:class:`AdaTuner`): logged as ``stat/ada_p`` and ``stat/ada_rt``,
saved with every checkpoint and restored exactly by ``--resume``, accumulators included.

Deviations:
- the paper's ``kimg`` is 500 (p may cross [0, 1] in 500,000 images); here it is 100 by
  default because CPU runs are a few hundred thousand images long in all
  (``--augment ada:kimg=500`` gives the paper's);
- resampling is bilinear with reflection, where the paper upsamples with a
  wavelet filter before resampling (to limit aliasing); the cutout and image-space
  filtering groups (the paper's "f" and "n") are not included, as in its recommended "bgc";
- colour transforms on one-channel images keep brightness and contrast only (luma flip,
  hue and saturation need three channels).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo.api import Objective, Step
from ganzoo.errors import GanzooError

#: D updates between two adjustments of p (the paper's N = 4).
INTERVAL = 4
#: Parameters of ``--augment ada:key=value,...``, with their defaults.
PARAMS: dict[str, float] = {"target": 0.6, "kimg": 100.0, "p": 0.0}


def _eye(n: int, size: int, like: Tensor) -> Tensor:
    return torch.eye(size, dtype=like.dtype, device=like.device).expand(n, size, size).clone()


def _gate(n: int, p: Tensor | float, like: Tensor) -> Tensor:
    """1.0 where a transform is applied to an image (probability p), else 0.0: [n]."""
    return (torch.rand(n, device=like.device) < p).to(like.dtype)


def _translate(tx: Tensor, ty: Tensor) -> Tensor:
    m = _eye(tx.shape[0], 3, tx)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _scale(sx: Tensor, sy: Tensor) -> Tensor:
    m = _eye(sx.shape[0], 3, sx)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _rotate(angle: Tensor) -> Tensor:
    m = _eye(angle.shape[0], 3, angle)
    c, s = torch.cos(angle), torch.sin(angle)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def geometry(x: Tensor, p: Tensor | float) -> Tensor:
    """The blit and geometric groups as one affine map per image (in the [-1, 1] coordinates
    of ``affine_grid``: a translation by a fraction t of the side is 2t there)."""
    n = x.shape[0]
    ref = x.new_zeros(n)
    p_rot = 1 - (1 - torch.as_tensor(p, dtype=x.dtype, device=x.device)).clamp(0, 1).sqrt()
    m = _eye(n, 3, x)
    flip = 1 - 2 * (torch.randint(2, (n,), device=x.device).to(x.dtype) * _gate(n, p, ref))
    m = m @ _scale(flip, torch.ones_like(flip))
    quarter = torch.randint(4, (n,), device=x.device).to(x.dtype) * _gate(n, p, ref)
    m = m @ _rotate(quarter * (math.pi / 2))
    g = _gate(n, p, ref)  # integer translation: up to 1/8 of the side, whole pixels
    side = x.shape[-1]
    shift = torch.round((torch.rand(2, n, device=x.device, dtype=x.dtype) * 2 - 1) * 0.125 * side) / side
    m = m @ _translate(2 * shift[0] * g, 2 * shift[1] * g)
    iso = torch.exp2(torch.randn(n, device=x.device, dtype=x.dtype) * 0.2 * _gate(n, p, ref))
    m = m @ _scale(iso, iso)
    m = m @ _rotate((torch.rand(n, device=x.device, dtype=x.dtype) * 2 - 1) * math.pi * _gate(n, p_rot, ref))
    aniso = torch.exp2(torch.randn(n, device=x.device, dtype=x.dtype) * 0.2 * _gate(n, p, ref))
    m = m @ _scale(aniso, 1 / aniso)
    m = m @ _rotate((torch.rand(n, device=x.device, dtype=x.dtype) * 2 - 1) * math.pi * _gate(n, p_rot, ref))
    frac = torch.randn(2, n, device=x.device, dtype=x.dtype) * 0.125 * _gate(n, p, ref)
    m = m @ _translate(2 * frac[0], 2 * frac[1])
    grid = F.affine_grid(m[:, :2, :], list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def colour(x: Tensor, p: Tensor | float) -> Tensor:
    """The colour group as one 4x4 matrix per image, on [-1, 1] pixels (0 is mid grey,
    so contrast scales about it)."""
    n, channels = x.shape[0], x.shape[1]
    ref = x.new_zeros(n)
    c = _eye(n, 4, x)
    bright = torch.randn(n, device=x.device, dtype=x.dtype) * 0.2 * _gate(n, p, ref)
    t = _eye(n, 4, x)
    t[:, :3, 3] = bright[:, None]
    c = t @ c
    contrast = torch.exp2(torch.randn(n, device=x.device, dtype=x.dtype) * 0.5 * _gate(n, p, ref))
    c = torch.diag_embed(torch.stack([contrast, contrast, contrast, torch.ones_like(contrast)], 1)) @ c
    if channels == 3:
        v = torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=x.dtype, device=x.device) / math.sqrt(3)
        vv = torch.outer(v, v)
        flip = torch.randint(2, (n,), device=x.device).to(x.dtype) * _gate(n, p, ref)
        c = (_eye(n, 4, x) - 2 * flip[:, None, None] * vv) @ c
        theta = (torch.rand(n, device=x.device, dtype=x.dtype) * 2 - 1) * math.pi * _gate(n, p, ref)
        c = _hue(theta, v) @ c
        sat = torch.exp2(torch.randn(n, device=x.device, dtype=x.dtype) * _gate(n, p, ref))
        c = (vv + (_eye(n, 4, x) - vv) * sat[:, None, None]) @ c
    flat = x.flatten(2)  # [n, C, HW]
    if channels == 3:
        out = c[:, :3, :3] @ flat + c[:, :3, 3:]
    else:  # brightness and contrast act on each channel alone
        out = flat * c[:, :1, :1] + c[:, :1, 3:]
    return out.view_as(x)


def _hue(theta: Tensor, v: Tensor) -> Tensor:
    """Rotation by theta about the luma axis v (Rodrigues' formula), as 4x4 matrices."""
    n = theta.shape[0]
    axis = v[:3]
    k = torch.zeros(3, 3, dtype=v.dtype, device=v.device)
    k[0, 1], k[0, 2], k[1, 0], k[1, 2], k[2, 0], k[2, 1] = -axis[2], axis[1], axis[2], -axis[0], -axis[1], axis[0]
    eye3 = torch.eye(3, dtype=v.dtype, device=v.device)
    r = eye3 + torch.sin(theta)[:, None, None] * k + (1 - torch.cos(theta))[:, None, None] * (k @ k)
    m = _eye(n, 4, theta)
    m[:, :3, :3] = r
    return m


class AdaptiveAugment(nn.Module):
    """ADA's augmentation before D. ``p`` is a buffer on the images' device, so the step
    never waits for the host to read it; :class:`AdaTuner` moves it."""

    def __init__(self, target: float = PARAMS["target"], kimg: float = PARAMS["kimg"], p: float = PARAMS["p"]
                 ) -> None:
        super().__init__()
        if not 0 < target < 1:
            raise GanzooError(f"--augment ada:target={target}: the target must lie in (0, 1); the paper's is 0.6")
        if not 0 < kimg < float("inf"):
            raise GanzooError(f"--augment ada:kimg={kimg}: must be a positive number of thousands of images")
        if not 0 <= p <= 1:
            raise GanzooError(f"--augment ada:p={p}: the starting probability must lie in [0, 1]")
        self.target, self.kimg = float(target), float(kimg)
        self.p: Tensor
        self.register_buffer("p", torch.tensor(float(p)), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise GanzooError(f"--augment ada applies to images [N, C, H, W], got a batch of shape {list(x.shape)}")
        if self.p.device != x.device:
            self.p = self.p.to(x.device)
        p = self.p.to(x.dtype)
        return colour(geometry(x, p), p)

    def objective(self, batch_size: int) -> AdaTuner:
        """The objective that steers ``p`` from D's outputs on real images."""
        return AdaTuner(self, batch_size)

    def __str__(self) -> str:
        return f"ada:target={self.target:g},kimg={self.kimg:g}"


class AdaTuner(Objective):
    """Steers :class:`AdaptiveAugment`'s p: adds no loss term, reads the real logits D already
    computed for the loss, and keeps p and its accumulators as checkpoint state."""

    def __init__(self, augment: AdaptiveAugment, batch_size: int) -> None:
        super().__init__()
        self.augment, self.batch_size = augment, batch_size
        self.signs: Tensor | None = None  # sum of sign(D(real)) since the last adjustment
        self.count = 0

    def d_terms(self, step: Step) -> dict[str, Tensor]:
        logits = step.d_real.logits.detach().float()
        signs = torch.sign(logits).sum()
        self.signs = signs if self.signs is None else self.signs + signs
        self.count += logits.numel()
        if (step.d_step + 1) % INTERVAL == 0:
            rt = self.signs / self.count
            adjust = torch.sign(rt - self.augment.target) * (self.batch_size * INTERVAL) / (self.augment.kimg * 1000)
            self.augment.p = (self.augment.p.to(rt.device) + adjust).clamp(0.0, 1.0)
            step.log("ada_rt", rt)
            self.signs, self.count = None, 0
        step.log("ada_p", self.augment.p)
        return {}

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        return {}

    def state_dict(self) -> dict[str, float | int]:
        return {"p": float(self.augment.p), "signs": float(self.signs) if self.signs is not None else 0.0,
                "count": self.count}

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        self.augment.p = torch.tensor(float(state["p"]), device=self.augment.p.device)
        self.count = int(state["count"])
        self.signs = torch.tensor(float(state["signs"])) if self.count else None


def parse_ada(text: str) -> AdaptiveAugment:
    """``ada`` or ``ada:target=0.6,kimg=100,p=0`` → an :class:`AdaptiveAugment`."""
    _, sep, tail = text.partition(":")
    values = dict(PARAMS)
    for pair in (tail.split(",") if sep else []):
        key, eq, value = (s.strip() for s in pair.partition("="))
        if not eq or key not in PARAMS:
            raise GanzooError(f"--augment {text}: '{pair.strip()}' is not one of "
                              f"{', '.join(f'{k}=NUMBER' for k in PARAMS)}, e.g. --augment ada:target=0.6")
        try:
            values[key] = float(value)
        except ValueError:
            raise GanzooError(f"--augment {text}: {key} must be a number, got '{value}'") from None
    return AdaptiveAugment(**values)
