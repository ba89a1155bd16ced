"""CycleGAN: Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", ICCV.

Two generators, A->B and B->A (``directions = ("a2b", "b2a")``), and two PatchGAN
discriminators, one per domain (``D.b`` judges B and is the one ``D(x)`` runs; ``D.a`` judges
A). With unpaired data nothing says which B image an A image should become; the cycle term
asks that translating there and back returns the input, ||G_BA(G_AB(a)) - a||_1 and the same
from B, weight 10, and the identity term that a generator leaves its own target domain alone,
||G_AB(b) - b||_1 and ||G_BA(a) - a||_1, weight 0.5 x 10 (both in the model's own ``cycle``
term, :mod:`ganzoo.objectives.cycle`, which also gives D.a its adversarial terms with the run's
``--loss``). The loss is least squares (Mao et al. 2017), D sees a history of 50 generated
images (``--pool 50``), Adam at 2e-4 with betas (0.5, 0.999), the rates constant for half the
run and falling linearly to 0 over the other half (``--lr-decay 0.5``).

The generator is the paper's ResNet (after Johnson et al. 2016): c7s1-k, d2k, d4k, R4k x n,
u2k, uk, c7s1-C with reflection padding, InstanceNorm and ReLU, tanh out (6 residual blocks, as
the paper uses below 256 px). The discriminator is the 70x70 PatchGAN of
:mod:`ganzoo.models.patchgan`, unconditional.

Deviations:
- width 32 by default (the paper's 64: ``--set width=64``) and batches of 8 instead of 1, for
  CPU budgets; the PatchGAN has 2 stride-2 layers (a 34-px patch) on the 32-px sets, where the
  paper's 3 would see the whole image (``--set d_layers=3``);
- the identity term applies only when both domains have the same number of channels, since a
  generator cannot take its own output domain otherwise;
- the adversarial terms are the zoo's ``lsgan``, whose squares are halved (Mao et al.'s
  notation): against the cycle term's 10 that weighs them half as much as the paper's plain
  mean squared errors do (``--loss lsgan`` with ``--reg cycle:5`` restores the paper's ratio).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ganzoo.errors import GanzooError
from ganzoo.layers import check_size, check_width, dcgan_init
from ganzoo.models.patchgan import PatchDiscriminator, check_multiple, image_shape

MODEL = "cyclegan"


class _Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c, affine=True), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c, affine=True))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    def __init__(self, source_shape: Sequence[int], shape: Sequence[int], width: int = 32, blocks: int = 6) -> None:
        super().__init__()
        in_c = image_shape(source_shape, "source", MODEL)[0]
        out_c = image_shape(shape, "target", MODEL)[0]
        check_multiple(source_shape, 4, MODEL)
        self.source_shape, self.output_shape = tuple(int(s) for s in source_shape), tuple(int(s) for s in shape)
        self.scale, self.multiple = 1, 4
        k = width
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_c, k, 7), nn.InstanceNorm2d(k, affine=True),
                                   nn.ReLU()]
        for mult in (1, 2):  # d2k, d4k
            layers += [nn.Conv2d(k * mult, k * mult * 2, 3, 2, 1), nn.InstanceNorm2d(k * mult * 2, affine=True),
                       nn.ReLU()]
        layers += [_Residual(k * 4) for _ in range(blocks)]
        for mult in (4, 2):  # u2k, uk
            layers += [nn.ConvTranspose2d(k * mult, k * mult // 2, 3, 2, 1, output_padding=1),
                       nn.InstanceNorm2d(k * mult // 2, affine=True), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(k, out_c, 7), nn.Tanh()]
        self.net = dcgan_init(nn.Sequential(*layers))  # the authors' initialisation: N(0, 0.02)

    def forward(self, source: Tensor) -> Tensor:
        return self.net(source)


class CycleGenerators(nn.Module):
    """G_AB and G_BA; the export picks one with ``--direction``, and ``forward`` is A->B."""

    directions = ("a2b", "b2a")

    def __init__(self, shape: Sequence[int], source_shape: Sequence[int], width: int, blocks: int) -> None:
        super().__init__()
        if tuple(shape)[1:] != tuple(source_shape)[1:]:
            raise GanzooError(f"{MODEL} translates between domains of one size, and this set's are "
                              f"{source_shape[1]}x{source_shape[2]} and {shape[1]}x{shape[2]}: for super-resolution "
                              "train srgan")
        self.a2b = ResnetGenerator(source_shape, shape, width, blocks)
        self.b2a = ResnetGenerator(shape, source_shape, width, blocks)
        self.source_shape, self.output_shape = self.a2b.source_shape, self.a2b.output_shape
        self.scale, self.multiple = 1, 4

    def forward(self, source: Tensor) -> Tensor:
        return self.a2b(source)


class CycleDiscriminators(nn.Module):
    """D_B (``forward``: the target domain) and D_A (the source domain, for the way back)."""

    def __init__(self, shape: Sequence[int], source_shape: Sequence[int], width: int, layers: int) -> None:
        super().__init__()
        self.b = PatchDiscriminator(shape, 0, width, layers, MODEL)
        self.a = PatchDiscriminator(source_shape, 0, width, layers, MODEL)

    def forward(self, x: Tensor, source: Tensor | None = None) -> Tensor:
        return self.b(x)


def generator(shape: Sequence[int], source_shape: Sequence[int], num_classes: int = 0, latent_dim: int = 0,
              width: int = 32, blocks: int = 6, d_layers: int = 2) -> nn.Module:
    return CycleGenerators(shape, source_shape, check_width(width, MODEL), check_size(blocks, "blocks", MODEL, 6, 64))


def discriminator(shape: Sequence[int], source_shape: Sequence[int], num_classes: int = 0, latent_dim: int = 0,
                  width: int = 32, blocks: int = 6, d_layers: int = 2) -> nn.Module:
    return CycleDiscriminators(shape, source_shape, check_width(width, MODEL), d_layers)
