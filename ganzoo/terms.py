"""The ``--loss`` and ``--reg`` grammar: ``NAME[:KEY=VALUE,...]`` and
``NAME[:WEIGHT][,KEY=VALUE...][@EVERY]`` read against the registry.

Torch-free and beside the registry rather than in the engine, because the objectives, the
conformance kit and the configuration all read these texts, and none of them should have
to import the training engine to do it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ganzoo.errors import GanzooError
from ganzoo.registry import Registry, get_registry


class RegItem(NamedTuple):
    """One ``--reg`` entry: ``NAME[:WEIGHT][,KEY=VALUE...][@EVERY]``."""

    spec: Any
    weight: float
    every: int = 1
    params: dict[str, Any] = {}


class LossItem(NamedTuple):
    """One ``--loss`` entry: ``NAME[:KEY=VALUE,...]``."""

    spec: Any
    params: dict[str, Any]


def parse_reg(item: str, registry: Registry | None = None) -> RegItem:
    """``gp:10`` → (the gp spec, 10.0, 1); ``r1:10@16`` → lazy R1 every 16th D update;
    ``r1`` → its default weight; ``NAME:W,key=value`` also sets the regularizer's own
    parameters (its spec's ``params``). ``plugin:name`` ids work too."""
    registry = registry or get_registry()
    text, at, every_text = item.partition("@")
    every = 1
    if at:
        try:
            every = int(every_text)
        except ValueError:
            every = 0
        if every < 1:
            raise GanzooError(f"--reg {item}: the interval after '@' must be a positive integer, like r1:10@16")
    name, sep, args = text.rpartition(":") if ":" in text else (text, "", "")
    try:
        spec = registry.regularizer(name)
    except GanzooError as unknown:
        try:
            spec = registry.regularizer(text)  # a qualified id such as plugin:name
        except GanzooError:
            raise unknown from None  # the error about the name, not about 'name:weight'
        return RegItem(spec, spec.default_weight, every, {})
    parts = [a.strip() for a in args.split(",")] if sep else []
    weight = parts.pop(0) if parts and "=" not in parts[0] else ""
    params = parse_params(f"--reg {item}", spec, parts)
    if not weight:
        return RegItem(spec, spec.default_weight, every, params)
    try:
        value = float(weight)
    except ValueError:
        raise GanzooError(f"--reg {item}: the weight after ':' must be a number, like gp:10") from None
    if not value >= 0 or value == float("inf"):
        raise GanzooError(f"--reg {item}: the weight must be a finite number >= 0")
    return RegItem(spec, value, every, params)


def parse_loss(item: str, registry: Registry | None = None) -> LossItem:
    """``hinge`` → (the hinge spec, {}); ``lsgan:a=-1,b=1,c=0`` → the lsgan spec and those
    parameters, checked against the spec's ``params``. ``plugin:name`` ids work too: the
    text after the last ':' is read as parameters only when it holds an '='."""
    registry = registry or get_registry()
    name, sep, args = item.rpartition(":")
    if not sep or "=" not in args:
        return LossItem(registry.loss(item), {})
    spec = registry.loss(name)
    return LossItem(spec, parse_params(f"--loss {item}", spec, [a.strip() for a in args.split(",")]))


_PARAM_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a word"}


def parse_params(flag: str, spec: Any, pairs: list[str]) -> dict[str, Any]:
    """``key=value`` texts → values of the types of the spec's ``params`` defaults."""
    known: dict[str, Any] = dict(getattr(spec, "params", None) or {})
    out: dict[str, Any] = {}
    for pair in pairs:
        key, eq, text = (s.strip() for s in pair.partition("="))
        if not eq or not key:
            raise GanzooError(f"{flag}: '{pair}' is not key=value; write e.g. {spec.name}:"
                              f"{next(iter(known), 'key')}=VALUE")
        if key not in known:
            offered = ", ".join(f"{k}={v}" for k, v in known.items()) or "none"
            raise GanzooError(f"{flag}: {spec.name} has no parameter '{key}' (its parameters: {offered})")
        if key in out:
            raise GanzooError(f"{flag}: '{key}' is given twice; give it once")
        out[key] = _convert(flag, key, known[key], text)
    return out


def _convert(flag: str, key: str, default: Any, text: str) -> Any:
    kind = type(default)
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        value = kind(text)
    except ValueError:
        raise GanzooError(f"{flag}: '{key}' takes {_PARAM_WORDS.get(kind, kind.__name__)} "
                          f"(default {default}), got '{text}'") from None
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        raise GanzooError(f"{flag}: '{key}' must be finite, got '{text}'")
    return value
