"""What a training run writes to its folder, and reads back from it on ``--resume``.

    RUN/config.json          the resolved config, the data set's description, the machine and versions
    RUN/metrics.jsonl        one JSON line per logged step (with --eval-every, eval/NAME at evaluated steps)
    RUN/samples/step-NNNNNN.png
    RUN/losses.png           the curves of metrics.jsonl
    RUN/tensorboard/         with --tensorboard
    RUN/.lock                one process at a time (:mod:`ganzoo.engine.runlock`); gone once the run ends

Kept apart from the loop (:mod:`ganzoo.engine.train`) so that the loop reads as steps,
and every file a run holds is written in one place, each write a one-line error naming
the path when the disk is full or the folder read-only. Checkpoints have their own
module (:mod:`ganzoo.engine.checkpoint`): ``checkpoint/``, with ``--keep N`` the ones it
replaced as ``checkpoint-STEP/``, and with ``--eval-every`` the best one as ``best/``.
"""

from __future__ import annotations

import contextlib
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ganzoo.api import generate
from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine.config import TrainConfig
from ganzoo.engine.runlock import RunLock
from ganzoo.errors import GanzooError, writing
from ganzoo.registry import Registry

CONFIG, METRICS, SAMPLES, LOSSES, BOARD = "config.json", "metrics.jsonl", "samples", "losses.png", "tensorboard"
_FULL = "free some space or choose another --out"


def check_out(run_dir: Path) -> None:
    """``--out`` must be a folder or nothing yet."""
    if run_dir.exists() and not run_dir.is_dir():
        raise GanzooError(f"--out '{run_dir}' is a file, not a folder; choose another --out")


def create(run_dir: Path, cfg: TrainConfig, data: Any, num_classes: int, ctx: Any, registry: Registry,
           lock: RunLock, made: list[Path]) -> None:
    """A new run's folder: made, locked, refused when it already holds a run, then its
    samples folder, an empty metrics.jsonl and config.json (:func:`run_config`). ``made``
    receives every folder and file this call created, in order, so that a run refused at its
    first step removes exactly those (:func:`discard`) and nothing that was there before."""
    new = [p for p in reversed([run_dir, *run_dir.parents]) if not p.exists()]
    with writing(run_dir, "choose another --out", action="create the run folder"):
        run_dir.mkdir(parents=True, exist_ok=True)
    made += new
    lock.acquire()  # before the check: of two processes starting the same --out, one gets it
    if (run_dir / CONFIG).exists() or ckpt.has_checkpoint(run_dir):
        raise GanzooError(
            f"'{run_dir}' already holds a run; continue it with --resume {run_dir} or choose another --out")
    made += [p for p in (run_dir / SAMPLES, run_dir / METRICS, run_dir / CONFIG) if not p.exists()]
    with writing(run_dir, "choose another --out", action="create the run folder"):
        (run_dir / SAMPLES).mkdir(exist_ok=True)
        (run_dir / METRICS).write_text("")
    with writing(run_dir / CONFIG, "choose another --out"):
        save_json(run_dir / CONFIG, run_config(cfg, data, num_classes, ctx, registry))


def discard(made: list[Path]) -> None:
    """Undo :func:`create` (and a TensorBoard folder opened after it) for a run refused before
    its first step finished: the files in ``made`` go, and its folders once they are empty
    (:func:`remove_empty`, after the lock is let go). Nothing else is touched."""
    import shutil

    for path in reversed(made):
        with contextlib.suppress(OSError):
            if path.name == BOARD and path.is_dir():
                shutil.rmtree(path)
            elif path.is_dir():
                path.rmdir()
            else:
                path.unlink()


def remove_empty(made: list[Path]) -> None:
    """The folders in ``made``, deepest first, each only when nothing is left in it."""
    for path in reversed(made):
        with contextlib.suppress(OSError):
            path.rmdir()


def reopen(run_dir: Path, lock: RunLock, echo: Any = None, keep: int = 1) -> None:
    """A resumed run's folder: locked, and a save killed half-way tidied (its newest whole
    checkpoint goes in place; under ``--keep`` the one it replaced is kept)."""
    lock.acquire()
    ckpt.tidy(run_dir, echo=echo, keep=keep)


def run_config(cfg: TrainConfig, data: Any, num_classes: int, ctx: Any, registry: Registry) -> dict[str, Any]:
    """config.json: the resolved config, then what the data set turned out to be, the
    machine it started on and the versions of every plugin."""
    meta = cfg.to_dict()
    meta["data"] = {
        "shape": list(data.shape), "num_classes": data.num_classes, "model_classes": num_classes,
        "kind": data.kind, "size": len(data),
        "modes": data.modes.tolist() if data.modes is not None else None, "sigma": data.sigma,
        "class_names": getattr(data, "class_names", None),
    }
    if getattr(data, "translation", False):
        meta["data"].update(source_shape=list(data.source_shape), domains=list(data.domains or ("source", "target")),
                            held_out=data.held_out)
    meta["runtime"] = {
        "device": str(ctx.device), "world_size": ctx.world_size,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version(),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }
    meta["versions"] = {p.name: p.version for p in registry.plugins}
    # which plugin made the weights, so that a run outliving its plugin can say what to install
    meta["model_plugin"] = registry.origin(registry.model(cfg.model))
    return meta


def save_json(path: Path, obj: Any) -> None:
    """Written aside and renamed: a kill never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def recorded_threads(run_dir: Path) -> int | None:
    """The CPU threads the run last trained with, from its config.json (None when unknown)."""
    try:
        return int(json.loads((run_dir / CONFIG).read_text())["runtime"]["threads"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def append_metrics(run_dir: Path, metrics: dict[str, float]) -> None:
    with writing(run_dir / METRICS, _FULL), open(run_dir / METRICS, "a") as fh:
        fh.write(json.dumps(metrics) + "\n")


def truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from, so steps never repeat,
    and a line a kill cut short."""
    path = run_dir / METRICS
    if not path.exists():
        return

    def before(line: str) -> bool:
        try:
            return int(json.loads(line).get("step", 0)) <= step
        except (ValueError, AttributeError, TypeError):
            return False

    kept = [line for line in path.read_text().splitlines() if line.strip() and before(line)]
    with writing(path, "free some disk space"):
        path.write_text("".join(line + "\n" for line in kept))


def sample_path(run_dir: Path, step: int) -> Path:
    return run_dir / SAMPLES / f"step-{step:06d}.png"


@torch.no_grad()
def write_samples(G: nn.Module, z: Tensor, labels: Tensor | None, codes: dict[str, Tensor], data: Any,
                  real_points: Any, path: Path) -> None:
    """G's samples for fixed inputs as a grid (a scatter plot over the real points for 2-D data)."""
    from ganzoo.grid import save_image_grid, save_scatter
    from ganzoo.sampling import row_names

    was_training = G.training
    G.eval()
    out = generate(G, z, labels, codes).float().cpu().numpy()
    G.train(was_training)
    if data.kind == "points":
        modes = data.modes.numpy() if data.modes is not None else None
        save_scatter(out, path, real=real_points, modes=modes, title=path.stem)
    else:
        nrow = int((labels == labels[0]).sum()) if labels is not None and not codes else 8
        rows = row_names(labels.tolist(), nrow, getattr(data, "class_names", None)) \
            if labels is not None and not codes else None
        save_image_grid(out, path, nrow=nrow, row_names=rows)


@torch.no_grad()
def write_translations(G: nn.Module, sources: Tensor, targets: Tensor | None, domains: tuple[str, str],
                       path: Path) -> None:
    """An image-to-image generator's translations of fixed sources as a grid of rows:
    source | translation | target (paired sets), or source | translation, then the target
    domain | its translation back, for a model with two directions (CycleGAN)."""
    from ganzoo.api import direction, directions
    from ganzoo.grid import matched_rows, save_image_grid

    was_training = G.training
    G.eval()
    try:
        names = directions(G)
        out = direction(G, names[0] if names else None)(sources).float().cpu().numpy()
        rows = [sources.float().cpu().numpy(), out]
        labels = [domains[0], f"-> {domains[1]}"]
        if targets is not None and len(names) > 1:
            back = direction(G, names[1])(targets).float().cpu().numpy()
            rows += [targets.float().cpu().numpy(), back]
            labels += [domains[1], f"-> {domains[0]}"]
        elif targets is not None:
            rows.append(targets.float().cpu().numpy())
            labels.append(domains[1])
    finally:
        G.train(was_training)
    save_image_grid(matched_rows(rows), path, nrow=len(sources), row_names=labels)


def sample_translations(G: Any, meta: dict[str, Any], n: int, seed: int, output: str | Path) -> int:
    """Rows of ``n`` held-out sources of an image-to-image run's data set (drawn by ``seed``),
    their translations and their targets (:func:`ganzoo.engine.rundir.write_translations`);
    returns how many. A set without held-out samples lends its first ones, with a note."""
    import sys

    import numpy as np

    from ganzoo.data import to_float
    from ganzoo.engine.train import load_data
    from ganzoo.registry import get_registry

    data = load_data(TrainConfig.from_dict(meta), get_registry())
    held = int(getattr(data, "held_out", 0))
    if not held:
        print(f"note: data set '{meta.get('dataset')}' holds out no pairs; showing training sources", file=sys.stderr)
    # each side from its own block: two unpaired domains may hold different counts
    first_x, first_s = (len(data) - held, len(data.source) - held) if held else (0, 0)
    count = min(n, held or min(len(data), len(data.source)))
    pick = torch.from_numpy(np.sort(np.random.default_rng(seed).choice(held or count, count, replace=False)))
    sources = to_float(data.source[first_s + pick])
    targets = to_float(data.x[first_x + pick])
    domains = tuple(meta["data"].get("domains") or ("source", "target"))
    write_translations(G, sources, targets, (str(domains[0]), str(domains[1])), Path(output))
    return count


def plot_losses(run_dir: Path) -> None:
    """losses.png: D's terms above, G's below, each term its own curve (from two logged rows on)."""
    with writing(run_dir / LOSSES, _FULL):
        _plot_losses(run_dir)


def _plot_losses(run_dir: Path) -> None:
    rows = [json.loads(line) for line in (run_dir / METRICS).read_text().splitlines() if line.strip()]
    if len(rows) < 2:  # one point draws no curve; nor is matplotlib worth its import then
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(6.4, 5.2), dpi=100, sharex=True)
    for ax, side, total_key in zip(axes, ("d", "g"), ("d_loss", "g_loss")):
        keys = list(dict.fromkeys(k for r in rows for k in r if k.startswith(side + "/")))
        if len(keys) > 1:
            keys.insert(0, total_key)
        for key in keys or [total_key]:
            points = [(r["step"], r[key]) for r in rows if key in r]
            ax.plot([p[0] for p in points], [p[1] for p in points], label=key,
                    linewidth=2 if key == total_key else 1.2)
        ax.set_ylabel("D" if side == "d" else "G")
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(run_dir / LOSSES)
    plt.close(fig)


def open_board(run_dir: Path, start: int) -> Any:
    """A TensorBoard writer on RUN/tensorboard; a resumed run drops what was logged after ``start``."""
    from torch.utils.tensorboard import SummaryWriter

    with writing(run_dir / BOARD, _FULL):
        return SummaryWriter(str(run_dir / BOARD), purge_step=start + 1 if start else None)
