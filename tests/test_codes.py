"""Latent codes (InfoGAN) after training: export, the torch-free runtime, ``sample`` /
``generate --code``, and ``bench`` / ``eval`` on a file with code inputs.

A tiny hand-written coded generator stands in for the zoo's models, so these tests pin
the contract (inputs named as the codes, ``ganzoo.codes`` metadata, shared numpy code
drawing) rather than one model's architecture. The run-directory side of ``ganzoo
sample`` is reached by replacing ``load_generator`` with one returning that generator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import assert_one_line_error, invoke
from torch import nn

from ganzoo.api import Code
from ganzoo.errors import GanzooError
from ganzoo.onnx import runtime
from ganzoo.onnx.export import export_generator, generator_metadata, read_metadata
from ganzoo.onnx.runtime import latents, resolve_codes, sample_codes

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-4
CODES = (Code("c1", "categorical", size=3), Code("c2", "continuous"), Code("c3", "continuous", low=0.0, high=2.0))
VALID = "c1 (categorical 0..2), c2 (continuous -1..1), c3 (continuous 0..2)"


class _Coded(nn.Module):
    """latent 4 + one-hot c1 + c2 + c3 (+ a label embedding) into one Linear: every input
    moves the output, so a code fed under the wrong name or dtype shows up as a difference."""

    def __init__(self, shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.output_shape = 4, num_classes, tuple(shape)
        self.codes = CODES
        self.embed = nn.Embedding(num_classes, 2) if num_classes else None
        self.net = nn.Linear(4 + 3 + 1 + 1 + (2 if num_classes else 0), int(np.prod(shape)))
        self.tanh = len(shape) == 3

    def forward(self, z, labels=None, codes=None):
        assert codes is not None and set(codes) == {"c1", "c2", "c3"}, codes
        parts = [z, nn.functional.one_hot(codes["c1"], 3).to(z.dtype), codes["c2"].unsqueeze(1),
                 codes["c3"].unsqueeze(1)]
        if self.embed is not None:
            parts.append(self.embed(labels))
        out = self.net(torch.cat(parts, dim=1))
        return (torch.tanh(out) if self.tanh else out).view(z.shape[0], *self.output_shape)


class _Plain(nn.Module):
    """An uncoded generator: called as G(z) only, as before codes existed."""

    def __init__(self) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.output_shape = 4, 0, (2,)
        self.net = nn.Linear(4, 2)

    def forward(self, z):
        return self.net(z)


def _make(shape: tuple[int, ...], num_classes: int = 0) -> nn.Module:
    torch.manual_seed(0)
    return _Coded(shape, num_classes).eval()


def _torch(G: nn.Module, z: np.ndarray, codes: dict[str, np.ndarray], labels=None) -> np.ndarray:
    with torch.no_grad():
        y = None if labels is None else torch.as_tensor(np.asarray(labels, dtype=np.int64))
        return G(torch.from_numpy(z), y, codes={k: torch.from_numpy(v) for k, v in codes.items()}).numpy()


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("codes")


@pytest.fixture(scope="module")
def image_G() -> nn.Module:
    return _make((1, 8, 8))


@pytest.fixture(scope="module")
def point_G() -> nn.Module:
    return _make((2,))


@pytest.fixture(scope="module")
def cond_G() -> nn.Module:
    return _make((2,), num_classes=5)


@pytest.fixture(scope="module")
def image_export(image_G, work):
    meta = generator_metadata(image_G, model="toycodes", dataset="digits", steps=0, weights="raw")
    return export_generator(image_G, work / "image.onnx", metadata=meta)


@pytest.fixture(scope="module")
def point_export(point_G, work):
    meta = generator_metadata(point_G, model="toycodes", dataset="ring8", steps=0, weights="raw")
    return export_generator(point_G, work / "points.onnx", metadata=meta, exporter="torchscript")


@pytest.fixture(scope="module")
def cond_export(cond_G, work):
    return export_generator(cond_G, work / "cond.onnx", metadata={"ganzoo.model": "toycodes"})


@pytest.fixture(scope="module")
def plain_export(work):
    torch.manual_seed(0)
    return export_generator(_Plain().eval(), work / "plain.onnx", exporter="torchscript")


@pytest.fixture()
def fake_run(monkeypatch, point_G, image_G):
    """``load_generator`` answering with the toy generators: run "points" or "images"."""
    import ganzoo.engine.build as build

    def load(run_dir, weights=None, checkpoint=None):
        if Path(run_dir).name == "images":
            return image_G, {"model": "toycodes", "dataset": "digits", "data": {"kind": "images"}}, "raw"
        return point_G, {"model": "toycodes", "dataset": "ring8", "data": {"kind": "points"}}, "raw"

    monkeypatch.setattr(build, "load_generator", load)


# -- export ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["image_export", "point_export", "cond_export"])
def test_coded_generators_export_and_verify(which, request):
    result = request.getfixturevalue(which)
    assert result.verified and set(result.max_abs_diff) == {1, 7, 64} and result.worst_diff <= TOL
    assert "codes c1, c2, c3" in result.summary()


def test_graph_inputs_are_named_and_typed_as_the_codes(image_export, cond_export):
    float_, int64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
    for result, want in [(image_export, [("z", float_), ("c1", int64), ("c2", float_), ("c3", float_)]),
                         (cond_export, [("z", float_), ("labels", int64), ("c1", int64), ("c2", float_),
                                        ("c3", float_)])]:
        graph = onnx.load(str(result.path)).graph
        inputs = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
        assert [(i.name, i.type.tensor_type.elem_type) for i in inputs] == want
        for value in inputs[1:]:  # every code input is [batch], batch dynamic
            dims = value.type.tensor_type.shape.dim
            assert len(dims) == 1 and not dims[0].HasField("dim_value")
        assert [o.name for o in graph.output] == ["images"]


def test_metadata_and_doc_string_describe_the_codes(image_export):
    meta = read_metadata(image_export.path)
    assert json.loads(meta["ganzoo.codes"]) == [c.as_dict() for c in CODES]
    doc = onnx.load(str(image_export.path)).doc_string
    assert "c1 int64 [batch] in [0, 3)" in doc and "c2 float32 [batch] ~ U(-1, 1)" in doc and "U(0, 2)" in doc


def test_uncoded_export_is_unchanged(plain_export):
    """No ganzoo.codes key, only z as input, G called as G(z) (it accepts nothing else)."""
    assert "ganzoo.codes" not in generator_metadata(_Plain())
    assert "ganzoo.codes" not in read_metadata(plain_export.path)
    graph = onnx.load(str(plain_export.path)).graph
    assert [i.name for i in graph.input] == ["z"] and plain_export.worst_diff <= TOL
    assert "z[4] -> 2)" in plain_export.summary() and "codes" not in onnx.load(str(plain_export.path)).doc_string
    assert runtime.load(plain_export.path, provider="cpu").codes == []


def test_bad_code_declarations_are_refused(tmp_path):
    G = _make((2,))
    G.codes = (Code("z", "continuous"),)
    with pytest.raises(GanzooError, match="clash"):
        export_generator(G, tmp_path / "x.onnx")
    G.codes = ({"name": "c1"},)
    with pytest.raises(GanzooError, match="ganzoo.api.Code"):
        export_generator(G, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


# -- runtime --------------------------------------------------------------------------------------
def test_runtime_reads_the_codes(image_export, cond_export):
    G = runtime.load(image_export.path, provider="cpu")
    assert G.codes == [c.as_dict() for c in CODES]
    assert "c1 (categorical 0..2)" in repr(G)
    assert runtime.load(cond_export.path, provider="cpu").num_classes == 5


def test_sample_codes_is_seeded_per_code_and_leaves_latents_alone():
    a, b = sample_codes(CODES, 50, seed=3), sample_codes([c.as_dict() for c in CODES], 50, seed=3)
    assert set(a) == {"c1", "c2", "c3"} and all(np.array_equal(a[k], b[k]) for k in a)
    assert a["c1"].dtype == np.int64 and set(np.unique(a["c1"])) <= {0, 1, 2} and len(np.unique(a["c1"])) == 3
    assert a["c2"].dtype == np.float32 and a["c2"].min() >= -1 and a["c2"].max() <= 1
    assert a["c3"].min() >= 0 and a["c3"].max() <= 2 and not np.allclose(a["c2"], a["c3"] - 1)
    short = sample_codes(CODES, 10, seed=3)
    assert all(np.array_equal(short[k], a[k][:10]) for k in a)  # first k of n equal k
    assert not np.array_equal(sample_codes(CODES, 50, seed=4)["c2"], a["c2"])
    only_c2 = sample_codes(CODES[1:2], 50, seed=3)["c2"]
    assert np.array_equal(only_c2, a["c2"])  # one code's draws do not depend on the others
    assert np.array_equal(latents(5, 4, 3), np.random.default_rng(3).standard_normal((5, 4), dtype=np.float32))
    assert sample_codes([], 5, seed=3) == {} and sample_codes(None, 5) == {}


def test_default_codes_come_from_the_seed(image_export, image_G):
    G = runtime.load(image_export.path, provider="cpu")
    out = G.sample(12, seed=5)
    assert np.array_equal(out, G.sample(12, seed=5)) and not np.array_equal(out, G.sample(12, seed=6))
    want = _torch(image_G, latents(12, 4, 5), sample_codes(CODES, 12, 5))
    assert np.abs(out - want).max() <= TOL
    assert np.array_equal(G.run(latents(12, 4, 5), codes=sample_codes(CODES, 12, 5)), out)


def test_fixed_and_swept_codes_match_torch(point_export, point_G, cond_export, cond_G):
    G = runtime.load(point_export.path, provider="cpu")
    z = latents(6, 4, 0)
    out = G.sample(6, codes={"c1": 2, "c2": np.linspace(-1, 1, 6), "c3": 3.5}, seed=0)  # 3.5: extrapolation
    want = _torch(point_G, z, {"c1": np.full(6, 2), "c2": np.linspace(-1, 1, 6).astype(np.float32),
                               "c3": np.full(6, 3.5, np.float32)})
    assert np.abs(out - want).max() <= TOL
    swept = G.sample(6, codes={"c1": [0, 1, 2, 0, 1, 2]}, seed=0)
    drawn = sample_codes(CODES, 6, 0)
    want = _torch(point_G, z, {**drawn, "c1": np.array([0, 1, 2, 0, 1, 2])})
    assert np.abs(swept - want).max() <= TOL  # codes left out: from the prior, same seed
    C = runtime.load(cond_export.path, provider="cpu")
    out = C.sample(4, labels=[4, 3, 2, 1], codes={"c1": 1.0}, seed=2)  # 1.0: an integral float is an integer
    want = _torch(cond_G, latents(4, 4, 2), {**sample_codes(CODES, 4, 2), "c1": np.ones(4, np.int64)}, [4, 3, 2, 1])
    assert np.abs(out - want).max() <= TOL


@pytest.mark.parametrize("codes, expected", [
    ({"c9": 1}, "has no code c9; its codes are " + VALID),
    ({"c1": 3}, "out of range 0..2"),
    ({"c1": -1}, "out of range 0..2"),
    ({"c1": 1.5}, "code c1 must be integers in 0..2"),
    ({"c1": "one"}, "code c1 must be integers in 0..2"),
    ({"c1": True}, "code c1 must be integers"),
    ({"c2": float("nan")}, "code c2 must be finite numbers"),
    ({"c3": [0.0, float("inf"), 0.0]}, "code c3 must be finite numbers"),
    ({"c2": "x"}, "code c2 must be finite numbers"),
    ({"c2": [0.0, 1.0]}, "got 2 values of code c2 for 3 samples"),
    ([("c1", 1)], "codes must be a dict"),
])
def test_bad_codes_are_one_line_errors(image_export, codes, expected):
    G = runtime.load(image_export.path, provider="cpu")
    with pytest.raises(GanzooError) as info:
        G.sample(3, codes=codes, seed=0)
    message = str(info.value)
    assert expected in message and "\n" not in message, message
    if "out of range" in expected or "must be" in expected:
        assert VALID in message


def test_codes_on_an_uncoded_model_are_refused(plain_export):
    with pytest.raises(GanzooError, match="takes no latent codes"):
        runtime.load(plain_export.path, provider="cpu").sample(2, codes={"c1": 0})
    with pytest.raises(GanzooError, match="non-negative"):
        resolve_codes(CODES, None, 2, seed=-1)


def test_files_whose_code_inputs_disagree_with_the_metadata_are_refused(image_export, work):
    model = onnx.load(str(image_export.path))
    meta = {p.key: p for p in model.metadata_props}
    meta["ganzoo.codes"].value = json.dumps([c.as_dict() for c in CODES[:2]])  # c3 undeclared
    onnx.save(model, str(work / "undeclared.onnx"))
    with pytest.raises(GanzooError, match="inputs this runtime cannot feed: c3"):
        runtime.load(work / "undeclared.onnx", provider="cpu")
    meta["ganzoo.codes"].value = json.dumps([{"name": "c1", "kind": "continuous", "low": 0, "high": 1},
                                             *[c.as_dict() for c in CODES[1:]]])
    onnx.save(model, str(work / "mistyped.onnx"))
    with pytest.raises(GanzooError, match="continuous code 'c1' must be tensor\\(float\\)"):
        runtime.load(work / "mistyped.onnx", provider="cpu")
    meta["ganzoo.codes"].value = "[{\"name\": \"c1\"}"
    onnx.save(model, str(work / "corrupt.onnx"))
    with pytest.raises(GanzooError, match="corrupt ganzoo.codes"):
        runtime.load(work / "corrupt.onnx", provider="cpu")


# -- generate / sample --code -------------------------------------------------------------------------
def _npy(*args) -> np.ndarray:
    path = Path(args[args.index("--npy") + 1])
    code, output = invoke("generate", *args)
    assert code == 0, output
    return np.load(path)


def test_generate_fixed_codes(point_export, point_G, tmp_path):
    out = _npy(point_export.path, "-n", "5", "--code", "c1=2", "--code", "c3=0.25", "--seed", "1",
               "--npy", tmp_path / "a.npy")
    want = _torch(point_G, latents(5, 4, 1), {**sample_codes(CODES, 5, 1), "c1": np.full(5, 2),
                                              "c3": np.full(5, 0.25, np.float32)})
    assert out.shape == (5, 2) and np.abs(out - want).max() <= TOL


def test_generate_sweeps_rows_and_columns(point_export, point_G, tmp_path):
    out = _npy(point_export.path, "-n", "7", "--code", "c1=all", "--npy", tmp_path / "rows.npy")
    assert out.shape == (6, 2)  # one row per value of c1, 7 // 3 = 2 samples each
    want = _torch(point_G, latents(6, 4, 0), {**sample_codes(CODES, 6, 0), "c1": np.array([0, 0, 1, 1, 2, 2])})
    assert np.abs(out - want).max() <= TOL

    out = _npy(point_export.path, "-n", "9", "--code", "c1=all", "--code", "c2=-1:1", "--code", "c3=1",
               "--npy", tmp_path / "grid.npy")
    c1 = np.repeat([0, 1, 2], 3)
    c2 = np.tile(np.array([-1.0, 0.0, 1.0], np.float32), 3)
    want = _torch(point_G, latents(9, 4, 0), {"c1": c1, "c2": c2, "c3": np.ones(9, np.float32)})
    assert np.abs(out - want).max() <= TOL

    out = _npy(point_export.path, "-n", "10", "--code", "c2=0:1", "--npy", tmp_path / "cols.npy")
    assert out.shape == (8, 2)  # only a column sweep: 4 columns (square-ish), 2 rows
    c2 = np.tile(np.array([0, 1 / 3, 2 / 3, 1], np.float32), 2)
    want = _torch(point_G, latents(8, 4, 0), {**sample_codes(CODES, 8, 0), "c2": c2})
    assert np.abs(out - want).max() <= TOL


def test_generate_combines_labels_and_codes(cond_export, cond_G, tmp_path):
    out = _npy(cond_export.path, "-n", "4", "--labels", "3", "--code", "c1=1", "--npy", tmp_path / "a.npy")
    want = _torch(cond_G, latents(4, 4, 0), {**sample_codes(CODES, 4, 0), "c1": np.ones(4, np.int64)}, [3] * 4)
    assert np.abs(out - want).max() <= TOL
    # labels default to 'all' for conditional models: rows are (label, c1) pairs, label slowest
    out = _npy(cond_export.path, "-n", "30", "--code", "c1=all", "--npy", tmp_path / "b.npy")
    labels, c1 = np.repeat(np.arange(5), 6), np.tile(np.repeat(np.arange(3), 2), 5)
    want = _torch(cond_G, latents(30, 4, 0), {**sample_codes(CODES, 30, 0), "c1": c1}, labels)
    assert out.shape == (30, 2) and np.abs(out - want).max() <= TOL


def test_generate_image_grid_with_codes(image_export, tmp_path):
    from PIL import Image

    code, output = invoke("generate", image_export.path, "-n", "12", "--code", "c1=all", "--code", "c2=-1:1",
                          "-o", tmp_path / "grid.png")
    assert code == 0 and output.startswith("wrote 12 samples"), output
    width, height = Image.open(tmp_path / "grid.png").size
    assert width > height  # 3 rows of 4


def test_sample_and_generate_give_the_same_samples(fake_run, image_export, point_export, tmp_path, monkeypatch):
    import ganzoo.grid as grid

    seen: list[np.ndarray] = []
    monkeypatch.setattr(grid, "save_scatter", lambda out, path, **kw: seen.append(np.asarray(out)))
    monkeypatch.setattr(grid, "save_image_grid", lambda out, path, nrow=None, **_: seen.append((np.asarray(out), nrow)))
    for args in (["-n", "9", "--seed", "4"], ["-n", "7", "--code", "c1=all", "--code", "c3=0:2"],
                 ["--code", "c2=0.5", "-n", "3", "--seed", "2"]):
        code, output = invoke("sample", tmp_path / "points", *args, "-o", tmp_path / "s.png")
        assert code == 0, output
        want = _npy(point_export.path, *args, "--npy", tmp_path / "g.npy")
        assert seen[-1].shape == want.shape and np.abs(seen[-1] - want).max() <= TOL, args
    code, output = invoke("sample", tmp_path / "images", "-n", "8", "--code", "c1=all", "-o", tmp_path / "s.png")
    assert code == 0 and output.startswith("wrote 6 samples"), output
    images, nrow = seen[-1]
    want = _npy(image_export.path, "-n", "8", "--code", "c1=all", "--npy", tmp_path / "g.npy")
    assert nrow == 2 and np.abs(images - want).max() <= TOL


@pytest.mark.parametrize("args, expected", [
    (["--code", "c1"], "--code wants NAME=VALUE such as c1=3, c1=all or c2=-1:1, got 'c1'; 'toycodes' takes " + VALID),
    (["--code", "=3"], "--code wants NAME=VALUE"),
    (["--code", "c1="], "--code wants NAME=VALUE"),
    (["--code", "c9=1"], "'toycodes' has no code 'c9'; its codes are " + VALID),
    (["--code", "c1=3"], "c1 is categorical: give an integer in 0..2 or c1=all; 'toycodes' takes " + VALID),
    (["--code", "c1=x"], "c1 is categorical"),
    (["--code", "c1=1.5"], "c1 is categorical"),
    (["--code", "c1=-1:1"], "c1 is categorical"),
    (["--code", "c2=all"], "c2 is continuous: give a finite number like c2=0.5 or a sweep LOW:HIGH like c2=-1:1"),
    (["--code", "c2=abc"], "c2 is continuous"),
    (["--code", "c2=nan"], "c2 is continuous"),
    (["--code", "c3=inf"], "c3 is continuous"),
    (["--code", "c2=1:"], "c2 is continuous"),
    (["--code", "c2=1:2:3"], "c2 is continuous"),
    (["--code", "c1=1", "--code", "c1=2"], "--code c1 is given twice"),
    (["--code", "c2=-1:1", "--code", "c3=0:2"], "one LOW:HIGH sweep fills the columns; fix c3 to one value"),
    (["--labels", "1", "--code", "c1=1"], "unconditional: drop --labels"),
])
@pytest.mark.parametrize("command", ["generate", "sample"])
def test_bad_code_options_are_one_line_errors(command, args, expected, point_export, fake_run, tmp_path):
    target = point_export.path if command == "generate" else tmp_path / "points"
    assert_one_line_error([command, target, *args, "-o", tmp_path / "x.png"], expected)
    assert not (tmp_path / "x.png").exists()


def test_code_on_an_uncoded_model_is_one_line_error(plain_export, tmp_path):
    assert_one_line_error(["generate", plain_export.path, "--code", "c1=1", "--npy", tmp_path / "x.npy"],
                          "takes no latent codes: drop --code")
    assert_one_line_error(["generate", plain_export.path, "--seed", "-1", "--npy", tmp_path / "x.npy"],
                          "--seed must be a non-negative integer")


@pytest.mark.parametrize("command", ["generate", "sample"])
def test_help_explains_code(command):
    code, output = invoke(command, "--help")
    assert code == 0 and "--code NAME=VALUE" in output and "c1=all" in output and "c2=-1:1" in output, output


# -- bench and eval ---------------------------------------------------------------------------------
def test_bench_feeds_codes_to_both_workers_alike(point_export, fake_run, tmp_path, capsys):
    from ganzoo.bench import ort_worker, torch_worker

    common = {"batch_sizes": [1, 3], "warmup": 1, "runs": 2, "max_time": 1.0, "threads": 1, "seed": 0,
              "workdir": str(tmp_path), "latent_dim": 4, "num_classes": 0}
    ort_worker.run({**common, "provider": "cpu", "ort_options": {}, "model": str(point_export.path),
                    "check_path": str(tmp_path / "ort.npy")})
    torch_worker.run({**common, "device": "cpu", "compile": False, "run_dir": str(tmp_path / "points"),
                      "weights": "raw", "check_path": str(tmp_path / "torch.npy")})
    events = capsys.readouterr().out
    assert events.count('"status": "ok"') == 4 and '"status": "error"' not in events, events
    assert np.abs(np.load(tmp_path / "ort.npy") - np.load(tmp_path / "torch.npy")).max() <= TOL


def test_bench_cli_on_a_coded_file(point_export):
    code, output = invoke("bench", point_export.path, "--no-torch", "--providers", "cpu", "--batch-sizes", "1,4",
                          "--runs", "3", "--warmup", "1", "--threads", "1", "-q")
    assert code == 0 and "ort-cpu" in output and "error" not in output.lower(), output


def test_eval_draws_the_same_codes_for_a_run_and_its_export(point_export, fake_run, tmp_path):
    from ganzoo.metrics.evaluate import _sample, open_onnx, open_run

    onnx_target, run_target = open_onnx(point_export.path), open_run(tmp_path / "points")
    assert onnx_target.codes == run_target.codes == [c.as_dict() for c in CODES]
    a, _, codes_a = _sample(onnx_target, 1500, seed=1)  # more than one generate batch
    b, _, codes_b = _sample(run_target, 1500, seed=1)
    assert codes_a.keys() == codes_b.keys() and all((codes_a[k] == codes_b[k]).all() for k in codes_a)
    assert a.shape == (1500, 2) and np.abs(a - b).max() <= TOL
    code, output = invoke("eval", point_export.path, "-n", "500", "-o", tmp_path / "eval.json")
    assert code == 0, output


# -- without torch ------------------------------------------------------------------------------------
NO_TORCH = textwrap.dedent("""
    import importlib.abc, sys
    class _NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision", "timm"):
                raise ImportError(f"importing {name} is blocked")
            return None
    sys.meta_path.insert(0, _NoTorch())
""")


def test_codes_work_without_torch(image_export, tmp_path):
    expected = runtime.load(image_export.path, provider="cpu").sample(6, codes={"c1": [0, 1, 2, 0, 1, 2]}, seed=3)
    np.save(tmp_path / "expected.npy", expected)
    code = NO_TORCH + textwrap.dedent(f"""
        import numpy as np
        from ganzoo.onnx import runtime
        G = runtime.load({str(image_export.path)!r}, provider="cpu")
        assert np.array_equal(G.sample(6, codes={{"c1": [0, 1, 2, 0, 1, 2]}}, seed=3), np.load("expected.npy"))
        from ganzoo.cli import cli
        cli.main(["generate", {str(image_export.path)!r}, "--code", "c1=all", "--code", "c2=-1:1", "-n", "9",
                  "-o", "grid.png", "--npy", "grid.npy"], prog_name="ganzoo", standalone_mode=False)
        assert np.load("grid.npy").shape == (9, 1, 8, 8)
        assert "torch" not in sys.modules
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr


# -- the zoo's InfoGAN, end to end ------------------------------------------------------------------
def test_infogan_run_sample_equals_its_export_generate(tmp_path, monkeypatch):
    """A real 2-step run: export with code inputs, and ``sample`` on the run directory
    draws exactly what ``generate`` draws from the export (latents and codes)."""
    from conftest import train_tiny

    from ganzoo.onnx.export import export_run
    from ganzoo.registry import get_registry

    if "infogan" not in {spec.name for spec in get_registry().list("model")}:
        pytest.skip("no infogan model registered")
    import ganzoo.grid as grid

    run = train_tiny("infogan", tmp_path / "infogan", dataset="digits")
    result = export_run(run, output=tmp_path / "infogan.onnx")
    assert result.verified and result.worst_diff <= TOL
    meta = read_metadata(result.path)
    assert [c["name"] for c in json.loads(meta["ganzoo.codes"])] == ["c1", "c2", "c3"]
    seen: list[np.ndarray] = []
    monkeypatch.setattr(grid, "save_image_grid", lambda out, path, nrow=None, **_: seen.append(np.asarray(out)))
    args = ["-n", "20", "--code", "c1=all", "--code", "c2=-1:1", "--seed", "3"]
    code, output = invoke("sample", run, *args, "-o", tmp_path / "s.png")
    assert code == 0 and output.startswith("wrote 20 samples"), output
    want = _npy(result.path, *args, "--npy", tmp_path / "g.npy")
    assert seen[-1].shape == want.shape == (20, 1, 8, 8) and np.abs(seen[-1] - want).max() <= TOL
