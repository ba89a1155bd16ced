"""Sample from an exported ganzoo generator with numpy and onnxruntime only.

This module never imports torch, directly or through ganzoo: it is what a machine
without PyTorch runs (``ganzoo generate``, ``ganzoo bench``, the metrics on ONNX files),
and tests import it in a process where importing torch fails.

    from ganzoo.onnx import runtime
    G = runtime.load("exports/dcgan.onnx")          # provider="auto": CUDA where it loads, else CPU
    images = G.sample(64, seed=0)                   # float32 [64, C, H, W] in [-1, 1]
    digits = G.sample(10, labels=range(10), seed=0)  # conditional models

Seeds give the same latents everywhere: ``numpy.random.default_rng(seed)
.standard_normal((n, latent_dim), dtype=float32)``, the same on every machine and
provider, and the first k rows of ``latents(n, seed)`` equal ``latents(k, seed)``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ganzoo.errors import GanzooError
from ganzoo.onnx import IMAGES, LABELS, METADATA_KEYS, Z

PROVIDERS = ("auto", "cpu", "cuda")
CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
#: Samples per onnxruntime call in :meth:`Generator.sample`: bounds memory for n = 50,000.
CHUNK = 256
_ONNX_ERROR = re.compile(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*")
_LOAD_FAILED = re.compile(r"^Load model from .* failed:\s*")


def latents(n: int, latent_dim: int, seed: int | None = None) -> np.ndarray:
    """Standard-normal latents ``[n, latent_dim]`` float32; a seed gives the same ones everywhere."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim), dtype=np.float32)


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:
        raise GanzooError(f"onnxruntime is not installed ({exc}); pip install onnxruntime "
                          "(or onnxruntime-gpu for CUDA)") from None
    return onnxruntime


def _short(exc: BaseException) -> str:
    text = _LOAD_FAILED.sub("", _ONNX_ERROR.sub("", str(exc).strip()))
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return first if len(first) <= 200 else first[:197] + "..."


def _cuda_driver_present() -> bool:
    """Whether the NVIDIA driver library loads: without it CUDA cannot work, so the
    (slow, noisy) attempt to start the CUDA provider is skipped."""
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


def _options(threads: int | None) -> Any:
    ort = _ort()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return options


def _try_cuda(path: Path, threads: int | None) -> tuple[Any | None, str]:
    """A session whose first provider really is CUDA, or (None, why not).

    onnxruntime-gpu lists CUDA as available even without a GPU and falls back to the CPU
    with pages of load errors; so: driver check, preload the CUDA/cuDNN libraries from the
    nvidia pip packages, create the session with the default logger silenced, and look at
    ``session.get_providers()[0]`` (DESIGN.md §6)."""
    ort = _ort()
    if CUDA not in ort.get_available_providers():
        return None, f"this onnxruntime has no CUDA provider (providers: {', '.join(ort.get_available_providers())})"
    if not _cuda_driver_present():
        return None, "no NVIDIA driver found (libcuda)"
    ort.set_default_logger_severity(4)
    try:
        if hasattr(ort, "preload_dlls"):
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
                ort.preload_dlls()
        session = ort.InferenceSession(str(path), sess_options=_options(threads), providers=[CUDA, CPU])
    except Exception as exc:
        return None, _short(exc)
    finally:
        ort.set_default_logger_severity(2)  # onnxruntime's default: warnings
    if session.get_providers()[0] != CUDA:
        return None, ("the CUDA provider did not load (missing CUDA/cuDNN libraries? "
                      "pip install 'onnxruntime-gpu[cuda,cudnn]')")
    return session, ""


def _session(path: Path, provider: str, threads: int | None) -> Any:
    if provider not in PROVIDERS:
        raise GanzooError(f"--provider must be one of {', '.join(PROVIDERS)}, got '{provider}'")
    if provider in ("auto", "cuda"):
        session, why = _try_cuda(path, threads)
        if session is not None:
            return session
        if provider == "cuda":
            raise GanzooError(f"CUDA is not usable here: {why}; use --provider cpu (or auto)")
    ort = _ort()
    try:
        return ort.InferenceSession(str(path), sess_options=_options(threads), providers=[CPU])
    except Exception as exc:
        raise GanzooError(f"'{path}' is not an ONNX model onnxruntime can load ({_short(exc)}); "
                          "export one with: ganzoo export RUN_DIR --onnx") from None


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def _static(shape: Iterable[Any]) -> list[int] | None:
    dims = list(shape)
    return [int(d) for d in dims] if all(isinstance(d, int) and d > 0 for d in dims) else None


class Generator:
    """An exported generator: its metadata, and sampling that returns numpy arrays.

    Attributes: ``latent_dim``, ``num_classes`` (0 = unconditional), ``output_shape``
    (tuple, or None when neither the metadata nor the graph tell), ``output_range``,
    ``kind`` ("images" or "points"), ``model``, ``dataset``, ``steps``, ``weights``,
    ``version``, ``modes`` (mixture centres or None), ``metadata`` (every metadata_prop),
    ``provider`` (the onnxruntime provider running it), ``path``, ``session``."""

    def __init__(self, path: Path, session: Any, latent_dim: int, num_classes: int,
                 output_shape: tuple[int, ...] | None, metadata: dict[str, str], input_name: str,
                 labels_name: str | None, output_name: str) -> None:
        self.path, self.session, self.metadata = path, session, metadata
        self.latent_dim, self.num_classes, self.output_shape = latent_dim, num_classes, output_shape
        self._z, self._labels, self._out = input_name, labels_name, output_name
        self.provider: str = session.get_providers()[0]
        self.model = metadata.get("ganzoo.model", path.stem)
        self.dataset: str | None = metadata.get("ganzoo.dataset") or None
        self.steps = _int(metadata.get("ganzoo.steps"))
        self.weights: str | None = metadata.get("ganzoo.weights") or None
        self.version: str | None = metadata.get("ganzoo.version") or None
        kind = metadata.get("ganzoo.kind")
        if kind not in ("images", "points"):
            kind = "images" if output_shape is not None and len(output_shape) == 3 else "points"
        self.kind = kind
        self.output_range = metadata.get("ganzoo.output_range", "[-1, 1]" if kind == "images" else "unbounded")
        self.modes: np.ndarray | None = None  # mixture centres, for scatter plots and mode coverage
        try:
            if metadata.get("ganzoo.modes"):
                self.modes = np.asarray(json.loads(metadata["ganzoo.modes"]), dtype=np.float32)
        except (json.JSONDecodeError, TypeError, ValueError):
            self.modes = None

    def __repr__(self) -> str:
        cond = f", num_classes={self.num_classes}" if self.num_classes else ""
        return (f"<ganzoo.onnx.runtime.Generator {self.model!r} latent_dim={self.latent_dim}{cond} "
                f"output_shape={self.output_shape} provider={self.provider}>")

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def latents(self, n: int, seed: int | None = None) -> np.ndarray:
        """The latents :meth:`sample` uses for (n, seed)."""
        return latents(_count(n), self.latent_dim, seed)

    def default_labels(self, n: int) -> np.ndarray:
        """Every class, class-major (equal shares, the first classes one more when n is not a multiple)."""
        return np.sort(np.arange(n) % self.num_classes).astype(np.int64)

    def check_labels(self, labels: Any, n: int) -> np.ndarray | None:
        """Validate labels before onnxruntime sees them: out-of-range labels would raise
        inside Gather (embeddings) or silently give zeros (one-hot; DESIGN.md §6)."""
        if not self.num_classes:
            if labels is not None:
                raise GanzooError(f"'{self.model}' is unconditional: drop the labels")
            return None
        if labels is None:
            return self.default_labels(n)
        if isinstance(labels, range):
            labels = list(labels)
        array = np.asarray(labels)
        if array.dtype == bool or array.dtype.kind not in "iu":
            if array.dtype.kind == "f" and array.size and np.all(np.mod(array, 1) == 0):
                array = array.astype(np.int64)
            else:
                raise GanzooError(f"labels must be integers in 0..{self.num_classes - 1}, got {labels!r:.60}")
        if array.ndim == 0:
            array = np.full(n, int(array), dtype=np.int64)
        if array.ndim != 1 or len(array) != n:
            raise GanzooError(f"got {array.size} labels for {n} samples: give one label or one per sample")
        bad = sorted({int(v) for v in array if not 0 <= v < self.num_classes})
        if bad:
            shown = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
            raise GanzooError(f"labels {shown} out of range: '{self.model}' has classes 0..{self.num_classes - 1}")
        return array.astype(np.int64)

    def run(self, z: np.ndarray, labels: Any = None, batch_size: int = CHUNK) -> np.ndarray:
        """The generator on given latents ``[n, latent_dim]`` (float32) and labels, run
        ``batch_size`` rows at a time so that n = 50,000 does not need 50,000 activations."""
        z = np.ascontiguousarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim or not len(z):
            raise GanzooError(f"z must have shape [n, {self.latent_dim}] with n >= 1, got {list(z.shape)}")
        y = self.check_labels(labels, len(z))
        step = max(1, int(batch_size))
        parts = [self._run(z[i:i + step], None if y is None else y[i:i + step]) for i in range(0, len(z), step)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _run(self, z: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        feeds = {self._z: z}
        if self._labels is not None:
            feeds[self._labels] = np.ascontiguousarray(y)
        try:
            if self.provider == CUDA:  # IO binding: inputs copied once, output allocated by the provider
                binding = self.session.io_binding()
                for name, value in feeds.items():
                    binding.bind_cpu_input(name, value)
                binding.bind_output(self._out, "cuda")
                self.session.run_with_iobinding(binding)
                return binding.copy_outputs_to_cpu()[0]
            return self.session.run([self._out], feeds)[0]
        except Exception as exc:
            raise GanzooError(f"onnxruntime failed on '{self.path}': {_short(exc)}") from None

    def sample(self, n: int, labels: Any = None, seed: int | None = None, batch_size: int = CHUNK) -> np.ndarray:
        """``n`` samples ``[n, *output_shape]`` float32.

        ``labels``: None (conditional models: every class in turn), one int, or n ints.
        ``seed``: None draws fresh latents; an int gives the same ones everywhere."""
        n = _count(n)
        y = self.check_labels(labels, n)
        return self.run(latents(n, self.latent_dim, seed), y, batch_size=batch_size)


def _count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise GanzooError(f"n must be a positive integer, got {n!r}")
    return int(n)


def _resolve_io(path: Path, session: Any, metadata: dict[str, str], latent_dim: int | None
                ) -> tuple[int, int, tuple[int, ...] | None, str, str | None, str]:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    by_name = {i.name: i for i in inputs}
    ganzoo_file = any(k.startswith("ganzoo.") for k in metadata)
    missing = [k for k in METADATA_KEYS if k not in metadata]
    meta_latent = _int(metadata.get("ganzoo.latent_dim"))
    if meta_latent is None and latent_dim is None:
        first = inputs[0] if inputs else None
        hint = f" (its input '{first.name}' is {first.type} {first.shape})" if first is not None else ""
        what = ("is not a ganzoo generator: it has no ganzoo.* metadata "
                "(ganzoo.latent_dim, ganzoo.num_classes, ganzoo.output_shape, ...)"
                if not ganzoo_file else f"lacks the metadata {', '.join(missing)}")
        raise GanzooError(f"'{path}' {what}; to run it anyway give its latent size with --latent-dim N "
                          f"(latent_dim=N in Python){hint}")
    if meta_latent is not None and latent_dim is not None and latent_dim != meta_latent:
        raise GanzooError(f"--latent-dim {latent_dim} contradicts the file: '{path}' takes {meta_latent}-d latents; "
                          "drop --latent-dim")
    dim = meta_latent if meta_latent is not None else int(latent_dim)  # type: ignore[arg-type]
    if dim < 1:
        raise GanzooError(f"--latent-dim must be a positive integer, got {dim}")

    if Z in by_name:
        z_in = by_name[Z]
    elif len(inputs) == 1 and "float" in inputs[0].type:
        z_in = inputs[0]  # a foreign generator with one float input, run with --latent-dim
    else:
        described = ", ".join(f"{i.name} {i.type} {i.shape}" for i in inputs)
        raise GanzooError(f"'{path}' has inputs {described}; a generator takes '{Z}' float [batch, latent_dim] "
                          f"and, if conditional, '{LABELS}' int64 [batch]")
    if z_in.type != "tensor(float)":
        raise GanzooError(f"input '{z_in.name}' of '{path}' is {z_in.type}; a generator's latents are tensor(float)")
    if len(z_in.shape) != 2:
        raise GanzooError(f"input '{z_in.name}' of '{path}' has shape {z_in.shape}; "
                          "a generator takes [batch, latent_dim]")
    if isinstance(z_in.shape[1], int) and z_in.shape[1] != dim:
        flag = "--latent-dim" if meta_latent is None else "its metadata ganzoo.latent_dim"
        raise GanzooError(f"{flag} says {dim} but input '{z_in.name}' of '{path}' takes [batch, {z_in.shape[1]}]")

    labels_in = by_name.get(LABELS)
    others = [i.name for i in inputs if i.name not in (z_in.name, LABELS)]
    if others:
        raise GanzooError(f"'{path}' has inputs this runtime cannot feed: {', '.join(others)}")
    num_classes = _int(metadata.get("ganzoo.num_classes"))
    if labels_in is None:
        if num_classes:
            raise GanzooError(f"'{path}' says ganzoo.num_classes={num_classes} but its graph has no '{LABELS}' input; "
                              "export it again")
        num_classes = 0
    elif not num_classes:
        raise GanzooError(f"'{path}' takes '{LABELS}' but its metadata does not say how many classes "
                          "(ganzoo.num_classes); export it with ganzoo export")

    out = next((o for o in outputs if o.name == IMAGES), outputs[0] if len(outputs) == 1 else None)
    if out is None:
        raise GanzooError(f"'{path}' has outputs {', '.join(o.name for o in outputs)}; a generator returns '{IMAGES}'")
    shape: tuple[int, ...] | None = None
    if "ganzoo.output_shape" in metadata:
        try:
            shape = tuple(int(d) for d in json.loads(metadata["ganzoo.output_shape"]))
        except (json.JSONDecodeError, TypeError, ValueError):
            raise GanzooError(f"'{path}' has a corrupt ganzoo.output_shape {metadata['ganzoo.output_shape']!r}; "
                              "export it again") from None
    else:
        static = _static(out.shape[1:])
        shape = tuple(static) if static else None
    return dim, int(num_classes), shape, z_in.name, labels_in.name if labels_in is not None else None, out.name


def load(path: str | Path, provider: str = "auto", latent_dim: int | None = None,
         threads: int | None = None) -> Generator:
    """Open an exported generator.

    ``provider``: "auto" (CUDA where it really loads, else CPU), "cpu" or "cuda" (an
    error when CUDA is not usable). ``latent_dim`` runs an .onnx without ganzoo metadata
    (it must agree with the metadata when there is some). ``threads``: CPU intra-op
    threads (default: OMP_NUM_THREADS, else the cores available)."""
    path = Path(path)
    if path.is_dir():
        raise GanzooError(f"'{path}' is a directory, not an .onnx file; export a run with: ganzoo export {path} --onnx")
    if not path.is_file():
        raise GanzooError(f"no such file '{path}'")
    with path.open("rb") as handle:
        head = handle.read(64)
    if not head:
        raise GanzooError(f"'{path}' is empty, not an ONNX model; export one with: ganzoo export RUN_DIR --onnx")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise GanzooError(f"threads must be a positive integer, got {threads!r}")
    session = _session(path, provider, threads)
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    dim, classes, shape, z_name, labels_name, out_name = _resolve_io(path, session, metadata, latent_dim)
    return Generator(path, session, dim, classes, shape, metadata, z_name, labels_name, out_name)


__all__ = ["CHUNK", "PROVIDERS", "Generator", "default_threads", "latents", "load"]
