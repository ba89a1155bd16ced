"""Training throughput: the ganzoo loop against a textbook PyTorch GAN loop.

Both loops train the same vanilla G and D (built from the registry) on mnist5k with
the same batch size, optimiser and step count. The textbook loop is what most GAN
tutorials do: a shuffling DataLoader over the tensors, BCELoss on sigmoid outputs,
``.item()`` and a print on every step, D's parameter gradients computed during G's
step. Prints steps/s for each and their ratio.

    python benchmarks/bench_train.py [--steps 600] [--batch-size 64] [--threads N] [--device cpu]
    python benchmarks/bench_train.py --versus --steps 1027 --rounds 3 --threads 1   # whole processes
    python benchmarks/bench_train.py --versus --steps 1027 --rounds 3 --threads 1 --train-args=--amp

``--versus`` times whole processes, start-up included, against ``reference_gan.py`` (what a
user would run instead: PyTorch-GAN's gan.py, re-created) and appends to results/train.md.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import torch
from torch import nn


def textbook(G, D, x, steps: int, batch_size: int, latent_dim: int, device) -> float:
    """Steps per second of the tutorial-style loop (warm-up excluded)."""
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=batch_size,
                                         shuffle=True, drop_last=True)
    D = nn.Sequential(D, nn.Sigmoid())
    bce = nn.BCELoss()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    log = io.StringIO()
    step, warmup, t0 = 0, min(50, steps // 10), 0.0
    while step < steps + warmup:
        for (real,) in loader:
            if step == warmup:
                t0 = time.perf_counter()
            real = real.to(device)
            ones = torch.ones(real.shape[0], device=device)
            zeros = torch.zeros(real.shape[0], device=device)
            z = torch.randn(real.shape[0], latent_dim, device=device)
            fake = G(z)
            opt_d.zero_grad()
            d_loss = bce(D(real).view(-1), ones) + bce(D(fake.detach()).view(-1), zeros)
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            g_loss = bce(D(fake).view(-1), ones)
            g_loss.backward()
            opt_g.step()
            print(f"step {step} d {d_loss.item():.4f} g {g_loss.item():.4f}", file=log)
            step += 1
            if step >= steps + warmup:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def ganzoo_loop(steps: int, batch_size: int, device: str) -> float:
    """Steps per second of ``ganzoo train`` (its own timing of each logged window, the first one excluded)."""
    import json

    from ganzoo.engine.config import resolve
    from ganzoo.engine.train import train

    log_every = max(1, steps // 10)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = resolve("vanilla", dataset="mnist5k", steps=steps + log_every, batch_size=batch_size, device=device,
                      out=f"{tmp}/run", log_every=log_every, sample_every=10**9, ckpt_every=10**9)
        result = train(cfg, quiet=True)
        rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    timed = rows[1:]
    return sum(log_every for _ in timed) / sum(log_every / r["steps_per_s"] for r in timed)


def versus(steps: int, rounds: int, threads: int, out: Path, extra: list[str]) -> None:
    """Whole processes, start-up included: ``ganzoo train vanilla --steps N`` (its default
    samples and checkpoints) against reference_gan.py (PyTorch-GAN's gan.py re-created) on the
    same 5,000 digits, both pinned to ``threads``, in alternating order; appends to ``out``."""
    import os
    import platform
    import statistics
    import subprocess
    import sys
    from datetime import datetime, timezone

    import numpy as np
    from record import append

    from ganzoo.bench import machine_info
    from ganzoo.data.images import mnist5k

    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    here = Path(__file__).resolve().parent
    times: dict[str, list[float]] = {"ganzoo": [], "reference": []}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        data = mnist5k()
        np.savez(f"{tmp}/digits.npz", x=data.x.view(-1, 28, 28).numpy(), y=data.y.numpy())
        cmds = {"ganzoo": lambda r: [sys.executable, "-m", "ganzoo", "train", "vanilla", "--steps", str(steps),
                                     "--threads", str(threads), "-q", "--out", f"{tmp}/ganzoo{r}", *extra],
                "reference": lambda r: [sys.executable, str(here / "reference_gan.py"), f"{tmp}/digits.npz",
                                        "--steps", str(steps), "--out", f"{tmp}/reference{r}"]}
        for r in range(rounds):
            for name in (("ganzoo", "reference") if r % 2 == 0 else ("reference", "ganzoo")):
                start = time.perf_counter()
                done = subprocess.run(cmds[name](r), env=env, capture_output=True, text=True)
                if done.returncode:
                    raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
                times[name].append(time.perf_counter() - start)
            print(f"round {r}: ganzoo {times['ganzoo'][-1]:.1f} s, reference {times['reference'][-1]:.1f} s",
                  file=sys.stderr)
    ratios = [b / a for a, b in zip(times["ganzoo"], times["reference"])]
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    import shlex

    flags = f" --train-args={shlex.quote(' '.join(extra))}" if extra else ""
    lines = [f"## {when}: `python benchmarks/bench_train.py --versus --steps {steps} --rounds {rounds} "
             f"--threads {threads}{flags}`", "",
             f"Machine: {machine_info()['cpu']}, {os.cpu_count()} cores, Python {platform.python_version()}, torch "
             f"{torch.__version__}; load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; "
             f"{threads} thread(s) each; whole processes (start-up, data, samples, checkpoints) of {steps} steps, "
             "alternated.", "",
             "| process | seconds per round | median |", "|---|---|---|",
             f"| `ganzoo train vanilla --steps {steps}{' ' + ' '.join(extra) if extra else ''}` | "
             f"{', '.join(f'{t:.1f}' for t in times['ganzoo'])} | "
             f"{statistics.median(times['ganzoo']):.1f} |",
             f"| `reference_gan.py` (PyTorch-GAN's gan.py) | {', '.join(f'{t:.1f}' for t in times['reference'])} | "
             f"{statistics.median(times['reference']):.1f} |", "",
             f"Speed-up (reference time / ganzoo time) per round: {', '.join(f'{x:.2f}' for x in ratios)}; "
             f"median **{statistics.median(ratios):.2f}×** (target: 2×).", ""]
    append(out, "Training speed", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--versus", action="store_true",
                        help="whole processes against reference_gan.py (PyTorch-GAN's gan.py); writes --out")
    parser.add_argument("--train-args", default="", help="--versus: extra flags for ganzoo train, e.g. '--amp'")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "train.md")
    args = parser.parse_args()
    if args.versus:
        versus(args.steps, args.rounds, args.threads, args.out, args.train_args.split())
        return
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    import statistics

    from ganzoo.data.images import mnist5k
    from ganzoo.engine.build import build_discriminator, build_generator
    from ganzoo.engine.config import resolve

    data = mnist5k()
    cfg = resolve("vanilla", out="unused")
    base_runs, ours_runs = [], []
    for _ in range(args.rounds):
        torch.manual_seed(0)
        G = build_generator(cfg, data.shape, 0).to(device)
        D = build_discriminator(cfg, data.shape, 0).to(device)
        base_runs.append(textbook(G, D, data.floats(), args.steps, args.batch_size, cfg.latent_dim, device))
        ours_runs.append(ganzoo_loop(args.steps, args.batch_size, args.device))
    base, ours = statistics.median(base_runs), statistics.median(ours_runs)
    print(f"vanilla on mnist5k, batch {args.batch_size}, {args.steps} steps x {args.rounds} rounds, "
          f"{args.threads} threads, {device}")
    print(f"textbook loop : {base:8.1f} steps/s (median; rounds: {', '.join(f'{v:.1f}' for v in base_runs)})")
    print(f"ganzoo loop   : {ours:8.1f} steps/s (median; rounds: {', '.join(f'{v:.1f}' for v in ours_runs)})")
    print(f"ratio         : {ours / base:8.2f}x")


if __name__ == "__main__":
    main()
