"""PacGAN for ganzoo: a discriminator that judges packs of samples (Lin et al. 2018).

Importing this package is cheap: the hook implementations in :mod:`ganzoo_pacgan.plugin`
hold only strings, and the torch networks in :mod:`ganzoo_pacgan.models` are imported
only when a model is built, so ``ganzoo list`` stays free of torch.
"""

__version__ = "0.4.0"
