"""The PyTorch side of ``ganzoo bench``: eager (or ``torch.compile``) in its own process.

Run as ``python -m ganzoo.bench.torch_worker SPEC.json`` by :func:`ganzoo.bench.run_bench`.
The generator comes from the run directory the .onnx was exported from, with the same
weights (EMA or raw) the file carries, so the output check compares like with like.
It runs the way a PyTorch user would: ``model.eval()`` under ``torch.inference_mode()``,
``torch.set_num_threads(threads)`` (the thread count every CPU backend gets), inputs
already on the device, ``torch.cuda.synchronize()`` on both sides of each timed run.
A generator with latent codes gets the same code values as the onnxruntime worker
(:func:`ganzoo.bench.ort_worker.make_codes`).
"""

from __future__ import annotations

import sys
import time
from typing import Any, cast

import numpy as np

from ganzoo.bench._timing import (
    CHECK_SEED,
    Memory,
    check_inputs,
    emit,
    make_inputs,
    summarize,
    time_cell,
    worker_main,
)
from ganzoo.bench.ort_worker import make_codes


def run(spec: dict[str, Any]) -> None:
    """Benchmark one torch backend (device, eager or compiled) over every batch size."""
    try:
        import torch
    except ImportError as exc:
        emit("skip", reason=f"torch is not installed ({exc})")
        return
    threads = int(spec["threads"])
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set by an earlier parallel call
        pass
    device = torch.device(spec["device"])
    if device.type == "cuda" and not torch.cuda.is_available():
        emit("skip", reason="torch sees no CUDA GPU (torch.cuda.is_available() is False)")
        return

    from ganzoo.engine.build import load_generator

    memory = Memory()  # after the imports: the figures are what the model adds, not torch itself
    start = time.perf_counter()
    G, _, weights = load_generator(spec["run_dir"], spec.get("weights") or None)
    G = G.to(device)
    model: Any = G
    if spec.get("compile"):
        model = torch.compile(G, dynamic=False)
    load_s = time.perf_counter() - start
    cuda = device.type == "cuda"
    emit("hello", engine="torch", version=torch.__version__, device=str(device), weights=weights,
         load_s=round(load_s, 3), threads=torch.get_num_threads(),
         gpu=torch.cuda.get_device_name(device) if cuda else None)
    sync = torch.cuda.synchronize if cuda else None
    latent_dim, num_classes = int(cast(int, G.latent_dim)), int(cast(int, G.num_classes))
    if (latent_dim, num_classes) != (int(spec["latent_dim"]), int(spec["num_classes"])):
        emit("skip", reason=f"the run's generator (latent {latent_dim}, {num_classes} classes) is not the one in the "
                            f".onnx (latent {spec['latent_dim']}, {spec['num_classes']} classes); pass --run RUN_DIR")
        return
    codes = [c.as_dict() for c in (getattr(G, "codes", None) or ())]
    for batch in sorted(spec["batch_sizes"]):
        try:
            z_np, y_np = make_inputs(latent_dim, num_classes, batch, spec["warmup"] + spec["runs"], spec["seed"])
            z = torch.from_numpy(z_np).to(device)
            y = torch.from_numpy(y_np).to(device) if y_np is not None else None
            c = {k: torch.from_numpy(v).to(device) for k, v in make_codes(codes, len(z_np), batch,
                                                                          int(spec["seed"])).items()}
            pool_bytes = z_np.nbytes + (y_np.nbytes if y_np is not None else 0)
            memory.reset_peak()
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats(device)
            with torch.inference_mode():
                times, first_ms = time_cell(_caller(model, z, y, c), len(z_np), spec["warmup"], spec["runs"],
                                            spec["max_time"], sync)
            peak: float | None
            if cuda:
                peak = round(max(0, torch.cuda.max_memory_allocated(device) - pool_bytes) / 2**20, 1)
                kind = "cuda_max_allocated"
            else:
                peak, kind = memory.peak_mb(pool_bytes), "rss"
            emit("result", batch=batch, status="ok", first_ms=round(first_ms, 3), peak_mem_mb=peak, mem_kind=kind,
                 **summarize(times, batch))
        except Exception as exc:
            emit("result", batch=batch, status="error", reason=f"{type(exc).__name__}: {_first_line(exc)}")
    if spec.get("check_path"):
        z_np, y_np = check_inputs(latent_dim, num_classes)
        with torch.inference_mode():
            args = [torch.from_numpy(z_np).to(device)]
            if y_np is not None:
                args.append(torch.from_numpy(y_np).to(device))
            c = {k: torch.from_numpy(v[0]).to(device) for k, v in make_codes(codes, 1, len(z_np), CHECK_SEED).items()}
            if c:
                out = model(args[0], args[1] if len(args) > 1 else None, codes=c).float().cpu().numpy()
            else:
                out = model(*args).float().cpu().numpy()
        np.save(spec["check_path"], out)
    emit("done")


def _caller(model: Any, z: Any, y: Any, codes: dict[str, Any] | None = None) -> Any:
    """``call(i)``: the model on the i-th pre-generated batch (with its labels when conditional,
    its codes, as ``codes={name: [batch]}``, when it has some)."""
    if codes:
        per_batch = [{name: values[i] for name, values in codes.items()} for i in range(len(z))]
        return lambda i: model(z[i], None if y is None else y[i], codes=per_batch[i])
    if y is None:
        return lambda i: model(z[i])
    return lambda i: model(z[i], y[i])


def _first_line(exc: BaseException) -> str:
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return text[:300]


def main(argv: list[str] | None = None) -> int:
    return worker_main(run, argv)


if __name__ == "__main__":
    sys.exit(main())
