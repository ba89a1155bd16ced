"""Opening an onnxruntime session: the one place that does it, for the runtime
(``generate``, ``demo``, ``eval`` on files), the bench's onnxruntime worker and the
verification of an export.

Torch-free, as the runtime. Every session names its providers, turns graph
optimizations on and sets its thread counts. A GPU provider is tried only where it can
work (this onnxruntime build has it and the NVIDIA driver loads), with onnxruntime's
logger silenced while it starts, and it counts as loaded only when it is the session's
first provider: onnxruntime-gpu lists CUDA even on a machine without a GPU, then falls
back to the CPU on its own after printing pages of load errors. The CPU provider is
always named alone, so a CPU session never tries CUDA first.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
#: What :func:`open_session` takes as ``provider``, and the onnxruntime provider each one is.
PROVIDER_NAMES = {"cpu": CPU, "cuda": CUDA, "tensorrt": TRT}
#: ``opt_level`` words and the onnxruntime graph optimization level each one is.
OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
              "all": "ORT_ENABLE_ALL"}


class ProviderUnavailable(Exception):
    """A GPU provider that does not run here, and which way it failed, so that each caller
    can word it for its own users (an error for ``--provider cuda``, a skipped row in the
    bench). ``reason``: "absent" (this onnxruntime lacks it; ``available`` lists what it
    has), "driver" (no NVIDIA driver), "error" (starting the session raised ``error``) or
    "fallback" (onnxruntime fell back to the CPU: missing CUDA, cuDNN or TensorRT libraries)."""

    def __init__(self, provider: str, reason: str, available: tuple[str, ...] = (),
                 error: BaseException | None = None) -> None:
        super().__init__(f"{provider}: {reason}")
        self.provider, self.reason, self.available, self.error = provider, reason, available, error


def onnxruntime() -> Any:
    """The onnxruntime module, or one line saying how to install it."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise GanzooError(f"onnxruntime is not installed ({exc}); pip install onnxruntime "
                          "(or onnxruntime-gpu for CUDA)") from None
    return ort


def cuda_driver_present() -> bool:
    """Whether the NVIDIA driver library loads: without it CUDA cannot work, so the
    (slow, noisy) attempt to start a GPU provider is skipped."""
    import ctypes

    names = {"linux": ["libcuda.so.1", "libcuda.so"], "win32": ["nvcuda.dll"]}.get(sys.platform, [])
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def default_threads() -> int:
    """Intra-op threads for the CPU provider: OMP_NUM_THREADS when set (shared machines,
    benchmarks), else the cores this process may run on."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def session_options(threads: int | None = None, *, opt_level: str = "all", execution_mode: str = "sequential",
                    spinning: bool = True) -> Any:
    """SessionOptions: ``threads`` intra-op threads (None: :func:`default_threads`), one
    inter-op thread, onnxruntime's own messages from errors up. The keywords are the
    settings the export-tuning benchmark varies; their defaults measured fastest."""
    ort = onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPT_LEVELS[opt_level])
    options.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if execution_mode == "parallel"
                              else ort.ExecutionMode.ORT_SEQUENTIAL)
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def open_session(model: str | Path | bytes, provider: str = "cpu", threads: int | None = None, *,
                 trt_cache: str | Path | None = None, trt_fp16: bool = False, **tuning: Any) -> Any:
    """An InferenceSession on ``model`` (a path, or the serialized model) whose first
    provider is ``provider``: "cpu", "cuda" or "tensorrt" (TensorRT engines cached in
    ``trt_cache``, in half precision with ``trt_fp16``). ``tuning``: the keywords of
    :func:`session_options`.

    A GPU provider that does not run here raises :class:`ProviderUnavailable`, silently;
    on the CPU, what onnxruntime raises for a file it cannot load is left to the caller,
    which knows what the file is to its user."""
    ort = onnxruntime()
    options = session_options(threads, **tuning)
    source = model if isinstance(model, bytes) else str(model)
    if provider == "cpu":
        return ort.InferenceSession(source, sess_options=options, providers=[CPU])
    wanted = PROVIDER_NAMES[provider]
    available = tuple(ort.get_available_providers())
    if wanted not in available:
        raise ProviderUnavailable(wanted, "absent", available)
    if not cuda_driver_present():
        raise ProviderUnavailable(wanted, "driver", available)
    chain: list[Any] = [CUDA, CPU]
    if provider == "tensorrt":
        cache = Path(trt_cache or ".")
        cache.mkdir(parents=True, exist_ok=True)
        chain.insert(0, (TRT, {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
                               "trt_fp16_enable": "True" if trt_fp16 else "False"}))
    ort.set_default_logger_severity(4)  # a provider that fails to load prints pages otherwise
    try:
        if hasattr(ort, "preload_dlls"):  # the CUDA/cuDNN libraries of the nvidia pip packages
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
                ort.preload_dlls()
        session = ort.InferenceSession(source, sess_options=options, providers=chain)
    except Exception as exc:
        raise ProviderUnavailable(wanted, "error", available, exc) from None
    finally:
        ort.set_default_logger_severity(2)  # onnxruntime's default: warnings
    if session.get_providers()[0] != wanted:
        raise ProviderUnavailable(wanted, "fallback", available)
    return session
