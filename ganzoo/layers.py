"""Building blocks of ganzoo's networks, public so that plugins build on them instead of copying them.

The built-in families (dcgan, cdcgan, lsgan, wgan-gp, sngan, acgan, infogan, vanilla) and
third-party plugins such as ganzoo-pacgan are assembled from these pieces. Sharing
them keeps one answer to questions every image GAN must settle the same way: how
many stride-2 stages an image side allows, how DCGAN initialises weights, how a
discriminator turns its last feature map into a logit, and which one-line error a
bad size or option gives. Each error names the model it came from (the ``model``
argument), so a plugin's users read its name, not "dcgan".

The pieces follow DCGAN (Radford, Metz & Chintala 2016, "Unsupervised
Representation Learning with Deep Convolutional Generative Adversarial Networks")
and, for conditional discriminators, the projection of Miyato & Koyama (2018,
"cGANs with Projection Discriminator").

Changing any of them changes the networks of every model that uses it, and so the
weights a fixed seed trains: layers are created, and initialised, in a fixed order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from ganzoo.errors import GanzooError

#: Up to this many classes a label embedding is as wide as a one-hot vector.
MAX_EMBED_DIM = 64
#: The normalisations :func:`norm_layer` (and so :func:`conv_trunk`) knows.
NORMS = ("batch", "layer", "none")
#: Channels or units one layer may have: twice the widest layer in the zoo's papers (BigGAN's
#: 2,048); a layer of 100,000 channels asks for tens of gigabytes before the first step.
WIDTH_MAX = 4096
#: Layers or blocks an option may repeat (StyleGAN's mapping network has 8).
DEPTH_MAX = 64
#: :func:`mlp`'s default activation, DCGAN's LeakyReLU(0.2), as a factory.
LEAKY_RELU: Callable[[], nn.Module] = partial(nn.LeakyReLU, 0.2)

__all__ = [
    "LEAKY_RELU",
    "MAX_EMBED_DIM",
    "NORMS",
    "ProjectionHead",
    "DEPTH_MAX",
    "WIDTH_MAX",
    "check_size",
    "check_width",
    "conv_plan",
    "conv_trunk",
    "dcgan_init",
    "embed_dim",
    "is_points",
    "mlp",
    "need_labels",
    "norm_layer",
    "up_trunk",
]


# -- data shapes and options ------------------------------------------------------------------------
def is_points(shape: Sequence[int]) -> bool:
    """Vector data (the 2-D mixtures) rather than images: convolutions make no sense on it,
    so factories use this to fall back to MLPs."""
    return len(tuple(shape)) == 1


def conv_plan(shape: Sequence[int], model: str) -> tuple[int, int, int]:
    """``(channels, base, stages)`` for a square image side ``base * 2**stages``, base in 4..7.

    The side decides how many stride-2 stages the networks have; a side that does not
    halve cleanly down to 4..7 pixels gets a one-line error, naming ``model`` and sizes
    that do work, before any layer is built."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        raise GanzooError(f"{model} needs images (C, H, W) or vectors (D,); got data shape {shape}")
    channels, height, width = shape
    if height != width:
        raise GanzooError(f"{model} needs square images, got {height}x{width}; pass --image-size {max(height, width)}")
    side, stages = height, 0
    while side > 7 and side % 2 == 0:
        side, stages = side // 2, stages + 1
    if stages == 0 or not 4 <= side <= 7:
        raise GanzooError(
            f"{model} cannot build a conv stack for {height}x{width} images; "
            "use a side of 4..7 times a power of two, e.g. --image-size 32 or 64"
        )
    return channels, side, stages


def check_size(value: Any, option: str, model: str, example: int, high: int = WIDTH_MAX) -> int:
    """A size option (a width, a count of layers) from ``--set OPTION=...``, which may be any JSON
    value: a positive integer up to ``high``, checked before a layer of that size is allocated."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise GanzooError(f"{model}: --set {option} must be a positive integer such as {example}, at most "
                          f"{high:,}, got {value!r}")
    return value


def check_width(width: Any, model: str) -> int:
    """The ``width`` option (channels of the narrowest conv layer), validated."""
    return check_size(width, "width", model, 64)


def embed_dim(num_classes: int) -> int:
    """Label embedding width: as wide as a one-hot vector (the same function class once a
    linear layer follows) up to :data:`MAX_EMBED_DIM` classes, capped beyond that."""
    return min(num_classes, MAX_EMBED_DIM)


def need_labels(labels: Tensor | None, who: str) -> Tensor:
    """Conditional networks cannot run without labels; say so instead of failing inside Embedding."""
    if labels is None:
        raise GanzooError(f"this {who} is conditional: pass int64 labels [N] in [0, num_classes)")
    return labels


# -- initialisation and layers ----------------------------------------------------------------------
def dcgan_init(module: nn.Module) -> nn.Module:
    """Radford et al.'s initialisation: weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0.

    Applied after construction, in module order, so a fixed seed gives fixed weights.
    Label embeddings keep PyTorch's N(0, 1) so they sit on the same scale as z."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def norm_layer(kind: str, channels: int) -> nn.Module:
    """BatchNorm (DCGAN), layer norm over (C, H, W) (WGAN-GP's drop-in, since a per-sample
    gradient penalty is invalid under BatchNorm), or nothing; ``kind`` is one of :data:`NORMS`."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


def conv_trunk(channels: int, stages: int, width: int, norm: str, slope: float = 0.2) -> tuple[nn.Sequential, int]:
    """DCGAN's discriminator body: ``stages`` stride-2 4x4 convolutions doubling the channels
    from ``width``, LeakyReLU(``slope``), ``norm`` after all but the first (the paper leaves
    D's input layer unnormalised). Convolutions followed by a norm have no bias: the norm's
    shift makes it redundant. Returns the body and the channels of its last map, which is
    ``side / 2**stages`` pixels wide."""
    layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(slope)]
    ch = width
    for _ in range(stages - 1):
        layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm == "none"), norm_layer(norm, ch * 2), nn.LeakyReLU(slope)]
        ch *= 2
    return nn.Sequential(*layers), ch


def up_trunk(top: int, channels: int, stages: int) -> list[nn.Module]:
    """DCGAN's generator body after the first feature map of ``top`` channels: one
    fractionally-strided 4x4 convolution per doubling, halving the channels, with
    BatchNorm and ReLU between, then a last one to ``channels`` and Tanh (images in
    [-1, 1]). A list, so callers splice it into their Sequential and keep flat keys."""
    layers: list[nn.Module] = []
    ch = top
    for _ in range(stages - 1):
        layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU()]
        ch //= 2
    return [*layers, nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose mask is drawn cheaply on the CPU.

    torch's CPU dropout draws one Bernoulli variable per element, which cost a GAN MLP's
    discriminator about a tenth of its training step. Here one 64-bit random draw makes four
    16-bit ones, each kept when it is at least ``p`` of the way up its range: masks of the same
    distribution for a third to a half of the time, forward and backward
    (benchmarks/results/train.md). A ``p`` that 16 bits cannot resolve to within a thousandth
    of ``1 - p`` (some above 0.99), CUDA's fused kernel and eval mode get ``nn.Dropout``."""

    def forward(self, x: Tensor) -> Tensor:
        dropped = round(self.p * 65536)  # of the 65,536 values a 16-bit draw takes
        resolved = 0 < dropped < 65536 and abs((65536 - dropped) / 65536 - (1 - self.p)) <= 1e-3 * (1 - self.p)
        if not self.training or not resolved or x.device.type != "cpu":
            return super().forward(x)
        n = x.numel()
        bits = torch.randint(-2**63, 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64).view(torch.int16)
        keep = bits[:n].view(x.shape) >= dropped - 32768
        return x * keep.to(x.dtype).mul_(1 / (1 - self.p))


def mlp(sizes: Sequence[int], act: Callable[[], nn.Module] = LEAKY_RELU, norm: bool = False,
        dropout: float = 0.0) -> list[nn.Module]:
    """Hidden layers ``Linear -> [BatchNorm1d] -> act() -> [Dropout]`` between consecutive ``sizes``.

    A list rather than a Sequential, so callers splice it into their own Sequential
    next to the output layer and keep flat state-dict keys (``net.0.weight``...).
    ``act`` is a factory (``nn.ReLU``, ``partial(nn.LeakyReLU, 0.2)``) so each layer
    gets its own activation module."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2:
        raise GanzooError(f"mlp needs at least an input and one layer size, got sizes {sizes}; pass e.g. [2, 200]")
    layers: list[nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        layers.append(nn.Linear(fan_in, fan_out))
        if norm:
            layers.append(nn.BatchNorm1d(fan_out))
        layers.append(act())
        if dropout:
            layers.append(Dropout(dropout))
    return layers


class ProjectionHead(nn.Module):
    """The last layer of a discriminator: one logit from D's last feature map, flattened
    (DCGAN), plus, for conditional models, the projection term ``embed(y)·pool(h)`` of
    Miyato & Koyama (2018) on the spatially averaged map [N, C].

    ``hidden`` > 0 puts one fully connected layer of that many units (``norm``, then
    LeakyReLU(``slope``)) between the flattened map and the logit, as InfoGAN's MNIST
    discriminator: with only two convolutions (28 px), a logit straight from the map left
    DCGAN's samples far from the digits (benchmarks/results/image-sweeps.md).

    Mean pooling and an embedding drawn from N(0, 0.02) (where the paper sums over a
    spectrally normalised ResNet) keep the term from running away early in training;
    :mod:`ganzoo.models.dcgan` records the measurements."""

    def __init__(self, channels: int, side: int, num_classes: int = 0, hidden: int = 0, norm: str = "batch",
                 slope: float = 0.2) -> None:
        super().__init__()
        features = channels * side * side
        self.hidden: nn.Module = nn.Identity()
        if hidden:
            one_d = {"batch": nn.BatchNorm1d(hidden), "layer": nn.LayerNorm(hidden)}.get(norm, nn.Identity())
            self.hidden = nn.Sequential(nn.Linear(features, hidden, bias=norm == "none"), one_d, nn.LeakyReLU(slope))
            features = hidden
        self.linear = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, channels) if num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, h: Tensor, labels: Tensor | None) -> Tensor:
        out = self.linear(self.hidden(h.flatten(1))).squeeze(1)
        if self.embed is not None:
            pooled = h.mean(dim=(2, 3))
            out = out + (self.embed(need_labels(labels, "discriminator")) * pooled).sum(dim=1)
        return out
