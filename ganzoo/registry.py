"""The plugin manager: finds every model, loss, regularizer and data set.

Built-in plugins and installed ``ganzoo`` entry points go through the same hooks.
Pluggy's own entry-point loader stops at the first broken plugin, so ganzoo loads
them itself: each plugin is imported, registered and asked for its entries on its
own, and its entries are kept only if every one of its hooks finished. A broken
plugin becomes a :class:`PluginFailure` that ``ganzoo plugins`` shows.

Environment:
  GANZOO_PLUGINS          comma-separated allowlist of third-party plugins ("" loads none)
  GANZOO_DISABLE_PLUGINS  comma-separated blocklist
  GANZOO_STRICT_PLUGINS=1 re-raise the first plugin failure instead of recording it
"""

from __future__ import annotations

import builtins
import difflib
import fnmatch
import importlib
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

from ganzoo import hookspecs
from ganzoo.errors import GanzooError
from ganzoo.specs import SPEC_TYPES, DatasetSpec, LossSpec, ModelSpec, RegularizerSpec, with_origin

#: Modules of the built-in plugin, registered exactly like a third party's.
BUILTIN_MODULES = (
    "ganzoo.builtin.losses",
    "ganzoo.builtin.regularizers",
    "ganzoo.builtin.datasets",
    "ganzoo.builtin.models",
)
BUILTIN_PLUGIN = "ganzoo"
ENTRY_POINT_GROUP = "ganzoo"
KINDS = ("model", "loss", "regularizer", "dataset")
_HOOK_FOR_KIND = {
    "model": "ganzoo_register_models",
    "loss": "ganzoo_register_losses",
    "regularizer": "ganzoo_register_regularizers",
    "dataset": "ganzoo_register_datasets",
}
_PLURAL = {"model": "models", "loss": "losses", "regularizer": "regularizers", "dataset": "datasets"}


@dataclass
class PluginInfo:
    name: str
    distribution: str
    version: str
    modules: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    entries: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class PluginFailure:
    plugin: str
    distribution: str
    phase: str
    error: str

    def line(self) -> str:
        return (
            f"warning: plugin '{self.plugin}' ({self.distribution}) was skipped: "
            f"{self.phase} failed with {self.error}. See: ganzoo plugins"
        )


@dataclass
class NameCollision:
    """A short name that ``plugin`` registers and another plugin registers too.

    The short name stops resolving (it is an error naming both plugins), so users
    must type a qualified id; ``ganzoo plugins`` lists these so nobody finds out on use.
    """

    plugin: str
    kind: str
    name: str
    #: Every qualified id that shares the name, the built-in's first: what users can type instead.
    ids: list[str]
    #: True when one of the others is a built-in (``hinge``, ``dcgan``, ...).
    shadows_builtin: bool

    def line(self) -> str:
        other = "a built-in" if self.shadows_builtin else "another plugin"
        return (f"{self.plugin}: {self.kind} '{self.name}' is also registered by {other}, so '{self.name}' alone "
                f"is an error; use {' or '.join(self.ids)}")


def _env_list(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def strict_plugins() -> bool:
    """GANZOO_STRICT_PLUGINS=1: a plugin's mistake raises with its traceback instead of one line."""
    return os.environ.get("GANZOO_STRICT_PLUGINS", "") not in ("", "0")


class Registry:
    """Everything the installed plugins registered, with lookup by name."""

    def __init__(self, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager("ganzoo")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self.failures: list[PluginFailure] = []
        self.disabled: list[str] = []
        self._entries: dict[str, list[Any]] = {kind: [] for kind in KINDS}
        self._strict = strict_plugins()
        builtin = PluginInfo(BUILTIN_PLUGIN, "ganzoo", _own_version())
        self.plugins.append(builtin)
        for module_name in BUILTIN_MODULES:
            self._add(importlib.import_module(module_name), module_name, builtin)
        if load_entry_points:
            self._load_entry_points()

    # -- loading -----------------------------------------------------------------
    def _load_entry_points(self) -> None:
        allow = _env_list("GANZOO_PLUGINS")
        block = _env_list("GANZOO_DISABLE_PLUGINS") or set()
        seen: set[str] = set()
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            dist_name = dist.name if dist is not None else "?"
            version = dist.version if dist is not None else "?"
            if ep.name in seen:
                continue
            seen.add(ep.name)
            if ep.name == BUILTIN_PLUGIN:
                self._fail(ep.name, dist_name, "registration", "the plugin name 'ganzoo' is reserved for built-ins")
                continue
            if (allow is not None and ep.name not in allow) or ep.name in block:
                self.disabled.append(ep.name)
                continue
            try:
                module = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a broken plugin must not break ganzoo, not even with sys.exit()
                self._fail(ep.name, dist_name, "import", exc)
                continue
            self._add(module, ep.name, PluginInfo(ep.name, dist_name, version))

    def add_plugin(self, module: ModuleType, name: str | None = None, version: str = "0") -> None:
        """Register a plugin module that is not installed (notebooks, tests), through the same path."""
        name = name or module.__name__
        self._add(module, name, PluginInfo(name, "(not installed)", version))

    def _fail(self, plugin: str, dist: str, phase: str, exc: BaseException | str) -> None:
        """Record a plugin failure; ``exc`` may be any BaseException but KeyboardInterrupt,
        because a plugin calling ``sys.exit()`` must not end ganzoo (not even ``--help``) unnamed."""
        if self._strict and isinstance(exc, Exception):
            raise exc
        error = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        if isinstance(exc, SystemExit):
            error = f"{error} (the plugin called sys.exit(); a plugin must raise an exception instead)"
        error = " ".join(str(error).split())
        self.failures.append(PluginFailure(plugin, dist, phase, error))
        if self._strict:
            raise GanzooError(f"plugin '{plugin}' ({dist}) failed during {phase}: {error}")

    def _add(self, module: ModuleType, pm_name: str, info: PluginInfo) -> None:
        """Register one plugin module and commit its entries only if all its hooks succeed."""
        try:
            self.pm.register(module, name=pm_name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            self._fail(info.name, info.distribution, "registration", exc)
            return
        unknown = self._unknown_hooks(module)
        if unknown:
            self.pm.unregister(module)
            known = [name for name in dir(hookspecs) if name.startswith("ganzoo_")]
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, known, n=1)
                hints.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
            self._fail(info.name, info.distribution, "registration", f"unknown hook {', '.join(hints)}")
            return
        staged: dict[str, list[Any]] = {kind: [] for kind in KINDS}
        hooks_called = []
        for kind, hook_name in _HOOK_FOR_KIND.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is not module:
                    continue
                hooks_called.append(hook_name)
                register = _Collector(kind, staged[kind], info)
                try:
                    impl.function(*[{"register": register}[arg] for arg in impl.argnames])
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:
                    self.pm.unregister(module)
                    self._fail(info.name, info.distribution, hook_name, exc)
                    return
        if any(i.plugin is module for i in self.pm.hook.ganzoo_register_commands.get_hookimpls()):
            hooks_called.append("ganzoo_register_commands")
        for kind, specs in staged.items():
            self._entries[kind].extend(specs)
            if specs:
                info.entries.setdefault(_PLURAL[kind], []).extend(s.name for s in specs)
        info.modules.append(getattr(module, "__name__", pm_name))
        info.hooks.extend(h for h in hooks_called if h not in info.hooks)
        if info not in self.plugins:
            self.plugins.append(info)

    def _unknown_hooks(self, module: ModuleType) -> list[str]:
        names = []
        for caller in self.pm.get_hookcallers(module) or []:
            if caller.spec is None:
                names.append(caller.name)
        return names

    def add_commands(self, cli: Any) -> None:
        """Let each plugin add click commands; a plugin that raises is recorded, not fatal."""
        for impl in self.pm.hook.ganzoo_register_commands.get_hookimpls():
            info = self._info_for(impl.plugin_name)
            before = dict(cli.commands)
            try:
                impl.function(*[{"cli": cli}[arg] for arg in impl.argnames])
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                cli.commands.clear()
                cli.commands.update(before)
                self._fail(info.name, info.distribution, "ganzoo_register_commands", exc)

    def _info_for(self, pm_name: str) -> PluginInfo:
        if pm_name in BUILTIN_MODULES:
            return self.plugins[0]
        return next((p for p in self.plugins if p.name == pm_name), PluginInfo(pm_name, "?", "?"))

    # -- lookup ------------------------------------------------------------------
    def list(self, kind: str, pattern: str = "*") -> list[Any]:
        """Entries of one kind whose short or qualified name matches a shell-style pattern."""
        specs = self._entries[_kind(kind)]
        out = [s for s in specs
               if fnmatch.fnmatchcase(s.name, pattern) or fnmatch.fnmatchcase(s.qualified_name, pattern)]
        return sorted(out, key=lambda s: (s.name, s.plugin != BUILTIN_PLUGIN, s.plugin))

    def collisions(self) -> builtins.list[NameCollision]:  # `list` here is the method above
        """Every third-party entry whose short name another plugin (a built-in or not) also has.

        One record per colliding plugin and entry, sorted by plugin, kind and name; the
        built-in plugin itself never appears as ``plugin`` (it is the one being shadowed).
        """
        out = []
        for kind in KINDS:
            by_name: dict[str, list[Any]] = {}
            for spec in self._entries[kind]:
                by_name.setdefault(spec.name, []).append(spec)
            for name, specs in by_name.items():
                if len({s.plugin for s in specs}) < 2:
                    continue
                specs = sorted(specs, key=lambda s: (s.plugin != BUILTIN_PLUGIN, s.plugin))
                ids = [s.qualified_name for s in specs]
                builtin = any(s.plugin == BUILTIN_PLUGIN for s in specs)
                for spec in specs:
                    if spec.plugin != BUILTIN_PLUGIN:
                        out.append(NameCollision(spec.plugin, kind, name, ids, builtin))
        return sorted(out, key=lambda c: (c.plugin, KINDS.index(c.kind), c.name))

    def get(self, kind: str, name: str) -> Any:
        """The entry called ``name`` (short or ``plugin:name``), or a one-line error with a suggestion."""
        spec, arg = self._find(_kind(kind), name)
        if arg is not None:
            raise GanzooError(f"{kind} '{spec.name}' takes no argument (got '{name}')")
        return spec

    def dataset(self, name: str) -> tuple[DatasetSpec, str | None]:
        """A data set and its argument: ``folder:PATH`` gives the ``folder`` spec and ``PATH``."""
        spec, arg = self._find("dataset", name)
        if spec.takes_argument and not arg:
            raise GanzooError(f"dataset '{spec.name}' needs an argument: use '{spec.name}:ARG' (e.g. folder:./images)")
        return spec, arg

    def model(self, name: str) -> ModelSpec:
        return self.get("model", name)

    def loss(self, name: str) -> LossSpec:
        return self.get("loss", name)

    def regularizer(self, name: str) -> RegularizerSpec:
        return self.get("regularizer", name)

    def _find(self, kind: str, name: str) -> tuple[Any, str | None]:
        specs = self._entries[kind]
        matches = [s for s in specs if s.name == name]
        if len(matches) == 1:
            return matches[0], None
        if len(matches) > 1:
            who = ", ".join(f"'{s.plugin}' ({s.qualified_name})" for s in matches)
            raise GanzooError(
                f"{kind} name '{name}' is registered by {len(matches)} plugins: {who}; "
                f"use a qualified id such as '{matches[0].qualified_name}'"
            )
        prefix, sep, rest = name.partition(":")
        if sep:
            qualified = [s for s in specs if s.plugin == prefix and s.name == rest.split(":", 1)[0]]
            if qualified and ":" not in rest:
                return qualified[0], None
            if qualified:
                return qualified[0], rest.split(":", 1)[1]
            takers = [s for s in specs if s.name == prefix and s.takes_argument] if kind == "dataset" else []
            if len(takers) == 1:
                return takers[0], rest
            if len(takers) > 1:
                return self._find(kind, prefix)[0], rest
            if any(p.name == prefix for p in self.plugins):
                raise GanzooError(f"plugin '{prefix}' has no {kind} '{rest}'. See: ganzoo list {_PLURAL[kind]}")
        raise GanzooError(_unknown(kind, name, specs))


class _Collector:
    """The ``register`` callback handed to one plugin's hook."""

    def __init__(self, kind: str, into: list[Any], info: PluginInfo) -> None:
        self.kind, self.into, self.info = kind, into, info

    def __call__(self, spec: Any) -> None:
        expected = SPEC_TYPES[self.kind]
        if not isinstance(spec, expected):
            raise TypeError(f"register() expects a {expected.__name__}, got {type(spec).__name__}")
        if any(s.name == spec.name for s in self.into):
            raise ValueError(f"{self.kind} '{spec.name}' registered twice by the same plugin")
        self.into.append(with_origin(spec, self.info.name, self.info.version))


def _kind(kind: str) -> str:
    singular = {v: k for k, v in _PLURAL.items()}.get(kind, kind)
    if singular not in KINDS:
        raise GanzooError(f"unknown kind '{kind}': choose one of {', '.join(_PLURAL.values())}")
    return singular


def _unknown(kind: str, name: str, specs: list[Any]) -> str:
    names = sorted({s.name for s in specs} | {s.qualified_name for s in specs})
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f" — did you mean '{close[0]}'?" if close else "."
    return f"unknown {kind} '{name}'{hint} See: ganzoo list {_PLURAL[kind]}"


def _own_version() -> str:
    from ganzoo import __version__

    return __version__


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry()
    return _REGISTRY


def reset_registry() -> None:
    """Forget the registry so the next call reloads plugins (tests, notebooks after pip install)."""
    global _REGISTRY
    _REGISTRY = None
