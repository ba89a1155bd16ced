"""ACGAN (Odena, Olah & Shlens 2017, "Conditional Image Synthesis with Auxiliary
Classifier GANs", ICML).

The generator gets a class label c with the noise, G(c, z). The discriminator
does not see the label: it has two heads on a shared body, the real/fake logit
(``forward``, scored by the adversarial loss as for any model) and class logits
(``classify``). With L_C the log-likelihood of the right class, D maximises
L_S + L_C and G maximises L_C - L_S. The adversarial part L_S is the ordinary
``nonsaturating`` loss; the class part is the ``acgan-aux`` regularizer
(:class:`AuxiliaryClassifier` below), so it stays a plugin term any labelled
model with a ``classify`` head can use:
- D's term: cross-entropy of the class logits of real images and of generated
  images against their labels (the paper's L_C counts both);
- G's term: cross-entropy of the class logits of generated images against the
  labels they were asked for.
Cross-entropy is taken on logits (``F.cross_entropy``), never on softmax output.

Networks: the DCGAN stack of :mod:`ganzoo.models.dcgan` sized from the data set
(the generator conditioned by a label embedding concatenated to z); the
discriminator is DCGAN's body with a linear real/fake head and a linear class head
on its flattened last feature map.

Deviations:
- the paper's ImageNet/CIFAR-10 networks (a 768-wide projection with
  transposed convolutions; a discriminator with dropout 0.5 after every layer) are
  replaced by the DCGAN stack at the data set's size, without dropout;
- the label enters G as a learned embedding concatenated to z (the paper's
  implementation used a one-hot vector; the two are the same function class up to
  64 classes, see :mod:`ganzoo.models.dcgan`);
- z ~ N(0, I) instead of uniform; Adam 2e-4, betas (0.5, 0.999) as in DCGAN;
- on 2-D points both networks are MLPs (vanilla's generator; a LeakyReLU MLP body
  of 200-unit layers for the two heads of the discriminator).
"""

from __future__ import annotations

import itertools

import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo.errors import GanzooError
from ganzoo.losses import Regularizer
from ganzoo.models import dcgan

POINT_HIDDEN = (200, 200, 200)


def _check_classes(num_classes: int) -> None:
    if num_classes < 2:
        raise GanzooError(f"acgan needs a labelled data set with at least 2 classes (got {num_classes}); "
                          "use mnist5k, digits or folder:PATH with one sub-folder per class")


class ACGANDiscriminator(nn.Module):
    """A shared body with two heads: ``forward`` → real/fake logits [N] (labels ignored),
    ``classify`` → class logits [N, num_classes]."""

    def __init__(self, shape: tuple[int, ...], num_classes: int, latent_dim: int = 100, width: int = 64) -> None:
        super().__init__()
        _check_classes(num_classes)
        self.num_classes = num_classes
        if dcgan.is_points(shape):
            sizes = [int(shape[0]), *POINT_HIDDEN]
            layers: list[nn.Module] = []
            for fan_in, fan_out in itertools.pairwise(sizes):
                layers += [nn.Linear(fan_in, fan_out), nn.LeakyReLU(0.2)]
            self.body = nn.Sequential(*layers)
            features = sizes[-1]
        else:
            channels, base, stages = dcgan.conv_plan(shape, "acgan")
            body, ch = dcgan.conv_trunk(channels, stages, dcgan.check_width(width, "acgan"), "batch")
            self.body = nn.Sequential(body, nn.Flatten(1))
            features = ch * base * base
        self.adversarial = nn.Linear(features, 1)
        self.classifier = nn.Linear(features, num_classes)
        if not dcgan.is_points(shape):
            dcgan.dcgan_init(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.adversarial(self.body(x)).squeeze(1)

    def classify(self, x: Tensor) -> Tensor:
        """Class logits [N, num_classes] (raw, for ``F.cross_entropy``)."""
        return self.classifier(self.body(x))


def generator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 100, width: int = 64) -> nn.Module:
    """The conditional DCGAN generator (vanilla's conditional MLP on 2-D points)."""
    _check_classes(num_classes)
    return dcgan.generator(shape, num_classes, latent_dim, width, model="acgan")


def discriminator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 100, width: int = 64) -> nn.Module:
    return ACGANDiscriminator(shape, num_classes, latent_dim, width)


class AuxiliaryClassifier(Regularizer):
    """The ``acgan-aux`` regularizer: ``weight`` times the class cross-entropy, on real and
    generated images for D and on generated images for G. Needs labels and a D with ``classify``."""

    @staticmethod
    def _classify(D: nn.Module, x: Tensor) -> Tensor:
        classify = getattr(D, "classify", None)
        if classify is None:
            raise GanzooError("--reg acgan-aux needs a discriminator with a classify(x) head (the acgan model's); "
                              "drop --discriminator, or drop --reg acgan-aux")
        return classify(x)

    @staticmethod
    def _labels(labels: Tensor | None) -> Tensor:
        if labels is None:
            raise GanzooError("--reg acgan-aux needs class labels: use it with a conditional model such as acgan")
        return labels

    def check(self, D: nn.Module, num_classes: int) -> None:
        if not num_classes:
            self._labels(None)
        if getattr(D, "classify", None) is None:
            self._classify(D, None)

    def d_term(self, D: nn.Module, real: Tensor, fake: Tensor, labels: Tensor | None) -> Tensor:
        labels = self._labels(labels)
        real_ce = F.cross_entropy(self._classify(D, real).float(), labels)
        fake_ce = F.cross_entropy(self._classify(D, fake.detach()).float(), labels)
        return self.weight * (real_ce + fake_ce)

    def g_term(self, D: nn.Module, fake: Tensor, labels: Tensor | None) -> Tensor:
        return self.weight * F.cross_entropy(self._classify(D, fake).float(), self._labels(labels))
