"""Defaults per kind of data, and an EMA generator whose BatchNorm statistics fit its weights."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import invoke
from torch import nn

from ganzoo import ModelSpec, hookimpl
from ganzoo.engine.config import resolve
from ganzoo.engine.ema import make_ema, recalibrate_batchnorm
from ganzoo.registry import Registry, get_registry
from ganzoo.specs import Defaults


# -- defaults per kind of data ------------------------------------------------------------------
def _registry_with_point_defaults():
    import types

    module = types.ModuleType("kinds_plugin")

    @hookimpl
    def ganzoo_register_models(register):
        register(ModelSpec(name="kinds", summary="s", paper="p", generator="ganzoo.models.vanilla:Generator",
                           discriminator="ganzoo.models.vanilla:Discriminator", dataset="digits",
                           defaults=Defaults(latent_dim=64, steps=300, batch_size=32),
                           point_defaults=Defaults(latent_dim=2, steps=5000, batch_size=100, lr_g=1e-4)))

    module.ganzoo_register_models = ganzoo_register_models
    registry = Registry(load_entry_points=False)
    registry.add_plugin(module, "kinds", version="1.0")
    return registry


def test_point_data_sets_get_the_point_defaults():
    registry = _registry_with_point_defaults()
    images = resolve("kinds", registry)
    points = resolve("kinds", registry, dataset="grid25")
    assert (images.latent_dim, images.steps, images.batch_size) == (64, 300, 32)
    assert (points.latent_dim, points.steps, points.batch_size, points.lr_g) == (2, 5000, 100, 1e-4)
    assert resolve("kinds", registry, dataset="ring8", latent_dim=5).latent_dim == 5  # options still win


def test_a_model_without_point_defaults_uses_its_defaults_everywhere():
    spec = next(m for m in get_registry().list("model") if m.point_defaults is None and m.takes("points"))
    assert spec.point_defaults is None and spec.defaults_for("points") is spec.defaults


def test_list_json_and_train_help_show_resolved_defaults():
    code, out = invoke("list", "models", "vanilla", "--json")
    row = json.loads(out)[0]
    spec = get_registry().model("vanilla")
    assert row["defaults"]["images"]["steps"] == spec.defaults.steps
    assert row["defaults"]["points"]["latent_dim"] == spec.defaults_for("points").latent_dim
    code, out = invoke("train", "vanilla", "--help")
    assert code == 0 and "Defaults of 'vanilla'" in out and f"--steps {spec.defaults.steps}" in out


def test_dataset_kind_comes_from_its_shape():
    registry = get_registry()
    assert registry.dataset("grid25")[0].kind == "points"
    assert registry.dataset("mnist5k")[0].kind == "images"


# -- EMA ------------------------------------------------------------------------------------------
class _OneNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.latent_dim, self.num_classes, self.output_shape = 3, 0, (4,)
        self.linear = nn.Linear(3, 4)
        self.norm = nn.BatchNorm1d(4)

    def forward(self, z, labels=None):
        return self.norm(self.linear(z))


def test_recalibration_measures_the_exact_statistics_and_is_deterministic():
    torch.manual_seed(0)
    G = _OneNorm()
    G.norm.running_mean.fill_(5.0)  # averaged statistics that fit nothing
    recalibrate_batchnorm(G, batch_size=8, seed=3, batches=4)
    gen = torch.Generator().manual_seed(3)
    zs = [torch.randn(8, 3, generator=gen) for _ in range(4)]
    with torch.no_grad():
        acts = [G.linear(z) for z in zs]
    assert torch.allclose(G.norm.running_mean, torch.stack([a.mean(0) for a in acts]).mean(0), atol=1e-6)
    assert torch.allclose(G.norm.running_var, torch.stack([a.var(0) for a in acts]).mean(0), atol=1e-6)
    assert not G.training and G.norm.momentum == 0.1
    first = G.norm.running_mean.clone()
    recalibrate_batchnorm(G, batch_size=8, seed=3, batches=4)
    assert torch.equal(first, G.norm.running_mean)


def test_ema_decay_warms_up():
    ema = make_ema(_OneNorm(), 0.999, torch.device("cpu"))
    assert ema.decay_at(1) == 0.0 and ema.decay_at(10) < 0.9 and ema.decay_at(100_000) == pytest.approx(0.999)


def test_ema_follows_reassigned_buffers_and_parameter_data():
    """A generator may replace a buffer (``self.w_avg = ...``) or its weights' tensors
    (``G.to(...)``): the average follows the current ones, not those of its first update."""
    from ganzoo.engine.ema import update_ema

    G = nn.Linear(2, 2)
    G.register_buffer("centre", torch.zeros(2))
    ema = make_ema(G, 0.5, torch.device("cpu"))
    update_ema(ema, G, 1)
    G.centre = torch.full((2,), 3.0)  # a new tensor in the module's buffers
    G.weight.data = torch.ones(2, 2)  # a new tensor behind the same Parameter
    update_ema(ema, G, 1)  # step 1: decay 0, the average becomes G
    assert torch.equal(ema.module.centre, G.centre) and torch.equal(ema.module.weight, G.weight)


def _median_distance(G, meta):
    from ganzoo.metrics.mixtures import nearest_modes

    z = torch.from_numpy(np.random.default_rng(0).standard_normal((2500, G.latent_dim), dtype=np.float32))
    with torch.no_grad():
        x = G(z).numpy()
    return float(np.median(nearest_modes(x, np.asarray(meta["data"]["modes"]))[1]) / meta["data"]["sigma"])


def _tiny_ring8(tmp_path, monkeypatch, name, warmup=True, recalibrate=True):
    """800 steps of vanilla on ring8 with a 2-d latent; returns the EMA generator and the run's config."""
    import ganzoo.engine.train as train_module
    from ganzoo.engine.build import load_generator
    from ganzoo.engine.train import train

    if not warmup:  # the EMA as it was: a constant decay of 0.999 from the first step
        from ganzoo.engine.ema import EMA

        class ConstantEMA(EMA):
            def decay_at(self, step: int) -> float:
                return self.decay

        monkeypatch.setattr(train_module, "make_ema", lambda G, decay, device: ConstantEMA(G, decay, device))
    if not recalibrate:
        monkeypatch.setattr(train_module, "recalibrate_batchnorm", lambda *a, **k: None)
    cfg = resolve("vanilla", get_registry(), dataset="ring8", steps=800, out=str(tmp_path / name), latent_dim=2,
                  batch_size=100, ema=True, reg=[], lr_decay=0.0, log_every=400, sample_every=10_000,
                  ckpt_every=800, device="cpu")  # the EMA alone, whatever else the 2-D defaults add
    train(cfg, quiet=True, echo=lambda message: None)
    monkeypatch.undo()
    G, meta, _ = load_generator(tmp_path / name, "ema")
    return G, meta, cfg


def test_ema_warm_up_and_recalibration_each_bring_samples_closer_to_the_modes(tmp_path, monkeypatch):
    """The measured failure: after 800 steps a constant-decay EMA still averages the initial
    weights, and its averaged BatchNorm statistics fit none of them."""
    G, meta, cfg = _tiny_ring8(tmp_path, monkeypatch, "old", warmup=False, recalibrate=False)
    averaged = _median_distance(G, meta)
    recalibrate_batchnorm(G, cfg.batch_size, cfg.seed)
    recalibrated = _median_distance(G, meta)
    G, meta, _ = _tiny_ring8(tmp_path, monkeypatch, "new")
    warmed = _median_distance(G, meta)
    assert recalibrated < 0.9 * averaged  # recalibration alone
    assert warmed < 0.5 * recalibrated  # and with the warm-up (what the loop does now)


def test_saved_ema_weights_carry_recalibrated_statistics(tmp_path):
    from ganzoo.engine.build import load_generator
    from ganzoo.engine.train import train

    cfg = resolve("vanilla", get_registry(), dataset="ring8", steps=20, out=str(tmp_path / "run"), ema=True,
                  batch_size=16, log_every=10, ckpt_every=20, device="cpu")
    train(cfg, quiet=True, echo=lambda message: None)
    G, _, used = load_generator(tmp_path / "run")
    assert used == "ema"
    saved = {k: v.clone() for k, v in G.state_dict().items() if "running" in k}
    recalibrate_batchnorm(G, cfg.batch_size, cfg.seed)
    assert saved and all(torch.equal(v, G.state_dict()[k]) for k, v in saved.items())


def test_defaults_dataclass_is_json_ready():
    assert json.dumps(dataclasses.asdict(Defaults()))
