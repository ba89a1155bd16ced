"""Built-in models. Each entry points at torch code in :mod:`ganzoo.models`."""

from collections.abc import Callable
from typing import TypedDict

from ganzoo import ModelSpec, hookimpl
from ganzoo.specs import Defaults


class _Adam(TypedDict):
    lr_g: float
    lr_d: float
    betas: tuple[float, float]


@hookimpl
def ganzoo_register_models(register: Callable[[ModelSpec], None]) -> None:
    register(ModelSpec(
        name="vanilla",
        summary="The original GAN: MLP generator and discriminator",
        paper="Goodfellow et al. 2014, Generative Adversarial Nets",
        generator="ganzoo.models.vanilla:Generator",
        discriminator="ganzoo.models.vanilla:Discriminator",
        loss="nonsaturating",
        dataset="mnist5k",
        # 10,000 steps with an EMA generator (5,000 without EMA gave speckled, half-formed digits) and
        # InfoGAN's rates, which drew closer digits than 2e-4 for both (benchmarks/results/image-sweeps.md).
        defaults=Defaults(latent_dim=100, batch_size=64, steps=10000, ema=True, ema_decay=0.999, **_INFOGAN_ADAM),
        options={"hidden": None, "norm": True, "dropout": None, "embed_dim": 10},
        # The 2-D mixtures: PacGAN's protocol uses 2-d noise and long training; batch 100 as its
        # authors'. R1 at 0.1 keeps every mode at its share (without it seeds lose grid25 modes
        # early and never regain them), the learning rates decayed over the second half sharpen
        # the points, and high quality keeps growing with length: 100,000 steps stay within the
        # 30 CPU-minutes the zoo allows a 2-D run. Sweeps: benchmarks/results/mixture-sweeps.md.
        point_defaults=Defaults(latent_dim=2, batch_size=100, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
                                steps=100000, reg=("r1:0.1",), lr_decay=0.5, ema=True, ema_decay=0.999),
    ))
    for spec in _ZOO:
        register(spec)


# The zoo. Each entry's generator/discriminator live in one file per family under
# ganzoo/models/, whose docstring cites the paper and names every deviation.
# Default steps: most train on mnist5k in a few minutes on a 2-core CPU (at 1 thread on a
# shared machine: dcgan/lsgan ~4 steps/s with their D head, acgan/cdcgan ~4, sngan ~2-5, wgan-gp
# ~2.2 with its 5 critic steps, cgan ~13); dcgan, lsgan, sngan, acgan and cdcgan take 3,000
# steps, infogan 5,000, cgan and vanilla 10,000 (times per model: benchmarks/results/quality.md). sngan and
# wgan-gp default to width 32 for speed; --set width=64 gives the papers' widths (see their
# module docstrings).
_DCGAN_ADAM: _Adam = {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999)}
# InfoGAN's MNIST rates (G five times faster than D). dcgan and lsgan train with them and, on
# single-channel images, with a hidden layer of 1,024 units before D's logit (InfoGAN's
# discriminator head; d_hidden None lets the model choose by channel count): on mnist5k
# neither change alone drew digits, both together did; on Stacked MNIST the head made
# channels drop digits and the paper's plain logit did better (benchmarks/results/image-sweeps.md).
_INFOGAN_ADAM: _Adam = {"lr_g": 1e-3, "lr_d": 2e-4, "betas": (0.5, 0.999)}
_ZOO = [
    ModelSpec(
        name="dcgan",
        summary="Deep convolutional GAN: strided convs, BatchNorm, ReLU/LeakyReLU, Tanh (MLP on 2-D points)",
        paper="Radford et al. 2016, Unsupervised Representation Learning with Deep Convolutional GANs",
        generator="ganzoo.models.dcgan:generator",
        discriminator="ganzoo.models.dcgan:discriminator",
        loss="nonsaturating",
        dataset="mnist5k",
        defaults=Defaults(latent_dim=100, batch_size=64, steps=3000, **_INFOGAN_ADAM),
        options={"width": 64, "d_hidden": None},
    ),
    ModelSpec(
        name="cgan",
        summary="Conditional GAN: vanilla's MLPs with the label fed to both networks",
        paper="Mirza & Osindero 2014, Conditional Generative Adversarial Nets",
        generator="ganzoo.models.vanilla:Generator",
        discriminator="ganzoo.models.vanilla:Discriminator",
        loss="nonsaturating",
        dataset="mnist5k",
        conditional=True,
        # vanilla's MLPs, so vanilla's schedule: the EMA generator over 10,000 steps
        defaults=Defaults(latent_dim=100, batch_size=64, steps=10000, ema=True, ema_decay=0.999, **_DCGAN_ADAM),
        options={"hidden": None, "norm": True, "dropout": None, "embed_dim": 10},
    ),
    ModelSpec(
        name="cdcgan",
        summary="Conditional DCGAN: label embedding into G, projection discriminator",
        paper="Radford et al. 2016 (DCGAN) + Miyato & Koyama 2018, cGANs with Projection Discriminator",
        generator="ganzoo.models.dcgan:generator",
        discriminator="ganzoo.models.dcgan:discriminator",
        loss="nonsaturating",
        dataset="mnist5k",
        conditional=True,
        defaults=Defaults(latent_dim=100, batch_size=64, steps=3000, **_DCGAN_ADAM),
        options={"width": 64},
    ),
    ModelSpec(
        name="acgan",
        summary="Auxiliary classifier GAN: D also predicts the class (acgan-aux; real images only by default)",
        paper="Odena et al. 2017, Conditional Image Synthesis with Auxiliary Classifier GANs",
        generator="ganzoo.models.acgan:generator",
        discriminator="ganzoo.models.acgan:discriminator",
        loss="nonsaturating",
        dataset="mnist5k",
        conditional=True,
        defaults=Defaults(latent_dim=100, batch_size=64, steps=3000, **_INFOGAN_ADAM),
        terms=("acgan-aux:1",),
        options={"width": 64, "aux_fakes": False},
    ),
    ModelSpec(
        name="wgan-gp",
        summary="Wasserstein GAN with gradient penalty: BatchNorm-free critic, 5 critic steps",
        paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs",
        generator="ganzoo.models.wgan:generator",
        discriminator="ganzoo.models.wgan:critic",
        loss="wasserstein",
        dataset="mnist5k",
        defaults=Defaults(latent_dim=128, batch_size=64, lr_g=1e-4, lr_d=1e-4, betas=(0.0, 0.9), n_critic=5,
                          steps=800, reg=("gp:10",)),
        options={"width": 32, "norm": "none"},
    ),
    ModelSpec(
        name="lsgan",
        summary="Least squares GAN: DCGAN networks, least-squares loss",
        paper="Mao et al. 2017, Least Squares Generative Adversarial Networks",
        generator="ganzoo.models.dcgan:generator",
        discriminator="ganzoo.models.dcgan:discriminator",
        loss="lsgan",
        dataset="mnist5k",
        # dcgan's recipe plus an EMA generator: the least-squares G's last iterate stays noisy
        # (Fréchet distance 39.7 on mnist5k), its average draws clean digits (15.9; image-sweeps.md).
        defaults=Defaults(latent_dim=100, batch_size=64, steps=3000, ema=True, ema_decay=0.999, **_INFOGAN_ADAM),
        options={"width": 64, "d_hidden": None},
    ),
    ModelSpec(
        name="sngan",
        summary="Spectral normalization in D (standard CNN), hinge loss",
        paper="Miyato et al. 2018, Spectral Normalization for Generative Adversarial Networks",
        generator="ganzoo.models.sngan:generator",
        discriminator="ganzoo.models.sngan:discriminator",
        loss="hinge",
        dataset="mnist5k",
        defaults=Defaults(latent_dim=128, batch_size=64, steps=3000, **_INFOGAN_ADAM),
        options={"width": 32},
    ),
    ModelSpec(
        name="infogan",
        summary="InfoGAN: latent codes (c1: 10 values, c2, c3 continuous) made readable by a Q head: --code c1=3",
        paper="Chen et al. 2016, InfoGAN: Interpretable Representation Learning by Information Maximizing GANs",
        generator="ganzoo.models.infogan:generator",
        discriminator="ganzoo.models.infogan:discriminator",
        loss="nonsaturating",
        dataset="mnist5k",
        # 5,000 steps: with the continuous codes' term at 0.1 the c1 values keep separating the
        # digits they share until then (benchmarks/results/image-sweeps.md).
        defaults=Defaults(latent_dim=62, batch_size=64, steps=5000, **_INFOGAN_ADAM),
        terms=("info:1",),
        options={"width": 64, "continuous_weight": 0.1},
    ),
]
