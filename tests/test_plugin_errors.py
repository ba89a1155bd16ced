"""Plugin mistakes reach the user as one ``Error:`` line naming the plugin and the fix.

Most cases register an in-memory plugin with ``Registry.add_plugin`` and run the CLI
in-process on it; loading-time failures (``sys.exit()`` at import or in a hook) need an
entry point, so they use a folder with hand-written ``.dist-info`` metadata on
PYTHONPATH (no pip install: importlib.metadata finds it directly).
"""

from __future__ import annotations

import inspect
import json
import math
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
import torch
from conftest import ROOT, assert_one_line_error, invoke, run_cli
from torch import nn

import ganzoo.registry as registry_module
from ganzoo import DatasetSpec, LossSpec, ModelSpec, RegularizerSpec, hookimpl
from ganzoo.engine.build import build_discriminator, build_generator, check_networks
from ganzoo.engine.config import resolve
from ganzoo.errors import GanzooError
from ganzoo.registry import BUILTIN_PLUGIN, Registry
from ganzoo.specs import Defaults
from ganzoo.testing import ConformanceError, plugin_checks


# -- a tiny plugin whose networks make one mistake on request -------------------------------------------------
class TinyG(nn.Module):
    def __init__(self, shape, num_classes=0, latent_dim=4, flaw="none", hidden=8):
        super().__init__()
        self.latent_dim, self.num_classes, self.output_shape = latent_dim, num_classes, tuple(shape)
        if flaw == "promise":
            self.output_shape = (1, *shape)
        self.flaw = flaw
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                 nn.Linear(hidden, math.prod(shape)))
        self.shape = tuple(shape)

    def forward(self, z, labels=None):
        out = self.net(z).view(len(z), *self.shape)
        return out.unsqueeze(1) if self.flaw == "extra-dim" else out


class TinyD(nn.Module):
    def __init__(self, shape, num_classes=0, latent_dim=4, flaw="none", hidden=8):
        super().__init__()
        self.flaw = flaw
        self.net = nn.Sequential(nn.Linear(math.prod(shape), hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x, labels=None):
        if self.flaw == "crash":
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
        out = self.net(x.flatten(1))
        return out if self.flaw == "column" else out.squeeze(1)


class DWithoutHidden(nn.Module):
    """Accepts ``flaw`` but not the spec's other option ``hidden``."""

    def __init__(self, shape, num_classes=0, latent_dim=4, flaw="none"):
        super().__init__()
        self.net = nn.Linear(math.prod(shape), 1)

    def forward(self, x, labels=None):
        return self.net(x.flatten(1)).squeeze(1)


def g_without_latent_dim(shape, num_classes=0, flaw="none", hidden=8):
    return TinyG(shape, num_classes, 4, flaw, hidden)


def g_that_raises(shape, num_classes=0, latent_dim=4, **options):
    raise TypeError("unsupported operand type(s) for *: 'NoneType' and 'int'")


def plugin_module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, hookimpl(fn))
    return module


def registry_with(*specs: ModelSpec, plugin: str = "demo", version: str = "1.2.3") -> Registry:
    def models(register):
        for spec in specs:
            register(spec)

    registry = Registry(load_entry_points=False)
    registry.add_plugin(plugin_module(plugin, ganzoo_register_models=models), plugin, version=version)
    assert not registry.failures, registry.failures
    return registry


def tiny_spec(flaw: str = "none", generator=TinyG, discriminator=TinyD, **fields) -> ModelSpec:
    return ModelSpec(name="tiny", summary="A tiny MLP GAN", paper="Nobody 2026", generator=generator,
                     discriminator=discriminator, dataset="ring8",
                     defaults=Defaults(latent_dim=4, batch_size=8, steps=2),
                     options=fields.pop("options", {"flaw": flaw, "hidden": 8}), **fields)


@pytest.fixture
def use(monkeypatch):
    """Make a registry the process-wide one, as if its plugins were installed."""

    def install(registry: Registry) -> Registry:
        monkeypatch.setattr(registry_module, "_REGISTRY", registry)
        return registry

    return install


def train_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["train", "tiny", "--steps", "1", "--device", "cpu", "-q", "--out", str(tmp_path / "run"), *extra]


def assert_train_error(tmp_path: Path, expected: list[str], *extra: str) -> None:
    """One ``Error:`` line holding every fragment of ``expected``, and no run folder."""
    args = train_args(tmp_path, *extra)
    assert_one_line_error(args, expected[0])
    _, output = invoke(*args)
    for fragment in expected[1:]:
        assert fragment in output, output
    assert not (tmp_path / "run").exists(), "the run folder was created before the check"


# -- bad targets ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target, detail", [
    ("nomodule:thing", "ModuleNotFoundError: No module named 'nomodule'"),
    ("ganzoo.objectives.losses:missing", "AttributeError"),
    ("notatarget", "is not of the form 'package.module:attr'"),
], ids=["no-module", "no-attribute", "not-a-target"])
def test_bad_target_string(use, tmp_path, target, detail):
    use(registry_with(tiny_spec(generator=target)))
    assert_train_error(tmp_path, [
        "model 'demo:tiny' (plugin 'demo' 1.2.3): its generator target",
        detail, "the plugin must name an importable 'package.module:attr' in ModelSpec(generator=...)"])


def test_target_that_is_not_callable(use, tmp_path):
    use(registry_with(tiny_spec(discriminator="ganzoo:__version__")))
    assert_train_error(tmp_path, ["its discriminator target 'ganzoo:__version__' is a str, not a callable"])


def test_target_module_that_exits_on_import(use, tmp_path, monkeypatch):
    (tmp_path / "exits_on_import.py").write_text("import sys\nsys.exit('no GPU here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    use(registry_with(tiny_spec(generator="exits_on_import:G")))
    assert_train_error(tmp_path, ["cannot be imported (SystemExit: no GPU here)", "plugin 'demo'"])


# -- factories with the wrong signature ---------------------------------------------------------------------------
def test_factory_without_latent_dim(use, tmp_path):
    use(registry_with(tiny_spec(generator=g_without_latent_dim)))
    assert_train_error(tmp_path, [
        "(plugin 'demo' 1.2.3): its generator factory g_without_latent_dim does not accept latent_dim",
        "the plugin must add latent_dim to its parameters"])


def test_factory_rejecting_a_set_option(use, tmp_path):
    use(registry_with(tiny_spec(discriminator=DWithoutHidden)))
    assert_train_error(tmp_path, [
        "its discriminator factory DWithoutHidden does not accept the option(s) hidden",
        "--set hidden=...", "every option goes to both factories"], "--set", "hidden=16")


def test_factory_requiring_an_argument_ganzoo_never_passes(use, tmp_path):
    def g_needs_depth(shape, num_classes, latent_dim, depth, **options):
        return TinyG(shape, num_classes, latent_dim)

    use(registry_with(tiny_spec(generator=g_needs_depth)))
    assert_train_error(tmp_path, ["its generator factory", "requires depth, which ganzoo never passes"])


def test_typeerror_inside_a_factory(use, tmp_path):
    use(registry_with(tiny_spec(generator=g_that_raises)))
    assert_train_error(tmp_path, [
        "its generator factory failed as factory(shape=(2,), num_classes=0, latent_dim=4, flaw='none', hidden=8): "
        "TypeError: unsupported operand", "plugin 'demo'"])


def test_option_named_like_a_factory_argument(use, tmp_path):
    use(registry_with(tiny_spec(options={"latent_dim": 3})))
    assert_train_error(tmp_path, ["its options may not be named latent_dim"])


# -- networks with the wrong output shape ----------------------------------------------------------------------------
@pytest.mark.parametrize("flaw, expected", [
    ("extra-dim", "its generator returned shape [4, 1, 2] for a batch of 4"),
    ("promise", "its generator's output_shape (1, 2) differs from the data shape (2,)"),
    ("column", "its discriminator returned shape [4, 1] for a batch of 4"),
    ("crash", "its discriminator's forward([8, 2], None) raised RuntimeError: mat1 and mat2"),
], ids=["generator-shape", "generator-promise", "discriminator-column", "discriminator-crash"])
def test_network_output_checked_before_the_run_starts(use, tmp_path, flaw, expected):
    use(registry_with(tiny_spec(flaw)))
    fixes = {"extra-dim": "must return [N, *output_shape]", "promise": "set output_shape = tuple(shape)",
             "column": "must return [N] logits (e.g. out.squeeze(1)", "crash": "must accept this batch"}
    assert_train_error(tmp_path, [expected, "model 'demo:tiny' (plugin 'demo' 1.2.3)", fixes[flaw]],
                       "--batch-size", "8")


def test_tiny_batch_divides_the_training_batch_and_falls_back_to_it():
    """A packing D refuses batches that are not a multiple of its pack: the check uses a
    divisor of the training batch, then the training batch itself."""

    class Packed(TinyD):
        def forward(self, x, labels=None):
            if len(x) % 5:
                raise GanzooError(f"batch must be a multiple of 5, got {len(x)}")
            return super().forward(x, labels)

    registry = registry_with(tiny_spec(discriminator=Packed))
    for batch in (10, 25, 60):
        cfg = resolve("tiny", registry, device="cpu", out="unused", batch_size=batch)
        build_discriminator(cfg, (2,), 0, registry)
    cfg = resolve("tiny", registry, device="cpu", out="unused", batch_size=12)
    with pytest.raises(GanzooError, match="multiple of 5, got 12"):
        build_discriminator(cfg, (2,), 0, registry)


def test_the_check_leaves_no_trace():
    """Eval mode, no autograd, the global RNG untouched: a seeded run is the same with or without it."""
    registry = registry_with(tiny_spec())
    cfg = resolve("tiny", registry, device="cpu", out="unused", batch_size=8)
    torch.manual_seed(0)
    G = build_generator(cfg, (2,), 0, registry)
    after = torch.rand(3)
    torch.manual_seed(0)
    plain = TinyG((2,), 0, 4)
    assert torch.equal(after, torch.rand(3))
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), plain.state_dict().values()))
    assert G.training and all(m.training for m in G.modules())
    check_networks(G, build_discriminator(cfg, (2,), 0, registry), cfg, (2,), 0, registry)
    assert torch.equal(G.net[1].running_mean, torch.zeros(8))  # BatchNorm statistics untouched


def test_builtin_models_pass_the_check():
    for name in ("vanilla", "dcgan"):
        cfg = resolve(name, device="cpu", out="unused")
        shape = (1, 8, 8) if name == "dcgan" else (2,)
        check_networks(build_generator(cfg, shape, 0), build_discriminator(cfg, shape, 0), cfg, shape, 0)


# -- sys.exit() and other BaseExceptions while loading plugins --------------------------------------------------------
BROKEN = {
    "exitimport": """
        import sys
        sys.exit(3)
    """,
    "exithook": """
        import sys
        from ganzoo import hookimpl

        @hookimpl
        def ganzoo_register_losses(register):
            sys.exit("no CUDA, bye")
    """,
    "exitcommands": """
        from ganzoo import hookimpl

        @hookimpl
        def ganzoo_register_commands(cli):
            raise SystemExit(1)
    """,
    "shadow": """
        from ganzoo import LossSpec, ModelSpec, hookimpl

        @hookimpl
        def ganzoo_register_losses(register):
            register(LossSpec(name="hinge", summary="Another hinge", target="ganzoo.objectives.losses:Hinge"))

        @hookimpl
        def ganzoo_register_models(register):
            register(ModelSpec(name="dcgan", summary="Another DCGAN", paper="Nobody 2026",
                               generator="ganzoo.models.vanilla:Generator",
                               discriminator="ganzoo.models.vanilla:Discriminator", dataset="ring8"))
    """,
}


def write_site(root: Path, bodies: dict[str, str]) -> str:
    """Each plugin as an importable package plus the ``.dist-info`` an installer would write."""
    for name, body in bodies.items():
        package = root / f"ganzoo_{name}"
        package.mkdir()
        (package / "__init__.py").write_text(textwrap.dedent(body))
        info = root / f"ganzoo_{name}-0.4.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: ganzoo-{name}\nVersion: 0.4\n")
        (info / "entry_points.txt").write_text(f"[ganzoo]\n{name} = ganzoo_{name}\n")
    return str(root)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> str:
    return write_site(tmp_path_factory.mktemp("site"), BROKEN)


def test_sys_exit_in_a_plugin_does_not_stop_help(site):
    result = run_cli("--help", env={"PYTHONPATH": site, "GANZOO_DISABLE_PLUGINS": "pacgan"})
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, result.stderr
    assert ("warning: plugin 'exitimport' (ganzoo-exitimport) was skipped: import failed with SystemExit: 3 "
            "(the plugin called sys.exit(); a plugin must raise an exception instead). See: ganzoo plugins") in lines
    assert any("'exithook' (ganzoo-exithook) was skipped: ganzoo_register_losses failed with SystemExit: "
               "no CUDA, bye" in line for line in lines)
    assert any("'exitcommands' (ganzoo-exitcommands) was skipped: ganzoo_register_commands failed with "
               "SystemExit: 1" in line for line in lines)


def test_sys_exit_failures_and_collisions_in_plugins_json(site):
    result = run_cli("plugins", "--json", env={"PYTHONPATH": site})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    failed = {f["plugin"]: f for f in report["failed"]}
    assert failed["exitimport"]["phase"] == "import" and failed["exitimport"]["error"].startswith("SystemExit: 3")
    assert failed["exithook"]["phase"] == "ganzoo_register_losses"
    assert failed["exitcommands"]["phase"] == "ganzoo_register_commands"
    mine = [c for c in report["collisions"] if c["plugin"] == "shadow"]
    assert mine == [
        {"plugin": "shadow", "kind": "model", "name": "dcgan", "ids": ["ganzoo:dcgan", "shadow:dcgan"],
         "shadows_builtin": True},
        {"plugin": "shadow", "kind": "loss", "name": "hinge", "ids": ["ganzoo:hinge", "shadow:hinge"],
         "shadows_builtin": True},
    ]


def test_strict_mode_makes_sys_exit_one_error_line(site):
    result = run_cli("list", env={"PYTHONPATH": site, "GANZOO_STRICT_PLUGINS": "1", "GANZOO_PLUGINS": "exitimport"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: plugin 'exitimport' (ganzoo-exitimport) failed during import: SystemExit: 3 (the plugin called "
        "sys.exit(); a plugin must raise an exception instead)"]


def test_base_exceptions_in_hooks_are_recorded():
    """A hook's own ``KeyboardInterrupt`` is a plugin mistake like ``sys.exit()``; only a
    real Ctrl-C (a SIGINT) stops the load, see test_ctrl_c_in_a_hook_stops_the_load."""

    class Custom(BaseException):
        pass

    def exits(register):
        raise SystemExit(4)

    def custom(register):
        raise Custom("odd")

    def raises_interrupt(register):
        raise KeyboardInterrupt

    registry = Registry(load_entry_points=False)
    registry.add_plugin(plugin_module("exits", ganzoo_register_losses=exits), "exits")
    registry.add_plugin(plugin_module("custom", ganzoo_register_datasets=custom), "custom")
    registry.add_plugin(plugin_module("selfkb", ganzoo_register_losses=raises_interrupt), "selfkb")
    assert [(f.plugin, f.phase, f.error.split(" (")[0]) for f in registry.failures] == [
        ("exits", "ganzoo_register_losses", "SystemExit: 4"), ("custom", "ganzoo_register_datasets", "Custom: odd"),
        ("selfkb", "ganzoo_register_losses", "KeyboardInterrupt")]
    assert "raised by the plugin, not by Ctrl-C" in registry.failures[-1].line()


# -- plugins that print, hang or are interrupted while loading ------------------------------------------------------
MISBEHAVING = {
    "printer": """
        import os
        import sys
        from ganzoo import LossSpec, hookimpl

        print("printer: banner at import")
        os.write(1, b"printer: straight to fd 1\\n")
        sys.__stdout__.write("printer: via sys.__stdout__\\n")

        @hookimpl
        def ganzoo_register_losses(register):
            print("printer: inside a hook")
            register(LossSpec(name="printer-loss", summary="s", target="ganzoo.objectives.losses:Hinge"))

        @hookimpl
        def ganzoo_register_commands(cli):
            print("printer: adding commands")
    """,
    "slow": """
        import time
        from ganzoo import LossSpec, hookimpl

        time.sleep(1)

        @hookimpl
        def ganzoo_register_losses(register):
            time.sleep(1)
            register(LossSpec(name="slow-loss", summary="s", target="ganzoo.objectives.losses:Hinge"))
    """,
    "hang": """
        import time
        time.sleep(60)
    """,
    "kbint": """
        raise KeyboardInterrupt
    """,
}


@pytest.fixture(scope="module")
def misbehaving(tmp_path_factory) -> str:
    return write_site(tmp_path_factory.mktemp("misbehaving"), MISBEHAVING)


def only(site: str, *plugins: str, **env: str) -> dict[str, str]:
    return {"PYTHONPATH": site, "GANZOO_PLUGINS": ",".join(plugins), **env}


@pytest.mark.parametrize("args", [("list", "--json"), ("list", "models", "--json"), ("plugins", "--json"),
                                  ("list", "losses", "--json")], ids=" ".join)
def test_a_printing_plugin_leaves_json_stdout_valid(misbehaving, args):
    result = run_cli(*args, env=only(misbehaving, "printer"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "printer: " not in result.stdout
    for line in ("printer: banner at import", "printer: straight to fd 1", "printer: via sys.__stdout__",
                 "printer: inside a hook", "printer: adding commands"):
        assert line in result.stderr.splitlines()
    assert "note:" not in result.stderr and "warning:" not in result.stderr  # fast and healthy: nothing else
    if args[-2] == "losses":
        assert "printer:printer-loss" in {entry["id"] for entry in report}


def test_output_goes_back_to_stdout_after_the_plugins(capfd):
    def prints(register):
        print("from the hook")
        register(LossSpec(name="p", summary="s", target="ganzoo.objectives.losses:Hinge"))

    def fails(register):
        print("from the failing hook")
        raise RuntimeError("broken")

    stdout = sys.stdout
    registry = Registry(load_entry_points=False)
    registry.add_plugin(plugin_module("prints", ganzoo_register_losses=prints), "prints")
    registry.add_plugin(plugin_module("fails", ganzoo_register_losses=fails), "fails")
    print("after the plugins")
    out, err = capfd.readouterr()
    assert sys.stdout is stdout
    assert out == "after the plugins\n"
    assert err == "from the hook\nfrom the failing hook\n"
    assert [f.plugin for f in registry.failures] == ["fails"] and registry.loss("p").plugin == "prints"


def test_a_slow_plugin_is_named_once_per_phase_and_waited_for(misbehaving):
    result = run_cli("list", "losses", "--json",
                     env=only(misbehaving, "slow", GANZOO_SLOW_PLUGIN_SECONDS="0.4", GANZOO_DISABLE_PLUGINS="x"))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "note: still importing plugin 'slow' (ganzoo-slow 0.4) after 0.4 s; GANZOO_DISABLE_PLUGINS=x,slow skips it",
        "note: plugin 'slow' (ganzoo-slow 0.4) still running ganzoo_register_losses after 0.4 s; "
        "GANZOO_DISABLE_PLUGINS=x,slow skips it"]
    assert "slow:slow-loss" in {entry["id"] for entry in json.loads(result.stdout)}
    skipped = run_cli("list", "--json", env=only(misbehaving, "slow", GANZOO_SLOW_PLUGIN_SECONDS="0.4",
                                                  GANZOO_DISABLE_PLUGINS="x,slow"))
    assert skipped.returncode == 0 and skipped.stderr == ""


@pytest.mark.parametrize("value", ["abc", "0", "-1", "inf", "nan", "3601"])
def test_a_bad_slow_plugin_delay_is_one_line(misbehaving, value):
    result = run_cli("--help", env=only(misbehaving, "printer", GANZOO_SLOW_PLUGIN_SECONDS=value))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        f"Error: GANZOO_SLOW_PLUGIN_SECONDS='{value}' is not a number of seconds in (0, 3600]; "
        "set e.g. GANZOO_SLOW_PLUGIN_SECONDS=5, or unset it for the default 5")


def test_keyboard_interrupt_raised_at_import_is_a_plugin_failure(misbehaving):
    result = run_cli("--help", env=only(misbehaving, "kbint", "printer"))
    assert result.returncode == 0 and "Usage:" in result.stdout
    assert "Traceback" not in result.stderr
    assert ("warning: plugin 'kbint' (ganzoo-kbint) was skipped: import failed with KeyboardInterrupt (raised by the "
            "plugin, not by Ctrl-C; a plugin must raise an exception instead). See: ganzoo plugins"
            ) in result.stderr.splitlines()
    report = json.loads(run_cli("plugins", "--json", env=only(misbehaving, "kbint")).stdout)
    assert [(f["plugin"], f["phase"]) for f in report["failed"]] == [("kbint", "import")]
    strict = run_cli("list", env=only(misbehaving, "kbint", GANZOO_STRICT_PLUGINS="1"))
    assert strict.returncode == 2 and strict.stderr.splitlines() == [
        "Error: plugin 'kbint' (ganzoo-kbint) failed during import: KeyboardInterrupt (raised by the plugin, not by "
        "Ctrl-C; a plugin must raise an exception instead)"]


def test_ctrl_c_while_a_plugin_imports_ends_the_command_with_one_line(misbehaving):
    """The user's Ctrl-C after the note still stops the command: exit 130, one line, no traceback."""
    import os
    import queue
    import signal
    import threading

    env = {**os.environ, **only(misbehaving, "hang", GANZOO_SLOW_PLUGIN_SECONDS="0.2")}
    proc = subprocess.Popen([sys.executable, "-m", "ganzoo", "list", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)
    reader.start()
    try:
        first = lines.get(timeout=30)  # the note says what ganzoo waits for, so the user knows what Ctrl-C stops
        assert first.startswith("note: still importing plugin 'hang' (ganzoo-hang 0.4) after 0.2 s"), first
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    finally:
        proc.kill()
    reader.join(timeout=10)
    assert proc.stdout is not None and proc.stdout.read() == ""
    assert list(lines.queue) == ["Error: interrupted while importing plugin 'hang' (ganzoo-hang 0.4); "
                                 "GANZOO_DISABLE_PLUGINS=hang skips it\n"]


@pytest.mark.parametrize("plugin_does", ["nothing", "swallow", "convert"])
def test_ctrl_c_in_a_hook_stops_the_load(plugin_does):
    """However the plugin handles the KeyboardInterrupt a SIGINT raised, the user's Ctrl-C wins."""
    import signal

    def interrupted(register):
        register(LossSpec(name="half", summary="s", target="ganzoo.objectives.losses:Hinge"))
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            if plugin_does == "nothing":
                raise
            if plugin_does == "convert":
                raise RuntimeError("cancelled") from None

    registry = Registry(load_entry_points=False)
    with pytest.raises(registry_module.PluginInterrupted) as stop:
        registry.add_plugin(plugin_module("ctrlc", ganzoo_register_losses=interrupted), "ctrlc", version="0.1")
    assert isinstance(stop.value, KeyboardInterrupt)
    assert stop.value.line() == "interrupted while plugin 'ctrlc' ((not installed) 0.1) ran ganzoo_register_losses"
    assert registry.failures == [] and registry.list("loss", "half") == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("args", [("--help",), ("list",), ("list", "--json")], ids=" ".join)
def test_help_and_list_stay_free_of_torch_with_guarded_plugins(misbehaving, args):
    code = ("import sys; sys.modules['torch'] = None; from ganzoo.cli import main; "
            f"sys.argv = ['ganzoo', *{list(args)!r}]; main()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, **only(misbehaving, "printer", "kbint")})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "printer: banner at import" in result.stderr


# -- collisions with built-in names ----------------------------------------------------------------------------------
def shadowing_registry() -> Registry:
    def losses(register):
        register(LossSpec(name="hinge", summary="Another hinge", target="ganzoo.objectives.losses:Hinge"))
        register(LossSpec(name="shadow-only", summary="Unique", target="ganzoo.objectives.losses:Hinge"))

    def models(register):
        register(ModelSpec(name="dcgan", summary="Another DCGAN", paper="Nobody 2026", generator=TinyG,
                           discriminator=TinyD, dataset="ring8"))

    registry = Registry(load_entry_points=False)
    registry.add_plugin(plugin_module("demo", ganzoo_register_losses=losses, ganzoo_register_models=models), "demo",
                        version="1.2.3")
    registry.add_plugin(plugin_module("clean", ganzoo_register_losses=lambda register: register(
        LossSpec(name="clean-loss", summary="s", target="ganzoo.objectives.losses:Hinge"))), "clean", version="0.1")
    return registry


def test_plugins_reports_shadowed_builtins(use):
    use(shadowing_registry())
    code, output = invoke("plugins", "--json")
    assert code == 0
    assert json.loads(output)["collisions"] == [
        {"plugin": "demo", "kind": "model", "name": "dcgan", "ids": ["ganzoo:dcgan", "demo:dcgan"],
         "shadows_builtin": True},
        {"plugin": "demo", "kind": "loss", "name": "hinge", "ids": ["ganzoo:hinge", "demo:hinge"],
         "shadows_builtin": True},
    ]
    code, output = invoke("plugins")
    assert code == 0
    assert "Name collisions (2): a shared short name is an error on use" in output
    assert ("  demo: loss 'hinge' is also registered by a built-in, so 'hinge' alone is an error; "
            "use ganzoo:hinge or demo:hinge") in output.splitlines()
    assert "demo: model 'dcgan' is also registered by a built-in" in output


def test_no_collisions_no_section(use):
    use(Registry(load_entry_points=False))
    code, output = invoke("plugins")
    assert code == 0 and "collision" not in output.lower()
    assert json.loads(invoke("plugins", "--json")[1])["collisions"] == []


def test_collisions_between_two_third_party_plugins():
    registry = Registry(load_entry_points=False)
    for name in ("alpha", "beta"):
        registry.add_plugin(plugin_module(name, ganzoo_register_losses=lambda register: register(
            LossSpec(name="focal", summary="s", target="ganzoo.objectives.losses:Hinge"))), name)
    found = registry.collisions()
    assert [(c.plugin, c.ids, c.shadows_builtin) for c in found] == [
        ("alpha", ["alpha:focal", "beta:focal"], False), ("beta", ["alpha:focal", "beta:focal"], False)]
    assert "also registered by another plugin" in found[0].line()


def test_unique_names_check_fails_for_a_shadowing_plugin():
    registry = shadowing_registry()
    (check,) = [c for c in plugin_checks("demo", registry) if c.name == "unique-names"]
    assert check.id == "plugin:demo:unique-names"
    with pytest.raises(ConformanceError, match=(
            r"^plugin 'demo' \[unique-names\]: it registers the name of a built-in: model 'dcgan' \(ganzoo:dcgan\), "
            r"loss 'hinge' \(ganzoo:hinge\), .* -- fix: rename the entry, e.g. 'demo-dcgan'")):
        check()
    for name in ("clean", BUILTIN_PLUGIN):
        [c for c in plugin_checks(name, registry) if c.name == "unique-names"][0]()


# -- qualified ids inside specs ----------------------------------------------------------------------------------------
def test_a_spec_may_name_builtins_by_qualified_id(use, tmp_path):
    """Another plugin shadows hinge, ring8 and gp with broken targets: the qualified ids in
    the spec still reach the built-ins, so training works."""

    def shadows_losses(register):
        register(LossSpec(name="hinge", summary="s", target="nowhere:Hinge"))

    def shadows_regs(register):
        register(RegularizerSpec(name="gp", summary="s", target="nowhere:GP"))

    def shadows_data(register):
        register(DatasetSpec(name="ring8", summary="s", source="nowhere", target="nowhere:ring8", shape=(2,),
                             num_classes=0))

    def models(register):
        register(ModelSpec(name="qualgan", summary="Names its parts by qualified id", paper="Nobody 2026",
                           generator="ganzoo.models.vanilla:Generator",
                           discriminator="ganzoo.models.vanilla:Discriminator",
                           loss="ganzoo:hinge", dataset="ganzoo:ring8",
                           defaults=Defaults(latent_dim=4, batch_size=8, steps=2, reg=("ganzoo:gp:1",))))

    registry = Registry(load_entry_points=False)
    registry.add_plugin(plugin_module("shadow", ganzoo_register_losses=shadows_losses,
                                      ganzoo_register_regularizers=shadows_regs,
                                      ganzoo_register_datasets=shadows_data), "shadow")
    registry.add_plugin(plugin_module("qual", ganzoo_register_models=models), "qual")
    assert not registry.failures
    with pytest.raises(GanzooError, match="registered by 2 plugins"):
        registry.loss("hinge")
    cfg = resolve("qualgan", registry, device="cpu", out=str(tmp_path / "run"))
    assert registry.loss(cfg.loss).plugin == registry.dataset(cfg.dataset)[0].plugin == BUILTIN_PLUGIN
    use(registry)
    code, output = invoke("train", "qualgan", "--steps", "2", "--device", "cpu", "-q", "--out", tmp_path / "run")
    assert code == 0, output
    assert (tmp_path / "run" / "config.json").is_file()


# -- typed hookspecs, no stale references ------------------------------------------------------------------------
def test_hookspecs_are_typed_without_importing_click_or_torch():
    from ganzoo import hookspecs

    params = inspect.signature(hookspecs.ganzoo_register_models).parameters
    assert params["register"].annotation == "Callable[[ModelSpec], None]"
    assert inspect.signature(hookspecs.ganzoo_register_commands).parameters["cli"].annotation == "click.Group"
    code = "import sys, ganzoo.hookspecs; print(sorted({'click', 'torch'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_nothing_points_at_a_missing_design_document():
    stale = "DESIGN" + ".md"
    hits = [f"{path.relative_to(ROOT)}" for folder in ("ganzoo", "plugins", "docs", "tests", "benchmarks")
            for path in (ROOT / folder).rglob("*") if path.suffix in (".py", ".md", ".toml", ".txt")
            and stale in path.read_text(errors="ignore")]
    hits += ["README.md"] if stale in (ROOT / "README.md").read_text() else []
    assert not (ROOT / stale).exists() and hits == []
