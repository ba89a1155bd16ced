"""StyleGAN2 (Karras, Laine, Aittala, Hellsten, Lehtinen & Aila 2020, "Analyzing and
Improving the Image Quality of StyleGAN", CVPR), in plain PyTorch with no custom CUDA
ops, so that ``torch.onnx.export(dynamo=True)`` takes the generator whole with a
dynamic batch; conditional use follows StyleGAN2-ADA (Karras et al. 2020, "Training
Generative Adversarial Networks with Limited Data").

Generator (the paper's config E/F, "skip" architecture):

- a **mapping network**: z normalised by its root mean square, then ``mapping_layers``
  (8) fully connected layers of ``w_dim`` units with LeakyReLU(0.2) times sqrt 2 and a
  learning-rate multiplier of 0.01; a conditional generator embeds the label, normalises
  the embedding the same way and concatenates it to z (StyleGAN2-ADA);
- a learned constant at the smallest resolution, then per resolution two 3x3
  **modulated/demodulated convolutions** (the first one upsampling), each followed by
  per-pixel **noise** with a learned strength, a bias and LeakyReLU(0.2) times sqrt 2;
- **skip** outputs: a modulated 1x1 toRGB at every resolution (not demodulated), summed
  with the upsampled image of the resolution below;
- **style mixing** in training (probability ``mixing``): a second z, mapped on its own,
  takes over the styles from a random layer on;
- the **average w** tracked in training (``w_avg``, beta 0.995) and **truncation**
  w <- w_avg + psi (w - w_avg) through ``forward(z, labels, truncation=psi)``;
  ``truncation = "w"`` tells ganzoo this generator truncates in its own latent space.

``mapping(z, labels)`` (the per-layer styles ``ws`` ``[N, num_ws, w_dim]``) and
``synthesis(ws)`` are public: path-length regularisation (``--reg pl``) differentiates
the image with respect to ``ws``.

Discriminator ("residual" architecture): a 1x1 fromRGB at the top resolution; per
resolution two 3x3 convolutions, the second after a downsampling, beside a downsampled
1x1 skip, both branches scaled by 1/sqrt 2; at the smallest resolution the minibatch
standard deviation (groups of min(4, N), one feature), a 3x3 convolution, a fully
connected layer and the logit. A conditional discriminator projects its last features
on a class embedding passed through its own mapping network (StyleGAN2-ADA's
``cmap``). Every weight in both networks uses the **equalised learning rate**: stored
N(0, 1), scaled by 1/sqrt(fan-in) when used.

Widths: ``channels`` at the top resolution, doubling towards the smallest, capped by
``max_channels``. Resolutions: the data set's side is ``base * 2**k`` with base 4..7
(32 px: 4 → 8 → 16 → 32, 64 px: five stages, 28 px MNIST: 7 → 14 → 28, 8 px digits:
4 → 8); the paper's network always starts at 4x4.

Deviations:

- **Modulation scales activations, not weights.** The paper folds styles into the
  convolution weights per sample and runs a grouped convolution with the batch as the
  group count; a dynamic-batch ONNX graph cannot take a group count that depends on
  the batch. Here x * style → the shared-weight convolution → x * demodulation
  coefficient, which computes the same function (the paper's own "non-fused" path).
- **Resampling** uses the paper's [1, 3, 3, 1] FIR filter as a fixed depthwise
  convolution: upsampling is a stride-2 depthwise transposed convolution with the
  filter (the paper's upfirdn2d with up=2, the same numbers), but an upsampling layer
  upsamples its modulated input and then runs a 3x3 convolution, where the paper runs
  a stride-2 transposed 3x3 convolution and then the filter; the discriminator filters
  and subsamples, then convolves at the lower resolution, where the paper filters and
  then runs a stride-2 convolution. Same filter, same receptive field, a slightly
  different sampling grid.
- **Noise and mixing in eval mode.** The paper draws fresh noise unless asked for its
  ``noise_mode='const'``; here training draws fresh noise per sample (and the mixing
  z) from torch's RNG, which checkpoints save, while eval mode always uses fixed
  per-layer noise buffers and never mixes, so sampling and the ONNX export are
  deterministic and the graph holds no random operator.
- **Output range.** Images leave the synthesis network unbounded, as in the paper (D
  sees them so during training); eval mode clamps them to [-1, 1], where the paper
  clamps only when saving images.
- The minibatch standard deviation takes any batch size: groups are samples
  i, i + M, i + 2M, ... with M = ceil(N / 4) groups, which is the paper's grouping
  when 4 divides N, and groups of 3 or 2 otherwise (the paper requires a multiple).
- The conditional discriminator's ``cmap`` mapping network has ``mapping_layers``
  layers, like the generator's (StyleGAN2-ADA gives it 8 whatever the generator has).
- On 2-D point data sets the factories return vanilla's MLP networks (ganzoo's
  convention for image models); the StyleGAN options are then ignored.

The zoo's defaults (its ``ModelSpec``) are sized for a CPU; they name their own departures
from the paper's hyper-parameters.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo.errors import GanzooError
from ganzoo.layers import DEPTH_MAX, WIDTH_MAX, check_size, conv_plan, is_points, need_labels

MODEL = "stylegan2"
#: LeakyReLU's slope and the gain that keeps activations at unit variance after it.
SLOPE = 0.2
ACT_GAIN = math.sqrt(2.0)
#: The paper's resampling filter, per axis.
FIR = (1.0, 3.0, 3.0, 1.0)
#: Learning-rate multiplier of the mapping network's layers.
MAPPING_LR = 0.01
#: Decay of the tracked average w.
W_AVG_BETA = 0.995
#: Samples per minibatch standard deviation group (at most).
MBSTD_GROUP = 4


def _act(x: Tensor) -> Tensor:
    return F.leaky_relu(x, SLOPE) * ACT_GAIN


def normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Divide each row by its root mean square: z and the label embedding then enter the
    mapping network on one scale, whatever their width."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


# -- options -----------------------------------------------------------------------------------------
def _positive_int(value: Any, name: str, example: int) -> int:
    return check_size(value, name, MODEL, example, DEPTH_MAX if name == "mapping_layers" else WIDTH_MAX)


def _probability(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise GanzooError(f"{MODEL}: --set {name} must be a probability in [0, 1] such as 0.9, got {value!r}")
    return float(value)


def widths(shape: tuple[int, ...], channels: int, max_channels: int) -> tuple[int, int, dict[int, int]]:
    """(image channels, smallest side, {side: feature channels}): ``channels`` at the image's
    side, doubling at each halving down to the smallest side, capped by ``max_channels``."""
    image_channels, base, stages = conv_plan(shape, MODEL)
    channels = _positive_int(channels, "channels", 32)
    max_channels = _positive_int(max_channels, "max_channels", 256)
    return image_channels, base, {base * 2**i: min(channels * 2 ** (stages - i), max_channels)
                                  for i in range(stages + 1)}


# -- equalised-learning-rate layers ---------------------------------------------------------------------
class EqualLinear(nn.Module):
    """A fully connected layer whose weight is stored N(0, 1/lr_mul^2) and scaled by
    lr_mul/sqrt(fan-in) when used, so Adam's step moves every layer at the same relative
    rate (and the mapping network's at ``lr_mul`` of it)."""

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)
        return _act(x) if self.activate else x


class EqualConv2d(nn.Module):
    """A convolution with the equalised learning rate (weights scaled by 1/sqrt(fan-in) when
    used), optionally followed by LeakyReLU(0.2) times sqrt 2."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, bias: bool = True,
                 activate: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        x = F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.weight.shape[-1] // 2)
        return _act(x) if self.activate else x


def _fir_kernel(channels: int, gain: float) -> Tensor:
    f = torch.tensor(FIR)
    k = torch.outer(f, f)
    return (k * (gain / k.sum())).expand(channels, 1, 4, 4).contiguous()


class Upsample2x(nn.Module):
    """The paper's upfirdn2d(up=2) with the [1, 3, 3, 1] filter, as a depthwise stride-2
    transposed convolution (zero insertion, then the filter with gain 4)."""

    kernel: Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer("kernel", _fir_kernel(channels, 4.0), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose2d(x, self.kernel, stride=2, padding=1, groups=self.channels)


class Downsample2x(nn.Module):
    """The paper's upfirdn2d(down=2) with the [1, 3, 3, 1] filter: a depthwise stride-2 convolution."""

    kernel: Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer("kernel", _fir_kernel(channels, 1.0), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.kernel, stride=2, padding=1, groups=self.channels)


# -- generator ---------------------------------------------------------------------------------------------
class MappingNetwork(nn.Module):
    """z (and a label embedding) → w [N, w_dim]. With ``z_dim`` 0 it maps labels alone (the
    conditional discriminator's ``cmap``)."""

    def __init__(self, z_dim: int, num_classes: int, w_dim: int, layers: int) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.embed = nn.Embedding(num_classes, w_dim) if num_classes else None
        sizes = [z_dim + (w_dim if num_classes else 0)] + [w_dim] * layers
        self.layers = nn.Sequential(*[EqualLinear(a, b, lr_mul=MAPPING_LR, activate=True)
                                      for a, b in zip(sizes[:-1], sizes[1:])])

    def forward(self, z: Tensor | None, labels: Tensor | None = None) -> Tensor:
        parts = [] if z is None else [normalize_2nd_moment(z)]
        if self.embed is not None:
            parts.append(normalize_2nd_moment(self.embed(need_labels(labels, "generator"))))
        return self.layers(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])


class ModulatedConv(nn.Module):
    """One synthesis layer: modulate (x * style), [upsample], 3x3 convolution with the shared
    weight, demodulate (x * 1/sqrt(sum over inputs and taps of (weight * style)^2)), add
    noise times its learned strength, bias, LeakyReLU. Scaling activations instead of
    weights keeps one weight for the whole batch (see the module docstring)."""

    noise_const: Tensor

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, side: int, up: bool) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(side, side))
        self.up = Upsample2x(in_channels) if up else None

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w)
        x = x * styles[:, :, None, None]
        if self.up is not None:
            x = self.up(x)
        x = F.conv2d(x, self.weight, padding=1)
        demod = (styles.square() @ self.weight.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt()
        x = x * demod[:, :, None, None]
        if self.training:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const
        x = x + noise * self.noise_strength
        return _act(x + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    """A modulated 1x1 convolution to the image channels, not demodulated, plus a bias."""

    def __init__(self, in_channels: int, image_channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(image_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(image_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w) * self.weight_gain
        return F.conv2d(x * styles[:, :, None, None], self.weight, self.bias)


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] → images [N, C, H, W], unbounded. Layer i reads ws[:, i]; each
    toRGB shares its w with the next resolution's first layer, as in the paper."""

    def __init__(self, shape: tuple[int, ...], w_dim: int, channels: int, max_channels: int) -> None:
        super().__init__()
        image_channels, base, plan = widths(shape, channels, max_channels)
        sides = sorted(plan)
        self.const = nn.Parameter(torch.randn(plan[base], base, base))
        self.first = ModulatedConv(plan[base], plan[base], w_dim, base, up=False)
        self.first_rgb = ToRGB(plan[base], image_channels, w_dim)
        self.ups = nn.ModuleList()
        self.convs = nn.ModuleList()
        self.rgbs = nn.ModuleList()
        self.image_ups = nn.ModuleList()
        for low, side in zip(sides[:-1], sides[1:]):
            self.ups.append(ModulatedConv(plan[low], plan[side], w_dim, side, up=True))
            self.convs.append(ModulatedConv(plan[side], plan[side], w_dim, side, up=False))
            self.rgbs.append(ToRGB(plan[side], image_channels, w_dim))
            self.image_ups.append(Upsample2x(image_channels))
        self.num_ws = 2 * len(self.ups) + 2

    def forward(self, ws: Tensor) -> Tensor:
        x = self.first(self.const[None], ws[:, 0])
        image = self.first_rgb(x, ws[:, 1])
        i = 1
        for up, conv, rgb, image_up in zip(self.ups, self.convs, self.rgbs, self.image_ups):
            x = conv(up(x, ws[:, i]), ws[:, i + 1])
            image = image_up(image) + rgb(x, ws[:, i + 2])
            i += 2
        return image


class StyleGAN2Generator(nn.Module):
    """Mapping network, tracked average w, truncation, style mixing (training), synthesis."""

    #: Truncation happens in w, towards ``w_avg`` (see ganzoo.api.truncates_w).
    truncation = "w"
    w_avg: Tensor

    def __init__(self, shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 128, channels: int = 32,
                 max_channels: int = 256, mapping_layers: int = 8, mixing: float = 0.9, w_dim: int = 256) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.output_shape = latent_dim, num_classes, tuple(shape)
        w_dim = _positive_int(w_dim, "w_dim", 256)
        self.mixing = _probability(mixing, "mixing")
        self.mapping_network = MappingNetwork(latent_dim, num_classes, w_dim,
                                              _positive_int(mapping_layers, "mapping_layers", 8))
        self.synthesis_network = SynthesisNetwork(self.output_shape, w_dim, channels, max_channels)
        self.num_ws = self.synthesis_network.num_ws
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def mapping(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """The styles of every layer, ``[N, num_ws, w_dim]`` (all the same w): what
        :meth:`synthesis` takes. Tracks nothing and truncates nothing."""
        return self.mapping_network(z, self._labels(labels)).unsqueeze(1).expand(-1, self.num_ws, -1)

    def synthesis(self, ws: Tensor) -> Tensor:
        """Images from per-layer styles, unbounded (forward clamps them in eval mode)."""
        return self.synthesis_network(ws)

    def forward(self, z: Tensor, labels: Tensor | None = None, *, truncation: float | Tensor | None = None) -> Tensor:
        labels = self._labels(labels)
        w = self.mapping_network(z, labels)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().float().mean(dim=0).lerp(self.w_avg, W_AVG_BETA))
        w = self._truncate(w, truncation)
        ws = w.unsqueeze(1).expand(-1, self.num_ws, -1)
        if self.training and self.mixing > 0:
            ws = self._mix(ws, z, labels, truncation)
        image = self.synthesis_network(ws)
        return image if self.training else image.clamp(-1.0, 1.0)

    def _labels(self, labels: Tensor | None) -> Tensor | None:
        return need_labels(labels, "generator") if self.num_classes else None

    def _truncate(self, w: Tensor, psi: float | Tensor | None) -> Tensor:
        """w_avg + psi (w - w_avg); a tensor psi (ONNX feeds shape [1]) is always applied."""
        if psi is None:
            return w
        if isinstance(psi, Tensor):
            if psi.numel() != 1 or not psi.is_floating_point():
                raise GanzooError(f"{MODEL}: truncation must be one float (a tensor of shape [1]), got a "
                                  f"{psi.dtype} tensor of shape {list(psi.shape)}")
            return self.w_avg + psi.to(w.dtype).reshape(1, 1) * (w - self.w_avg)
        if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not math.isfinite(psi):
            raise GanzooError(f"{MODEL}: truncation must be a finite number such as 0.7 (1: none), got {psi!r}")
        return w if psi == 1 else self.w_avg + float(psi) * (w - self.w_avg)

    def _mix(self, ws: Tensor, z: Tensor, labels: Tensor | None, truncation: float | Tensor | None) -> Tensor:
        """With probability ``mixing``, the styles from a random layer on come from a second z.
        Decided with tensors, not Python branches, so the step never waits for the device."""
        device = ws.device
        cutoff = torch.randint(1, self.num_ws, (), device=device)
        cutoff = torch.where(torch.rand((), device=device) < self.mixing, cutoff, torch.full_like(cutoff, self.num_ws))
        other = self._truncate(self.mapping_network(torch.randn_like(z), labels), truncation)
        later = (torch.arange(self.num_ws, device=device) >= cutoff)[None, :, None]
        return torch.where(later, other[:, None, :], ws)


# -- discriminator ---------------------------------------------------------------------------------------------
def minibatch_stddev(x: Tensor, group_size: int = MBSTD_GROUP) -> Tensor:
    """Append one feature map: the standard deviation of each feature over a group of
    samples, averaged over features and pixels, so D can see a batch's lack of variety.

    Samples i, i + M, i + 2M, ... form a group, M = ceil(N / min(group_size, N)) groups:
    the paper's grouping when the group size divides N, and groups one sample shorter than
    the others otherwise, so any batch size works (a batch of 1 is its own group: zero
    deviation, as in the paper). Group sums are one-hot matrix products, which R1's double
    backward differentiates like any other operation."""
    n = x.shape[0]
    groups = -(-n // min(group_size, n))
    member = F.one_hot(torch.arange(n, device=x.device) % groups, groups).to(x.dtype)  # [N, M]
    count = member.sum(dim=0)[:, None]
    flat = x.flatten(1)
    mean = (member.t() @ flat) / count
    var = (member.t() @ (flat - member @ mean).square()) / count
    std = (var + 1e-8).sqrt().mean(dim=1, keepdim=True)  # [M, 1]
    stat = (member @ std)[:, :, None, None].expand(n, 1, x.shape[2], x.shape[3])
    return torch.cat([x, stat], dim=1)


class ResidualBlock(nn.Module):
    """conv 3x3 → downsample → conv 3x3, beside downsample → 1x1 (no bias, linear); each
    branch times 1/sqrt 2 so the sum keeps unit variance."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.down = Downsample2x(in_channels)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, activate=False)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.skip(self.down(x))
        x = self.conv1(self.down(self.conv0(x)))
        return (x + skip) * math.sqrt(0.5)


class StyleGAN2Discriminator(nn.Module):
    """fromRGB, residual blocks down to the smallest side, minibatch std, conv, fc, logit
    (projected on the class's ``cmap`` when conditional)."""

    def __init__(self, shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 128, channels: int = 32,
                 max_channels: int = 256, mapping_layers: int = 8, mixing: float = 0.9, w_dim: int = 256) -> None:
        super().__init__()
        image_channels, base, plan = widths(shape, channels, max_channels)
        _probability(mixing, "mixing")  # G's options, checked here too so both factories agree
        _positive_int(w_dim, "w_dim", 256)
        layers = _positive_int(mapping_layers, "mapping_layers", 8)
        self.num_classes = num_classes
        sides = sorted(plan, reverse=True)
        self.from_rgb = EqualConv2d(image_channels, plan[sides[0]], 1)
        self.blocks = nn.Sequential(*[ResidualBlock(plan[side], plan[side // 2]) for side in sides[:-1]])
        top = plan[base]
        self.conv = EqualConv2d(top + 1, top, 3)
        self.fc = EqualLinear(top * base * base, top, activate=True)
        self.cmap_dim = top if num_classes else 1
        self.out = EqualLinear(top, self.cmap_dim)
        self.cmap = MappingNetwork(0, num_classes, top, layers) if num_classes else None

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.blocks(self.from_rgb(x))
        h = self.conv(minibatch_stddev(h))
        out = self.out(self.fc(h.flatten(1)))
        if self.cmap is None:
            return out.squeeze(1)
        cmap = self.cmap(None, need_labels(labels, "discriminator"))
        return (out * cmap).sum(dim=1) / math.sqrt(self.cmap_dim)


# -- factories named by the model spec ----------------------------------------------------------------------------
def generator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 128, channels: int = 32,
              max_channels: int = 256, mapping_layers: int = 8, mixing: float = 0.9, w_dim: int = 256) -> nn.Module:
    """StyleGAN2's generator for images; vanilla's MLP generator for 2-D points."""
    if is_points(shape):
        from ganzoo.models import vanilla

        return vanilla.Generator(tuple(shape), num_classes=num_classes, latent_dim=latent_dim)
    return StyleGAN2Generator(tuple(shape), num_classes, latent_dim, channels, max_channels, mapping_layers,
                              mixing, w_dim)


def discriminator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 128, channels: int = 32,
                  max_channels: int = 256, mapping_layers: int = 8, mixing: float = 0.9,
                  w_dim: int = 256) -> nn.Module:
    """StyleGAN2's residual discriminator for images; vanilla's MLP discriminator for 2-D points."""
    if is_points(shape):
        from ganzoo.models import vanilla

        return vanilla.Discriminator(tuple(shape), num_classes=num_classes, latent_dim=latent_dim)
    return StyleGAN2Discriminator(tuple(shape), num_classes, latent_dim, channels, max_channels, mapping_layers,
                                  mixing, w_dim)
