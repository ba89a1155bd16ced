"""``ganzoo export --int8`` against the float32 export of the same run: size, onnxruntime CPU
latency at batch 1 and throughput at batch 64, and the quality figure of ``ganzoo eval`` on
each file (the criterion for offering int8 for a model: its figure holds).

Both files of a run are timed in the same process, one thread each, in alternating rounds
(fp32 then int8, int8 then fp32, ...), on the same pre-drawn inputs; the figure is the
int8 / fp32 ratio per round and its median, since ratios measured side by side survive a
shared machine's load. Each file is scored by ``ganzoo eval FILE.onnx --json`` (the data
set's own protocol, from the file alone).

    python benchmarks/bench_int8.py runs/quality/dcgan-emoji-s0 runs/probe/amp-vanilla-mnist5k
    python benchmarks/bench_int8.py RUN --rounds 9 --no-eval

Appends to ``benchmarks/results/inference.md`` (``--out``) with the machine and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from record import append

from ganzoo.bench import machine_info

REPO = Path(__file__).resolve().parents[1]


def export(run: Path, out: Path, int8: bool) -> str | None:
    """Export one file; the error line when export refuses it (an int8 file that fails its
    check against PyTorch is a finding, not a crash of the benchmark)."""
    cmd = [sys.executable, "-m", "ganzoo", "export", str(run), "-o", str(out), *(["--int8"] if int8 else [])]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode and not int8:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return done.stderr.strip().splitlines()[-1] if done.returncode else None


def score(path: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "ganzoo", "eval", str(path), "--json", "-o", str(path.with_suffix(".eval.json"))]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return {k: v for k, v in json.loads(done.stdout)["metrics"].items() if isinstance(v, (int, float))}


def seconds_per_call(model, z: np.ndarray, labels: np.ndarray | None, calls: int) -> float:
    """Median wall time of one call over ``calls`` calls (after one untimed call)."""
    model.run(z, labels)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        model.run(z, labels)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders to export both ways")
    parser.add_argument("--rounds", type=int, default=5, help="alternated timing rounds (default: %(default)s)")
    parser.add_argument("--calls", type=int, default=50, help="timed calls per batch size and round")
    parser.add_argument("--no-eval", action="store_true", help="time only; skip ganzoo eval")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "inference.md")
    args = parser.parse_args(argv)
    from ganzoo.onnx import runtime

    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpu = machine_info()["cpu"]
    lines = [f"## {when}: int8 exports, `python benchmarks/bench_int8.py "
             f"{' '.join(argv if argv is not None else sys.argv[1:])}`", "",
             f"Machine: {cpu}, {os.cpu_count()} cores, load average "
             f"{os.getloadavg()[0]:.2f} at the start; onnxruntime CPU, 1 thread for both files; {args.rounds} "
             f"alternated rounds of {args.calls} calls per batch size; ratios are int8 / fp32 per round (median, "
             "range). Quality: `ganzoo eval FILE.onnx` on each file.", "",
             "| run | model | size fp32 → int8 | latency @1, int8/fp32 | throughput @64, int8/fp32 | fp32 figures | "
             "int8 figures |", "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for run in args.runs:
            files = {prec: Path(tmp) / f"{run.name}.{prec}.onnx" for prec in ("fp32", "int8")}
            export(run, files["fp32"], False)
            refused = export(run, files["int8"], True)
            if refused:
                print(f"{run.name}: {refused}", file=sys.stderr)
                lines.append(f"| `{run}` | {runtime.load(str(files['fp32']), provider='cpu').model} | — | — | — | — | "
                             f"refused by export's check: {refused.removeprefix('Error: ')} |")
                continue
            models = {prec: runtime.load(str(path), provider="cpu", threads=1) for prec, path in files.items()}
            fp32 = models["fp32"]
            rng = np.random.default_rng(0)
            inputs = {b: (rng.standard_normal((b, fp32.latent_dim)).astype(np.float32),
                          (np.arange(b) % fp32.num_classes).astype(np.int64) if fp32.num_classes else None)
                      for b in (1, 64)}
            ratios: dict[int, list[float]] = {1: [], 64: []}
            for r in range(args.rounds):
                order = ("fp32", "int8") if r % 2 == 0 else ("int8", "fp32")
                for b, (z, y) in inputs.items():
                    took = {prec: seconds_per_call(models[prec], z, y, args.calls) for prec in order}
                    # latency: lower is better (int8/fp32 < 1 wins); throughput: fp32/int8 time is int8/fp32 speed
                    ratios[b].append(took["int8"] / took["fp32"] if b == 1 else took["fp32"] / took["int8"])
                print(f"{run.name} round {r}: latency @1 x{ratios[1][-1]:.2f}, throughput @64 x{ratios[64][-1]:.2f}",
                      file=sys.stderr)
            figures = {prec: score(path) if not args.no_eval else {} for prec, path in files.items()}
            keys = [k for k in ("frechet_distance", "precision", "recall", "modes_captured", "kl",
                                "conditional_accuracy") if k in figures["fp32"]]

            def shown(values: dict[str, float], keys: list[str] = keys) -> str:
                return ", ".join(f"{k} {values[k]:.3g}" for k in keys if k in values) or "—"

            sizes = {prec: path.stat().st_size / 1e3 for prec, path in files.items()}
            lines.append(f"| `{run}` | {fp32.model} | {sizes['fp32']:,.0f} → {sizes['int8']:,.0f} kB | "
                         f"**{statistics.median(ratios[1]):.2f}×** ({min(ratios[1]):.2f}-{max(ratios[1]):.2f}) | "
                         f"**{statistics.median(ratios[64]):.2f}×** ({min(ratios[64]):.2f}-{max(ratios[64]):.2f}) | "
                         f"{shown(figures['fp32'])} | {shown(figures['int8'])} |")
    lines += ["", "Latency ratios below 1 and throughput ratios above 1 favour int8.", ""]
    append(args.out, "Inference speed", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
