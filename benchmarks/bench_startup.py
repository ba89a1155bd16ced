"""Start-up: how long ``ganzoo train vanilla --steps 1`` takes as a whole process, beside
``python -c "import torch"`` (its floor), the same import ended by ``os._exit`` (the floor
without the interpreter's teardown, which ganzoo's commands skip) and ``ganzoo list models``
(a torch-free command).

The three are run in turn, round after round, so that a shared machine's load falls on all
of them alike; the figures are each one's median and range in seconds, the train command's
ratio to the torch import (per round, then its median), and the load average before and
after. The target is 2.5 s for the train command on a quiet machine (load below 0.5).

    python benchmarks/bench_startup.py                  # 7 rounds
    python benchmarks/bench_startup.py --rounds 15

Appends to ``benchmarks/results/startup.md`` (``--out``) with the machine and the command.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from record import append

from ganzoo.bench import machine_info

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    took = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds of the three commands (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "startup.md")
    args = parser.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    load_before = os.getloadavg()[0]
    names = ("import torch", "import torch; os._exit(0)", "ganzoo train vanilla --steps 1", "ganzoo list models")
    times: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        # one untimed run first: the data set's cache and the OS's file cache are a first run's cost
        timed([sys.executable, "-m", "ganzoo", "train", "vanilla", "--steps", "1", "-q", "--out", f"{tmp}/warm"], env)
        for r in range(args.rounds):
            cmds = {names[0]: [sys.executable, "-c", "import torch"],
                    names[1]: [sys.executable, "-c", "import os, torch; os._exit(0)"],
                    names[2]: [sys.executable, "-m", "ganzoo", "train", "vanilla", "--steps", "1", "-q", "--out",
                               f"{tmp}/run{r}"],
                    names[3]: [sys.executable, "-m", "ganzoo", "list", "models"]}
            order = names if r % 2 == 0 else names[::-1]
            for name in order:
                times[name].append(timed(cmds[name], env))
            print(f"round {r}: " + ", ".join(f"{n} {times[n][-1]:.2f} s" for n in names), file=sys.stderr)
    load_after = os.getloadavg()[0]
    ratios = [t / i for t, i in zip(times[names[2]], times[names[0]])]
    quiet = "quiet" if max(load_before, load_after) < 0.5 else "busy"
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpu = machine_info()["cpu"]
    import torch

    lines = [f"## {when}: `python benchmarks/bench_startup.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
             "", f"Machine: {cpu}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}, torch {torch.__version__}; OMP_NUM_THREADS=1; load average "
             f"{load_before:.2f} before, {load_after:.2f} after ({quiet}); {args.rounds} rounds, order alternated.", "",
             "| command | median (s) | range (s) |", "|---|---|---|"]
    for name in names:
        lines.append(f"| `{name}` | **{statistics.median(times[name]):.2f}** | "
                     f"{min(times[name]):.2f}-{max(times[name]):.2f} |")
    lines += ["", f"`train --steps 1` / `import torch`, per round: {', '.join(f'{x:.2f}' for x in ratios)} "
              f"(median {statistics.median(ratios):.2f}).", ""]
    append(args.out, "Start-up time", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
