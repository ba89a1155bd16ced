"""``ganzoo export --int8``: onnxruntime's dynamic quantization, stamped in the metadata,
checked loosely against PyTorch, and run by the torch-free runtime like any export."""

import json

import numpy as np
import pytest
from conftest import assert_one_line_error, invoke, train_tiny

import ganzoo
from ganzoo.onnx import runtime
from ganzoo.onnx.export import read_metadata

pytest.importorskip("onnxruntime.quantization")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_tiny("cdcgan", tmp_path_factory.mktemp("int8") / "run", dataset="digits")


def test_int8_export_is_smaller_stamped_and_runs_without_torch(run, tmp_path):
    code, output = invoke("export", run, "-o", tmp_path / "fp32.onnx")
    assert code == 0, output
    code, output = invoke("export", run, "--int8", "-o", tmp_path / "int8.onnx")
    assert code == 0, output
    assert "int8" in output and "limit 0.5" in output
    small, big = tmp_path / "int8.onnx", tmp_path / "fp32.onnx"
    assert small.stat().st_size < 0.6 * big.stat().st_size
    meta = read_metadata(small)
    assert meta["ganzoo.precision"] == "int8" and json.loads(meta["ganzoo.class_names"])[7] == "7"
    G, F = runtime.load(str(small), provider="cpu"), runtime.load(str(big), provider="cpu")
    a, b = G.sample(16, seed=0, labels=7), F.sample(16, seed=0, labels=7)
    assert a.shape == b.shape and np.abs(a - b).max() <= 0.5 and not np.array_equal(a, b)


def test_default_name_sits_beside_the_fp32_file(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, output = invoke("export", run, "--int8")
    assert code == 0, output
    assert (tmp_path / "exports" / f"{run.name}.int8.onnx").is_file()


def test_int8_from_python_and_one_precision_at_a_time(run, tmp_path):
    path = ganzoo.export(run, tmp_path / "api.onnx", int8=True)
    assert read_metadata(path)["ganzoo.precision"] == "int8"
    assert_one_line_error(["export", run, "--int8", "--fp16", "-o", tmp_path / "both.onnx"],
                          "--fp16 and --int8 are two precisions; choose one")
    assert not (tmp_path / "both.onnx").exists()
