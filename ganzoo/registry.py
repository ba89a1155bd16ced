"""The plugin manager: finds every model, loss, regularizer and data set.

Built-in plugins and installed ``ganzoo`` entry points go through the same hooks.
Pluggy's own entry-point loader stops at the first broken plugin, so ganzoo loads
them itself: each plugin is imported, registered and asked for its entries on its
own, and its entries are kept only if every one of its hooks finished. A broken
plugin becomes a :class:`PluginFailure` that ``ganzoo plugins`` shows.

Plugin code runs under a :class:`_PluginCall` guard, because it runs before every
command, ``--help`` and ``list --json`` included: whatever it prints goes to stderr so
machine-readable stdout stays valid, a plugin still busy after a few seconds is named
on stderr so a hang is never silent, and a ``KeyboardInterrupt`` it raises itself is a
failure like any other while a real Ctrl-C still stops the command.

Environment:
  GANZOO_PLUGINS          comma-separated allowlist of third-party plugins ("" loads none)
  GANZOO_DISABLE_PLUGINS  comma-separated blocklist
  GANZOO_STRICT_PLUGINS=1 re-raise the first plugin failure instead of recording it
  GANZOO_SLOW_PLUGIN_SECONDS  seconds before a plugin still importing is named on stderr (default 5)
"""

from __future__ import annotations

import builtins
import difflib
import fnmatch
import importlib
import math
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import FrameType, ModuleType, TracebackType
from typing import Any, TextIO

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
BLOCK_ENV = "GANZOO_DISABLE_PLUGINS"
SLOW_ENV = "GANZOO_SLOW_PLUGIN_SECONDS"
SLOW_DEFAULT_S = 5.0


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


def slow_plugin_seconds() -> float:
    """GANZOO_SLOW_PLUGIN_SECONDS: how long plugin code may run before ganzoo names it.

    It can be shortened or lengthened but not switched off: a hang must never be silent.
    """
    raw = os.environ.get(SLOW_ENV, "").strip()
    if not raw:
        return SLOW_DEFAULT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value <= 3600:  # also refuses nan and inf
        raise GanzooError(f"{SLOW_ENV}={raw!r} is not a number of seconds in (0, 3600]; "
                          f"set e.g. {SLOW_ENV}=5, or unset it for the default {SLOW_DEFAULT_S:g}")
    return value


class PluginInterrupted(KeyboardInterrupt):
    """Ctrl-C while a plugin's code ran.

    Still a ``KeyboardInterrupt``, so a library caller stops as it would anyway; the CLI
    prints :meth:`line` instead of a traceback that ends deep inside the plugin's imports.
    """

    def __init__(self, plugin: str, distribution: str, version: str, phase: str, skip: str = "") -> None:
        super().__init__(plugin)
        self.plugin, self.distribution, self.version, self.phase = plugin, distribution, version, phase
        self.skip = skip

    def line(self) -> str:
        who = f"plugin '{self.plugin}' ({self.distribution} {self.version})"
        what = f"importing {who}" if self.phase == "import" else f"{who} ran {self.phase}"
        return f"interrupted while {what}" + (f"; {self.skip}" if self.skip else "")


class _PluginCall:
    """Guard around one piece of plugin code (its import or one hook call).

    - stdout, both ``sys.stdout`` and file descriptor 1 (for ``os.system`` or C code),
      goes to stderr: ``ganzoo list --json | jq`` must not see a plugin's banner;
    - after ``after_s`` seconds a watchdog thread names the plugin on stderr, once, and
      says how to skip it; the call is not cut short, as a plugin may be legitimately slow;
    - SIGINT, when it has Python's default handler, is noted before it raises, so that
      ``__exit__`` tells a real Ctrl-C (re-raised as :class:`PluginInterrupted`) from a
      ``KeyboardInterrupt`` the plugin raised itself (left to the caller to record).
    """

    def __init__(self, plugin: str, distribution: str, version: str, phase: str, after_s: float,
                 skip_hint: bool) -> None:
        self.plugin, self.distribution, self.version, self.phase = plugin, distribution, version, phase
        self.after_s, self.skip_hint = after_s, skip_hint
        self.interrupted = False
        self._stdout: TextIO | None = None
        self._saved_fd: int | None = None
        self._timer: threading.Timer | None = None
        self._handler: Any = None

    def note(self) -> str:
        who = f"plugin '{self.plugin}' ({self.distribution} {self.version})"
        if self.phase == "import":
            text = f"note: still importing {who} after {self.after_s:g} s"
        else:
            text = f"note: {who} still running {self.phase} after {self.after_s:g} s"
        return f"{text}; {self.skip()}" if self.skip_hint else text

    def skip(self) -> str:
        blocked = sorted(_env_list(BLOCK_ENV) or set())
        return f"{BLOCK_ENV}={','.join([*blocked, self.plugin])} skips it"

    def __enter__(self) -> _PluginCall:
        err = sys.stderr
        _flush(sys.stdout)
        self._stdout, sys.stdout = sys.stdout, err
        self._saved_fd = _point_fd(1, 2)
        self._timer = threading.Timer(self.after_s, self._warn, args=(err,))
        self._timer.daemon = True  # never keeps a finished command alive
        self._timer.start()
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is signal.default_int_handler:
                self._handler = previous
                signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._handler is not None:
            signal.signal(signal.SIGINT, self._handler)
        if self._timer is not None:
            self._timer.cancel()
        _flush(sys.__stdout__)  # a plugin that wrote to sys.__stdout__ directly: out before fd 1 is back
        _flush(sys.stdout)
        if self._saved_fd is not None:
            os.dup2(self._saved_fd, 1)
            os.close(self._saved_fd)
        if self._stdout is not None:
            sys.stdout = self._stdout
        # A Ctrl-C the plugin swallowed, or turned into another exception, still stops the command.
        if self.interrupted:
            raise PluginInterrupted(self.plugin, self.distribution, self.version, self.phase,
                                    self.skip() if self.skip_hint else "") from None

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.interrupted = True
        signal.default_int_handler(signum, frame)

    def _warn(self, err: TextIO) -> None:
        try:
            err.write(self.note() + "\n")
            err.flush()
        except (OSError, ValueError):  # stderr closed: nowhere left to say it
            pass


def _flush(stream: TextIO | None) -> None:
    try:
        if stream is not None:
            stream.flush()
    except (OSError, ValueError):
        pass


def _point_fd(fd: int, to: int) -> int | None:
    """Make ``fd`` write where ``to`` does; returns a copy of the old ``fd`` to restore, or
    None where either descriptor is closed (then only ``sys.stdout`` is redirected)."""
    try:
        saved = os.dup(fd)
    except OSError:
        return None
    try:
        os.dup2(to, fd)
    except OSError:
        os.close(saved)
        return None
    return saved


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
        self._slow_s = slow_plugin_seconds()
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
                with self._call(ep.name, dist_name, version, "import", skip_hint=True):
                    module = ep.load()
            except PluginInterrupted:
                raise
            except BaseException as exc:  # a broken plugin must not break ganzoo, not even with sys.exit()
                self._fail(ep.name, dist_name, "import", exc)
                continue
            self._add(module, ep.name, PluginInfo(ep.name, dist_name, version), skip_hint=True)

    def _call(self, plugin: str, dist: str, version: str, phase: str, skip_hint: bool = False) -> _PluginCall:
        return _PluginCall(plugin, dist, version, phase, self._slow_s, skip_hint)

    def add_plugin(self, module: ModuleType, name: str | None = None, version: str = "0") -> None:
        """Register a plugin module that is not installed (notebooks, tests), through the same path."""
        name = name or module.__name__
        self._add(module, name, PluginInfo(name, "(not installed)", version))

    def _fail(self, plugin: str, dist: str, phase: str, exc: BaseException | str) -> None:
        """Record a plugin failure; ``exc`` may be any BaseException, because a plugin calling
        ``sys.exit()`` or raising ``KeyboardInterrupt`` itself must not end ganzoo (not even
        ``--help``) unnamed. A real Ctrl-C arrives as :class:`PluginInterrupted` and never gets here."""
        if self._strict and isinstance(exc, Exception):
            raise exc
        error = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        if isinstance(exc, SystemExit):
            error = f"{error} (the plugin called sys.exit(); a plugin must raise an exception instead)"
        elif isinstance(exc, KeyboardInterrupt):
            error = f"{error} (raised by the plugin, not by Ctrl-C; a plugin must raise an exception instead)"
        error = " ".join(str(error).split())
        self.failures.append(PluginFailure(plugin, dist, phase, error))
        if self._strict:
            raise GanzooError(f"plugin '{plugin}' ({dist}) failed during {phase}: {error}")

    def _add(self, module: ModuleType, pm_name: str, info: PluginInfo, skip_hint: bool = False) -> None:
        """Register one plugin module and commit its entries only if all its hooks succeed."""
        try:
            self.pm.register(module, name=pm_name)
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
                    with self._call(info.name, info.distribution, info.version, hook_name, skip_hint):
                        impl.function(*[{"register": register}[arg] for arg in impl.argnames])
                except PluginInterrupted:
                    self.pm.unregister(module)
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
                with self._call(info.name, info.distribution, info.version, "ganzoo_register_commands",
                                skip_hint=info.name != BUILTIN_PLUGIN and info.distribution != "(not installed)"):
                    impl.function(*[{"cli": cli}[arg] for arg in impl.argnames])
            except PluginInterrupted:
                cli.commands.clear()
                cli.commands.update(before)
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

    # -- runs made elsewhere -------------------------------------------------------
    def origin(self, spec: Any) -> dict[str, str]:
        """The plugin behind an entry as a run's config.json records it (``model_plugin``):
        its name, distribution and version, so that a run whose plugin is later uninstalled
        can say exactly what to install (:meth:`missing_plugin`)."""
        info = next((p for p in self.plugins if p.name == spec.plugin), None)
        return {"name": spec.plugin, "distribution": info.distribution if info else "",
                "version": spec.plugin_version}

    def missing_plugin(self, model: str, versions: Any, recorded: Any = None) -> str | None:
        """Why a run's ``model`` is not registered here when its plugin is the reason, and the
        fix: ``"from plugin ganzoo-sagan 0.2.0, which is not installed: pip install ..."``.
        ``versions`` and ``recorded`` are the run's config.json ``versions`` ({plugin: version})
        and ``model_plugin`` (:meth:`origin`; runs from before it was kept have none). None when
        the run does not say which plugin it was, so the caller's unknown-name error stands."""
        versions = versions if isinstance(versions, dict) else {}
        recorded = recorded if isinstance(recorded, dict) else {}
        plugin, sure = str(recorded.get("name") or ""), True
        prefix, sep, _ = model.rpartition(":")
        if not plugin and sep:
            plugin = prefix
        loaded = {p.name: p for p in self.plugins}
        if not plugin:  # an older run: the one plugin it lists that this registry has not loaded
            gone = [p for p in versions if p not in loaded]
            if len(gone) != 1:
                return None
            plugin, sure = str(gone[0]), False
        if plugin not in versions and not recorded:
            return None
        version = str(recorded.get("version") or versions.get(plugin) or "")
        dist = str(recorded.get("distribution") or "")
        dist = "" if dist in ("?", "(not installed)") else dist
        pin = f"=={version}" if version else ""
        who = f"plugin {dist or repr(plugin)}" + (f" {version}" if version else "")
        where = f"from {who}" if sure else f"(not registered here); config.json lists {who}"
        if plugin in self.disabled:
            if plugin in (_env_list(BLOCK_ENV) or set()):
                return f"{where}, which {BLOCK_ENV} switches off here: drop '{plugin}' from it"
            return f"{where}, which GANZOO_PLUGINS leaves out here: add '{plugin}' to it"
        failed = next((f for f in self.failures if f.plugin == plugin), None)
        if failed is not None:
            return f"{where}, which failed to load here ({failed.phase} failed); see: ganzoo plugins"
        if plugin in loaded:
            have = loaded[plugin]
            if have.distribution in ("?", "(not installed)"):  # registered by hand (add_plugin)
                return f"{where}, but the plugin '{plugin}' {have.version} loaded here has no such model"
            return (f"{where}, but the installed {have.distribution} {have.version} has no such model: "
                    f"pip install {dist or have.distribution}{pin}")
        if dist:
            return f"{where}, which is not installed: pip install {dist}{pin}"
        return (f"{where}, which is not installed: install that plugin's distribution"
                f"{f' at version {version}' if version else ''} (pip install ganzoo-{plugin}{pin} if it follows "
                "the ganzoo-NAME convention)")


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
