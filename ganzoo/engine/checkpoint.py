"""Crash-safe checkpoints: safetensors weights plus a weights-only ``state.pt``.

A checkpoint is written into a fresh folder beside the old one and renamed into
place, so a crash mid-write leaves the previous checkpoint whole. Loading never
unpickles code: weights are safetensors and ``state.pt`` is read with
``weights_only=True``.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ganzoo.errors import GanzooError

CHECKPOINT = "checkpoint"
GENERATOR = "generator.safetensors"
GENERATOR_EMA = "generator_ema.safetensors"
DISCRIMINATOR = "discriminator.safetensors"
STATE = "state.pt"


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def save_checkpoint(run_dir: Path, modules: dict[str, nn.Module], state: dict[str, Any]) -> Path:
    """Write ``modules`` (file name → module) and ``state`` atomically into run_dir/checkpoint."""
    final = run_dir / CHECKPOINT
    tmp = run_dir / f".{CHECKPOINT}-{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir(parents=True)
    try:
        for filename, module in modules.items():
            save_file(_tensors(module), str(tmp / filename))
        torch.save(state, tmp / STATE)
        old = run_dir / f".{CHECKPOINT}.old"
        if old.exists():
            shutil.rmtree(old)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def checkpoint_dir(run_dir: Path) -> Path:
    """The newest complete checkpoint; falls back to the previous one if a crash hit the rename."""
    run_dir = Path(run_dir)
    for candidate in (run_dir / CHECKPOINT, run_dir / f".{CHECKPOINT}.old"):
        if (candidate / GENERATOR).is_file() and (candidate / STATE).is_file():
            return candidate
    if not run_dir.exists():
        raise GanzooError(f"run directory '{run_dir}' does not exist")
    raise GanzooError(
        f"run directory '{run_dir}' has no checkpoint yet; train it first (ganzoo train ... --out {run_dir})")


def load_weights(path: Path, module: nn.Module) -> None:
    """Load safetensors weights into ``module`` with a one-line error when they do not fit."""
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


def load_state(ckpt: Path) -> dict[str, Any]:
    try:
        return torch.load(ckpt / STATE, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise GanzooError(
            f"corrupt checkpoint state '{ckpt / STATE}': {type(exc).__name__}; restore it or train again") from None
