"""The PatchGAN discriminator of pix2pix (Isola et al. 2017, section 3.2.2), shared by
pix2pix and CycleGAN, and what every image-to-image network here checks of its shapes.

A PatchGAN classifies each overlapping N x N patch of an image as real or fake and returns
the map of those logits, which the losses average: it models high frequencies only, leaving
low frequencies to the L1 (pix2pix) or cycle (CycleGAN) term. The paper's 70 x 70 patch is
three stride-2 4x4 convolutions (C64-C128-C256) and a stride-1 C512 before a 1-channel
convolution; ``layers`` counts the stride-2 ones (3: 70 px, 2: 34 px, 1: 16 px), InstanceNorm
(with a learned scale and shift, as the BatchNorm of the authors' pix2pix has) after every
convolution but the first, LeakyReLU 0.2. With ``source_channels`` it judges the
source and the image concatenated along the channels (pix2pix's conditional D); a source
smaller than the image (super-resolution) is enlarged first (nearest).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo.errors import GanzooError
from ganzoo.layers import check_size, check_width, dcgan_init


def image_shape(shape: Sequence[int], what: str, model: str) -> tuple[int, int, int]:
    """``(C, H, W)`` of an image set, or one line naming ``model`` and what it needs."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise GanzooError(f"{model} translates grey or colour images; its {what} shape {shape} is not "
                          "(1 or 3, H, W): choose an image-to-image data set (ganzoo list datasets)")
    return shape[0], shape[1], shape[2]


def check_multiple(shape: Sequence[int], multiple: int, model: str, option: str = "") -> None:
    """A fully convolutional network that halves its maps k times takes sides that are multiples of 2^k."""
    if shape[-1] % multiple or shape[-2] % multiple:
        nearest = max(multiple, shape[-1] // multiple * multiple)
        fewer = f" or fewer down-sampling layers (--set {option}=...)" if option else ""
        raise GanzooError(f"{model}: its images are {shape[-2]}x{shape[-1]}, and this network takes sides that are "
                          f"multiples of {multiple}; use --image-size {nearest}{fewer}")


class PatchDiscriminator(nn.Module):
    def __init__(self, shape: Sequence[int], source_channels: int = 0, width: int = 64, layers: int = 3,
                 model: str = "patchgan") -> None:
        super().__init__()
        channels = image_shape(shape, "target", model)[0]
        width, layers = check_width(width, model), check_size(layers, "d_layers", model, 3, high=6)
        check_multiple(shape, 2 ** layers, model, "d_layers")
        self.source_channels = source_channels
        body: list[nn.Module] = [nn.Conv2d(channels + source_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = width
        for i in range(1, layers + 1):  # stride 2 up to `layers`, then one stride-1 block
            nxt = width * min(2 ** i, 8)
            stride = 2 if i < layers else 1
            body += [nn.Conv2d(c, nxt, 4, stride, 1), nn.InstanceNorm2d(nxt, affine=True), nn.LeakyReLU(0.2)]
            c = nxt
        body.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.body = dcgan_init(nn.Sequential(*body))  # the authors' initialisation: N(0, 0.02)

    def forward(self, x: Tensor, source: Tensor | None = None) -> Tensor:
        """A map of logits ``[N, h, w]``, one per patch."""
        if self.source_channels:
            if source is None:
                raise GanzooError("this PatchGAN judges (source, image) pairs: call it as D(image, source)")
            if source.shape[-2:] != x.shape[-2:]:
                source = F.interpolate(source, size=tuple(x.shape[-2:]), mode="nearest")
            x = torch.cat([x, source], 1)
        return self.body(x).squeeze(1)
