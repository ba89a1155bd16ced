"""Adam for the training loop: torch's fused Adam kernel, called without ``torch.optim``.

``torch.optim.Optimizer`` imports ``torch._dynamo`` (and sympy with it) the first time an
optimizer is built or stepped, only to mark its own code as not for compiling: about a
second of every ``ganzoo train`` start on a CPU, a third of a one-step run. This class makes
the call ``torch.optim.Adam(fused=True)`` makes, with the same arguments, so the numbers are
the same bit for bit, and keeps the same ``state_dict``, so a checkpoint written by either
loads into the other (runs from before this class resume unchanged).

Only what the loop uses is here: one parameter group, no weight decay, no AMSGrad, no
gradient scaler. Devices without a fused kernel get ``torch.optim.Adam`` itself
(:func:`make_adam`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import torch
from torch import Tensor

#: The hyper-parameters torch.optim.Adam records in each group of its state_dict, with the
#: values of the configuration used here: written the same, so either class reads the other's.
_GROUP = {"eps": 1e-8, "weight_decay": 0, "amsgrad": False, "maximize": False, "foreach": None,
          "capturable": False, "differentiable": False, "fused": True, "decoupled_weight_decay": False}


class Optimizer(Protocol):
    """What the loop needs of an optimizer: torch.optim's, or :class:`FusedAdam`."""

    param_groups: list[dict[str, Any]]

    def zero_grad(self, set_to_none: bool = True) -> None: ...

    def step(self) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...


class FusedAdam:
    """Adam (Kingma & Ba 2015) on the CPU's or GPU's fused kernel; see the module docstring."""

    def __init__(self, params: Iterable[Tensor], lr: float, betas: tuple[float, float]) -> None:
        self.param_groups: list[dict[str, Any]] = [{"params": list(params), "lr": lr, "betas": tuple(betas),
                                                    **_GROUP}]
        self.state: dict[Tensor, dict[str, Tensor]] = {}

    @property
    def params(self) -> list[Tensor]:
        return list(self.param_groups[0]["params"])

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        by_kind: dict[tuple[torch.device, torch.dtype], list[list[Tensor]]] = {}
        for p in self.params:
            if p.grad is None:
                continue
            state = self.state.get(p)
            if not state:  # as torch: the step count a float32 scalar beside the weights
                state = self.state[p] = {"step": torch.zeros((), dtype=torch.float32, device=p.device),
                                         "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                                         "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
            lists = by_kind.setdefault((p.device, p.dtype), [[], [], [], [], []])
            for bucket, tensor in zip(lists, (p, p.grad, state["exp_avg"], state["exp_avg_sq"], state["step"])):
                bucket.append(tensor)
        for params, grads, exp_avgs, exp_avg_sqs, steps in by_kind.values():
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=group["lr"],
                               beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"],
                               maximize=False, grad_scale=None, found_inf=None)

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's layout: state by parameter index, each group with its indices."""
        index = {id(p): i for i, p in enumerate(self.params)}
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        group["params"] = list(range(len(index)))
        return {"state": {index[id(p)]: dict(s) for p, s in self.state.items()}, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """As torch.optim does: the saved hyper-parameters (the rate included) replace the
        current ones, and each tensor moves to its parameter's device; the moments take the
        parameter's dtype, the step count stays float32."""
        groups = state_dict["param_groups"]
        params = self.params
        if len(groups) != 1 or len(groups[0]["params"]) != len(params):
            raise ValueError("loaded state dict has a different number of parameters or groups")
        saved = {k: v for k, v in groups[0].items() if k != "params"}
        if saved.get("amsgrad") or saved.get("weight_decay") or saved.get("maximize"):
            raise ValueError("loaded state dict uses Adam options this loop does not")
        order = groups[0]["params"]
        self.state = {}
        for slot, p in zip(order, params):
            if slot in state_dict["state"]:
                s = state_dict["state"][slot]
                # copies in the parameter's own memory layout: a run saved channels-last on CUDA and
                # resumed on the CPU would otherwise pair each weight with another's moments
                self.state[p] = {"step": s["step"].to(device=p.device, dtype=torch.float32, copy=True),
                                 "exp_avg": _like(p, s["exp_avg"]), "exp_avg_sq": _like(p, s["exp_avg_sq"])}
        self.param_groups[0] = {**saved, "betas": tuple(saved.get("betas", (0.9, 0.999))), "fused": True,
                                "foreach": None, "params": params}


def _like(p: Tensor, value: Tensor) -> Tensor:
    """``value`` copied into a tensor shaped, typed, placed and laid out as ``p``."""
    return torch.empty_like(p, memory_format=torch.preserve_format).copy_(value)


def make_adam(params: list[Tensor], lr: float, betas: tuple[float, float], device: torch.device) -> Optimizer:
    """:class:`FusedAdam` where torch has the fused kernel (CPU, CUDA), else torch.optim.Adam
    with its multi-tensor path."""
    pair = (float(betas[0]), float(betas[1]))  # a tuple even when a list came in
    if device.type in ("cpu", "cuda"):
        return FusedAdam(params, lr, pair)
    return torch.optim.Adam(params, lr=lr, betas=pair, foreach=True)
