"""Export an image-to-image generator: input ``source`` [batch, C, height, width], output
``images`` [batch, C', scale x height, scale x width], verified against PyTorch at several sizes.

The generators of the zoo's translation models are fully convolutional, so one file takes
any batch and any image size the network can take (sides that are multiples of its
``multiple``: 2^depth for a U-Net, 4 for CycleGAN's ResNet, any side for super-resolution).
Height and width are exported as dynamic dimensions; a network that cannot be captured
that way (a layer that fixes a size) is refused by verification, which runs the file at
the training size and at larger and non-square ones, and compares every pixel with PyTorch.

The metadata says what the torch-free runtime (``ganzoo translate``, the demo) needs without
the run: ``ganzoo.task`` "translate", the source shape and domain it was trained on, the scale,
the size multiple, the direction, and the value range of input and output ([-1, 1]).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from ganzoo.errors import GanzooError, check_writable
from ganzoo.onnx import IMAGES, SOURCE
from ganzoo.onnx.export import (
    EXPORTERS,
    TOLERANCE,
    ExportError,
    ExportResult,
    VerificationError,
    _captured,
    _check_opset,
    _check_precision,
    _max_abs_diff,
    _one_line,
    _opset_bounds,
    _random_ops,
    run_exporter,
    verification_session,
    write_verified,
)


def verify_sizes(G: nn.Module) -> list[tuple[int, int, int]]:
    """(batch, height, width) the export is compared at: the training size, then taller,
    wider (non-square) ones, and for a network that takes any side, an odd one."""
    _, h, w = cast("tuple[int, int, int]", tuple(cast("tuple[int, ...]", G.source_shape)))
    m = int(cast(int, G.multiple))
    sizes = [(1, h, w), (3, 2 * h, w), (2, h, w + 2 * max(m, w // 2 // m * m))]
    if m == 1:
        sizes.append((2, h + 5, w + 3))
    return sizes


def translation_metadata(G: nn.Module, meta: dict[str, Any], weights: str, steps: int, direction: str | None,
                         run_name: str = "", back: bool = False) -> dict[str, str]:
    """The ``ganzoo.*`` metadata of an image-to-image export (exports/README.md lists them)."""
    from ganzoo import __version__

    data = meta.get("data") or {}
    domains = list(data.get("domains") or ("source", "target"))
    if back:  # a model's second direction goes the way back: the domains swap
        domains = domains[::-1]
    scale = int(cast(int, G.scale))
    props = {
        "ganzoo.model": str(meta.get("model", type(G).__name__)),
        "ganzoo.version": __version__,
        "ganzoo.task": "translate",
        "ganzoo.latent_dim": "0",
        "ganzoo.num_classes": "0",
        "ganzoo.source_shape": json.dumps([int(d) for d in cast("tuple[int, ...]", G.source_shape)]),
        "ganzoo.output_shape": json.dumps([int(d) for d in cast("tuple[int, ...]", G.output_shape)]),
        "ganzoo.scale": str(scale),
        "ganzoo.multiple": str(int(cast(int, G.multiple))),
        "ganzoo.domains": json.dumps(domains),
        "ganzoo.direction": direction or "",
        "ganzoo.input_range": "[-1, 1]",
        "ganzoo.output_range": "[-1, 1]",
        "ganzoo.dataset": str(meta.get("dataset", "")),
        "ganzoo.steps": str(int(steps)),
        "ganzoo.weights": weights,
        "ganzoo.kind": "images",
        "ganzoo.loss": str(meta.get("loss", "")),
        "ganzoo.plugins": json.dumps(meta.get("versions") or {}),
    }
    if run_name:
        props["ganzoo.run"] = run_name
    return props


def _stamp(proto: Any, props: dict[str, str]) -> None:
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in props]
    del proto.metadata_props[:]
    for key, value in [*kept, *sorted(props.items())]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    c_in, c_out = json.loads(props["ganzoo.source_shape"])[0], json.loads(props["ganzoo.output_shape"])[0]
    scale, multiple = props["ganzoo.scale"], props["ganzoo.multiple"]
    a, b = json.loads(props["ganzoo.domains"])
    sides = "any height and width" if multiple == "1" else f"height and width multiples of {multiple}"
    proto.doc_string = (
        f"ganzoo image-to-image generator '{props['ganzoo.model']}' ({a} -> {b}; {props['ganzoo.weights']} weights, "
        f"{props['ganzoo.steps']} steps on {props['ganzoo.dataset'] or '?'}). Input: {SOURCE} float32 "
        f"[batch, {c_in}, height, width] in [-1, 1], {sides}. Output: {IMAGES} float32 "
        f"[batch, {c_out}, {scale} x height, {scale} x width] in [-1, 1]. See metadata_props ganzoo.*.")


def _example(G: nn.Module, batch: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    c = int(cast("tuple[int, ...]", G.source_shape)[0])
    return torch.rand(batch, c, h, w, generator=gen) * 2 - 1


def _export(G: nn.Module, example: torch.Tensor, opset: int | None, exporter: str, log: list[str]
            ) -> tuple[Any, str, str | None]:
    import onnx

    dynamo_error = None
    if exporter in ("auto", "dynamo"):
        try:
            with _captured(log):
                m = int(cast(int, G.multiple))
                batch = torch.export.Dim("batch")
                if m == 1:
                    height, width = torch.export.Dim("height", min=2), torch.export.Dim("width", min=2)
                else:  # sides that are multiples of m: m x (a free integer)
                    height, width = m * torch.export.Dim("rows"), m * torch.export.Dim("cols")
                program = torch.onnx.export(
                    G, (example,), dynamo=True, external_data=False, optimize=True, verbose=False,
                    opset_version=opset, input_names=[SOURCE], output_names=[IMAGES],
                    dynamic_shapes={"source": {0: batch, 2: height, 3: width}})
                if program is None:
                    raise RuntimeError("torch.onnx.export returned no ONNX program")
                return program.model_proto, "dynamo", None
        except Exception as exc:
            dynamo_error = _one_line(exc)
            if exporter == "dynamo":
                raise ExportError(f"the dynamo exporter failed: {dynamo_error}; try --exporter torchscript") from None
    import tempfile

    _, _, default, ts_max = _opset_bounds()
    try:
        with _captured(log), tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            torch.onnx.export(G, (example,), str(path), dynamo=False, input_names=[SOURCE], output_names=[IMAGES],
                              dynamic_axes={SOURCE: {0: "batch", 2: "height", 3: "width"},
                                            IMAGES: {0: "batch", 2: "out_height", 3: "out_width"}},
                              opset_version=opset if opset is not None else min(default, ts_max))
            proto = onnx.load(str(path))
    except Exception as exc:
        ts_error = _one_line(exc)
        both = f"dynamo: {dynamo_error}; torchscript: {ts_error}" if dynamo_error else f"torchscript: {ts_error}"
        raise ExportError(f"the exporters failed: {both}") from None
    return proto, "torchscript", f"the dynamo exporter failed ({dynamo_error})" if dynamo_error else None


def verify_translator(path: str | Path, G: nn.Module, tolerance: float = TOLERANCE, seed: int = 0
                      ) -> dict[str, float]:
    """Check the file at ``path`` against ``G`` at every size of :func:`verify_sizes`; return
    max |Δ| per size ("BxHxW"). Raises :class:`VerificationError` with the reason."""
    import onnx

    model = onnx.load(str(path))
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        raise VerificationError(f"verification failed: onnx.checker rejects the graph: {_one_line(exc)}") from None
    inputs = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if inputs != [SOURCE] or [o.name for o in model.graph.output] != [IMAGES]:
        outputs = [o.name for o in model.graph.output]
        raise VerificationError(f"verification failed: graph inputs {inputs} and outputs {outputs}, the contract "
                                f"wants ['{SOURCE}'] -> ['{IMAGES}']")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    fixed = [i for i in (0, 2, 3) if i < len(dims) and dims[i].HasField("dim_value")]
    if fixed:
        names = {0: "batch", 2: "height", 3: "width"}
        raise VerificationError(f"verification failed: the {', '.join(names[i] for i in fixed)} of '{SOURCE}' is "
                                "fixed in the graph; the network turns a size into a Python int (int(x.shape[2]), "
                                "view(n, c, 32, 32), ...): compute with the tensor's shape instead")
    noisy = _random_ops(model)
    if noisy:
        raise VerificationError(f"verification failed: the graph samples noise ({', '.join(noisy)}); a translation "
                                "export must be deterministic (dropout and noise in training only)")
    session = verification_session(model)
    gen = torch.Generator().manual_seed(seed)
    diffs: dict[str, float] = {}
    for batch, h, w in verify_sizes(G):
        source = _example(G, batch, h, w, gen)
        with torch.no_grad():
            want = G(source).float().numpy()
        at = f"{batch}x{h}x{w}"
        try:
            got = session.run([IMAGES], {SOURCE: source.numpy()})[0]
        except Exception as exc:
            raise VerificationError(f"verification failed: onnxruntime fails on a {at} source: {_one_line(exc)}"
                                    ) from None
        if got.shape != want.shape:
            raise VerificationError(f"verification failed: on a {at} source onnxruntime returns {list(got.shape)}, "
                                    f"PyTorch {list(want.shape)}; a size is fixed inside the graph")
        diffs[at] = _max_abs_diff(got, want)
    worst = max(diffs, key=lambda k: diffs[k])
    if not diffs[worst] <= tolerance:
        figures = ", ".join(f"{d:.1e} @ {k}" for k, d in diffs.items())
        raise VerificationError(f"verification failed: onnxruntime differs from PyTorch by max|Δ| {figures} "
                                f"(limit {tolerance:g})")
    return diffs


def export_translator(G: nn.Module, output: str | Path, metadata: dict[str, str], *, opset: int | None = None,
                      verify: bool = True, tolerance: float = TOLERANCE, exporter: str = "auto",
                      fp16: bool = False, int8: bool = False) -> ExportResult:
    """Export an image-to-image generator (eval mode) to ``output`` with dynamic batch, height
    and width, and verify it at several sizes; no file is left at ``output`` when anything fails."""
    start = time.perf_counter()
    _check_precision(fp16, int8)
    _check_opset(opset)
    if exporter not in EXPORTERS:
        raise GanzooError(f"exporter must be one of {', '.join(EXPORTERS)}, got '{exporter}'")
    training = [name or type(G).__name__ for name, m in G.named_modules() if m.training]
    if training:
        raise GanzooError(f"generator is in training mode ({', '.join(training[:3])}); call .eval() before export")
    output = check_writable(output, "choose another -o", suffix=".onnx")
    _, h, w = cast("tuple[int, int, int]", tuple(cast("tuple[int, ...]", G.source_shape)))
    # twice the training size: torch.export specialises a size that is 1 (a 32-px U-Net's 1x1
    # bottleneck, 32 x 1 rows), and the file must take other sizes
    example = _example(G, 2, 2 * h, 2 * w, torch.Generator().manual_seed(1234))
    proto, used, fallback = run_exporter(lambda log: _export(G, example, opset, exporter, log), output)
    check = (lambda path, limit: verify_translator(path, G, tolerance=limit)) if verify else None
    return write_verified(proto, output, {**metadata, "ganzoo.exporter": used}, used, fallback, stamp=_stamp,
                          verify=check, tolerance=tolerance, fp16=fp16, int8=int8, start=start)


__all__ = ["export_translator", "translation_metadata", "verify_sizes", "verify_translator"]
