"""DCGAN (Radford, Metz & Chintala 2016, "Unsupervised Representation Learning
with Deep Convolutional Generative Adversarial Networks", ICLR) and its
conditional form (``cdcgan``).

The paper's architecture guidelines, all followed here:
- no pooling: the generator up-samples with fractionally-strided convolutions
  (``ConvTranspose2d(4, stride 2)``), the discriminator down-samples with strided ones;
- BatchNorm in both networks, except on G's output layer and D's input layer;
- no fully connected hidden layers: z is projected by one matrix multiplication
  and reshaped to the first feature map; D's last feature map is flattened into
  a single logit;
- ReLU in G with Tanh on the output, LeakyReLU(0.2) in D;
- weights drawn from N(0, 0.02) (BatchNorm scales from N(1, 0.02)), Adam with
  learning rate 2e-4 and beta1 = 0.5 (the spec's defaults).

The paper's network is drawn for 64x64 images (4x4x1024 → 64x64x3). Here the
stack is derived from the data set's image side ``S = base * 2**stages`` with
``base`` in 4..7: 64 px → 4x4 start and four up-sampling stages, 32 px → 4x4 and
three, 28 px (MNIST) → 7x7 and two, 8 px (scikit-learn digits) → 4x4 and one, a
deliberately small stack so the 8x8 data set is not drowned by a deep network.
Other sides of that form (16, 48, 56, 96, 128, ...) work the same way.

Deviations:
- the widest feature map has ``8 * width`` channels at 64 px (512 with the
  default width 64, as in the PyTorch reference implementation; the paper drew
  1024), and fewer stages at smaller sizes give proportionally fewer channels;
- G learns at 1e-3 against D's 2e-4 (InfoGAN's MNIST rates, Chen et al. 2016; the
  paper trains both at 2e-4), and on single-channel images D's last feature map
  reaches the logit through one hidden layer of 1,024 units (BatchNorm, LeakyReLU:
  InfoGAN's discriminator head) where the paper feeds the flattened map straight to
  the logit. At 28 px, where only two convolutions fit, the paper's settings left most
  samples between digits on mnist5k; neither change alone fixed it, both together did.
  On colour images the head stays the paper's (``d_hidden`` left to the model: 1,024
  units for one channel, none for three): on Stacked MNIST the hidden layer made two
  of the three channels drop digits, while the faster G with the paper's head covered
  all 1,000 digit triples more evenly than the paper's rates did. Both findings are in
  benchmarks/results/image-sweeps.md. ``--set d_hidden=N`` fixes the head (0: the
  paper's), ``--lr-g 2e-4`` restores the paper's rate;
- z is drawn from N(0, I) (the engine's convention) instead of a uniform distribution;
- on 2-D point data sets (shape ``(2,)``) convolutions make no sense: the factories
  return the MLP networks of :mod:`ganzoo.models.vanilla` instead and the
  ``width`` option is ignored.

Conditional DCGAN (``cdcgan``; the paper is unconditional). The generator
concatenates a learned label embedding to z, as Mirza & Osindero (2014) feed
labels into the first layer; an embedding followed by the projection is the same
function class as a one-hot vector, as long as the embedding is at least as wide
as the number of classes (it is, up to 64 classes). The discriminator uses the
projection of Miyato & Koyama (2018, "cGANs with Projection Discriminator"):
logit = w·flatten(h) + embed(y)·pool(h), h being D's last feature map. The paper
uses global *sum* pooling in a spectrally normalised ResNet; here pooling is the
spatial mean, and the embedding starts at N(0, 0.02): projecting the whole
flattened map let the term run away on mnist5k (logits near ±35 within 100
steps, G starved of gradient); with the mean, losses track dcgan's. The projection
alone conditioned weakly, though: after 2,000 steps only 27 % of samples were
classified as the label asked for. So the label also enters D's input as constant
label maps beside the image channels (the one-hot maps of the classic conditional
DCGAN, here a learned embedding of the same width): with both, 91 % after 2,000
steps, and the Fréchet distance in ganzoo's classifier features fell from 108 to 15.

The building blocks (conv plan, DCGAN initialisation, conv trunk, projection head)
live in :mod:`ganzoo.layers`, where the other families and plugins import them.

The ``lsgan`` entry trains these same networks, D head and rates included, with the
least-squares loss of Mao et al. (2017), and samples from an exponential moving average of
G (the paper samples the last iterate, which stays noisy under this loss); their LSUN network
(a VGG-like generator with 3x3 deconvolutions at 112x112) is not reproduced. ``cdcgan`` keeps the paper's head
and rates: with labels the plain network already draws clean digits.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganzoo.errors import GanzooError
from ganzoo.layers import (
    NORMS,
    WIDTH_MAX,
    ProjectionHead,
    check_width,
    conv_plan,
    conv_trunk,
    dcgan_init,
    embed_dim,
    is_points,
    need_labels,
    up_trunk,
)

#: Units in InfoGAN's MNIST discriminator head, what ``d_hidden`` left to the model gives on
#: single-channel images.
INFOGAN_HEAD = 1024

# -- the networks ----------------------------------------------------------------------------------
class DCGANGenerator(nn.Module):
    """z (and a label embedding) → linear projection to ``8*width`` x 4 x 4 (at 64 px) → one
    ConvTranspose/BatchNorm/ReLU stage per doubling, halving channels → C channels, Tanh."""

    def __init__(self, shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 100,
                 width: int = 64, model: str = "dcgan") -> None:
        super().__init__()
        channels, base, stages = conv_plan(shape, model)
        width = check_width(width, model)
        self.latent_dim, self.num_classes, self.output_shape = latent_dim, num_classes, tuple(shape)
        self.embed = nn.Embedding(num_classes, embed_dim(num_classes)) if num_classes else None
        in_dim = latent_dim + (embed_dim(num_classes) if num_classes else 0)
        top = width * 2 ** (stages - 1)
        self.start = (top, base, base)
        self.project = nn.Linear(in_dim, top * base * base, bias=False)
        layers: list[nn.Module] = [nn.BatchNorm2d(top), nn.ReLU()]
        layers += up_trunk(top, channels, stages)
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(need_labels(labels, "generator"))], dim=1)
        return self.net(self.project(z).unflatten(1, self.start))


class DCGANDiscriminator(nn.Module):
    """Strided convolutions down to a ``base`` x ``base`` map, flattened into one logit
    (plus a projection term for conditional models). ``norm="none"`` or ``"layer"`` gives
    the WGAN-GP critic, whose per-sample gradient penalty is invalid under BatchNorm."""

    def __init__(self, shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 100,
                 width: int = 64, norm: str = "batch", model: str = "dcgan", d_hidden: int | None = 0) -> None:
        super().__init__()
        channels, base, stages = conv_plan(shape, model)
        width = check_width(width, model)
        if norm not in NORMS:
            raise GanzooError(f"{model}: --set norm must be one of {', '.join(NORMS)}, got {norm!r}")
        if d_hidden is None:  # left to the model: InfoGAN's head on grey images, the paper's on colour
            d_hidden = INFOGAN_HEAD if channels == 1 else 0
        if isinstance(d_hidden, bool) or not isinstance(d_hidden, int) or not 0 <= d_hidden <= WIDTH_MAX:
            raise GanzooError(f"{model}: --set d_hidden must be 0 (the logit straight from the last map) or a "
                              f"number of units such as 1024, at most {WIDTH_MAX:,}, got {d_hidden!r}")
        self.num_classes = num_classes
        # Conditional: the label also enters as constant maps beside the image channels
        # (the one-hot maps of the classic conditional DCGAN), on top of the projection.
        self.label_maps = nn.Embedding(num_classes, embed_dim(num_classes)) if num_classes else None
        extra = embed_dim(num_classes) if num_classes else 0
        self.body, ch = conv_trunk(channels + extra, stages, width, norm)
        self.head = ProjectionHead(ch, base, num_classes, hidden=d_hidden, norm=norm)
        dcgan_init(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.label_maps is not None:
            maps = self.label_maps(need_labels(labels, "discriminator"))[:, :, None, None]
            x = torch.cat([x, maps.expand(-1, -1, x.shape[2], x.shape[3])], dim=1)
        return self.head(self.body(x), labels)


# -- factories named by the model specs -----------------------------------------------------------
def generator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 100, width: int = 64,
              model: str = "dcgan", d_hidden: int | None = 0) -> nn.Module:
    """DCGAN generator for images; vanilla's MLP generator for 2-D points.
    ``model`` only names the entry in error messages (wgan-gp, sngan and acgan reuse it);
    ``d_hidden`` belongs to the discriminator (every option reaches both factories)."""
    if is_points(shape):
        from ganzoo.models import vanilla

        return vanilla.Generator(tuple(shape), num_classes=num_classes, latent_dim=latent_dim)
    return DCGANGenerator(shape, num_classes, latent_dim, width, model)


def discriminator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 100, width: int = 64,
                  d_hidden: int | None = 0) -> nn.Module:
    """DCGAN discriminator for images (projection-conditioned when ``num_classes``);
    vanilla's MLP discriminator for 2-D points. ``d_hidden=None`` picks the head from the
    channel count (see the module docstring)."""
    if is_points(shape):
        from ganzoo.models import vanilla

        return vanilla.Discriminator(tuple(shape), num_classes=num_classes, latent_dim=latent_dim)
    return DCGANDiscriminator(shape, num_classes, latent_dim, width, d_hidden=d_hidden)
