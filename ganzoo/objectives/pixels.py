"""Terms that compare a translation with its target, for paired image-to-image sets.

``l1``: weight x mean |G(source) - target| (pix2pix's L1 at 100, ESRGAN's at 1e-2 of its
perceptual term). ``perceptual``: weight x mean |phi(G(source)) - phi(target)|, phi being the
last convolution (before its activation, as ESRGAN takes VGG's) of a classifier that ships
with the zoo: the digit reader for grey images, the emoji reader for colour ones, each
frozen and fed the images resized to its input side. Both are generator terms and refuse
two unpaired domains, where a translation has no target to be compared with.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo.api import Objective, Setup, Step
from ganzoo.errors import GanzooError


def _paired(run: Setup, name: str) -> None:
    if run.data_kind != "pairs":
        raise GanzooError(f"--reg {name} compares each translation with its target, so it needs a paired data set "
                          f"(this one holds {run.data_kind}); drop it, or train on pairs such as edges2digits")


class PixelL1(Objective):
    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = float(weight)

    def setup(self, run: Setup) -> None:
        _paired(run, "l1")

    def d_terms(self, step: Step) -> dict[str, Tensor]:
        return {}

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        return {"l1": self.weight * (step.fake.float() - step.real.float()).abs().mean()}


#: Which shipped classifier reads images of each channel count.
FEATURE_NETS = {1: "mnist28", 3: "emoji32"}


class _Features(nn.Module):
    """A shipped classifier's convolutions in torch, frozen: the perceptual features."""

    def __init__(self, name: str) -> None:
        super().__init__()
        from ganzoo.metrics.classifier import load_classifier

        net = load_classifier(name)
        self.size, self.padding = net.size, net.padding
        self.convs = nn.ModuleList()
        for i in range(1, net.depth + 1):
            weight = torch.from_numpy(net.weights[f"conv{i}.weight"])
            conv = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[-1], padding=net.padding)
            with torch.no_grad():
                conv.weight.copy_(weight)
                cast(Tensor, conv.bias).copy_(torch.from_numpy(net.weights[f"conv{i}.bias"]))
            self.convs.append(conv)
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.convs) - 1:
                x = F.max_pool2d(F.relu(x), 2)
        return x  # the last convolution, before its activation


class Perceptual(Objective):
    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = float(weight)
        self.features: _Features | None = None

    def setup(self, run: Setup) -> None:
        _paired(run, "perceptual")
        channels = int(run.data_shape[0])
        if channels not in FEATURE_NETS:
            raise GanzooError(f"--reg perceptual reads grey or colour images, not {channels} channels; drop it")
        self.features = _Features(FEATURE_NETS[channels]).to(run.device)

    def d_terms(self, step: Step) -> dict[str, Tensor]:
        return {}

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        assert self.features is not None  # built by setup
        fake, real = self.features(step.fake.float()), self.features(step.real.float())
        return {"perceptual": self.weight * (fake - real.detach()).abs().mean()}
