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
