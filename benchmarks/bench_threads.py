"""Training speed by CPU thread count, on a quiet and on a busy machine.

Runs ``ganzoo train MODEL`` with ``--threads 2``, ``--threads 1`` and the default
(the cores the load average leaves free), alternating A/B/C within each round so the
machine's other jobs hit every setting alike. ``--busy N`` starts N single-core busy
loops for the whole measurement, the way other people's jobs occupy a shared machine;
``--busy 0`` measures the machine as it is. Every run prints and records steps/s of
the whole run (ganzoo's own timing), the threads the default picked, and the 1-minute
load average before it.

    python benchmarks/bench_threads.py                      # --busy 1, 3 rounds, vanilla on mnist5k
    python benchmarks/bench_threads.py --busy 0 --rounds 5 --steps 1500
    python benchmarks/bench_threads.py --out benchmarks/results/threads.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

BUSY = "while True:\n    pass\n"


def one_run(model: str, dataset: str, steps: int, threads: int | None, workdir: Path) -> dict[str, float]:
    out = workdir / f"run-{time.time_ns()}"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    cmd = [sys.executable, "-m", "ganzoo", "train", model, "--dataset", dataset, "--steps", str(steps),
           "--log-every", str(steps), "--sample-every", str(steps), "--ckpt-every", str(steps), "--no-ema",
           "--device", "cpu", "--out", str(out), "-q"]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    load = os.getloadavg()[0]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    used = json.loads((out / "config.json").read_text())["runtime"]["threads"]
    return {"steps_per_s": last["steps_per_s"], "threads": used, "load": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vanilla")
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy", type=int, default=1, help="single-core busy loops running meanwhile")
    parser.add_argument("--out", type=Path, help="also write a markdown report here")
    args = parser.parse_args()

    settings: list[tuple[str, int | None]] = [("--threads 2", 2), ("--threads 1", 1), ("default", None)]
    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(args.busy)]
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in settings}
    started = datetime.now(timezone.utc)
    try:
        time.sleep(5 if busy else 0)
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                order = settings if r % 2 == 0 else settings[::-1]
                for name, threads in order:
                    got = one_run(args.model, args.dataset, args.steps, threads, Path(tmp))
                    results[name].append(got)
                    print(f"round {r + 1} {name:11s} {got['steps_per_s']:7.1f} steps/s "
                          f"(threads {got['threads']}, load {got['load']:.2f})", flush=True)
    finally:
        for p in busy:
            p.kill()
    base = statistics.median(x["steps_per_s"] for x in results["--threads 2"])
    rows = []
    for name, runs in results.items():
        med = statistics.median(x["steps_per_s"] for x in runs)
        each = ", ".join(f"{x['steps_per_s']:.1f}" for x in runs)
        picked = "/".join(str(int(x["threads"])) for x in runs)
        rows.append(f"| {name} | {picked} | {each} | {med:.1f} | {med / base:.2f}x |")
    cmd = "python benchmarks/bench_threads.py " + " ".join(sys.argv[1:])
    report = "\n".join([
        f"### {args.model} on {args.dataset}, {args.steps} steps, {args.busy} busy loop(s) beside it",
        "",
        f"`{cmd}` on {started:%Y-%m-%d %H:%M} UTC; {platform.processor() or platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} cores usable, Python {platform.python_version()}.",
        "",
        "| setting | threads used | steps/s per round | median | vs 2 threads |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ])
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as fh:
            fh.write(report + "\n")


if __name__ == "__main__":
    main()
