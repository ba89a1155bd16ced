"""ACGAN (Odena, Olah & Shlens 2017, "Conditional Image Synthesis with Auxiliary
Classifier GANs", ICML).

The generator gets a class label c with the noise, G(c, z). The discriminator
does not see the label: it has two heads on a shared body, the real/fake logit and
class logits, both returned by ``heads`` from one body pass. With L_C the
log-likelihood of the right class, D maximises L_S + L_C and G maximises L_C - L_S.
The adversarial part L_S is the ordinary ``nonsaturating`` loss; the class part is
the ``acgan-aux`` objective (:mod:`ganzoo.objectives.auxiliary`), which reads the
class head from the same D outputs the adversarial loss uses, so every batch passes
D's body once:
- D's term: cross-entropy of the class logits of real images against their labels,
  plus (``--set aux_fakes=true``, the paper's L_C) that of generated images;
- G's term: cross-entropy of the class logits of generated images against the
  labels they were asked for.
Cross-entropy is taken on logits (``F.cross_entropy``), never on softmax output.

Departure from the paper, on by default: D's class head learns from real images
only. Trained on fakes too, D and G can agree on a private code: G draws images the
class head files under the asked label without them looking like that digit. On
mnist5k at 1,500 steps, conditional accuracy in ganzoo's classifier went from 0.54
(real and fake) to 0.89 (real only). ``--set aux_fakes=true`` restores the paper.

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
- z ~ N(0, I) instead of uniform; Adam with betas (0.5, 0.999) as in DCGAN (the paper
  used 2e-4 for both networks), with G at 1e-3 and D at 2e-4, InfoGAN's MNIST rates:
  on mnist5k they drew closer digits and followed the labels more often at the same
  length (benchmarks/results/image-sweeps.md);
- on 2-D points both networks are MLPs (vanilla's generator; a LeakyReLU MLP body
  of 200-unit layers for the two heads of the discriminator).
"""

from __future__ import annotations

from torch import Tensor, nn

from ganzoo.errors import GanzooError
from ganzoo.layers import check_width, conv_plan, conv_trunk, dcgan_init, is_points, mlp
from ganzoo.models import dcgan

POINT_HIDDEN = (200, 200, 200)


def _check_classes(num_classes: int) -> None:
    if num_classes < 2:
        raise GanzooError(f"acgan needs a labelled data set with at least 2 classes (got {num_classes}); "
                          "use mnist5k, digits or folder:PATH with one sub-folder per class")


class ACGANDiscriminator(nn.Module):
    """A shared body with two heads: ``heads`` → ``{"logits": [N], "classes": [N, K]}``
    from one body pass; ``forward`` → the real/fake logits alone (labels ignored)."""

    def __init__(self, shape: tuple[int, ...], num_classes: int, width: int = 64) -> None:
        super().__init__()
        _check_classes(num_classes)
        self.num_classes = num_classes
        if is_points(shape):
            self.body = nn.Sequential(*mlp([int(shape[0]), *POINT_HIDDEN]))
            features = POINT_HIDDEN[-1]
        else:
            channels, base, stages = conv_plan(shape, "acgan")
            body, ch = conv_trunk(channels, stages, check_width(width, "acgan"), "batch")
            self.body = nn.Sequential(body, nn.Flatten(1))
            features = ch * base * base
        self.adversarial = nn.Linear(features, 1)
        self.classifier = nn.Linear(features, num_classes)
        if not is_points(shape):
            dcgan_init(self)

    def heads(self, x: Tensor, labels: Tensor | None = None) -> dict[str, Tensor]:
        h = self.body(x)
        return {"logits": self.adversarial(h).squeeze(1), "classes": self.classifier(h)}

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.adversarial(self.body(x)).squeeze(1)


def generator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 100, width: int = 64,
              aux_fakes: bool = False) -> nn.Module:
    """The conditional DCGAN generator (vanilla's conditional MLP on 2-D points).
    ``aux_fakes`` belongs to the ``acgan-aux`` objective; the networks ignore it."""
    _check_classes(num_classes)
    return dcgan.generator(shape, num_classes, latent_dim, width, model="acgan")


def discriminator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 100, width: int = 64,
                  aux_fakes: bool = False) -> nn.Module:
    return ACGANDiscriminator(shape, num_classes, width)
