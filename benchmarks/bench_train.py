"""Training throughput: the ganzoo loop against a textbook PyTorch GAN loop.

Both loops train the same vanilla G and D (built from the registry) on mnist5k with
the same batch size, optimiser and step count. The textbook loop is what most GAN
tutorials do: a shuffling DataLoader over the tensors, BCELoss on sigmoid outputs,
``.item()`` and a print on every step, D's parameter gradients computed during G's
step. Prints steps/s for each and their ratio.

    python benchmarks/bench_train.py [--steps 600] [--batch-size 64] [--threads N] [--device cpu]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    from ganzoo.data.images import mnist5k
    from ganzoo.engine.build import build_discriminator, build_generator
    from ganzoo.engine.config import resolve

    import statistics

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
