"""Turn a spec and a configuration into modules, and a run directory back into a generator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine.config import TrainConfig, parse_reg
from ganzoo.errors import GanzooError
from ganzoo.registry import Registry, get_registry
from ganzoo.specs import resolve


def _factory(target: Any, what: str, model: str):
    try:
        return resolve(target)
    except (ImportError, AttributeError, ValueError) as exc:
        raise GanzooError(f"model '{model}': cannot import its {what} '{target}': {exc}") from None


def build_generator(cfg: TrainConfig, shape: tuple[int, ...], num_classes: int,
                    registry: Registry | None = None) -> nn.Module:
    spec = (registry or get_registry()).model(cfg.model)
    factory = _factory(spec.generator, "generator", cfg.model)
    G = factory(shape=tuple(shape), num_classes=num_classes, latent_dim=cfg.latent_dim, **cfg.options)
    _check_generator(G, cfg, shape, num_classes)
    return G


def build_discriminator(cfg: TrainConfig, shape: tuple[int, ...], num_classes: int,
                        registry: Registry | None = None) -> nn.Module:
    if cfg.discriminator:
        from ganzoo.models.timm_d import build_timm_discriminator

        return build_timm_discriminator(cfg.discriminator, shape, num_classes)
    spec = (registry or get_registry()).model(cfg.model)
    factory = _factory(spec.discriminator, "discriminator", cfg.model)
    return factory(shape=tuple(shape), num_classes=num_classes, latent_dim=cfg.latent_dim, **cfg.options)


def _check_generator(G: nn.Module, cfg: TrainConfig, shape, num_classes: int) -> None:
    for attr in ("latent_dim", "num_classes", "output_shape"):
        if not hasattr(G, attr):
            raise GanzooError(f"model '{cfg.model}': its generator lacks the attribute '{attr}' (DESIGN.md §3)")
    if tuple(G.output_shape) != tuple(shape):
        raise GanzooError(f"model '{cfg.model}': generator output_shape {tuple(G.output_shape)} != data shape {tuple(shape)}")


def build_loss(cfg: TrainConfig, registry: Registry | None = None):
    spec = (registry or get_registry()).loss(cfg.loss)
    return resolve(spec.target)()


def build_regularizers(cfg: TrainConfig, registry: Registry | None = None) -> list:
    out = []
    for item in cfg.reg:
        spec, weight = parse_reg(item, registry)
        out.append(resolve(spec.target)(weight))
    return out


def read_run_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.json"
    if not Path(run_dir).is_dir():
        raise GanzooError(f"run directory '{run_dir}' does not exist")
    if not path.is_file():
        raise GanzooError(f"'{run_dir}' is not a ganzoo run directory (no config.json)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise GanzooError(f"corrupt '{path}': {exc}") from None


def load_generator(run_dir: str | Path, weights: str | None = None) -> tuple[nn.Module, dict[str, Any], str]:
    """The trained generator of a run, in eval mode on the CPU.

    ``weights`` is "ema" or "raw"; None picks EMA weights when the run has them.
    Returns (generator, config.json contents, the weights actually used)."""
    run_dir = Path(run_dir)
    meta = read_run_config(run_dir)
    where = ckpt.checkpoint_dir(run_dir)
    has_ema = (where / ckpt.GENERATOR_EMA).is_file()
    if weights is None:
        weights = "ema" if has_ema else "raw"
    if weights == "ema" and not has_ema:
        raise GanzooError(f"run '{run_dir}' has no EMA weights (trained without --ema); use --weights raw")
    if weights not in ("ema", "raw"):
        raise GanzooError(f"--weights must be 'ema' or 'raw', got '{weights}'")
    cfg = TrainConfig.from_dict(meta)
    data = meta["data"]
    G = build_generator(cfg, tuple(data["shape"]), int(data["model_classes"]))
    ckpt.load_weights(where / (ckpt.GENERATOR_EMA if weights == "ema" else ckpt.GENERATOR), G)
    return G.eval().requires_grad_(False), meta, weights


@torch.no_grad()
def fixed_labels(num_classes: int, per_class: int, device: torch.device) -> torch.Tensor:
    """Labels for a conditional grid: one row per class."""
    return torch.arange(num_classes, device=device).repeat_interleave(per_class)
