"""bf16 autocast on CPU (``ganzoo train --amp``) against float32, model by model.

Each round trains the same model twice from the same seed, once in float32 and once under
``--amp``, in alternating order (A/B, B/A, ...), both pinned to the same thread count, and
reads the loop's own steps/s from metrics.jsonl (start-up excluded). The figure is the
speed-up ``amp / float32`` per round, its median and range: ratios measured side by side
survive a shared machine's load; absolute speeds do not. ``--quality`` also trains each
setting for the model's default step count and scores both runs with ``ganzoo eval``
(the criterion for turning --amp on by default: the figure holds).

    python benchmarks/bench_amp.py                                # vanilla, dcgan: 3 rounds of 200 steps
    python benchmarks/bench_amp.py --models dcgan,r3gan,stylegan2 --rounds 5 --steps 300
    python benchmarks/bench_amp.py --models dcgan --quality       # plus full runs and ganzoo eval

Writes ``benchmarks/results/amp.md`` (``--out``) with the machine, the commands and the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from record import append

from ganzoo.bench import machine_info

REPO = Path(__file__).resolve().parents[1]


def train(model: str, amp: bool, steps: int | None, threads: int, out: Path, seed: int) -> tuple[list[str], float]:
    """Train one run; return its command and its median steps/s over the logged windows after the first."""
    cmd = ["ganzoo", "train", model, "--seed", str(seed), "--threads", str(threads), "-q", "--out", str(out),
           "--amp" if amp else "--no-amp"]
    if steps is not None:
        cmd += ["--steps", str(steps), "--log-every", str(max(1, steps // 10)), "--sample-every", str(10 * steps),
                "--ckpt-every", str(10 * steps)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-m", "ganzoo", *cmd[1:]], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    speeds = [r["steps_per_s"] for r in rows[1:] if r.get("steps_per_s")]
    return cmd, statistics.median(speeds) if speeds else float("nan")


def score(run: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-m", "ganzoo", "eval", str(run), "--json"], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"ganzoo eval {run} failed:\n{done.stderr[-2000:]}")
    metrics = json.loads(done.stdout)["metrics"]
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="vanilla,dcgan", help="comma-separated models (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds per model (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=200, help="steps per timed run (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="threads for both settings (default: %(default)s)")
    parser.add_argument("--quality", action="store_true", help="also train both at default steps and run ganzoo eval")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "amp.md")
    args = parser.parse_args(argv)
    import torch

    from ganzoo.engine.train import native_bf16

    if not native_bf16(torch.device("cpu")):
        print("this CPU has no native bf16 (AVX512-BF16 or AMX): --amp trains in float32 here", file=sys.stderr)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpu = machine_info()["cpu"]
    lines = [f"## {when}: `python benchmarks/bench_amp.py {' '.join(argv if argv is not None else sys.argv[1:])}`", "",
             f"Machine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, "
             f"CPU bf16 capability {torch.backends.cpu.get_cpu_capability()}; {args.threads} thread(s) for both "
             f"settings; {args.steps} steps per timed run, median of the loop's logged steps/s after its first window.",
             "", "| model | rounds (amp / fp32 speed-up) | median | range | float32 steps/s (median) |",
             "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for model in [m.strip() for m in args.models.split(",") if m.strip()]:
            ratios, base = [], []
            for r in range(args.rounds):
                speeds = {}
                for amp in ((False, True) if r % 2 == 0 else (True, False)):
                    _, speeds[amp] = train(model, amp, args.steps, args.threads, Path(tmp) / f"{model}-{r}-{amp}", r)
                ratios.append(speeds[True] / speeds[False])
                base.append(speeds[False])
                print(f"{model} round {r}: fp32 {speeds[False]:.2f} steps/s, amp {speeds[True]:.2f} "
                      f"({ratios[-1]:.2f}x)", file=sys.stderr)
            each = ", ".join(f"{x:.2f}" for x in ratios)
            lines.append(f"| {model} | {each} | **{statistics.median(ratios):.2f}x** | "
                         f"{min(ratios):.2f}-{max(ratios):.2f} | {statistics.median(base):.2f} |")
            if args.quality:
                for amp in (False, True):
                    run = Path(tmp) / f"{model}-quality-{amp}"
                    cmd, _ = train(model, amp, None, args.threads, run, 0)
                    figures = ", ".join(f"{k} {v:.3g}" for k, v in score(run).items())
                    lines.append(f"|  quality, {'amp' if amp else 'fp32'} (`{' '.join(cmd[:-3])}`) | {figures} | | | |")
    lines.append("")
    append(args.out, "bf16 autocast on CPU (`--amp`)", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
