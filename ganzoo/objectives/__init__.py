"""A run's objectives: its ``--loss`` and ``--reg`` entries, as the loop calls them.

Each slot takes an :class:`ganzoo.api.Objective`, or a plugin API 1.0 object that is
wrapped here: a loss with ``d_loss(real_logits, fake_logits)`` / ``g_loss(fake_logits)``
becomes :class:`LossObjective` (term ``adv``), a regularizer with ``d_term`` / ``g_term``
becomes :class:`RegularizerObjective` (term named after the regularizer). The built-in
adversarial losses are such 1.0 losses, so that path is exercised by every default run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ganzoo.api import Objective, Phase, Setup, Step
from ganzoo.errors import GanzooError
from ganzoo.specs import load_target


class LossObjective(Objective):
    """A plugin API 1.0 adversarial loss as an objective: D minimises ``d_loss`` on the
    logits of the real and the generated batch, G minimises ``g_loss`` on the latter."""

    def __init__(self, loss: Any) -> None:
        super().__init__()
        self.loss = loss

    def d_terms(self, step: Step) -> dict[str, Tensor]:
        return {"adv": self.loss.d_loss(step.d_real.logits, step.d_fake.logits)}

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        return {"adv": self.loss.g_loss(step.d_fake.logits)}


class RegularizerObjective(Objective):
    """A plugin API 1.0 regularizer: ``d_term(D, real, fake, labels)`` and
    ``g_term(D, fake, labels)``, each a scalar or None. It may differentiate D's
    gradient, so ``--compile`` leaves D eager with it."""

    double_backward = True

    def __init__(self, reg: Any, name: str) -> None:
        super().__init__()
        self.reg, self.name = reg, name

    def setup(self, run: Setup) -> None:
        check = getattr(self.reg, "check", None)  # optional: documented regularizers need not have it
        if callable(check):
            check(run.D, run.num_classes)

    def d_terms(self, step: Step) -> dict[str, Tensor]:
        d_term = getattr(self.reg, "d_term", None)
        term = d_term(step.D, step.real, step.fake, step.labels) if callable(d_term) else None
        return {} if term is None else {self.name: term}

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        g_term = getattr(self.reg, "g_term", None)
        term = g_term(step.D, step.fake, step.labels) if callable(g_term) else None
        return {} if term is None else {self.name: term}


@dataclass
class Part:
    """One objective of a run: ``every`` > 1 makes it lazy (Karras et al. 2020): it runs on
    every ``every``-th update only, its terms scaled by ``every`` so the average is kept."""

    objective: Any
    label: str  # what the user typed: "nonsaturating", "r1:10@16"
    every: int = 1

    def due(self, index: int) -> bool:
        return index % self.every == 0

    @property
    def needs_real_grad(self) -> bool:
        return bool(getattr(self.objective, "needs_real_grad", False))

    @property
    def double_backward(self) -> bool:
        return bool(getattr(self.objective, "double_backward", False))

    def modules(self, phase: Phase) -> dict[str, nn.Module]:
        return dict(getattr(self.objective, f"{phase}_modules", None) or {})


def _is_objective(obj: Any) -> bool:
    return callable(getattr(obj, "d_terms", None)) or callable(getattr(obj, "g_terms", None))


def _made(spec: Any, kind: str, obj: Any, legacy: tuple[str, ...]) -> None:
    if _is_objective(obj) or any(callable(getattr(obj, m, None)) for m in legacy):
        return
    raise GanzooError(
        f"{kind} '{spec.qualified_name}': its target '{spec.target}' returned a {type(obj).__name__}, which has "
        f"neither d_terms/g_terms (a ganzoo.api.Objective) nor {'/'.join(legacy)}; "
        "see 'Write a new GAN objective' in docs/plugins.md")


def _call(spec: Any, kind: str, *args: Any) -> Any:
    target = load_target(spec, kind)
    try:
        return target(*args)
    except TypeError as exc:
        want = "target(weight)" if kind == "regularizer" else "target()"
        raise GanzooError(f"{kind} '{spec.qualified_name}' (plugin '{spec.plugin}'): calling its target failed "
                          f"({exc}); ganzoo calls it as {want}") from None


def build_parts(cfg: Any, registry: Any) -> list[Part]:
    """The run's objectives in order: the adversarial loss, then each ``--reg``."""
    from ganzoo.engine.config import parse_reg

    spec = registry.loss(cfg.loss)
    loss = _call(spec, "loss")
    _made(spec, "loss", loss, ("d_loss", "g_loss"))
    parts = [Part(loss if _is_objective(loss) else LossObjective(loss), cfg.loss)]
    for item in cfg.reg:
        reg = parse_reg(item, registry)
        obj = _call(reg.spec, "regularizer", reg.weight)
        _made(reg.spec, "regularizer", obj, ("d_term", "g_term"))
        parts.append(Part(obj if _is_objective(obj) else RegularizerObjective(obj, reg.spec.name), item, reg.every))
    return parts


def collect_terms(parts: list[Part], phase: Phase, step: Step, index: int) -> tuple[dict[str, Tensor], dict[str, int]]:
    """Every due objective's terms for one update, in order, and the scale of each in the
    loss (a lazy part's interval; terms are logged unscaled). Two objectives returning the
    same term name is a configuration error."""
    terms: dict[str, Tensor] = {}
    scales: dict[str, int] = {}
    owner: dict[str, str] = {}
    for part in parts:
        if not part.due(index):
            continue
        method = getattr(part.objective, f"{phase}_terms", None)
        found = method(step) if callable(method) else {}
        for name, value in (found or {}).items():
            if name in terms:
                raise GanzooError(f"objectives '{owner[name]}' and '{part.label}' both add a term '{name}' "
                                  f"to {'D' if phase == 'd' else 'G'}'s loss; use each only once")
            if not isinstance(value, Tensor) or value.numel() != 1:
                raise GanzooError(f"objective '{part.label}' returned {type(value).__name__} for term '{name}'; "
                                  "each term must be a scalar tensor")
            terms[name], scales[name], owner[name] = value, part.every, part.label
    return terms, scales


def total(terms: dict[str, Tensor], scales: dict[str, int], device: torch.device) -> Tensor:
    """The loss: the terms summed in order (``a + b + c``, so the float result is reproducible)."""
    values = [value * scales[name] if scales[name] != 1 else value for name, value in terms.items()]
    if not values:
        return torch.zeros((), device=device)
    out = values[0]
    for value in values[1:]:
        out = out + value
    return out
