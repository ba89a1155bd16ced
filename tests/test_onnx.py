"""ONNX export, verification and the torch-free runtime (issue 5).

Fast and CPU-only: runs train 2 steps on the bundled 8x8 digits (or ring8 points), and
every check of the runtime's independence from torch runs in a subprocess where
importing torch raises.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from ganzoo.engine.build import load_generator
from conftest import assert_one_line_error as _one_line_error
from conftest import invoke as _cli
from conftest import train_tiny as _train
from ganzoo.errors import GanzooError
from ganzoo.onnx import METADATA_KEYS, runtime, session
from ganzoo.onnx.export import (
    VerificationError,
    export_generator,
    export_run,
    generator_metadata,
    read_metadata,
    verify_onnx,
)
from ganzoo.registry import get_registry

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-4

#: Tiny training runs: 8x8 digits for image models, ring8 for point models. A model that
#: cannot run on these gets its own overrides here.
TINY_OVERRIDES: dict[str, dict] = {}

#: Prepended to subprocess code: any import of torch (or what needs it) raises, and an
#: attempt that something swallowed still fails the process at exit.
NO_TORCH = textwrap.dedent("""
    import atexit, importlib.abc, os, sys
    _tried = []
    class _NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision", "timm"):
                _tried.append(name)
                raise ImportError(f"importing {name} is blocked: the ONNX runtime must not need torch")
            return None
    sys.meta_path.insert(0, _NoTorch())
    def _check():
        if _tried or "torch" in sys.modules:
            sys.stderr.write(f"TORCH IMPORT ATTEMPTED: {_tried}\\n"); sys.stderr.flush(); os._exit(3)
    atexit.register(_check)
""")


def _no_torch(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", NO_TORCH + textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def _tiny(name: str) -> dict:
    registry = get_registry()
    spec = registry.model(name)
    dataset, _ = registry.dataset(spec.dataset)
    points = dataset.shape is not None and len(dataset.shape) == 1
    return {"dataset": "ring8" if points else "digits", **TINY_OVERRIDES.get(name, {})}


class _TinyGenerator(nn.Module):
    """A small generator honouring the contract (docs/plugins.md §2), independent of the zoo's
    models as they evolve: label embedding, MLP with BatchNorm, Tanh for images."""

    def __init__(self, shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 16) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.output_shape = latent_dim, num_classes, tuple(shape)
        self.embed = nn.Embedding(num_classes, 8) if num_classes else None
        out = int(np.prod(shape))
        self.net = nn.Sequential(nn.Linear(latent_dim + (8 if num_classes else 0), 32), nn.BatchNorm1d(32), nn.ReLU(),
                                 nn.Linear(32, out), *([nn.Tanh()] if len(shape) == 3 else []))

    def forward(self, z, labels=None):
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(z).view(z.shape[0], *self.output_shape)


# -- fixtures: two tiny runs, their exports, a conditional generator --------------------------
@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def image_run(work) -> Path:
    return _train("vanilla", work / "vanilla-digits", dataset="digits", ema=False)


@pytest.fixture(scope="module")
def point_run(work) -> Path:
    return _train("vanilla", work / "vanilla-ring8", dataset="ring8", ema=False)


@pytest.fixture(scope="module")
def image_export(image_run, work):
    return export_run(image_run, output=work / "exports" / "images.onnx")


@pytest.fixture(scope="module")
def point_export(point_run, work):
    return export_run(point_run, output=work / "exports" / "points.onnx")


@pytest.fixture(scope="module")
def cond_generator() -> nn.Module:
    torch.manual_seed(0)
    G = _TinyGenerator((1, 8, 8), num_classes=10)
    G.net[1].running_mean.uniform_(-1, 1)  # BatchNorm statistics that matter once folded
    G.net[1].running_var.uniform_(0.5, 2)
    return G.eval()


@pytest.fixture(scope="module")
def cond_export(cond_generator, work):
    meta = generator_metadata(cond_generator, model="cvanilla", dataset="digits", steps=0, weights="raw")
    return export_generator(cond_generator, work / "exports" / "cond.onnx", metadata=meta)


@pytest.fixture(scope="module")
def no_metadata(image_export, work) -> Path:
    model = onnx.load(str(image_export.path))
    del model.metadata_props[:]
    path = work / "foreign.onnx"
    onnx.save(model, str(path))
    return path


# -- export and verification ------------------------------------------------------------------
@pytest.mark.parametrize("which", ["image_export", "point_export", "cond_export"])
def test_export_verifies_within_tolerance(which, request):
    result = request.getfixturevalue(which)
    assert result.verified and result.exporter == "dynamo" and result.fallback_reason is None
    assert list(result.max_abs_diff) == [1, 7, 64]
    assert all(0 <= d <= TOL for d in result.max_abs_diff.values()), result.max_abs_diff
    assert result.path.is_file() and result.size_bytes == result.path.stat().st_size
    assert not [p for p in result.path.parent.iterdir() if p.name.startswith(".")]  # no temporary left behind
    assert not result.path.with_name(result.path.name + ".data").exists()  # weights inside the file
    line = result.verification_line()
    assert "\n" not in line and "max|Δ|" in line and "@ batch 64" in line


def test_io_contract(image_export, cond_export):
    for result, names in ((image_export, ["z"]), (cond_export, ["z", "labels"])):
        model = onnx.load(str(result.path))
        assert [i.name for i in model.graph.input] == names
        assert [o.name for o in model.graph.output] == ["images"]
        z = model.graph.input[0].type.tensor_type
        assert z.elem_type == onnx.TensorProto.FLOAT
        assert z.shape.dim[0].dim_param and not z.shape.dim[0].HasField("dim_value")  # dynamic batch
        if len(names) == 2:
            assert model.graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.INT64
        out = model.graph.output[0].type.tensor_type
        assert out.elem_type == onnx.TensorProto.FLOAT and [d.dim_value for d in out.shape.dim[1:]] == [1, 8, 8]


def test_metadata_round_trip(image_export, point_export, image_run):
    meta = read_metadata(image_export.path)
    assert set(METADATA_KEYS) <= set(meta)
    config = json.loads((image_run / "config.json").read_text())
    expected = {
        "ganzoo.model": "vanilla", "ganzoo.latent_dim": str(config["latent_dim"]), "ganzoo.num_classes": "0",
        "ganzoo.output_shape": "[1, 8, 8]", "ganzoo.output_range": "[-1, 1]", "ganzoo.dataset": "digits",
        "ganzoo.steps": "2", "ganzoo.weights": "raw", "ganzoo.kind": "images", "ganzoo.exporter": "dynamo",
    }
    assert {k: meta[k] for k in expected} == expected
    from ganzoo import __version__

    assert meta["ganzoo.version"] == __version__
    G = runtime.load(image_export.path, provider="cpu")
    assert G.metadata == meta
    assert (G.model, G.latent_dim, G.num_classes, G.output_shape) == ("vanilla", config["latent_dim"], 0, (1, 8, 8))
    assert (G.dataset, G.steps, G.weights, G.kind, G.output_range) == ("digits", 2, "raw", "images", "[-1, 1]")
    assert G.provider == "CPUExecutionProvider"
    P = runtime.load(point_export.path, provider="cpu")
    assert (P.kind, P.output_range, P.output_shape) == ("points", "unbounded", (2,))
    assert P.modes is not None and P.modes.shape == (8, 2)


def test_dynamic_batch_matches_torch(image_export, image_run):
    G, _, _ = load_generator(image_run)
    onnx_G = runtime.load(image_export.path, provider="cpu")
    for batch in (1, 13):
        z = runtime.latents(batch, G.latent_dim, seed=batch)
        got = onnx_G.run(z)
        with torch.no_grad():
            want = G(torch.from_numpy(z)).numpy()
        assert got.shape == (batch, 1, 8, 8) and got.dtype == np.float32
        assert np.abs(got - want).max() <= TOL


def test_conditional_labels_match_torch(cond_export, cond_generator):
    G = runtime.load(cond_export.path, provider="cpu")
    assert G.conditional and G.num_classes == 10
    labels = np.random.default_rng(0).integers(0, 10, 13)
    got = G.sample(13, labels=labels, seed=5)
    with torch.no_grad():
        want = cond_generator(torch.from_numpy(G.latents(13, seed=5)), torch.from_numpy(labels)).numpy()
    assert np.abs(got - want).max() <= TOL
    assert G.sample(4, labels=3, seed=1).shape == (4, 1, 8, 8)
    assert G.default_labels(12).tolist() == [0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    same = G.sample(12, seed=2)  # no labels: every class in turn
    assert np.array_equal(same, G.sample(12, labels=G.default_labels(12), seed=2))


def test_seeds_give_the_same_latents_everywhere(image_export):
    z = runtime.latents(6, 100, seed=3)
    assert z.dtype == np.float32
    assert np.array_equal(z, np.random.default_rng(3).standard_normal((6, 100), dtype=np.float32))
    assert np.array_equal(runtime.latents(2, 100, seed=3), z[:2])
    G = runtime.load(image_export.path, provider="cpu")
    a, b = G.sample(300, seed=9, batch_size=64), G.sample(300, seed=9)
    assert np.array_equal(a[:5], G.sample(5, seed=9)) and np.abs(a - b).max() <= 1e-6
    assert not np.array_equal(G.sample(4, seed=1), G.sample(4, seed=2))


def test_noise_inside_forward_fails_verification_and_writes_nothing(tmp_path):
    class Noisy(nn.Module):
        latent_dim, num_classes, output_shape = 8, 0, (2,)

        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 2)

        def forward(self, z, labels=None):
            return self.fc(z + 0.1 * torch.randn_like(z))

    with pytest.raises(VerificationError, match="not deterministic.*noise"):
        export_generator(Noisy().eval(), tmp_path / "noisy.onnx")
    assert list(tmp_path.iterdir()) == []
    # Second line of defence, the graph itself: exported unverified, then checked.
    unchecked = export_generator(Noisy().eval(), tmp_path / "unchecked.onnx", verify=False)
    assert not unchecked.verified and "not verified" in unchecked.verification_line()
    with pytest.raises(VerificationError, match="samples noise \\(RandomNormalLike\\)"):
        verify_onnx(unchecked.path, Noisy().eval())


class _Branchy(nn.Module):
    """Python control flow on tensor values: torch.export refuses it, tracing bakes one branch in."""

    latent_dim, num_classes, output_shape = 8, 0, (2,)

    def __init__(self, threshold: float) -> None:
        super().__init__()
        self.fc, self.threshold = nn.Linear(8, 2), threshold

    def forward(self, z, labels=None):
        if z.sum() > self.threshold:
            return -self.fc(z)
        return self.fc(z)


def test_falls_back_to_torchscript_and_says_so(tmp_path):
    result = export_generator(_Branchy(1e9).eval(), tmp_path / "branchy.onnx")  # the baked branch is always right
    assert result.exporter == "torchscript" and result.verified
    assert "dynamo exporter failed" in result.fallback_reason and "\n" not in result.fallback_reason
    assert read_metadata(result.path)["ganzoo.exporter"] == "torchscript"


def test_wrong_numbers_fail_verification_and_leave_no_file(tmp_path):
    with pytest.raises(VerificationError, match=r"differs from PyTorch by max\|Δ\|.*no file written"):
        export_generator(_Branchy(0.0).eval(), tmp_path / "wrong.onnx", exporter="torchscript")
    assert list(tmp_path.iterdir()) == []


def test_batch_size_baked_into_the_graph_fails_verification(tmp_path):
    class Baked(_TinyGenerator):
        def forward(self, z, labels=None):
            return self.net(z).view(len(z), *self.output_shape)  # len() makes the batch a Python int

    with pytest.raises(VerificationError, match="batch dimension of 'z' is fixed at 5.*len\\(z\\)"):
        export_generator(Baked((2,)).eval(), tmp_path / "baked.onnx")
    assert list(tmp_path.iterdir()) == []


def test_train_mode_and_bad_generators_are_refused(tmp_path):
    G = _TinyGenerator((2,))
    with pytest.raises(GanzooError, match="training mode.*eval"):
        export_generator(G.train(), tmp_path / "g.onnx")
    class Lying(_TinyGenerator):
        def forward(self, z, labels=None):
            return super().forward(z)[:, :1]

    with pytest.raises(GanzooError, match=r"returned \(5, 1\) .* output_shape \(2,\) promises \(5, 2\)"):
        export_generator(Lying((2,)).eval(), tmp_path / "g.onnx")
    assert list(tmp_path.iterdir()) == []


# -- the command line -----------------------------------------------------------------------------
def test_cli_export_and_generate(point_run, image_export, cond_export, tmp_path):
    code, output = _cli("export", point_run, "--onnx", "-o", tmp_path, "--exporter", "torchscript", "--opset", "17")
    assert code == 0, output
    path = tmp_path / f"{point_run.name}.onnx"
    assert path.is_file() and f"wrote {path}" in output
    assert re.search(r"^verified: .*max\|Δ\| .* @ batch 1, .* @ batch 7, .* @ batch 64", output, re.M), output
    assert "torchscript exporter, opset 17" in output
    assert read_metadata(path)["ganzoo.steps"] == "2"
    code, output = _cli("generate", path, "--npy", tmp_path / "points.npy", "-o", tmp_path / "points.png")
    assert code == 0 and np.load(tmp_path / "points.npy").shape == (64, 2) and (tmp_path / "points.png").is_file()
    code, output = _cli("generate", cond_export.path, "--labels", "all", "-n", "20", "-o", tmp_path / "c.png")
    assert code == 0 and "wrote 20 samples" in output, output


def test_cli_wrong_inputs_are_one_line_errors(image_run, image_export, cond_export, no_metadata, tmp_path):
    no_ckpt = tmp_path / "no-checkpoint"
    no_ckpt.mkdir()
    shutil.copy(image_run / "config.json", no_ckpt / "config.json")
    junk = tmp_path / "junk.onnx"
    junk.write_text("not a model")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    img, cond = image_export.path, cond_export.path
    cases = [
        (["export", tmp_path / "missing"], "does not exist"),
        (["export", no_ckpt], "has no checkpoint"),
        (["export", tmp_path], "not a ganzoo run directory"),
        (["export", image_run, "--opset", "99"], "--opset must be between"),
        (["export", image_run, "--weights", "ema"], "no EMA weights"),
        (["generate", junk], "not an ONNX model"),
        (["generate", empty], "is empty"),
        (["generate", tmp_path / "missing.onnx"], "no such file"),
        (["generate", image_run], "is a directory"),
        (["generate", no_metadata], "no ganzoo.* metadata"),
        (["generate", img, "--labels", "1"], "unconditional"),
        (["generate", cond, "--labels", "10"], "out of range"),
        (["generate", cond, "--labels", "a,b"], "must be 'all' or integers"),
        (["generate", img, "--latent-dim", "7"], "contradicts"),
        (["generate", no_metadata, "--latent-dim", "7"], "takes [batch, 100]"),
        (["generate", img, "-n", "0"], "--n must be at least 1"),
    ]
    if not session.cuda_driver_present():
        cases.append((["generate", img, "--provider", "cuda"], "CUDA is not usable here"))
    for args, expected in cases:
        _one_line_error(args, expected)
    code, output = _cli("generate", no_metadata, "--latent-dim", "100", "-o", tmp_path / "foreign.png")
    assert code == 0 and (tmp_path / "foreign.png").is_file(), output


def test_runtime_api_errors(image_export, cond_export, no_metadata):
    G = runtime.load(image_export.path, provider="cpu")
    C = runtime.load(cond_export.path, provider="cpu")
    with pytest.raises(GanzooError, match="unconditional: drop the labels"):
        G.sample(2, labels=1)
    with pytest.raises(GanzooError, match=r"labels 10, 11 out of range: 'cvanilla' has classes 0..9"):
        C.sample(3, labels=[1, 10, 11])
    with pytest.raises(GanzooError, match="labels -1 out of range"):
        C.sample(1, labels=-1)
    with pytest.raises(GanzooError, match="3 labels for 2 samples"):
        C.sample(2, labels=[1, 2, 3])
    with pytest.raises(GanzooError, match="labels must be integers"):
        C.sample(2, labels=[0.5, 1])
    with pytest.raises(GanzooError, match="n must be a positive integer"):
        G.sample(0)
    with pytest.raises(GanzooError, match=r"z must have shape \[n, 100\]"):
        G.run(np.zeros((2, 3), np.float32))
    with pytest.raises(GanzooError, match="--provider must be one of"):
        runtime.load(image_export.path, provider="tpu")
    with pytest.raises(GanzooError, match="ganzoo.latent_dim.*--latent-dim N"):
        runtime.load(no_metadata)
    foreign = runtime.load(no_metadata, provider="cpu", latent_dim=100)
    assert foreign.output_shape == (1, 8, 8) and foreign.sample(3, seed=0).shape == (3, 1, 8, 8)
    assert np.array_equal(foreign.sample(3, seed=0), G.sample(3, seed=0))


@pytest.mark.skipif(session.cuda_driver_present(), reason="a real NVIDIA driver: CUDA may really load here")
def test_cuda_that_does_not_load_falls_back_quietly(image_export, monkeypatch, capfd):
    # Pretend a driver exists: onnxruntime-gpu then really tries CUDA, fails, and must stay silent.
    monkeypatch.setattr(session, "cuda_driver_present", lambda: True)
    assert runtime.load(image_export.path, provider="auto").provider == "CPUExecutionProvider"
    with pytest.raises(GanzooError, match="CUDA is not usable here: .*use --provider cpu"):
        runtime.load(image_export.path, provider="cuda")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_exports_readme_snippet_runs(image_export, cond_export):
    text = (REPO / "exports" / "README.md").read_text()
    snippet = text.split("## Run one with plain onnxruntime", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    assert len([line for line in snippet.strip().splitlines() if line.strip()]) <= 5
    for result in (image_export, cond_export):
        scope: dict = {}
        exec(snippet.replace("exports/model.onnx", str(result.path)), scope)
        assert scope["images"].shape == (16, 1, 8, 8)


# -- without torch ----------------------------------------------------------------------------------
def test_runtime_and_generate_work_without_torch(image_export, point_export, cond_export, tmp_path):
    expected = runtime.load(cond_export.path, provider="cpu").sample(10, seed=7)
    np.save(tmp_path / "expected.npy", expected)
    _no_torch(f"""
        import numpy as np
        from ganzoo.onnx import runtime
        G = runtime.load({str(cond_export.path)!r})                       # provider auto: no error spam
        assert G.provider == "CPUExecutionProvider" and G.num_classes == 10
        assert np.array_equal(G.sample(10, seed=7), np.load("expected.npy"))  # same latents, same images
        assert runtime.load({str(image_export.path)!r}, provider="cpu").sample(5, seed=0).shape == (5, 1, 8, 8)
        from ganzoo.cli import cli
        for args in (["generate", {str(point_export.path)!r}, "-o", "points.png", "--npy", "points.npy"],
                     ["generate", {str(cond_export.path)!r}, "--labels", "3", "-n", "8", "--npy", "cond.npy"]):
            cli.main(args, prog_name="ganzoo", standalone_mode=False)
        assert np.load("points.npy").shape == (64, 2) and np.load("cond.npy").shape == (8, 1, 8, 8)
    """, tmp_path)
    proc = _no_torch(f"""
        import sys
        sys.argv = ["ganzoo", "generate", {str(image_export.path)!r}, "-n", "16", "--seed", "3", "-o", "grid.png"]
        from ganzoo.cli import main
        main()
    """, tmp_path)
    assert proc.stdout.startswith("wrote 16 samples") and proc.stderr == "", proc.stderr
    from PIL import Image

    assert Image.open(tmp_path / "grid.png").size[0] > 8 and (tmp_path / "points.png").is_file()


# -- every built-in model -----------------------------------------------------------------------------
BUILTIN_MODELS = [spec.name for spec in get_registry().list("model") if spec.plugin == "ganzoo"
                  and spec.task == "generate"]
#: Image-to-image models, at tiny widths on their own default data sets.
TRANSLATORS = {"pix2pix": {"width": 8}, "srgan": {"width": 8, "blocks": 1}, "cyclegan": {"width": 8, "blocks": 1}}


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_every_builtin_model_exports_verifies_and_generates_without_torch(name, tmp_path):
    run = _train(name, tmp_path / name, **_tiny(name))
    result = export_run(run, output=tmp_path / f"{name}.onnx")
    assert result.verified and result.worst_diff <= TOL, result.verification_line()
    meta = read_metadata(result.path)
    G, _, _ = load_generator(run)
    assert meta["ganzoo.model"] == name and meta["ganzoo.num_classes"] == str(G.num_classes)
    assert json.loads(meta["ganzoo.output_shape"]) == list(G.output_shape)
    assert get_registry().model(name).conditional == (G.num_classes > 0)
    _no_torch(f"""
        from ganzoo.onnx import runtime
        from ganzoo.cli import cli
        G = runtime.load({str(result.path)!r}, provider="cpu")
        assert G.sample(3, seed=0).shape == (3, *G.output_shape)
        cli.main(["generate", {str(result.path)!r}, "-n", "12", "-o", "grid.png"], prog_name="ganzoo",
                 standalone_mode=False)
    """, tmp_path)
    assert (tmp_path / "grid.png").is_file()


@pytest.mark.parametrize("name", TRANSLATORS)
def test_every_image_to_image_model_exports_and_translates_without_torch(name, tmp_path):
    from PIL import Image

    run = _train(name, tmp_path / name, options=TRANSLATORS[name], batch_size=4)
    result = export_run(run, output=tmp_path / f"{name}.onnx")
    assert result.verified and len(result.max_abs_diff) >= 3 and result.worst_diff <= TOL
    meta = read_metadata(result.path)
    channels = json.loads(meta["ganzoo.source_shape"])[0]
    Image.new("L" if channels == 1 else "RGB", (20, 12)).save(tmp_path / "in.png")  # a size no model was trained on
    _no_torch(f"""
        from ganzoo.cli import cli
        cli.main(["translate", {str(result.path)!r}, "in.png", "-o", "out.png"], prog_name="ganzoo",
                 standalone_mode=False)
    """, tmp_path)
    scale = int(meta["ganzoo.scale"])
    with Image.open(tmp_path / "out.png") as out:
        assert out.size == (20 * scale, 12 * scale)


def test_generate_interpolate_writes_a_looping_walk(image_export, point_export, tmp_path):
    from PIL import Image

    from ganzoo.onnx import runtime

    G = runtime.load(str(image_export.path))
    frames = runtime.walk(G, 4, 6, seed=3)
    assert len(frames) == 6 and all(f.shape == (4, *G.output_shape) for f in frames)
    np.testing.assert_allclose(frames[0], G.sample(4, seed=3), atol=1e-6)  # starts at --seed's samples
    np.testing.assert_allclose(frames[3], G.sample(4, seed=4), atol=1e-6)  # halfway: --seed+1's
    assert not np.allclose(frames[1], frames[0]) and not np.allclose(frames[1], frames[3])
    gif = tmp_path / "walk.gif"
    code, out = _cli("generate", image_export.path, "--interpolate", "6", "-n", "4", "-o", gif)
    assert code == 0, out
    with Image.open(gif) as im:
        assert im.n_frames == 6 and im.info.get("loop") == 0
    code, out = _cli("generate", image_export.path, "--interpolate", "3", "-n", "4", "-o", tmp_path / "f.png")
    assert code == 0 and sorted(p.name for p in tmp_path.glob("f-*.png")) == ["f-000.png", "f-001.png", "f-002.png"]
    _one_line_error(["generate", image_export.path, "--interpolate", "1"], "--interpolate must be at least 2 and at most 1,000")
    _one_line_error(["generate", image_export.path, "--interpolate", "4", "--npy", tmp_path / "x.npy"], "drop --npy")
    _one_line_error(["generate", image_export.path, "--interpolate", "4", "-o", tmp_path / "w.xyz"], "use one of .png")
    _one_line_error(["generate", point_export.path, "--interpolate", "4"], "draws image grids")
