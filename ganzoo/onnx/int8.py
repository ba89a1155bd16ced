"""int8 copies of exported generators, for CPUs: onnxruntime's dynamic quantization.

The weights of matrix products (``Gemm``, ``MatMul``, ``Conv`` and the embeddings of labels)
are stored as int8 with one scale each, and the activations feeding them are quantized on
the fly: a quarter of the weights' bytes, and integer matrix products where the CPU has them.
Transposed convolutions stay float32 (the quantizer leaves them), so a DCGAN-style generator
gains less than an MLP. The I/O contract does not change: float32 in, float32 images out.

Rounding moves pixels by up to about 0.3 on images in [-1, 1] (a mean of a few thousandths),
so export only checks the file against PyTorch with the loose :data:`INT8_TOLERANCE`, which
catches a broken graph, not a small loss of quality: that is measured with ``ganzoo eval``
on both files (benchmarks/results/inference.md). StyleGAN2's modulated convolutions and
R3GAN's residual stacks move further than the limit, so that check refuses their int8 files
(``--no-verify`` skips it, and with it the only guard).
The metadata says ``ganzoo.precision = int8``.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError

#: Verification limit for int8 files, on outputs in [-1, 1]: a quarter of the range.
INT8_TOLERANCE = 0.5


def to_int8(model: Any) -> Any:
    """The ModelProto with int8 weights (onnxruntime.quantization.quantize_dynamic)."""
    import onnx

    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise GanzooError(f"int8 export needs onnxruntime's quantization tools ({exc}); pip install onnxruntime") \
            from None
    kept = [(p.key, p.value) for p in model.metadata_props]
    stripped = onnx.ModelProto()
    stripped.CopyFrom(model)
    # the exporter's intermediate shapes: the quantizer's own shape inference refuses to
    # merge them with the shapes of the tensors it inserts (ShapeInferenceError)
    del stripped.graph.value_info[:]
    quiet = logging.getLogger()
    level = quiet.level
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(None):
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save_model(stripped, str(source))
        quiet.setLevel(logging.ERROR)  # its advice to pre-process is for calibrated (static) quantization
        try:
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
        finally:
            quiet.setLevel(level)
        converted = onnx.load_model(str(target))
    del converted.metadata_props[:]
    for key, value in [*((k, v) for k, v in kept if k != "ganzoo.precision"), ("ganzoo.precision", "int8")]:
        entry = converted.metadata_props.add()
        entry.key, entry.value = key, value
    return converted
