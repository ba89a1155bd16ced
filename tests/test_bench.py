"""``ganzoo bench`` (issue 6): end to end on a tiny model, the JSON schema, skipped
providers, bad arguments. No timing assertions: speed targets live in benchmarks/.

Runs train 2 steps on the bundled 8x8 digits; every bench call uses few runs and the
CPU provider plus whatever else a test names.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import assert_one_line_error as _one_line_error
from conftest import invoke as _cli
from conftest import train_tiny
from ganzoo.bench import SCHEMA, parse_batch_sizes, parse_providers
from ganzoo.errors import GanzooError

REPO = Path(__file__).resolve().parents[1]
FAST = ["--runs", "3", "--warmup", "1", "--threads", "1", "-q"]


def _train(out: Path, seed: int = 0, model: str = "vanilla") -> Path:
    return train_tiny(model, out, dataset="digits", seed=seed)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench")


@pytest.fixture(scope="module")
def run_dir(work) -> Path:
    return _train(work / "vanilla-digits")


@pytest.fixture(scope="module")
def onnx_file(work, run_dir) -> Path:
    from ganzoo.onnx.export import export_run

    return export_run(run_dir, output=work / "vanilla-digits.onnx").path


# -- end to end ------------------------------------------------------------------------------------
def test_bench_onnx_file_with_torch_and_json_schema(onnx_file, work):
    out = work / "bench.json"
    code, output = _cli("bench", onnx_file, "--batch-sizes", "1,3", "--providers", "cpu", "--json", out, *FAST)
    assert code == 0, output
    assert "ort-cpu" in output and "torch-cpu" in output, output
    assert "output check (ok)" in output, output
    data = json.loads(out.read_text())
    assert data["schema"] == SCHEMA
    assert set(data) >= {"schema", "created", "seconds", "model", "settings", "machine", "backends", "results", "check"}
    assert data["model"]["name"] == "vanilla" and data["model"]["latent_dim"] > 0
    assert data["model"]["run_dir"] and Path(data["model"]["run_dir"]).name == "vanilla-digits"  # found via ganzoo.run
    settings = data["settings"]
    assert settings["batch_sizes"] == [1, 3] and settings["providers"] == ["cpu"] and settings["threads"] == 1
    machine = data["machine"]
    assert {"cpu", "cores", "cores_usable", "gpus", "versions", "load_average"} <= set(machine)
    assert {"onnxruntime", "python", "ganzoo"} <= {k.split("-")[0] if k.startswith("onnxruntime") else k
                                                    for k in machine["versions"]}
    assert [b["name"] for b in data["backends"]] == ["ort-cpu", "torch-cpu"]
    assert all(b["status"] == "ok" for b in data["backends"]), data["backends"]
    assert data["backends"][0]["info"]["provider"] == "CPUExecutionProvider"
    rows = {(r["backend"], r["batch"]): r for r in data["results"]}
    assert set(rows) == {("ort-cpu", 1), ("ort-cpu", 3), ("torch-cpu", 1), ("torch-cpu", 3)}
    for row in rows.values():
        assert row["status"] == "ok" and row["runs"] == 3
        assert 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
        assert row["images_per_s"] == pytest.approx(row["batch"] * 1000 / row["p50_ms"], rel=1e-3)
        assert row["peak_mem_mb"] is None or row["peak_mem_mb"] >= 0
    check = data["check"]
    assert check["ok"] and check["reference"] == "torch-cpu" and check["diffs"]["ort-cpu"] <= 1e-4


def test_bench_conditional_model_feeds_labels_to_both_backends(work):
    run = _train(work / "cgan-digits", model="cgan")
    out = work / "bench-cgan.json"
    code, output = _cli("bench", run, "--batch-sizes", "2", "--providers", "cpu", "--json", out, *FAST)
    assert code == 0, output
    data = json.loads(out.read_text())
    assert data["model"]["num_classes"] == 10
    assert {(r["backend"], r["status"]) for r in data["results"]} == {("ort-cpu", "ok"), ("torch-cpu", "ok")}
    assert data["check"]["ok"] and data["check"]["diffs"]["ort-cpu"] <= 1e-4


def test_bench_run_directory_exports_first(run_dir, work):
    out = work / "bench-run.json"
    code, output = _cli("bench", run_dir, "--batch-sizes", "2", "--providers", "cpu", "--no-torch", "--json", out, *FAST)
    assert code == 0, output
    data = json.loads(out.read_text())
    assert [(r["backend"], r["batch"], r["status"]) for r in data["results"]] == [("ort-cpu", 2, "ok")]
    assert not any(p.suffix == ".onnx" for p in run_dir.iterdir())  # the export went to a temporary folder


def test_unavailable_providers_are_skipped_not_errors(onnx_file, work, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU for anyone, even on a machine that has one
    out = work / "skipped.json"
    code, output = _cli("bench", onnx_file, "--batch-sizes", "1", "--providers", "cpu,cuda,tensorrt", "--json", out,
                        *FAST)
    assert code == 0, output
    data = json.loads(out.read_text())
    status = {b["name"]: b for b in data["backends"]}
    assert status["ort-cpu"]["status"] == "ok"
    for name in ("ort-cuda", "ort-tensorrt", "torch-cuda"):
        assert status[name]["status"] == "skipped" and status[name]["reason"], status[name]
        assert f"skipped {name}: " in output
    assert {r["backend"] for r in data["results"]} == {"ort-cpu", "torch-cpu"}


def test_fp16_on_cpu_is_skipped_with_reason(onnx_file):
    code, output = _cli("bench", onnx_file, "--batch-sizes", "1", "--providers", "cpu", "--no-torch", "--fp16", *FAST)
    assert code == 0, output
    assert "skipped ort-cpu-fp16: fp16 is for GPU providers" in output


def test_torch_skipped_when_the_run_cannot_be_found(onnx_file, tmp_path):
    lonely = tmp_path / "far" / "away" / "model.onnx"
    lonely.parent.mkdir(parents=True)
    shutil.copy(onnx_file, lonely)
    code, output = _cli("bench", lonely, "--batch-sizes", "1", "--providers", "cpu", *FAST)
    assert code == 0, output
    assert "skipped torch-cpu: run 'vanilla-digits'" in output and "--run RUN_DIR" in output


def test_output_mismatch_is_an_error(onnx_file, work):
    other = _train(work / "other-seed", seed=7)  # different weights: PyTorch and the file disagree
    code, output = _cli("bench", onnx_file, "--run", other, "--batch-sizes", "1", "--providers", "cpu", *FAST)
    assert code == 2, output
    assert "MISMATCH" in output
    assert output.strip().splitlines()[-1].startswith("Error: output check failed: ort-cpu disagree")


# -- bad arguments: one line, exit 2 -------------------------------------------------------------------
@pytest.mark.parametrize("args, expected", [
    (["--batch-sizes", "0"], "--batch-sizes must be between 1 and"),
    (["--batch-sizes", "1,x"], "--batch-sizes takes positive integers"),
    (["--providers", "rocm"], "unknown provider 'rocm'"),
    (["--providers", "auto,cpu"], "--providers auto cannot be combined"),
    (["--runs", "0"], "--runs must be an integer >= 1"),
    (["--threads", "0"], "--threads must be an integer >= 1"),
    (["--max-time", "0"], "--max-time must be a positive number"),
])
def test_bad_arguments_are_one_line_errors(onnx_file, args, expected):
    _one_line_error(["bench", onnx_file, *args], expected)


def test_bad_targets_are_one_line_errors(work, onnx_file):
    _one_line_error(["bench", work / "missing.onnx"], "no such file or run directory")
    (work / "not-a-run").mkdir(exist_ok=True)
    _one_line_error(["bench", work / "not-a-run"], "not a ganzoo run (no config.json)")
    junk = work / "junk.onnx"
    junk.write_bytes(b"not a model")
    _one_line_error(["bench", junk, "--no-torch"], "is not an ONNX model onnxruntime can load")
    _one_line_error(["bench", onnx_file, "--run", work / "not-a-run"], "--run")


def test_parsers():
    assert parse_batch_sizes("64, 1,8,8") == [1, 8, 64]
    assert parse_batch_sizes([4, 2]) == [2, 4]
    assert parse_providers("auto") == ["cpu", "cuda", "tensorrt"]
    assert parse_providers("CUDAExecutionProvider,cpu") == ["cuda", "cpu"]
    with pytest.raises(GanzooError, match="empty"):
        parse_batch_sizes(" , ")


# -- the onnxruntime worker never imports torch ------------------------------------------------------------
NO_TORCH = textwrap.dedent("""
    import importlib.abc, sys
    class _NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision", "timm"):
                raise ImportError(f"importing {name} is blocked: the ORT bench worker must not need torch")
            return None
    sys.meta_path.insert(0, _NoTorch())
""")


def test_ort_worker_runs_without_torch(onnx_file, work):
    spec = {"backend": "ort-cpu", "provider": "cpu", "model": str(onnx_file), "batch_sizes": [2], "warmup": 1,
            "runs": 2, "max_time": 5, "threads": 1, "seed": 0, "workdir": str(work), "latent_dim": 0,
            "num_classes": 0, "check_path": str(work / "check-no-torch.npy")}
    from ganzoo.onnx import runtime

    spec["latent_dim"] = runtime.load(onnx_file, provider="cpu").latent_dim
    path = work / "spec-no-torch.json"
    path.write_text(json.dumps(spec))
    code = NO_TORCH + f"from ganzoo.bench.ort_worker import main\nsys.exit(main([{str(path)!r}]))\n"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line.split(" ", 1)[1]) for line in proc.stdout.splitlines() if line.startswith("@@ganzoo")]
    assert [e["event"] for e in events] == ["hello", "result", "done"], proc.stdout
    assert events[1]["status"] == "ok" and events[1]["runs"] == 2
    assert (work / "check-no-torch.npy").is_file()


# -- fp16 export for GPU providers ---------------------------------------------------------------------------
def test_fp16_export_is_verified_with_the_stated_tolerance(run_dir, onnx_file, work):
    import numpy as np

    from ganzoo.onnx import runtime
    from ganzoo.onnx.export import export_run
    from ganzoo.onnx.fp16 import FP16_TOLERANCE

    result = export_run(run_dir, output=work / "half.onnx", fp16=True)
    assert result.tolerance == FP16_TOLERANCE and result.worst_diff <= FP16_TOLERANCE
    assert "(limit 0.01)" in result.verification_line() and ", fp16;" in result.summary()
    half, full = runtime.load(result.path, provider="cpu"), runtime.load(onnx_file, provider="cpu")
    assert half.metadata["ganzoo.precision"] == "fp16" and "ganzoo.precision" not in full.metadata
    assert result.path.stat().st_size < 0.6 * onnx_file.stat().st_size  # the weights really are fp16
    a, b = half.sample(16, seed=3), full.sample(16, seed=3)
    assert a.dtype == np.float32 and a.shape == b.shape  # the I/O contract is unchanged
    assert float(np.abs(a - b).max()) <= FP16_TOLERANCE
