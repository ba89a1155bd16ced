"""SNGAN (Miyato, Kataoka, Koyama & Yoshida 2018, "Spectral Normalization for
Generative Adversarial Networks", ICLR).

Every weight of the discriminator is divided by its largest singular value, so
each layer is 1-Lipschitz and so is D (its activations are too). The singular
value is estimated by one step of power iteration per training forward pass,
with the vectors kept as buffers: ``torch.nn.utils.parametrizations.spectral_norm``
does exactly that, and its buffers travel with the weights in safetensors. In
eval mode the stored estimate is used and D is deterministic.

The discriminator is the paper's "standard CNN" (its Table 3, CIFAR-10): per
stage a 3x3 stride-1 and a 4x4 stride-2 convolution, stages of 64, 128, 256
channels, a last 3x3 convolution to 512, LeakyReLU(0.1), and a linear layer
to one logit; no BatchNorm. With ``--set width=64`` at 32 px it is that network
layer for layer; other sizes get one stage per halving (28 px: two stages and a
last 3x3 convolution to ``4*width`` channels; 8 px: one stage). The generator is
DCGAN's (the paper's is the same design: a linear projection to 4x4x512, 4x4
stride-2 transposed convolutions with BatchNorm and ReLU, Tanh), z ~ N(0, I) of
size 128. Loss: ``hinge``, the paper's best; Adam with betas (0.5, 0.999) and one D
step per G step, one of the settings of the paper's Table 1 (whose rate, 2e-4 for both
networks, ganzoo changes for G: see below).

Deviations:
- G learns at 1e-3 against D's 2e-4 (InfoGAN's MNIST rates; the paper's setting here
  trains both at 2e-4): on mnist5k its samples were much closer to digits at the same
  length (benchmarks/results/image-sweeps.md); ``--lr-g 2e-4`` restores the paper's;
- the default width is 32, half the paper's channels everywhere: at width 64 a
  step on mnist5k took about 3.5 times as long on a CPU (0.66 vs 0.20 CPU-seconds
  at batch 64), too slow for the few-minute default run; ``--set width=64``
  restores the paper's widths;
- the generator's last layer is a 4x4 stride-2 transposed convolution straight to
  the image channels, where the paper ends with a 3x3 stride-1 convolution;
- generator weights use DCGAN's N(0, 0.02) initialisation; D keeps PyTorch's
  default initialisation (spectral normalisation removes the weight scale anyway);
- on 2-D points, vanilla's MLP discriminator is used, without dropout and with
  spectral norm on each of its linear layers.

Beyond the paper: a conditional use (a third-party spec with ``conditional=True``)
adds the projection term of Miyato & Koyama 2018, spectrally normalised as theirs was.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from ganzoo.layers import ProjectionHead, check_width, conv_plan, is_points
from ganzoo.models import dcgan


def add_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectrally normalise every convolution, linear layer and embedding inside ``module``."""
    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            setattr(module, name, spectral_norm(child))
        else:
            add_spectral_norm(child)
    return module


class SNDiscriminator(nn.Module):
    """Miyato et al.'s standard CNN discriminator with spectral norm on every layer."""

    def __init__(self, shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 128,
                 width: int = 64, slope: float = 0.1) -> None:
        super().__init__()
        channels, base, stages = conv_plan(shape, "sngan")
        width = check_width(width, "sngan")
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        ch_in = channels
        for i in range(stages):
            ch = width * 2**i
            layers += [nn.Conv2d(ch_in, ch, 3, 1, 1), nn.LeakyReLU(slope),
                       nn.Conv2d(ch, ch, 4, 2, 1), nn.LeakyReLU(slope)]
            ch_in = ch
        top = width * 2**stages
        layers += [nn.Conv2d(ch_in, top, 3, 1, 1), nn.LeakyReLU(slope)]
        self.body = nn.Sequential(*layers)
        self.head = ProjectionHead(top, base, num_classes)
        add_spectral_norm(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.head(self.body(x), labels)


def generator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 128, width: int = 64) -> nn.Module:
    """DCGAN's generator (BatchNorm, ReLU, Tanh); vanilla's MLP on 2-D points."""
    return dcgan.generator(shape, num_classes, latent_dim, width, model="sngan")


def discriminator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 128, width: int = 64) -> nn.Module:
    """The spectrally normalised standard CNN; a spectrally normalised MLP on 2-D points."""
    if is_points(shape):
        from ganzoo.models import vanilla

        return add_spectral_norm(vanilla.Discriminator(tuple(shape), num_classes=num_classes,
                                                       latent_dim=latent_dim, dropout=0.0))
    return SNDiscriminator(shape, num_classes, latent_dim, width)
