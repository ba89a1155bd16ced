"""The things plugins register: plain dataclasses that never import torch.

A spec says what an entry is (name, summary, paper, defaults) and where its code
lives (a *target*: a callable, or a lazy ``"package.module:attr"`` string that is
imported only when the entry is used). That is what keeps ``ganzoo list`` fast
however many torch-heavy plugins are installed.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Target = str | Callable[..., Any]


def resolve(target: Target) -> Callable[..., Any]:
    """Turn a target into the callable it names, importing its module on first use."""
    if callable(target):
        return target
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"target {target!r} is not of the form 'package.module:attr'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def describe(exc: BaseException) -> str:
    """``Type: first line`` of an exception, at most 200 characters: plugin errors in one line."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    first = first if len(first) <= 200 else first[:197] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def load_target(spec: Any, kind: str, field: str = "target") -> Callable[..., Any]:
    """The callable a spec's ``field`` names, or one ``GanzooError`` line naming the entry,
    the plugin and the fix. Anything the plugin's module raises on import (SystemExit
    included) is the plugin's mistake, not the user's."""
    from ganzoo.errors import GanzooError

    target = getattr(spec, field)
    who = f"{kind} '{spec.qualified_name}' (plugin '{spec.plugin}' {spec.plugin_version})".replace(" )", ")")
    spec_type = type(spec).__name__
    label = "target" if field == "target" else f"{field} target"
    try:
        obj = resolve(target)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise GanzooError(f"{who}: its {label} {target!r} cannot be imported ({describe(exc)}); the plugin must name "
                          f"an importable 'package.module:attr' in {spec_type}({field}=...): fix it, or reinstall "
                          "the plugin") from None
    if not callable(obj):
        raise GanzooError(f"{who}: its {label} {target!r} is a {type(obj).__name__}, not a callable; the plugin "
                          f"must point {spec_type}({field}=...) at a class or function")
    return obj


def _check_name(kind: str, name: str) -> None:
    if not name or ":" in name or name != name.strip() or "*" in name:
        raise ValueError(f"{kind} name {name!r} must be non-empty, without ':', '*' or spaces")


@dataclass(frozen=True)
class Defaults:
    """Training hyper-parameters a model ships with; every CLI option overrides one."""

    latent_dim: int = 100
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1
    steps: int = 2000
    reg: tuple[str, ...] = ()
    ema: bool = False
    ema_decay: float = 0.999
    #: The last fraction of the steps over which both learning rates fall linearly to 0
    #: (0: constant rates).
    lr_decay: float = 0.0


@dataclass(frozen=True)
class _Spec:
    name: str
    summary: str
    #: Filled in by the registry: which plugin registered the entry, and its version.
    plugin: str = field(default="", compare=False)
    plugin_version: str = field(default="", compare=False)

    @property
    def qualified_name(self) -> str:
        """``plugin:name``, which stays unambiguous when two plugins share a name."""
        return f"{self.plugin}:{self.name}"


@dataclass(frozen=True)
class ModelSpec(_Spec):
    """One zoo entry: everything ``ganzoo train NAME`` needs.

    ``generator`` and ``discriminator`` are called as
    ``factory(shape=..., num_classes=..., latent_dim=..., **options)`` and return
    ``torch.nn.Module`` objects that honour the contracts in docs/plugins.md §2.
    ``num_classes`` is 0 for unconditional models. ``options`` holds the model's
    own knobs (widths, pack size, ...), overridable with ``ganzoo train --set k=v``.
    """

    paper: str = ""
    generator: Target = ""
    discriminator: Target = ""
    loss: str = "nonsaturating"
    dataset: str = "mnist5k"
    conditional: bool = False
    defaults: Defaults = field(default_factory=Defaults)
    options: dict[str, Any] = field(default_factory=dict)
    #: The model's own objective terms, as ``"name[:weight][@every]"`` regularizer entries
    #: (ACGAN's class loss, InfoGAN's information term): added to every run of the model,
    #: whatever ``--reg`` says, because without them the model is not itself.
    terms: tuple[str, ...] = ()
    #: Defaults for 2-D point data sets (the mixtures), where the papers train small
    #: networks long with tiny latents; None: ``defaults`` serve every kind of data.
    point_defaults: Defaults | None = None

    def __post_init__(self) -> None:
        _check_name("model", self.name)
        for name in ("defaults", "point_defaults"):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, Defaults(**value))
        if not self.generator or not self.discriminator:
            raise ValueError(f"model {self.name!r} needs both a generator and a discriminator target")

    def defaults_for(self, kind: str) -> Defaults:
        """The defaults for data of ``kind`` ("points" or "images")."""
        return self.point_defaults if kind == "points" and self.point_defaults is not None else self.defaults


@dataclass(frozen=True)
class LossSpec(_Spec):
    """An adversarial loss. ``target(**params)`` returns an :class:`ganzoo.api.Objective`, or
    an object with ``d_loss(real_logits, fake_logits)`` and ``g_loss(fake_logits)``, both on
    raw logits. ``params`` (API 1.4) names the keyword parameters the user may set with
    ``--loss NAME:key=value`` and their defaults, whose types the values must have."""

    target: Target = ""
    paper: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("loss", self.name)


@dataclass(frozen=True)
class RegularizerSpec(_Spec):
    """A term added to the losses that needs the discriminator and the batches
    (gradient penalty, R1, an auxiliary classifier). ``target(weight, **params)`` returns an
    :class:`ganzoo.api.Objective`, or an object with ``d_term(D, real, fake, labels)`` and
    ``g_term(D, fake, labels)`` (either may return None). ``params`` (API 1.4): as
    :class:`LossSpec`'s, set with ``--reg NAME:WEIGHT,key=value``."""

    target: Target = ""
    paper: str = ""
    default_weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("regularizer", self.name)


@dataclass(frozen=True)
class DatasetSpec(_Spec):
    """A data set. ``target(arg=..., data_dir=..., download=..., seed=...)`` returns a
    :class:`ganzoo.data.Data`. ``takes_argument`` data sets are used as ``name:ARG``
    (``folder:PATH``). ``shape`` and ``num_classes`` are shown by ``ganzoo list``
    when known before loading (None when they depend on the argument)."""

    target: Target = ""
    source: str = ""
    shape: tuple[int, ...] | None = None
    num_classes: int | None = None
    takes_argument: bool = False

    def __post_init__(self) -> None:
        _check_name("dataset", self.name)

    @property
    def kind(self) -> str:
        """"points" for vector data ([D] samples, such as the 2-D mixtures), else "images"."""
        return "points" if self.shape is not None and len(self.shape) == 1 else "images"


SPEC_TYPES: dict[str, type[_Spec]] = {
    "model": ModelSpec,
    "loss": LossSpec,
    "regularizer": RegularizerSpec,
    "dataset": DatasetSpec,
}


def with_origin(spec: _Spec, plugin: str, version: str) -> _Spec:
    return dataclasses.replace(spec, plugin=plugin, plugin_version=version)
