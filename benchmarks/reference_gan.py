"""What a user would run instead of ganzoo: the training script of the most used GAN
collection (PyTorch-GAN's ``implementations/gan/gan.py``), re-created here from its
description so that ``bench_train.py --versus`` can time both whole processes on the same
5,000 digits. Written for this benchmark, not copied; what it does as that script does:

- an MLP generator 100 → 128 → 256 → 512 → 1024 → 784 with LeakyReLU(0.2), BatchNorm
  (its second argument 0.8, which is eps) on the three middle layers, Tanh output;
- an MLP discriminator 784 → 512 → 256 → 1 with LeakyReLU(0.2) and a Sigmoid, BCELoss;
- Adam at 2e-4, betas (0.5, 0.999), batch 64, a shuffling DataLoader whose dataset turns
  each PIL digit into a tensor in [-1, 1] (ToTensor, then Normalize(0.5, 0.5));
- per batch: G's update, then D's on real and on the detached fakes (averaged); one line
  printed; 25 samples saved as a picture every 400 batches.

    python benchmarks/reference_gan.py digits.npz --steps 1027 --out /tmp/reference

It imports no torchvision (the original does, for its transforms and its picture), so its
start-up is, if anything, shorter than the original's.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn


class Digits(torch.utils.data.Dataset):
    """The digits of an .npz (uint8 ``x`` [N, 28, 28], ``y``; read as fast as torchvision reads
    MNIST's raw files) as PIL images, converted per item as torchvision's transforms do."""

    def __init__(self, path: Path) -> None:
        with np.load(path) as npz:
            images, self.labels = npz["x"], npz["y"]
        self.images = [Image.fromarray(image) for image in images]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(np.asarray(self.images[i], dtype=np.float32) / 255.0).unsqueeze(0)  # ToTensor
        return (x - 0.5) / 0.5, int(self.labels[i])  # Normalize([0.5], [0.5])


def block(n_in: int, n_out: int, normalize: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
    if normalize:
        layers.append(nn.BatchNorm1d(n_out, 0.8))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return layers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help=".npz with uint8 x [N, 28, 28] and y [N]")
    parser.add_argument("--steps", type=int, default=1027)
    parser.add_argument("--latent-dim", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sample-interval", type=int, default=400)
    parser.add_argument("--out", type=Path, default=Path("reference-images"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    G = nn.Sequential(*block(args.latent_dim, 128, normalize=False), *block(128, 256), *block(256, 512),
                      *block(512, 1024), nn.Linear(1024, 784), nn.Tanh())
    D = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.LeakyReLU(0.2, inplace=True), nn.Linear(512, 256),
                      nn.LeakyReLU(0.2, inplace=True), nn.Linear(256, 1), nn.Sigmoid())
    loss = nn.BCELoss()
    loader = torch.utils.data.DataLoader(Digits(args.data), batch_size=args.batch_size, shuffle=True)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    done = 0
    epoch = 0
    while done < args.steps:
        for i, (imgs, _) in enumerate(loader):
            valid, fake = torch.ones(imgs.size(0), 1), torch.zeros(imgs.size(0), 1)
            opt_g.zero_grad()
            z = torch.from_numpy(np.random.normal(0, 1, (imgs.shape[0], args.latent_dim))).float()
            gen = G(z).view(-1, 1, 28, 28)
            g_loss = loss(D(gen), valid)
            g_loss.backward()
            opt_g.step()
            opt_d.zero_grad()
            d_loss = (loss(D(imgs), valid) + loss(D(gen.detach()), fake)) / 2
            d_loss.backward()
            opt_d.step()
            print(f"[Epoch {epoch}] [Batch {i}/{len(loader)}] [D loss: {d_loss.item():f}] [G loss: {g_loss.item():f}]")
            if done % args.sample_interval == 0:
                grid = ((gen.detach()[:25].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
                tiles = grid.reshape(5, 5, 28, 28).transpose(0, 2, 1, 3).reshape(140, 140)
                Image.fromarray(tiles).save(args.out / f"{done}.png")
            done += 1
            if done >= args.steps:
                break
        epoch += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
