"""Data-parallel training in a handful of lines, started by ``torchrun``.

Instead of wrapping modules in DistributedDataParallel (which does not support the
double backward of gradient penalties), gradients are averaged by hand after each
backward: one flattened all-reduce per network. Every rank then takes the same
optimizer step and the weights stay identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class Context:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def pick_device(name: str) -> torch.device:
    from ganzoo.errors import GanzooError

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GanzooError("--device cuda asked for, but no CUDA GPU is visible; use --device cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise GanzooError("--device mps asked for, but MPS is not available; use --device cpu")
    return torch.device(name)


def setup(device_name: str) -> Context:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Context(device=pick_device(device_name))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = pick_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Context(rank=rank, world_size=world_size, device=device)


def average_gradients(module: nn.Module, ctx: Context) -> None:
    if not ctx.enabled:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def average_buffers(module: nn.Module, ctx: Context) -> None:
    """Average float buffers (BatchNorm running statistics) so every rank saves the same model."""
    if not ctx.enabled:
        return
    for buf in module.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf)
            buf /= ctx.world_size


def assert_in_sync(module: nn.Module, ctx: Context) -> None:
    """Fail loudly if ranks hold different weights (a silent DDP bug would waste a whole run)."""
    if not ctx.enabled:
        return
    from ganzoo.errors import GanzooError

    flat = torch.cat([t.detach().reshape(-1).float() for t in module.state_dict().values() if t.is_floating_point()])
    gathered = [torch.empty_like(flat) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, flat)
    if not all(torch.equal(gathered[0], g) for g in gathered[1:]):
        raise GanzooError("ranks hold different weights after synchronisation; this is a bug, please report it")


def any_rank(flag: bool, ctx: Context) -> bool:
    """True on every rank if the flag is set on any (so all ranks stop at the same step)."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def barrier(ctx: Context) -> None:
    """Every rank waits here (rank 0 prepares the run folder before the others read it)."""
    if ctx.enabled and dist.is_initialized():
        dist.barrier()


def finish(ctx: Context) -> None:
    """Wait for every rank (rank 0 is still writing the checkpoint) before tearing gloo/nccl down:
    a rank that destroys the group while another still uses it can abort the process."""
    if ctx.enabled and dist.is_initialized():
        dist.barrier()


def cleanup(ctx: Context) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
