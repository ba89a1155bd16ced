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

from torch import Tensor, nn

from ganzoo.api import Objective, Phase, Setup, Step
from ganzoo.errors import GanzooError
from ganzoo.registry import strict_plugins
from ganzoo.specs import describe, load_target
from ganzoo.terms import parse_loss, parse_reg


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
        term = d_term(step.D, step.real, step.fake, step.condition) if callable(d_term) else None
        return {} if term is None else {self.name: term}

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        g_term = getattr(self.reg, "g_term", None)
        term = g_term(step.D, step.fake, step.condition) if callable(g_term) else None
        return {} if term is None else {self.name: term}


@dataclass
class Part:
    """One objective of a run, and who it came from. ``every`` > 1 makes it lazy (Karras et
    al. 2020): it runs on every ``every``-th update only, its terms scaled by ``every`` so
    the average is kept. Every call into the objective goes through :meth:`call`, so a
    plugin's mistake is one line naming the plugin, never a traceback from inside the loop."""

    objective: Objective
    label: str  # the entry as the configuration holds it: "nonsaturating", "r1:10@16"
    every: int = 1
    origin: str = ""  # "loss 'ganzoo:ragan' (plugin 'ganzoo')"
    #: Where the entry came from, for errors that must say who to blame and what to change: the
    #: slot ("--loss", "--reg", "default loss", "defaults" — the model's default regularizers —
    #: "own", or "" when unknown) and its words ("the defaults of model 'vanilla' for 2-D points").
    slot: str = ""
    source: str = ""

    def due(self, index: int) -> bool:
        return index % self.every == 0

    @property
    def needs_real_grad(self) -> bool:
        return bool(self.objective.needs_real_grad)

    @property
    def needs_fake_grad(self) -> bool:
        return bool(getattr(self.objective, "needs_fake_grad", False))

    @property
    def double_backward(self) -> bool:
        return bool(self.objective.double_backward)

    def modules(self, phase: Phase) -> dict[str, nn.Module]:
        return dict((self.objective.d_modules if phase == "d" else self.objective.g_modules) or {})

    def call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.objective, method)(*args)
        except GanzooError:
            raise
        except Exception as exc:
            if strict_plugins():
                raise
            raise GanzooError(f"{self.origin or self.label}: {method}() raised {describe(exc)}; fix the objective "
                              "(GANZOO_STRICT_PLUGINS=1 shows the traceback)") from None

    def terms(self, phase: Phase, step: Step) -> dict[str, Tensor]:
        found = self.call(f"{phase}_terms", step)
        if not isinstance(found, dict):
            raise GanzooError(f"{self.origin or self.label}: {phase}_terms() returned {type(found).__name__}; "
                              "return a dict {name: scalar tensor} ({} when there is nothing to add)")
        return found


def _made(spec: Any, kind: str, obj: Any, legacy: tuple[str, ...]) -> None:
    """An objective, or a plugin API 1.0 object with the methods its kind needs."""
    if isinstance(obj, Objective):
        return
    needed = all if kind == "loss" else any
    if needed(callable(getattr(obj, m, None)) for m in legacy):
        return
    raise GanzooError(
        f"{kind} '{spec.qualified_name}' (plugin '{spec.plugin}'): its target returned a {type(obj).__name__}, "
        f"which is neither a ganzoo.api.Objective nor a plugin API 1.0 {kind} with {' and '.join(legacy)}; "
        "see 'Write a new GAN objective' in docs/plugins.md")


def _call(spec: Any, kind: str, *args: Any, **params: Any) -> Any:
    target = load_target(spec, kind)
    try:
        return target(*args, **params)
    except GanzooError:
        raise
    except Exception as exc:
        if strict_plugins():
            raise
        want = "target(weight" if kind == "regularizer" else "target("
        want += (", " if kind == "regularizer" and params else "") + ", ".join(f"{k}=..." for k in params) + ")"
        raise GanzooError(f"{kind} '{spec.qualified_name}' (plugin '{spec.plugin}'): {want} raised "
                          f"{describe(exc)}; ganzoo calls it as {want}") from None


def _origin(spec: Any, kind: str) -> str:
    return f"{kind} '{spec.qualified_name}' (plugin '{spec.plugin}')"


Source = tuple[str, str]  # (Part.slot, Part.source)


def _sources(cfg: Any, registry: Any) -> tuple[Source, list[Source], Source]:
    """Where the run's loss, own terms and ``--reg`` entries came from: a value equal to the
    model's default is named as the model's, since nobody typed it. Unknown when the model is
    not registered (objectives built by hand)."""
    try:
        spec = registry.model(cfg.model)
        kind = registry.dataset(cfg.dataset)[0].kind
    except GanzooError:
        return ("", ""), [("", "") for _ in cfg.terms], ("", "")

    def same(given: list[str], default: tuple[str, ...] | list[str]) -> bool:
        # the configuration qualifies a default as plugin:name when another plugin shares the name
        return len(given) == len(default) and all(g in (d, f"{spec.plugin}:{d}") for g, d in zip(given, default))

    model = f"model '{cfg.model}'"
    loss = ("default loss", f"the default loss of {model}") if same([cfg.loss], [spec.loss]) else ("--loss", "--loss")
    terms = [("own", f"the own terms of {model}" if any(same([t], [d]) for d in spec.terms) else
              f"the own terms of {model}, reweighted by --reg") for t in cfg.terms]
    on = " for 2-D points" if kind == "points" and spec.point_defaults is not None else ""
    reg = ("defaults", f"the defaults of {model}{on}") if same(list(cfg.reg), spec.defaults_for(kind).reg) \
        else ("--reg", "--reg")
    return loss, terms, reg


def build_parts(cfg: Any, registry: Any) -> list[Part]:
    """The run's objectives in order: the adversarial loss, the model's own terms (such as
    ACGAN's class loss), then each ``--reg``."""
    spec, params = parse_loss(cfg.loss, registry)
    loss = _call(spec, "loss", **params)
    _made(spec, "loss", loss, ("d_loss", "g_loss"))
    loss_source, term_sources, reg_source = _sources(cfg, registry)
    parts = [Part(loss if isinstance(loss, Objective) else LossObjective(loss), cfg.loss, 1, _origin(spec, "loss"),
                  *loss_source)]
    for item, source in [*zip(cfg.terms, term_sources), *((r, reg_source) for r in cfg.reg)]:
        reg = parse_reg(item, registry)
        obj = _call(reg.spec, "regularizer", reg.weight, **reg.params)
        _made(reg.spec, "regularizer", obj, ("d_term", "g_term"))
        wrapped = obj if isinstance(obj, Objective) else RegularizerObjective(obj, reg.spec.name)
        parts.append(Part(wrapped, item, reg.every, _origin(reg.spec, "regularizer"), *source))
    return parts


def _clash(first: Part, second: Part, name: str, phase: Phase) -> str:
    """Two objectives add one term: name each with where it came from, and the change that
    removes the clash among what the user controls (a model's default regularizers and
    ``--reg`` entries can go; a model's own terms cannot)."""
    def shown(part: Part) -> str:
        return f"'{part.label}' ({part.source})" if part.source else f"'{part.label}'"

    by = {part.slot: part for part in (first, second)}
    if "defaults" in by:
        fix = "drop the model's default regularizers with --reg none (any --reg replaces them)"
    elif "--reg" in by and len(by) == 1:
        fix = f"give only one of '{first.label}' and '{second.label}' with --reg"
    elif "--reg" in by:
        fix = f"drop '{by['--reg'].label}' from --reg"
    elif "--loss" in by:
        fix = "choose another --loss"
    else:
        fix = "use each only once"
    return (f"objectives {shown(first)} and {shown(second)} both add a term '{name}' to "
            f"{'D' if phase == 'd' else 'G'}'s loss; {fix}, or rename the term in the plugin's objective")


def collect_terms(parts: list[Part], phase: Phase, step: Step, index: int) -> tuple[dict[str, Tensor], dict[str, int]]:
    """Every due objective's terms for one update, in order, and the scale of each in the
    loss (a lazy part's interval; terms are logged unscaled). Two objectives returning the
    same term name is a configuration error."""
    terms: dict[str, Tensor] = {}
    scales: dict[str, int] = {}
    owner: dict[str, Part] = {}
    for part in parts:
        if not part.due(index):
            continue
        for name, value in part.terms(phase, step).items():
            if name in terms:
                raise GanzooError(_clash(owner[name], part, name, phase))
            if not isinstance(value, Tensor) or value.numel() != 1:
                got = list(value.shape) if isinstance(value, Tensor) else type(value).__name__
                raise GanzooError(f"{part.origin or part.label}: term '{name}' is {got}, not a scalar tensor; "
                                  "reduce it, e.g. with .mean()")
            terms[name], scales[name], owner[name] = value, part.every, part
    return terms, scales


def total(terms: dict[str, Tensor], scales: dict[str, int]) -> Tensor | None:
    """The loss: the terms summed in order (``a + b + c``, so the float result is
    reproducible); None when no objective added anything (the update is skipped)."""
    values = [value * scales[name] if scales[name] != 1 else value for name, value in terms.items()]
    if not values:
        return None
    out = values[0]
    for value in values[1:]:
        out = out + value
    return out


def check_state(part: Part, state: Any, where: str = "state_dict()") -> None:
    """Objective state goes into ``state.pt``, which is loaded with ``weights_only=True``:
    refuse what that cannot load back, naming the objective, before it makes a run unresumable."""
    if isinstance(state, (Tensor, int, float, bool, str, type(None))):
        return
    if isinstance(state, (list, tuple)):
        for item in state:
            check_state(part, item, where)
        return
    if isinstance(state, dict) and all(isinstance(k, (str, int)) for k in state):
        for value in state.values():
            check_state(part, value, where)
        return
    raise GanzooError(f"{part.origin or part.label}: {where} holds a {type(state).__name__}, which a checkpoint "
                      "cannot restore safely; keep tensors, numbers, strings and lists or dicts of them")
