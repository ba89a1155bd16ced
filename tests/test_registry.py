"""The registry, through real plugin packages that the tests build and pip-install."""

import json
import subprocess
import sys
import textwrap
import types

import pytest

from conftest import run_cli
from ganzoo import LossSpec, ModelSpec, hookimpl
from ganzoo.errors import GanzooError
from ganzoo.registry import Registry, get_registry

PLUGINS = {
    # name: (distribution, version, module source)
    "demo": ("ganzoo-demo", "1.2.3", """
        from ganzoo import DatasetSpec, LossSpec, ModelSpec, hookimpl

        @hookimpl
        def ganzoo_register_models(register):
            register(ModelSpec(name="tinygan", summary="A demo model", paper="Nobody 2026",
                               generator="ganzoo.models.vanilla:Generator",
                               discriminator="ganzoo.models.vanilla:Discriminator", dataset="ring8"))

        @hookimpl
        def ganzoo_register_losses(register):
            register(LossSpec(name="hinge", summary="A second hinge", target="ganzoo.objectives.losses:Hinge"))
    """),
    "brokenimport": ("ganzoo-brokenimport", "0.1", """
        import this_module_does_not_exist
    """),
    "raiser": ("ganzoo-raiser", "0.2", """
        from ganzoo import LossSpec, hookimpl

        @hookimpl
        def ganzoo_register_losses(register):
            register(LossSpec(name="halfway", summary="never committed", target="ganzoo.objectives.losses:Hinge"))
            raise RuntimeError("boom in hook")
    """),
    "typo": ("ganzoo-typo", "0.3", """
        from ganzoo import hookimpl

        @hookimpl
        def ganzoo_register_model(register):
            pass
    """),
}


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    """Build each plugin as a real package (pyproject + entry point) and pip-install it into one folder."""
    root = tmp_path_factory.mktemp("plugins")
    target = root / "site"
    sources = []
    for name, (dist, version, body) in PLUGINS.items():
        pkg = root / dist
        mod = f"ganzoo_{name}"
        (pkg / mod).mkdir(parents=True)
        (pkg / mod / "__init__.py").write_text(textwrap.dedent(body))
        (pkg / "pyproject.toml").write_text(textwrap.dedent(f"""
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{dist}"
            version = "{version}"

            [project.entry-points.ganzoo]
            {name} = "{mod}"

            [tool.setuptools]
            packages = ["{mod}"]
        """))
        sources.append(str(pkg))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), *sources], check=True, capture_output=True)
    return str(target)


def cli_json(plugin_path, *args, env=None):
    result = run_cli(*args, "--json", env={"PYTHONPATH": plugin_path, **(env or {})})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_builtins_visible():
    reg = get_registry()
    assert [s.name for s in reg.list("model", "vanilla")] == ["vanilla"]
    assert {"minimax", "nonsaturating", "wasserstein", "lsgan", "hinge"} <= {s.name for s in reg.list("loss")}
    assert {"ring8", "grid25", "digits", "mnist5k", "mnist", "fashion-mnist", "cifar10", "folder"} <= {
        s.name for s in reg.list("dataset")}
    assert reg.model("ganzoo:vanilla").plugin == "ganzoo"


def test_unknown_name_suggests():
    with pytest.raises(GanzooError, match=r"unknown model 'vanila' — did you mean 'vanilla'\? See: ganzoo list models"):
        get_registry().model("vanila")
    with pytest.raises(GanzooError, match="unknown loss 'zzz'. See: ganzoo list losses"):
        get_registry().loss("zzz")


def test_wildcards():
    reg = get_registry()
    assert [s.name for s in reg.list("dataset", "*mnist*")] == ["fashion-mnist", "mnist", "mnist5k", "stacked-mnist"]
    assert [s.name for s in reg.list("loss", "h*")] == ["hinge"]
    assert reg.list("model", "nothing*") == []


def _plugin_module(name, **hooks):
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, hookimpl(fn))
    return module


def test_in_process_plugin_is_all_or_nothing():
    reg = Registry(load_entry_points=False)

    def good(register):
        register(LossSpec(name="mine", summary="s", target="ganzoo.objectives.losses:Hinge"))

    def bad(register):
        register(LossSpec(name="partial", summary="s", target="ganzoo.objectives.losses:Hinge"))
        raise ValueError("halfway")

    reg.add_plugin(_plugin_module("goodplug", ganzoo_register_losses=good), "goodplug")
    reg.add_plugin(_plugin_module("badplug", ganzoo_register_losses=bad), "badplug")
    assert reg.loss("mine").qualified_name == "goodplug:mine"
    assert not reg.list("loss", "partial")
    assert reg.failures[-1].plugin == "badplug" and "halfway" in reg.failures[-1].error


def test_register_rejects_wrong_type():
    reg = Registry(load_entry_points=False)
    reg.add_plugin(_plugin_module("wrong", ganzoo_register_models=lambda register: register("vanilla")), "wrong")
    assert "expects a ModelSpec" in reg.failures[-1].error


def test_spec_validation():
    with pytest.raises(ValueError, match="needs both"):
        ModelSpec(name="x", summary="s", generator="a:b")
    with pytest.raises(ValueError, match="without ':'"):
        LossSpec(name="a:b", summary="s", target="x:y")


def test_third_party_plugin_listed_with_version(plugin_path):
    rows, stderr = cli_json(plugin_path, "list", "models")
    demo = [r for r in rows if r["name"] == "tinygan"]
    assert demo and demo[0]["plugin"] == "demo" and demo[0]["version"] == "1.2.3" and demo[0]["id"] == "demo:tinygan"
    # one warning line per broken plugin, the listing still works
    assert "plugin 'brokenimport' (ganzoo-brokenimport) was skipped: import failed" in stderr
    assert "plugin 'raiser' (ganzoo-raiser) was skipped: ganzoo_register_losses failed with RuntimeError: boom" in stderr
    assert "did you mean 'ganzoo_register_models'" in stderr


def test_broken_plugins_reported(plugin_path):
    report, _ = cli_json(plugin_path, "plugins")
    failed = {f["plugin"]: f for f in report["failed"]}
    assert failed["brokenimport"]["phase"] == "import" and "ModuleNotFoundError" in failed["brokenimport"]["error"]
    assert failed["raiser"]["phase"] == "ganzoo_register_losses"
    assert failed["typo"]["phase"] == "registration"
    ok = {p["name"]: p for p in report["plugins"]}
    assert ok["demo"]["version"] == "1.2.3" and ok["demo"]["distribution"] == "ganzoo-demo"
    assert "ganzoo_register_models" in ok["demo"]["hooks"]
    rows, _ = cli_json(plugin_path, "list", "losses")
    assert "halfway" not in {r["name"] for r in rows}  # the raising plugin registered nothing


def test_name_collision_names_both(plugin_path):
    rows, _ = cli_json(plugin_path, "list", "losses", "hinge")
    assert sorted(r["id"] for r in rows) == ["demo:hinge", "ganzoo:hinge"]
    code = "from ganzoo.registry import get_registry; get_registry().loss('hinge')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**__import__("os").environ, "PYTHONPATH": plugin_path})
    assert "registered by 2 plugins: 'ganzoo' (ganzoo:hinge), 'demo' (demo:hinge)" in result.stderr
    ok = subprocess.run([sys.executable, "-c", code.replace("'hinge'", "'demo:hinge'")], capture_output=True,
                        env={**__import__("os").environ, "PYTHONPATH": plugin_path})
    assert ok.returncode == 0


def test_allow_and_block_lists(plugin_path):
    rows, stderr = cli_json(plugin_path, "list", "models", env={"GANZOO_DISABLE_PLUGINS": "demo,brokenimport,raiser,typo"})
    assert "tinygan" not in {r["name"] for r in rows} and stderr == ""
    rows, _ = cli_json(plugin_path, "list", "models", env={"GANZOO_PLUGINS": "demo"})
    assert "tinygan" in {r["name"] for r in rows}
    report, _ = cli_json(plugin_path, "plugins", env={"GANZOO_PLUGINS": ""})
    assert [p["name"] for p in report["plugins"]] == ["ganzoo"]
    assert {"brokenimport", "demo", "raiser", "typo"} <= set(report["disabled"])  # and any plugin installed for real


def test_strict_mode_reraises_for_plugin_authors(plugin_path):
    result = run_cli("list", env={"PYTHONPATH": plugin_path, "GANZOO_STRICT_PLUGINS": "1"})
    assert result.returncode != 0 and "No module named 'this_module_does_not_exist'" in result.stderr
