"""pix2pix: Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation with Conditional
Adversarial Networks", CVPR.

The generator is a U-Net: an encoder of stride-2 4x4 convolutions (C64-C128-C256-C512-...,
LeakyReLU 0.2, normalisation after all but the first) down to a 1x1 bottleneck, and a decoder
of stride-2 transposed convolutions (ReLU) whose every layer also receives the encoder's map of
its size (the skip connections that carry the source's structure straight to the output), with
dropout 0.5 on the three innermost decoder layers as the only noise (the paper found z ignored)
and tanh out. The discriminator is the conditional PatchGAN (:mod:`ganzoo.models.patchgan`)
judging (source, image) pairs. The objective is the non-saturating GAN loss plus L1 to the
target, weight 100 (the model's own ``l1:100`` term); Adam at 2e-4 with betas (0.5, 0.999).

Deviations:
- depth: the encoder halves the source down to 1x1 as the paper's 8 layers do at 256 px, so
  a 32-px set gets 5 layers, and the exported network takes any side that is a multiple of
  32 (``--set depth=K`` for fewer: sides multiples of 2^K);
- InstanceNorm instead of BatchNorm: the paper trains with batch size 1, where BatchNorm *is*
  instance normalisation (and applies it with the test image's own statistics); this zoo
  trains on batches, so instance normalisation keeps the paper's per-image statistics and an
  exported translation does not depend on what else is in its batch. None at the 1x1
  bottleneck, where an instance has one value per channel (the authors' code also leaves it out);
- dropout in training only: the paper keeps it at test time as the noise; exports and
  ``ganzoo translate`` are deterministic, so a translation can be verified and reproduced;
- width 32 by default (the paper's 64: ``--set width=64``), for CPU budgets;
- the PatchGAN has 2 stride-2 layers by default (a 34-px patch), the paper's 70-px patch
  having 3 at 256 px; on 32-px sets 3 would look at the whole image (``--set d_layers=3``);
- D's loss is not halved: under Adam, scaling a loss by a constant changes nothing but epsilon.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ganzoo.errors import GanzooError
from ganzoo.layers import Dropout, check_size, check_width, dcgan_init
from ganzoo.models.patchgan import PatchDiscriminator, check_multiple, image_shape

MODEL = "pix2pix"


class _Block(nn.Module):
    """One level of the U-Net: down, the inner levels, up, and the skip around them."""

    def __init__(self, outer: int, inner: int, sub: nn.Module | None, first: bool, innermost: bool,
                 dropout: bool, out_channels: int | None = None) -> None:
        super().__init__()
        down: list[nn.Module] = [] if first else [nn.LeakyReLU(0.2)]
        down.append(nn.Conv2d(outer if not first else outer, inner, 4, 2, 1))
        if not first and not innermost:
            down.append(nn.InstanceNorm2d(inner, affine=True))
        self.down = nn.Sequential(*down)
        self.sub = sub
        up_in = inner if innermost else inner * 2
        up: list[nn.Module] = [nn.ReLU(), nn.ConvTranspose2d(up_in, out_channels or outer, 4, 2, 1)]
        if out_channels is None:
            up.append(nn.InstanceNorm2d(outer, affine=True))
            if dropout:
                up.append(Dropout(0.5))
        else:
            up.append(nn.Tanh())
        self.up = nn.Sequential(*up)
        self.first = first

    def forward(self, x: Tensor) -> Tensor:
        h = self.down(x)
        if self.sub is not None:
            h = self.sub(h)
        h = self.up(h)
        return h if self.first else torch.cat([x, h], 1)


class UNetGenerator(nn.Module):
    def __init__(self, shape: Sequence[int], source_shape: Sequence[int], width: int = 32, depth: int | None = None
                 ) -> None:
        super().__init__()
        out_c, h, w = image_shape(shape, "target", MODEL)
        in_c = image_shape(source_shape, "source", MODEL)[0]
        if tuple(source_shape)[1:] != (h, w):
            raise GanzooError(f"{MODEL} translates images of one size, and this set's sources are "
                              f"{source_shape[1]}x{source_shape[2]} for {h}x{w} targets; for super-resolution "
                              "train srgan")
        width = check_width(width, MODEL)
        depth = int(math.log2(min(h, w))) if depth is None else check_size(depth, "depth", MODEL, 5, high=10)
        check_multiple(shape, 2 ** depth, MODEL, "depth")
        self.source_shape, self.output_shape = tuple(int(s) for s in source_shape), (out_c, h, w)
        self.scale, self.multiple = 1, 2 ** depth
        widths = [width * min(2 ** i, 8) for i in range(depth)]  # C64-C128-C256-C512-C512-...
        block: nn.Module | None = None
        for level in range(depth - 1, 0, -1):  # from the bottleneck outwards
            innermost = level == depth - 1
            block = _Block(widths[level - 1], widths[level], block, first=False, innermost=innermost,
                           dropout=not innermost and level >= depth - 4)
        self.net = dcgan_init(_Block(in_c, widths[0], block, first=True, innermost=depth == 1, dropout=False,
                                     out_channels=out_c))

    def forward(self, source: Tensor) -> Tensor:
        return self.net(source)


def generator(shape: Sequence[int], source_shape: Sequence[int], num_classes: int = 0, latent_dim: int = 0,
              width: int = 32, depth: int | None = None, d_layers: int = 2) -> nn.Module:
    return UNetGenerator(shape, source_shape, width, depth)


def discriminator(shape: Sequence[int], source_shape: Sequence[int], num_classes: int = 0, latent_dim: int = 0,
                  width: int = 32, depth: int | None = None, d_layers: int = 2) -> nn.Module:
    return PatchDiscriminator(shape, image_shape(source_shape, "source", MODEL)[0], width, d_layers, MODEL)
