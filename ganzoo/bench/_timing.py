"""Timing, inputs and memory figures shared by the bench workers (numpy only, no torch).

Both workers (onnxruntime and PyTorch) time with exactly this code, so a difference
between their figures is a difference between the runtimes, not between two loops:

- inputs are drawn before timing (the RNG is never timed), one fresh batch per run,
  the same seed in every worker so every backend sees the same numbers;
- warm-up runs are excluded (they hold lazy initialisation, kernel selection and,
  for ``torch.compile``, the compilation itself); the first call is reported apart;
- each run is timed on its own (``perf_counter_ns``) with an optional ``sync`` on both
  sides so asynchronous GPU work is inside the timed region;
- the median is the figure quoted: on a shared machine the mean follows whoever else
  is running, the median much less.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: Event lines on a worker's stdout start with this, so stray prints cannot be mistaken for results.
MARK = "@@ganzoo-bench "
#: A cell that hit its time limit still gets this many timed runs.
MIN_RUNS = 10
#: Pre-generated inputs per batch size are capped at this much memory, then cycled.
POOL_BYTES = 256 * 2**20
#: The output check runs every backend on one batch of this size with this seed.
CHECK_BATCH, CHECK_SEED = 8, 20240607


def emit(event: str, **fields: Any) -> None:
    """One event line for the orchestrating process (``ganzoo.bench.run_bench``)."""
    sys.stdout.write(MARK + json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def make_inputs(latent_dim: int, num_classes: int, batch: int, count: int,
                seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``count`` distinct batches (z ``[count, batch, latent_dim]`` float32, labels
    ``[count, batch]`` int64 or None), identical in every worker for the same seed.
    Fewer than ``count`` when they would exceed :data:`POOL_BYTES` (then runs cycle)."""
    per = batch * (latent_dim * 4 + (8 if num_classes else 0))
    count = max(1, min(count, POOL_BYTES // max(per, 1)))
    rng = np.random.default_rng([seed, batch])
    z = rng.standard_normal((count, batch, latent_dim), dtype=np.float32)
    labels = rng.integers(0, num_classes, (count, batch), dtype=np.int64) if num_classes else None
    return z, labels


def check_inputs(latent_dim: int, num_classes: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The one batch every backend's output is compared on."""
    z, labels = make_inputs(latent_dim, num_classes, CHECK_BATCH, 1, CHECK_SEED)
    return z[0], None if labels is None else labels[0]


class Memory:
    """Peak resident memory of this process over a baseline, from ``/proc/self/status``.

    Cheap and honest on Linux: ``VmHWM`` is the kernel's high-water mark; writing 5 to
    ``/proc/self/clear_refs`` resets it, so each batch size gets its own peak. Where that
    is not possible the peak is the process's whole-life maximum (batch sizes run in
    ascending order, so that is still the largest batch's). None where /proc is missing."""

    def __init__(self) -> None:
        self.baseline = self._field("VmRSS")

    @staticmethod
    def _field(name: str) -> int | None:
        try:
            with open("/proc/self/status") as handle:
                for line in handle:
                    if line.startswith(name + ":"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def reset_peak(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
        except OSError:
            pass

    def peak_mb(self, exclude_bytes: int = 0) -> float | None:
        """Peak RSS above the baseline, less ``exclude_bytes`` (the pre-generated inputs)."""
        peak = self._field("VmHWM")
        if peak is None or self.baseline is None:
            return None
        return round(max(0, peak - self.baseline - exclude_bytes) / 2**20, 1)


def time_cell(call: Callable[[int], Any], count: int, warmup: int, runs: int, max_time: float,
              sync: Callable[[], None] | None = None) -> tuple[list[int], float]:
    """Time ``call(i)`` (i indexes the pre-generated inputs, cycling over ``count``).

    Returns (per-run nanoseconds of the timed runs, first warm-up call in ms). The
    timed runs stop early once ``max_time`` seconds have passed and at least
    :data:`MIN_RUNS` were timed."""
    first_ms = float("nan")
    for i in range(warmup):
        t0 = time.perf_counter_ns()
        call(i % count)
        if sync is not None:
            sync()
        if i == 0:
            first_ms = (time.perf_counter_ns() - t0) / 1e6
    times: list[int] = []
    deadline = time.perf_counter() + max_time
    for r in range(runs):
        i = (warmup + r) % count
        if sync is not None:
            sync()
        t0 = time.perf_counter_ns()
        call(i)
        if sync is not None:
            sync()
        times.append(time.perf_counter_ns() - t0)
        if len(times) >= MIN_RUNS and time.perf_counter() > deadline:
            break
    return times, first_ms


def summarize(times_ns: list[int], batch: int) -> dict[str, Any]:
    """p50/p90/p99/mean/min in ms and images/s (from the median: ``batch / p50``; the
    mean-based figure is kept as ``images_per_s_mean``)."""
    ms = np.asarray(times_ns, dtype=np.float64) / 1e6
    p50, p90, p99 = (float(np.percentile(ms, q)) for q in (50, 90, 99))
    mean = float(ms.mean())
    return {
        "runs": int(ms.size), "p50_ms": round(p50, 4), "p90_ms": round(p90, 4), "p99_ms": round(p99, 4),
        "mean_ms": round(mean, 4), "min_ms": round(float(ms.min()), 4),
        "images_per_s": round(batch * 1000.0 / p50, 1) if p50 > 0 else None,
        "images_per_s_mean": round(batch * 1000.0 / mean, 1) if mean > 0 else None,
    }


def worker_main(run: Callable[[dict[str, Any]], None], argv: list[str] | None = None) -> int:
    """A worker process's entry point: read its JSON spec, run it, report a failure as one event."""
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(args[0]).read_text())
    os.environ.setdefault("OMP_NUM_THREADS", str(spec["threads"]))
    try:
        run(spec)
    except Exception as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        emit("error", message=f"{type(exc).__name__}: {first[:300]}")
        traceback.print_exc()
        return 1
    return 0
