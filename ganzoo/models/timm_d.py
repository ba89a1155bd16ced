"""Any timm architecture as a discriminator: ``ganzoo train MODEL --discriminator timm:ARCH``.

The network is built with ``timm.create_model(ARCH, pretrained=False,
in_chans=C, num_classes=0)``: with no classifier, timm returns the pooled
pre-logit features [N, F] for every architecture, so one linear layer gives the
logit and, for conditional models, the same features feed the projection term of
Miyato & Koyama (2018, "cGANs with Projection Discriminator"):
logit = w·h + embed(y)·h. (``num_classes=1`` would give the logit directly but
hide the features the projection needs.)

Many architectures cannot run on 8x8 or 28x28 images: ViTs want a side divisible
by their patch size, some want a fixed size, ConvNeXt-style stems run out of pixels.
At construction the wrapper probes the network on a zero batch at the data set's
side, then at 32, 64 and the architecture's default input size, and keeps the first
side that works; if that is larger than the images, they are resized bilinearly
inside ``forward`` (differentiable, so G and the gradient penalty see through it).
Nothing is downloaded: weights start random, as a discriminator's should.
"""

from __future__ import annotations

import difflib
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo.errors import GanzooError
from ganzoo.layers import need_labels

PREFIX = "timm:"
PROBE_SIDES = (32, 64)


def parse_arch(spec: str) -> str:
    """``"timm:resnet10t"`` → ``"resnet10t"``, with a one-line error for anything else."""
    if not isinstance(spec, str) or not spec.startswith(PREFIX) or not spec[len(PREFIX):].strip():
        raise GanzooError(f"--discriminator must look like timm:ARCH (e.g. timm:resnet10t), got '{spec}'")
    return spec[len(PREFIX):].strip()


def _unknown_arch(arch: str) -> GanzooError:
    import timm

    names = timm.list_models()
    close = difflib.get_close_matches(arch, names, n=4, cutoff=0.6)
    for name in timm.list_models(f"*{arch}*"):
        if len(close) >= 6:
            break
        if name not in close:
            close.append(name)
    hint = f"did you mean {', '.join(close)}?" if close else "see timm.list_models() for the names"
    return GanzooError(f"timm has no architecture '{arch}': {hint} (e.g. --discriminator timm:resnet10t)")


def _runs_at(net: nn.Module, channels: int, side: int) -> bool:
    try:
        with torch.no_grad():
            out = net(torch.zeros(2, channels, side, side))
    except (RuntimeError, AssertionError, ValueError, IndexError):
        return False
    return out.dim() == 2 and out.shape[0] == 2


def _default_side(net: nn.Module) -> int | None:
    cfg = getattr(net, "pretrained_cfg", None) or {}
    size = cfg.get("input_size") if isinstance(cfg, dict) else None
    return int(size[-1]) if size else None


class TimmDiscriminator(nn.Module):
    """A timm body, pooled features, one logit (plus projection for conditional models)."""

    def __init__(self, arch: str, shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__()
        import timm

        channels, height, width = shape
        self.arch, self.num_classes = arch, num_classes
        self.body = timm.create_model(arch, pretrained=False, in_chans=channels, num_classes=0)
        self.body.eval()
        candidates = [height, *(s for s in PROBE_SIDES if s > height)]
        default = _default_side(self.body)
        if default and default > height and default not in candidates:
            candidates.append(default)
        side = next((s for s in candidates if _runs_at(self.body, channels, s)), None)
        self.body.train()
        if side is None:
            raise GanzooError(
                f"timm architecture '{arch}' cannot run on {channels}x{height}x{width} images even resized to "
                f"{candidates[-1]} px; choose another, e.g. --discriminator timm:resnet10t"
            )
        #: The side images are resized to before the body; None when they fit as they are.
        self.input_side = side if side != height else None
        features = int(cast(int, self.body.num_features))  # a plain attribute of every timm model
        self.linear = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features) if num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.input_side is not None:
            x = F.interpolate(x, size=(self.input_side, self.input_side), mode="bilinear", align_corners=False)
        h = self.body(x)
        out = self.linear(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(need_labels(labels, "discriminator")) * h).sum(dim=1)
        return out


def build_timm_discriminator(spec: str, shape: tuple[int, ...], num_classes: int = 0) -> nn.Module:
    """The module behind ``--discriminator timm:ARCH`` for data of ``shape``."""
    import timm

    arch = parse_arch(spec)
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        raise GanzooError(f"--discriminator timm:{arch} needs image data, but the data set has shape {shape} "
                          "(2-D points); drop --discriminator for point data sets")
    if not timm.is_model(arch):
        raise _unknown_arch(arch)
    try:
        return TimmDiscriminator(arch, shape, num_classes)
    except TypeError as exc:
        raise GanzooError(
            f"timm cannot build '{arch}' with in_chans={shape[0]}: {exc}; choose another architecture") from None
