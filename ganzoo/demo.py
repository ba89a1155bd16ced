"""``ganzoo demo FILE.onnx``: a local web page to explore an exported generator.

An image-to-image export (``ganzoo.task`` = "translate") gets an upload page instead: a picture
chosen or dropped on the page (or one of ``--examples``) is sent as the body of
``POST /api/translate``; the answer is the translation as a PNG (``?view=side-by-side``: source |
translation), with the note of what was done to the source in the ``X-Ganzoo-Note`` header. The
upload is capped in bytes (refused unread when its Content-Length says more) and in pixels (read
from the header before any pixel is decoded); a body that is no picture is answered 415, one over
a cap 413, each with a one-line JSON message the page shows, and the server keeps serving.

A small HTTP server (standard library only) runs the generator with onnxruntime — no
torch — and the page asks it for pictures: new samples, a latent walk, a class and the
latent codes to fix, a truncation psi (as ``ganzoo generate --truncation``), a PNG to download. The server listens on
127.0.0.1 unless told otherwise, caps what one request may ask for, answers a malformed
request with a 4xx and a one-line message, and keeps serving after it. It is safe to leave
running (``ganzoo.webserver``): timeouts, a fixed number of worker threads, size caps, and
a Host allowlist against DNS rebinding.
"""

from __future__ import annotations

import io
import json
import math
import threading
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ganzoo import limits
from ganzoo.errors import GanzooError
from ganzoo.grid import grid_picture
from ganzoo.sampling import every_class, find_class, row_names
from ganzoo.webserver import TIMEOUT, WORKERS, Handler, WebServer

MAX_SAMPLES = 256
MAX_FRAMES = 48
MAX_PIXELS = 24_000_000  # of one picture or of all frames of a walk, so one request cannot exhaust memory
SCATTER_SIZE = 512
#: Image-to-image uploads: seconds a client has to send a whole request (8 MB at 300 kB/s), and
#: the bytes all uploads still arriving may hold together (eight whole ones).
UPLOAD_TIMEOUT = 30.0
UPLOAD_BUFFER = 8 * limits.DEMO_UPLOAD_BYTES


class BadRequest(Exception):
    """A request the server refuses with 400 and this message."""


class Demo:
    """What the handler needs: the generator and the pictures it makes for a query."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.lock = threading.Lock()  # one generator run at a time: a busy page cannot oversubscribe the CPU

    def info(self) -> dict[str, Any]:
        m = self.model
        return {"model": m.model, "dataset": m.dataset, "steps": m.steps, "latent_dim": m.latent_dim,
                "num_classes": m.num_classes, "class_names": m.class_names, "codes": m.codes,
                "output_shape": list(m.output_shape or []),
                "truncation": m.truncation,
                "provider": m.provider, "limits": {"n": MAX_SAMPLES, "frames": MAX_FRAMES}}

    # -- queries --------------------------------------------------------------------------------
    def _inputs(self, query: dict[str, str]) -> tuple[int, np.ndarray | None, dict[str, Any], int | None, int, float]:
        """(n, labels, codes, images per row, seed, truncation) from a query, or BadRequest."""
        known = {"n", "seed", "truncation", "label", "frames"}
        unknown = [k for k in query if k not in known and not k.startswith("code.")]
        if unknown:
            raise BadRequest(f"unknown parameter {unknown[0]!r}; the parameters are n, seed, truncation, label, "
                             "frames and code.NAME")
        n = _integer(query, "n", 16, 1, MAX_SAMPLES)
        seed = _integer(query, "seed", 0, 0, 2**31 - 1)
        truncation = _number(query, "truncation", 1.0, 0.0, 1.0)  # psi, as generate --truncation takes it
        labels, nrow = self._labels(query.get("label"), n)
        if labels is not None:
            n = len(labels)
        codes = {k[5:]: v for k, v in query.items() if k.startswith("code.")}
        known_codes = {c["name"]: c for c in self.model.codes}
        fixed: dict[str, Any] = {}
        for name, text in codes.items():
            code = known_codes.get(name)
            if code is None:
                raise BadRequest(f"this generator has no code {name!r}; its codes: {', '.join(known_codes) or 'none'}")
            try:
                fixed[name] = int(text) if code["kind"] == "categorical" else float(text)
            except ValueError:
                raise BadRequest(f"code.{name} must be a number, got {text!r}") from None
        shape = self.model.output_shape or ()
        if len(shape) == 3 and n * math.prod(shape) > MAX_PIXELS:
            raise BadRequest(f"{n} samples of {list(shape)} are more than one picture may hold; ask for fewer")
        return n, labels, fixed, nrow, seed, truncation

    def _labels(self, text: str | None, n: int) -> tuple[np.ndarray | None, int | None]:
        k = self.model.num_classes
        if not k:
            if text not in (None, ""):
                raise BadRequest("this generator is unconditional: drop label")
            return None, None
        if text in (None, "", "all"):  # a row per class, as generate --labels all
            if k > MAX_SAMPLES:
                raise BadRequest(f"label=all draws one row per class, {k:,} rows here, more than the {MAX_SAMPLES} "
                                 "samples a picture may hold; pick one class")
            labels = np.asarray(every_class(k, n), dtype=np.int64)
            return labels, len(labels) // k
        try:
            label = find_class(text, k, self.model.class_names, flag="label")
        except GanzooError:  # a name or a number, as generate --labels takes them
            named = " or a class name (see /api/info)" if self.model.class_names else ""
            raise BadRequest(f"label must be 'all' or an integer in 0..{k - 1}{named}, got {text!r:.60}") from None
        return np.full(n, label, dtype=np.int64), None

    def sample_png(self, query: dict[str, str]) -> bytes:
        n, labels, codes, nrow, seed, truncation = self._inputs(query)
        if "frames" in query:
            raise BadRequest("frames goes with /api/walk")
        with self.lock:
            out = self.model.sample(n, labels=labels, codes=codes or None, seed=seed, truncation=truncation)
        return _png(out, nrow, self._row_names(labels, nrow))

    def _row_names(self, labels: np.ndarray | None, nrow: int | None) -> list[str] | None:
        """The class of each row of a ``label=all`` grid, to write beside it."""
        return row_names(None if labels is None else labels.tolist(), nrow, self.model.class_names)

    def walk_gif(self, query: dict[str, str]) -> bytes:
        from ganzoo.onnx.runtime import walk

        n, labels, codes, nrow, seed, truncation = self._inputs(query)
        frames = _integer(query, "frames", 16, 2, MAX_FRAMES)
        shape: tuple[int, ...] = tuple(self.model.output_shape or ())
        if len(shape) != 3:
            raise BadRequest("the latent walk animates image generators; this one makes points")
        if frames * n * math.prod(shape) > MAX_PIXELS:
            raise BadRequest(f"{frames} frames of {n} samples are more than one walk may hold; ask for fewer")
        with self.lock:
            batches = walk(self.model, n, frames, labels, codes or None, seed, truncation=truncation)
        names = self._row_names(labels, nrow)
        pictures = [grid_picture(b, nrow, None, names) for b in batches]
        buffer = io.BytesIO()
        pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:],
                         duration=max(40, 3000 // frames), loop=0)
        return buffer.getvalue()


def _integer(query: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    return int(_parsed(query, key, default, low, high, int, "an integer"))


def _number(query: dict[str, str], key: str, default: float, low: float, high: float) -> float:
    return _parsed(query, key, default, low, high, float, "a number")


def _parsed(query: dict[str, str], key: str, default: float, low: float, high: float, kind: type,
            word: str) -> float:
    """``query[key]`` as ``kind`` within ``[low, high]`` (``default`` when absent), or BadRequest."""
    text = query.get(key)
    if text in (None, ""):
        return default
    try:
        value = kind(str(text))
    except ValueError:
        raise BadRequest(f"{key} must be {word}, got {text!r}") from None
    if not low <= value <= high:  # NaN fails too
        raise BadRequest(f"{key} must lie in {low}..{high}, got {text}")
    return value


def _png(out: np.ndarray, nrow: int | None, names: list[str] | None = None) -> bytes:
    from PIL import Image, ImageDraw

    if out.ndim == 4:
        im = grid_picture(out, nrow, None, names)
    else:  # 2-D points: a scatter drawn with Pillow (the base install has no matplotlib)
        pts = out[:, :2]
        low, high = pts.min(axis=0), pts.max(axis=0)
        span = float(max(high - low)) or 1.0
        im = Image.new("RGB", (SCATTER_SIZE, SCATTER_SIZE), "white")
        draw = ImageDraw.Draw(im)
        margin = 16
        for x, y in (pts - low) / span * (SCATTER_SIZE - 2 * margin) + margin:
            draw.ellipse((x - 1.5, SCATTER_SIZE - y - 1.5, x + 1.5, SCATTER_SIZE - y + 1.5), fill="#d62728")
    buffer = io.BytesIO()
    im.save(buffer, format="PNG")
    return buffer.getvalue()


def _page() -> bytes:
    """The page (``ganzoo/demo.html``): plain HTML and script, no build step, nothing fetched from elsewhere."""
    from importlib.resources import files

    return files("ganzoo").joinpath("demo.html").read_bytes()


class _Handler(Handler):
    demo: Demo
    server_version = "ganzoo-demo"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            if parts.path in ("/", "/index.html"):
                self.answer(HTTPStatus.OK, "text/html; charset=utf-8", _page())
            elif parts.path == "/api/info":
                self.answer(HTTPStatus.OK, "application/json", json.dumps(self.demo.info()).encode())
            elif parts.path == "/api/sample":
                self.answer(HTTPStatus.OK, "image/png", self.demo.sample_png(query))
            elif parts.path == "/api/walk":
                self.answer(HTTPStatus.OK, "image/gif", self.demo.walk_gif(query))
            else:
                self.refuse(HTTPStatus.NOT_FOUND, f"no page {parts.path}; try / or /api/info")
        except (BadRequest, GanzooError) as exc:
            self.refuse(HTTPStatus.BAD_REQUEST, str(exc))
        except Exception as exc:  # the server outlives any one request
            self.refuse(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")

    def do_POST(self) -> None:
        self.refuse(HTTPStatus.METHOD_NOT_ALLOWED, "the demo answers GET requests only")


class TranslateDemo:
    """What the handler of an image-to-image export needs: the translator, the example files."""

    def __init__(self, model: Any, examples: dict[str, Any] | None = None) -> None:
        self.model = model
        self.examples = dict(examples or {})  # name -> path, listed (and checked) at start
        self.lock = threading.Lock()  # one translation at a time: a busy page cannot oversubscribe the CPU

    def info(self) -> dict[str, Any]:
        m = self.model
        return {"task": "translate", "model": m.model, "dataset": m.dataset, "steps": m.steps,
                "domains": list(m.domains), "direction": m.direction, "source_shape": list(m.source_shape),
                "output_shape": list(m.output_shape), "scale": m.scale, "multiple": m.multiple,
                "provider": m.provider, "examples": list(self.examples),
                "limits": {"bytes": limits.DEMO_UPLOAD_BYTES, "pixels": limits.DEMO_SOURCE_PIXELS_MAX,
                           "output_pixels": limits.DEMO_OUTPUT_PIXELS_MAX}}

    def translate_png(self, body: bytes, query: dict[str, str]) -> tuple[bytes, str]:
        """(PNG of the translation, a note for the page); BadRequest, Unusable or TooBig when refused."""
        from ganzoo.onnx import translate

        unknown = [k for k in query if k != "view"]
        if unknown or query.get("view", "translation") not in ("translation", "side-by-side"):
            raise BadRequest("the one parameter is view=translation (the default) or view=side-by-side")
        if not body:
            raise BadRequest("send the picture's bytes as the body of POST /api/translate")
        try:
            picture = translate.read_picture(body, self.model.channels, "the upload", limits.DEMO_SOURCE_PIXELS_MAX,
                                             limits.DEMO_UPLOAD_BYTES)
        except translate.TooLarge as big:
            raise TooBig(f"the upload is {big}") from None
        except translate.BadImage as bad:
            raise Unusable(f"the upload cannot be used: {bad}") from None
        h, w, s = picture.height, picture.width, self.model.scale
        if h * w * s * s > limits.DEMO_OUTPUT_PIXELS_MAX:
            raise TooBig(f"a {w} x {h} source gives a {w * s} x {h * s} result, over the "
                         f"{limits.DEMO_OUTPUT_PIXELS_MAX:,} pixels the demo makes; downscale it")
        try:
            plan = self.model.plan(h, w)
        except GanzooError as exc:
            raise TooBig(str(exc)) from None
        with self.lock:
            out = self.model.translate_picture(picture)
        if query.get("view") == "side-by-side":
            out = translate.side_by_side_picture(picture.pixels, out, s)
        note = plan.note(self.model.model, self.model.multiple) or ""
        return translate.png_bytes(out), f"{w} x {h} -> {w * s} x {h * s}" + (f"; {note}" if note else "")

    def example(self, name: str) -> tuple[bytes, str]:
        """An example's bytes and content type, read now (it may have changed since the start)."""
        path = self.examples.get(name)
        if path is None:
            raise NotFound(f"no example {name[:80]!r}; the examples: {', '.join(self.examples) or 'none'}")
        try:
            data = path.read_bytes() if path.stat().st_size <= limits.DEMO_UPLOAD_BYTES else b""
        except OSError as exc:
            raise NotFound(f"example {name!r} cannot be read now: {exc.strerror or exc}") from None
        if not data:
            raise NotFound(f"example {name!r} is empty or grew past the upload limit since the demo started")
        kinds = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                 ".bmp": "image/bmp", ".webp": "image/webp", ".tif": "image/tiff", ".tiff": "image/tiff"}
        return data, kinds.get(path.suffix.lower(), "application/octet-stream")


class Unusable(BadRequest):
    """An upload that is no picture the demo reads: 415."""


class TooBig(BadRequest):
    """An upload over a size limit: 413."""


class NotFound(BadRequest):
    """No such example: 404."""


def _status(exc: BadRequest) -> HTTPStatus:
    if isinstance(exc, TooBig):
        return HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    if isinstance(exc, Unusable):
        return HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    if isinstance(exc, NotFound):
        return HTTPStatus.NOT_FOUND
    return HTTPStatus.BAD_REQUEST


class _TranslateHandler(Handler):
    demo: TranslateDemo
    server_version = "ganzoo-demo"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        try:
            if parts.path in ("/", "/index.html"):
                self.answer(HTTPStatus.OK, "text/html; charset=utf-8", _page())
            elif parts.path == "/api/info":
                self.answer(HTTPStatus.OK, "application/json", json.dumps(self.demo.info()).encode())
            elif parts.path.startswith("/api/example/"):
                from urllib.parse import unquote

                data, kind = self.demo.example(unquote(parts.path[len("/api/example/"):]))
                self.answer(HTTPStatus.OK, kind, data)
            elif parts.path in ("/api/sample", "/api/walk"):
                raise BadRequest("this demo runs an image-to-image model: POST a picture to /api/translate")
            else:
                self.refuse(HTTPStatus.NOT_FOUND, f"no page {parts.path}; try / or /api/info")
        except BadRequest as exc:
            self.refuse(_status(exc), str(exc))
        except Exception as exc:  # the server outlives any one request
            self.refuse(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            if parts.path != "/api/translate":
                raise NotFound(f"no endpoint {parts.path}; POST pictures to /api/translate")
            length = int(self.headers.get("Content-Length") or 0)  # checked by the server as it arrived
            png, note = self.demo.translate_png(self.rfile.read(length), query)
            self.answer(HTTPStatus.OK, "image/png", png, {"X-Ganzoo-Note": _ascii(note)})
        except BadRequest as exc:
            self.refuse(_status(exc), str(exc))
        except GanzooError as exc:
            self.refuse(HTTPStatus.BAD_REQUEST, str(exc))
        except Exception as exc:  # the server outlives any one request
            self.refuse(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")


def _ascii(text: str) -> str:
    """A header value: one line of printable ASCII."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:500]


def find_examples(folder: str | None) -> dict[str, Any]:
    """``--examples FOLDER``: {name: path} of its pictures (not its sub-folders), each checked
    against the upload limits now, so that a bad one is one line before the server starts."""
    from pathlib import Path

    from ganzoo.onnx import translate

    if folder is None:
        return {}
    where = Path(folder)
    if not where.is_dir():
        raise GanzooError(f"--examples {folder}: no such folder; give a folder of example pictures")
    images = translate.list_images(where)
    if not images:
        raise GanzooError(f"--examples {folder} holds no pictures ({' '.join(translate.IMAGE_SUFFIXES)})")
    if len(images) > limits.DEMO_EXAMPLES_MAX:
        raise GanzooError(f"--examples {folder} holds {len(images)} pictures, more than the "
                          f"{limits.DEMO_EXAMPLES_MAX} a page lists; choose a few")
    for image in images:
        try:
            translate.probe(image, limits.DEMO_SOURCE_PIXELS_MAX, limits.DEMO_UPLOAD_BYTES)
        except translate.BadImage as bad:
            raise GanzooError(f"--examples: cannot use '{image}': {bad}; remove or replace it") from None
    return {image.name: image for image in images}


def make_server(model_file: str, host: str = "127.0.0.1", port: int = 8000, provider: str = "auto", *,
                timeout: float | None = None, workers: int = WORKERS, max_connections: int = 4096,
                examples: str | None = None) -> WebServer:
    """A server for ``model_file`` bound to ``host:port`` (port 0: any free one); not started.
    ``timeout``: seconds a client has to send its whole request (default: TIMEOUT, and
    UPLOAD_TIMEOUT for the uploads of an image-to-image export); ``workers``: threads that
    answer. ``examples``: a folder of example sources, for an image-to-image export only."""
    from ganzoo.onnx import translate

    model = translate.load_any(model_file, provider=provider)
    options: dict[str, Any] = {}
    if isinstance(model, translate.Translator):
        model.check_pictures()
        handler: type[Handler] = type("Handler", (_TranslateHandler,),
                                      {"demo": TranslateDemo(model, find_examples(examples))})
        options = {"max_body": limits.DEMO_UPLOAD_BYTES, "max_buffered": UPLOAD_BUFFER}
        timeout = UPLOAD_TIMEOUT if timeout is None else timeout
    else:
        if examples is not None:
            raise GanzooError(f"--examples is for image-to-image exports; '{model_file}' makes images from noise: "
                              "drop --examples")
        if model.output_shape is None:
            raise GanzooError(f"'{model_file}' does not say its output shape (ganzoo.output_shape); export it again")
        handler = type("Handler", (_Handler,), {"demo": Demo(model)})
    try:
        return WebServer((host, port), handler, timeout=TIMEOUT if timeout is None else timeout, workers=workers,
                         max_connections=max_connections, **options)
    except OSError as exc:
        raise GanzooError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                          "pass another --port or --host") from None
