"""Built-in adversarial losses."""

from collections.abc import Callable

from ganzoo import LossSpec, hookimpl


@hookimpl
def ganzoo_register_losses(register: Callable[[LossSpec], None]) -> None:
    register(LossSpec(
        name="minimax",
        summary="The seed formula: D maximises log D(x) + log(1 - D(G(z))), G minimises log(1 - D(G(z)))",
        paper="Goodfellow et al. 2014, Generative Adversarial Nets",
        target="ganzoo.objectives.losses:Minimax",
    ))
    register(LossSpec(
        name="nonsaturating",
        summary="As minimax, but G maximises log D(G(z)): strong gradients early in training",
        paper="Goodfellow et al. 2014, Generative Adversarial Nets (section 3)",
        target="ganzoo.objectives.losses:NonSaturating",
    ))
    register(LossSpec(
        name="wasserstein",
        summary="Critic maximises D(x) - D(G(z)); pair with a Lipschitz constraint (--reg gp:10)",
        paper="Arjovsky et al. 2017, Wasserstein GAN",
        target="ganzoo.objectives.losses:Wasserstein",
    ))
    register(LossSpec(
        name="lsgan",
        summary="Least squares with targets a (fake), b (real), c (G); lsgan:a=-1,b=1,c=0 is the chi-squared coding",
        paper="Mao et al. 2017, Least Squares Generative Adversarial Networks",
        target="ganzoo.objectives.losses:LeastSquares",
        params={"a": 0.0, "b": 1.0, "c": 1.0},
    ))
    register(LossSpec(
        name="hinge",
        summary="D: relu(1 - D(x)) + relu(1 + D(G(z))); G: -D(G(z))",
        paper="Lim & Ye 2017, Geometric GAN; Miyato et al. 2018",
        target="ganzoo.objectives.losses:Hinge",
    ))
    register(LossSpec(
        name="ragan",
        summary="Relativistic average (RaSGAN): is real data more realistic than the fakes on average, and vice versa",
        paper="Jolicoeur-Martineau 2018, The relativistic discriminator: a key element missing from standard GAN",
        target="ganzoo.objectives.ragan:RelativisticAverage",
    ))
    register(LossSpec(
        name="rpgan",
        summary="Relativistic pairing: each real sample against one generated sample (R3GAN's loss; add r1 and r2)",
        paper="Jolicoeur-Martineau 2019; Huang et al. 2024, The GAN is dead; long live the GAN! A Modern GAN Baseline",
        target="ganzoo.objectives.rpgan:RelativisticPairing",
    ))
