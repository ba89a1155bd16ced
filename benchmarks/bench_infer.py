"""Inference speed of every built-in model: onnxruntime against PyTorch eager.

For each built-in model at its default size (its default data set: mnist5k 28x28, or
emoji 3x32x32 for the modern models) this trains a handful of steps into a temporary folder, exports it
with ``ganzoo export`` (verified), and runs ``ganzoo bench`` on the file (the same
code, called in-process; every backend still runs in its own worker process). Speed
does not depend on what the weights are, only on the architecture, so a few steps
give the same figures as a fully trained model.

Writes ``benchmarks/results/inference.md`` (tables, targets, machine, command) and the
raw results as ``benchmarks/results/inference.json``. About 4 minutes on a quiet
2-core CPU with the defaults.

    python benchmarks/bench_infer.py [--models vanilla,dcgan] [--batch-sizes 1,8,64,256]
        [--threads N] [--runs 100] [--max-time 2] [--providers auto] [--compile]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ganzoo.bench import busy_note, format_table, run_bench, speedups  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
#: The issue's targets on a 2-core CPU: ORT p50 at batch 1 at most this fraction of eager's ...
TARGET_LATENCY = 0.5
#: ... and ORT images/s at batch 64 at least this multiple of eager's (for vanilla and dcgan).
TARGET_THROUGHPUT = 1.2
TARGET_MODELS = ("vanilla", "dcgan")


def builtin_models() -> list[str]:
    """The models the built-in plugin registers (third-party plugins are not benchmarked here)."""
    from ganzoo.registry import Registry

    return sorted(spec.name for spec in Registry(load_entry_points=False).list("models"))


def prepare(model: str, workdir: Path, steps: int, echo: Callable[[str], None]) -> tuple[Path, Path]:
    """Train ``model`` for ``steps`` steps at its defaults into workdir/<model>, export it
    (verified) to workdir/<model>.onnx; return (run directory, .onnx path)."""
    from ganzoo.engine.config import resolve
    from ganzoo.engine.train import train
    from ganzoo.onnx.export import export_run

    run_dir = workdir / model
    cfg = resolve(model, steps=steps, device="cpu", out=str(run_dir), log_every=max(1, steps),
                  sample_every=10**9, ckpt_every=10**9)
    train(cfg, quiet=True, echo=lambda message: None)
    result = export_run(run_dir, output=workdir / f"{model}.onnx")
    echo(f"{model}: trained {steps} steps, exported ({result.verification_line()})")
    return run_dir, result.path


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _row(result: dict[str, Any], backend: str, batch: int) -> dict[str, Any] | None:
    return next((r for r in result["results"] if r["backend"] == backend and r["batch"] == batch
                 and r.get("status") == "ok"), None)


def summary_rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    """One line per model: batch-1 latency and batch-64 throughput, ORT CPU against eager."""
    rows = []
    for model, result in results.items():
        o1, t1 = _row(result, "ort-cpu", 1), _row(result, "torch-cpu", 1)
        o64, t64 = _row(result, "ort-cpu", 64), _row(result, "torch-cpu", 64)
        lat = o1["p50_ms"] / t1["p50_ms"] if o1 and t1 else None
        thr = o64["images_per_s"] / t64["images_per_s"] if o64 and t64 else None
        target = model in TARGET_MODELS
        lat_ok = "" if lat is None or not target else (" ✅" if lat <= TARGET_LATENCY else " ❌")
        thr_ok = "" if thr is None or not target else (" ✅" if thr >= TARGET_THROUGHPUT else " ❌")
        rows.append([model, _ms(o1 and o1["p50_ms"]), _ms(t1 and t1["p50_ms"]),
                     "-" if lat is None else f"{lat:.2f}×{lat_ok}",
                     "-" if not o64 else f"{o64['images_per_s']:,.0f}", "-" if not t64 else f"{t64['images_per_s']:,.0f}",
                     "-" if thr is None else f"{thr:.2f}×{thr_ok}"])
    return rows


def detail_rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for model, result in results.items():
        ups = speedups(result)
        for r in result["results"]:
            if r.get("status") != "ok":
                rows.append([model, r["backend"], str(r["batch"]), "error", "", "", "", "", ""])
                continue
            up = ups.get((r["backend"], r["batch"]))
            rows.append([model, r["backend"], str(r["batch"]), _ms(r["p50_ms"]), _ms(r["p90_ms"]), _ms(r["p99_ms"]),
                         f"{r['images_per_s']:,.0f}", "-" if r.get("peak_mem_mb") is None else f"{r['peak_mem_mb']:.0f}",
                         "-" if up is None else f"{up:.2f}×"])
    return rows


def _md_table(headers: list[str], rows: list[list[str]], right_from: int = 1) -> str:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if i >= right_from else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def write_markdown(results: dict[str, dict[str, Any]], args: argparse.Namespace, command: str, seconds: float,
                   path: Path) -> None:
    first = next(iter(results.values()))
    machine, settings = first["machine"], first["settings"]
    loads = [r["machine"].get("load_average") for r in results.values()] + \
            [r["machine"].get("load_average_end") for r in results.values()]
    one_min = [x[0] for x in loads if x]
    skipped = sorted({f"{b['name']}: {b['reason']}" for r in results.values() for b in r["backends"]
                      if b["status"] == "skipped"})
    errors = sorted({f"{m} {b['name']}: {b['reason']}" for m, r in results.items() for b in r["backends"]
                     if b["status"] == "error"})
    checks = []
    for model, result in results.items():
        c = result["check"]
        if c["diffs"]:
            checks.append(f"{model}: " + ", ".join(f"{k} {v:.1e}" if v is not None else f"{k} inf"
                                                   for k, v in c["diffs"].items()) + f" ({'ok' if c['ok'] else 'MISMATCH'})")
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    gpus = "; ".join(machine["gpus"]) or "none"
    met = []
    for model in TARGET_MODELS:
        if model not in results:
            continue
        o1, t1 = _row(results[model], "ort-cpu", 1), _row(results[model], "torch-cpu", 1)
        o64, t64 = _row(results[model], "ort-cpu", 64), _row(results[model], "torch-cpu", 64)
        parts = []
        if o1 and t1:
            lat = o1["p50_ms"] / t1["p50_ms"]
            parts.append(f"batch-1 p50 {o1['p50_ms']:.3f} ms vs {t1['p50_ms']:.3f} ms = {lat:.2f}× eager's "
                         f"(target ≤ {TARGET_LATENCY}×: {'met' if lat <= TARGET_LATENCY else 'missed'})")
        if o64 and t64:
            thr = o64["images_per_s"] / t64["images_per_s"]
            parts.append(f"batch-64 {o64['images_per_s']:,.0f} vs {t64['images_per_s']:,.0f} images/s = {thr:.2f}× "
                         f"eager's (target ≥ {TARGET_THROUGHPUT}×: {'met' if thr >= TARGET_THROUGHPUT else 'missed'})")
        met.append(f"**{model}**: " + "; ".join(parts or ["no figures"]))
    text = f"""# Inference speed: onnxruntime vs PyTorch

Generated by `benchmarks/bench_infer.py` on {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} in {seconds / 60:.1f} min.
Each built-in model at its default size (its default data set: mnist5k 1×28×28; emoji 3×32×32 for cr3gan, r3gan
and stylegan2) was trained
for {args.steps} steps (speed depends on the architecture, not on the weights), exported with
`ganzoo export` (verified against PyTorch), and timed with `ganzoo bench`: every backend in its own
process, {settings['threads']} CPU thread(s) for every backend, {settings['warmup']} warm-up runs excluded,
then up to {settings['runs']} timed runs (at least 10, at most {settings['max_time']:g} s per cell), each on a
fresh pre-generated batch; **p50** is the median latency and **images/s = batch / p50**.

## Targets (ORT CPU against PyTorch eager, same threads)

{chr(10).join('- ' + m for m in met) or '- (vanilla/dcgan not in this run)'}

{_md_table(['model', 'ORT p50 ms @1', 'eager p50 ms @1', 'ORT/eager latency @1', 'ORT images/s @64',
            'eager images/s @64', 'ORT/eager throughput @64'], summary_rows(results))}

## All figures

"vs eager" is PyTorch eager's p50 divided by the backend's (above 1: faster). "peak MB" is the
worker's peak resident memory above its state right after importing its runtime, inputs excluded
(weights, arenas, activations).

{_md_table(['model', 'backend', 'batch', 'p50 ms', 'p90 ms', 'p99 ms', 'images/s', 'peak MB', 'vs eager'],
           detail_rows(results), right_from=2)}

Output check (max |Δ| against PyTorch eager on one batch of 8; limit 1e-4 on the CPU):
{chr(10).join('- ' + c for c in checks) or '- none'}

## Machine

- CPU: {machine['cpu']}{' (' + machine['cpu_id'] + ')' if machine.get('cpu_id') else ''}, {machine['cores_usable']} usable cores of {machine['cores']}; {machine['memory_gb']} GB RAM; {' '.join(machine.get('cpu_flags') or []) or 'SIMD flags unknown'}
- Threads per backend: {settings['threads']} (`--threads`, default OMP_NUM_THREADS, else all usable cores)
- GPU: {gpus}
- OS: {machine['os']}
- Versions: {versions}
- Load average (1 min) during the run: {min(one_min, default=float('nan')):.2f} to {max(one_min, default=float('nan')):.2f}
  on {machine['cores_usable']} cores{' — **busy machine: these timings are noisy**' if one_min and max(one_min) > 0.5 * machine['cores_usable'] else ''}

Skipped backends{' (no GPU on this machine: the CUDA and TensorRT paths run only where they load)' if not machine['gpus'] else ''}:
{chr(10).join('- ' + s for s in skipped) or '- none'}
{chr(10).join(['', 'Errors:'] + ['- ' + e for e in errors]) if errors else ''}

## Reproduce

```
{command}
```

Single model: `ganzoo bench exports/MODEL.onnx` (finds the run directory through the file's
`ganzoo.run` metadata, or `--run RUN_DIR`); `--json PATH` writes the raw figures.
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="all", help="Comma-separated model names [default: every built-in one].")
    parser.add_argument("--batch-sizes", default="1,8,64,256")
    parser.add_argument("--providers", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="[default: OMP_NUM_THREADS, else all cores]")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--max-time", type=float, default=2.0, help="Seconds per backend and batch size.")
    parser.add_argument("--steps", type=int, default=2, help="Training steps before export.")
    parser.add_argument("--compile", action="store_true", help="Also time torch.compile.")
    parser.add_argument("--out", type=Path, default=RESULTS / "inference.md")
    parser.add_argument("--json", type=Path, default=RESULTS / "inference.json")
    args = parser.parse_args(argv)
    command = "python benchmarks/bench_infer.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))

    import torch

    torch.set_num_threads(1)  # this process only trains and exports; the timed work runs in workers
    models = builtin_models() if args.models == "all" else [m.strip() for m in args.models.split(",") if m.strip()]
    start = time.time()
    results: dict[str, dict[str, Any]] = {}

    def echo(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="ganzoo-bench-infer-") as tmp:
        prepared = {model: prepare(model, Path(tmp), args.steps, echo) for model in models}
        for model, (run_dir, onnx_path) in prepared.items():
            result = run_bench(onnx_path, batch_sizes=args.batch_sizes, providers=args.providers, run_dir=run_dir,
                               compile_=args.compile, warmup=args.warmup, runs=args.runs, max_time=args.max_time,
                               threads=args.threads, progress=sys.stderr.isatty())
            result["model"]["path"] = f"{model}.onnx"
            result["model"]["run_dir"] = f"<tmp>/{model}"
            results[model] = result
            echo(format_table(result).split("\n\nmodel:")[0])
            note = busy_note(result)
            if note:
                echo(note)
    seconds = time.time() - start
    write_markdown(results, args, command, seconds, args.out)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"command": command, "seconds": round(seconds, 1), "results": results},
                                    indent=2) + "\n")
    print(f"wrote {args.out} and {args.json} ({seconds / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
