"""Checkpoints that survive a kill at any instant: safetensors weights plus a weights-only ``state.pt``.

A save writes a complete checkpoint into ``.checkpoint-ID.tmp``, flushes it to disk and
renames it ``.checkpoint-ID.ready``: from then on it is known to be whole. Only then is
the previous ``checkpoint/`` moved aside and the new one renamed into place, and only
after that is the old one deleted. So at every instant a complete checkpoint is
reachable — ``checkpoint/``, a ``.ready`` one, or ``.checkpoint.old`` — and
:func:`checkpoint_dir` picks the newest of them; :func:`tidy` (run when training
starts) promotes it and deletes the half-written ``.tmp`` folders a kill left behind.
Loading never unpickles code: weights are safetensors and ``state.pt`` is read with
``weights_only=True``.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from ganzoo.errors import GanzooError, io_error

CHECKPOINT = "checkpoint"
OLD = f".{CHECKPOINT}.old"
GENERATOR = "generator.safetensors"
GENERATOR_EMA = "generator_ema.safetensors"
DISCRIMINATOR = "discriminator.safetensors"
STATE = "state.pt"

#: Test hook: ``STAGE[@STEP]`` kills the process (SIGKILL) when a save reaches STAGE (at
#: STEP), the way a power cut or an OOM killer would. Stages, in order: ``writing`` (half
#: the files written), ``ready``, ``old-removed``, ``moved-aside``, ``swapped``.
KILL_ENV = "GANZOO_TEST_KILL_IN_SAVE"


def _kill_point(stage: str, step: int) -> None:
    wanted = os.environ.get(KILL_ENV)
    if not wanted:
        return
    name, _, at = wanted.partition("@")
    if name == stage and (not at or int(at) == step):
        os.kill(os.getpid(), signal.SIGKILL)


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def non_finite(module: nn.Module) -> list[str]:
    """Names of the floating tensors of ``module`` that hold a NaN or an infinity (one host sync)."""
    named = [(k, v) for k, v in module.state_dict().items() if v.is_floating_point() and v.numel()]
    if not named:
        return []
    ok = torch.stack([torch.isfinite(v).all() for _, v in named]).cpu().tolist()
    return [k for (k, _), good in zip(named, ok) if not good]


def _write(path: Path, data: bytes) -> None:
    """Write and flush to disk: a rename after this never exposes a half-written file."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _sync_folder(path: Path) -> None:
    """Make a rename inside ``path`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(run_dir: Path, modules: dict[str, nn.Module], state: dict[str, Any]) -> Path:
    """Write ``modules`` (file name → module) and ``state`` into run_dir/checkpoint so that a
    kill at any instant leaves a complete checkpoint behind (see the module docstring). A
    failed write (disk full, read-only folder) is one line; the previous checkpoint stays."""
    run_dir = Path(run_dir)
    step = int(state.get("step", -1))
    tag = uuid.uuid4().hex[:8]
    tmp, ready = run_dir / f".{CHECKPOINT}-{tag}.tmp", run_dir / f".{CHECKPOINT}-{tag}.ready"
    try:
        tmp.mkdir(parents=True)
        for i, (filename, module) in enumerate(modules.items()):
            _write(tmp / filename, safetensors_bytes(_tensors(module)))
            if i == len(modules) // 2:
                _kill_point("writing", step)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        _write(tmp / STATE, buffer.getvalue())  # last: a folder with state.pt has everything
        tmp.rename(ready)
        _sync_folder(run_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = previous_step(run_dir)
        where = f"the checkpoint of step {kept} is intact" if kept is not None else "no checkpoint was written yet"
        raise GanzooError(f"{io_error(exc, run_dir / CHECKPOINT, action='write the checkpoint')} ({where})") from None
    _kill_point("ready", step)
    try:
        _promote(run_dir, ready, step)
    except OSError as exc:  # the new checkpoint is whole in `ready`; checkpoint_dir() finds it
        raise GanzooError(f"{io_error(exc)} (the checkpoint of step {step} is complete in '{ready}')") from None
    return run_dir / CHECKPOINT


def _promote(run_dir: Path, ready: Path, step: int = -1) -> None:
    """Put the complete checkpoint ``ready`` in place as ``checkpoint/``; at no instant is
    the run left without a complete checkpoint."""
    final, old = run_dir / CHECKPOINT, run_dir / OLD
    if old.exists():  # a complete newer one exists (ready): the older one may go now
        shutil.rmtree(old)
    _kill_point("old-removed", step)
    if final.exists():
        final.rename(old)
    _kill_point("moved-aside", step)
    ready.rename(final)
    _sync_folder(run_dir)
    _kill_point("swapped", step)
    shutil.rmtree(old, ignore_errors=True)


def _complete(folder: Path) -> bool:
    return (folder / GENERATOR).is_file() and (folder / STATE).is_file()


def _candidates(run_dir: Path) -> list[Path]:
    """Complete checkpoints a run folder holds, newest first: an interrupted save's
    ``.ready`` folders are newer than ``checkpoint/``, which is newer than ``.checkpoint.old``."""
    ready = sorted(run_dir.glob(f".{CHECKPOINT}-*.ready"), key=_step_of, reverse=True)
    return [c for c in (*ready, run_dir / CHECKPOINT, run_dir / OLD) if _complete(c)]


def _step_of(folder: Path) -> int:
    try:
        return int(load_state(folder)["step"])
    except (GanzooError, KeyError, TypeError, ValueError):
        return -1


def previous_step(run_dir: Path) -> int | None:
    """The step of the newest complete checkpoint, or None when there is none."""
    found = _candidates(Path(run_dir)) if Path(run_dir).is_dir() else []
    return _step_of(found[0]) if found else None


def has_checkpoint(run_dir: Path) -> bool:
    return bool(_candidates(Path(run_dir))) if Path(run_dir).is_dir() else False


def tidy(run_dir: Path) -> None:
    """Undo what a kill during a save left: the newest complete checkpoint becomes
    ``checkpoint/``; half-written ``.tmp`` folders and older leftovers are deleted.
    Called by the process that holds the run folder's lock, before it trains."""
    run_dir = Path(run_dir)
    for tmp in run_dir.glob(f".{CHECKPOINT}-*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)
    found = _candidates(run_dir)
    if found and found[0].name.endswith(".ready"):
        _promote(run_dir, found[0])
    for leftover in run_dir.glob(f".{CHECKPOINT}-*.ready"):
        shutil.rmtree(leftover, ignore_errors=True)
    if (run_dir / CHECKPOINT).exists():
        shutil.rmtree(run_dir / OLD, ignore_errors=True)


def checkpoint_dir(run_dir: Path) -> Path:
    """The newest complete checkpoint of a run, wherever a killed save left it."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GanzooError(f"run directory '{run_dir}' does not exist")
    found = _candidates(run_dir)
    if found:
        return found[0]
    raise GanzooError(f"run directory '{run_dir}' has no checkpoint yet (training stopped before its first one); "
                      f"continue it with: ganzoo train --resume {run_dir}")


def load_weights(path: Path, module: nn.Module) -> None:
    """Load safetensors weights into ``module`` with a one-line error when they do not fit
    or are not finite (a diverged run's weights would only give NaN pictures)."""
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise GanzooError(f"corrupt weights file '{path}': {exc}; restore it or train again") from None
    try:
        module.load_state_dict(tensors)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise GanzooError(f"weights in '{path}' do not fit the model: {detail}") from None
    bad = non_finite(module)
    if bad:
        raise GanzooError(f"weights in '{path}' are not finite (NaN or inf in {', '.join(bad[:3])}"
                          f"{', ...' if len(bad) > 3 else ''}): the run diverged before this checkpoint was written; "
                          "train again with lower learning rates (--lr-g/--lr-d)")


def load_state(ckpt: Path) -> dict[str, Any]:
    try:
        return torch.load(ckpt / STATE, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise GanzooError(
            f"corrupt checkpoint state '{ckpt / STATE}': {type(exc).__name__}; restore it or train again") from None
