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
    """Training hyper-parameters a model ships with, so that ``ganzoo train MODEL`` alone
    trains it as its paper did. Each field is the ``ganzoo train`` option of the same name
    (``--lr-g``, ``--ema/--no-ema``, ...) and the option, when given, replaces it."""

    latent_dim: int = 100
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    #: Adam's (beta1, beta2) for both networks.
    betas: tuple[float, float] = (0.5, 0.999)
    #: Discriminator updates per generator update (WGAN's critic uses 5).
    n_critic: int = 1
    #: Generator updates of the whole run.
    steps: int = 2000
    #: Regularizer entries, ``"name[:weight][,key=value...][@every]"`` (``"gp:10"``, the lazy
    #: ``"r1:10@16"``, or qualified, ``"ganzoo:gp:10"``). Any ``--reg`` replaces the whole tuple
    #: and ``--reg none`` empties it, which is why a model's own terms belong in
    #: ``ModelSpec.terms`` instead.
    reg: tuple[str, ...] = ()
    #: Keep an exponential moving average of G, which ``sample``, ``export`` and ``eval`` then use.
    ema: bool = False
    ema_decay: float = 0.999
    #: The last fraction of the steps over which both learning rates fall linearly to 0
    #: (0: constant rates; API 1.3).
    lr_decay: float = 0.0
    #: bf16 autocast (``--amp``) where the device computes bf16 natively (CUDA, CPUs with
    #: AVX512-BF16 or AMX), float32 elsewhere without a word (API 1.5). For a model whose
    #: quality was measured to hold under it.
    amp: bool = False
    #: Generated images kept to show D beside the newest ones (``--pool``, API 1.6; CycleGAN's
    #: 50): each D batch is half new, half old images once the pool is full. 0: none.
    pool: int = 0


@dataclass(frozen=True)
class _Spec:
    #: The short name users type: no ':', '*' or surrounding spaces, since ``plugin:name`` and
    #: ``ganzoo list`` patterns give those characters a meaning.
    name: str
    #: One line for ``ganzoo list`` (the conformance kit wants at most 120 characters).
    summary: str
    #: Filled in by the registry, whatever the plugin passes: which plugin registered the
    #: entry (its entry point name) and that plugin's version. Error messages name them, so
    #: that a user knows whose code to fix.
    plugin: str = field(default="", compare=False)
    plugin_version: str = field(default="", compare=False)

    @property
    def qualified_name(self) -> str:
        """``plugin:name``, which stays unambiguous when two plugins share a name."""
        return f"{self.plugin}:{self.name}"


#: The kinds of data a data set can hold (:attr:`DatasetSpec.kind`): samples of one
#: distribution ("images", "points"), or translation sets (API 1.6): "pairs" of a source and
#: its target image, or two unpaired "domains".
DATA_KINDS = ("images", "points", "pairs", "domains")
#: What a model takes unless it says otherwise: a noise -> sample model trains on either.
SAMPLE_KINDS = ("images", "points")
#: What ``ModelSpec.task`` may be (API 1.6).
TASKS = ("generate", "translate")


@dataclass(frozen=True)
class ModelSpec(_Spec):
    """One zoo entry: everything ``ganzoo train NAME`` needs.

    ``generator`` and ``discriminator`` are factory targets, each called as
    ``factory(shape=..., num_classes=..., latent_dim=..., **options)`` and returning a
    ``torch.nn.Module`` that honours the contracts in docs/plugins.md §2 (a generator may
    also carry ``codes`` or ``truncation = "w"``, a discriminator ``heads``: those are
    attributes of the modules, not of the spec). ``shape`` is the data set's sample shape,
    ``num_classes`` the data set's class count for a conditional model and 0 otherwise.
    """

    #: The reference the model follows; its deviations belong in the networks' docstrings.
    paper: str = ""
    generator: Target = ""
    discriminator: Target = ""
    #: The default ``--loss``: a name or qualified id, with ``:key=value`` parameters if its
    #: spec has ``params``. A short name means this plugin's own entry when another plugin
    #: registers the same one.
    loss: str = "nonsaturating"
    #: The default ``--dataset`` (a name, a qualified id, or ``name:ARG``); its kind picks
    #: ``defaults`` or ``point_defaults`` and must be one of ``data_kinds``.
    dataset: str = "mnist5k"
    #: True: the factories get the data set's ``num_classes``, the loop passes labels, and
    #: ``ganzoo train`` refuses a data set without labels.
    conditional: bool = False
    #: A :class:`Defaults` or a dict of its fields (turned into one).
    defaults: Defaults = field(default_factory=Defaults)
    #: The model's own knobs (widths, pack size, ...), passed to both factories as keywords.
    #: ``ganzoo train --set k=v`` overrides one (the value parsed as JSON and checked against
    #: the default's type; a None default leaves the check to the factory); the values go into
    #: config.json, so they must be JSON.
    options: dict[str, Any] = field(default_factory=dict)
    #: The model's own objective terms, as regularizer entries (ACGAN's ``"acgan-aux:1"``,
    #: InfoGAN's ``"info:1"``): added to every run of the model, because without them the model
    #: is not itself. ``--reg`` never removes them (``--reg none`` neither); a ``--reg`` entry
    #: naming one sets its weight and interval instead of adding a second copy.
    terms: tuple[str, ...] = ()
    #: Defaults for 2-D point data sets (the mixtures), where the papers train small
    #: networks long with tiny latents; None: ``defaults`` serve every kind of data.
    point_defaults: Defaults | None = None
    #: The kinds of data the networks can take, from :data:`DATA_KINDS` (API 1.5): a
    #: convolutional model says ``("images",)``, so that ``ganzoo train`` refuses a point set
    #: with one line naming the model rather than failing inside its factory. A list is
    #: turned into a tuple. A translation model takes "pairs", "domains" or both.
    data_kinds: tuple[str, ...] = SAMPLE_KINDS
    #: "generate" (noise -> sample) or "translate" (API 1.6): an image-to-image model, whose
    #: factories also get ``source_shape`` and whose generator's forward takes the source
    #: image instead of z (docs/plugins.md, "Image-to-image models").
    task: str = "generate"

    def __post_init__(self) -> None:
        _check_name("model", self.name)
        for name in ("defaults", "point_defaults"):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, Defaults(**value))
        if not self.generator or not self.discriminator:
            raise ValueError(f"model {self.name!r} needs both a generator and a discriminator target")
        kinds = (self.data_kinds,) if isinstance(self.data_kinds, str) else tuple(self.data_kinds)
        if not kinds or any(kind not in DATA_KINDS for kind in kinds):
            raise ValueError(f"model {self.name!r}: data_kinds {self.data_kinds!r} must name one or both of "
                             f"{', '.join(repr(k) for k in DATA_KINDS)}")
        object.__setattr__(self, "data_kinds", tuple(dict.fromkeys(kinds)))
        if self.task not in TASKS:
            raise ValueError(f"model {self.name!r}: task {self.task!r} must be one of {', '.join(map(repr, TASKS))}")
        translating = [k for k in self.data_kinds if k in ("pairs", "domains")]
        mixed = bool(translating) and len(translating) != len(self.data_kinds)
        if (self.task == "translate") != bool(translating) or mixed:
            raise ValueError(f"model {self.name!r}: a model with task='translate' takes data_kinds 'pairs' and/or "
                             "'domains', and only those; a task='generate' model takes 'images' and/or 'points'")

    def defaults_for(self, kind: str) -> Defaults:
        """The defaults for data of ``kind`` ("points" or "images"): ``point_defaults`` for
        points when the model has them, else ``defaults``."""
        return self.point_defaults if kind == "points" and self.point_defaults is not None else self.defaults

    def takes(self, kind: str) -> bool:
        """Whether the networks can train on data of ``kind`` ("points" or "images")."""
        return kind in self.data_kinds


@dataclass(frozen=True)
class LossSpec(_Spec):
    """An adversarial loss, the ``--loss`` slot of a run.

    ``target`` is called with only the parameters the user gave (``target()`` for a plain
    ``--loss NAME``), so its own keyword defaults must match ``params``. It returns a
    :class:`ganzoo.api.Objective`, or a plugin API 1.0 loss: an object with
    ``d_loss(real_logits, fake_logits)`` and ``g_loss(fake_logits)``, both on raw logits
    ``[N]``, which the loop wraps as the objective with term ``adv``."""

    target: Target = ""
    paper: str = ""
    #: The keyword parameters users may set with ``--loss NAME:key=value,...`` and their
    #: defaults (API 1.4). Each value is converted to its default's type (bool, int, float,
    #: str) and checked before the run folder exists; an unknown key is an error.
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("loss", self.name)


@dataclass(frozen=True)
class RegularizerSpec(_Spec):
    """A term added to the losses that needs the discriminator and the batches (gradient
    penalty, R1, an auxiliary classifier): the ``--reg`` slot, ``Defaults.reg`` and
    ``ModelSpec.terms``.

    ``target`` is called as ``target(weight, key=value, ...)`` with the weight and only the
    parameters the user gave. It returns a :class:`ganzoo.api.Objective`, or a plugin API 1.0
    regularizer: an object with ``d_term(D, real, fake, labels)`` and ``g_term(D, fake,
    labels)`` (either may return None) and optionally ``check(D, num_classes)``, wrapped as
    the objective whose term is named after the regularizer. ``NAME:W@K`` makes any of them
    lazy: run on every K-th update only, its terms scaled by K."""

    target: Target = ""
    paper: str = ""
    #: The weight of ``--reg NAME`` given without ``:WEIGHT``.
    default_weight: float = 1.0
    #: As :attr:`LossSpec.params`, set with ``--reg NAME:WEIGHT,key=value@K`` (API 1.4).
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("regularizer", self.name)


@dataclass(frozen=True)
class DatasetSpec(_Spec):
    """A data set. ``target`` is the loader, called as ``target(arg=..., data_dir=...,
    download=..., seed=..., image_size=...)``; it returns a :class:`ganzoo.data.Data`, or a
    :class:`ganzoo.data.files.ImageFiles` for image sets too big to hold. It must work offline
    unless ``download`` is true, and return the same data for the same seed."""

    target: Target = ""
    #: Where the data comes from (bundled, torchvision, local files), for ``ganzoo list -v``.
    source: str = ""
    #: The sample shape and class count (0: unlabelled), known before loading: ``ganzoo list``
    #: shows them and :attr:`kind` is read from ``shape`` before any data is loaded. None when
    #: they depend on the argument, and then the set counts as images until loaded.
    shape: tuple[int, ...] | None = None
    num_classes: int | None = None
    #: Used as ``name:ARG`` (``folder:PATH``); the loader gets ``ARG`` as ``arg``, and the name
    #: alone is an error.
    takes_argument: bool = False
    #: A translation set (API 1.6): "paired" (each source image with its target) or
    #: "unpaired" (two domains); "" for samples of one distribution.
    pairing: str = ""
    #: The source images' shape, where known before loading (as ``shape`` is the targets').
    source_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        _check_name("dataset", self.name)
        if self.pairing not in ("", "paired", "unpaired"):
            raise ValueError(f"dataset {self.name!r}: pairing must be '', 'paired' or 'unpaired', not {self.pairing!r}")

    @property
    def kind(self) -> str:
        """"pairs" or "domains" for a translation set, "points" for vector data ([D] samples,
        such as the 2-D mixtures), else "images"."""
        if self.pairing:
            return "pairs" if self.pairing == "paired" else "domains"
        return "points" if self.shape is not None and len(self.shape) == 1 else "images"


SPEC_TYPES: dict[str, type[_Spec]] = {
    "model": ModelSpec,
    "loss": LossSpec,
    "regularizer": RegularizerSpec,
    "dataset": DatasetSpec,
}


def with_origin(spec: _Spec, plugin: str, version: str) -> _Spec:
    return dataclasses.replace(spec, plugin=plugin, plugin_version=version)
