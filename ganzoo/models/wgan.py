"""WGAN-GP (Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville 2017, "Improved
Training of Wasserstein GANs", NeurIPS).

The model is mostly a training recipe, and the recipe lives outside this file
where any model can reuse it: the ``wasserstein`` loss (the critic maximises
D(x) - D(G(z))), the ``gp`` regularizer (λ·E[(‖∇D(x̂)‖₂ - 1)²] on interpolates
x̂ = εx + (1-ε)G(z) with one ε ~ U[0, 1] per sample, λ = 10, in
:mod:`ganzoo.losses`), five critic steps per generator step and Adam with
lr 1e-4, betas (0, 0.9) (the spec's defaults). This file holds the networks.

The one architectural rule of the paper: no BatchNorm in the critic, because the
penalty is defined per sample and batch normalisation couples the samples of a
batch. The critic is DCGAN's discriminator with normalisation removed
(``--set norm=none``, the default) or replaced by layer normalisation
(``--set norm=layer``, the paper's suggested drop-in). The generator keeps
BatchNorm, as in the paper.

Deviations:
- the default width is 32 (critic 32-64 channels at 28 px, where the paper's
  MNIST critic had 64-128-256): with five critic steps, each with a double
  backward pass for the penalty, width 64 took 0.68 CPU-seconds per generator
  step on mnist5k against 0.29 at width 32; ``--set width=64`` for the wider nets;
- the paper's MNIST networks (a 4x4x256 projection cropped to 7x7, three
  transposed convolutions, a sigmoid output) and its 64-px ResNets are replaced by
  the DCGAN stack of :mod:`ganzoo.models.dcgan` sized from the data set, with a
  Tanh output on [-1, 1] images;
- weights use DCGAN's N(0, 0.02) initialisation (the reference code used He/Glorot
  uniform initialisation);
- on 2-D points the MLP networks of :mod:`ganzoo.models.vanilla` are used, the
  critic without dropout (a random mask would make the penalised critic a
  different function from the one scored).
"""

from __future__ import annotations

from torch import nn

from ganzoo.errors import GanzooError
from ganzoo.layers import is_points
from ganzoo.models import dcgan


def generator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 128, width: int = 64,
              norm: str = "none") -> nn.Module:
    """DCGAN generator (with its BatchNorm). ``norm`` belongs to the critic and is ignored here;
    it is accepted because a model's options are passed to both factories."""
    return dcgan.generator(shape, num_classes, latent_dim, width, model="wgan-gp")


def critic(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 128, width: int = 64,
           norm: str = "none") -> nn.Module:
    """DCGAN discriminator without BatchNorm (``norm`` none or layer); vanilla's MLP on 2-D points."""
    if is_points(shape):
        from ganzoo.models import vanilla

        return vanilla.Discriminator(tuple(shape), num_classes=num_classes, latent_dim=latent_dim, dropout=0.0)
    if norm == "batch":
        raise GanzooError(
            "wgan-gp: BatchNorm breaks the per-sample gradient penalty; use --set norm=none or norm=layer")
    return dcgan.DCGANDiscriminator(shape, num_classes, latent_dim, width, norm=norm, model="wgan-gp")
