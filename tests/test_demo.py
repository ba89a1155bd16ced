"""`ganzoo demo`: the server's answers, its limits, and the page in a real headless Chromium."""

import io
import json
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, headless_browser
from PIL import Image

EXAMPLE = ROOT / "exports" / "examples" / "cgan-digits.onnx"


@pytest.fixture(scope="module")
def server():
    from ganzoo.demo import make_server

    srv = make_server(str(EXAMPLE), port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def get(server, path):
    host, port = server.server_address[:2]
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=60) as res:
            return res.status, res.headers["Content-Type"], res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def test_it_listens_on_loopback_by_default(server):
    assert server.server_address[0] == "127.0.0.1"


def test_info_samples_and_walks(server):
    status, kind, body = get(server, "/api/info")
    info = json.loads(body)
    assert status == 200 and info["model"] == "cdcgan" and info["num_classes"] == 10
    assert info["output_shape"] == [1, 28, 28] and info["class_names"] == [str(d) for d in range(10)]
    status, kind, body = get(server, "/api/sample?n=16&seed=3&label=all&truncation=0.7")
    assert status == 200 and kind == "image/png"
    with Image.open(io.BytesIO(body)) as im:
        assert im.width > 64 and im.height > 64
    assert get(server, "/api/sample?n=16&seed=3&label=all&truncation=0.7")[2] == body  # deterministic
    assert get(server, "/api/sample?n=16&seed=4&label=all")[2] != body
    status, kind, body = get(server, "/api/walk?n=4&frames=6&label=2")
    assert status == 200 and kind == "image/gif"
    with Image.open(io.BytesIO(body)) as im:
        assert im.n_frames == 6
    assert get(server, "/")[0] == 200 and b"ganzoo demo" in get(server, "/")[2]


@pytest.mark.parametrize("path,status,message", [
    ("/api/sample?n=100000", 400, "n must lie in 1..256"),
    ("/api/sample?n=abc", 400, "n must be an integer"),
    ("/api/sample?label=10", 400, "label must be 'all' or an integer in 0..9"),
    ("/api/sample?truncation=nan", 400, "truncation must lie in"),
    ("/api/sample?code.c1=2", 400, "this generator has no code 'c1'"),
    ("/api/sample?zz=1", 400, "unknown parameter 'zz'"),
    ("/api/walk?frames=1000", 400, "frames must lie in 2..48"),
    ("/api/sample?frames=3", 400, "frames goes with /api/walk"),
    ("/nope", 404, "no page /nope"),
])
def test_malformed_requests_get_a_4xx_and_the_server_keeps_serving(server, path, status, message):
    got, kind, body = get(server, path)
    assert got == status and kind == "application/json" and message in json.loads(body)["error"]
    assert get(server, "/api/sample?n=4")[0] == 200


def test_bad_files_and_ports_are_one_line(tmp_path):
    assert_one_line_error(["demo", tmp_path / "missing.onnx"], "missing.onnx")
    assert_one_line_error(["demo", EXAMPLE, "--port", "70000"], "--port must lie in 0..65535")




def test_the_page_in_headless_chromium(server, tmp_path):
    from selenium.webdriver.support.ui import Select, WebDriverWait

    host, port = server.server_address[:2]
    browser = headless_browser()
    try:
        browser.get(f"http://{host}:{port}/")
        wait = WebDriverWait(browser, 60)

        def shown(fragment):
            def check(b):
                img = b.find_element("id", "grid")
                ready = b.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img)
                return ready and fragment in (img.get_attribute("data-query") or "")
            return check

        wait.until(shown("/api/sample"))
        assert "cgan" in browser.find_element("id", "about").text
        first = browser.find_element("id", "grid").get_attribute("src")
        browser.find_element("id", "new").click()
        wait.until(lambda b: b.find_element("id", "grid").get_attribute("src") != first)
        wait.until(shown("/api/sample"))
        Select(browser.find_element("id", "label")).select_by_value("3")
        wait.until(shown("label=3"))
        assert "label=3" in browser.find_element("id", "download").get_attribute("href")
        browser.find_element("id", "walk").click()
        wait.until(shown("/api/walk"))
        browser.execute_script("const n = document.getElementById('n'); n.add(new Option('5000'));"
                               "n.value = '5000'; n.dispatchEvent(new Event('change'))")  # past the server's cap
        wait.until(lambda b: "n must lie in 1..256" in b.find_element("id", "status").text)
        Select(browser.find_element("id", "n")).select_by_visible_text("36")
        shot = Path(os.environ.get("GANZOO_DEMO_SCREENSHOT", tmp_path / "demo.png"))
        Select(browser.find_element("id", "label")).select_by_value("all")
        browser.execute_script("document.getElementById('seed').value = '7';"
                               "document.getElementById('seed').dispatchEvent(new Event('change'))")
        wait.until(shown("seed=7"))
        time.sleep(0.2)
        browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 5000
    finally:
        browser.quit()


def test_a_points_generator_gets_a_scatter_and_no_walk(tmp_path):
    from conftest import train_tiny

    from ganzoo.demo import make_server
    from ganzoo.onnx.export import export_run

    run = train_tiny("vanilla", tmp_path / "run", dataset="ring8")
    path = export_run(run, output=tmp_path / "ring8.onnx").path
    srv = make_server(str(path), port=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        status, kind, body = get(srv, "/api/sample?n=200&seed=1")
        assert status == 200 and kind == "image/png"
        with Image.open(io.BytesIO(body)) as im:
            assert im.size == (512, 512) and len(np.unique(np.asarray(im.convert("RGB")).reshape(-1, 3), axis=0)) > 1
        status, _, body = get(srv, "/api/walk?n=4")
        assert status == 400 and "animates image generators" in json.loads(body)["error"]
    finally:
        srv.shutdown()
        srv.server_close()
