"""``ganzoo bench``: onnxruntime against PyTorch, per provider and batch size.

A benchmark people can trust and rerun:

- every backend runs in its own process (:mod:`ganzoo.bench.ort_worker`, which never
  imports torch, and :mod:`ganzoo.bench.torch_worker`): torch's and onnxruntime's
  thread pools in one process contend and slow both;
- every CPU backend gets the same thread count; inputs are drawn before timing, fresh
  for each run and identical across backends; warm-up is excluded; GPU work is
  synchronised inside each timed region (:mod:`ganzoo.bench._timing`);
- every backend's output on one fixed batch is compared with a reference backend
  (PyTorch eager where available) so a fast wrong answer cannot pass as a result;
- the JSON carries the machine (CPU, cores, GPU, load average, library versions) so
  figures from two machines are never compared blind.

This module imports neither torch nor onnxruntime at import time: the orchestrating
process only parses, spawns workers, and formats. A run directory given instead of an
``.onnx`` file is exported first (that needs torch, imported then).
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError, writing
from ganzoo.schema import read_run_config

SCHEMA = "ganzoo.bench/1"
PROVIDERS = ("cpu", "cuda", "tensorrt")
DEFAULT_BATCH_SIZES = (1, 8, 64, 256)
#: Output check limits: fp32 on the CPU must agree as closely as export verification
#: demands; GPU backends (TF32 convolutions, other kernels) and fp16 get a looser limit.
TOLERANCE_CPU = 1e-4
TOLERANCE_GPU = 1e-2
#: Largest batch size accepted (a guard against typos like 25600).
MAX_BATCH = 65536
#: Image-to-image exports: batch sizes by default, the largest source side ``--sizes`` takes, and
#: the output pixels one timed call may produce (a cell past it is reported, not run).
TRANSLATE_BATCH_SIZES = (1, 8)
MAX_SOURCE_SIDE = 4096
BENCH_CALL_PIXELS = 4 * 1024 * 1024
#: Why a translation file gets no PyTorch rows.
TORCH_TRANSLATE = ("PyTorch rows are not measured for image-to-image exports (the PyTorch worker feeds latents); "
                   "onnxruntime rows only")
_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Backend:
    """One row group of the table: an engine on a device/provider, with its worker spec."""

    name: str  # "ort-cpu", "ort-cuda-fp16", "torch-cpu", "torch-compile-cuda", ...
    engine: str  # "onnxruntime" or "torch"
    device: str  # "cpu" or "cuda" (tensorrt runs on cuda)
    provider: str | None = None  # onnxruntime: cpu, cuda, tensorrt
    compile: bool = False
    fp16: bool = False
    skip: str | None = None  # decided before any process starts
    info: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def gpu(self) -> bool:
        return self.device != "cpu"


# -- argument checks ---------------------------------------------------------------------------
def parse_batch_sizes(text: str | Sequence[int]) -> list[int]:
    """``"1,8,64"`` → ``[1, 8, 64]`` (sorted, unique); one-line errors for anything else."""
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else [str(s) for s in text]
    sizes = []
    for item in items:
        if not item:
            continue
        try:
            value = int(item)
        except ValueError:
            raise GanzooError(f"--batch-sizes takes positive integers separated by commas like 1,8,64,256; "
                              f"got '{item}'") from None
        if not 1 <= value <= MAX_BATCH:
            raise GanzooError(
                f"--batch-sizes must be between 1 and {MAX_BATCH}, got {value}; e.g. --batch-sizes 1,8,64")
        sizes.append(value)
    if not sizes:
        raise GanzooError("--batch-sizes is empty; give at least one, e.g. --batch-sizes 1,64")
    return sorted(set(sizes))


def parse_providers(text: str | Sequence[str]) -> list[str]:
    """``auto`` (every provider: the unusable ones are reported as skipped) or a list from
    cpu, cuda, tensorrt (CUDAExecutionProvider-style names are accepted too)."""
    items = [s.strip().lower() for s in text.split(",")] if isinstance(text, str) else [s.lower() for s in text]
    items = [i for i in items if i]
    if not items or items == ["auto"]:
        return list(PROVIDERS)
    aliases = {"cpuexecutionprovider": "cpu", "cudaexecutionprovider": "cuda", "tensorrtexecutionprovider": "tensorrt",
               "trt": "tensorrt", "gpu": "cuda"}
    chosen = []
    for item in items:
        name = aliases.get(item, item)
        if name == "auto":
            raise GanzooError("--providers auto cannot be combined with others; use auto alone or a list like cpu,cuda")
        if name not in PROVIDERS:
            raise GanzooError(f"unknown provider '{item}' in --providers; choose auto or from {', '.join(PROVIDERS)}")
        if name not in chosen:
            chosen.append(name)
    return chosen


def _positive(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise GanzooError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


# -- the model: an .onnx file or a run directory --------------------------------------------------
def _is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def _find_run(onnx_path: Path, metadata: dict[str, str]) -> tuple[Path | None, str]:
    """The run directory an exported file came from (its ``ganzoo.run`` metadata names it):
    next to the file, in ``runs/`` beside its folder, or in ``./runs``. (path, "") or (None, why)."""
    name = metadata.get("ganzoo.run", "").strip()
    if not name:
        return None, "the file does not name its run (no ganzoo.run metadata); pass --run RUN_DIR for PyTorch rows"
    name_path = Path(name)
    candidates = [name_path] if name_path.is_absolute() else []
    base = name_path.name
    for folder in (onnx_path.parent, onnx_path.parent.parent / "runs", onnx_path.parent.parent,
                   Path("runs"), Path(".")):
        candidates.append(folder / base)
    model = metadata.get("ganzoo.model", "")
    for candidate in candidates:
        if _is_run_dir(candidate):
            try:
                config = read_run_config(candidate)
            except GanzooError:
                continue
            if not model or config.get("model") == model:
                return candidate, ""
    return None, (f"run '{base}' (from the file's ganzoo.run) not found next to it, in runs/ or ./; "
                  "pass --run RUN_DIR for PyTorch rows")


def _export(run_dir: Path, workdir: Path, echo: Callable[[str], None]) -> Path:
    if importlib.util.find_spec("torch") is None:
        raise GanzooError(f"'{run_dir}' is a run directory and exporting it needs torch; "
                          "bench an exported file instead: ganzoo bench MODEL.onnx")
    from ganzoo.onnx.export import export_run

    out = workdir / f"{run_dir.resolve().name}.onnx"
    result = export_run(run_dir, output=out, echo=echo)
    return result.path


def parse_sizes(text: str | Sequence[Any] | None, source_shape: Sequence[int], multiple: int, model: str
                ) -> list[tuple[int, int]]:
    """Source sizes (height, width) to time an image-to-image export at: ``"32,64x48"`` (a side,
    or HEIGHTxWIDTH); None: the training size, twice it and four times it."""
    _, h, w = (int(d) for d in source_shape)
    if text is None:
        return [(h * k, w * k) for k in (1, 2, 4)]
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else [str(s) for s in text]
    sizes: list[tuple[int, int]] = []
    for item in filter(None, items):
        parts = item.lower().split("x")
        if len(parts) > 2 or not all(part.strip().isdigit() for part in parts):
            raise GanzooError(f"--sizes takes source sides separated by commas, each N or HEIGHTxWIDTH, like "
                              f"{h},{2 * h}x{2 * w}; got '{item}'")
        height, width = int(parts[0]), int(parts[-1])
        if not (1 <= height <= MAX_SOURCE_SIDE and 1 <= width <= MAX_SOURCE_SIDE):
            raise GanzooError(f"--sizes: sides must lie in 1..{MAX_SOURCE_SIDE}, got {item}")
        if height % multiple or width % multiple:
            raise GanzooError(f"--sizes {item}: {model} takes sides that are multiples of {multiple}")
        if (height, width) not in sizes:
            sizes.append((height, width))
    if not sizes:
        raise GanzooError(f"--sizes is empty; give at least one, e.g. --sizes {h},{2 * h}")
    return sizes


def _inspect(path: Path) -> dict[str, Any]:
    """Latent size, classes, output shape and metadata, through the torch-free runtime
    (which also turns a bad file into a one-line error before any worker starts)."""
    from ganzoo.onnx import translate

    G = translate.load_any(path, provider="cpu", threads=1)
    if isinstance(G, translate.Translator):
        return {"path": str(path), "name": G.model, "task": "translate", "latent_dim": 0, "num_classes": 0,
                "source_shape": list(G.source_shape), "output_shape": list(G.output_shape), "scale": G.scale,
                "multiple": G.multiple, "domains": list(G.domains), "weights": G.weights, "steps": G.steps,
                "dataset": G.dataset, "size_bytes": path.stat().st_size, "metadata": G.metadata}
    return {"path": str(path), "name": G.model, "latent_dim": G.latent_dim, "num_classes": G.num_classes,
            "output_shape": list(G.output_shape) if G.output_shape else None, "weights": G.weights,
            "steps": G.steps, "dataset": G.dataset, "size_bytes": path.stat().st_size, "metadata": G.metadata}


def _fp16_copy(path: Path, workdir: Path) -> Path:
    from ganzoo.onnx.fp16 import convert_file

    out = workdir / f"{path.stem}.fp16.onnx"
    convert_file(path, out)
    return out


# -- machine info ----------------------------------------------------------------------------------
def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


#: The SIMD features that decide how fast the CPU kernels can be (reported when present).
_SIMD = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16",
         "amx_int8", "asimd", "sve")


def _cpu() -> tuple[str, str, list[str]]:
    """(model name, "family F model M" or "", SIMD flags) from /proc/cpuinfo: virtual
    machines often name the CPU only "AMD EPYC", the family/model and flags still tell."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    ident = (f"family {fields['cpu family']} model {fields['model']}"
             if "cpu family" in fields and "model" in fields else "")
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    return name, ident, [f for f in _SIMD if f in flags]


def _gpus() -> list[str]:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    """What makes figures comparable: CPU, cores, memory, GPUs, OS, library versions, load."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    versions = {name: _version(dist) for name, dist in (
        ("ganzoo", "ganzoo-onnx"), ("python", None), ("numpy", "numpy"), ("onnxruntime", "onnxruntime"),
        ("onnxruntime-gpu", "onnxruntime-gpu"), ("onnx", "onnx"), ("onnxscript", "onnxscript"), ("torch", "torch"))
        if dist is not None}
    versions["python"] = platform.python_version()
    if versions.get("ganzoo") is None:
        from ganzoo import __version__

        versions["ganzoo"] = __version__
    cpu, ident, flags = _cpu()
    return {"cpu": cpu, "cpu_id": ident, "cpu_flags": flags, "cores": os.cpu_count(), "cores_usable": usable,
            "memory_gb": _memory_gb(), "gpus": _gpus(), "os": platform.platform(),
            "versions": {k: v for k, v in versions.items() if v}, "load_average": _load()}


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


# -- workers ------------------------------------------------------------------------------------------
def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join([str(_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run_worker(backend: Backend, spec: dict[str, Any], workdir: Path, threads: int,
                on_event: Callable[[dict[str, Any]], None]) -> None:
    """Start the backend's worker, feed its events to ``on_event``; a worker that dies
    leaves an error event naming the last line it wrote to stderr."""
    from ganzoo.bench._timing import MARK

    spec_path = workdir / f"spec-{backend.name}.json"
    spec_path.write_text(json.dumps(spec))
    module = "ganzoo.bench.ort_worker" if backend.engine == "onnxruntime" else "ganzoo.bench.torch_worker"
    err_path = workdir / f"stderr-{backend.name}.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", module, str(spec_path)], stdout=subprocess.PIPE, stderr=err,
                                text=True, env=_env(threads), cwd=os.getcwd())
        finished = False
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.startswith(MARK):
                continue
            event = json.loads(line[len(MARK):])
            finished = finished or event["event"] in ("done", "skip", "error")
            on_event(event)
        proc.wait()
    if not finished:
        tail = [line.strip() for line in err_path.read_text(errors="replace").splitlines() if line.strip()]
        on_event({"event": "error", "message": f"worker exited with status {proc.returncode}"
                                               f"{': ' + tail[-1][:300] if tail else ''}"})


def _plan(providers: list[str], with_torch: bool, compile_: bool, fp16: bool, run_dir: Path | None,
          torch_why: str, translate: bool = False) -> list[Backend]:
    backends: list[Backend] = []
    for provider in providers:
        device = "cpu" if provider == "cpu" else "cuda"
        backends.append(Backend(f"ort-{provider}", "onnxruntime", device, provider=provider))
        if fp16:
            skip = ("fp16 is for GPU providers: on the CPU onnxruntime measured no faster "
                    "(benchmarks/results/export-tuning.md)") if provider == "cpu" else None
            backends.append(Backend(f"ort-{provider}-fp16", "onnxruntime", device, provider=provider, fp16=True,
                                    skip=skip))
    if with_torch:
        devices = ["cpu"] if "cpu" in providers else []
        if any(p != "cpu" for p in providers):
            devices.append("cuda")
        torch_skip = None if run_dir is not None else (torch_why or "no run directory for the PyTorch weights; "
                                                                           "pass --run RUN_DIR")
        if importlib.util.find_spec("torch") is None:
            torch_skip = "torch is not installed"
        if translate:
            torch_skip = TORCH_TRANSLATE
        for device in devices:
            backends.append(Backend(f"torch-{device}", "torch", device, skip=torch_skip))
            if compile_:
                backends.append(Backend(f"torch-compile-{device}", "torch", device, compile=True, skip=torch_skip))
    return backends


def _check_outputs(backends: list[Backend], workdir: Path) -> dict[str, Any]:
    """Compare each backend's output on the check batch with the reference backend's."""
    import numpy as np

    outputs = {}
    for b in backends:
        path = workdir / f"check-{b.name}.npy"
        if path.is_file():
            outputs[b.name] = np.load(path)
    order = ["torch-cpu", "ort-cpu", "torch-cuda", *outputs]
    reference = next((name for name in order if name in outputs), None)
    report: dict[str, Any] = {"reference": reference, "batch": None, "diffs": {}, "tolerances": {}, "ok": True}
    if reference is None:
        return report
    want = outputs[reference].astype(np.float64)
    report["batch"] = int(want.shape[0])
    ref_gpu = next(b for b in backends if b.name == reference).gpu
    for b in backends:
        if b.name == reference or b.name not in outputs:
            continue
        got = outputs[b.name].astype(np.float64)
        diff = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
        limit = TOLERANCE_GPU if (b.gpu or b.fp16 or ref_gpu) else TOLERANCE_CPU
        report["diffs"][b.name] = diff if math.isfinite(diff) else None
        report["tolerances"][b.name] = limit
        if not diff <= limit:
            report["ok"] = False
    return report


# -- the front door -----------------------------------------------------------------------------------
def run_bench(target: str | Path, *, batch_sizes: str | Sequence[int] | None = None,
              providers: str | Sequence[str] = "auto", with_torch: bool = True, compile_: bool = False,
              fp16: bool = False, warmup: int = 10, runs: int = 100, max_time: float = 10.0,
              threads: int | None = None, run_dir: str | Path | None = None, seed: int = 0,
              progress: bool = True, echo: Callable[[str], None] | None = None,
              ort_options: dict[str, Any] | None = None, source_sizes: str | Sequence[Any] | None = None
              ) -> dict[str, Any]:
    """Benchmark an exported generator (or a run directory, exported first) and return the
    result dict (schema :data:`SCHEMA`; :func:`format_table` prints it).

    Each backend × batch size gets ``warmup`` untimed runs, then up to ``runs`` timed ones
    (fewer once ``max_time`` seconds have passed, never fewer than 10). ``threads`` is the
    CPU thread count of every backend (default: OMP_NUM_THREADS, else the usable cores).
    PyTorch rows need the run directory: ``run_dir``, or the one the file's ``ganzoo.run``
    metadata names when it can be found; otherwise they are reported as skipped.
    ``ort_options`` overrides onnxruntime session settings (the tuning script uses it).
    An image-to-image export (``ganzoo.task`` = "translate") is timed per source size too
    (``source_sizes``: see :func:`parse_sizes`; batch sizes default to :data:`TRANSLATE_BATCH_SIZES`),
    its rows adding ms per image and output megapixels per second; it gets no PyTorch rows.
    Raises GanzooError for bad arguments. A backend whose output disagrees with the
    reference beyond the stated tolerance is recorded in ``result["check"]`` (``ok``
    False); ``ganzoo bench`` then prints the table and exits with an error."""
    from ganzoo.onnx.session import default_threads

    if batch_sizes is not None:
        parse_batch_sizes(batch_sizes)  # a typo: one line now, before any export or inspection
    chosen = parse_providers(providers)
    _positive("--warmup", warmup, 0)
    _positive("--runs", runs, 1)
    if isinstance(max_time, bool) or not isinstance(max_time, (int, float)) or not max_time > 0:
        raise GanzooError(f"--max-time must be a positive number of seconds, got {max_time!r}")
    threads = default_threads() if threads is None else _positive("--threads", threads)
    echo = echo or (lambda line: None)
    target = Path(target)
    if not target.exists():
        raise GanzooError(f"no such file or run directory '{target}'; give an exported MODEL.onnx or a RUN_DIR")
    if target.is_dir() and not _is_run_dir(target):
        raise GanzooError(f"'{target}' is a directory but not a ganzoo run (no config.json); "
                          "give an exported MODEL.onnx or a RUN_DIR")
    explicit_run = Path(run_dir) if run_dir is not None else None
    if explicit_run is not None and not _is_run_dir(explicit_run):
        raise GanzooError(f"--run '{explicit_run}' is not a ganzoo run directory (no config.json)")
    for run in (explicit_run, target if target.is_dir() else None):
        if run is not None:
            read_run_config(run)  # a broken config.json: one line now, not in a worker later

    started = time.time()
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="ganzoo-bench-") as tmp:
        workdir = Path(tmp)
        found: Path | None
        if target.is_dir():
            model_path = _export(target, workdir, echo)
            found, torch_why = explicit_run or target, ""
        else:
            model_path = target
            found, torch_why = (explicit_run, "") if explicit_run else (None, "")
        model = _inspect(model_path)
        translating = model.get("task") == "translate"
        sizes = parse_batch_sizes(batch_sizes if batch_sizes is not None else
                                  TRANSLATE_BATCH_SIZES if translating else DEFAULT_BATCH_SIZES)
        if translating:
            model["sizes"] = [list(hw) for hw in parse_sizes(source_sizes, model["source_shape"], model["multiple"],
                                                             model["name"])]
        elif source_sizes is not None:
            raise GanzooError(f"--sizes is for image-to-image exports; {model['name']} makes images from noise: "
                              "drop --sizes")
        if found is None and with_torch and not translating:
            found, torch_why = _find_run(target, model["metadata"])
        fp16_path = _fp16_copy(model_path, workdir) if fp16 and any(p != "cpu" for p in chosen) else None
        backends = _plan(chosen, with_torch, compile_, fp16, found, torch_why, translating)
        _execute(backends, model, model_path, fp16_path, found, sizes, warmup, runs, max_time, threads, seed,
                 workdir, progress, ort_options)
        check = _check_outputs(backends, workdir)
    machine["load_average_end"] = _load()
    model.pop("metadata", None)
    model["path"] = str(target)
    result = {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
        "model": {**model, "run_dir": str(found) if found else None},
        "settings": {"batch_sizes": sizes, "sizes": model.get("sizes"), "providers": chosen, "threads": threads,
                     "warmup": warmup, "runs": runs,
                     "max_time": max_time, "torch": with_torch, "compile": compile_, "fp16": fp16, "seed": seed,
                     "ort_options": ort_options or {}},
        "machine": machine,
        "backends": [{"name": b.name, "engine": b.engine, "device": b.device, "provider": b.provider,
                      "compile": b.compile, "fp16": b.fp16, "status": "skipped" if b.skip else
                      ("error" if b.info.get("error") else "ok"), "reason": b.skip or b.info.get("error"),
                      "info": {k: v for k, v in b.info.items() if k != "error"}} for b in backends],
        "results": [row for b in backends for row in b.rows],
        "check": check,
    }
    return result


def _execute(backends: list[Backend], model: dict[str, Any], model_path: Path, fp16_path: Path | None,
             run_dir: Path | None, sizes: list[int], warmup: int, runs: int, max_time: float, threads: int,
             seed: int, workdir: Path, progress: bool, ort_options: dict[str, Any] | None) -> None:
    from tqdm import tqdm

    cells = len(sizes) * len(model.get("sizes") or [None])
    bar = tqdm(total=len(backends) * cells, desc="bench", unit="cell", disable=not progress or None,
               file=sys.stderr, leave=False)
    try:
        for backend in backends:
            if backend.skip:
                bar.update(cells)
                continue
            bar.set_postfix_str(backend.name)
            spec: dict[str, Any] = {
                "backend": backend.name, "batch_sizes": sizes, "warmup": warmup, "runs": runs, "max_time": max_time,
                "threads": threads, "seed": seed, "workdir": str(workdir), "latent_dim": model["latent_dim"],
                "num_classes": model["num_classes"], "check_path": str(workdir / f"check-{backend.name}.npy")}
            if model.get("task") == "translate":
                spec.update(task="translate", sizes=model["sizes"], channels=model["source_shape"][0],
                            scale=model["scale"], source_shape=model["source_shape"], call_pixels=BENCH_CALL_PIXELS)
            if backend.engine == "onnxruntime":
                use_fp16_file = backend.fp16 and backend.provider == "cuda"
                onnx_file = fp16_path if use_fp16_file else model_path
                assert onnx_file is not None  # fp16 GPU backends come with the fp16 copy (bench() makes it)
                spec.update(provider=backend.provider, ort_options=ort_options or {},
                            model=str(onnx_file.resolve()),
                            trt_fp16=backend.fp16 and backend.provider == "tensorrt")
            else:
                spec.update(device=backend.device, compile=backend.compile, run_dir=str(run_dir),
                            weights=model.get("weights"))
            done: set[tuple[int, Any, Any]] = set()

            def on_event(event: dict[str, Any], backend: Backend = backend, done: set[tuple[int, Any, Any]] = done
                         ) -> None:
                kind = event["event"]
                if kind == "hello":
                    backend.info.update({k: v for k, v in event.items() if k != "event"})
                elif kind == "result":
                    row = {"backend": backend.name, "engine": backend.engine, "device": backend.device,
                           "provider": backend.provider, "compile": backend.compile, "fp16": backend.fp16,
                           **{k: v for k, v in event.items() if k != "event"}}
                    backend.rows.append(row)
                    done.add((int(event["batch"]), event.get("height"), event.get("width")))
                    bar.set_postfix_str(f"{backend.name} batch {event['batch']}")
                    bar.update(1)
                elif kind == "skip":
                    backend.skip = event.get("reason") or "not available"
                elif kind == "error":
                    backend.info["error"] = event.get("message") or "failed"

            _run_worker(backend, spec, workdir, threads, on_event)
            bar.update(cells - len(done))
    finally:
        bar.close()


# -- output ----------------------------------------------------------------------------------------------
def _ms(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _rate(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def speedups(result: dict[str, Any]) -> dict[tuple[str, int], float]:
    """(backend, batch) → PyTorch eager p50 / this backend's p50 on the same device
    (above 1: faster than eager)."""
    eager = {(r["device"], r["batch"]): r["p50_ms"] for r in result["results"]
             if r.get("status") == "ok" and r["engine"] == "torch" and not r["compile"]}
    out = {}
    for r in result["results"]:
        base = eager.get((r["device"], r["batch"]))
        if r.get("status") == "ok" and base and r.get("p50_ms"):
            out[(r["backend"], r["batch"])] = base / r["p50_ms"]
    return out


def _columns(headers: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """Aligned lines: the first ``left`` columns to the left, the others to the right."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i >= left else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]


def _translate_table(result: dict[str, Any]) -> str:
    """The report of an image-to-image export: a row per backend x source size x batch size."""
    rows = []
    for r in result["results"]:
        size = f"{r['height']}x{r['width']} -> {r['out_height']}x{r['out_width']}"
        if r.get("status") != "ok":
            rows.append([r["backend"], size, str(r["batch"]), "error: " + str(r.get("reason", ""))[:90], "", "", "",
                         ""])
            continue
        rows.append([r["backend"], size, str(r["batch"]), _ms(r["p50_ms"]), _ms(r["p90_ms"]), _ms(r["ms_per_image"]),
                     "-" if r.get("megapixels_per_s") is None else f"{r['megapixels_per_s']:.2f}",
                     "-" if r.get("peak_mem_mb") is None else f"{r['peak_mem_mb']:.0f}"])
    out = _columns(["backend", "source -> output", "batch", "p50 ms", "p90 ms", "ms/image", "out MP/s", "peak MB"],
                   rows, left=2)
    m, s = result["model"], result["settings"]
    a, b = m.get("domains") or ("?", "?")
    out.append("")
    out.append(f"model: {m['name']} ({m['path']}; {a} -> {b}, image-to-image x{m['scale']}, source "
               f"{'x'.join(map(str, m['source_shape']))} at training size)")
    out.append(f"timing: median of up to {s['runs']} runs after {s['warmup']} warm-up runs (at least 10, "
               f"{s['max_time']:g} s per cell) on random sources; {s['threads']} CPU thread(s); ms/image = p50 / "
               "batch; out MP/s = output megapixels per second (batch x output pixels / p50)")
    return "\n".join(out + _notes(result))


def _notes(result: dict[str, Any]) -> list[str]:
    """The lines under a table: the machine, the output check, skipped and failed backends."""
    mach = result["machine"]
    out = [f"machine: {mach['cpu']}, {mach['cores_usable']} usable cores; load average "
           f"{_fmt_load(mach.get('load_average'))} at start, {_fmt_load(mach.get('load_average_end'))} at end"]
    check = result["check"]
    if check["diffs"]:
        parts = ", ".join(f"{name} {_diff(d)}" for name, d in check["diffs"].items())
        verdict = "ok" if check["ok"] else "MISMATCH"
        out.append(f"output check ({verdict}): max|Δ| against {check['reference']} on a batch of {check['batch']}: "
                   f"{parts} (limit {TOLERANCE_CPU:g} CPU fp32, {TOLERANCE_GPU:g} GPU/fp16)")
    for b in result["backends"]:
        if b["status"] == "skipped":
            out.append(f"skipped {b['name']}: {b['reason']}")
        elif b["status"] == "error":
            out.append(f"error {b['name']}: {b['reason']}")
    return out


def format_table(result: dict[str, Any]) -> str:
    """The human-readable report: one row per backend × batch size, then notes."""
    if result["model"].get("task") == "translate":
        return _translate_table(result)
    ups = speedups(result)
    rows = []
    for r in result["results"]:
        if r.get("status") != "ok":
            rows.append([r["backend"], str(r["batch"]), "error: " + str(r.get("reason", ""))[:70], "", "", "", "", ""])
            continue
        up = ups.get((r["backend"], r["batch"]))
        rows.append([r["backend"], str(r["batch"]), _ms(r["p50_ms"]), _ms(r["p90_ms"]), _ms(r["p99_ms"]),
                     _rate(r["images_per_s"]), "-" if r.get("peak_mem_mb") is None else f"{r['peak_mem_mb']:.0f}",
                     "-" if up is None else f"{up:.2f}x"])
    headers = ["backend", "batch", "p50 ms", "p90 ms", "p99 ms", "images/s", "peak MB", "vs eager"]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    right = {1, 2, 3, 4, 5, 6, 7}
    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    out = [line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
    m, s = result["model"], result["settings"]
    shape = "x".join(map(str, m.get("output_shape") or []))
    out.append("")
    out.append(f"model: {m['name']} ({m['path']}; z[{m['latent_dim']}]"
               f"{', ' + str(m['num_classes']) + ' classes' if m['num_classes'] else ''} -> {shape})")
    out.append(f"timing: median of up to {s['runs']} runs after {s['warmup']} warm-up runs (at least 10, "
               f"{s['max_time']:g} s per cell); {s['threads']} CPU thread(s) for every backend; images/s = batch / p50")
    return "\n".join(out + _notes(result))


def _diff(d: float | None) -> str:
    return "inf" if d is None else f"{d:.1e}"


def _fmt_load(load: list[float] | None) -> str:
    return "?" if not load else "/".join(f"{x:.2f}" for x in load)


def write_json(result: dict[str, Any], path: str | Path) -> Path:
    """Write the result as indented JSON (folders created); one-line error when that fails."""
    path = Path(path)
    with writing(path, "choose another --json path"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def busy_note(result: dict[str, Any]) -> str | None:
    """A warning line when the machine was busy (1-minute load above half the usable cores)."""
    mach = result["machine"]
    loads = [x for x in (mach.get("load_average") or [None])[:1] + (mach.get("load_average_end") or [None])[:1]
             if x is not None]
    cores = mach.get("cores_usable") or 1
    if loads and max(loads) > 0.5 * cores:
        return (f"note: the machine was busy (load average up to {max(loads):.1f} on {cores} cores): "
                "timings are noisy; rerun on a quiet machine for figures to quote")
    return None


__all__ = ["DEFAULT_BATCH_SIZES", "PROVIDERS", "SCHEMA", "TOLERANCE_CPU", "TOLERANCE_GPU", "busy_note",
           "format_table", "machine_info", "parse_batch_sizes", "parse_providers", "run_bench", "speedups",
           "write_json"]
