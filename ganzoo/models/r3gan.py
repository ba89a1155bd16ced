"""R3GAN (Huang, Gokaslan, Kuleshov & Tompkin 2024, "The GAN is dead; long live the GAN!
A Modern GAN Baseline", NeurIPS).

The paper's claim is that a GAN needs no tricks once its loss is well behaved: the
relativistic pairing loss (``rpgan``) with both R1 and R2 penalties converges locally, and
then a plain modern ConvNet trains without normalisation, without augmentation of the
architecture and without the StyleGAN machinery. Its networks (the paper's section 4,
"config E"), as built here:

- **Residual blocks** with an inverted bottleneck: a 1x1 convolution widening the
  channels by ``expansion``, a grouped 3x3 convolution (``group_size`` channels per
  group), a 1x1 convolution back; LeakyReLU(0.2) after the first two, each with its own
  bias. No normalisation anywhere.
- **Initialisation** (fix-up style, the paper's section 4.2): weights drawn from
  N(0, gain^2 / fan_in), with LeakyReLU's gain for the two layers of every residual branch
  that an activation follows, scaled by L^(-1/4) for L blocks in the network
  (L^(-1/(2m-2)) with m = 3 layers per branch), and gain 1 for every linear layer (the
  basis coefficients, to and from RGB, D's basis and logit); the branch's last layer
  starts at zero, so every block starts as the identity and G's first images have unit
  variance.
- **Transitions** between resolutions: in G, a 1x1 convolution where the width changes
  and a 2x upsampling; in D, a 2x downsampling and a 1x1 convolution.
- **Generator**: z (joined with a class embedding when conditional) times a learned
  basis: a linear layer gives one coefficient per channel, which scales a learned
  ``base x base`` map of that channel (the "generative basis"); stages of residual blocks;
  a 1x1 convolution to the image channels.
- **Discriminator**: a 1x1 convolution from the image, stages of residual blocks, a
  depthwise ``base x base`` convolution that turns each channel's map into one number
  (the "discriminative basis"), a linear layer to the logit; conditional: that linear
  layer gives an embedding whose inner product with the class's embedding is the logit
  (projection, scaled by 1/sqrt of its width).

Training recipe (:mod:`ganzoo.builtin.models`): ``rpgan`` with ``r1`` and ``r2`` at the
same weight gamma, Adam with betas (0, 0.9), equal rates for G and D, an EMA generator.

Deviations:
- **Widths and depth** are scaled down so that 32 px trains on a CPU: ``width`` channels at
  every stage (32 by default; the paper's CIFAR-10 network has 768) and ``blocks``
  residual blocks per stage (1; the paper's 2). ``--set width=768,blocks=2`` is the
  paper's CIFAR-10 generator and discriminator apart from the next points;
- resampling is bilinear upsampling and 2x2 average pooling, where the paper filters with
  a [1, 2, 1] low-pass kernel: the same smoothing family, and both export to ONNX as
  single standard operators;
- the generator ends in ``tanh`` (the paper's output is linear) because ganzoo's
  contract promises images in [-1, 1];
- sides that halve down to 5..7 pixels (28-px MNIST: 7 -> 14 -> 28) get a basis of
  that size instead of 4x4;
- the schedules the paper uses for gamma, the learning rate, Adam's beta2 and the EMA
  (over 20 million images) are not applied: a CPU budget stays near their start, so
  gamma and beta2 keep their starting values (0.05, 0.9), the rate is constant at 5e-4
  (the paper starts at 2e-4, with batches of 512 images; ``--lr-decay`` decays it
  linearly) and the EMA decay is fixed at 0.999;
- on 2-D points (the mixtures) both networks are vanilla's MLPs, trained with the same
  loss and penalties: the recipe without the architecture.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo.errors import GanzooError
from ganzoo.layers import DEPTH_MAX, check_size, check_width, conv_plan, is_points, need_labels

SLOPE = 0.2
GAIN = math.sqrt(2.0 / (1.0 + SLOPE**2))  # LeakyReLU(0.2)'s variance-preserving gain


def _init(layer: nn.Conv2d | nn.Linear, scale: float = 1.0) -> nn.Module:
    """N(0, (scale * gain)^2 / fan_in) weights, zero biases; scale 0 zeroes the layer."""
    fan_in = layer.weight[0].numel()
    with torch.no_grad():
        layer.weight.normal_(0.0, scale * GAIN / math.sqrt(fan_in))
        if layer.bias is not None:
            layer.bias.zero_()
    return layer


class BiasedLeakyReLU(nn.Module):
    """LeakyReLU(0.2) with a learned per-channel bias before it (the paper's biased activation)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return F.leaky_relu(x + self.bias.view(shape), SLOPE)


class ResidualBlock(nn.Module):
    """x + 1x1(act(grouped 3x3(act(1x1(x))))): the inverted bottleneck of the paper's config E."""

    def __init__(self, channels: int, expansion: int, group_size: int, variance_scale: float) -> None:
        super().__init__()
        inner = channels * expansion
        groups = max(1, inner // group_size)
        if inner % groups:
            raise GanzooError(f"r3gan: {inner} inner channels (width x expansion) do not split into groups of "
                              f"{group_size}; choose --set width=... and group_size=... so that they divide")
        self.expand = _init(nn.Conv2d(channels, inner, 1, bias=False), variance_scale)
        self.act1 = BiasedLeakyReLU(inner)
        self.spatial = _init(nn.Conv2d(inner, inner, 3, padding=1, groups=groups, bias=False), variance_scale)
        self.act2 = BiasedLeakyReLU(inner)
        self.project = _init(nn.Conv2d(inner, channels, 1, bias=False), 0.0)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.project(self.act2(self.spatial(self.act1(self.expand(x)))))


def _blocks(count: int, channels: int, expansion: int, group_size: int, total: int) -> list[nn.Module]:
    scale = total ** (-1.0 / 4.0)  # L^(-1/(2m-2)) with m = 3 layers per branch
    return [ResidualBlock(channels, expansion, group_size, scale) for _ in range(count)]


def _options(width: int, blocks: int, expansion: int, group_size: int) -> None:
    check_width(width, "r3gan")
    check_size(blocks, "blocks", "r3gan", 1, DEPTH_MAX)
    check_size(expansion, "expansion", "r3gan", 2, DEPTH_MAX)
    check_size(group_size, "group_size", "r3gan", 16)
    check_size(width * expansion, "width x expansion", "r3gan", 128)


class Generator(nn.Module):
    """Generative basis, stages of residual blocks with upsampling transitions, 1x1 to RGB."""

    def __init__(self, shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 64, width: int = 64,
                 blocks: int = 1, expansion: int = 2, group_size: int = 16, embed_dim: int = 32) -> None:
        super().__init__()
        _options(width, blocks, expansion, group_size)
        channels, base, stages = conv_plan(shape, "r3gan")
        self.latent_dim, self.num_classes, self.output_shape = latent_dim, num_classes, tuple(shape)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        inputs = latent_dim + (embed_dim if num_classes else 0)
        self.basis = nn.Parameter(torch.randn(width, base, base))
        self.coefficients = _init(nn.Linear(inputs, width, bias=False), 1.0 / GAIN)
        total = blocks * (stages + 1)
        self.stages = nn.ModuleList(nn.Sequential(*_blocks(blocks, width, expansion, group_size, total))
                                    for _ in range(stages + 1))
        self.to_rgb = _init(nn.Conv2d(width, channels, 1), 1.0 / GAIN)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(need_labels(labels, "r3gan generator"))], dim=1)
        x = self.basis.unsqueeze(0) * self.coefficients(z)[:, :, None, None]
        for i, stage in enumerate(self.stages):
            if i:
                x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = stage(x)
        return torch.tanh(self.to_rgb(x))


class Discriminator(nn.Module):
    """1x1 from RGB, stages of residual blocks with downsampling, discriminative basis, logit."""

    def __init__(self, shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 64, width: int = 64,
                 blocks: int = 1, expansion: int = 2, group_size: int = 16, embed_dim: int = 32) -> None:
        super().__init__()
        _options(width, blocks, expansion, group_size)
        channels, base, stages = conv_plan(shape, "r3gan")
        self.num_classes = num_classes
        self.from_rgb = _init(nn.Conv2d(channels, width, 1), 1.0 / GAIN)
        total = blocks * (stages + 1)
        self.stages = nn.ModuleList(nn.Sequential(*_blocks(blocks, width, expansion, group_size, total))
                                    for _ in range(stages + 1))
        self.basis = _init(nn.Conv2d(width, width, base, groups=width, bias=False), 1.0 / GAIN)
        self.out = _init(nn.Linear(width, embed_dim if num_classes else 1), 1.0 / GAIN)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        x = self.from_rgb(x)
        for i, stage in enumerate(self.stages):
            if i:
                x = F.avg_pool2d(x, 2)
            x = stage(x)
        h = self.out(self.basis(x).flatten(1))
        if self.embed is None:
            return h.squeeze(1)
        e = self.embed(need_labels(labels, "r3gan discriminator"))
        return (h * e).sum(dim=1) / math.sqrt(e.shape[1])


def generator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 64, **options: int) -> nn.Module:
    """R3GAN's generator for images; vanilla's MLP generator for 2-D points."""
    if is_points(shape):
        from ganzoo.models import vanilla

        return vanilla.Generator(tuple(shape), num_classes=num_classes, latent_dim=latent_dim)
    return Generator(tuple(shape), num_classes, latent_dim, **options)


def discriminator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 64, **options: int) -> nn.Module:
    """R3GAN's discriminator for images; vanilla's MLP discriminator, without dropout (a random mask
    would make the penalised D a different function from the one scored), for 2-D points."""
    if is_points(shape):
        from ganzoo.models import vanilla

        return vanilla.Discriminator(tuple(shape), num_classes=num_classes, latent_dim=latent_dim, dropout=0.0)
    return Discriminator(tuple(shape), num_classes, latent_dim, **options)
