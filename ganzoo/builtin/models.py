"""Built-in models. Each entry points at torch code in :mod:`ganzoo.models`."""

from ganzoo import ModelSpec, hookimpl
from ganzoo.specs import Defaults


@hookimpl
def ganzoo_register_models(register):
    register(ModelSpec(
        name="vanilla",
        summary="The original GAN: MLP generator and discriminator",
        paper="Goodfellow et al. 2014, Generative Adversarial Nets",
        generator="ganzoo.models.vanilla:Generator",
        discriminator="ganzoo.models.vanilla:Discriminator",
        loss="nonsaturating",
        dataset="mnist5k",
        defaults=Defaults(latent_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), steps=3000),
    ))
