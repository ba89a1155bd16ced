"""Built-in regularizers: terms that need the discriminator and the batches."""

from ganzoo import RegularizerSpec, hookimpl


@hookimpl
def ganzoo_register_regularizers(register):
    register(RegularizerSpec(
        name="gp",
        summary="Gradient penalty: weight * E[(||grad D(x_hat)|| - 1)^2] on per-sample interpolates",
        paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs",
        target="ganzoo.losses:GradientPenalty",
        default_weight=10.0,
    ))
    register(RegularizerSpec(
        name="r1",
        summary="R1: weight/2 * E[||grad D(x)||^2] on real data",
        paper="Mescheder et al. 2018, Which Training Methods for GANs do actually Converge?",
        target="ganzoo.losses:R1",
        default_weight=1.0,
    ))
    register(RegularizerSpec(
        name="acgan-aux",
        summary="ACGAN's class loss: cross-entropy of D.classify on real+fake (D) and fake (G) images",
        paper="Odena et al. 2017, Conditional Image Synthesis with Auxiliary Classifier GANs",
        target="ganzoo.models.acgan:AuxiliaryClassifier",
        default_weight=1.0,
    ))
