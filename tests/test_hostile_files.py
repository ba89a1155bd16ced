"""Hostile files at every boundary (issue 28, item 2): image folders and zip archives,
dataset.json, a run's config.json and ONNX files with lying metadata. Each one is made
here, tiny (a 30000 x 30000 PNG is a 60-byte header, a zip bomb a few kilobytes of zeros,
a 17 MB file a sparse one), and each must end the command in one ``Error:`` line naming
the file and what is wrong, before any memory or time is spent on it."""

from __future__ import annotations

import io
import json
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import assert_one_line_error, train_tiny
from onnx import TensorProto, helper
from PIL import Image

from ganzoo.data import files as files_mod
from ganzoo.data.files import ImageFiles, Stream
from ganzoo.errors import GanzooError

SPARSE_17MB = 17 * 1024**2


# -- makers -----------------------------------------------------------------------------------------
def png(w: int = 12, h: int = 12, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def huge_header_png(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h pixels: a few bytes on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def image_folder(root: Path, n: int = 16) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"{i:03d}.png").write_bytes(png(seed=i))
    return root


def sparse(path: Path, size: int = SPARSE_17MB) -> Path:
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def image_zip(path: Path, extra: dict[str, bytes] | None = None, n: int = 16, compress: int = zipfile.ZIP_STORED
              ) -> Path:
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        for i in range(n):
            zf.writestr(f"img{i:03d}.png", png(seed=i))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def train_args(data: Path, out: Path) -> list:
    return ["train", "vanilla", "--dataset", f"folder:{data}", "--image-size", "8", "--steps", "1",
            "--batch-size", "4", "--device", "cpu", "--out", out, "--quiet"]


# -- images in folder:PATH ------------------------------------------------------------------------
BAD_IMAGES = {
    "text named .png": lambda root: (root / "bad.png").write_text("hello, not an image"),
    "empty .png": lambda root: (root / "bad.png").write_bytes(b""),
    "30000x30000 header": lambda root: (root / "bad.png").write_bytes(huge_header_png(30000, 30000)),
    "9000x9000 header (Pillow only warns)": lambda root: (root / "bad.png").write_bytes(huge_header_png(9000, 9000)),
    "symlink outside the folder": lambda root: (root / "bad.png").symlink_to(Path(__file__).resolve()),
    "symlink to a text file inside": lambda root: ((root / "notes.txt").write_text("hi"),
                                                   (root / "bad.png").symlink_to(root / "notes.txt")),
    "broken symlink": lambda root: (root / "bad.png").symlink_to(root / "nowhere.png"),
}


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_a_bad_image_in_a_folder_is_one_line_before_training(tmp_path, case):
    root = image_folder(tmp_path / "data")
    BAD_IMAGES[case](root)
    assert_one_line_error(train_args(root, tmp_path / "run"), f"'{root / 'bad.png'}'")
    assert not (tmp_path / "run" / "config.json").exists()  # found before the run folder was made


def test_special_files_are_no_images(tmp_path):
    root = image_folder(tmp_path / "data")
    (root / "folder.png").mkdir()  # a folder named like an image is no file at all
    (root / "sub").mkdir()
    (root / "sub" / "dataset.json").write_text("{}")  # a nested labels file is no image either
    assert len(ImageFiles.open(root, 8)) == 16


def test_a_nested_labels_file_is_not_read_as_an_image(tmp_path):
    root = image_folder(tmp_path / "data")
    (root / "sub").mkdir()
    (root / "sub" / "dataset.json").write_text("{}")
    (root / "sub" / "x.png").write_bytes(png())
    (root / "y").mkdir()
    (root / "y" / "x.png").write_bytes(png())
    with pytest.raises(GanzooError, match="mixes loose images"):
        ImageFiles.open(root, 8)


def truncated_png() -> bytes:
    whole = png(64, 64)
    return whole[:len(whole) // 2]  # the header reads; the pixels do not


@pytest.mark.parametrize("workers", [0, 1])
def test_a_truncated_image_found_while_decoding_names_the_file(tmp_path, workers):
    root = image_folder(tmp_path / "data")
    (root / "bad.png").write_bytes(truncated_png())
    files = ImageFiles.open(root, 8)  # the header is fine: found when the pixels are decoded
    with pytest.raises(GanzooError) as err:
        files.load(workers=workers)
    message = str(err.value)
    assert "\n" not in message and str(root / "bad.png") in message and "Traceback" not in message
    stream = Stream(files, 17, seed=0, device=torch.device("cpu"), workers=workers)
    with pytest.raises(GanzooError) as err:
        stream()
    assert "\n" not in str(err.value) and str(root / "bad.png") in str(err.value)


def test_a_truncated_image_stops_train_with_one_line(tmp_path):
    root = image_folder(tmp_path / "data")
    (root / "bad.png").write_bytes(truncated_png())
    assert_one_line_error([*train_args(root, tmp_path / "run"), "--workers", "1"], str(root / "bad.png"))


def test_skipping_bad_images_counts_them(tmp_path, monkeypatch, capsys):
    from ganzoo.data.images import folder

    root = image_folder(tmp_path / "data")
    (root / "a.png").write_text("text")
    (root / "b.png").write_bytes(huge_header_png(30000, 30000))
    (root / "c.png").write_bytes(truncated_png())
    monkeypatch.setenv(files_mod.SKIP_ENV, "1")
    files = folder(str(root), image_size=8)
    assert len(files) == 17 and [Path(w).name for w, _ in files.skipped] == ["a.png", "b.png"]
    assert "skipped 2 unreadable image(s)" in capsys.readouterr().err
    data = files.load(workers=1)  # the truncated one is left out as it fails to decode
    assert len(data) == 16 and [Path(w).name for w, _ in files.skipped][-1] == "c.png"
    stream = Stream(ImageFiles.open(root, 8), 17, seed=0, device=torch.device("cpu"), workers=1)
    x, _ = stream()  # a neighbour stands in: the batch keeps its size
    assert x.shape == (17, 3, 8, 8) and "skipped unreadable image" in capsys.readouterr().err


# -- archives -------------------------------------------------------------------------------------
def zeros_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("img000.png", png())
        zf.writestr("bomb.bmp", b"\0" * (8 * 1024**2))  # 8 MB of zeros: 8 KB compressed
    return path


def declared_bomb(path: Path) -> Path:
    """A small member whose central directory entry declares 3.5 GB expanded."""
    image_zip(path, {"big.png": b"\0" * 2048}, compress=zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    entry = raw.rfind(b"PK\x01\x02")  # the last central directory entry: big.png's
    assert raw[entry + 46:entry + 53] == b"big.png"
    raw[entry + 24:entry + 28] = struct.pack("<I", 3_500_000_000)
    path.write_bytes(bytes(raw))
    return path


ARCHIVES = {
    "zip bomb of zeros": (zeros_bomb, "over 100x (a zip bomb?)"),
    "declared 3.5 GB": (declared_bomb, "over 100x (a zip bomb?)"),
    "member ../evil.png": (lambda p: image_zip(p, {"../evil.png": png()}), "'../evil.png', a path that leaves"),
    "member /abs.png": (lambda p: image_zip(p, {"/abs.png": png()}), "a path that leaves"),
    "text member": (lambda p: image_zip(p, {"bad.png": b"not an image"}), ":bad.png'"),
    "bomb header member": (lambda p: image_zip(p, {"bad.png": huge_header_png(30000, 30000)}), "over the limit of"),
    "truncated zip": (lambda p: p.write_bytes(image_zip(p).read_bytes()[:300]), "neither a folder nor a zip"),
    "labels of 10**12": (lambda p: image_zip(p, {"dataset.json": json.dumps(
        {"labels": [[f"img{i:03d}.png", 10**12] for i in range(16)]})}), "over the limit of 100,000 classes"),
    "labels []": (lambda p: image_zip(p, {"dataset.json": "[]"}), 'is not {"labels": [[file, label], ...]}'),
    "labels non-UTF-8": (lambda p: image_zip(p, {"dataset.json": b"\xff\xfe{}"}), "is not UTF-8"),
    "labels not pairs": (lambda p: image_zip(p, {"dataset.json": json.dumps({"labels": [["img000.png"]]})}),
                         "labels[0] must be [file, integer label]"),
    "labels bool": (lambda p: image_zip(p, {"dataset.json": json.dumps({"labels": [["img000.png", True]]})}),
                    "labels[0] must be"),
    "labels deeply nested": (lambda p: image_zip(p, {"dataset.json": "[" * 100_000 + "]" * 100_000}),
                             "nests too deeply"),
    "labels 17 MB": (lambda p: image_zip(p, {"dataset.json": b" " * SPARSE_17MB}),
                     "over the 16 MB limit"),
}


@pytest.mark.parametrize("case", list(ARCHIVES))
def test_a_hostile_archive_is_one_line_before_extraction(tmp_path, case):
    make, expected = ARCHIVES[case]
    path = tmp_path / "set.zip"
    make(path)
    assert_one_line_error(train_args(path, tmp_path / "run"), expected)


@pytest.mark.parametrize("limit,value,expected", [
    ("MAX_MEMBERS", 3, "declares 17 members, over the limit of 3"),
    ("MAX_ARCHIVE_BYTES", 1000, "over the limit of 0 GB"),
])
def test_archive_count_and_size_limits(tmp_path, monkeypatch, limit, value, expected):
    monkeypatch.setattr(files_mod, limit, value)
    path = image_zip(tmp_path / "set.zip", {"dataset.json": json.dumps({"labels": None})})
    assert_one_line_error(train_args(path, tmp_path / "run"), expected)


def test_a_member_over_the_size_limit_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(files_mod, "MAX_IMAGE_BYTES", 100)
    path = image_zip(tmp_path / "set.zip")
    assert_one_line_error(train_args(path, tmp_path / "run"), "img000.png': 0 MB expanded, over the limit")


FOLDER_LABELS = {
    "17 MB": (lambda p: sparse(p), "over the 16 MB limit"),
    "[]": (lambda p: p.write_text("[]"), 'is not {"labels": [[file, label], ...]}'),
    "non-UTF-8": (lambda p: p.write_bytes(b'{"labels": "\xff"}'), "is not UTF-8 text (byte 0xff at offset 12)"),
    "NaN": (lambda p: p.write_text('{"labels": NaN}'), "NaN is not a JSON number"),
    "missing key": (lambda p: p.write_text('{"label": null}'), 'is not {"labels"'),
    "string label": (lambda p: p.write_text(json.dumps({"labels": [["000.png", "7"]]})), "labels[0] must be"),
}


@pytest.mark.parametrize("case", list(FOLDER_LABELS))
def test_a_hostile_labels_file_in_a_folder(tmp_path, case):
    root = image_folder(tmp_path / "data")
    make, expected = FOLDER_LABELS[case]
    make(root / "dataset.json")
    assert_one_line_error(train_args(root, tmp_path / "run"), expected)


# -- a run's config.json --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    return train_tiny("vanilla", tmp_path_factory.mktemp("hostile") / "run", dataset="ring8")


def _edit(key: str, value):
    def apply(path: Path) -> None:
        meta = json.loads(path.read_text())
        target = meta
        *parents, last = key.split(".")
        for part in parents:
            target = target[part]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
        path.write_text(json.dumps(meta))
    return apply


CONFIGS = {
    "a list": (lambda p: p.write_text("[]"), "the file must be a JSON object {...}, got a list"),
    "non-UTF-8": (lambda p: p.write_bytes(b'{"model": "\xc3\x28"}'), "is not UTF-8 text"),
    "17 MB": (lambda p: sparse(p), "over the 16 MB limit"),
    "not JSON": (lambda p: p.write_text("{"), "is not valid JSON"),
    "missing steps": (_edit("steps", KeyError), "the key 'steps' is missing"),
    "steps abc": (_edit("steps", "abc"), "'steps' must be an integer in 1..1,000,000,000, got \"abc\""),
    "betas 5": (_edit("betas", 5), "'betas' must be two numbers in [0, 1)"),
    "latent_dim 10**9": (_edit("latent_dim", 10**9), "'latent_dim' must be an integer in 1..65,536"),
    "shape 1e999": (lambda p: p.write_text(p.read_text().replace('"shape": [', '"shape": [1e999, ')),
                    "'data.shape' must be"),
    "model_classes 10**12": (_edit("data.model_classes", 10**12), "'data.model_classes' must be an integer in"),
    "data missing": (_edit("data", KeyError), "the key 'data' is missing"),
    "modes of words": (_edit("data.modes", ["a", "b"]), "'data.modes' must be a list of [x, y] points or null"),
    "options a list": (_edit("options", []), "'options' must be an object"),
    "threads x": (_edit("runtime.threads", "x"), "'runtime.threads' must be"),
}
COMMANDS = {
    "sample": lambda run, tmp: ["sample", run, "-o", tmp / "s.png"],
    "export": lambda run, tmp: ["export", run, "--onnx", "-o", tmp / "x.onnx"],
    "eval": lambda run, tmp: ["eval", run, "-o", tmp / "e.json"],
    "bench": lambda run, tmp: ["bench", run, "--quiet"],
    "train --resume": lambda run, tmp: ["train", "--resume", run, "--steps", "3", "--quiet"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(CONFIGS))
def test_a_hostile_config_json_is_one_line_in_every_command(good_run, tmp_path, case, command):
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    make, expected = CONFIGS[case]
    make(run / "config.json")
    assert_one_line_error(COMMANDS[command](run, tmp_path), expected)


# -- ONNX files -----------------------------------------------------------------------------------
def tiny_onnx(path: Path, metadata: dict[str, str], latent: int | str = 4, labels: bool = False,
              code: bool = False) -> Path:
    """z [N, latent] -> images [N, 1, 2, 2] (latent 4); a labels or code input rides along unused."""
    inputs = [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent])]
    if labels:
        inputs.append(helper.make_tensor_value_info("labels", TensorProto.INT64, ["batch"]))
    if code:
        inputs.append(helper.make_tensor_value_info("c1", TensorProto.INT64, ["batch"]))
    shape = helper.make_tensor("shape", TensorProto.INT64, [4], [-1, 1, 2, 2])
    node = helper.make_node("Reshape", ["z", "shape"], ["images"])
    out = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 1, 2, 2])
    model = helper.make_model(helper.make_graph([node], "g", inputs, [out], [shape]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    base = {"ganzoo.latent_dim": "4", "ganzoo.num_classes": "0", "ganzoo.output_shape": "[1, 2, 2]",
            "ganzoo.model": "tiny", "ganzoo.dataset": "digits"}
    for key, value in {**base, **metadata}.items():
        if value is not None:
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


ONNX_FILES = {
    "num_classes 10**12": (lambda p: tiny_onnx(p, {"ganzoo.num_classes": str(10**12)}, labels=True),
                           "corrupt ganzoo.num_classes '1000000000000'"),
    "output_shape 1e999": (lambda p: tiny_onnx(p, {"ganzoo.output_shape": "[1e999, 8, 8]"}),
                           "corrupt ganzoo.output_shape '[1e999, 8, 8]'"),
    "output_shape against the graph": (lambda p: tiny_onnx(p, {"ganzoo.output_shape": "[1, 3, 3]"}),
                                       "says ganzoo.output_shape [1, 3, 3] but its output 'images' is"),
    "code of size 2**70": (lambda p: tiny_onnx(p, {"ganzoo.codes": json.dumps(
        [{"name": "c1", "kind": "categorical", "size": 2**70}])}, code=True), "is not an integer in 2..100,000"),
    "latent_dim 10**9 on a dynamic graph": (lambda p: tiny_onnx(p, {"ganzoo.latent_dim": str(10**9)}, latent="d"),
                                            "corrupt ganzoo.latent_dim '1000000000'"),
    "latent_dim not a number": (lambda p: tiny_onnx(p, {"ganzoo.latent_dim": "four"}), "corrupt ganzoo.latent_dim"),
    "over 2 GB": (lambda p: sparse(p, 2 * 1024**3 + 1), "over the 2 GB limit"),
    "not an ONNX file": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)), "not an ONNX model"),
}
ONNX_COMMANDS = {
    "generate": lambda path, tmp: ["generate", path, "-o", tmp / "g.png"],
    "bench": lambda path, tmp: ["bench", path, "--no-torch", "--quiet"],
    "eval": lambda path, tmp: ["eval", path, "-o", tmp / "e.json"],
}


@pytest.mark.parametrize("command", list(ONNX_COMMANDS))
@pytest.mark.parametrize("case", list(ONNX_FILES))
def test_a_hostile_onnx_file_is_one_line(tmp_path, case, command):
    make, expected = ONNX_FILES[case]
    path = tmp_path / "model.onnx"
    make(path)
    assert_one_line_error(ONNX_COMMANDS[command](path, tmp_path), expected)


def test_the_tiny_onnx_file_itself_runs(tmp_path):
    from ganzoo.onnx import runtime

    G = runtime.load(tiny_onnx(tmp_path / "ok.onnx", {}), provider="cpu")
    assert G.sample(3, seed=0).shape == (3, 1, 2, 2)
