"""WGAN-GP (Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville 2017, "Improved
Training of Wasserstein GANs", NeurIPS).

The model is mostly a training recipe, and most of it lives outside this file
where any model can reuse it: the ``wasserstein`` loss (the critic maximises
D(x) - D(G(z))) and the ``gp`` regularizer (λ·E[(‖∇D(x̂)‖₂ - 1)²] on interpolates
x̂ = εx + (1-ε)G(z) with one ε ~ U[0, 1] per sample, λ = 10), in
:mod:`ganzoo.objectives.losses` and :mod:`ganzoo.objectives.penalties`. This file
holds the networks.

The one architectural rule of the paper: no BatchNorm in the critic, because the
penalty is defined per sample and batch normalisation couples the samples of a
batch. The critic is DCGAN's discriminator with normalisation removed
(``--set norm=none``, the default) or replaced by layer normalisation
(``--set norm=layer``, the paper's suggested drop-in). The generator keeps
BatchNorm, as in the paper.

Deviations:
- on images the default recipe is not the paper's. The paper trains five critic
  steps per generator step with Adam at 1e-4, betas (0, 0.9); at the zoo's CPU budget
  that drew no digit on mnist5k (Fréchet distance 337.9 after 800 generator steps,
  123 after 3,000 and 18 CPU-minutes). The default is one critic step per generator
  step, Adam at 1e-3 for both networks with betas (0.5, 0.9) (the reference MNIST
  script's betas), He initialisation and a hidden critic layer (the next two items),
  for 5,000 steps: Fréchet distance 17.5 in 10.5 CPU-minutes on one thread. Of the
  three changes the faster rates mattered most, and they need He initialisation (114
  after 1,500 steps without it, 43 with it); benchmarks/results/image-sweeps.md has
  the probes. The paper's recipe on these networks is ``--n-critic 5 --lr-g 1e-4 --lr-d 1e-4 --betas 0,0.9``, and adding
  ``--set init=dcgan --set d_hidden=0`` gives the zoo's previous default networks.
  On 2-D points the spec's point defaults keep the paper's recipe;
- weights use He et al.'s fan-in scaling (``--set init=he``, the default; the
  reference code used He and Glorot uniform initialisation, here drawn from a
  normal). DCGAN's N(0, 0.02) (``--set init=dcgan``) shrinks the signal layer by
  layer in a critic without normalisation: at the start its input gradients had a
  norm near 0.02 against the penalty's target of 1, so the critic spent its first
  updates growing its weights. A factory called without ``init`` keeps N(0, 0.02),
  so runs saved before the option rebuild what they trained;
- the critic's last feature map reaches the logit through a hidden layer of 1,024
  units (``--set d_hidden=1024``, the default; LeakyReLU, no normalisation), as
  InfoGAN's MNIST discriminator and dcgan's here: at 28 px only two convolutions
  fit. ``--set d_hidden=0`` feeds the flattened map straight to the logit, as the
  paper; a factory called without it does that, for runs saved before the option;
- the default width is 32 (critic 32-64 channels at 28 px, where the paper's
  MNIST critic had 64-128-256), for speed; ``--set width=64`` for the wider nets;
- the paper's MNIST networks (a 4x4x256 projection cropped to 7x7, three
  transposed convolutions, a sigmoid output) and its 64-px ResNets are replaced by
  the DCGAN stack of :mod:`ganzoo.models.dcgan` sized from the data set, with a
  Tanh output on [-1, 1] images;
- on 2-D points the MLP networks of :mod:`ganzoo.models.vanilla` are used, the
  critic without dropout (a random mask would make the penalised critic a
  different function from the one scored); ``init`` and ``d_hidden`` do not apply.
"""

from __future__ import annotations

import math

from torch import nn

from ganzoo.errors import GanzooError
from ganzoo.layers import is_points
from ganzoo.models import dcgan

#: Weight initialisations: DCGAN's N(0, 0.02), or He et al.'s (2015) fan-in scaling.
INITS = ("dcgan", "he")


def check_init(init: object) -> str:
    """The ``init`` option, checked before any layer is built."""
    if init not in INITS:
        raise GanzooError(f"wgan-gp: --set init must be one of {', '.join(INITS)}, got {init!r}")
    return str(init)


def he_init(module: nn.Module, slope: float) -> nn.Module:
    """Scale every layer's weights by its fan-in so that activations keep their size through a
    normalisation-free stack: N(0, gain² / fan_in), with the gain of a leaky ReLU of ``slope``
    (0 for ReLU) after hidden layers and 1 on the last layer, whose output is a logit or goes
    through Tanh. A transposed convolution's fan-in is what one output pixel sums over, the
    input channels times the kernel's taps that land on it (k² / stride²). Biases start at 0,
    norm scales at 1. Applied in module order after construction, so a seed gives fixed weights."""
    layers = [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    hidden_gain = math.sqrt(2.0 / (1.0 + slope ** 2))
    for i, m in enumerate(layers):
        if isinstance(m, nn.Linear):
            fan_in = m.in_features
        elif isinstance(m, nn.ConvTranspose2d):
            taps = m.kernel_size[0] * m.kernel_size[1] // (m.stride[0] * m.stride[1])
            fan_in = m.in_channels * max(1, taps)
        else:
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
        gain = 1.0 if i == len(layers) - 1 else hidden_gain
        nn.init.normal_(m.weight, 0.0, gain / math.sqrt(fan_in))
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    for norm in module.modules():
        if isinstance(norm, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) and norm.weight is not None:
            nn.init.ones_(norm.weight)
            nn.init.zeros_(norm.bias)
    return module


def generator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 128, width: int = 64,
              norm: str = "none", init: str = "dcgan", d_hidden: int = 0) -> nn.Module:
    """DCGAN generator (with its BatchNorm), He-initialised with ``init="he"``. ``norm`` and
    ``d_hidden`` belong to the critic and are ignored here; they are accepted because a model's
    options are passed to both factories. The parameter defaults rebuild runs saved before
    ``init`` existed; the spec's option defaults are the zoo's current networks."""
    init = check_init(init)
    net = dcgan.generator(shape, num_classes, latent_dim, width, model="wgan-gp")
    if init == "he" and not is_points(shape):
        he_init(net, slope=0.0)
    return net


def critic(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 128, width: int = 64,
           norm: str = "none", init: str = "dcgan", d_hidden: int = 0) -> nn.Module:
    """DCGAN discriminator without BatchNorm (``norm`` none or layer), with ``d_hidden`` units
    before the logit (0: none) and ``init`` "dcgan" or "he"; vanilla's MLP on 2-D points.
    The parameter defaults rebuild runs saved before those options existed."""
    init = check_init(init)
    if is_points(shape):
        from ganzoo.models import vanilla

        return vanilla.Discriminator(tuple(shape), num_classes=num_classes, latent_dim=latent_dim, dropout=0.0)
    if norm == "batch":
        raise GanzooError(
            "wgan-gp: BatchNorm breaks the per-sample gradient penalty; use --set norm=none or norm=layer")
    net = dcgan.DCGANDiscriminator(shape, num_classes, latent_dim, width, norm=norm, model="wgan-gp",
                                   d_hidden=d_hidden)
    return he_init(net, slope=0.2) if init == "he" else net
