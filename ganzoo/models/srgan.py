"""Super-resolution GAN in the ESRGAN style: Ledig et al. 2017, "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network" (SRGAN), CVPR; Wang et al. 2018,
"ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", ECCV workshops.

The generator keeps the low-resolution image's size through a stack of residual blocks and
enlarges only at the end, by sub-pixel convolution (a convolution to 4x the channels, then
PixelShuffle: Shi et al. 2016) once per factor 2; a long skip adds the first features to the
stack's output. As in ESRGAN the blocks have no BatchNorm (which made artefacts and ties an
image to its batch) and their residuals are scaled by 0.2. D is SRGAN's VGG-style network
(3x3 convolutions, every second one of stride 2, doubling the channels; LeakyReLU 0.2; then two
dense layers to one logit). The loss is ESRGAN's relativistic average GAN (``ragan``); the
generator's own terms are ESRGAN's L1 to the target and a perceptual term, the L1 distance
between the features of the SR image and of the target in a network that ships
(:mod:`ganzoo.objectives.pixels`), in ESRGAN's proportions (perceptual 1, adversarial 5e-3,
L1 1e-2, i.e. 200 and 2 against an adversarial weight of 1).

Deviations:
- residual blocks (conv-LeakyReLU-conv) instead of ESRGAN's residual-in-residual dense blocks,
  16 of width 32 by default (ESRGAN: 23 RRDBs of 64), for CPU budgets (``--set blocks=,width=``);
- the perceptual features are those of the zoo's own digit or emoji classifier (the last
  convolution, before its activation, as ESRGAN takes VGG's), not VGG19's: no weights are
  downloaded, and ImageNet features say little about 32-px digits;
- tanh on the output, so images stay in [-1, 1] like every generator of the zoo;
- no PSNR-oriented pre-training of G (ESRGAN's first stage): the L1 term does that work from
  the start;
- D has no BatchNorm (SRGAN's has it after every convolution but the first): the relativistic
  average loss already compares each logit with its batch's mean; its dense layer has 8x the
  conv width (SRGAN: 1,024), and it takes the training size only (it is never exported).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from ganzoo.errors import GanzooError
from ganzoo.layers import check_size, check_width
from ganzoo.models.patchgan import image_shape

MODEL = "srgan"
#: ESRGAN's residual scaling.
RESIDUAL_SCALE = 0.2


class _Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(c, c, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + RESIDUAL_SCALE * self.body(x)


class SRGenerator(nn.Module):
    def __init__(self, shape: Sequence[int], source_shape: Sequence[int], width: int = 32, blocks: int = 16) -> None:
        super().__init__()
        out_c, h, w = image_shape(shape, "target", MODEL)
        in_c, sh, sw = image_shape(source_shape, "source", MODEL)
        scale = h // sh
        if h != sh * scale or w != sw * scale or scale < 2 or scale & (scale - 1) or w // sw != scale:
            raise GanzooError(f"{MODEL} enlarges by a power of two; this set's sources are {sh}x{sw} for {h}x{w} "
                              "targets: choose a super-resolution set such as digits-x4")
        self.source_shape, self.output_shape = (in_c, sh, sw), (out_c, h, w)
        self.scale, self.multiple = scale, 1
        self.head = nn.Conv2d(in_c, width, 3, 1, 1)
        self.body = nn.Sequential(*[_Residual(width) for _ in range(blocks)], nn.Conv2d(width, width, 3, 1, 1))
        up: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            up += [nn.Conv2d(width, width * 4, 3, 1, 1), nn.PixelShuffle(2), nn.LeakyReLU(0.2)]
        self.up = nn.Sequential(*up, nn.Conv2d(width, out_c, 3, 1, 1), nn.Tanh())

    def forward(self, source: Tensor) -> Tensor:
        h = self.head(source)
        return self.up(h + self.body(h))


class SRDiscriminator(nn.Module):
    def __init__(self, shape: Sequence[int], width: int = 32) -> None:
        super().__init__()
        c, side, _ = image_shape(shape, "target", MODEL)
        layers: list[nn.Module] = [nn.Conv2d(c, width, 3, 1, 1), nn.LeakyReLU(0.2)]
        k = width
        for _ in range(4):  # SRGAN's pairs: a stride-2 convolution, then one that doubles the channels
            if side <= 4 or side % 2:
                break
            wider = min(k * 2, width * 8)
            layers += [nn.Conv2d(k, k, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(k, wider, 3, 1, 1), nn.LeakyReLU(0.2)]
            k, side = wider, side // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(k * side * side, width * 8), nn.LeakyReLU(0.2),
                                  nn.Linear(width * 8, 1))

    def forward(self, x: Tensor, source: Tensor | None = None) -> Tensor:
        return self.head(self.features(x)).squeeze(1)


def generator(shape: Sequence[int], source_shape: Sequence[int], num_classes: int = 0, latent_dim: int = 0,
              width: int = 32, blocks: int = 16) -> nn.Module:
    return SRGenerator(shape, source_shape, check_width(width, MODEL), check_size(blocks, "blocks", MODEL, 16, 256))


def discriminator(shape: Sequence[int], source_shape: Sequence[int], num_classes: int = 0, latent_dim: int = 0,
                  width: int = 32, blocks: int = 16) -> nn.Module:
    return SRDiscriminator(shape, check_width(width, MODEL))
