"""Built-in models. Each entry points at torch code in :mod:`ganzoo.models`."""

import dataclasses
from collections.abc import Callable
from typing import TypedDict

from ganzoo import ModelSpec, hookimpl
from ganzoo.specs import Defaults


class _Precision(TypedDict):
    defaults: Defaults
    point_defaults: Defaults


class _Adam(TypedDict):
    lr_g: float
    lr_d: float
    betas: tuple[float, float]


def _bf16_on_images(defaults: Defaults) -> _Precision:
    """A ModelSpec's defaults with bf16 autocast on images, where the device computes bf16
    natively: for models whose figure held against float32's (benchmarks/results/amp.md).
    The 2-D mixtures keep float32: unmeasured there, and bf16's 8-bit significand spans a
    mixture's 0.02-wide modes in a handful of steps."""
    return {"defaults": dataclasses.replace(defaults, amp=True), "point_defaults": defaults}


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
        # bf16 where the device has it: 1.7x the steps on such a CPU, and the Frechet distance held over
        # 5 seeds (benchmarks/results/amp.md); not measured on points.
        defaults=Defaults(latent_dim=100, batch_size=64, steps=10000, ema=True, ema_decay=0.999, amp=True,
                          **_INFOGAN_ADAM),
        options={"hidden": None, "norm": True, "dropout": None, "embed_dim": 10},
        # The 2-D mixtures: PacGAN's protocol uses 2-d noise and long training; batch 100 as its
        # authors'. R1 at 0.1 keeps every mode at its share (without it seeds lose grid25 modes
        # early and never regain them), the learning rates decayed over the second half sharpen
        # the points, and high quality keeps growing with length: 100,000 steps stay within the
        # 30 CPU-minutes the zoo allows a 2-D run. Sweeps: benchmarks/results/mixture-sweeps.md.
        point_defaults=Defaults(latent_dim=2, batch_size=100, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
                                steps=100000, reg=("r1:0.1",), lr_decay=0.5, ema=True, ema_decay=0.999),
    ))
    for spec in (*_ZOO, *_TRANSLATION):
        register(spec)


# The zoo. Each entry's generator/discriminator live in one file per family under
# ganzoo/models/, whose docstring cites the paper and names every deviation.
# Default steps: most train on mnist5k in a few minutes on a 2-core CPU (at 1 thread on a
# shared machine: dcgan/lsgan ~4 steps/s with their D head, acgan/cdcgan ~4, sngan ~2-5, wgan-gp
# ~8 with one critic step, cgan ~13); dcgan, lsgan, sngan, acgan and cdcgan take 3,000 steps,
# infogan and wgan-gp 5,000, cgan and vanilla 10,000 (times per model: benchmarks/results/quality.md;
# r3gan and stylegan2, on 32-px colour emoji, in their own comments). sngan and
# wgan-gp default to width 32 for speed; --set width=64 gives the papers' widths (see their
# module docstrings).
_DCGAN_ADAM: _Adam = {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999)}
# InfoGAN's MNIST rates (G five times faster than D). dcgan and lsgan train with them and, on
# single-channel images, with a hidden layer of 1,024 units before D's logit (InfoGAN's
# discriminator head; d_hidden None lets the model choose by channel count): on mnist5k
# neither change alone drew digits, both together did; on Stacked MNIST the head made
# channels drop digits and the paper's plain logit did better (benchmarks/results/image-sweeps.md).
_INFOGAN_ADAM: _Adam = {"lr_g": 1e-3, "lr_d": 2e-4, "betas": (0.5, 0.999)}
# R3GAN on the 2-D mixtures: vanilla's MLPs and point recipe (latent 2, batch 100, long training,
# rates decayed over the second half) with the model's own loss and R1 + R2 terms (unmeasured there).
_R3GAN_POINTS = Defaults(latent_dim=2, batch_size=100, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), steps=100000,
                         lr_decay=0.5, ema=True, ema_decay=0.999)
_R3GAN = ModelSpec(
    name="r3gan",
    summary="R3GAN: relativistic pairing loss with R1 and R2, a normalisation-free ResNet of grouped convolutions",
    paper="Huang et al. 2024, The GAN is dead; long live the GAN! A Modern GAN Baseline",
    generator="ganzoo.models.r3gan:generator",
    discriminator="ganzoo.models.r3gan:discriminator",
    loss="rpgan",
    dataset="emoji",
    # The paper's CIFAR-10 recipe at the start of its schedules, which is where a CPU budget
    # (about 100k images of its 20M) stays: Adam with betas 0 and 0.9, equal rates, R1 and R2 at
    # gamma 0.05 (the model's own terms: `--reg r1:G --reg r2:G` retunes them). The rate is 5e-4
    # where the paper starts at 2e-4, and the width 32: at equal CPU that trained further than
    # 2e-4 at width 64 (benchmarks/results/image-sweeps.md); `--set width=64` doubles the width.
    # bf16 on images where the device has it: 1.15x the steps, and the figure held (amp.md).
    defaults=Defaults(latent_dim=64, batch_size=32, lr_g=5e-4, lr_d=5e-4, betas=(0.0, 0.9), steps=3000,
                      ema=True, ema_decay=0.999, amp=True),
    terms=("r1:0.05", "r2:0.05"),
    options={"width": 32, "blocks": 1, "expansion": 2, "group_size": 16, "embed_dim": 32},
    point_defaults=_R3GAN_POINTS,
)
# Image-to-image models (task="translate"): each trains on a set derived from mnist5k, which
# ships, so that a fresh clone trains it offline; their CPU times are in
# benchmarks/results/translation.md.
_TRANSLATION = [
    ModelSpec(
        name="pix2pix",
        summary="pix2pix: U-Net generator, conditional PatchGAN, L1 at 100 (paired image-to-image translation)",
        paper="Isola et al. 2017, Image-to-Image Translation with Conditional Adversarial Networks",
        generator="ganzoo.models.pix2pix:generator",
        discriminator="ganzoo.models.pix2pix:discriminator",
        loss="nonsaturating",
        dataset="edges2digits",
        task="translate",
        data_kinds=("pairs",),
        defaults=Defaults(batch_size=16, steps=2000, amp=True, **_DCGAN_ADAM),  # bf16: the figures held (amp.md)
        terms=("l1:100",),
        options={"width": 32, "depth": None, "d_layers": 2},
    ),
    ModelSpec(
        name="cyclegan",
        summary="CycleGAN: two ResNet generators, two PatchGANs, least squares, cycle 10 and identity 0.5 (unpaired)",
        paper="Zhu et al. 2017, Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks",
        generator="ganzoo.models.cyclegan:generator",
        discriminator="ganzoo.models.cyclegan:discriminator",
        loss="lsgan",
        dataset="digits2textured",
        task="translate",
        data_kinds=("domains", "pairs"),
        # 4,000 steps (about 25 CPU-minutes): at 2,000 it kept 86 % and 80 % of the digits, under
        # the 90 % both ways that 4,000 reached (benchmarks/results/translation.md)
        # bf16 where the device has it: the figures held (benchmarks/results/amp.md)
        defaults=Defaults(batch_size=8, steps=4000, lr_decay=0.5, pool=50, amp=True, **_DCGAN_ADAM),
        terms=("cycle:10,identity=0.5",),
        options={"width": 32, "blocks": 6, "d_layers": 2},
    ),
    ModelSpec(
        name="srgan",
        summary="ESRGAN-style x4 super-resolution: residual G, sub-pixel upsampling, relativistic D, L1 + perceptual",
        paper="Ledig et al. 2017 (SRGAN); Wang et al. 2018, ESRGAN: Enhanced Super-Resolution GANs",
        generator="ganzoo.models.srgan:generator",
        discriminator="ganzoo.models.srgan:discriminator",
        loss="ragan",
        dataset="digits-x4",
        task="translate",
        data_kinds=("pairs",),
        # ESRGAN's Adam (1e-4, betas 0.9 and 0.999) and its weights: perceptual 1, adversarial 5e-3,
        # L1 1e-2, written against an adversarial weight of 1.
        # bf16 where the device has it: the figures held (benchmarks/results/amp.md)
        defaults=Defaults(batch_size=16, steps=2000, lr_g=1e-4, lr_d=1e-4, betas=(0.9, 0.999), amp=True),
        terms=("l1:2", "perceptual:200"),
        options={"width": 32, "blocks": 16},
    ),
]
_ZOO = [
    ModelSpec(
        name="dcgan",
        summary="Deep convolutional GAN: strided convs, BatchNorm, ReLU/LeakyReLU, Tanh (MLP on 2-D points)",
        paper="Radford et al. 2016, Unsupervised Representation Learning with Deep Convolutional GANs",
        generator="ganzoo.models.dcgan:generator",
        discriminator="ganzoo.models.dcgan:discriminator",
        loss="nonsaturating",
        dataset="mnist5k",
        # bf16 where the device has it: 2.2x the steps on such a CPU, and the figures held on
        # mnist5k (2 seeds), emoji and Stacked MNIST (benchmarks/results/amp.md); not measured on points
        defaults=Defaults(latent_dim=100, batch_size=64, steps=3000, amp=True, **_INFOGAN_ADAM),
        point_defaults=Defaults(latent_dim=100, batch_size=64, steps=3000, **_INFOGAN_ADAM),
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
        # vanilla's MLPs, so vanilla's schedule: the EMA generator over 10,000 steps. bf16 on images:
        # its figure held (benchmarks/results/amp.md), as vanilla's did.
        **_bf16_on_images(Defaults(latent_dim=100, batch_size=64, steps=10000, ema=True, ema_decay=0.999,
                                   **_DCGAN_ADAM)),
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
        # bf16 on images: its figure held (benchmarks/results/amp.md).
        **_bf16_on_images(Defaults(latent_dim=100, batch_size=64, steps=3000, **_INFOGAN_ADAM)),
        terms=("acgan-aux:1",),
        options={"width": 64, "aux_fakes": False},
    ),
    ModelSpec(
        name="wgan-gp",
        summary="Wasserstein GAN with gradient penalty: BatchNorm-free critic, 1 critic step on images, 5 on points",
        paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs",
        generator="ganzoo.models.wgan:generator",
        discriminator="ganzoo.models.wgan:critic",
        loss="wasserstein",
        dataset="mnist5k",
        # Not the paper's recipe on images: five critic steps at Adam 1e-4, betas (0, 0.9) drew no digit
        # within the CPU budget (337.9 after 800 steps). One critic step, Adam 1e-3 for both at the
        # reference MNIST script's betas (0.5, 0.9), He-initialised networks and a 1,024-unit critic
        # layer reach readable digits (benchmarks/results/image-sweeps.md). The paper's recipe:
        # --n-critic 5 --lr-g 1e-4 --lr-d 1e-4 --betas 0,0.9 (add --set init=dcgan --set d_hidden=0 for
        # the previous default networks). The 2-D mixtures keep the paper's recipe.
        # bf16 on images where the device has it (the figure held: amp.md).
        defaults=Defaults(latent_dim=128, batch_size=64, lr_g=1e-3, lr_d=1e-3, betas=(0.5, 0.9), n_critic=1,
                          steps=5000, reg=("gp:10",), amp=True),
        point_defaults=Defaults(latent_dim=128, batch_size=64, lr_g=1e-4, lr_d=1e-4, betas=(0.0, 0.9), n_critic=5,
                                steps=800, reg=("gp:10",)),
        options={"width": 32, "norm": "none", "init": "he", "d_hidden": 1024},
    ),
    _R3GAN,
    dataclasses.replace(_R3GAN, name="cr3gan", conditional=True,
                        summary="Class-conditional R3GAN: label embedding joins z in G, projection in D"),
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
        # bf16 on images: its figure held (benchmarks/results/amp.md).
        **_bf16_on_images(Defaults(latent_dim=100, batch_size=64, steps=3000, ema=True, ema_decay=0.999,
                                   **_INFOGAN_ADAM)),
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
        # bf16 on images: its figure held (benchmarks/results/amp.md).
        **_bf16_on_images(Defaults(latent_dim=128, batch_size=64, steps=3000, **_INFOGAN_ADAM)),
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
    ModelSpec(
        name="stylegan2",
        summary="StyleGAN2: mapping net, modulated convs, noise, skip G, residual D; truncation in w",
        paper="Karras et al. 2020, Analyzing and Improving the Image Quality of StyleGAN",
        generator="ganzoo.models.stylegan2:generator",
        discriminator="ganzoo.models.stylegan2:discriminator",
        loss="nonsaturating",
        dataset="emoji",
        # StyleGAN2-ADA's own CIFAR-10 configuration, the paper's recipe for 32 px: Adam at 0.0025
        # (betas 0 and 0.99), lazy R1 every 16 D updates at gamma 0.01, a 2-layer mapping network,
        # no style mixing and no path-length term (`--reg pl:2@4 --set mixing=0.9,mapping_layers=8`
        # gives the FFHQ recipe; on emoji it cost 1.8x the CPU per step and drew no better:
        # benchmarks/results/image-sweeps.md). The EMA's decay 0.998 is a 10k-image half-life at
        # batch 32. CPU sizes where the paper has z and w of 512 and 512 channels: z and w 128,
        # channels 32 at 32 px doubling to 128.
        defaults=Defaults(latent_dim=128, batch_size=32, lr_g=0.0025, lr_d=0.0025, betas=(0.0, 0.99), steps=3000,
                          reg=("r1:0.01@16",), ema=True, ema_decay=0.998),
        options={"channels": 32, "max_channels": 128, "mapping_layers": 2, "mixing": 0.0, "w_dim": 128},
        # On 2-D points both networks are vanilla's MLPs (no mapping for path length): vanilla's point recipe.
        point_defaults=Defaults(latent_dim=2, batch_size=100, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
                                steps=100000, reg=("r1:0.1",), lr_decay=0.5, ema=True, ema_decay=0.999),
    ),
]
