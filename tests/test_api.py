"""The Python API (docs/api.md): ganzoo.train, Run, load, export, create_model, end to end on
tiny CPU runs (2 steps of cgan on the bundled 8x8 digits, vanilla on ring8), the .onnx path in
a process where importing torch fails, every docs example, and one-line errors for bad input."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganzoo
from ganzoo.errors import GanzooError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api")


@pytest.fixture(scope="module")
def cgan(work) -> ganzoo.Run:
    with pytest.MonkeyPatch.context() as mp:  # module scope: conftest's own env fixture has not run yet
        mp.setenv("GANZOO_DATA", str(work / "data"))
        return ganzoo.train("cgan", dataset="digits", steps=2, batch_size=8, device="cpu", out=work / "cgan")


@pytest.fixture(scope="module")
def cgan_onnx(cgan, work) -> Path:
    return ganzoo.export(cgan, work / "cgan.onnx")


@pytest.fixture(scope="module")
def points(work) -> ganzoo.Run:
    return ganzoo.train("vanilla", dataset="ring8", steps=2, batch_size=8, device="cpu", out=str(work / "ring"))


def _one_line(call, expected: str) -> None:
    with pytest.raises(GanzooError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and expected in message, message


# -- import ----------------------------------------------------------------------------------------
def test_import_stays_torch_free_until_a_call_needs_it():
    code = textwrap.dedent("""
        import sys
        import ganzoo
        assert {"train", "load", "Run", "Generator", "create_model", "export"} <= set(dir(ganzoo))
        assert callable(ganzoo.train) and callable(ganzoo.load) and isinstance(ganzoo.Run, type)
        try:
            ganzoo.no_such_name
        except AttributeError as exc:
            assert "no_such_name" in str(exc)
        else:
            raise SystemExit("ganzoo.no_such_name did not raise AttributeError")
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "torch" or m.startswith("ganzoo.engine"))
        print(loaded)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


# -- train and the run folder ----------------------------------------------------------------------
def test_train_returns_the_run_with_its_config_and_metrics(cgan, work):
    assert cgan.path == work / "cgan" and cgan.model == "cgan"
    assert cgan.config["steps"] == 2 and cgan.config["batch_size"] == 8 and cgan.config["dataset"] == "digits"
    rows = cgan.metrics()
    assert rows[-1]["step"] == 2 and np.isfinite(rows[-1]["d_loss"]) and np.isfinite(rows[-1]["g_loss"])
    again = ganzoo.Run(str(cgan.path))
    assert again.config == cgan.config and os.fspath(again) == str(cgan.path)


def test_train_takes_the_cli_options_by_config_name(work):
    run = ganzoo.train("vanilla", dataset="ring8", steps=1, batch_size=4, lr_g=1e-3, betas=[0.0, 0.9], reg="none",
                       options={"hidden": [16]}, ema=False, seed=3, device="cpu", out=work / "options")
    cfg = run.config
    assert (cfg["lr_g"], cfg["betas"], cfg["reg"], cfg["options"]["hidden"], cfg["ema"], cfg["seed"]) == \
        (1e-3, [0.0, 0.9], [], [16], False, 3)


def test_resume_trains_on_to_the_new_total(points):
    resumed = points.resume(steps=3)
    assert resumed.path == points.path and [row["step"] for row in points.metrics()] == [2, 3]


# -- sampling with torch and with onnxruntime ------------------------------------------------------
def test_a_run_samples_uint8_images_with_labels_and_truncation(cgan):
    G = cgan.load()
    assert (G.backend, G.weights, G.model, G.kind) == ("torch", "ema", "cgan", "images")
    assert (G.latent_dim, G.num_classes, G.output_shape, G.codes, G.truncation) == (100, 10, (1, 8, 8), [], "z")
    sevens = G.sample(6, seed=0, labels=7)
    assert sevens.shape == (6, 8, 8, 1) and sevens.dtype == np.uint8
    assert np.array_equal(sevens, cgan.sample(6, seed=0, labels=7))
    assert not np.array_equal(sevens, G.sample(6, seed=1, labels=7))
    raw = G.sample(6, seed=0, labels=7, raw=True)
    assert raw.shape == (6, 1, 8, 8) and raw.dtype == np.float32 and np.all(np.abs(raw) <= 1)
    assert np.array_equal(((raw + 1) * 127.5).round().astype(np.uint8).transpose(0, 2, 3, 1), sevens)
    flat = G.sample(4, seed=0, labels=[2, 2, 5, 5], truncation=0)  # psi 0: z = 0, so a class has one sample
    assert np.array_equal(flat[0], flat[1]) and np.array_equal(flat[2], flat[3])
    assert not np.array_equal(flat[0], flat[2])
    assert not np.array_equal(G.sample(6, seed=0, labels=7, truncation=0.5), sevens)


def test_the_export_samples_what_the_run_samples(cgan, cgan_onnx):
    assert cgan_onnx.is_file()
    T, X = cgan.load(), ganzoo.load(cgan_onnx)
    assert X.backend == "onnxruntime" and "onnxruntime" in repr(X)
    for attr in ("model", "latent_dim", "num_classes", "output_shape", "kind", "codes", "truncation", "weights"):
        assert getattr(X, attr) == getattr(T, attr), attr
    labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    for psi in (None, 0.7):
        raw_t = T.sample(12, seed=3, labels=labels, truncation=psi, raw=True)
        raw_o = X.sample(12, seed=3, labels=labels, truncation=psi, raw=True)
        assert np.abs(raw_t - raw_o).max() < 1e-4
        pixels = X.sample(12, seed=3, labels=labels, truncation=psi).astype(int)
        assert np.abs(pixels - T.sample(12, seed=3, labels=labels, truncation=psi).astype(int)).max() <= 1


def test_save_grid_draws_one_row_per_class(cgan_onnx, work):
    from ganzoo.grid import save_image_grid

    G = ganzoo.load(cgan_onnx)
    path = G.save_grid(work / "grid.png", n=20, seed=0)
    names = [str(c) for c in range(10)]  # digits: each row named by its class
    rows = save_image_grid(G.sample(20, seed=0, labels=np.repeat(np.arange(10), 2), raw=True), work / "rows.png",
                           nrow=2, row_names=names)
    plain = save_image_grid(G.sample(20, seed=0, labels=np.repeat(np.arange(10), 2), raw=True), work / "plain.png",
                            nrow=2)
    with Image.open(path) as picture, Image.open(rows) as expected, Image.open(plain) as unnamed:
        # 10 rows (one per class) of 2, with a margin for the names
        assert picture.height > picture.width > unnamed.width
        assert np.array_equal(np.asarray(picture), np.asarray(expected))


def test_points_sample_as_floats_and_draw_as_a_scatter(points, work):
    G = ganzoo.load(points)
    assert (G.kind, G.output_shape, G.num_classes) == ("points", (2,), 0) and G.modes is not None
    xy = G.sample(50, seed=0)
    assert xy.shape == (50, 2) and xy.dtype == np.float32
    assert G.save_grid(work / "ring.png", n=100).stat().st_size > 0
    scores = points.eval(n=100)
    assert scores["protocol"] == "mixture" and scores["n"] == 100 and "modes_captured" in str(scores["metrics"])


# -- the torch-free path ---------------------------------------------------------------------------
NO_TORCH = textwrap.dedent("""
    import importlib.abc, sys
    class _Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision", "timm", "safetensors"):
                raise ImportError(f"{name} is blocked: an .onnx file must need no torch")
            return None
    sys.meta_path.insert(0, _Blocked())
""")


def test_loading_an_onnx_file_never_imports_torch(cgan_onnx, work):
    expected = ganzoo.load(cgan_onnx).sample(5, seed=2, labels=4)
    np.save(work / "expected.npy", expected)
    code = NO_TORCH + textwrap.dedent(f"""
        import numpy as np
        import ganzoo
        G = ganzoo.load({str(cgan_onnx)!r}, provider="cpu")
        x = G.sample(5, seed=2, labels=4)
        assert np.array_equal(x, np.load({str(work / "expected.npy")!r})), "different samples without torch"
        G.save_grid({str(work / "no-torch.png")!r}, n=10)
        try:
            ganzoo.create_model("dcgan")
        except ganzoo.GanzooError as exc:
            print(exc)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "safetensors")))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          cwd=work)
    assert done.returncode == 0, done.stderr
    told, modules = done.stdout.strip().splitlines()[-2:]
    assert told.startswith("ganzoo.create_model needs PyTorch") and modules == "[]", done.stdout
    assert (work / "no-torch.png").is_file()


def test_a_base_install_is_told_which_extra_a_call_needs(monkeypatch, cgan_onnx):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    for call in (lambda: ganzoo.train("vanilla"), lambda: ganzoo.create_model("dcgan"),
                 lambda: ganzoo.export(cgan_onnx.parent / "cgan")):
        _one_line(call, "torch not installed): pip install 'ganzoo-onnx[train]'")
    assert ganzoo.load(cgan_onnx).sample(1, seed=0).shape == (1, 8, 8, 1)


# -- create_model ----------------------------------------------------------------------------------
def test_create_model_builds_the_registry_modules():
    state = torch.get_rng_state()
    G, D = ganzoo.create_model("dcgan", dataset="digits", seed=0, width=8)
    assert torch.equal(torch.get_rng_state(), state)  # the seed does not leak into torch's global stream
    assert isinstance(G, torch.nn.Module) and isinstance(D, torch.nn.Module) and G.training and D.training
    assert tuple(G.output_shape) == (1, 8, 8) and G.num_classes == 0
    G2, _ = ganzoo.create_model("dcgan", dataset="digits", seed=0, width=8)
    G3, _ = ganzoo.create_model("dcgan", dataset="digits", seed=1, width=8)
    first = [p for p in G.parameters() if p.dim() > 1][0]
    assert torch.equal(first, [p for p in G2.parameters() if p.dim() > 1][0])
    assert not torch.equal(first, [p for p in G3.parameters() if p.dim() > 1][0])
    P, Q = ganzoo.create_model("vanilla", shape=(2,), hidden=[16])
    assert P(torch.randn(3, P.latent_dim)).shape == (3, 2) and Q(torch.randn(3, 2)).shape == (3,)
    C, _ = ganzoo.create_model("cgan", shape=(1, 8, 8), num_classes=4, latent_dim=5)
    assert (C.num_classes, C.latent_dim) == (4, 5)
    assert C(torch.randn(2, 5), torch.tensor([0, 3])).shape == (2, 1, 8, 8)


# -- bad input -------------------------------------------------------------------------------------
def test_bad_input_is_one_line(cgan, cgan_onnx, points, work):
    empty = work / "empty"
    empty.mkdir(exist_ok=True)
    G = ganzoo.load(cgan_onnx)
    U = ganzoo.load(points)
    cases = [
        (lambda: ganzoo.train("vanila"), "vanilla"),
        (lambda: ganzoo.train("vanilla", stepz=3), "no option stepz= (did you mean steps=?)"),
        (lambda: ganzoo.train("vanilla", steps="10"), "steps= takes an integer"),
        (lambda: ganzoo.train("vanilla", betas=0.5), "betas= takes a pair of numbers"),
        (lambda: ganzoo.train(), "needs a model name"),
        (lambda: ganzoo.train("vanilla", dataset="ring8", steps=0), "--steps must be a positive integer"),
        (lambda: ganzoo.train("vanilla", options={"hiden": 3}), "has no option 'hiden'"),
        (lambda: ganzoo.train(resume=points, reg=["r1:1"]), "cannot change --reg when resuming"),
        (lambda: ganzoo.train("dcgan", resume=points), "not 'dcgan'"),
        (lambda: ganzoo.load(work / "missing"), "no such run folder or .onnx file"),
        (lambda: ganzoo.load(cgan_onnx, weights="raw"), "weights= applies to run folders"),
        (lambda: ganzoo.load(cgan, provider="cuda"), "provider= and threads= apply to .onnx files"),
        (lambda: ganzoo.load(cgan, weights="best"), "must be 'ema' or 'raw'"),
        (lambda: ganzoo.load(12), "takes a run folder or an .onnx file"),
        (lambda: ganzoo.Run(empty), "not a ganzoo run directory"),
        (lambda: G.sample(0), "n must be a positive integer"),
        (lambda: G.sample(4, labels=10), "out of range"),
        (lambda: G.sample(4, labels=[1, 2]), "got 2 labels for 4 samples"),
        (lambda: G.sample(4, truncation=2), "truncation must be a number in 0..1"),
        (lambda: G.sample(4, seed=-1), "seed must be a non-negative integer"),
        (lambda: G.sample(4, codes={"c1": 1}), "takes no latent codes"),
        (lambda: U.sample(4, labels=1), "unconditional"),
        (lambda: G.save_grid(work / "grid.txt"), "cannot write a picture"),
        (lambda: ganzoo.create_model("dcgan", dataset="digits", shape=(1, 8, 8)), "not both"),
        (lambda: ganzoo.create_model("cgan", shape=(1, 8, 8)), "is conditional: give num_classes="),
        (lambda: ganzoo.create_model("dcgan", num_classes=3), "unconditional: drop num_classes="),
        (lambda: ganzoo.create_model("dcgan", dataset="digits", widht=8), "has no option 'widht'"),
        (lambda: ganzoo.create_model("vanilla", shape=(0,)), "shape= takes"),
        (lambda: ganzoo.export(cgan, work / "model.txt"), "does not end in .onnx"),
        (lambda: ganzoo.export(work / "missing"), "does not exist"),
        (lambda: cgan.eval(metric="fid", reference=None, inception_weights=work / "none.pth"), "none.pth"),
    ]
    for call, expected in cases:
        _one_line(call, expected)


def test_a_damaged_metrics_file_is_one_line(cgan, work):
    copy = Path(shutil.copytree(cgan.path, work / "damaged"))
    with (copy / "metrics.jsonl").open("a") as handle:
        handle.write('{"step": 3, "d_loss"\n')
    _one_line(ganzoo.Run(copy).metrics, "line 2 is not a JSON object")


# -- the docs' examples ----------------------------------------------------------------------------
@pytest.mark.parametrize("page", ["docs/api.md", "README.md"])
def test_the_docs_python_examples_run(page, tmp_path, monkeypatch):
    """Each page's ```python blocks, in order, in one namespace, with step counts made tiny."""
    blocks = re.findall(r"^```python\n(.*?)^```", (ROOT / page).read_text(), flags=re.S | re.M)
    assert blocks and all("import ganzoo" in b for b in blocks), page
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(re.sub(r"\bsteps=\d+", "steps=2", block), f"{page} example", "exec"), namespace)
    assert any(p.suffix == ".onnx" for p in (tmp_path / "exports").iterdir())
    assert (tmp_path / "digits.png").is_file()
