"""CycleGAN's own terms (Zhu et al. 2017, eq. 2 and 3, and the identity term of its section 5.2).

The loop's step is the A->B half: ``step.source`` is a batch of domain A, ``step.real`` an
independent batch of B, ``step.fake`` = G_AB(A), judged by ``D`` (D_B) with the run's
``--loss``. This objective adds the other half and what ties the two together:

- ``adv_a``: D_A against G_BA's translations of the B batch, with the run's own loss (so
  ``--loss`` picks the adversarial loss of both directions) and its own history pool, of the
  run's ``--pool`` size;
- ``cycle``: weight x (|G_BA(G_AB(a)) - a| + |G_AB(G_BA(b)) - b|), means of absolute values;
- ``identity``: identity x weight x (|G_AB(b) - b| + |G_BA(a) - a|), where both domains have
  the same number of channels.

It needs a model with two directions (``G.directions``: A->B first) and a discriminator
with a submodule ``a`` judging domain A; D_A goes without the run's augmentation.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor, nn

from ganzoo.api import Objective, Outputs, Setup, Step, directions
from ganzoo.errors import GanzooError
from ganzoo.objectives.pool import ImagePool


class CycleConsistency(Objective):
    def __init__(self, weight: float = 10.0, identity: float = 0.5) -> None:
        super().__init__()
        self.weight, self.identity = float(weight), float(identity)
        self.adversarial: Objective | None = None
        self.pool = ImagePool(0)
        self.same_channels = True

    def setup(self, run: Setup) -> None:
        names = directions(run.G)
        if len(names) != 2 or not isinstance(getattr(run.D, "a", None), nn.Module):
            raise GanzooError("--reg cycle needs a model with two generators (directions such as a2b, b2a) and a "
                              "discriminator for each domain (D.a beside D): use it with cyclegan")
        if run.data_kind not in ("pairs", "domains"):
            raise GanzooError("--reg cycle translates between two image domains; choose an image-to-image data set")
        self.forward, self.back = names
        self.adversarial = run.adversarial
        self.pool = ImagePool(run.pool)
        self.same_channels = run.source_shape is not None and run.source_shape[0] == run.data_shape[0]

    def _other_half(self, step: Step, fake_a: Tensor) -> Step:
        """The B->A half as a step of its own: D_A judges domain A against G_BA's translations."""
        D_a = cast(nn.Module, step.D.a)

        def judge(x: Tensor, condition: Any) -> Outputs:
            return Outputs(logits=D_a(x).float())

        assert step.source is not None  # the loop gives every image-to-image step its sources
        return Step(phase=step.phase, step=step.step, d_step=step.d_step, G=step.G, D=D_a, real=step.source,
                    labels=None, z=step.z, codes={}, fake=fake_a, num_classes=0, discriminate=judge)

    def _adversarial(self, phase: str, half: Step) -> dict[str, Tensor]:
        assert self.adversarial is not None  # set by setup
        terms = self.adversarial.d_terms(half) if phase == "d" else self.adversarial.g_terms(half)
        return {f"{name}_a": value for name, value in terms.items()}

    def d_terms(self, step: Step) -> dict[str, Tensor]:
        with torch.no_grad():
            fake_a = getattr(step.G, self.back)(step.real)
        return self._adversarial("d", self._other_half(step, self.pool.query(fake_a)))

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        a, b = step.source, step.real
        assert a is not None  # the loop gives every image-to-image step its sources
        G_ab, G_ba = getattr(step.G, self.forward), getattr(step.G, self.back)
        fake_a = G_ba(b)
        terms = self._adversarial("g", self._other_half(step, fake_a))
        cycle = (G_ba(step.fake) - a).abs().mean() + (G_ab(fake_a) - b).abs().mean()
        terms["cycle"] = self.weight * cycle
        if self.identity and self.same_channels:
            same = (G_ab(b) - b).abs().mean() + (G_ba(a) - a).abs().mean()
            terms["identity"] = self.identity * self.weight * same
        return terms

    def state_dict(self) -> dict[str, Any]:
        return {"pool": self.pool.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pool.load_state_dict(state.get("pool") or {})
