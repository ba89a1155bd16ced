"""What a plugin author meets beyond the contract: a clash between objectives says where
each term came from and leaves no run folder, a run outliving its plugin says what to
install, a model can say which kinds of data it takes, ``list datasets`` names plugins,
and the conformance kit lets an objective choose the model it is checked with."""

from __future__ import annotations

import json
import types

import pytest
import torch
from conftest import assert_one_line_error, invoke, train_tiny

import ganzoo
import ganzoo.registry as registry_module
from ganzoo import LossSpec, ModelSpec, hookimpl
from ganzoo.api import Objective
from ganzoo.errors import GanzooError
from ganzoo.registry import Registry
from ganzoo.testing import checks


class R1Loss(Objective):
    """A non-saturating loss that also reports a term named 'r1', as vanilla's default
    regularizer on points does."""

    def d_terms(self, step):
        real, fake = step.d_real.logits, step.d_fake.logits
        adv = torch.nn.functional.softplus(-real).mean() + torch.nn.functional.softplus(fake).mean()
        return {"adv": adv, "r1": real.pow(2).mean()}

    def g_terms(self, step):
        return {"adv": torch.nn.functional.softplus(-step.d_fake.logits).mean()}


def _plugin(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(module, hook, hookimpl(fn))
    return module


@pytest.fixture
def installed(monkeypatch):
    """The built-ins plus one in-memory plugin, as the process-wide registry."""

    def install(module: types.ModuleType, name: str, version: str = "1.0") -> Registry:
        registry = Registry(load_entry_points=False)
        registry.add_plugin(module, name, version=version)
        assert not registry.failures, registry.failures
        monkeypatch.setattr(registry_module, "_REGISTRY", registry)
        return registry

    return install


# -- objective clashes ------------------------------------------------------------------------------------
def test_a_clash_names_both_sources_suggests_reg_none_and_leaves_no_folder(installed, tmp_path):
    installed(_plugin("mine", ganzoo_register_losses=lambda register: register(
        LossSpec(name="r1-loss", summary="adv plus a term named r1", target=R1Loss))), "mine")
    out = tmp_path / "run"
    args = ["train", "vanilla", "--dataset", "ring8", "--loss", "r1-loss", "--steps", "2", "--batch-size", "8",
            "--device", "cpu", "-q", "--out", str(out)]
    assert_one_line_error(args, "both add a term 'r1' to D's loss")
    _, output = invoke(*args)
    assert "(--loss)" in output and "the defaults of model 'vanilla' for 2-D points" in output, output
    assert "--reg none" in output, output
    assert not out.exists(), "a run refused at its first step left its folder"
    code, output = invoke(*args, "--reg", "none")  # the fix the message gives works
    assert code == 0, output
    assert (out / "checkpoint").is_dir()


def test_a_clash_in_an_existing_folder_leaves_what_was_there(installed, tmp_path):
    installed(_plugin("mine", ganzoo_register_losses=lambda register: register(
        LossSpec(name="r1-loss", summary="adv plus a term named r1", target=R1Loss))), "mine")
    out = tmp_path / "kept"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    code, _ = invoke("train", "vanilla", "--dataset", "ring8", "--loss", "r1-loss", "--steps", "2",
                     "--batch-size", "8", "--device", "cpu", "-q", "--out", str(out))
    assert code == 2
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


# -- a run whose plugin is gone ---------------------------------------------------------------------------
def _orphan(tmp_path, **recorded):
    """A real run, edited to say a plugin trained it that is not installed here."""
    run = train_tiny("vanilla", tmp_path / "run", dataset="ring8")
    meta = json.loads((run / "config.json").read_text())
    assert meta["model_plugin"]["name"] == "ganzoo"  # every run records its model's plugin
    meta["model"] = "sagan"
    meta["versions"]["sagan"] = "0.2.0"
    meta.pop("model_plugin")
    meta.update(recorded)
    (run / "config.json").write_text(json.dumps(meta))
    return run


@pytest.mark.parametrize("command", ["sample", "export", "eval", "resume"])
def test_a_run_whose_plugin_is_gone_says_what_to_install(tmp_path, command):
    run = _orphan(tmp_path, model_plugin={"name": "sagan", "distribution": "ganzoo-sagan", "version": "0.2.0"})
    args = {"sample": ["sample", run, "-o", tmp_path / "s.png"], "export": ["export", run, "-o", tmp_path / "s.onnx"],
            "eval": ["eval", run], "resume": ["train", "--resume", run, "--steps", "4"]}[command]
    assert_one_line_error(args, f"run '{run}' was trained with model 'sagan' from plugin ganzoo-sagan 0.2.0, "
                                "which is not installed: pip install ganzoo-sagan==0.2.0")


def test_the_python_api_says_the_same(tmp_path):
    run = _orphan(tmp_path, model_plugin={"name": "sagan", "distribution": "ganzoo-sagan", "version": "0.2.0"})
    with pytest.raises(GanzooError, match="pip install ganzoo-sagan==0.2.0"):
        ganzoo.load(run)


def test_an_older_run_names_the_one_plugin_its_versions_list(tmp_path):
    run = _orphan(tmp_path)  # no model_plugin: runs from before it was recorded
    assert_one_line_error(["sample", run, "-o", tmp_path / "s.png"], "config.json lists plugin 'sagan' 0.2.0")


def test_a_switched_off_plugin_is_named_with_the_variable(tmp_path, monkeypatch):
    run = train_tiny("pacgan", tmp_path / "run", dataset="ring8")
    monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", "pacgan")
    monkeypatch.setattr(registry_module, "_REGISTRY", None)
    assert_one_line_error(["sample", run, "-o", tmp_path / "s.png"], "GANZOO_DISABLE_PLUGINS switches off here")


# -- data kinds -------------------------------------------------------------------------------------------
def _images_only(register):
    register(ModelSpec(name="convonly", summary="A model for images only", paper="Nobody 2026",
                       generator="ganzoo.models.dcgan:generator", discriminator="ganzoo.models.dcgan:discriminator",
                       dataset="digits", data_kinds=["images"]))


def test_a_model_for_images_only_refuses_points_before_any_work(installed, tmp_path):
    installed(_plugin("conv", ganzoo_register_models=_images_only), "conv")
    out = tmp_path / "run"
    assert_one_line_error(["train", "convonly", "--dataset", "ring8", "--steps", "1", "--device", "cpu",
                           "--out", str(out)],
                          "model 'convonly' takes images only, and data set 'ring8' holds 2-D points")
    assert not out.exists()
    code, output = invoke("info", "convonly")
    assert code == 0 and "takes: images only" in output, output


def test_data_kinds_must_name_known_kinds():
    with pytest.raises(ValueError, match="data_kinds"):
        ModelSpec(name="odd", summary="s", generator="a.b:c", discriminator="a.b:d", data_kinds=("video",))
    spec = ModelSpec(name="both", summary="s", generator="a.b:c", discriminator="a.b:d")
    assert spec.data_kinds == ("images", "points") and spec.takes("points")


def test_the_kit_skips_the_kind_a_model_leaves_out(installed):
    registry = installed(_plugin("conv", ganzoo_register_models=_images_only), "conv")
    variants = {c.variant for c in checks("conv", dataset=("ring8", "digits"), registry=registry)
                if c.kind == "model"}
    assert variants == {"digits"}, variants


# -- listings and the kit ---------------------------------------------------------------------------------
def test_list_datasets_names_each_plugin():
    code, output = invoke("list", "datasets")
    assert code == 0
    header, *rows = output.strip().splitlines()
    assert header.split()[-1] == "plugin", header
    emoji = next(row for row in rows if row.startswith("emoji "))
    assert emoji.split()[-2:] == ["ganzoo", ganzoo.__version__], emoji


def test_objectives_are_checked_with_the_model_the_author_chooses(installed, tmp_path):
    registry = installed(_plugin("mine", ganzoo_register_losses=lambda register: register(
        LossSpec(name="r1-loss", summary="adv plus a term named r1", target=R1Loss))), "mine")
    training = {c.kind: c for c in checks(losses=["r1-loss"], registry=registry) if c.name == "training"}
    with pytest.raises(Exception, match="--reg none") as failed:  # vanilla on ring8 adds r1:0.1
        training["loss"]()
    assert "objective_model=" in str(failed.value)
    chosen = [c for c in checks(losses=["r1-loss"], registry=registry, objective_model="dcgan",
                                objective_dataset="digits") if c.name == "training"]
    chosen[0]()  # dcgan's defaults add no r1


def test_a_refused_run_removes_exactly_what_it_made(installed, tmp_path):
    """Missing parent folders go too; a TensorBoard folder opened for the run goes; files that
    were in --out before stay, even ones named like a run's."""
    installed(_plugin("mine", ganzoo_register_losses=lambda register: register(
        LossSpec(name="r1-loss", summary="adv plus a term named r1", target=R1Loss))), "mine")
    base = ["train", "vanilla", "--dataset", "ring8", "--loss", "r1-loss", "--steps", "2", "--batch-size", "8",
            "--device", "cpu", "-q"]
    code, _ = invoke(*base, "--out", tmp_path / "a" / "b" / "run")
    assert code == 2 and not (tmp_path / "a").exists()
    pytest.importorskip("tensorboard")
    code, _ = invoke(*base, "--tensorboard", "--out", tmp_path / "board")
    assert code == 2 and not (tmp_path / "board").exists()
    kept = tmp_path / "kept"
    (kept / "samples").mkdir(parents=True)
    (kept / "samples" / "mine.png").write_bytes(b"x")
    code, _ = invoke(*base, "--out", kept)
    assert code == 2 and sorted(p.name for p in kept.iterdir()) == ["samples"]
    assert (kept / "samples" / "mine.png").read_bytes() == b"x"
