"""Truncation (``--truncation PSI``): the w path (a graph input ``truncation``, verified at two
psi, fed by the runtime) and the z path (a truncated normal drawn in numpy), through
``export``, the runtime, ``sample``, ``generate`` (walks too) and the demo.

A tiny hand-written generator with a tracked average w stands in for StyleGAN2, so these
tests pin the contract rather than one model; the run-directory side of ``ganzoo sample``
reaches it by replacing ``load_generator``. The z path runs on a 2-step vanilla run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import ROOT, assert_one_line_error, invoke, train_tiny
from torch import nn

from ganzoo.api import Code, generate
from ganzoo.errors import GanzooError
from ganzoo.onnx import runtime
from ganzoo.onnx.export import export_generator, export_run, generator_metadata, read_metadata
from ganzoo.onnx.runtime import check_truncation, latents, truncated_latents

torch.set_num_threads(1)

TOL = 1e-4
EXAMPLE = ROOT / "tests" / "fixtures" / "cgan-digits-0.2.onnx"  # exported before ganzoo.truncation existed


class _WToy(nn.Module):
    """z -> mapping -> w, pulled toward ``w_avg`` by psi, -> a 4x4 image: StyleGAN's
    truncation in a few lines. Conditional with one code when asked, to pin the input order."""

    truncation = "w"

    def __init__(self, num_classes: int = 0, with_code: bool = False) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.output_shape = 8, num_classes, (1, 4, 4)
        self.codes = (Code("c1", "continuous"),) if with_code else ()
        self.embed = nn.Embedding(num_classes, 8) if num_classes else None
        self.mapping = nn.Sequential(nn.Linear(8 + (1 if with_code else 0), 16), nn.LeakyReLU(0.2), nn.Linear(16, 16))
        self.register_buffer("w_avg", torch.randn(16))
        self.synthesis = nn.Sequential(nn.Linear(16, 16), nn.Tanh())

    def forward(self, z, labels=None, codes=None, *, truncation=None):
        x = z if self.embed is None else z * self.embed(labels)
        if self.codes:
            x = torch.cat([x, codes["c1"].unsqueeze(1)], dim=1)
        w = self.mapping(x)
        if truncation is not None:
            w = self.w_avg + torch.as_tensor(truncation, dtype=w.dtype) * (w - self.w_avg)
        return self.synthesis(w).view(z.shape[0], *self.output_shape)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("truncation")


@pytest.fixture(scope="module")
def toy() -> _WToy:
    torch.manual_seed(0)
    return _WToy().eval()


@pytest.fixture(scope="module")
def toy_export(toy, work):
    return export_generator(toy, work / "wtoy.onnx", metadata=generator_metadata(toy, model="wtoy", steps=0))


@pytest.fixture(scope="module")
def cond_export(work):
    torch.manual_seed(1)
    G = _WToy(num_classes=3, with_code=True).eval()
    return G, export_generator(G, work / "wtoy-cond.onnx")


@pytest.fixture(scope="module")
def z_run(work) -> Path:
    return train_tiny("vanilla", work / "vanilla-digits", dataset="digits", ema=False)


@pytest.fixture(scope="module")
def z_export(z_run, work):
    return export_run(z_run, output=work / "vanilla.onnx")


def _patched_file(source: Path, target: Path, value: str | None) -> Path:
    """``source`` with ganzoo.truncation set to ``value`` (None: removed)."""
    model = onnx.load(str(source))
    kept = [(p.key, p.value) for p in model.metadata_props if p.key != "ganzoo.truncation"]
    del model.metadata_props[:]
    for key, val in kept + ([("ganzoo.truncation", value)] if value is not None else []):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, val
    onnx.save(model, str(target))
    return target


# -- the z path: a truncated normal in numpy ---------------------------------------------------
def test_truncated_normal_is_bounded_deterministic_and_keeps_the_plain_latents_inside_the_bound():
    plain = latents(400, 16, seed=5)
    for psi in (1.0, 0.7, 0.3):
        z = truncated_latents(400, 16, 5, psi)
        assert z.dtype == np.float32 and z.shape == (400, 16)
        assert np.abs(z).max() <= 2 * psi + 1e-6 if psi < 1 else np.abs(z).max() > 2  # psi 1: plain N(0, I)
        assert np.array_equal(z, truncated_latents(400, 16, 5, psi))  # same seed, same z
        assert np.array_equal(z[:37], truncated_latents(37, 16, 5, psi))  # the first k rows are (k, seed)'s
        inside = np.abs(plain) <= 2
        if psi < 1:
            assert (~inside).sum() > 100  # there was something to redraw
            np.testing.assert_array_equal(z[inside], plain[inside] * np.float32(psi))
            assert not np.array_equal(z, truncated_latents(400, 16, 6, psi))
    assert np.array_equal(truncated_latents(400, 16, 5, 1.0), plain)
    assert np.array_equal(truncated_latents(400, 16, 5, None), plain)
    assert not truncated_latents(3, 16, 5, 0.0).any()
    big = truncated_latents(20_000, 8, 0, 0.5) / 0.5  # TN(-2, 2) has standard deviation 0.8796
    assert abs(float(big.std()) - 0.8796) < 0.01 and abs(float(big.mean())) < 0.01
    fresh = truncated_latents(4, 8, None, 0.5)
    assert np.abs(fresh).max() <= 1 and not np.array_equal(fresh, truncated_latents(4, 8, None, 0.5))


@pytest.mark.parametrize("bad", [float("nan"), -0.1, 1.5, "abc", "", True, float("inf"), [0.5]])
def test_bad_psi_is_one_error(bad):
    with pytest.raises(GanzooError, match=r"must be a number in 0\.\.1 .*lower = more typical, less varied"):
        check_truncation(bad)
    assert check_truncation("0.25") == 0.25 and check_truncation(0) == 0.0 and check_truncation(None) == 1.0


def test_z_file_truncates_the_latents_it_draws(z_export):
    G = runtime.load(z_export.path, provider="cpu")
    meta = read_metadata(z_export.path)
    assert meta["ganzoo.truncation"] == "z" and G.truncation == "z" and not G.truncates_w
    assert [i.name for i in onnx.load(str(z_export.path)).graph.input] == ["z"]
    got = G.sample(6, seed=3, truncation=0.7)
    assert np.array_equal(got, G.run(truncated_latents(6, G.latent_dim, 3, 0.7)))
    assert np.array_equal(G.latents(6, 3, 0.7), truncated_latents(6, G.latent_dim, 3, 0.7))
    assert np.array_equal(G.sample(6, seed=3), G.sample(6, seed=3, truncation=1))
    assert not np.allclose(got, G.sample(6, seed=3))
    with pytest.raises(GanzooError, match="truncates z as it is drawn"):
        G.run(latents(2, G.latent_dim, 0), truncation=0.5)
    frames = runtime.walk(G, 3, 4, seed=2, truncation=0.5)
    np.testing.assert_allclose(frames[0], G.sample(3, seed=2, truncation=0.5), atol=1e-6)
    np.testing.assert_allclose(frames[2], G.sample(3, seed=3, truncation=0.5), atol=1e-6)


# -- the w path: export, verification, runtime ---------------------------------------------------
def test_w_generator_exports_with_a_truncation_input_verified_at_two_psi(toy_export, cond_export):
    assert toy_export.verified and toy_export.exporter == "dynamo" and toy_export.worst_diff <= TOL
    assert "at truncation 1 and 0.7" in toy_export.verification_line() and "truncation psi" in toy_export.summary()
    model = onnx.load(str(toy_export.path))
    assert [i.name for i in model.graph.input] == ["z", "truncation"]
    psi = model.graph.input[1].type.tensor_type
    assert psi.elem_type == onnx.TensorProto.FLOAT and [d.dim_value for d in psi.shape.dim] == [1]
    assert read_metadata(toy_export.path)["ganzoo.truncation"] == "w"
    assert "truncation float32 [1]" in model.doc_string
    G, result = cond_export
    assert [i.name for i in onnx.load(str(result.path)).graph.input] == ["z", "labels", "c1", "truncation"]
    assert result.verified and result.exporter == "dynamo" and result.worst_diff <= TOL


def test_runtime_feeds_psi_and_matches_torch(toy, toy_export, cond_export):
    G = runtime.load(toy_export.path, provider="cpu")
    assert G.truncation == "w" and G.truncates_w
    avg = G.sample(5, seed=0, truncation=0)
    assert np.array_equal(avg, np.broadcast_to(avg[:1], avg.shape))  # psi 0: the average image, whatever z
    assert np.array_equal(avg[:2], G.sample(2, seed=9, truncation=0.0))
    assert np.array_equal(G.latents(5, 0, 0.5), latents(5, 8, 0))  # z stays plain: psi goes to the graph
    for psi in (1.0, 0.7, 0.3):
        z = latents(9, 8, 4)
        with torch.no_grad():
            want = generate(toy, torch.from_numpy(z), truncation=psi).numpy()
        got = G.sample(9, seed=4, truncation=psi, batch_size=4)
        assert np.abs(got - want).max() <= TOL, psi
    assert np.array_equal(G.sample(3, seed=1), G.sample(3, seed=1, truncation=1.0))
    assert np.array_equal(G.run(latents(3, 8, 1), truncation=0.5), G.sample(3, seed=1, truncation=0.5))
    walk = runtime.walk(G, 2, 4, seed=1, truncation=0)
    assert all(np.array_equal(f, walk[0]) for f in walk)  # every frame is the average image
    cond, result = cond_export
    C = runtime.load(result.path, provider="cpu")
    labels, c1 = np.array([0, 2, 1]), np.array([0.5, -0.5, 0.0], dtype=np.float32)
    with torch.no_grad():
        want = generate(cond, torch.from_numpy(latents(3, 8, 2)), torch.from_numpy(labels),
                        {"c1": torch.from_numpy(c1)}, truncation=0.6).numpy()
    got = C.sample(3, labels=labels, codes={"c1": c1}, seed=2, truncation=0.6)
    assert np.abs(got - want).max() <= TOL


def test_the_w_path_runs_without_torch(toy_export, tmp_path):
    """``sys.modules["torch"] = None`` makes any import of torch raise: the runtime and
    ``generate`` must feed psi with numpy and onnxruntime alone."""
    code = f"""
import sys
sys.modules["torch"] = None
import numpy as np
from ganzoo.onnx import runtime
from ganzoo.cli import cli
G = runtime.load({str(toy_export.path)!r}, provider="cpu")
avg = G.sample(3, seed=0, truncation=0)
assert G.truncates_w and np.array_equal(avg, np.broadcast_to(avg[:1], avg.shape))
cli.main(["generate", {str(toy_export.path)!r}, "-n", "4", "--truncation", "0.5", "--npy", "w.npy"],
         prog_name="ganzoo", standalone_mode=False)
print("ok", np.load("w.npy").shape)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and "ok (4, 1, 4, 4)" in done.stdout, done.stderr[-2000:]


def test_metadata_and_graph_must_agree(toy_export, z_export, tmp_path):
    for value, message in ((None, "has a 'truncation' input but its metadata says ganzoo.truncation=(missing)"),
                           ("z", "has a 'truncation' input but its metadata says ganzoo.truncation=z"),
                           ("x", "corrupt ganzoo.truncation 'x'")):
        path = _patched_file(toy_export.path, tmp_path / "bad.onnx", value)
        with pytest.raises(GanzooError, match="export it again") as err:
            runtime.load(path, provider="cpu")
        assert message in str(err.value) and "\n" not in str(err.value)
    path = _patched_file(z_export.path, tmp_path / "bad-z.onnx", "w")
    with pytest.raises(GanzooError, match="says ganzoo.truncation=w but its graph has no 'truncation' input"):
        runtime.load(path, provider="cpu")
    assert_one_line_error(["generate", path], "has no 'truncation' input")


def test_a_w_generator_without_the_keyword_is_refused(tmp_path):
    class _NoKeyword(nn.Module):
        truncation = "w"
        latent_dim, num_classes, output_shape = 4, 0, (2,)

        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(4, 2)

        def forward(self, z, labels=None):
            return self.net(z)

    with pytest.raises(GanzooError, match="declares truncation = 'w' but its forward takes no truncation= keyword"):
        export_generator(_NoKeyword().eval(), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


# -- the command line ------------------------------------------------------------------------------
@pytest.fixture
def captured(monkeypatch):
    """The arrays ``sample``/``generate`` would draw, instead of their pictures."""
    import ganzoo.grid as grid

    seen: list[np.ndarray] = []
    monkeypatch.setattr(grid, "save_image_grid", lambda out, path, nrow=None, **_: seen.append(np.asarray(out)))
    return seen


def test_sample_and_generate_agree_on_a_z_run(z_run, z_export, captured, tmp_path):
    for psi in ("0.7", "0.2"):
        code, output = invoke("sample", z_run, "-n", "6", "--seed", "2", "--truncation", psi, "-o", tmp_path / "s.png")
        assert code == 0 and output.startswith("wrote 6 samples"), output
        code, output = invoke("generate", z_export.path, "-n", "6", "--seed", "2", "--truncation", psi,
                              "-o", tmp_path / "g.png")
        assert code == 0 and output.startswith("wrote 6 samples"), output
        assert np.abs(captured[-2] - captured[-1]).max() <= TOL
    G = runtime.load(z_export.path, provider="cpu")
    assert np.array_equal(captured[-1], G.sample(6, seed=2, truncation=0.2))
    code, output = invoke("generate", z_export.path, "--interpolate", "3", "-n", "4", "--truncation", "0.5",
                          "-o", tmp_path / "walk.gif")
    assert code == 0 and (tmp_path / "walk.gif").is_file(), output


def test_sample_and_generate_agree_on_a_w_generator(toy, toy_export, captured, monkeypatch, tmp_path):
    import ganzoo.engine.build as build

    meta = {"model": "wtoy", "data": {"kind": "images"}}
    monkeypatch.setattr(build, "load_generator", lambda run_dir, *args, **kwargs: (toy, meta, "raw"))
    code, output = invoke("sample", tmp_path / "run", "-n", "4", "--truncation", "0", "-o", tmp_path / "s.png")
    assert code == 0, output
    assert np.array_equal(captured[-1], np.broadcast_to(captured[-1][:1], captured[-1].shape))
    for psi in ("0.7", "1"):
        code, output = invoke("sample", tmp_path / "run", "-n", "5", "--seed", "3", "--truncation", psi,
                              "-o", tmp_path / "s.png")
        assert code == 0, output
        code, output = invoke("generate", toy_export.path, "-n", "5", "--seed", "3", "--truncation", psi,
                              "-o", tmp_path / "g.png")
        assert code == 0, output
        assert np.abs(captured[-2] - captured[-1]).max() <= TOL
    assert not np.allclose(captured[-1], captured[-3])  # psi 1 is not psi 0.7
    code, output = invoke("generate", toy_export.path, "--interpolate", "3", "-n", "2", "--truncation", "0.5",
                          "-o", tmp_path / "walk.gif")
    assert code == 0, output


@pytest.mark.parametrize("value", ["nan", "-0.1", "1.5", "abc", "inf"])
def test_bad_truncation_on_the_command_line_is_one_error_line(value, tmp_path):
    expected = f"--truncation must be a number in 0..1 (1: no truncation; lower = more typical, less varied), " \
               f"got '{value}'"
    # checked before anything loads: the missing run and file are never reached
    assert_one_line_error(["sample", tmp_path / "no-run", "--truncation", value], expected)
    assert_one_line_error(["generate", tmp_path / "no.onnx", "--truncation", value], expected)
    assert_one_line_error(["generate", tmp_path / "no.onnx", "--interpolate", "4", "--truncation", value], expected)


def test_help_documents_psi():
    for command in ("sample", "generate"):
        code, output = invoke(command, "--help")
        flat = " ".join(output.split())
        assert code == 0 and "--truncation PSI" in flat and "0 ≤ PSI ≤ 1; lower = more typical, less varied" in flat


def test_old_files_without_the_key_still_generate(tmp_path, captured):
    assert "ganzoo.truncation" not in read_metadata(EXAMPLE)
    G = runtime.load(EXAMPLE, provider="cpu")
    assert G.truncation == "z"
    code, output = invoke("generate", EXAMPLE, "-n", "10", "--seed", "1", "--truncation", "0.7",
                          "-o", tmp_path / "g.png")
    assert code == 0 and output.startswith("wrote 10 samples"), output
    z = truncated_latents(10, G.latent_dim, 1, 0.7)
    assert np.array_equal(captured[-1], G.run(z, G.default_labels(10)))


# -- the demo --------------------------------------------------------------------------------------
def _get(server, path):
    host, port = server.server_address[:2]
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=60) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.mark.parametrize("which", ["toy", "example"])
def test_demo_takes_and_checks_psi(which, toy_export):
    from ganzoo.demo import make_server

    srv = make_server(str(toy_export.path if which == "toy" else EXAMPLE), port=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        status, body = _get(srv, "/api/info")
        assert status == 200 and json.loads(body)["truncation"] == ("w" if which == "toy" else "z")
        status, avg = _get(srv, "/api/sample?n=4&seed=1&truncation=0")
        assert status == 200 and avg[:8] == b"\x89PNG\r\n\x1a\n"
        if which == "toy":  # psi 0: the average image, for any seed
            assert _get(srv, "/api/sample?n=4&seed=2&truncation=0")[1] == avg
        assert _get(srv, "/api/sample?n=4&seed=1&truncation=0.5")[1] != _get(srv, "/api/sample?n=4&seed=1")[1]
        assert _get(srv, "/api/walk?n=2&frames=3&truncation=0.5")[0] == 200
        for bad in ("1.5", "-0.2", "nan"):
            status, body = _get(srv, f"/api/sample?truncation={bad}")
            assert status == 400 and "truncation must lie in 0.0..1.0" in json.loads(body)["error"]
        status, body = _get(srv, "/api/walk?truncation=abc")
        assert status == 400 and "truncation must be a number" in json.loads(body)["error"]
    finally:
        srv.shutdown()
        srv.server_close()
