"""ACGAN's class loss (Odena, Olah & Shlens 2017, "Conditional Image Synthesis with
Auxiliary Classifier GANs", ICML) as an objective: the ``acgan-aux`` regularizer.

It needs nothing of ACGAN's networks but a discriminator whose ``heads`` return
``classes``, so any conditional model with such a head can use it; the acgan model
(:mod:`ganzoo.models.acgan`) says why its default trains the class head on real
images only.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ganzoo.api import Objective, Outputs, Setup, Step
from ganzoo.errors import GanzooError
from ganzoo.layers import need_labels


class AuxiliaryClassifier(Objective):
    """The ``acgan-aux`` objective: ``weight`` times the class cross-entropy of D's
    ``classes`` head, on real images (and generated ones when the model option
    ``aux_fakes`` is true; true when the model has no such option) for D, on generated
    images for G. Needs labels and a D whose ``heads`` include ``classes``."""

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = float(weight)
        self.on_fakes = True

    def setup(self, run: Setup) -> None:
        if not run.num_classes:
            raise GanzooError("--reg acgan-aux needs class labels: use it with a conditional model such as acgan")
        if not callable(getattr(run.D, "heads", None)):
            raise GanzooError("--reg acgan-aux needs a discriminator with a class head (heads() returning "
                              "'classes', as acgan's); drop --discriminator, or drop --reg acgan-aux")
        self.on_fakes = bool(run.options.get("aux_fakes", True))

    @staticmethod
    def _classes(out: Outputs) -> Tensor:
        if "classes" not in out:
            raise GanzooError("--reg acgan-aux: the discriminator's heads() returned no 'classes'; "
                              "drop --reg acgan-aux or use the acgan model")
        return out["classes"]

    def d_terms(self, step: Step) -> dict[str, Tensor]:
        labels = need_labels(step.labels, "acgan-aux regularizer")
        ce = F.cross_entropy(self._classes(step.d_real), labels)
        if self.on_fakes:
            ce = ce + F.cross_entropy(self._classes(step.d_fake), labels)
        return {"class": self.weight * ce}

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        labels = need_labels(step.labels, "acgan-aux regularizer")
        return {"class": self.weight * F.cross_entropy(self._classes(step.d_fake), labels)}
