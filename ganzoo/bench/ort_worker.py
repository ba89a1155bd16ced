"""The onnxruntime side of ``ganzoo bench``: one backend (a provider) in its own process.

Run as ``python -m ganzoo.bench.ort_worker SPEC.json`` by :func:`ganzoo.bench.run_bench`;
it prints event lines (:data:`ganzoo.bench._timing.MARK`) and never imports torch: what
it measures is what a machine without PyTorch gets, and no torch thread pool is alive
in the process to contend with onnxruntime's.

Providers: ``cpu`` (``session.run``, exactly what :mod:`ganzoo.onnx.runtime` does),
``cuda`` and ``tensorrt`` (inputs uploaded to the GPU before timing and bound with IO
binding, output left on the device, so host copies are not what is timed). A provider
that does not really load (onnxruntime-gpu lists CUDA even without a GPU) is reported
as skipped with the reason, never as an error.

Generators with latent codes get every code from its prior, drawn by the runtime's
numpy :func:`ganzoo.sampling.sample_codes` before timing (:func:`make_codes`), so
the PyTorch worker feeds the very same values.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ganzoo.bench._timing import (
    CHECK_BATCH,
    CHECK_SEED,
    POOL_BYTES,
    Memory,
    check_inputs,
    emit,
    make_inputs,
    summarize,
    time_cell,
    worker_main,
)
from ganzoo.onnx import IMAGES, SOURCE, TRUNCATION
from ganzoo.onnx.session import ProviderUnavailable, open_session

#: Session settings measured fastest here (benchmarks/results/export-tuning.md); the
#: tuning script overrides them one at a time through the spec's "ort_options".
DEFAULT_OPTIONS: dict[str, Any] = {"opt_level": "all", "execution_mode": "sequential", "spinning": True}


def make_session(path: str, provider: str, threads: int, opts: dict[str, Any], workdir: str,
                 fp16: bool = False) -> tuple[Any | None, str]:
    """(session, "") or (None, why the provider is not usable here), from the plain-dict
    settings a spec carries."""
    tuning = {key: opts[key] for key in ("opt_level", "execution_mode", "spinning") if key in opts}
    try:
        return open_session(path, provider, threads, trt_cache=Path(workdir) / "trt-cache", trt_fp16=fp16,
                            **tuning), ""
    except ProviderUnavailable as why:
        return None, _unavailable(provider, why)


def _unavailable(provider: str, why: ProviderUnavailable) -> str:
    if why.reason == "absent":
        return f"this onnxruntime has no {why.provider} (it has {', '.join(why.available)})"
    if why.reason == "driver":
        return "no NVIDIA driver found (libcuda)"
    if why.reason == "error" and why.error is not None:
        return f"{why.provider} did not load: {str(why.error).strip().splitlines()[0][:200]}"
    hint = ("TensorRT libraries missing? pip install tensorrt" if provider == "tensorrt"
            else "CUDA/cuDNN libraries missing? pip install 'onnxruntime-gpu[cuda,cudnn]'")
    return f"{why.provider} did not load ({hint})"


def make_codes(codes: list[dict[str, Any]], count: int, batch: int, seed: int) -> dict[str, np.ndarray]:
    """``{name: [count, batch]}``: code values for ``count`` batches, drawn from the priors
    with the runtime's numpy function, identical in both workers for the same seed. {}
    for generators without codes."""
    from ganzoo.sampling import sample_codes

    return {name: v.reshape(count, batch) for name, v in sample_codes(codes, count * batch, seed).items()}


def _feeds(z: np.ndarray, labels: np.ndarray | None, names: list[str],
           codes: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    feeds = {names[0]: z}
    if labels is not None:
        feeds[names[1]] = labels
    feeds.update(codes or {})  # graph inputs named as the codes
    if TRUNCATION in names:  # a generator that truncates w: timed untruncated
        feeds[TRUNCATION] = np.ones(1, np.float32)
    return feeds


def _at(codes: dict[str, np.ndarray] | None, i: int) -> dict[str, np.ndarray]:
    return {name: values[i] for name, values in (codes or {}).items()}


def _cpu_call(session: Any, z: np.ndarray, labels: np.ndarray | None, names: list[str], out: str,
              binding: bool, codes: dict[str, np.ndarray] | None = None) -> Callable[[int], Any]:
    if not binding:
        return lambda i: session.run([out], _feeds(z[i], None if labels is None else labels[i], names,
                                                   _at(codes, i)))
    # IO binding on the CPU: inputs bound in place, the output written into one preallocated array
    import onnxruntime as ort

    batch = z.shape[1]
    shape = [batch, *[int(d) for d in session.get_outputs()[0].shape[1:]]]
    result = np.empty(shape, dtype=np.float32)
    target = ort.OrtValue.ortvalue_from_numpy(result)
    bind = session.io_binding()
    bind.bind_ortvalue_output(out, target)

    def call(i: int) -> Any:
        for name, value in _feeds(z[i], None if labels is None else labels[i], names, _at(codes, i)).items():
            bind.bind_cpu_input(name, value)
        session.run_with_iobinding(bind)
        return result

    return call


def _gpu_call(ort: Any, session: Any, z: np.ndarray, labels: np.ndarray | None, names: list[str],
              out: str, codes: dict[str, np.ndarray] | None = None) -> Callable[[int], Any]:
    """Every input uploaded once, before timing; one IO binding per input; output stays on the GPU."""
    bindings = []
    for i in range(len(z)):
        bind = session.io_binding()
        for name, value in _feeds(z[i], None if labels is None else labels[i], names, _at(codes, i)).items():
            bind.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value, "cuda", 0))
        bind.bind_output(out, "cuda", 0)
        bindings.append(bind)

    def call(i: int) -> Any:
        session.run_with_iobinding(bindings[i])
        bindings[i].synchronize_outputs()  # the GPU work is inside the timed region

    return call


def translate_inputs(channels: int, height: int, width: int, batch: int, count: int, seed: int) -> np.ndarray:
    """``count`` distinct source batches ``[count, batch, C, H, W]`` float32 in [-1, 1] (fewer when
    they would exceed :data:`POOL_BYTES`; then runs cycle), the same for the same seed."""
    per = batch * channels * height * width * 4
    count = max(1, min(count, POOL_BYTES // max(per, 1)))
    rng = np.random.default_rng([seed, batch, height, width])
    return rng.uniform(-1.0, 1.0, (count, batch, channels, height, width)).astype(np.float32)


def _translate_call(ort: Any, session: Any, x: np.ndarray, gpu: bool) -> Callable[[int], Any]:
    if not gpu:
        return lambda i: session.run([IMAGES], {SOURCE: x[i]})
    bindings = []
    for batch in x:  # uploaded once, before timing
        bind = session.io_binding()
        bind.bind_ortvalue_input(SOURCE, ort.OrtValue.ortvalue_from_numpy(batch, "cuda", 0))
        bind.bind_output(IMAGES, "cuda", 0)
        bindings.append(bind)

    def call(i: int) -> Any:
        session.run_with_iobinding(bindings[i])
        bindings[i].synchronize_outputs()

    return call


def run_translate(spec: dict[str, Any], ort: Any, session: Any, memory: Memory, gpu: bool) -> None:
    """An image-to-image export: every source size x batch size, then the output check on a batch
    at the training size. Rows add the size, ms per image and output megapixels per second."""
    channels, scale = int(spec["channels"]), int(spec["scale"])
    for height, width in spec["sizes"]:
        for batch in sorted(spec["batch_sizes"]):
            cell = {"batch": batch, "height": height, "width": width, "out_height": height * scale,
                    "out_width": width * scale}
            out_pixels = batch * height * width * scale**2
            if out_pixels > int(spec["call_pixels"]):
                emit("result", **cell, status="error", reason=f"not run: {out_pixels:,} output pixels per call, over "
                     f"the bench's {int(spec['call_pixels']):,}; use smaller --sizes or --batch-sizes")
                continue
            try:
                x = translate_inputs(channels, height, width, batch, spec["warmup"] + spec["runs"], spec["seed"])
                memory.reset_peak()
                call = _translate_call(ort, session, x, gpu)
                times, first_ms = time_cell(call, len(x), spec["warmup"], spec["runs"], spec["max_time"])
                stats = summarize(times, batch)
                peak = None if gpu else memory.peak_mb(x.nbytes)
                p50 = stats["p50_ms"]
                emit("result", **cell, status="ok", first_ms=round(first_ms, 3), peak_mem_mb=peak,
                     mem_kind=None if gpu else "rss", ms_per_image=round(p50 / batch, 4),
                     megapixels_per_s=round(out_pixels / 1e6 / (p50 / 1000), 3) if p50 > 0 else None, **stats)
            except Exception as exc:
                emit("result", **cell, status="error", reason=f"{type(exc).__name__}: {str(exc).strip()[:300]}")
    if spec.get("check_path"):
        _, h, w = spec["source_shape"]
        x = translate_inputs(channels, h, w, CHECK_BATCH, 1, CHECK_SEED)[0]
        np.save(spec["check_path"], session.run([IMAGES], {SOURCE: x})[0])
    emit("done")


def run(spec: dict[str, Any]) -> None:
    """Benchmark one provider over every batch size in the spec; report through events."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        emit("skip", reason=f"onnxruntime is not installed ({exc})")
        return
    memory = Memory()  # after the import: the figures are what the model adds, not onnxruntime itself
    provider, threads = spec["provider"], int(spec["threads"])
    opts = {**DEFAULT_OPTIONS, **(spec.get("ort_options") or {})}
    start = time.perf_counter()
    session, why = make_session(spec["model"], provider, threads, opts, spec["workdir"],
                                fp16=bool(spec.get("trt_fp16")))
    if session is None:
        emit("skip", reason=why)
        return
    load_s = time.perf_counter() - start
    emit("hello", engine="onnxruntime", version=ort.__version__, provider=session.get_providers()[0],
         load_s=round(load_s, 3), options=opts)
    gpu = provider != "cpu"
    if spec.get("task") == "translate":
        run_translate(spec, ort, session, memory, gpu)
        return
    names = [i.name for i in session.get_inputs()]
    out = session.get_outputs()[0].name
    latent_dim, num_classes = int(spec["latent_dim"]), int(spec["num_classes"])
    from ganzoo.onnx.runtime import parse_codes_metadata

    metadata = session.get_modelmeta().custom_metadata_map
    codes = parse_codes_metadata(metadata.get("ganzoo.codes"), f"'{spec['model']}'")
    for batch in sorted(spec["batch_sizes"]):
        try:
            z, labels = make_inputs(latent_dim, num_classes, batch, spec["warmup"] + spec["runs"], spec["seed"])
            values = make_codes(codes, len(z), batch, int(spec["seed"]))
            memory.reset_peak()
            if gpu:
                call = _gpu_call(ort, session, z, labels, names, out, values)
            else:
                call = _cpu_call(session, z, labels, names, out, bool(opts.get("cpu_binding")), values)
            times, first_ms = time_cell(call, len(z), spec["warmup"], spec["runs"], spec["max_time"])
            stats = summarize(times, batch)
            peak = None if gpu else memory.peak_mb(z.nbytes + (labels.nbytes if labels is not None else 0))
            emit("result", batch=batch, status="ok", first_ms=round(first_ms, 3), peak_mem_mb=peak,
                 mem_kind=None if gpu else "rss", **stats)
        except Exception as exc:
            emit("result", batch=batch, status="error", reason=f"{type(exc).__name__}: {str(exc).strip()[:300]}")
    if spec.get("check_path"):
        z, labels = check_inputs(latent_dim, num_classes)
        values = _at(make_codes(codes, 1, len(z), CHECK_SEED), 0)
        np.save(spec["check_path"], session.run([out], _feeds(z, labels, names, values))[0])
    emit("done")


def main(argv: list[str] | None = None) -> int:
    return worker_main(run, argv)


if __name__ == "__main__":
    sys.exit(main())
