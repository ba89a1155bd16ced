"""--amp on CPU: bf16 autocast where the processor computes bf16 natively, float32 with one note elsewhere."""

import torch

from ganzoo.engine.config import resolve
from ganzoo.engine.train import _autocast, native_bf16
from ganzoo.registry import get_registry


def _cfg(amp: bool):
    return resolve("vanilla", get_registry(), dataset="ring8", steps=1, device="cpu", amp=amp)


def test_amp_on_cpu_autocasts_to_bf16_only_where_the_cpu_has_it():
    notes: list[str] = []
    context = _autocast(_cfg(True), torch.device("cpu"), notes.append)
    a = torch.randn(8, 8)
    with context():
        product = a @ a
    if native_bf16(torch.device("cpu")):
        assert product.dtype == torch.bfloat16 and not notes
    else:
        assert product.dtype == torch.float32 and "no native bf16" in notes[0]


def test_without_amp_nothing_changes():
    notes: list[str] = []
    with _autocast(_cfg(False), torch.device("cpu"), notes.append)():
        assert (torch.randn(4, 4) @ torch.randn(4, 4)).dtype == torch.float32
    assert not notes


def test_native_bf16_follows_the_cpu_probes(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert not native_bf16(torch.device("cpu"))
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert native_bf16(torch.device("cpu")) and native_bf16(torch.device("cuda")) and not native_bf16(torch.device("mps"))


def _plugin_with_amp_default():
    import types

    from ganzoo import ModelSpec, hookimpl
    from ganzoo.registry import Registry
    from ganzoo.specs import Defaults

    module = types.ModuleType("ampy")
    module.ganzoo_register_models = hookimpl(lambda register: register(ModelSpec(
        name="ampy", summary="vanilla with bf16 by default", paper="Nobody 2026",
        generator="ganzoo.models.vanilla:Generator", discriminator="ganzoo.models.vanilla:Discriminator",
        dataset="digits", defaults=Defaults(steps=2, batch_size=8, amp=True))))
    registry = Registry(load_entry_points=False)
    registry.add_plugin(module, "ampy", version="1.0")
    return registry


def test_a_model_may_default_to_amp_and_the_flag_still_wins(monkeypatch, tmp_path):
    registry = _plugin_with_amp_default()
    assert resolve("ampy", registry, out=str(tmp_path / "a")).amp
    assert not resolve("ampy", registry, out=str(tmp_path / "b"), amp=False).amp
    assert not resolve("stylegan2", get_registry(), out=str(tmp_path / "c")).amp  # slower in bf16 on a CPU
    assert resolve("vanilla", get_registry(), out=str(tmp_path / "g")).amp
    assert not resolve("vanilla", get_registry(), out=str(tmp_path / "h"), dataset="ring8").amp  # points: float32
    # measured with the model's own discriminator: another one trains in float32 unless asked
    assert resolve("dcgan", get_registry(), out=str(tmp_path / "d")).amp
    assert not resolve("dcgan", get_registry(), out=str(tmp_path / "e"), discriminator="timm:test_resnet").amp
    assert resolve("dcgan", get_registry(), out=str(tmp_path / "f"), discriminator="timm:test_resnet", amp=True).amp


def test_a_default_amp_without_native_bf16_trains_in_float32_without_a_note(monkeypatch, tmp_path):
    from ganzoo.engine import train as train_module

    registry = _plugin_with_amp_default()
    monkeypatch.setattr(train_module, "native_bf16", lambda device: False)
    lines: list[str] = []
    train_module.train(resolve("ampy", registry, out=str(tmp_path / "run"), device="cpu"), registry=registry,
                       echo=lines.append)
    assert not any("bf16" in line for line in lines), lines
    lines.clear()
    train_module.train(resolve("ampy", registry, out=str(tmp_path / "asked"), device="cpu", amp=True),
                       registry=registry, echo=lines.append)
    assert not any("no native bf16" in line for line in lines), lines  # the model's own default: no note


def test_the_start_line_says_bf16(tmp_path):
    from ganzoo.engine import train as train_module

    lines: list[str] = []
    train_module.train(resolve("vanilla", get_registry(), dataset="digits", steps=1, batch_size=8, device="cpu",
                               out=str(tmp_path / "run"), amp=True), echo=lines.append)
    start = next(line for line in lines if line.startswith("training vanilla"))
    assert ("bf16 autocast" in start) == native_bf16(torch.device("cpu")), start
