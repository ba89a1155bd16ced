"""Dropout masks on the CPU: ``ganzoo.layers.Dropout`` against ``torch.nn.Dropout``.

torch's CPU dropout draws one Bernoulli variable per element; ganzoo's draws four 16-bit
numbers per 64-bit random draw and compares them with ``p``. Two measurements, each as
alternated A/B rounds at one thread:

- per call: forward + backward microseconds at vanilla's discriminator shapes (batch 64,
  512 and 256 units), in float32 and bf16;
- per step: vanilla on mnist5k, trained in this process with each dropout in turn, the
  loop's own steps/s (start-up excluded), with and without ``--amp``.

    python benchmarks/bench_dropout.py [--rounds 4] [--steps 300]

Appends to benchmarks/results/train.md (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from record import append

REPO = Path(__file__).resolve().parents[1]


def per_call(drop, x, grad, calls: int) -> float:
    """Microseconds of one forward + backward through ``drop``."""
    for _ in range(20):
        drop(x).backward(grad)
    t0 = time.perf_counter()
    for _ in range(calls):
        drop(x).backward(grad)
    return (time.perf_counter() - t0) / calls * 1e6


def per_step(amp: bool, steps: int, out: Path) -> float:
    """The loop's median steps/s after its first logged window."""
    import ganzoo

    run = ganzoo.train("vanilla", steps=steps, out=str(out), amp=amp, threads=1, seed=0,
                       log_every=max(1, steps // 6), sample_every=10 * steps, ckpt_every=10 * steps)
    rows = [json.loads(line) for line in (Path(run.path) / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return statistics.median(r["steps_per_s"] for r in rows[1:] if r.get("steps_per_s"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="A/B rounds of each measurement (default: %(default)s)")
    parser.add_argument("--calls", type=int, default=2000, help="calls per timed op (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=300, help="vanilla steps per timed run (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "train.md")
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch
    from torch import nn

    from ganzoo.bench import machine_info
    from ganzoo.layers import Dropout

    torch.set_num_threads(1)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    lines = [f"## {when}: `python benchmarks/bench_dropout.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
             "", f"Machine: {machine_info()['cpu']}, {os.cpu_count()} cores, torch {torch.__version__}; one thread; "
             f"load average {load:.2f} at the start; rounds alternate which dropout runs first.", "",
             "| measurement | nn.Dropout | ganzoo Dropout | speed-up per round | median |", "|---|---|---|---|---|"]

    def row(name: str, measure, higher_is_faster: bool, unit: str) -> None:
        theirs, ours, ratios = [], [], []
        for r in range(args.rounds):
            got = {}
            for which in (("nn", "ours") if r % 2 == 0 else ("ours", "nn")):
                got[which] = measure(which, r)
            theirs.append(got["nn"])
            ours.append(got["ours"])
            ratios.append(got["ours"] / got["nn"] if higher_is_faster else got["nn"] / got["ours"])
            print(f"{name} round {r}: nn {got['nn']:.1f}, ours {got['ours']:.1f} {unit} ({ratios[-1]:.2f}x)",
                  file=sys.stderr)
        lines.append(f"| {name} | {statistics.median(theirs):.1f} {unit} | {statistics.median(ours):.1f} {unit} | "
                     f"{', '.join(f'{x:.2f}' for x in ratios)} | **{statistics.median(ratios):.2f}×** |")

    drops = {"nn": nn.Dropout(0.3), "ours": Dropout(0.3)}
    for dtype in (torch.float32, torch.bfloat16):
        for units in (512, 256):
            x = torch.randn(64, units, dtype=dtype, requires_grad=True)
            grad = torch.randn(64, units, dtype=dtype)
            row(f"forward + backward, [64, {units}] {str(dtype).removeprefix('torch.')}",
                lambda which, r, x=x, grad=grad: per_call(drops[which], x, grad, args.calls), False, "µs")

    ours_forward = Dropout.forward
    with tempfile.TemporaryDirectory() as tmp:
        for amp in (False, True):
            def measure(which: str, r: int, amp: bool = amp) -> float:
                Dropout.forward = ours_forward if which == "ours" else nn.Dropout.forward  # type: ignore[method-assign]
                try:
                    return per_step(amp, args.steps, Path(tmp) / f"{which}-{amp}-{r}")
                finally:
                    Dropout.forward = ours_forward  # type: ignore[method-assign]
            row(f"vanilla step on mnist5k{' with --amp' if amp else ''}", measure, True, "steps/s")
    lines.append("")
    append(args.out, "Training speed", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
