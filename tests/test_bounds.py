"""Every number a user can give has a documented range or a memory estimate checked before any
allocation or run folder (issue 28, item 3); empty strings are refused; large ``generate --npy``
requests stream in chunks."""

from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, invoke, train_tiny

from ganzoo import limits

ONNX = ROOT / "exports" / "examples" / "cgan-digits.onnx"  # conditional, 10 named classes, 1x28x28
HUGE = "99999999999999999999"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A 2-step ring8 run trained with the largest seed allowed."""
    return train_tiny("vanilla", tmp_path_factory.mktemp("bounds") / "run", dataset="ring8", seed=limits.SEED_MAX)


def _cases(run: Path, tmp: Path) -> list[tuple[list[str], str]]:
    onnx = str(ONNX)
    train = ["train", "vanilla", "--dataset", "ring8", "--out", str(tmp / "new")]
    image_train = ["train", "dcgan", "--out", str(tmp / "new")]
    return [
        # seeds
        ([*train, "--seed", "-1"], "--seed must be a non-negative integer, at most 4,294,967,295"),
        ([*train, "--seed", HUGE], "--seed must be a non-negative integer, at most 4,294,967,295"),
        ([*train, "--seed", str(2**63)], "--seed must be a non-negative integer"),
        (["sample", run, "--seed", "-1"], "--seed must be a non-negative integer"),
        (["generate", onnx, "--seed", HUGE], "--seed must be a non-negative integer"),
        (["eval", run, "--seed", str(2**32)], "--seed must be a non-negative integer"),
        # training numbers
        ([*train, "--threads", "100000"], "--threads must be a non-negative integer, at most"),
        ([*train, "--threads", "-1"], "--threads must be a positive integer"),
        ([*image_train, "--image-size", "20000"], "--image-size must be at least 4 and at most 1,024"),
        ([*image_train, "--image-size", "2"], "--image-size must be at least 4 and at most 1,024"),
        ([*train, "--batch-size", "100000"], "--batch-size must be at least 1 and at most 65,536"),
        ([*train, "--steps", HUGE], "--steps must be at least 1 and at most 1,000,000,000"),
        ([*train, "--latent-dim", "1000000000"], "--latent-dim must be at least 1 and at most 65,536"),
        ([*train, "--n-critic", "1000000"], "--n-critic must be at least"),
        ([*train, "--ckpt-every", HUGE], "--ckpt-every must be at least"),
        ([*train, "--workers", "100000"], "--workers must be a non-negative integer, at most"),
        (["train", "vanilla", "--resume", run, "--steps", HUGE], "--steps must be at least"),
        (["train", "vanilla", "--resume", run, "--steps", "4", "--threads", "100000"],
         "--threads must be a non-negative integer, at most"),
        # sample counts, frames, codes
        (["sample", run, "-n", "10000000"], "--n must be at least 1 and at most 1,000,000"),
        (["sample", run, "-n", "0"], "--n must be at least"),
        (["generate", onnx, "-n", "10000001", "--npy", str(tmp / "x.npy")],
         "--n must be at least 1 and at most 10,000,000"),
        (["generate", onnx, "-n", "1000000", "-o", str(tmp / "g.png")], "more than the 89,478,485 Pillow opens"),
        (["generate", onnx, "--interpolate", "1000000"], "--interpolate must be at least 2 and at most 1,000"),
        (["generate", onnx, "--interpolate", "1"], "--interpolate must be at least 2 and at most 1,000"),
        (["generate", onnx, "--interpolate", "1000", "-n", "4000", "-o", str(tmp / "w.gif")],
         "1,000 frame(s) of 4,000 samples"),
        (["generate", onnx, "--latent-dim", HUGE], "--latent-dim must be at least"),
        (["eval", run, "-n", "100000000"], "--n must be at least 1 and at most 1,000,000"),
        (["eval", run, "-n", "0"], "--n must be at least"),
        # bench and demo
        (["bench", onnx, "--threads", "100000"], "--threads must be at least 1 and at most"),
        (["bench", onnx, "--threads", "0"], "--threads must be an integer >= 1"),
        (["bench", onnx, "--runs", HUGE], "--runs must be a non-negative integer, at most 100,000"),
        (["bench", onnx, "--warmup", "100001"], "--warmup must be a non-negative integer, at most 100,000"),
        (["bench", onnx, "--max-time", "inf"], "--max-time must be at most 3,600 seconds"),
        (["bench", onnx, "--max-time", "nan"], "--max-time must be at most"),
        (["demo", onnx, "--port", HUGE], "--port must lie in 0..65535"),
        # empty strings
        ([*train[:-2], "--out", ""], "--out is empty"),
        (["train", "vanilla", "--resume", ""], "--resume is empty"),
        (["train", "vanilla", "--dataset", ""], "--dataset is empty"),
        (["sample", run, "-o", ""], "--output is empty"),
        (["sample", ""], "RUN_DIR is empty"),
        (["generate", onnx, "--npy", ""], "--npy is empty"),
        (["generate", onnx, "--labels", ""], "--labels is empty"),
        (["eval", run, "-o", ""], "--output is empty"),
        (["export", run, "-o", ""], "--output is empty"),
        (["bench", onnx, "--json", ""], "--json is empty"),
        (["demo", onnx, "--host", ""], "--host is empty"),
        (["plugin", "new", "x", "--dir", ""], "--dir is empty"),
    ]


def test_every_bad_number_and_empty_string_is_one_line_before_any_work(run, tmp_path):
    """One test over all cases (not parametrised): the tiny run behind them is trained once."""
    for args, expected in _cases(run, tmp_path):
        assert_one_line_error(args, expected)
    assert not (tmp_path / "new").exists() and not any(tmp_path.glob("*.png")), list(tmp_path.iterdir())
    assert not (tmp_path / "x.npy").exists()


@pytest.mark.parametrize("value", ["1e9", "-2000", "1001:1002"])
def test_continuous_code_values_are_bounded(value, monkeypatch):
    from ganzoo.sampling import parse_codes

    codes = [{"name": "c2", "kind": "continuous", "low": -1.0, "high": 1.0}]
    with pytest.raises(Exception, match="continuous code values must lie in -1000..1000"):
        parse_codes((f"c2={value}",), codes, "toy")
    assert parse_codes(("c2=-3:3",), codes, "toy")[2] == ("c2", -3.0, 3.0)


def test_code_sweeps_are_counted_before_any_list_is_built():
    from ganzoo.errors import GanzooError
    from ganzoo.sampling import layout

    codes = [{"name": f"c{i}", "kind": "categorical", "size": 100} for i in range(4)]
    sweeps = tuple(f"c{i}=all" for i in range(4))  # 100^4 rows x 10 classes
    with pytest.raises(GanzooError, match="come to 1,000,000,000 samples"):
        layout(None, sweeps, 10, codes, 64, "toy")
    n, labels, given, nrow = layout(None, sweeps[:1], 10, codes, 1000, "toy")
    assert n == 1000 and nrow == 1 and len(given["c0"]) == 1000


def test_memory_estimates_refuse_what_cannot_fit(monkeypatch):
    from ganzoo.errors import GanzooError

    monkeypatch.setattr(limits, "available_memory", lambda: 100 * 2**20)  # 100 MiB
    with pytest.raises(GanzooError, match="needs about .* more than half"):
        limits.check_picture("--n", 10_000, (3, 64, 64))  # 10,000 x 3 x 64 x 64 x 4 = 491 MB of floats
    limits.check_picture("--n", 64, (3, 64, 64))
    with pytest.raises(GanzooError, match="a training step of 512 images of 256x256"):
        from ganzoo.engine.config import resolve

        resolve("dcgan", steps=1, batch_size=512, image_size=256, device="cpu")
    monkeypatch.setattr(limits, "available_memory", lambda: None)  # unknown: no estimate refuses
    limits.check_picture("--n", 10_000, (3, 64, 64))


def test_eval_refuses_samples_that_cannot_fit_before_drawing_one(run, monkeypatch):
    import ganzoo.metrics.evaluate as evaluate

    monkeypatch.setattr(limits, "available_memory", lambda: 1000)
    monkeypatch.setattr(evaluate, "_sample", lambda *a, **k: pytest.fail("sampled before the memory check"))
    assert_one_line_error(["eval", run, "-n", "100000"], "scoring 100,000 samples of [2] needs about")


def test_the_largest_seed_trains_and_resumes(run):
    code, output = invoke("train", "vanilla", "--resume", run, "--steps", "3", "--device", "cpu", "-q")
    assert code == 0 and "done: 3 steps" in output, output


def test_generate_npy_streams_in_chunks_with_the_same_samples(tmp_path, monkeypatch):
    import ganzoo.cli as cli
    from ganzoo.onnx import runtime

    whole = tmp_path / "whole.npy"
    code, output = invoke("generate", ONNX, "-n", "23", "--labels", "3", "--seed", "5", "--npy", whole)
    assert code == 0 and output.startswith("wrote 23 samples"), output
    calls: list[int] = []
    real_run = runtime.Generator.run

    def spy(self, z, *args, **kwargs):
        calls.append(len(z))
        return real_run(self, z, *args, **kwargs)

    monkeypatch.setattr(runtime.Generator, "run", spy)
    monkeypatch.setattr(cli, "STREAM_CHUNK", 5)
    streamed = tmp_path / "streamed.npy"
    code, output = invoke("generate", ONNX, "-n", "23", "--labels", "3", "--seed", "5", "--npy", streamed)
    assert code == 0, output
    assert calls == [5, 5, 5, 5, 3]  # never more than one chunk of outputs at a time
    a, b = np.load(whole), np.load(streamed)
    assert a.shape == b.shape == (23, 1, 28, 28) and np.abs(a - b).max() <= 1e-5
    assert not list(tmp_path.glob(".*.part"))


def test_generate_npy_larger_than_the_disk_is_refused_before_writing(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    assert_one_line_error(["generate", ONNX, "-n", "1000", "--npy", tmp_path / "big.npy"],
                          "1,000 samples of [1, 28, 28] take 3.1 MB, more than the 1.0 KB free there")
    assert list(tmp_path.iterdir()) == []
