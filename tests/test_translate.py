"""`ganzoo translate`, the torch-free image-to-image runtime, its bench rows and its demo page.

Two kinds of files: tiny real exports (srgan and pix2pix, 2 training steps, exported by the zoo)
for the paths that need a real network (tiling, padding that a U-Net needs), and hand-built
graphs (onnx.helper: Neg, nearest Resize) with translation metadata, whose outputs are known
exactly, for conversions, padding and cropping, and the error lines.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, headless_browser, invoke, train_tiny
from PIL import Image

NOISE = ROOT / "exports" / "examples" / "cgan-digits.onnx"


# -- files ------------------------------------------------------------------------------------------
def synthetic(path: Path, *, channels: int = 3, scale: int = 1, multiple: int = 4, train: int = 8,
              out_channels: int | None = None, domains=("plain", "inverted")) -> Path:
    """A hand-built image-to-image export: ``images = -source`` (scale 1) or ``source`` enlarged
    ``scale`` times by nearest neighbour, with the metadata ganzoo export writes."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    out_c = out_channels or channels
    x = helper.make_tensor_value_info("source", TensorProto.FLOAT, ["batch", channels, "height", "width"])
    y = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", out_c, "out_height", "out_width"])
    inits = []
    if scale == 1:
        nodes = [helper.make_node("Neg", ["source"], ["images"])]
    else:
        inits = [helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, float(scale), float(scale)])]
        nodes = [helper.make_node("Resize", ["source", "", "scales"], ["images"], mode="nearest")]
    model = helper.make_model(helper.make_graph(nodes, "synthetic", [x], [y], initializer=inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"ganzoo.model": "synthetic", "ganzoo.version": "0", "ganzoo.task": "translate", "ganzoo.latent_dim": "0",
            "ganzoo.num_classes": "0", "ganzoo.source_shape": json.dumps([channels, train, train]),
            "ganzoo.output_shape": json.dumps([out_c, train * scale, train * scale]), "ganzoo.scale": str(scale),
            "ganzoo.multiple": str(multiple), "ganzoo.domains": json.dumps(list(domains)), "ganzoo.direction": "",
            "ganzoo.input_range": "[-1, 1]", "ganzoo.output_range": "[-1, 1]", "ganzoo.dataset": "none",
            "ganzoo.steps": "0", "ganzoo.weights": "raw", "ganzoo.kind": "images"}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def picture(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    Image.fromarray(array, mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def noise(shape, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that claims ``width`` x ``height`` pixels in its header and holds none."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("translate")


@pytest.fixture(scope="module")
def srgan(work) -> Path:
    """A real srgan export: 1 channel, x4, any side (multiple 1)."""
    from ganzoo.onnx.export import export_run

    run = train_tiny("srgan", work / "srgan", options={"width": 8, "blocks": 1})
    return export_run(run, output=work / "srgan.onnx").path


@pytest.fixture(scope="module")
def pix2pix(work) -> Path:
    """A real pix2pix export: a U-Net that takes only sides that are multiples of 32."""
    from ganzoo.onnx.export import export_run

    run = train_tiny("pix2pix", work / "pix2pix", options={"width": 8})
    return export_run(run, output=work / "pix2pix.onnx").path


@pytest.fixture(scope="module")
def neg3(work) -> Path:
    return synthetic(work / "neg3.onnx", channels=3, multiple=4)


@pytest.fixture(scope="module")
def up1(work) -> Path:
    return synthetic(work / "up1.onnx", channels=1, scale=4, multiple=1)


# -- the command -----------------------------------------------------------------------------------
def test_translate_a_file_and_a_folder(srgan, tmp_path):
    one = picture(tmp_path / "one.png", noise((20, 30)))
    code, output = invoke("translate", srgan, one, "-o", tmp_path / "out.png")
    assert code == 0, output
    assert output.strip().splitlines()[-1].startswith(f"wrote {tmp_path / 'out.png'} (srgan, 8px -> 32px")
    with Image.open(tmp_path / "out.png") as im:
        assert im.size == (120, 80) and im.mode == "L"
    folder = tmp_path / "in"
    folder.mkdir()
    for name, shape in (("a.png", (20, 30)), ("b.jpg", (20, 30, 3)), ("c.png", (9, 13)), ("c.jpg", (9, 13))):
        picture(folder / name, noise(shape))
    (folder / "readme.txt").write_text("not a picture, and not read")
    (folder / "sub").mkdir()
    picture(folder / "sub" / "d.png", noise((5, 5)))  # sub-folders are not read
    code, output = invoke("translate", srgan, folder, "-o", tmp_path / "out")
    assert code == 0, output
    assert "translated 1 of 4: " in output and "translated 4 of 4: " in output
    assert output.strip().splitlines()[-1] == (f"wrote 4 translations (srgan, 8px -> 32px, CPUExecutionProvider) "
                                               f"to {tmp_path / 'out'}")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.jpg.png", "c.png"]
    with Image.open(tmp_path / "out" / "c.jpg.png") as im:
        assert im.size == (52, 36)


def test_side_by_side_puts_the_enlarged_source_beside_the_translation(up1, tmp_path):
    source = noise((6, 5, 3))
    code, output = invoke("translate", up1, picture(tmp_path / "s.png", source), "-o", tmp_path / "pair.png",
                          "--side-by-side")
    assert code == 0, output
    with Image.open(tmp_path / "pair.png") as im:
        pair = np.asarray(im)
    assert pair.shape == (24, 20 + 4 + 20)  # grey | gap | grey
    assert np.array_equal(pair[:, :20], pair[:, 24:])  # the nearest x4 network reproduces the enlarged source
    assert (pair[:, 20:24] == 255).all()


def test_padding_crops_back_exactly(neg3, tmp_path):
    from ganzoo.onnx import translate

    T = translate.load(neg3, provider="cpu")
    plan = T.plan(30, 45)
    assert (plan.padded_height, plan.padded_width, plan.tile) == (32, 48, 0) and plan.padded
    assert "padded to 48 x 32" in plan.note(T.model, T.multiple)
    assert (T.plan(3, 5).padded_height, T.plan(3, 5).padded_width) == (4, 8)  # the next multiples of 4
    x = np.random.default_rng(1).uniform(-1, 1, (2, 3, 30, 45)).astype(np.float32)
    assert np.array_equal(T.translate(x), -x)
    source = noise((30, 45, 3))
    code, output = invoke("translate", neg3, picture(tmp_path / "odd.png", source), "-o", tmp_path / "odd-out.png")
    assert code == 0 and "note: 45 x 30 padded to 48 x 32 for synthetic" in output, output
    with Image.open(tmp_path / "odd-out.png") as im:
        assert np.array_equal(np.asarray(im).astype(int), 255 - source.astype(int))


def test_a_unet_gets_sides_it_takes(pix2pix, tmp_path):
    from ganzoo.errors import GanzooError
    from ganzoo.onnx import translate

    T = translate.load(pix2pix, provider="cpu")
    assert (T.multiple, T.scale, T.domains) == (32, 1, ("edges", "digits"))
    with pytest.raises(GanzooError, match="onnxruntime failed on .* with a 1x1x45x70 source"):
        T.run(np.zeros((1, 1, 45, 70), np.float32))  # what padding spares the user
    edges = picture(tmp_path / "e.png", noise((45, 70, 3)))
    code, output = invoke("translate", pix2pix, edges, "-o", tmp_path / "d.png")
    assert code == 0 and "sides that are multiples of 32" in output, output
    with Image.open(tmp_path / "d.png") as im:
        assert im.size == (70, 45)


def test_tiles_give_the_untiled_result(srgan):
    from ganzoo import limits
    from ganzoo.onnx import translate

    T = translate.load(srgan, provider="cpu")
    x = np.random.default_rng(2).uniform(-1, 1, (1, 1, 150, 130)).astype(np.float32)
    plan = T.plan(150, 130)
    assert plan.tile == limits.TILE_DEFAULT and len(plan.tiles()) == 9
    whole = T.translate(x, tile=0)
    assert whole.shape == (1, 1, 600, 520)
    # a receptive field of a few pixels (one residual block): inside the 8-px overlap, so exact
    assert np.abs(T.translate(x) - whole).max() < 1e-5
    assert np.abs(T.translate(x, tile=30) - whole).max() < 1e-5
    assert T.plan(40, 40).tile == 0  # small pictures in one piece


@pytest.mark.parametrize("length,tile", [(64, 64), (65, 64), (100, 64), (113, 64), (500, 24), (1000, 96)])
def test_tile_spans_keep_every_pixel_once_and_away_from_tile_edges(length, tile):
    from ganzoo import limits
    from ganzoo.onnx.translate import _spans

    spans = _spans(length, tile)
    kept = [i for _, _, a, b in spans for i in range(a, b)]
    assert kept == list(range(length))
    for start, size, a, b in spans:
        assert start >= 0 and start + size <= length and size == min(tile, length)
        assert a == 0 or a >= start + limits.TILE_OVERLAP
        assert b == length or b <= start + size - limits.TILE_OVERLAP


def test_pictures_are_brought_to_the_files_channels(up1, neg3, tmp_path):
    from ganzoo.onnx import translate

    grey = translate.load(up1, provider="cpu")
    rgb = noise((7, 9, 3))
    with Image.open(picture(tmp_path / "rgb.png", rgb)) as im:
        want = np.asarray(im.convert("L")).astype(int)
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114  # ITU-R 601
    assert np.abs(want - luma).max() <= 1
    out = grey.translate_picture(translate.read_picture(tmp_path / "rgb.png", 1))
    assert out.shape == (28, 36, 1) and np.array_equal(out[::4, ::4, 0].astype(int), want)
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent: white
    rgba[0, 0] = (0, 0, 0, 255)  # one opaque black pixel
    got = translate.read_picture(picture(tmp_path / "rgba.png", rgba, "RGBA"), 1).pixels[..., 0]
    assert got[0, 0] == 0 and (got.ravel()[1:] == 255).all()
    deep = Image.fromarray(np.arange(16, dtype=np.uint16).reshape(4, 4) * np.uint16(4369))  # 16-bit grey
    deep.save(tmp_path / "deep.png")
    got = translate.read_picture(tmp_path / "deep.png", 1).pixels[..., 0]
    assert got[0, 0] == 0 and got[-1, -1] == 255 and np.all(np.diff(got.ravel().astype(int)) >= 0)
    colour = translate.load(neg3, provider="cpu")
    g = noise((8, 8))
    pixels = translate.read_picture(picture(tmp_path / "g.png", g), 3).pixels
    assert pixels.shape == (8, 8, 3) and all(np.array_equal(pixels[..., k], g) for k in range(3))
    assert colour.translate_picture(translate.read_picture(tmp_path / "g.png", 3)).shape == (8, 8, 3)
    Image.fromarray(g).convert("P").save(tmp_path / "p.gif")
    assert translate.read_picture(tmp_path / "p.gif", 3).pixels.shape == (8, 8, 3)


# -- errors: one line each --------------------------------------------------------------------------
def test_bad_input_is_one_line(srgan, neg3, work, tmp_path):
    good = picture(tmp_path / "good.png", noise((8, 8)))
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"this is not a picture")
    not_onnx = tmp_path / "model.onnx"
    not_onnx.write_bytes(b"junk junk junk")
    big = png_header(tmp_path / "huge.png", 5000, 5000)
    tall = png_header(tmp_path / "tall.png", 3000, 2500)
    whole = picture(tmp_path / "whole.png", np.zeros((1000, 1100, 3), np.uint8))
    two = synthetic(work / "two.onnx", channels=2)
    empty = tmp_path / "empty"
    empty.mkdir()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cases = [
        (["translate", not_onnx, good, "-o", tmp_path / "o.png"], "is not an ONNX model onnxruntime can load"),
        (["translate", NOISE, good, "-o", tmp_path / "o.png"], "is a noise -> image generator (cdcgan), not an "
                                                               "image-to-image model: use ganzoo generate"),
        (["translate", srgan, fake, "-o", tmp_path / "o.png"], f"cannot read image '{fake}': not an image Pillow"),
        (["translate", srgan, big, "-o", tmp_path / "o.png"], "5000 x 5000 pixels, over the limit of 16,777,216"),
        (["translate", neg3, whole, "-o", tmp_path / "o.png"], "synthetic takes at once: it sees the whole image"),
        (["translate", srgan, tall, "-o", tmp_path / "o.png"], "(x4), over the 89,478,485 pixels Pillow opens"),
        (["translate", two, good, "-o", tmp_path / "o.png"], "2-channel sources, which no picture converts to"),
        (["translate", srgan, good, "-o", blocker / "o.png"], "cannot create the folder"),
        (["translate", srgan, good, "-o", tmp_path / "o.jpg"], "does not end in .png"),
        (["translate", srgan, good], "give the output with -o"),
        (["translate", srgan, tmp_path / "missing.png", "-o", tmp_path / "o.png"], "no such image or folder"),
        (["translate", srgan, empty, "-o", tmp_path / "o"], f"folder '{empty}' holds no images"),
        (["translate", srgan, empty, "-o", empty], "is the input folder"),
        (["translate", neg3, good, "-o", tmp_path / "o.png", "--tile", "64"], "cannot run in tiles; drop --tile"),
        (["translate", srgan, good, "-o", tmp_path / "o.png", "--tile", "5"], "--tile must be at least 24"),
        (["generate", srgan], "is an image-to-image model (srgan, 8px -> 32px), not a noise -> image generator: "
                              "use ganzoo translate"),
        (["demo", srgan, "--examples", tmp_path / "nowhere"], "--examples"),
        (["demo", NOISE, "--examples", tmp_path], "--examples is for image-to-image exports"),
    ]
    for args, expected in cases:
        assert_one_line_error(args, expected)
    assert not (tmp_path / "o.png").exists()


def test_a_bad_picture_in_a_folder_stops_or_is_skipped(srgan, tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    picture(folder / "a.png", noise((8, 8)))
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    picture(folder / "c.png", noise((8, 8)))
    assert_one_line_error(["translate", srgan, folder, "-o", tmp_path / "out"],
                          f"cannot read image '{folder / 'b.png'}': ")
    assert_one_line_error(["translate", srgan, folder, "-o", tmp_path / "out"], "GANZOO_SKIP_BAD_IMAGES=1")
    monkeypatch.setenv("GANZOO_SKIP_BAD_IMAGES", "1")
    code, output = invoke("translate", srgan, folder, "-o", tmp_path / "out")
    assert code == 0, output
    assert f"note: skipped unreadable image '{folder / 'b.png'}'" in output
    assert output.strip().splitlines()[-1].endswith("; skipped 1 image(s) (see the notes above)")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]


# -- bench -------------------------------------------------------------------------------------------
def test_bench_times_sizes_and_batches_with_onnxruntime_only(srgan, tmp_path):
    out = tmp_path / "bench.json"
    code, output = invoke("bench", srgan, "--sizes", "8,16x12", "--batch-sizes", "1,2", "--providers", "cpu",
                          "--runs", "3", "--warmup", "1", "--max-time", "1", "--threads", "1", "-q", "--json", out)
    assert code == 0, output
    assert "8x8 -> 32x32" in output and "16x12 -> 64x48" in output and "out MP/s" in output
    assert "skipped torch-cpu: PyTorch rows are not measured for image-to-image exports" in output
    data = json.loads(out.read_text())
    assert data["model"]["task"] == "translate" and data["settings"]["sizes"] == [[8, 8], [16, 12]]
    rows = [r for r in data["results"] if r["backend"] == "ort-cpu"]
    assert [(r["height"], r["width"], r["batch"]) for r in rows] == [(8, 8, 1), (8, 8, 2), (16, 12, 1), (16, 12, 2)]
    for r in rows:
        assert r["status"] == "ok" and r["ms_per_image"] == pytest.approx(r["p50_ms"] / r["batch"], rel=1e-2)
        pixels = r["batch"] * r["out_height"] * r["out_width"]
        assert r["megapixels_per_s"] == pytest.approx(pixels / 1e6 / (r["p50_ms"] / 1000), rel=1e-2)
    assert_one_line_error(["bench", srgan, "--sizes", "abc"], "--sizes takes source sides")
    assert_one_line_error(["bench", NOISE, "--sizes", "8"], "--sizes is for image-to-image exports")


# -- the demo ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def examples(work) -> Path:
    folder = work / "examples"
    folder.mkdir()
    picture(folder / "seven.png", noise((12, 10)))
    picture(folder / "wide.jpg", noise((8, 20, 3)))
    return folder


@pytest.fixture(scope="module")
def server(srgan, examples):
    from ganzoo.demo import make_server

    srv = make_server(str(srgan), port=0, examples=str(examples))
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(server, path: str, body: bytes | None = None, headers: dict | None = None):
    host, port = server.server_address[:2]
    req = urllib.request.Request(f"http://{host}:{port}{path}", data=body, headers=headers or {},
                                 method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return res.status, res.headers, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def raw(server, data: bytes) -> tuple[int, dict]:
    import socket

    with socket.create_connection(server.server_address[:2], timeout=30) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body) if b"application/json" in head else {}


def test_the_upload_endpoint_translates_and_refuses_in_one_line(server, examples, tmp_path):
    status, _, body = request(server, "/api/info")
    info = json.loads(body)
    assert status == 200 and info["task"] == "translate" and info["scale"] == 4
    assert info["examples"] == ["seven.png", "wide.jpg"] and info["limits"]["bytes"] == 8 * 1024**2
    upload = (examples / "seven.png").read_bytes()
    status, headers, body = request(server, "/api/translate", upload)
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert headers["X-Ganzoo-Note"] == "10 x 12 -> 40 x 48"
    with Image.open(io.BytesIO(body)) as im:
        assert im.size == (40, 48) and im.mode == "L"
    status, _, body = request(server, "/api/translate?view=side-by-side", upload)
    with Image.open(io.BytesIO(body)) as im:
        assert status == 200 and im.size == (40 + 4 + 40, 48)
    status, _, body = request(server, "/api/example/wide.jpg")
    assert status == 200 and body == (examples / "wide.jpg").read_bytes()
    buffer = io.BytesIO()
    Image.new("L", (1100, 1000)).save(buffer, format="PNG")
    refusals = [
        (request(server, "/api/translate", b"no picture at all"), 415, "the upload cannot be used: not an image"),
        (request(server, "/api/translate", buffer.getvalue()), 413, "the upload is 1100 x 1000 pixels, over the"),
        (request(server, "/api/translate", b""), 400, "send the picture's bytes"),
        (request(server, "/api/translate?n=3", upload), 400, "view=translation"),
        (request(server, "/api/example/..%2F..%2Fetc%2Fpasswd"), 404, "no example '../../etc/passwd'"),
        (request(server, "/api/sample?n=4"), 400, "POST a picture to /api/translate"),
    ]
    for (status, headers, body), want, message in refusals:
        assert status == want and headers["Content-Type"] == "application/json", (status, body)
        assert message in json.loads(body)["error"] and "\n" not in json.loads(body)["error"]
        assert request(server, "/api/info")[0] == 200  # still serving
    port = server.server_address[1]
    status, body = raw(server, f"POST /api/translate HTTP/1.1\r\nHost: localhost:{port}\r\n"
                               f"Content-Length: {9 * 1024**2}\r\n\r\n".encode())  # refused unread
    assert status == 413 and "larger than the 8,388,608 bytes (8 MB) the demo takes" in body["error"]
    assert request(server, "/api/translate", upload)[0] == 200


def test_uploads_arriving_at_once_are_capped_in_memory(srgan):
    import socket

    from ganzoo.demo import make_server

    srv = make_server(str(srgan), port=0)
    srv.max_buffered = 256 * 1024  # in place of eight whole uploads
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    try:
        port = srv.server_address[1]
        head = f"POST /api/translate HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Length: 1000000\r\n\r\n".encode()
        socks = [socket.create_connection(srv.server_address[:2], timeout=30) for _ in range(3)]
        answers = []
        for sock in socks:
            sock.sendall(head + b"x" * 100_000)
        for sock in socks:
            try:
                answers.append(sock.recv(200))
            except OSError:
                answers.append(b"")
            sock.close()
        assert any(b" 503 " in a for a in answers), answers
        deadline = time.monotonic() + 10
        while srv._buffered and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv._buffered == 0  # every byte accounted for once the connections went
    finally:
        srv.shutdown()
        srv.server_close()




def test_the_upload_page_in_headless_chromium(server, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    source = picture(tmp_path / "digit.png", noise((11, 9)))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a picture")
    host, port = server.server_address[:2]
    browser = headless_browser()
    try:
        browser.get(f"http://{host}:{port}/")
        wait = WebDriverWait(browser, 60)

        def result(name, width):
            def check(b):
                img = b.find_element("id", "result")
                ready = b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)
                return ready == width and img.get_attribute("data-name") == name
            return check

        wait.until(lambda b: "srgan" in b.find_element("id", "about").text)
        assert browser.find_element("id", "translator").is_displayed()
        assert not browser.find_element("id", "generator").is_displayed()
        browser.find_element("id", "file").send_keys(str(source))
        wait.until(result("digit.png", 36))
        assert "translated digit.png: 9 x 11 -> 36 x 44" in browser.find_element("id", "tstatus").text
        assert browser.execute_script("return document.getElementById('source').naturalWidth") == 9
        link = browser.find_element("id", "tdownload")
        assert link.is_displayed() and link.get_attribute("download") == "digit-32px.png"
        assert link.get_attribute("href").startswith("blob:")
        browser.find_element("id", "file").send_keys(str(junk))
        wait.until(lambda b: "not an image" in b.find_element("id", "tstatus").text)
        assert "error" in browser.find_element("id", "tstatus").get_attribute("class")
        browser.find_element("css selector", "[data-example='wide.jpg']").click()
        wait.until(result("wide.jpg", 80))
        shot = Path(os.environ.get("GANZOO_TRANSLATE_SCREENSHOT", tmp_path / "translate.png"))
        browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 5000
    finally:
        browser.quit()


# -- without torch -------------------------------------------------------------------------------------
NO_TORCH = textwrap.dedent("""
    import importlib.abc, sys
    class _Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision", "timm", "safetensors", "onnx"):
                raise ImportError(f"{name} is blocked: translating must need no torch")
            return None
    sys.meta_path.insert(0, _Blocked())
""")


def test_translate_and_its_demo_run_with_torch_blocked(srgan, tmp_path):
    source = picture(tmp_path / "in.png", noise((10, 70)))
    code = NO_TORCH + textwrap.dedent(f"""
        import numpy as np
        from ganzoo.onnx import translate
        T = translate.load({str(srgan)!r}, provider="cpu")
        T.translate_file({str(source)!r}, {str(tmp_path / "api.png")!r})
        from ganzoo.demo import make_server
        make_server({str(srgan)!r}, port=0).server_close()
        from ganzoo.cli import main
        sys.argv = ["ganzoo", "translate", {str(srgan)!r}, {str(source)!r}, "-o", {str(tmp_path / "cli.png")!r},
                    "--provider", "cpu"]
        try:
            main()
        except SystemExit as stop:
            assert not stop.code, stop.code
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "safetensors", "onnx")))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
    with Image.open(tmp_path / "api.png") as a, Image.open(tmp_path / "cli.png") as b:
        assert a.size == b.size == (280, 40) and np.array_equal(np.asarray(a), np.asarray(b))


def test_a_file_whose_metadata_lies_costs_no_time_and_is_one_line(tmp_path):
    """A file that claims a 2048-px training size pads nothing to it; one that claims another
    scale than its graph has is refused when the graph's output does not match."""
    import time

    source = picture(tmp_path / "one.png", noise((1, 1)))
    big = synthetic(tmp_path / "big.onnx", channels=1, train=2048)
    started = time.monotonic()
    code, output = invoke("translate", big, source, "-o", tmp_path / "one-out.png")
    assert code == 0 and time.monotonic() - started < 30, output
    onnx = pytest.importorskip("onnx")
    liar = synthetic(tmp_path / "liar.onnx", channels=1, scale=4)
    meta = onnx.load(str(liar))
    for entry in meta.metadata_props:
        if entry.key == "ganzoo.scale":
            entry.value = "8"
        elif entry.key == "ganzoo.output_shape":
            entry.value = json.dumps([1, 64, 64])
    onnx.save(meta, str(liar))
    assert_one_line_error(["translate", liar, source, "-o", tmp_path / "x.png"],
                          "promise [1, 1, 32, 32]; export it again")


def test_translating_a_picture_onto_itself_is_refused(tmp_path):
    neg = synthetic(tmp_path / "neg.onnx", channels=1)
    source = picture(tmp_path / "a.png", noise((8, 8)))
    before = source.read_bytes()
    assert_one_line_error(["translate", neg, source, "-o", source], "is the input picture")
    assert source.read_bytes() == before


def test_bodies_waiting_for_a_worker_count_against_the_upload_memory():
    """A finished upload waiting behind a slow translation is still in memory: it counts until
    its answer goes, so a crowd of uploads is refused (503) instead of queued without bound."""
    import socket

    from ganzoo.webserver import Handler, WebServer

    release = threading.Event()

    class Slow(Handler):
        def do_POST(self) -> None:
            release.wait(30)
            self.send_response(200)
            self.end_headers()

    srv = WebServer(("127.0.0.1", 0), Slow, workers=1, max_body=200_000, max_buffered=250_000)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = srv.server_address[1]
    body = b"x" * 100_000
    head = f"POST /up HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    socks = []
    try:
        for _ in range(4):  # each whole: the first is with the worker, the others wait for it
            sock = socket.create_connection(srv.server_address[:2], timeout=30)
            sock.sendall(head + body)
            socks.append(sock)
            time.sleep(0.2)
        refused = socks[-1].recv(200)
        assert b" 503 " in refused, refused
        release.set()
        assert all(b" 200 " in sock.recv(200) for sock in socks[:2])
        deadline = time.monotonic() + 10
        while srv._buffered and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv._buffered == 0
    finally:
        release.set()
        for sock in socks:
            sock.close()
        srv.shutdown()
        srv.server_close()


def test_two_content_lengths_are_refused():
    """The socket thread and the handler would read two different bodies: one header, or 400."""
    from ganzoo.webserver import Refusal, request_size

    head = b"POST /api/translate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 9\r\n\r\nabc"
    with pytest.raises(Refusal, match="one Content-Length header"):
        request_size(head, 1000)
    assert request_size(head.replace(b"Content-Length: 9\r\n", b""), 1000) == len(head) - len(b"Content-Length: 9\r\n")
