"""Built-in regularizers: terms that need the discriminator and the batches."""

from collections.abc import Callable

from ganzoo import RegularizerSpec, hookimpl


@hookimpl
def ganzoo_register_regularizers(register: Callable[[RegularizerSpec], None]) -> None:
    register(RegularizerSpec(
        name="gp",
        summary="Gradient penalty: weight * E[(||grad D(x_hat)|| - 1)^2] on per-sample interpolates",
        paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs",
        target="ganzoo.objectives.penalties:GradientPenalty",
        default_weight=10.0,
    ))
    register(RegularizerSpec(
        name="r1",
        summary="R1: weight/2 * E[||grad D(x)||^2] on real data; r1:W@K is lazy (every K-th D update, scaled by K)",
        paper="Mescheder et al. 2018, Which Training Methods for GANs do actually Converge?",
        target="ganzoo.objectives.penalties:R1",
        default_weight=1.0,
    ))
    register(RegularizerSpec(
        name="r2",
        summary="R2: weight/2 * E[||grad D(G(z))||^2] on generated data, on the D pass the loss already made",
        paper="Mescheder et al. 2018; Huang et al. 2024 (R3GAN pairs it with R1)",
        target="ganzoo.objectives.penalties:R2",
        default_weight=1.0,
    ))
    register(RegularizerSpec(
        name="acgan-aux",
        summary=("ACGAN's class loss on D's class head: real (and, with --set aux_fakes=true, fake) images for D, "
                 "fake for G"),
        paper="Odena et al. 2017, Conditional Image Synthesis with Auxiliary Classifier GANs",
        target="ganzoo.objectives.auxiliary:AuxiliaryClassifier",
        default_weight=1.0,
    ))
    register(RegularizerSpec(
        name="info",
        summary="InfoGAN's mutual-information term: a Q head on D's features reads G's latent codes back",
        paper="Chen et al. 2016, InfoGAN: Interpretable Representation Learning by Information Maximizing GANs",
        target="ganzoo.models.infogan:MutualInformation",
        default_weight=1.0,
    ))
    register(RegularizerSpec(
        name="pl",
        summary="Path-length regularisation of a style-based G: weight * E[(||J_w^T y|| - a)^2]; pl:2@4 as the paper",
        paper="Karras et al. 2020, Analyzing and Improving the Image Quality of StyleGAN",
        target="ganzoo.objectives.path_length:PathLength",
        default_weight=2.0,
    ))
    register(RegularizerSpec(
        name="l1",
        summary="Pixel L1 to the target: weight * mean |G(source) - target| (paired image-to-image sets)",
        paper="Isola et al. 2017, Image-to-Image Translation with Conditional Adversarial Networks",
        target="ganzoo.objectives.pixels:PixelL1",
        default_weight=100.0,
    ))
    register(RegularizerSpec(
        name="perceptual",
        summary="L1 between G(source)'s and the target's features in a shipped classifier (paired image sets)",
        paper="Wang et al. 2018, ESRGAN (after Johnson et al. 2016); features of the zoo's own classifiers",
        target="ganzoo.objectives.pixels:Perceptual",
        default_weight=1.0,
    ))
    register(RegularizerSpec(
        name="cycle",
        summary="CycleGAN's way back: D_A's loss, cycle L1 (weight) and identity L1 (identity x weight)",
        paper="Zhu et al. 2017, Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks",
        target="ganzoo.objectives.cycle:CycleConsistency",
        default_weight=10.0,
        params={"identity": 0.5},
    ))
