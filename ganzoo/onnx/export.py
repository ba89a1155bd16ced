"""Export a trained generator to a verified, self-describing ONNX file (the torch side).

Why each step is there:

- The generator must be in eval mode: one left in train mode exports silently with
  eval-mode BatchNorm, so the file would not compute what PyTorch computes.
- Noise must be an input: ``randn`` inside ``forward`` becomes a RandomNormalLike node
  and every run of the file differs. Verification rejects such a generator.
- The dynamo exporter (``torch.export``) is tried first; a third-party model it cannot
  capture falls back to the TorchScript exporter, and the result says which was used.
- Verification (``onnx.checker`` full check, shape inference, the I/O contract, and
  onnxruntime on the CPU against PyTorch at batch 1, 7 and 64) runs on the very bytes
  that ship: the file is written under a hidden temporary name and renamed into place
  only after it passed, so a failed export never leaves a file that looks valid.
- ``metadata_props`` make the file self-describing: someone with only the ``.onnx`` and
  onnxruntime knows the latent size, the classes, the output shape and range. A
  conditional run whose data set named its classes (digits, emoji groups, an image
  folder's sub-folders) adds ``ganzoo.class_names``, a JSON list, so that ``generate
  --labels NAME`` and the demo need no list beside the file.
- A generator with latent codes (a ``codes`` attribute of ``ganzoo.api.Code``) gets one
  graph input per code after ``z`` and ``labels``, named as the code (int64 [batch] for
  categorical codes, float32 [batch] for continuous ones), and the metadata
  ``ganzoo.codes`` saying their kinds and ranges; verification feeds random valid codes.
  A generator without codes exports exactly as it did before codes existed.
- Truncation: a generator that truncates in its own latent space (``truncation = "w"``,
  ``ganzoo.api.truncates_w``: StyleGAN's average w) needs that average inside the graph,
  so it gets one more input, ``truncation`` float32 [1] (psi), after z, labels and codes,
  and is verified at psi 1 and at psi 0.7. The metadata ``ganzoo.truncation`` says "w" for
  it and "z" for every other generator, which the runtime truncates by drawing z from a
  truncated normal instead.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import math
import os
import re
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from ganzoo.api import Code, codes_of, directions, truncates_w
from ganzoo.errors import GanzooError, check_writable, io_error
from ganzoo.onnx import IMAGES, LABELS, METADATA_KEYS, TRUNCATION, Z
from ganzoo.onnx.session import open_session
from ganzoo.registry import Registry

#: Verification passes when every output element agrees with PyTorch to this much.
TOLERANCE = 1e-4
#: Batch sizes verification runs at: 1 and an odd one catch a batch dimension baked
#: into the graph, 64 a typical grid.
VERIFY_BATCHES = (1, 7, 64)
#: The example batch the graph is traced with: at least 2 (torch.export specializes 0
#: and 1) and unlikely to coincide with a feature dimension.
EXAMPLE_BATCH = 5
EXPORTERS = ("auto", "dynamo", "torchscript")
#: psi values a "w" generator is verified at: 1 (no truncation) and one that really pulls w.
VERIFY_TRUNCATIONS = (1.0, 0.7)
#: Operators that make a graph non-deterministic: a generator must take its noise as input.
RANDOM_OPS = frozenset({"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike",
                        "Multinomial", "Bernoulli"})


def _opset_bounds() -> tuple[int, int, int, int]:
    """(lowest, highest, dynamo default, highest for TorchScript) as this torch knows them."""
    try:
        from torch.onnx import _constants as c

        return (int(c.ONNX_MIN_OPSET), int(c.ONNX_MAX_OPSET), int(c.ONNX_DEFAULT_OPSET),
                int(c.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET))
    except (ImportError, AttributeError):  # private module: keep working if it moves
        return 7, 20, 18, 17


class VerificationError(GanzooError):
    """The exported graph does not compute what the PyTorch generator computes."""


class ExportError(GanzooError):
    """Neither exporter could turn the generator into ONNX."""


@dataclass
class ExportResult:
    """What ``export_run``/``export_generator`` produced; the CLI, the conformance kit and
    ``ganzoo bench`` read it rather than re-opening the file."""

    path: Path
    exporter: str  # "dynamo" or "torchscript"
    opset: int
    verified: bool
    #: max |ONNX - PyTorch| per batch size, or per "BxHxW" source size for an image-to-image export
    max_abs_diff: dict[Any, float] = field(default_factory=dict)
    tolerance: float = TOLERANCE
    fallback_reason: str | None = None  # why the dynamo exporter was not used
    weights: str | None = None  # "ema" or "raw" for a run directory
    metadata: dict[str, str] = field(default_factory=dict)
    size_bytes: int = 0
    seconds: float = 0.0

    @property
    def worst_diff(self) -> float:
        return max(self.max_abs_diff.values()) if self.max_abs_diff else float("nan")

    def verification_line(self) -> str:
        """The one line with the figures that ``ganzoo export`` prints."""
        if not self.verified:
            return ("not verified (--no-verify): onnx.checker, shape inference and the onnxruntime comparison "
                    "were skipped")
        figures = ", ".join(f"{_fmt(d)} @ {'batch ' if isinstance(b, int) else ''}{b}"
                            for b, d in self.max_abs_diff.items())
        psis = (f" at truncation {' and '.join(f'{p:g}' for p in VERIFY_TRUNCATIONS)}"
                if self.metadata.get("ganzoo.truncation") == "w" else "")
        return (f"verified: onnx.checker (full) + shape inference ok; onnxruntime CPU vs PyTorch "
                f"max|Δ| {figures}{psis} (limit {self.tolerance:g})")

    def summary(self) -> str:
        shape = "x".join(str(d) for d in json.loads(self.metadata.get("ganzoo.output_shape", "[]")))
        classes = self.metadata.get("ganzoo.num_classes", "0")
        cond = f", {classes} classes" if classes not in ("", "0") else ""
        codes = [c.get("name", "?") for c in json.loads(self.metadata.get("ganzoo.codes") or "[]")]
        cond += f", codes {', '.join(codes)}" if codes else ""
        cond += ", truncation psi" if self.metadata.get("ganzoo.truncation") == "w" else ""
        weights = f", {self.weights} weights" if self.weights else ""
        precision = self.metadata.get("ganzoo.precision")
        weights += f", {precision}" if precision in ("fp16", "int8") else ""
        if self.metadata.get("ganzoo.task") == "translate":
            c_in = json.loads(self.metadata.get("ganzoo.source_shape", "[0]"))[0]
            s = self.metadata.get("ganzoo.scale", "1")
            sized = "HxW" if s == "1" else f"{s}Hx{s}W"
            a, b = json.loads(self.metadata.get("ganzoo.domains", '["?", "?"]'))
            multiple = self.metadata.get("ganzoo.multiple", "1")
            sizes = "any batch and size" + ("" if multiple == "1" else f" in multiples of {multiple}")
            return (f"wrote {self.path} ({_size(self.size_bytes)}; {self.exporter} exporter, opset {self.opset}"
                    f"{weights}; {a} -> {b}: source[{c_in}xHxW] -> {shape.split('x')[0]}x{sized}, {sizes})")
        return (f"wrote {self.path} ({_size(self.size_bytes)}; {self.exporter} exporter, opset {self.opset}{weights}; "
                f"z[{self.metadata.get('ganzoo.latent_dim', '?')}]{cond} -> {shape})")

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "exporter": self.exporter, "opset": self.opset, "verified": self.verified,
                "max_abs_diff": {str(b): d for b, d in self.max_abs_diff.items()}, "tolerance": self.tolerance,
                "fallback_reason": self.fallback_reason, "weights": self.weights, "metadata": self.metadata,
                "size_bytes": self.size_bytes, "seconds": round(self.seconds, 3)}


def _fmt(x: float) -> str:
    return "inf" if not math.isfinite(x) else f"{x:.1e}"


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.0f} kB"


# -- metadata ---------------------------------------------------------------------------------
def generator_metadata(G: nn.Module, *, model: str | None = None, dataset: str = "",
                       steps: int | None = None, weights: str = "", kind: str | None = None,
                       extra: dict[str, Any] | None = None) -> dict[str, str]:
    """The ``ganzoo.*`` metadata_props for a generator (exports/README.md lists them).

    The shape-related keys always come from the generator itself, so they cannot lie.
    ``kind`` is "images" or "points"; images are in [-1, 1] by contract, points unbounded.
    What is not known (a generator outside a run) is an empty string, never a guess."""
    from ganzoo import __version__

    shape = [int(d) for d in cast("tuple[int, ...]", G.output_shape)]
    kind = kind or ("images" if len(shape) == 3 else "points")
    codes = codes_of(G)
    props = {
        "ganzoo.model": model or type(G).__name__,
        "ganzoo.version": __version__,
        "ganzoo.latent_dim": str(int(cast(int, G.latent_dim))),
        "ganzoo.num_classes": str(int(cast(int, G.num_classes))),
        "ganzoo.output_shape": json.dumps(shape),
        "ganzoo.output_range": "[-1, 1]" if kind == "images" else "unbounded",
        "ganzoo.dataset": dataset,
        "ganzoo.steps": "" if steps is None else str(int(steps)),
        "ganzoo.weights": weights,
        "ganzoo.kind": kind,
        "ganzoo.truncation": "w" if truncates_w(G) else "z",
    }
    if codes:  # only then: a file without codes keeps exactly the keys it always had
        props["ganzoo.codes"] = json.dumps([c.as_dict() for c in codes])
    for key, value in (extra or {}).items():
        name = key if key.startswith("ganzoo.") else f"ganzoo.{key}"
        props[name] = value if isinstance(value, str) else json.dumps(value)
    return props


def run_metadata(G: nn.Module, meta: dict[str, Any], weights: str, steps: int, run_name: str = "") -> dict[str, str]:
    """Metadata for a run directory's generator: its config.json plus the steps really trained."""
    data = meta.get("data") or {}
    extra: dict[str, Any] = {"loss": str(meta.get("loss", "")), "plugins": meta.get("versions") or {}}
    if run_name:
        extra["run"] = run_name
    if data.get("modes"):
        extra["modes"] = data["modes"]  # mixture centres: scatter plots and mode coverage without the data set
    if data.get("sigma") is not None:
        extra["sigma"] = str(data["sigma"])
    names = data.get("class_names")
    if names and len(names) == int(cast(int, G.num_classes)):  # a conditional model's classes, by name
        extra["class_names"] = list(names)
    return generator_metadata(G, model=str(meta.get("model", type(G).__name__)), dataset=str(meta.get("dataset", "")),
                              steps=steps, weights=weights, kind=data.get("kind"), extra=extra)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata_props of an ONNX file (torch side; the runtime reads them through onnxruntime)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def _stamp(proto: Any, props: dict[str, str]) -> None:
    """Set the ganzoo keys, keep what the exporter wrote, and a human-readable doc string."""
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in props]
    del proto.metadata_props[:]
    for key, value in [*kept, *sorted(props.items())]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    shape = "x".join(str(d) for d in json.loads(props["ganzoo.output_shape"]))
    classes = props["ganzoo.num_classes"]
    labels = f" and labels int64 [batch] in [0, {classes})" if classes != "0" else ""
    if classes != "0" and props.get("ganzoo.class_names"):
        labels += " (named in ganzoo.class_names)"
    codes = json.loads(props.get("ganzoo.codes") or "[]")
    if codes:
        described = ", ".join(
            f"{c['name']} int64 [batch] in [0, {c['size']})" if c["kind"] == "categorical"
            else f"{c['name']} float32 [batch] ~ U({c['low']:g}, {c['high']:g})" for c in codes)
        labels += f"; latent codes {described}"
    if props.get("ganzoo.truncation") == "w":
        labels += f"; {TRUNCATION} float32 [1], psi in [0, 1] (1: none, 0: the average w)"
    trained = (f" ({props['ganzoo.weights'] or 'unknown'} weights, {props['ganzoo.steps'] or '?'} steps on "
               f"{props['ganzoo.dataset'] or '?'})")
    proto.doc_string = (
        f"ganzoo generator '{props['ganzoo.model']}'{trained}. "
        f"Inputs: z float32 [batch, {props['ganzoo.latent_dim']}] ~ N(0, I){labels}. "
        f"Output: images float32 [batch, {shape}], range {props['ganzoo.output_range']}. See metadata_props ganzoo.*."
    )


# -- checks before export ---------------------------------------------------------------------
def _check_class_names(text: str, num_classes: int) -> None:
    """``ganzoo.class_names`` must be what the runtime accepts: a JSON list of one name per class."""
    from ganzoo.schema import class_names_problem

    try:
        names = json.loads(text)
    except (TypeError, ValueError):
        names = None
    problem = class_names_problem(names, num_classes) if num_classes else "absent: the generator is unconditional"
    if problem:
        raise GanzooError(f"metadata ganzoo.class_names must be {problem}; give one name per class or leave it out")


class _Wrapper(nn.Module):
    """Fixes the graph signature to exactly ``(z[, labels][, one input per code][, truncation])
    -> images`` whatever the generator's forward looks like.

    Inputs are positional, in the order of :func:`_names`. The generator is called as
    ``G(z)`` or ``G(z, labels)`` when it has no codes and does not truncate w (forwards
    written before either existed need not accept the keywords), with ``codes={name:
    tensor}`` only when it has codes and ``truncation=psi`` (a float32 tensor [1]) only
    when it truncates w."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.conditional = bool(generator.num_classes)
        self.code_names = tuple(c.name for c in codes_of(generator))
        self.truncates_w = truncates_w(generator)

    def forward(self, z: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        labels = rest[0] if self.conditional else None
        values = rest[1:] if self.conditional else rest
        kwargs: dict[str, Any] = {}
        if self.code_names:
            kwargs["codes"] = dict(zip(self.code_names, values))
        if self.truncates_w:
            kwargs["truncation"] = values[len(self.code_names)]
        if not kwargs:
            out = self.generator(z, labels) if self.conditional else self.generator(z)
        else:
            out = self.generator(z, labels, **kwargs)
        return out.to(torch.float32)


def _check_generator(G: Any) -> None:
    if not isinstance(G, nn.Module):
        raise GanzooError(f"expected a torch.nn.Module generator, got {type(G).__name__}")
    missing = [a for a in ("latent_dim", "num_classes", "output_shape") if not hasattr(G, a)]
    if missing:
        raise GanzooError(
            f"generator {type(G).__name__} lacks the attribute(s) {', '.join(missing)} (docs/plugins.md §2)")
    if not (isinstance(G.latent_dim, int) and G.latent_dim > 0):
        raise GanzooError(f"generator latent_dim must be a positive int, got {G.latent_dim!r}")
    if not (isinstance(G.num_classes, int) and G.num_classes >= 0):
        raise GanzooError(f"generator num_classes must be an int >= 0, got {G.num_classes!r}")
    shape = tuple(cast("tuple[int, ...]", G.output_shape))
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise GanzooError(f"generator output_shape must be positive ints like (1, 28, 28), got {G.output_shape!r}")
    _check_codes(G)
    _check_truncation(G)
    training = [name or type(G).__name__ for name, m in G.named_modules() if m.training]
    if training:
        raise GanzooError(
            f"generator is in training mode ({', '.join(training[:3])}{', ...' if len(training) > 3 else ''}); call "
            ".eval() before export: BatchNorm and Dropout would export differently from what PyTorch computes")


def _check_codes(G: nn.Module) -> None:
    """Codes become graph inputs named after them, so the names must be unique and clear of z/labels/images."""
    raw: Any = getattr(G, "codes", None) or ()
    codes: tuple[Any, ...] = tuple(raw) if isinstance(raw, (tuple, list)) else (raw,)
    bad = [c for c in codes if not isinstance(c, Code)]
    if bad:
        raise GanzooError(f"generator codes must be ganzoo.api.Code objects, got {type(bad[0]).__name__}: "
                          "declare them as codes = (Code('c1', 'categorical', size=10), ...)")
    names = [c.name for c in codes]
    taken = (Z, LABELS, IMAGES, TRUNCATION) if truncates_w(G) else (Z, LABELS, IMAGES)
    clash = sorted({n for n in names if n in taken or names.count(n) > 1})
    if clash:
        raise GanzooError(f"generator code name(s) {', '.join(clash)} clash with another graph input or output; "
                          f"rename them (names must be unique and not {', '.join(taken[:-1])} or {taken[-1]})")


def _check_truncation(G: nn.Module) -> None:
    """A generator that declares ``truncation = "w"`` is called with ``truncation=psi``: say
    so here rather than through the TypeError its forward would raise mid-export."""
    if not truncates_w(G):
        return
    try:
        params = inspect.signature(G.forward).parameters.values()
    except (TypeError, ValueError):
        return
    if not any(p.name == "truncation" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        raise GanzooError(f"generator {type(G).__name__} declares truncation = 'w' but its forward takes no "
                          "truncation= keyword: add forward(z, labels=None, *, truncation=None) (psi; None or 1: "
                          "none) or drop the attribute")


def _device(G: nn.Module) -> torch.device:
    for tensor in [*G.parameters(), *G.buffers()]:
        return tensor.device
    return torch.device("cpu")


def _inputs(G: nn.Module, batch: int, generator: torch.Generator, truncation: float = VERIFY_TRUNCATIONS[-1]
            ) -> tuple[torch.Tensor, ...]:
    """Random valid inputs in the order of :func:`_names`: z, labels, each code from its prior,
    then psi ([1]) for a generator that truncates w."""
    latent_dim, num_classes = cast(int, G.latent_dim), cast(int, G.num_classes)
    z = torch.randn(batch, latent_dim, generator=generator)
    inputs = [z]
    if num_classes:
        inputs.append(torch.randint(0, num_classes, (batch,), generator=generator, dtype=torch.int64))
    for code in codes_of(G):
        if code.kind == "categorical":
            inputs.append(torch.randint(0, code.size, (batch,), generator=generator, dtype=torch.int64))
        else:
            inputs.append(torch.rand(batch, generator=generator) * (code.high - code.low) + code.low)
    if truncates_w(G):
        inputs.append(torch.tensor([truncation], dtype=torch.float32))
    return tuple(t.to(_device(G)) for t in inputs)


def _forward(module: nn.Module, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return module(*inputs)


def _check_forward(wrapper: nn.Module, G: nn.Module, example: Sequence[torch.Tensor]) -> None:
    try:
        out = _forward(wrapper, example)
    except Exception as exc:
        raise GanzooError(f"generator forward fails on a batch of {EXAMPLE_BATCH}: {_one_line(exc)}") from None
    shape = cast("tuple[int, ...]", G.output_shape)
    want = (EXAMPLE_BATCH, *shape)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != want:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise GanzooError(f"generator returned {got} for a batch of {EXAMPLE_BATCH}; its output_shape "
                          f"{tuple(shape)} promises {want} (docs/plugins.md §2)")


def _check_deterministic(wrapper: nn.Module, example: Sequence[torch.Tensor]) -> None:
    a, b = _forward(wrapper, example), _forward(wrapper, example)
    if not torch.equal(a, b):
        diff = (a - b).abs().max().item()
        raise VerificationError(
            f"verification failed: generator forward is not deterministic in eval mode (two calls on the same z "
            f"differ by up to {diff:.3g}); it samples noise inside forward: take all noise from the input z "
            "instead (docs/plugins.md §2)")


# -- exporters ----------------------------------------------------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _one_line(exc: BaseException) -> str:
    """The innermost cause's first line: the exporters wrap the real reason in pages of advice."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = _ANSI.sub("", str(exc))
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    first = first if len(first) <= 240 else first[:237] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


@contextlib.contextmanager
def _captured(log: list[str]) -> Iterator[None]:
    """Collect everything the exporters write while they run.

    They print progress, warnings and, on failure, pages of graphs and tracebacks, from
    Python, from ``logging`` handlers bound to the real stderr, and from C++; a CLI should
    show one line instead. File descriptors 1 and 2 are redirected as well as sys.stdout
    and sys.stderr; the text is kept in ``log`` for the failure log file."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with tempfile.TemporaryFile() as sink:
        saved: list[tuple[int, int]] = []
        py = io.StringIO()
        try:
            for fd in (1, 2):
                try:
                    saved.append((fd, os.dup(fd)))
                    os.dup2(sink.fileno(), fd)
                except OSError:
                    continue
            with warnings.catch_warnings(), contextlib.redirect_stdout(py), contextlib.redirect_stderr(py):
                warnings.simplefilter("ignore")
                yield
        finally:
            for real in (sys.__stdout__, sys.__stderr__):
                if real is not None:
                    with contextlib.suppress(Exception):
                        real.flush()
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            log.append(sink.read().decode("utf-8", "replace") + py.getvalue())


def _names(G: nn.Module) -> list[str]:
    return [*([Z, LABELS] if G.num_classes else [Z]), *(c.name for c in codes_of(G)),
            *([TRUNCATION] if truncates_w(G) else [])]


def _opset_of(proto: Any) -> int:
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)


def _export_dynamo(wrapper: nn.Module, example: tuple[torch.Tensor, ...], G: nn.Module, opset: int | None) -> Any:
    batch = torch.export.Dim("batch")
    names = _names(G)
    # keyed like torch.export binds the wrapper's forward(z, *rest): {"z": ..., "rest": (one per input)};
    # every input has the batch first except psi, which is [1] whatever the batch
    bound = inspect.signature(wrapper.forward).bind(*example).arguments
    batched = [not (truncates_w(G) and i == len(names) - 1) for i in range(len(names))]
    dynamic = {key: tuple({0: batch} if b else {} for b in batched[1:]) if isinstance(value, tuple) else {0: batch}
               for key, value in bound.items()}
    program = torch.onnx.export(
        wrapper, example, dynamo=True, external_data=False, optimize=True, verbose=False,
        opset_version=opset, input_names=names, output_names=[IMAGES], dynamic_shapes=dynamic,
    )
    if program is None:  # the stub's Optional covers the legacy exporter; dynamo=True always returns a program
        raise RuntimeError("torch.onnx.export returned no ONNX program")
    proto = program.model_proto
    if opset is not None and _opset_of(proto) != opset:
        raise RuntimeError(f"could not convert the graph to opset {opset} (it stayed at {_opset_of(proto)})")
    return proto


def _export_torchscript(wrapper: nn.Module, example: tuple[torch.Tensor, ...], G: nn.Module, opset: int | None) -> Any:
    import onnx

    names = _names(G)
    _, _, default, ts_max = _opset_bounds()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            wrapper, example, str(path), dynamo=False, input_names=names, output_names=[IMAGES],
            dynamic_axes={name: {0: "batch"} for name in [*(names[:-1] if truncates_w(G) else names), IMAGES]},
            opset_version=opset if opset is not None else min(default, ts_max),
        )
        return onnx.load(str(path))


def _export(wrapper: nn.Module, example: tuple[torch.Tensor, ...], G: nn.Module, opset: int | None,
            exporter: str, log: list[str]) -> tuple[Any, str, str | None]:
    """(ONNX proto, exporter used, why dynamo was not used)."""
    dynamo_error = None
    if exporter in ("auto", "dynamo"):
        try:
            with _captured(log):
                return _export_dynamo(wrapper, example, G, opset), "dynamo", None
        except Exception as exc:
            dynamo_error = _one_line(exc)
            if exporter == "dynamo":
                raise ExportError(f"the dynamo exporter failed: {dynamo_error}; try --exporter torchscript") from None
    _, _, _, ts_max = _opset_bounds()
    if opset is not None and opset > ts_max:
        raise ExportError(f"the dynamo exporter failed ({dynamo_error}) and the TorchScript exporter stops at opset "
                          f"{ts_max}; pass --opset {ts_max} or lower" if dynamo_error else
                          f"the TorchScript exporter stops at opset {ts_max}; pass --opset {ts_max} or lower")
    try:
        with _captured(log):
            proto = _export_torchscript(wrapper, example, G, opset)
    except Exception as exc:
        ts_error = _one_line(exc)
        if dynamo_error:
            raise ExportError(f"both exporters failed: dynamo: {dynamo_error}; torchscript: {ts_error}") from None
        raise ExportError(f"the TorchScript exporter failed: {ts_error}") from None
    reason = f"the dynamo exporter failed ({dynamo_error})" if dynamo_error else None
    return proto, "torchscript", reason


# -- verification -----------------------------------------------------------------------------
def _walk(graph: Any) -> Iterator[Any]:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.g is not None and attr.g.node:
                yield from _walk(attr.g)
            for sub in attr.graphs:
                yield from _walk(sub)


def _random_ops(model: Any) -> list[str]:
    nodes = list(_walk(model.graph))
    for function in model.functions:
        nodes += list(function.node)
    return sorted({n.op_type for n in nodes if n.op_type in RANDOM_OPS})


def _check_value(value: Any, elem: int, dims: Sequence[int | None], what: str) -> None:
    import onnx

    tensor = value.type.tensor_type
    if tensor.elem_type != elem:
        raise VerificationError(f"verification failed: {what} '{value.name}' is "
                                f"{onnx.TensorProto.DataType.Name(tensor.elem_type).lower()}, the contract wants "
                                f"{onnx.TensorProto.DataType.Name(elem).lower()}")
    if not tensor.HasField("shape"):
        return
    got = list(tensor.shape.dim)
    if len(got) != len(dims):
        raise VerificationError(f"verification failed: {what} '{value.name}' has rank {len(got)}, the contract wants "
                                f"[batch{''.join(', ' + str(d) for d in dims[1:])}]")
    if got[0].HasField("dim_value"):
        raise VerificationError(f"verification failed: the batch dimension of '{value.name}' is fixed at "
                                f"{got[0].dim_value} in the graph; forward turns the batch size into a Python int "
                                "(len(z), int(z.shape[0]), .item(), ...): use z.shape[0] or view(-1, ...) instead")
    for i, (dim, want) in enumerate(zip(got[1:], dims[1:]), start=1):
        if dim.HasField("dim_value") and dim.dim_value != want:
            raise VerificationError(f"verification failed: '{value.name}' dimension {i} is {dim.dim_value}, "
                                    f"the contract wants {want}")


def _check_io(model: Any, G: nn.Module) -> None:
    import onnx

    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    want = _names(G)
    if [i.name for i in inputs] != want:
        raise VerificationError(f"verification failed: graph inputs are {[i.name for i in inputs]}, "
                                f"the contract wants {want}")
    if [o.name for o in model.graph.output] != [IMAGES]:
        raise VerificationError(f"verification failed: graph outputs are {[o.name for o in model.graph.output]}, "
                                f"the contract wants ['{IMAGES}']")
    _check_value(inputs[0], onnx.TensorProto.FLOAT, [None, cast(int, G.latent_dim)], "input")
    if G.num_classes:
        _check_value(inputs[1], onnx.TensorProto.INT64, [None], "input")
    first = 2 if G.num_classes else 1
    for value, code in zip(inputs[first:], codes_of(G)):
        elem = onnx.TensorProto.INT64 if code.kind == "categorical" else onnx.TensorProto.FLOAT
        _check_value(value, elem, [None], f"{code.kind} code input")
    if truncates_w(G):
        psi = inputs[-1].type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in psi.shape.dim]
        if psi.elem_type != onnx.TensorProto.FLOAT or dims != [1]:
            raise VerificationError(f"verification failed: input '{TRUNCATION}' is "
                                    f"{onnx.TensorProto.DataType.Name(psi.elem_type).lower()} {dims}, "
                                    "the contract wants float [1]")
    _check_value(model.graph.output[0], onnx.TensorProto.FLOAT, [None, *cast("tuple[int, ...]", G.output_shape)],
                 "output")


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))  # equal infinities and NaN where PyTorch has NaN agree
    diff = np.where(same, 0.0, np.abs(a - b))
    worst = float(diff.max()) if diff.size else 0.0
    return worst if math.isfinite(worst) else float("inf")


def verification_session(model: Any) -> Any:
    """An onnxruntime CPU session on the graph being verified (pinned to the CPU: onnxruntime-gpu
    would otherwise try CUDA first and print load errors), or one line saying why it cannot load."""
    try:
        return open_session(model.SerializeToString(), "cpu", max(1, torch.get_num_threads()))
    except Exception as exc:
        raise VerificationError(f"verification failed: onnxruntime cannot load the graph: {_one_line(exc)}") from None


def verify_onnx(path: str | Path, G: nn.Module, *, tolerance: float = TOLERANCE,
           batches: Sequence[int] = VERIFY_BATCHES, seed: int = 0) -> dict[int, float]:
    """Check the ONNX file at ``path`` against the generator; return max |Δ| per batch size.

    Raises :class:`VerificationError` with the reason when the checker, shape inference,
    the I/O contract or the numbers disagree. Inputs are fresh random draws (seeded, so a
    failure reproduces), random labels for conditional models, random codes from their
    priors for generators with latent codes; a generator that truncates w is compared at
    every psi of ``VERIFY_TRUNCATIONS`` (the worst per batch is reported)."""
    import onnx

    model = onnx.load(str(path))
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        raise VerificationError(f"verification failed: onnx.checker rejects the graph: {_one_line(exc)}") from None
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as exc:
        raise VerificationError(f"verification failed: ONNX shape inference: {_one_line(exc)}") from None
    _check_io(inferred, G)
    noisy = _random_ops(model)
    if noisy:
        raise VerificationError(f"verification failed: the graph samples noise ({', '.join(noisy)}), so it cannot "
                                "match PyTorch; take all noise from the input z instead (docs/plugins.md §2)")
    session = verification_session(model)
    wrapper = _Wrapper(G).eval()
    rng = torch.Generator().manual_seed(seed)
    diffs: dict[int, float] = {}
    psis = VERIFY_TRUNCATIONS if truncates_w(G) else VERIFY_TRUNCATIONS[:1]
    for batch in batches:
        for psi in psis:
            inputs = _inputs(G, batch, rng, psi)
            want = _forward(wrapper, inputs).detach().cpu().numpy()
            feeds = {name: t.detach().cpu().numpy() for name, t in zip(_names(G), inputs)}
            at = f"batch {batch}" + (f", truncation {psi:g}" if len(psis) > 1 else "")
            try:
                got = session.run([IMAGES], feeds)[0]
            except Exception as exc:
                raise VerificationError(f"verification failed: onnxruntime fails at {at}: {_one_line(exc)}") from None
            if got.shape != want.shape:
                raise VerificationError(f"verification failed: at {at} onnxruntime returns {list(got.shape)}, "
                                        f"PyTorch {list(want.shape)}; the batch dimension is not really dynamic")
            diffs[batch] = max(diffs.get(batch, 0.0), _max_abs_diff(got, want))
    worst = max(diffs, key=lambda b: diffs[b])
    if not diffs[worst] <= tolerance:
        figures = ", ".join(f"{_fmt(d)} @ batch {b}" for b, d in diffs.items())
        raise VerificationError(f"verification failed: onnxruntime differs from PyTorch by max|Δ| {figures} "
                                f"(limit {tolerance:g})")
    return diffs


# -- front doors ----------------------------------------------------------------------------------
def _check_precision(fp16: bool, int8: bool) -> None:
    if fp16 and int8:
        raise GanzooError("--fp16 and --int8 are two precisions; choose one")


def _check_opset(opset: int | None) -> None:
    if opset is None:
        return
    low, high, default, _ = _opset_bounds()
    if not isinstance(opset, int) or not low <= opset <= high:
        raise GanzooError(f"--opset must be between {low} and {high} (default {default}), got {opset}")


def export_generator(G: nn.Module, output: str | Path, *, metadata: dict[str, str] | None = None,
                     opset: int | None = None, verify: bool = True, tolerance: float = TOLERANCE,
                     exporter: str = "auto", fp16: bool = False, int8: bool = False) -> ExportResult:
    """Export a generator (in eval mode) to ``output`` and, by default, verify it.

    ``metadata`` adds to or overrides :func:`generator_metadata` (shape keys always come
    from ``G``). ``exporter`` is "auto" (dynamo, TorchScript if dynamo fails), "dynamo"
    or "torchscript". Raises :class:`VerificationError` / :class:`ExportError` (both
    GanzooError) and leaves no file at ``output`` when anything fails. ``fp16`` writes
    the graph in half precision with float32 inputs/outputs (for GPU providers; see
    :mod:`ganzoo.onnx.fp16`), verified to at least ``FP16_TOLERANCE``; ``int8`` quantizes its
    weights for CPUs (:mod:`ganzoo.onnx.int8`), checked to ``INT8_TOLERANCE``."""
    start = time.perf_counter()
    _check_precision(fp16, int8)
    _check_generator(G)
    _check_opset(opset)
    if exporter not in EXPORTERS:
        raise GanzooError(f"exporter must be one of {', '.join(EXPORTERS)}, got '{exporter}'")
    output = check_writable(output, "choose another -o", suffix=".onnx")
    props = {**generator_metadata(G), **(metadata or {})}
    if "ganzoo.class_names" in props:  # checked as the runtime will check it, before minutes of export
        _check_class_names(props["ganzoo.class_names"], int(cast(int, G.num_classes)))
    if not codes_of(G):
        props.pop("ganzoo.codes", None)  # the graph's inputs decide, not what a caller claims
    props.update({k: v for k, v in generator_metadata(G).items()
                  if k in ("ganzoo.latent_dim", "ganzoo.num_classes", "ganzoo.output_shape", "ganzoo.version",
                           "ganzoo.codes", "ganzoo.truncation")})
    wrapper = _Wrapper(G).eval()
    example = _inputs(G, EXAMPLE_BATCH, torch.Generator().manual_seed(1234))
    _check_forward(wrapper, G, example)
    if verify:
        _check_deterministic(wrapper, example)
    proto, used, fallback = run_exporter(lambda log: _export(wrapper, example, G, opset, exporter, log), output)
    check = (lambda path, limit: verify_onnx(path, G, tolerance=limit)) if verify else None
    return write_verified(proto, output, {**props, "ganzoo.exporter": used}, used, fallback, stamp=_stamp,
                          verify=check, tolerance=tolerance, fp16=fp16, int8=int8, start=start)


def run_exporter(export: Callable[[list[str]], tuple[Any, str, str | None]], output: Path
                 ) -> tuple[Any, str, str | None]:
    """``export(log)``'s (proto, exporter used, why dynamo was not); on failure the exporters'
    pages of output go to ``OUTPUT.log`` and the error names that file."""
    log: list[str] = []
    try:
        return export(log)
    except ExportError as exc:
        log_path = output.with_name(output.name + ".log")
        try:
            log_path.write_text("".join(log))
        except OSError:
            raise exc from None
        raise ExportError(f"{exc} (full exporter output: {log_path})") from None


def write_verified(proto: Any, output: Path, props: dict[str, str], used: str, fallback: str | None, *,
                   stamp: Callable[[Any, dict[str, str]], None],
                   verify: Callable[[Path, float], dict[Any, float]] | None, tolerance: float, fp16: bool,
                   int8: bool, start: float) -> ExportResult:
    """Stamp the metadata, convert to fp16 or int8, write the file aside, ``verify(path,
    tolerance)`` the very bytes that ship and only then rename them to ``output``: a failed
    export never leaves a file that looks valid."""
    if fp16 or int8:
        props["ganzoo.precision"] = "fp16" if fp16 else "int8"
    stamp(proto, props)
    if fp16:
        from ganzoo.onnx.fp16 import FP16_TOLERANCE, to_fp16

        proto, tolerance = to_fp16(proto), max(tolerance, FP16_TOLERANCE)
    if int8:
        from ganzoo.onnx.int8 import INT8_TOLERANCE, to_int8

        proto, tolerance = to_int8(proto), max(tolerance, INT8_TOLERANCE)
    import onnx

    tmp = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        onnx.save_model(proto, str(tmp))
        diffs = verify(tmp, tolerance) if verify is not None else {}
        os.replace(tmp, output)
    except VerificationError as exc:
        kept = f"; the earlier file '{output}' was left as it was" if output.exists() else ""
        raise VerificationError(f"{exc} [{used} exporter]; no file written{kept}") from None
    except OSError as exc:
        raise io_error(exc, output, "choose another -o") from None
    finally:
        with contextlib.suppress(OSError):  # never mask the error above
            tmp.unlink(missing_ok=True)
    return ExportResult(path=output, exporter=used, opset=_opset_of(proto), verified=verify is not None,
                        max_abs_diff=diffs, tolerance=tolerance, fallback_reason=fallback, metadata=props,
                        size_bytes=output.stat().st_size, seconds=time.perf_counter() - start)


def default_output(run_dir: str | Path) -> Path:
    """``exports/<run-name>.onnx``, relative to the current directory."""
    return Path("exports") / f"{Path(run_dir).resolve().name}.onnx"


def export_run(run_dir: str | Path, output: str | Path | None = None, opset: int | None = None,
               weights: str | None = None, verify: bool = True, *, tolerance: float = TOLERANCE,
               exporter: str = "auto", echo: Callable[[str], None] | None = None,
               fp16: bool = False, registry: Registry | None = None, checkpoint: str | None = None,
               int8: bool = False, direction: str | None = None) -> ExportResult:
    """Export the generator of a run directory (``ganzoo export RUN_DIR --onnx``).

    ``output`` defaults to ``exports/<run-name>.onnx`` (a directory gets that name inside
    it); ``weights`` is "ema" or "raw" (None: EMA when the run has it). The metadata
    records the steps actually trained (the checkpoint's step, not the configured total).
    An image-to-image run exports one generator, ``direction`` picking it where the model has
    several (CycleGAN: "a2b", the default, or "b2a"), with dynamic height and width.
    ``echo`` receives one progress line once the generator has loaded (export takes seconds)."""
    from ganzoo.engine import checkpoint as ckpt
    from ganzoo.engine.build import load_generator

    _check_opset(opset)
    _check_precision(fp16, int8)
    run_dir = Path(run_dir)
    G, meta, used = load_generator(run_dir, weights, registry, checkpoint=checkpoint)
    state = ckpt.load_state(ckpt.find_checkpoint(run_dir, checkpoint))
    steps = int(state.get("step", meta.get("steps", 0))) if isinstance(state, dict) else int(meta.get("steps", 0))
    name = run_dir.resolve().name
    out = Path(output) if output is not None else default_output(run_dir)
    tag = ".fp16" if fp16 else ".int8" if int8 else ""
    if direction:  # CycleGAN's two directions: two files, not one written over the other
        tag = f".{direction}{tag}"
    if tag and output is None:
        out = out.with_suffix(f"{tag}.onnx")  # next to, not over, the fp32 export
    if out.is_dir():
        out = out / f"{name}{tag}.onnx"
    check_writable(out, "choose another -o", suffix=".onnx")
    names = directions(G)
    if direction is not None and direction not in names:
        raise GanzooError(f"--direction {direction}: model '{meta.get('model', '?')}' has "
                          + (f"the directions {', '.join(names)}" if names else "one generator; drop --direction"))
    if echo is not None:
        which = f" ({direction or names[0]})" if names else ""
        echo(f"exporting {meta.get('model', '?')}{which} from {run_dir} ({used} weights, step {steps}) to {out} ...")
    if (meta.get("data") or {}).get("source_shape"):
        from ganzoo.onnx.translation import export_translator, translation_metadata

        chosen = direction or (names[0] if names else None)
        net = getattr(G, chosen) if chosen else G
        props = translation_metadata(net, meta, used, steps, chosen, name, back=bool(names) and chosen != names[0])
        result = export_translator(net, out, props, opset=opset, verify=verify, tolerance=tolerance,
                                   exporter=exporter, fp16=fp16, int8=int8)
        result.weights = used
        return result
    result = export_generator(G, out, metadata=run_metadata(G, meta, used, steps, run_name=name), opset=opset,
                              verify=verify, tolerance=tolerance, exporter=exporter, fp16=fp16, int8=int8)
    result.weights = used
    return result


__all__ = [
    "EXPORTERS", "METADATA_KEYS", "TOLERANCE", "VERIFY_BATCHES", "VERIFY_TRUNCATIONS", "ExportError", "ExportResult",
    "VerificationError", "default_output", "export_generator", "export_run", "generator_metadata", "read_metadata",
    "run_metadata", "verify_onnx",
]
