"""The loop's Adam is torch.optim.Adam(fused=True) without torch.optim: the same numbers bit
for bit, and state dicts that either loads from the other (checkpoints from before it)."""

import copy
import subprocess
import sys

import pytest
import torch
from torch import nn

from ganzoo.engine.adam import FusedAdam, make_adam


def _nets():
    """Two copies of one small network."""
    torch.manual_seed(0)
    first, second = (nn.Sequential(nn.Linear(5, 7), nn.LeakyReLU(0.2), nn.Linear(7, 1)) for _ in range(2))
    second.load_state_dict(first.state_dict())
    return first, second


def _train(net, opt, steps, seed=1, rates=None):
    g = torch.Generator().manual_seed(seed)
    for i in range(steps):
        if rates:
            for group in opt.param_groups:
                group["lr"] = rates[i]
        x = torch.randn(16, 5, generator=g)
        opt.zero_grad(set_to_none=True)
        net(x).pow(2).mean().backward()
        opt.step()


def test_the_same_numbers_as_torch_fused_adam():
    mine, theirs = _nets()
    a = FusedAdam(mine.parameters(), lr=1e-2, betas=(0.5, 0.99))
    b = torch.optim.Adam(theirs.parameters(), lr=1e-2, betas=(0.5, 0.99), fused=True)
    rates = [1e-2] * 5 + [5e-3, 2e-3, 1e-3]  # --lr-decay changes the group's rate
    _train(mine, a, 8, rates=rates)
    _train(theirs, b, 8, rates=rates)
    for p, q in zip(mine.parameters(), theirs.parameters()):
        assert torch.equal(p, q)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for k in sa["state"]:
        assert sa["state"][k].keys() == sb["state"][k].keys()
        for name in sa["state"][k]:
            x, y = sa["state"][k][name], sb["state"][k][name]
            assert x.dtype == y.dtype and x.device == y.device and torch.equal(x, y)


@pytest.mark.parametrize("direction", ["torch-to-ours", "ours-to-torch"])
def test_each_loads_the_others_state_and_continues_identically(direction):
    first, second = _nets()
    make = {"ours": lambda p: FusedAdam(p, lr=3e-3, betas=(0.0, 0.9)),
            "torch": lambda p: torch.optim.Adam(p, lr=3e-3, betas=(0.0, 0.9), fused=True)}
    source, target = direction.split("-to-")
    a = make[source](first.parameters())
    _train(first, a, 4)
    second.load_state_dict(first.state_dict())
    saved = copy.deepcopy(a.state_dict())  # as a checkpoint holds it
    b = make[target](second.parameters())
    b.load_state_dict(copy.deepcopy(saved))
    reference = make[source](first.parameters())
    reference.load_state_dict(copy.deepcopy(saved))
    _train(first, reference, 3, seed=2)
    _train(second, b, 3, seed=2)
    for p, q in zip(first.parameters(), second.parameters()):
        assert torch.equal(p, q)


def test_a_state_of_another_shape_is_refused():
    net, _ = _nets()
    opt = FusedAdam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    other = torch.optim.Adam(nn.Linear(2, 2).parameters(), lr=1e-3, fused=True)
    with pytest.raises(ValueError, match="different number of parameters"):
        opt.load_state_dict(other.state_dict())


def test_other_devices_get_torch_adam():
    net, _ = _nets()
    assert isinstance(make_adam(list(net.parameters()), 1e-3, [0.5, 0.999], torch.device("cpu")), FusedAdam)
    assert isinstance(make_adam(list(net.parameters()), 1e-3, (0.5, 0.999), torch.device("meta")), torch.optim.Adam)


def test_a_training_step_never_imports_dynamo(tmp_path):
    """torch.optim would import torch._dynamo (and sympy): a second of every start."""
    code = ("import atexit, sys; from ganzoo.cli import main; sys.argv = ['ganzoo', 'train', 'vanilla', '--dataset', "
            f"'ring8', '--steps', '2', '-q', '--out', {str(tmp_path / 'run')!r}]\n"
            "atexit.register(lambda: print('dynamo imported:', 'torch._dynamo' in sys.modules))\n"
            "main()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "dynamo imported: False", done.stdout


def test_moments_take_the_parameters_layout_when_loaded():
    """A run saved channels-last (CUDA) and resumed on the CPU: each weight keeps its own moments."""
    conv = nn.Conv2d(3, 4, 3)
    saved = FusedAdam(conv.parameters(), lr=1e-3, betas=(0.5, 0.999))
    conv(torch.randn(2, 3, 8, 8)).sum().backward()
    saved.step()
    state = copy.deepcopy(saved.state_dict())
    state["state"][0]["exp_avg"] = state["state"][0]["exp_avg"].to(memory_format=torch.channels_last)
    fresh = FusedAdam(conv.parameters(), lr=1e-3, betas=(0.5, 0.999))
    fresh.load_state_dict(state)
    loaded = fresh.state[conv.weight]["exp_avg"]
    assert loaded.is_contiguous() and torch.equal(loaded, saved.state[conv.weight]["exp_avg"])
