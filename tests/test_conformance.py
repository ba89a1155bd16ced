"""The conformance kit (ganzoo.testing): ganzoo's own entries pass it, and a broken
plugin fails it with a message that names the problem and the fix.

The built-in models are checked on the 8x8 digits (and vanilla also on ring8 points)
so the whole set stays at a few seconds per model on a 2-core CPU; every model's
default data set has the same kind of shape, and tests/test_train.py trains on them.
"""

from __future__ import annotations

import math
import sys
import types

import pytest
import torch
from PIL import Image
from torch import nn

from ganzoo import DatasetSpec, GanzooError, LossSpec, ModelSpec, hookimpl
from ganzoo.data import Data
from ganzoo.registry import BUILTIN_PLUGIN, Registry, get_registry
from ganzoo.testing import (
    Check,
    ConformanceError,
    check_dataset,
    check_model,
    checks,
    dataset_checks,
    loss_checks,
    model_checks,
    parametrize_with_checks,
    plugin_checks,
    regularizer_checks,
)

_REG = get_registry()
BUILTIN_MODELS = [s.name for s in _REG.list("model") if s.plugin == BUILTIN_PLUGIN and s.task == "generate"]
#: Image-to-image models, on their own (paired or unpaired) default data sets at tiny widths.
TRANSLATION_MODELS = {"pix2pix": {"width": 8}, "srgan": {"width": 8, "blocks": 1},
                      "cyclegan": {"width": 8, "blocks": 1}}
BUILTIN_LOSSES = [s.name for s in _REG.list("loss") if s.plugin == BUILTIN_PLUGIN]
BUILTIN_REGULARIZERS = [s.name for s in _REG.list("regularizer") if s.plugin == BUILTIN_PLUGIN]
#: Data sets that load offline (torchvision's need --download; folder needs a PATH, tested below).
NEEDS_NETWORK = {"mnist", "fashion-mnist", "cifar10"}
OFFLINE_DATASETS = [s.name for s in _REG.list("dataset")
                    if s.plugin == BUILTIN_PLUGIN and s.name not in NEEDS_NETWORK and not s.takes_argument]


# -- ganzoo's own entries ---------------------------------------------------------------------------
@parametrize_with_checks(models=BUILTIN_MODELS, dataset="digits")
def test_builtin_models(check):
    check()


@pytest.mark.parametrize("check", model_checks("vanilla", dataset="ring8"), ids=lambda c: c.id)
def test_builtin_model_on_points(check):
    check()


@pytest.mark.parametrize("check", [c for name, options in TRANSLATION_MODELS.items()
                                   for c in model_checks(name, batch_size=4, options=options)], ids=lambda c: c.id)
def test_builtin_translation_models(check):
    check()


#: Regularizers that need a particular generator and that no model's defaults use (the kit would try
#: them on vanilla): path length needs StyleGAN2's mapping and synthesis networks; the image-to-image
#: terms need their models' networks and data.
NEEDS_MODEL = {"pl": "stylegan2", "l1": "pix2pix", "perceptual": "srgan", "cycle": "cyclegan"}


@parametrize_with_checks(losses=BUILTIN_LOSSES, regularizers=[r for r in BUILTIN_REGULARIZERS if r not in NEEDS_MODEL],
                         datasets=OFFLINE_DATASETS)
def test_builtin_losses_regularizers_datasets(check):
    check()


@pytest.mark.parametrize("check", [c for name, model in NEEDS_MODEL.items() for c in regularizer_checks(
                                       name, model=model, dataset=None if model in TRANSLATION_MODELS else "digits")],
                         ids=lambda c: c.id)
def test_builtin_regularizers_that_need_their_model(check):
    check()


@pytest.mark.parametrize("check", plugin_checks(BUILTIN_PLUGIN), ids=lambda c: c.id)
def test_builtin_plugin(check):
    check()


def test_folder_dataset_with_an_argument(tmp_path):
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("L", (12, 12), color=40 * i).save(tmp_path / cls / f"{i}.png")
    check_dataset("folder", arg=str(tmp_path))


def test_ids_are_one_per_entry_and_check():
    found = checks(models=["vanilla"], losses=["hinge"], dataset=("ring8", "digits"))
    ids = [c.id for c in found]
    assert ids[:6] == [f"model:vanilla@ring8:{name}" for name in
                       ("spec", "generator", "discriminator", "training", "save-load", "onnx")]
    assert "model:vanilla@digits:onnx" in ids and ids[-3:] == [
        "loss:hinge:spec", "loss:hinge:contract", "loss:hinge:training"]
    assert len(set(ids)) == len(ids)
    mark = parametrize_with_checks(models=["vanilla"])
    assert mark.name == "parametrize" and mark.args[0] == "check" and len(mark.args[1]) == 6


def test_a_plugin_expands_to_everything_it_registers():
    ids = [c.id for c in checks(BUILTIN_PLUGIN, dataset="digits")]
    assert ids[:2] == ["plugin:ganzoo:loaded", "plugin:ganzoo:torch-free"]
    assert {f"model:{m}@digits:onnx" for m in BUILTIN_MODELS} <= set(ids)
    assert "loss:hinge:contract" in ids and "regularizer:gp:contract" in ids and "dataset:ring8:load" in ids
    assert not any(i.startswith("dataset:folder") for i in ids)  # needs an argument: checked on its own


# -- a plugin with every mistake the kit knows ---------------------------------------------------------
class FlawedGenerator(nn.Module):
    """A contract-abiding tiny generator, unless ``flaw`` names one mistake to make."""

    def __init__(self, shape, num_classes=0, latent_dim=4, flaw="none"):
        super().__init__()
        self.latent_dim, self.num_classes, self.output_shape = latent_dim, num_classes, tuple(shape)
        if flaw == "no-shape":
            del self.output_shape
        self.flaw = flaw
        self.embed = nn.Embedding(num_classes, 4) if num_classes else None
        self.net = nn.Sequential(nn.Linear(latent_dim + (4 if num_classes else 0), 16), nn.BatchNorm1d(16), nn.ReLU(),
                                 nn.Linear(16, math.prod(shape)))
        self.offset = torch.randn(1)  # a plain attribute: only used by the "state" flaw

    def forward(self, z, labels=None):
        if self.embed is not None:
            emb = self.embed(labels)
            z = torch.cat([z, torch.zeros_like(emb) if self.flaw == "ignore-labels" else emb], dim=1)
        out = self.net(z).view(z.shape[0], *self.output_shape)
        if self.flaw == "noise":
            out = out + 0.01 * torch.randn_like(out)
        if self.flaw == "state":
            out = out + self.offset
        if len(self.output_shape) == 3:
            out = out * 5 if self.flaw == "range" else torch.tanh(out)
        return out


class FlawedDiscriminator(nn.Module):
    def __init__(self, shape, num_classes=0, latent_dim=4, flaw="none"):
        super().__init__()
        self.flaw = flaw
        self.net = nn.Sequential(nn.Linear(math.prod(shape), 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x, labels=None):
        if self.flaw == "even" and x.shape[0] % 2:
            raise GanzooError(f"batch must be a multiple of 2 (got {x.shape[0]}); use --batch-size {x.shape[0] - 1}")
        if self.flaw == "detach":
            x = x.detach()
        out = self.net(x.flatten(1))
        return out if self.flaw == "column" else out.squeeze(1)


class BackwardsLoss:
    """D rewarded for calling fakes real: the sign mistake."""

    def d_loss(self, real, fake):
        return torch.nn.functional.softplus(real).mean() + torch.nn.functional.softplus(-fake).mean()

    def g_loss(self, fake):
        return torch.nn.functional.softplus(-fake).mean()


def tiny_images(arg=None, data_dir=None, download=False, seed=0, image_size=None):
    gen = torch.Generator().manual_seed(seed)
    return Data("tiny", torch.rand(48, 1, 8, 8, generator=gen) * 2 - 1, torch.arange(48) % 4, num_classes=4)


def shaky(arg=None, data_dir=None, download=False, seed=0, image_size=None):
    return Data("shaky", torch.randn(32, 2), kind="points")  # ignores the seed


def flawed_registry(flaw: str, conditional: bool = False, options: dict | None = None) -> Registry:
    module = types.ModuleType("flawed")

    def models(register):
        register(ModelSpec(name="flawed", summary="A model with one mistake", paper="Nobody 2026",
                           generator=FlawedGenerator, discriminator=FlawedDiscriminator, dataset="tiny",
                           conditional=conditional, options=options or {"flaw": flaw}))

    def losses(register):
        register(LossSpec(name="backwards", summary="Signs the wrong way round", target=BackwardsLoss))

    def datasets(register):
        register(DatasetSpec(name="tiny", summary="48 random 8x8 images", source="synthetic", target=tiny_images,
                             shape=(1, 8, 8), num_classes=4))
        register(DatasetSpec(name="shaky", summary="Different on every load", source="synthetic", target=shaky,
                             shape=(2,), num_classes=0))

    module.ganzoo_register_models = hookimpl(models)
    module.ganzoo_register_losses = hookimpl(losses)
    module.ganzoo_register_datasets = hookimpl(datasets)
    registry = Registry(load_entry_points=False)
    registry.add_plugin(module, "flawed", version="1.0")
    return registry


def run_check(registry: Registry, name: str, **kwargs) -> None:
    (check,) = [c for c in model_checks("flawed", registry, **kwargs) if c.name == name]
    check()


def test_a_sound_model_passes_every_check():
    check_model("flawed", flawed_registry("none"))
    check_model("flawed", flawed_registry("none", conditional=True))


@pytest.mark.parametrize("flaw, check, message", [
    ("noise", "generator", r"draws random numbers in eval mode .* -- fix: take all noise from the input z"),
    ("range", "generator", r"images range over .* -- fix: images live in \[-1, 1\]: end the generator with torch.tanh"),
    ("no-shape", "generator", r"has no attribute 'output_shape' -- fix: set self.latent_dim, self.num_classes"),
    ("column", "discriminator", r"returned shape \[12, 1\], expected \[12\] -- fix: return \[N\] logits"),
    ("detach", "discriminator", r"no finite, non-zero gradient reaches the input x -- fix: .*do not detach x"),
    ("state", "save-load", r"computes something else after a safetensors round trip -- fix: .*register_buffer"),
], ids=["noise", "range", "no-shape", "column", "detach", "state"])
def test_each_mistake_fails_with_its_fix(flaw, check, message):
    with pytest.raises(ConformanceError, match=r"^model 'flawed' \[" + check + r"\]: .*" + message):
        run_check(flawed_registry(flaw), check)


def test_conditional_generator_that_ignores_labels():
    with pytest.raises(ConformanceError, match=r"changing the labels does not change the output -- fix: feed the"):
        run_check(flawed_registry("ignore-labels", conditional=True), "generator")


def test_spec_mistakes():
    with pytest.raises(ConformanceError, match=r"\[spec\]: option 'flaw' = .* is not JSON"):
        run_check(flawed_registry("none", options={"flaw": object()}), "spec")
    with pytest.raises(ConformanceError, match=r"model 'nothing' \[spec\]: unknown model 'nothing'"):
        model_checks("nothing", flawed_registry("none"))[0]()


def test_factory_that_rejects_an_option():
    with pytest.raises(ConformanceError, match=r"factory failed as factory\(shape=\(1, 8, 8\).*accept them all"):
        run_check(flawed_registry("none", options={"flaw": "none", "width": 3}), "generator")


def test_training_and_onnx_failures_are_reported():
    with pytest.raises(ConformanceError, match=r"\[onnx\]: verified export failed: .*not deterministic.* -- fix:"):
        run_check(flawed_registry("noise"), "onnx")
    with pytest.raises(ConformanceError, match=r"\[training\]: the shared training loop stopped: .*multiple of 2"):
        run_check(flawed_registry("even"), "training", batch_size=7)


def test_loss_and_dataset_mistakes():
    registry = flawed_registry("none")
    spec, contract, _ = loss_checks("backwards", registry)
    spec()
    with pytest.raises(ConformanceError, match=r"d_loss is .* when D is right .* -- fix: higher logits mean 'more"):
        contract()
    checks_ = {c.name: c for c in dataset_checks("shaky", registry)}
    checks_["load"]()
    with pytest.raises(ConformanceError, match=r"two loads with seed=0 differ -- fix: .*torch.Generator\(\)"):
        checks_["deterministic"]()
    with pytest.raises(ConformanceError, match=r"dataset 'folder' \[spec\]: .*needs an argument.* -- fix: pass arg="):
        check_dataset("folder", registry)


def test_check_functions_list_every_failure():
    with pytest.raises(ConformanceError) as info:
        check_model("flawed", flawed_registry("noise"))
    lines = str(info.value).splitlines()
    assert lines[0] == "3 of 6 checks failed:" and len(lines) == 4
    assert [line.split("]")[0].split("[")[1] for line in lines[1:]] == ["generator", "save-load", "onnx"]


def test_plugin_checks(tmp_path, monkeypatch):
    heavy = tmp_path / "heavy_plugin.py"
    heavy.write_text("import torch\nfrom ganzoo import hookimpl, LossSpec\n\n"
                     "@hookimpl\ndef ganzoo_register_losses(register):\n"
                     "    register(LossSpec(name='heavy', summary='x', target='ganzoo.objectives.losses:Hinge'))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import heavy_plugin

    registry = Registry(load_entry_points=False)
    registry.add_plugin(heavy_plugin, "heavy", version="0.1")
    loaded, torch_free, unique_names = plugin_checks("heavy", registry)
    loaded()
    unique_names()
    with pytest.raises(ConformanceError, match=r"plugin 'heavy' \[torch-free\]: importing it .* imports torch -- fix: "
                                               r"keep hook modules to hooks and strings"):
        torch_free()
    with pytest.raises(ConformanceError, match=r"no plugin of that name is registered -- fix: pip install -e \."):
        plugin_checks("absent", registry)[0]()
    sys.modules.pop("heavy_plugin", None)


def test_check_is_a_plain_callable():
    calls = []
    check = Check("model", "x", "spec", lambda: calls.append(1), "digits")
    check()
    assert calls == [1] and check.id == "model:x@digits:spec" and "run" not in repr(check)
