"""``ganzoo plugin new``: the generated package installs and passes its own tests.

The package is built and pip-installed for real (a wheel into a private ``--target``
folder put on PYTHONPATH, so the test environment itself is left untouched), and its
test suite, which runs the conformance kit, runs in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ganzoo.cli import cli
from ganzoo.scaffold import render


def _new(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["plugin", "new", *args])
    return result.exit_code, result.output


@pytest.mark.slow
def test_generated_plugin_passes_its_own_tests(tmp_path):
    code, output = _new("demo", "--dir", str(tmp_path))
    assert code == 0, output
    package = tmp_path / "ganzoo-demo"
    assert f"wrote {package}" in output and "pip install -e" in output
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                              "--target", str(site), str(package)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    assert (site / "ganzoo_demo-0.1.0.dist-info" / "entry_points.txt").read_text().split() == [
        "[ganzoo]", "demo", "=", "ganzoo_demo.plugin"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    listed = subprocess.run([sys.executable, "-m", "ganzoo", "list", "models", "demo"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=120)
    assert listed.returncode == 0 and "demo 0.1.0" in listed.stdout, listed.stdout + listed.stderr
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                           capture_output=True, text=True, env=env, cwd=package, timeout=600)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout
    assert "model:demo@ring8:onnx" in subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
        capture_output=True, text=True, env=env, cwd=package, timeout=120).stdout


def test_layout_and_no_placeholders():
    files = render("my-gan")
    assert sorted(files) == [".gitignore", "README.md", "ganzoo_my_gan/__init__.py", "ganzoo_my_gan/models.py",
                             "ganzoo_my_gan/plugin.py", "pyproject.toml", "tests/test_my_gan.py"]
    text = "\n".join(files.values())
    assert "{{" not in text and "TODO" not in text and "FIXME" not in text
    assert 'my-gan = "ganzoo_my_gan.plugin"' in files["pyproject.toml"]
    assert 'name="my-gan"' in files["ganzoo_my_gan/plugin.py"]
    assert "import torch" not in files["ganzoo_my_gan/plugin.py"]  # ganzoo list stays torch-free
    for path, source in files.items():
        if path.endswith(".py"):
            compile(source, path, "exec")


@pytest.mark.parametrize("name, message", [
    ("Demo", "is not valid: use lowercase letters"),
    ("my_gan", "is not valid"),
    ("9lives", "is not valid"),
    ("a--b", "is not valid"),
    ("x" * 41, "at most 40 characters"),
    ("ganzoo-extra", "must not start with 'ganzoo'"),
    ("vanilla", "a model named 'vanilla' is already registered; choose another name"),
])
def test_bad_names_are_one_line_errors(tmp_path, name, message):
    code, output = _new(name, "--dir", str(tmp_path))
    assert code == 2 and output.startswith("Error: ") and message in output, output
    assert len(output.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_never_overwrites(tmp_path):
    existing = tmp_path / "ganzoo-demo"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    code, output = _new("demo", "--dir", str(tmp_path))
    assert code == 2 and "already exists; remove it or pass another --dir (nothing was overwritten)" in output
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]
    file_dir = tmp_path / "a-file"
    file_dir.write_text("")
    code, output = _new("demo", "--dir", str(file_dir))
    assert code == 2 and "is a file; pass a folder" in output


def test_writes_into_a_new_folder_and_leaves_no_staging(tmp_path):
    target = tmp_path / "deep" / "er"
    code, output = _new("demo", "--dir", str(target))
    assert code == 0, output
    assert [p.name for p in target.iterdir()] == ["ganzoo-demo"]
    assert Path(target / "ganzoo-demo" / "tests" / "test_demo.py").is_file()


def test_the_translate_kind_writes_a_translation_model_the_kit_passes(tmp_path, monkeypatch):
    import importlib

    from ganzoo.registry import Registry
    from ganzoo.testing import model_checks

    code, output = _new("edges", "--dir", str(tmp_path), "--kind", "translate")
    assert code == 0, output
    package = tmp_path / "ganzoo-edges"
    text = "\n".join(p.read_text() for p in package.rglob("*") if p.is_file())
    assert "{{" not in text and 'task="translate"' in text and "ganzoo translate" in text
    monkeypatch.syspath_prepend(str(package))
    plugin = importlib.import_module("ganzoo_edges.plugin")
    try:
        registry = Registry(load_entry_points=False)
        registry.add_plugin(plugin, "edges", version="0.1.0")
        for check in model_checks("edges", registry, batch_size=4, options={"width": 8}):
            check()
        compile((package / "tests" / "test_edges.py").read_text(), "test_edges.py", "exec")
    finally:
        for name in [m for m in sys.modules if m.startswith("ganzoo_edges")]:
            del sys.modules[name]
    code, output = _new("other", "--dir", str(tmp_path), "--kind", "noise")
    assert code == 2 and "Invalid value for '--kind'" in output
