"""The objective contract: how a GAN variant states one training step's math.

The shared loop schedules; objectives compute. For every discriminator update and
every generator update the loop builds a :class:`Step` and asks each objective of
the run for its **named loss terms**; it sums them, back-propagates, all-reduces,
steps the optimizers, updates the EMA, logs every term and checkpoints. An
objective never calls ``backward`` or ``optimizer.step``.

A run's objectives are its adversarial loss (``--loss``) followed by its
regularizers (``--reg``). Each slot takes either an :class:`Objective` (plugin API
1.1) or the API 1.0 objects (a loss with ``d_loss``/``g_loss``, a regularizer with
``d_term``/``g_term``), which ganzoo wraps.

D's outputs are computed once per batch and shared by every objective of the step:
``step.d_real`` and ``step.d_fake`` run the discriminator the first time they are
read (augmentation included), so the adversarial loss, an auxiliary classifier and
a penalty that differentiates the real logits all reuse one forward pass. A
discriminator that has more than one head exposes ``heads(x, labels)`` returning
``{"logits": [N], "classes": [N, K], ...}``; ``forward`` returns ``heads(...)["logits"]``.

A generator may take latent codes beside ``z`` (InfoGAN): it lists them in a
``codes`` attribute (a tuple of :class:`Code`) and its ``forward(z, labels=None,
codes=None)`` receives ``{name: tensor}``. The loop draws them from their priors and
hands them to the objectives in ``step.codes``; sampling and ONNX export take them
as inputs.

An image-to-image model (``ModelSpec(task="translate")``, API 1.6) has a generator whose
forward takes the **source image** instead of z (:func:`translate`), and a discriminator
that receives the source as its condition, ``D(image, source)``, where a class-conditional
one receives labels; its logits may be a map ``[N, h, w]`` (one per patch, PatchGAN),
which every loss averages. ``step.source`` holds the batch's source images. A model
with several generators (CycleGAN's A->B and B->A) lists their names in ``directions``;
each is a submodule of that name, and ``forward`` runs the first (:func:`direction`).
Importing this module does not import torch.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch
    from torch import nn

Phase = Literal["d", "g"]


@dataclass(frozen=True)
class Code:
    """A latent code a generator takes beside z, with its prior.

    ``categorical``: int64 values in ``[0, size)``, drawn uniformly.
    ``continuous``: float32 values drawn uniformly from ``[low, high]``."""

    name: str
    kind: Literal["categorical", "continuous"]
    size: int = 0
    low: float = -1.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"code name {self.name!r} must be an identifier such as 'c1'")
        if self.kind == "categorical" and self.size < 2:
            raise ValueError(f"categorical code {self.name!r} needs size >= 2, got {self.size}")
        if self.kind == "continuous" and not (math.isfinite(self.low) and math.isfinite(self.high)
                                               and self.low < self.high):
            raise ValueError(f"continuous code {self.name!r} needs finite low < high")
        if self.kind not in ("categorical", "continuous"):
            raise ValueError(f"code {self.name!r}: kind must be 'categorical' or 'continuous', got {self.kind!r}")

    @property
    def width(self) -> int:
        """Columns the code takes when fed to a network (one-hot for categorical codes)."""
        return self.size if self.kind == "categorical" else 1

    def sample(self, n: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
               ) -> torch.Tensor:
        """``n`` draws from the prior on ``device``; from torch's global RNG (which checkpoints
        save) unless a ``generator`` is given."""
        import torch

        if self.kind == "categorical":
            return torch.randint(self.size, (n,), generator=generator).to(device) if generator is not None \
                else torch.randint(self.size, (n,), device=device)
        u = torch.rand(n, generator=generator).to(device) if generator is not None else torch.rand(n, device=device)
        return u * (self.high - self.low) + self.low

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as written into ONNX metadata (``ganzoo.codes``)."""
        if self.kind == "categorical":
            return {"name": self.name, "kind": self.kind, "size": self.size}
        return {"name": self.name, "kind": self.kind, "low": self.low, "high": self.high}


def codes_of(G: Any) -> tuple[Code, ...]:
    """The latent codes a generator takes beside z; () for most generators."""
    return tuple(getattr(G, "codes", None) or ())


def sample_codes(G: Any, n: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
                 ) -> dict[str, torch.Tensor]:
    """``n`` draws of each of G's codes from its prior; {} for a generator without codes."""
    return {c.name: c.sample(n, device, generator) for c in codes_of(G)}


def truncates_w(G: Any) -> bool:
    """True for a generator that truncates in its own latent space (StyleGAN's average w):
    it declares ``truncation = "w"`` and its forward takes ``truncation=psi``. Every other
    generator is truncated by drawing z from a truncated normal instead."""
    return getattr(G, "truncation", None) == "w"


def generate(G: Any, z: torch.Tensor, labels: torch.Tensor | None = None,
             codes: dict[str, torch.Tensor] | None = None, truncation: float | torch.Tensor | None = None
             ) -> torch.Tensor:
    """Call G as the contract says: ``codes=`` only for a generator that has codes and
    ``truncation=`` only for one that truncates w itself, so generators written before
    either existed keep their two-argument forward."""
    kwargs: dict[str, Any] = {}
    if codes:
        kwargs["codes"] = codes
    if truncation is not None and truncates_w(G):
        kwargs["truncation"] = truncation
    return G(z, labels, **kwargs)


def translate(G: Any, source: torch.Tensor) -> torch.Tensor:
    """Call an image-to-image generator: ``G(source)``, ``[N, C, H, W]`` -> ``[N, C', sH, sW]``
    with ``s = G.scale`` (1 but for super-resolution)."""
    return G(source)


def directions(G: Any) -> tuple[str, ...]:
    """The names of an image-to-image model's generators (``("a2b", "b2a")`` for CycleGAN);
    () for a model with one, which is the generator itself."""
    return tuple(getattr(G, "directions", None) or ())


def direction(G: Any, name: str | None) -> Any:
    """The generator of ``name`` (its submodule), or G itself for None or a model with one
    generator; a name G does not have raises ``KeyError`` listing the ones it has."""
    names = directions(G)
    if name is None or (not names and name == ""):
        return G
    if name not in names:
        raise KeyError(f"no direction {name!r}; this model has {', '.join(names) or 'one generator and no directions'}")
    return getattr(G, name)


class Outputs(dict[str, Any]):
    """D's outputs on one batch: ``{"logits": [N], ...extra heads}``; ``.logits`` for short."""

    @property
    def logits(self) -> torch.Tensor:
        return self["logits"]


@dataclass
class Setup:
    """What an objective may look at once, before training starts (see :meth:`Objective.setup`)."""

    G: nn.Module
    D: nn.Module
    num_classes: int
    options: dict[str, Any]  # the model's options (``--set``), as its factories received them
    device: torch.device
    data_shape: tuple[int, ...]
    n_critic: int
    steps: int
    #: "images", "points", "pairs" or "domains" (API 1.6): what the data set holds, so a term
    #: that needs paired targets (pix2pix's L1) can refuse two unpaired domains.
    data_kind: str = "images"
    #: The source images' shape for an image-to-image model, else None (API 1.6).
    source_shape: tuple[int, ...] | None = None
    #: The run's adversarial loss (``--loss``) as an objective, for a term that judges a second
    #: pair of networks with it (CycleGAN's way back); ``--pool``'s size (API 1.6).
    adversarial: Objective | None = None
    pool: int = 0


@dataclass
class Step:
    """One update's context, built by the loop for every objective.

    ``phase`` is ``"d"`` (discriminator update: ``fake`` is detached) or ``"g"``
    (generator update: ``fake`` carries G's graph, D's parameters are frozen).
    ``step`` counts generator updates done before this one; ``d_step`` counts
    discriminator updates (``step * n_critic + critic_step`` in phase "d"; in phase
    "g", the last one). ``real`` requires grad when an objective of the step has
    ``needs_real_grad`` (R1 on ``d_real.logits``); in phase "d", ``fake`` requires grad
    when one has ``needs_fake_grad`` (R2 on ``d_fake.logits``). For an image-to-image model
    (API 1.6) ``source`` is the batch's source images, ``fake`` their translations, ``real``
    the targets (paired sets: ``real[i]`` is ``source[i]``'s; two domains: an independent
    batch of the target domain), ``z`` has no columns and D is run as ``D(x, source)``."""

    phase: Phase
    step: int
    d_step: int
    G: nn.Module
    D: nn.Module
    real: torch.Tensor
    labels: torch.Tensor | None
    z: torch.Tensor
    codes: dict[str, torch.Tensor]
    fake: torch.Tensor
    num_classes: int
    discriminate: Callable[[torch.Tensor, torch.Tensor | None], Outputs] = field(repr=False)
    _cache: dict[str, Outputs] = field(default_factory=dict, repr=False)
    #: Values objectives report with :meth:`log`: logged as ``stat/NAME``, never optimised.
    logged: dict[str, torch.Tensor | float] = field(default_factory=dict, repr=False)
    source: torch.Tensor | None = None

    @property
    def condition(self) -> torch.Tensor | None:
        """What D is given beside an image: the source for an image-to-image model, else the labels."""
        return self.source if self.source is not None else self.labels

    def log(self, name: str, value: torch.Tensor | float) -> None:
        """Report a value that is watched, not minimised (BEGAN's convergence measure, ADA's
        augmentation probability): logged as ``stat/NAME`` beside the loss terms, averaged
        over the log interval. Returning it as a term would add it to the loss."""
        self.logged[name] = value

    @property
    def d_real(self) -> Outputs:
        """D's outputs on the real batch, computed on first use and shared by all objectives."""
        if "real" not in self._cache:
            self._cache["real"] = self.discriminate(self.real, self.condition)
        return self._cache["real"]

    @property
    def d_fake(self) -> Outputs:
        """D's outputs on the generated batch, computed on first use and shared."""
        if "fake" not in self._cache:
            self._cache["fake"] = self.discriminate(self.fake, self.condition)
        return self._cache["fake"]

    def computed(self, which: str) -> Outputs | None:
        """``d_real``/``d_fake`` if some objective already asked for them, else None (for logging)."""
        return self._cache.get(which)


class Objective(ABC):
    """The contract of an objective: subclass it (the loop checks ``isinstance``) and define
    :meth:`d_terms` and :meth:`g_terms` — what the objective adds to each network's loss,
    ``{}`` where it adds nothing, so a reader sees both phases. The rest has defaults.

    - :meth:`d_terms` / :meth:`g_terms` return ``{name: scalar tensor}``; the loop sums
      every objective's terms into that network's loss and logs each as ``d/name`` or
      ``g/name``. Apply your weight inside; return ``{}`` when there is nothing to add.
    - :meth:`setup` runs once before training: check G, D and the labels (raise
      :class:`ganzoo.GanzooError` with the fix) and build extra networks.
    - ``d_modules`` / ``g_modules``: extra trainable networks (a Q head), optimised with
      D's or G's optimiser, moved to the device, saved in checkpoints and frozen during
      the other network's update.
    - :meth:`state_dict` / :meth:`load_state_dict`: state that is not a module (an
      equilibrium constant, an augmentation probability); tensors, numbers, strings.
      Saved with every checkpoint and restored on ``--resume``.
    - ``needs_real_grad``: the real batch requires grad before D sees it, so a penalty
      can differentiate ``step.d_real.logits`` with respect to ``step.real``.
    - ``needs_fake_grad`` (API 1.4): likewise for the generated batch of D's update, so a
      penalty on it (R2) reuses ``step.d_fake`` instead of running D again.
    - :meth:`Step.log` (API 1.4): report a value that is watched but not optimised.
    - ``double_backward``: the objective differentiates a gradient (R1, gradient
      penalty); ``--compile`` then leaves D uncompiled, since compiled graphs do not
      support double backward.
    """

    needs_real_grad: bool = False
    needs_fake_grad: bool = False
    double_backward: bool = False

    def __init__(self) -> None:
        self.d_modules: dict[str, nn.Module] = {}
        self.g_modules: dict[str, nn.Module] = {}

    def setup(self, run: Setup) -> None:
        """Check the networks and build extra modules; called once before the optimizers exist."""
        return None

    @abstractmethod
    def d_terms(self, step: Step) -> dict[str, torch.Tensor]:
        """Terms added to D's loss (minimised by D and by ``d_modules``); {} for none."""

    @abstractmethod
    def g_terms(self, step: Step) -> dict[str, torch.Tensor]:
        """Terms added to G's loss (minimised by G and by ``g_modules``); {} for none."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        return None


__all__ = ["Code", "Objective", "Outputs", "Phase", "Setup", "Step", "codes_of", "direction", "directions",
           "generate", "sample_codes", "translate", "truncates_w"]
