"""The plugin contract: every hook a plugin may implement.

Each hook receives a ``register`` callback; call it once per entry with a spec from
:mod:`ganzoo.specs`. Plugin modules should hold only hook implementations and
strings pointing at their torch code, so that listing plugins never imports torch.

The annotations are for plugin authors' editors and type checkers; they are never
evaluated at run time, so this module imports neither click nor torch (``ganzoo --help``
stays fast). The reference for every hook is docs/plugins.md §5.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable

    import click

    from ganzoo.specs import DatasetSpec, LossSpec, ModelSpec, RegularizerSpec

hookspec = pluggy.HookspecMarker("ganzoo")
hookimpl = pluggy.HookimplMarker("ganzoo")


@hookspec
def ganzoo_register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register models: ``register(ModelSpec(...))``."""


@hookspec
def ganzoo_register_losses(register: Callable[[LossSpec], None]) -> None:
    """Register adversarial losses: ``register(LossSpec(...))``."""


@hookspec
def ganzoo_register_regularizers(register: Callable[[RegularizerSpec], None]) -> None:
    """Register regularizers (gradient penalty, R1, ...): ``register(RegularizerSpec(...))``."""


@hookspec
def ganzoo_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register data sets: ``register(DatasetSpec(...))``."""


@hookspec
def ganzoo_register_commands(cli: click.Group) -> None:
    """Add click commands to the ``ganzoo`` group: ``cli.add_command(...)``."""
