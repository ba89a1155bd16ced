"""fp16 copies of exported generators, for GPU providers (torch-free: onnx + onnxruntime).

Half precision halves the weights and the memory traffic, and tensor cores run it;
that pays on CUDA/TensorRT. On the CPU onnxruntime measured no faster with fp16
(benchmarks/results/export-tuning.md), so fp32 stays the default everywhere.

The I/O contract does not change: ``z`` stays float32 in and ``images`` float32 out
(``keep_io_types``; casts sit at the graph's edges), so every caller of an fp32 file
can use the fp16 one. The metadata says ``ganzoo.precision = fp16``. Outputs differ
from fp32 by up to about 1e-3 on images in [-1, 1]; export verifies them against
PyTorch with the looser :data:`FP16_TOLERANCE`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError

#: Verification limit for fp16 files: fp16 has 11 significant bits (~5e-4 relative), and
#: a few layers of accumulation stay well inside 1e-2 on outputs in [-1, 1].
FP16_TOLERANCE = 1e-2


def to_fp16(model: Any) -> Any:
    """The ModelProto converted to fp16 inside, float32 at its inputs and outputs."""
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise GanzooError(
            f"fp16 conversion needs onnxruntime's float16 tools ({exc}); pip install onnxruntime") from None
    kept = [(p.key, p.value) for p in model.metadata_props]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns about values clipped to the fp16 range, which we verify anyway
        converted = convert_float_to_float16(model, keep_io_types=True)
    _toposort(converted.graph)
    del converted.metadata_props[:]
    for key, value in [*((k, v) for k, v in kept if k != "ganzoo.precision"), ("ganzoo.precision", "fp16")]:
        entry = converted.metadata_props.add()
        entry.key, entry.value = key, value
    return converted


def _toposort(graph: Any) -> None:
    """Put the nodes in dependency order: the converter appends the edge casts at the
    end of the node list, which onnx.checker (rightly) rejects."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = [n for n in pending if not all(i in ready for i in n.input)]
        done = [n for n in pending if all(i in ready for i in n.input)]
        if not done:  # a cycle or an input from nowhere: leave the rest as they were for the checker to name
            ordered += rest
            break
        for node in done:
            ready.update(node.output)
        ordered += done
        pending = rest
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def convert_file(src: str | Path, dst: str | Path) -> Path:
    """Write an fp16 copy of the .onnx at ``src`` to ``dst``."""
    import onnx

    src, dst = Path(src), Path(dst)
    try:
        model = onnx.load(str(src))
    except Exception as exc:
        raise GanzooError(f"cannot read '{src}' as ONNX ({type(exc).__name__}); export one with: "
                          "ganzoo export RUN_DIR --onnx") from None
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(to_fp16(model), str(dst))
    return dst


__all__ = ["FP16_TOLERANCE", "convert_file", "to_fp16"]
