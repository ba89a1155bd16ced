"""Data loading: ganzoo's streamed image files against torchvision, memory while training.

1. Makes (once) a synthetic folder of N PNGs at 64 px in 10 class sub-folders.
2. Images/s of ganzoo's ``Stream`` (ImageFiles + sharded batch sampler + DataLoader
   workers) against torchvision's ``ImageFolder`` + ``DataLoader`` with the same workers,
   batch size and output (uint8 64x64 tensors), alternated A/B over rounds; and of the
   in-memory uint8 path (index a uint8 tensor, convert the batch to float).
3. Peak memory (PSS, so that forked workers' shared pages count once) of ``ganzoo train
   dcgan --dataset folder:F`` with a memory budget below the folder's size, so that it
   streams, and with ``--no-stream``; the process and its decode workers, sampled every
   0.2 s; against the folder's size as float32 and as uint8.
4. Memory of the embedded sets held as float32 (before) and as ganzoo holds them now.

    python benchmarks/bench_data.py                          # 100,000 PNGs, 2 workers, 3 rounds
    python benchmarks/bench_data.py --images 20000 --rounds 2 --train-steps 50 --data-budget 0.05
    python benchmarks/bench_data.py --out benchmarks/results/data.md
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch


def _write_chunk(args: tuple[Path, int, int, int]) -> None:
    from PIL import Image

    root, start, stop, size = args
    rng = np.random.default_rng(start)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(start, stop):
        c = rng.random((3, 3))  # smooth colour fields: PNGs of realistic size, not incompressible noise
        img = np.stack([c[k, 0] * xx + c[k, 1] * yy + c[k, 2] * np.sin(9 * xx * yy + i) for k in range(3)], -1)
        noise = rng.integers(0, 24, (size, size, 3))
        pixels = np.clip(img * 200 + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / f"class{i % 10}" / f"{i:07d}.png")


def make_folder(root: Path, n: int, size: int) -> Path:
    if root.exists() and sum(1 for _ in root.rglob("*.png")) == n:
        return root
    for k in range(10):
        (root / f"class{k}").mkdir(parents=True, exist_ok=True)
    chunks = [(root, s, min(n, s + 2000), size) for s in range(0, n, 2000)]
    with multiprocessing.Pool(max(1, len(os.sched_getaffinity(0)))) as pool:
        pool.map(_write_chunk, chunks)
    return root


def ganzoo_rate(root: Path, workers: int, batch: int, batches: int) -> float:
    from ganzoo.data.files import ImageFiles, Stream

    stream = Stream(ImageFiles.open(root, 64), batch, seed=0, device=torch.device("cpu"), workers=workers)
    stream()  # workers started, first batch in
    t0 = time.perf_counter()
    for _ in range(batches):
        stream()
    return batches * batch / (time.perf_counter() - t0)


def torchvision_rate(root: Path, workers: int, batch: int, batches: int) -> float:
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.CenterCrop(64), transforms.Resize(64), transforms.PILToTensor()])
    loader = torch.utils.data.DataLoader(datasets.ImageFolder(str(root), transform=tf), batch_size=batch,
                                         shuffle=True, num_workers=workers, drop_last=True,
                                         persistent_workers=workers > 0, prefetch_factor=4 if workers else None)
    it = iter(loader)
    next(it)
    t0 = time.perf_counter()
    for _ in range(batches):
        x, _ = next(it)
        x = x.float() / 255 * 2 - 1  # the same float conversion ganzoo does per batch
    return batches * batch / (time.perf_counter() - t0)


def memory_rate(n: int, batch: int, batches: int) -> float:
    from ganzoo.data import to_float

    x = torch.randint(0, 256, (n, 3, 64, 64), dtype=torch.uint8)
    t0 = time.perf_counter()
    for _ in range(batches):
        to_float(x[torch.randint(n, (batch,))])
    return batches * batch / (time.perf_counter() - t0)


def _pss(pid: int) -> int:
    """Proportional set size: resident bytes with pages shared between processes (a forked
    decode worker shares torch with its parent) divided among them, so sums do not double-count."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree_memory(pid: int) -> int:
    """Memory (PSS) of ``pid`` and every descendant (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in family]
        family.update(children)
        frontier += children
    return sum(_pss(p) for p in family)


def train_peak_memory(root: Path, steps: int, workers: int, budget_gb: float | None) -> tuple[int, float]:
    """Peak PSS of training from the folder: streamed under ``budget_gb``, held whole when None."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "ganzoo", "train", "dcgan", "--dataset", f"folder:{root}", "--image-size", "64",
               *(["--data-budget", str(budget_gb)] if budget_gb else ["--no-stream"]), "--workers", str(workers),
               "--steps", str(steps), "--ckpt-every", str(steps), "--sample-every", str(steps), "--out",
               f"{tmp}/run", "-q"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_memory(proc.pid))
            time.sleep(0.2)
        if proc.returncode != 0:
            raise SystemExit(f"training failed: {proc.stderr.read() if proc.stderr else ''}")
        return peak, time.perf_counter() - t0


def embedded_memory() -> list[tuple[str, int, int]]:
    from ganzoo.registry import get_registry
    from ganzoo.specs import load_target

    rows = []
    for name in ("digits", "mnist5k", "stacked-mnist"):
        spec, arg = get_registry().dataset(name)
        data = load_target(spec, "dataset")(arg=arg, data_dir=None, download=False, seed=0, image_size=None)
        rows.append((name, data.x.numel() * 4, data.nbytes))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "ganzoo-bench-pngs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=300, help="batches timed per loader and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=100)
    parser.add_argument("--data-budget", type=float, default=0.1,
                        help="GB: the training run's memory budget, below the folder's size so that it streams")
    parser.add_argument("--out", type=Path, help="also append a markdown report here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    t0 = time.perf_counter()
    root = make_folder(args.folder / str(args.images), args.images, 64)
    made = time.perf_counter() - t0
    disk = sum(p.stat().st_size for p in root.rglob("*.png"))
    print(f"folder: {args.images:,} PNGs, {disk / 1024**2:.0f} MB on disk ({made:.0f} s to make or find)", flush=True)

    rates: dict[str, list[float]] = {"ganzoo stream": [], "torchvision ImageFolder": []}
    for r in range(args.rounds):
        order = list(rates) if r % 2 == 0 else list(rates)[::-1]
        for name in order:
            run = ganzoo_rate if name == "ganzoo stream" else torchvision_rate
            rates[name].append(run(root, args.workers, args.batch_size, args.batches))
            print(f"round {r + 1} {name:24s} {rates[name][-1]:8.0f} images/s", flush=True)
    held = memory_rate(args.images, args.batch_size, args.batches * 10)
    print(f"in-memory uint8 draw: {held:,.0f} images/s", flush=True)
    peak, seconds = train_peak_memory(root, args.train_steps, args.workers, args.data_budget)
    print(f"train dcgan, streamed: peak memory {peak / 1024**2:.0f} MB over {seconds:.0f} s", flush=True)
    held_peak, held_seconds = train_peak_memory(root, args.train_steps, args.workers, None)
    print(f"train dcgan, held in memory: peak memory {held_peak / 1024**2:.0f} MB over {held_seconds:.0f} s",
          flush=True)
    embedded = embedded_memory()

    g = statistics.median(rates["ganzoo stream"])
    t = statistics.median(rates["torchvision ImageFolder"])
    pixels = args.images * 3 * 64 * 64
    lines = [
        f"### {args.images:,} PNGs at 64 px, {args.workers} decode workers, batch {args.batch_size}",
        "",
        f"`python benchmarks/bench_data.py {' '.join(sys.argv[1:])}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} "
        f"UTC; {platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores usable, "
        f"torch {torch.__version__}, 1-minute load {os.getloadavg()[0]:.2f} at the end. Folder: "
        f"{disk / 1024**2:.0f} MB of PNG files.",
        "",
        "| loader | images/s per round | median | vs torchvision |",
        "|---|---|---|---|",
        f"| ganzoo stream (ImageFiles + sharded sampler) | {', '.join(f'{x:.0f}' for x in rates['ganzoo stream'])} "
        f"| {g:.0f} | {g / t:.2f}x |",
        f"| torchvision ImageFolder + DataLoader | "
        f"{', '.join(f'{x:.0f}' for x in rates['torchvision ImageFolder'])} | {t:.0f} | 1.00x |",
        f"| ganzoo in memory (uint8 tensor, index + convert) | — | {held:.0f} | {held / t:.1f}x |",
        "",
        f"Training `dcgan --dataset folder:F --image-size 64 --data-budget {args.data_budget} --steps "
        f"{args.train_steps}` (the folder is over that budget, so it streams): peak memory (PSS) of the "
        f"process and its decode workers **{peak / 1024**2:.0f} MB** ({seconds:.0f} s); the same with "
        f"`--no-stream` (decoded once into memory): {held_peak / 1024**2:.0f} MB ({held_seconds:.0f} s). The folder "
        f"takes {pixels * 4 / 1024**3:.2f} GB as float32 (how the previous release held every set) and "
        f"{pixels / 1024**3:.2f} GB as uint8. Streaming holds a few batches per worker, whatever the set's size.",
        "",
        "| embedded set | as float32 (before) | as held now | ratio |",
        "|---|---|---|---|",
        *[f"| {name} | {before / 1024**2:.1f} MB | {now / 1024**2:.1f} MB | {before / now:.1f}x |"
          for name, before, now in embedded],
        "",
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(report + "\n")


if __name__ == "__main__":
    main()
