"""Image-to-image models through the shared loop: the source contract, several networks per
side (CycleGAN), the history pool, bit-exact resume, verified ONNX with dynamic height and
width, and one-line refusals for what does not fit."""

import json

import numpy as np
import pytest
import torch
from conftest import assert_one_line_error
from safetensors.torch import load_file

from ganzoo.engine.config import resolve
from ganzoo.engine.train import train
from ganzoo.objectives.pool import ImagePool
from ganzoo.registry import get_registry
from ganzoo.specs import ModelSpec

TINY = {
    "pix2pix": {"options": {"width": 8}},
    "srgan": {"options": {"width": 8, "blocks": 1}},
    "cyclegan": {"options": {"width": 8, "blocks": 1}, "pool": 4},
}


def _cfg(tmp_path, model, name, steps, **kw):
    overrides = {**TINY[model], **kw}
    return resolve(model, get_registry(), steps=steps, batch_size=4, device="cpu", threads=1,
                   out=str(tmp_path / name), log_every=1, sample_every=1000, ckpt_every=2, **overrides)


def _weights(run):
    return {p.name: load_file(str(p)) for p in sorted((run / "checkpoint").glob("*.safetensors"))}


@pytest.mark.parametrize("model", ["pix2pix", "srgan", "cyclegan"])
def test_translation_models_train_and_resume_bit_exactly(tmp_path, model):
    train(_cfg(tmp_path, model, "straight", 4), quiet=True)
    train(_cfg(tmp_path, model, "resumed", 2), quiet=True)
    train(_cfg(tmp_path, model, "resumed", 4), resume=True, quiet=True, echo=lambda line: None)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys() == {"generator.safetensors", "discriminator.safetensors"}
    for name in a:
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), (name, key)
    config = json.loads((tmp_path / "straight" / "config.json").read_text())
    assert config["data"]["source_shape"] and config["data"]["held_out"] > 0 and len(config["data"]["domains"]) == 2
    assert (tmp_path / "straight" / "samples" / "step-000004.png").is_file()


def test_cyclegan_holds_both_generators_and_both_discriminators(tmp_path):
    train(_cfg(tmp_path, "cyclegan", "run", 2), quiet=True)
    g = load_file(str(tmp_path / "run/checkpoint/generator.safetensors"))
    d = load_file(str(tmp_path / "run/checkpoint/discriminator.safetensors"))
    assert any(k.startswith("a2b.") for k in g) and any(k.startswith("b2a.") for k in g)
    assert any(k.startswith("a.") for k in d) and any(k.startswith("b.") for k in d)
    rows = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert {"d/adv", "d/adv_a", "g/adv", "g/adv_a", "g/cycle", "g/identity"} <= rows[-1].keys()
    state = torch.load(tmp_path / "run/checkpoint/state.pt", weights_only=True)
    assert state["pool"]["filled"] == 4 and state["objectives"][1]["pool"]["filled"] == 4


def test_the_pool_fills_then_swaps_half_and_round_trips():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: the new images themselves
    new = torch.arange(100.0, 164.0).view(64, 1, 1, 1)
    out = pool.query(new)
    swapped = (out != new).sum().item()
    assert 16 < swapped < 48  # about half, each for an older image
    copy = ImagePool(4)
    copy.load_state_dict(pool.state_dict())
    torch.manual_seed(1)
    a = pool.query(new)
    torch.manual_seed(1)
    assert torch.equal(a, copy.query(new))
    assert torch.equal(ImagePool(0).query(new), new)
    from ganzoo.errors import GanzooError

    for damaged in ({"images": torch.zeros(3, 1, 1, 1), "filled": 9}, {"filled": 1}, {"images": "x", "filled": 0}):
        with pytest.raises(GanzooError, match="corrupt checkpoint state: the history pool"):
            ImagePool(4).load_state_dict(damaged)


def test_training_never_draws_held_out_pairs(tmp_path):
    from ganzoo.data import Data
    from ganzoo.engine import distributed
    from ganzoo.engine.train import _batches

    n, held = 40, 10
    x = torch.zeros(n, 1, 4, 4, dtype=torch.uint8)
    x[n - held:] = 255  # held-out targets are white, training ones black
    data = Data("t", x, kind="pairs", source=x.clone(), held_out=held)
    cfg = resolve("pix2pix", get_registry(), out=str(tmp_path / "r"))
    cfg.batch_size = 32
    ctx = distributed.setup("cpu")
    _, draw, _ = _batches(cfg, data, ctx, 0, None)
    for _ in range(20):
        real, _, source = draw()
        assert real.max() == -1 and source is not None and torch.equal(real, source)


@pytest.mark.parametrize("model,direction,sizes", [
    ("pix2pix", None, [(64, 32), (32, 96)]),
    ("srgan", None, [(13, 11), (24, 8)]),
    ("cyclegan", "b2a", [(12, 20), (64, 32)]),
])
def test_exports_take_any_size_the_network_takes(tmp_path, model, direction, sizes):
    import onnxruntime as ort

    from ganzoo.onnx.export import export_run

    train(_cfg(tmp_path, model, "run", 1), quiet=True)
    result = export_run(tmp_path / "run", tmp_path / "g.onnx", direction=direction)
    meta = result.metadata
    assert meta["ganzoo.task"] == "translate" and len(result.max_abs_diff) >= 3 and result.worst_diff < 1e-4
    scale = int(meta["ganzoo.scale"])
    c_in = json.loads(meta["ganzoo.source_shape"])[0]
    if direction:
        assert meta["ganzoo.direction"] == "b2a" and json.loads(meta["ganzoo.domains"]) == ["textured", "plain"]
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    for h, w in sizes:
        out = session.run(["images"], {"source": np.zeros((2, c_in, h, w), np.float32)})[0]
        assert out.shape[0] == 2 and out.shape[2:] == (h * scale, w * scale)


def test_what_does_not_fit_is_one_line(tmp_path):
    out = str(tmp_path / "x")
    assert_one_line_error(["train", "vanilla", "--dataset", "edges2digits", "--out", out],
                          "takes images and 2-D points only")
    assert_one_line_error(["train", "pix2pix", "--dataset", "mnist5k", "--out", out], "takes paired images")
    assert_one_line_error(["train", "pix2pix", "--dataset", "digits-x4", "--steps", "1", "--out", out],
                          "for super-resolution train srgan")
    assert_one_line_error(["train", "cyclegan", "--reg", "l1:10", "--steps", "1", "--batch-size", "2", "--set",
                           "width=8", "--set", "blocks=1", "--out", out], "needs a paired data set")
    assert_one_line_error(["train", "pix2pix", "--reg", "cycle", "--steps", "1", "--set", "width=8", "--out", out],
                          "needs a model with two generators")
    assert_one_line_error(["train", "pix2pix", "--discriminator", "timm:resnet10t", "--steps", "1", "--out", out],
                          "drop --discriminator")
    assert_one_line_error(["train", "pix2pix", "--pool", "-1", "--out", out], "--pool must be 0")
    assert_one_line_error(["train", "cyclegan", "--augment", "diffaug", "--out", out], "would unpair")
    assert_one_line_error(["train", "pix2pix", "--eval-every", "10", "--out", out], "'edges2digits' has none")
    assert not (tmp_path / "x").exists()


def test_a_translate_spec_takes_translation_data_only():
    with pytest.raises(ValueError, match="task='translate'"):
        ModelSpec(name="m", summary="s", generator="a:b", discriminator="a:c", task="translate")
    with pytest.raises(ValueError, match="task='translate'"):
        ModelSpec(name="m", summary="s", generator="a:b", discriminator="a:c", data_kinds=("pairs",))
    spec = ModelSpec(name="m", summary="s", generator="a:b", discriminator="a:c", task="translate",
                     data_kinds=["pairs", "domains"])
    assert spec.takes("domains") and not spec.takes("images")


def _translation_plugin(flaw: str):
    import types

    from torch import nn

    from ganzoo import hookimpl
    from ganzoo.registry import Registry

    class Translator(nn.Module):
        def __init__(self, shape, source_shape, num_classes=0, latent_dim=0):
            super().__init__()
            self.source_shape, self.output_shape, self.scale = tuple(source_shape), tuple(shape), 1
            if flaw != "no-multiple":
                self.multiple = 1
            self.conv = nn.Conv2d(source_shape[0], shape[0], 3, padding=1)

        def forward(self, source):
            out = torch.tanh(self.conv(source))
            return out * 0 if flaw == "ignores" else out

    class Judge(nn.Module):
        def __init__(self, shape, source_shape, num_classes=0, latent_dim=0):
            super().__init__()
            self.conv = nn.Conv2d(shape[0] + source_shape[0], 1, 3, padding=1)

        def forward(self, x, source=None):
            out = self.conv(torch.cat([x, source], 1))
            return out if flaw == "channel" else out.squeeze(1)

    module = types.ModuleType("flawed_translation")
    module.ganzoo_register_models = hookimpl(lambda register: register(ModelSpec(
        name="t", summary="A one-layer translator", paper="Isola et al. 2017 (a toy)", generator=Translator,
        discriminator=Judge,
        dataset="edges2digits", task="translate", data_kinds=("pairs",), terms=("l1:10",))))
    registry = Registry(load_entry_points=False)
    registry.add_plugin(module, "flawed", version="1.0")
    return registry


@pytest.mark.parametrize("flaw, check, message", [
    ("none", None, None),
    ("ignores", "generator", r"ignores its source image -- fix: translate the source"),
    ("no-multiple", "generator", r"lacks the attribute 'multiple'"),
    ("channel", "discriminator", r"forward returned \[4, 1, 32, 32\] -- fix: return float32 \[N\] logits or a map"),
])
def test_the_kit_checks_image_to_image_plugins(flaw, check, message):
    from ganzoo.testing import ConformanceError, model_checks

    checks = model_checks("t", _translation_plugin(flaw), batch_size=4)
    if check is None:
        for c in checks:
            c()
        return
    (found,) = [c for c in checks if c.name == check]
    with pytest.raises(ConformanceError, match=message):
        found()


def test_the_plugin_tutorial_passes_the_kit(tmp_path, monkeypatch):
    """docs/plugins.md §9's three files, as printed, make a plugin the kit passes."""
    import re
    import sys
    from pathlib import Path

    from ganzoo.registry import Registry
    from ganzoo.testing import model_checks

    doc = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
    section = doc[doc.index("### A translation plugin in one file"):]
    for block in re.findall(r"```python\n(.*?)```", section, re.S)[:3]:
        path = tmp_path / block.splitlines()[0].split()[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block)
    (tmp_path / "ganzoo_invert" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    import ganzoo_invert.plugin as plugin

    registry = Registry(load_entry_points=False)
    registry.add_plugin(plugin, "invert", version="0.1")
    try:
        for check in model_checks("invert", registry, options={"width": 8}, batch_size=4):
            check()
    finally:
        for name in [m for m in sys.modules if m.startswith("ganzoo_invert")]:
            del sys.modules[name]


def test_the_python_api_translates_from_a_run_and_from_its_export(tmp_path):
    import ganzoo

    train(_cfg(tmp_path, "cyclegan", "run", 1), quiet=True)
    run = ganzoo.Run(tmp_path / "run")
    T = run.load(direction="b2a")
    assert isinstance(T, ganzoo.Translator) and T.backend == "torch" and T.domains == ("textured", "plain")
    pictures = np.random.default_rng(0).integers(0, 256, (2, 30, 18, 3), dtype=np.uint8)  # sides not multiples of 4
    out = T.translate(pictures)
    assert out.shape == (2, 30, 18, 3) and out.dtype == np.uint8
    path = run.export(tmp_path / "b2a.onnx", direction="b2a")
    exported = ganzoo.load(path)
    assert isinstance(exported, ganzoo.Translator) and exported.backend == "onnxruntime"
    assert exported.direction == "b2a"
    assert np.abs(exported.translate(pictures).astype(int) - out.astype(int)).max() <= 1
    with pytest.raises(ganzoo.GanzooError, match="translates images"):
        run.sample(4)
    assert_one_line_error(["sample", str(tmp_path / "run"), "--labels", "3"], "an image-to-image run translates")
    with pytest.raises(ganzoo.GanzooError, match="has the directions a2b, b2a"):
        run.load(direction="x")
    with pytest.raises(ganzoo.GanzooError, match=r"translates uint8 \[N, H, W, 3\] pictures"):
        T.translate(np.zeros((1, 8, 8, 1), np.uint8))


def test_review_findings_stay_fixed(tmp_path):
    """Unequal domains draw a grid; the b2a export does not overwrite the a2b one; edited domain
    names and a size-mismatched cyclegan are one line."""
    import shutil

    import numpy as np
    from PIL import Image

    from ganzoo.engine.rundir import sample_translations
    from ganzoo.onnx.export import default_output, export_run

    folder = tmp_path / "two"
    for domain, count in (("A", 3), ("B", 12)):
        (folder / domain).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.random.default_rng(i).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
                folder / domain / f"{i}.png")
    train(_cfg(tmp_path, "cyclegan", "run", 1, dataset=f"domains:{folder}"), quiet=True)
    G = ganzoo_load(tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert sample_translations(G, meta, 8, 0, tmp_path / "grid.png") == 3
    a2b = export_run(tmp_path / "run", tmp_path)  # a folder: the default names inside it
    b2a = export_run(tmp_path / "run", tmp_path, direction="b2a")
    assert a2b.path != b2a.path and a2b.path.is_file() and b2a.path.name.endswith(".b2a.onnx")
    assert default_output(tmp_path / "run").name == "run.onnx"
    edited = tmp_path / "edited"
    shutil.copytree(tmp_path / "run", edited)
    meta["data"]["domains"] = ["a", "b", "c"]
    (edited / "config.json").write_text(json.dumps(meta))
    assert_one_line_error(["sample", str(edited)], "two printable names")
    assert_one_line_error(["train", "cyclegan", "--dataset", "digits-x4", "--steps", "1", "--out",
                           str(tmp_path / "x")], "translates between domains of one size")


def ganzoo_load(run):
    from ganzoo.engine.build import load_generator

    return load_generator(run)[0]


def test_info_and_list_say_what_a_translation_set_pairs():
    from conftest import invoke

    code, out = invoke("info", "digits-x4")
    assert code == 0 and "image-to-image set, paired: sources 1x8x8 -> targets 1x32x32" in out
    code, out = invoke("list", "datasets", "digits2textured", "--json")
    row = json.loads(out)[0]
    assert (row["data_kind"], row["pairing"], row["source_shape"]) == ("domains", "unpaired", [3, 32, 32])


def test_a_zero_given_on_resume_is_a_value_not_silence(tmp_path):
    train(_cfg(tmp_path, "cyclegan", "run", 1), quiet=True)  # pool 4
    assert_one_line_error(["train", "--resume", str(tmp_path / "run"), "--steps", "2", "--pool", "0"],
                          "cannot change --pool when resuming")
