"""The ganzoo plugin module of ganzoo-pacgan (entry point ``pacgan`` in group ``ganzoo``).

Only hook implementations and strings live here: the spec points at the torch code
with ``"ganzoo_pacgan.models:..."`` strings that ganzoo imports when it builds the
networks, so listing plugins never imports torch.
"""

import ganzoo
from ganzoo import ModelSpec, hookimpl
from ganzoo.specs import Defaults

# Written against plugin API 1.3 (Defaults.lr_decay). An ImportError here becomes a recorded
# plugin failure (shown by `ganzoo plugins`) instead of a confusing error deep inside training.
_major, _minor = (int(part) for part in ganzoo.PLUGIN_API_VERSION.split(".")[:2])
if _major != 1:
    raise ImportError(
        f"ganzoo-pacgan needs ganzoo plugin API 1.x, this ganzoo has {ganzoo.PLUGIN_API_VERSION}; "
        "upgrade it: pip install -U ganzoo-pacgan"
    )
if _minor < 3:
    raise ImportError(
        f"ganzoo-pacgan needs ganzoo plugin API 1.3 or later, this ganzoo has {ganzoo.PLUGIN_API_VERSION}; "
        "upgrade ganzoo: pip install -U 'ganzoo-onnx>=0.3'"
    )


@hookimpl
def ganzoo_register_models(register):
    # Optimiser, latent size and EMA as the built-in `vanilla` for each kind of data, so a
    # comparison on grid25 isolates packing; 120 samples per batch divide into packs of 2 to 6.
    register(ModelSpec(
        name="pacgan",
        summary="PacGAN: D judges packs of m samples to fight mode collapse (--set pack=2..4)",
        paper="Lin et al. 2018, PacGAN: The power of two samples in generative adversarial networks",
        generator="ganzoo_pacgan.models:generator",
        discriminator="ganzoo_pacgan.models:discriminator",
        loss="nonsaturating",
        dataset="grid25",
        defaults=Defaults(latent_dim=100, batch_size=120, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), steps=5000),
        # On the 2-D mixtures, vanilla's point defaults (batch 120 instead of 100, for the packs;
        # 80,000 steps where vanilla now trains 100,000: this D costs twice as much per step);
        # lr_decay needs plugin API 1.3 (ganzoo 0.3).
        point_defaults=Defaults(latent_dim=2, batch_size=120, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
                                steps=80000, reg=("r1:0.1",), lr_decay=0.5, ema=True, ema_decay=0.999),
        # point_d: how the 2-D discriminator reads a pack; its factory default is "joint" for runs
        # saved before the option existed (ganzoo_pacgan.models.discriminator says why).
        options={"pack": 2, "width": 64, "point_d": "shared"},
    ))
