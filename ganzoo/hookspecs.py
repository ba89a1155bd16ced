"""The plugin contract: every hook a plugin may implement.

Each hook receives a ``register`` callback; call it once per entry with a spec from
:mod:`ganzoo.specs`. Plugin modules should hold only hook implementations and
strings pointing at their torch code, so that listing plugins never imports torch.
"""

import pluggy

hookspec = pluggy.HookspecMarker("ganzoo")
hookimpl = pluggy.HookimplMarker("ganzoo")


@hookspec
def ganzoo_register_models(register):
    """Register models: ``register(ModelSpec(...))``."""


@hookspec
def ganzoo_register_losses(register):
    """Register adversarial losses: ``register(LossSpec(...))``."""


@hookspec
def ganzoo_register_regularizers(register):
    """Register regularizers (gradient penalty, R1, ...): ``register(RegularizerSpec(...))``."""


@hookspec
def ganzoo_register_datasets(register):
    """Register data sets: ``register(DatasetSpec(...))``."""


@hookspec
def ganzoo_register_commands(cli):
    """Add click commands to the ``ganzoo`` group: ``cli.add_command(...)``."""
