"""PacGAN (Lin, Khetan, Fanti & Oh 2018, "PacGAN: The power of two samples in
generative adversarial networks", NeurIPS): the networks.

The whole idea fits in one sentence: the discriminator judges *packs* of ``m``
samples, all real or all generated, instead of single samples. A generator that
has collapsed onto a few modes makes packs whose members look alike, which a
packed discriminator sees at once even when every single sample is convincing;
the paper shows packing penalises mode collapse more strongly the larger ``m``,
and that ``m = 2`` already captures most of the gain (its Table 1, grid25).

How packing fits ganzoo's shared training loop
----------------------------------------------
The loop calls ``D(real, labels)`` and ``D(fake, labels)`` with a batch of ``N``
samples and expects ``[N]`` logits. :class:`PackedDiscriminator`
does the packing inside ``forward``:

1. ``N`` must be a multiple of ``pack``; otherwise it raises a one-line
   :class:`ganzoo.GanzooError` naming a batch size that works;
2. consecutive samples ``x[k*m : (k+1)*m]`` form pack ``k`` (the loop draws
   samples independently, so consecutive ones are as good as any): vectors
   ``[N, D]`` become ``[N/m, m*D]``, images ``[N, C, H, W]`` become
   ``[N/m, m*C, H, W]`` (the paper stacks images along the channels);
3. the body scores each pack with one logit, ``[N/m]``;
4. each pack's logit is repeated ``m`` times, ``[N]``.

Every loss in ganzoo averages over the batch, so the mean over the ``N``
repeated logits is exactly the mean over the ``N/m`` packs: the gradients are
those of the paper's packed objective. With a batch of ``N`` samples the
discriminator thus sees ``N/m`` packs per step; the default batch of 120 gives
60, 40 or 30 packs for ``pack`` 2, 3 or 4 (all divide it).

Regularizers that differentiate D with respect to its input (``--reg r1``,
``gp``; the paper uses neither) see each sample's share of its pack's gradient,
times ``m`` (the pack's logit is counted ``m`` times in ``D(x).sum()``). For R1
that makes the penalty ``m`` times the per-pack R1 (divide its weight by ``m``);
the gradient penalty's target norm of 1 then applies per sample, not per pack.

Architectures
-------------
2-D mixtures (grid25, ring8), the paper's synthetic experiments: the generator
has four hidden layers of 400 ReLU units with BatchNorm and a linear output; the
discriminator three hidden layers of 200 maxout units with 5 pieces each. In the
paper its first layer reads the concatenated pack, ``2*m`` values (``--set
point_d=joint``); here, by default, it reads each of the pack's ``m`` points with
the same weights and the next layer reads their ``m*200`` features together
(:class:`SharedFirstBody` says why). Images: DCGAN networks (Radford et al. 2016),
the discriminator's first convolution taking ``m*C`` channels, built from ganzoo's
public building blocks (:mod:`ganzoo.layers`: the conv plan, DCGAN initialisation
and conv trunk) rather than copies of them. Image sides of the form
``base * 2**k`` with ``base`` in 4..7 (8, 28, 32, 64, ...).

Deviations from the paper: the 2-D discriminator's shared first layer (above); the
training recipe is ganzoo's ``vanilla``'s for each kind of data (on the mixtures:
Adam at 2e-4 with betas 0.5/0.999, R1 at 0.1, both rates decayed over the second
half of the run, an EMA generator; batch 120 rather than 100 so that packs of 2 to 6
divide it; 80,000 steps, where ``vanilla`` now trains 100,000, because this
discriminator costs about twice as much per step), so that comparing the two at equal
steps isolates packing, where the paper's
authors trained about 400,000 iterations with lr 1e-4 and beta1 0.8; on images the
latent size is 100. z is drawn from N(0, I) by the engine.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ganzoo import GanzooError
from ganzoo.layers import check_width, conv_plan, conv_trunk, dcgan_init, mlp, up_trunk

POINT_G_HIDDEN = (400, 400, 400, 400)
POINT_D_HIDDEN = (200, 200, 200)
MAXOUT_PIECES = 5
POINT_D_KINDS = ("shared", "joint")
#: Packs larger than this give the discriminator so few packs per batch that it learns little.
MAX_PACK = 16


# -- option checks: every bad value is a one-line error naming the fix ---------------------------
def check_pack(pack: Any) -> int:
    """The ``pack`` option: how many samples the discriminator judges together."""
    if isinstance(pack, bool) or not isinstance(pack, int) or not 1 <= pack <= MAX_PACK:
        raise GanzooError(
            f"pacgan: --set pack must be an integer from 1 to {MAX_PACK} (the paper uses 2 to 4; "
            f"1 is an unpacked GAN), got {pack!r}"
        )
    return pack


def _unconditional(num_classes: int) -> None:
    if num_classes:
        raise GanzooError("pacgan is unconditional: register it with conditional=False (labels are not used)")


# -- generators ----------------------------------------------------------------------------------
class PointGenerator(nn.Module):
    """PacGAN's 2-D generator: four hidden layers of 400 ReLU units with BatchNorm, linear output."""

    def __init__(self, shape: tuple[int, ...], latent_dim: int) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.output_shape = latent_dim, 0, tuple(shape)
        hidden = mlp([latent_dim, *POINT_G_HIDDEN], act=nn.ReLU, norm=True)
        self.net = nn.Sequential(*hidden, nn.Linear(POINT_G_HIDDEN[-1], shape[0]))

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(z)


class ConvGenerator(nn.Module):
    """DCGAN generator: z → linear projection to a ``base`` x ``base`` map → one
    ConvTranspose/BatchNorm/ReLU stage per doubling (halving the channels) → Tanh."""

    def __init__(self, shape: tuple[int, ...], latent_dim: int, width: int) -> None:
        super().__init__()
        channels, base, stages = conv_plan(shape, "pacgan")
        self.latent_dim, self.num_classes, self.output_shape = latent_dim, 0, tuple(shape)
        top = width * 2 ** (stages - 1)
        self.start = (top, base, base)
        self.project = nn.Linear(latent_dim, top * base * base, bias=False)
        layers: list[nn.Module] = [nn.BatchNorm2d(top), nn.ReLU()]
        layers += up_trunk(top, channels, stages)
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(self.project(z).unflatten(1, self.start))


# -- discriminators --------------------------------------------------------------------------------
class Maxout(nn.Module):
    """A linear layer with ``pieces`` outputs per unit, keeping the largest (Goodfellow et al. 2013)."""

    def __init__(self, fan_in: int, fan_out: int, pieces: int = MAXOUT_PIECES) -> None:
        super().__init__()
        self.fan_out, self.pieces = fan_out, pieces
        self.linear = nn.Linear(fan_in, fan_out * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).unflatten(1, (self.fan_out, self.pieces)).amax(dim=2)


def check_point_d(point_d: Any) -> str:
    """The ``point_d`` option: how the 2-D discriminator reads a pack."""
    if point_d not in POINT_D_KINDS:
        raise GanzooError(
            f"pacgan: --set point_d must be {' or '.join(POINT_D_KINDS)} (shared: the first layer reads each "
            f"point with the same weights; joint: the paper's, reading the concatenated pack), got {point_d!r}"
        )
    return str(point_d)


class SharedFirstBody(nn.Module):
    """Scores one pack of 2-D points: the first maxout layer reads each point with the
    same weights, the other two read the pack's concatenated features.

    The paper's body (``joint``) feeds the concatenated pack straight into its first layer,
    whose units each see a blend of every member's coordinates: to notice one point off
    grid25's modes it must carve the same fine 2-D pattern once per member, and within
    ganzoo's step budgets it never started learning there (benchmarks/results/
    mixture-sweeps.md in ganzoo's repository). With the first layer shared, each point
    gets its own 200 features, learnt from every member of every pack, before the pack
    is judged as a whole. This is the paper's network with a first layer ``m`` times
    wider whose weights are tied block by block, so packing is unchanged: the logit is
    still a function of the whole pack."""

    def __init__(self, dim: int, pack: int) -> None:
        super().__init__()
        self.dim, self.pack = dim, pack
        self.first = Maxout(dim, POINT_D_HIDDEN[0])
        self.rest = _maxout_stack(pack * POINT_D_HIDDEN[0], POINT_D_HIDDEN[1:])

    def forward(self, packs: Tensor) -> Tensor:
        members = packs.reshape(packs.shape[0] * self.pack, self.dim)
        return self.rest(self.first(members).reshape(packs.shape[0], -1))


def _maxout_stack(fan_in: int, widths: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers.append(Maxout(fan_in, width))
        fan_in = width
    return nn.Sequential(*layers, nn.Linear(fan_in, 1))


def point_body(dim: int, pack: int, point_d: str) -> nn.Module:
    """Scores one pack of ``pack`` vectors of size ``dim``: three maxout layers of 200 units,
    the first shared by the pack's members or (``joint``) reading the concatenated pack."""
    if point_d == "joint":
        return _maxout_stack(dim * pack, POINT_D_HIDDEN)
    return SharedFirstBody(dim, pack)


def conv_body(shape: tuple[int, ...], pack: int, width: int) -> nn.Module:
    """DCGAN discriminator over ``pack * C`` stacked channels: ganzoo's conv trunk (strided
    4x4 convolutions doubling the channels, BatchNorm after all but the first), flattened
    into one logit. The trunk's layers are spliced into one flat Sequential, so the
    state-dict keys (``body.0.weight``...) are those of checkpoints saved by 0.1.0."""
    channels, base, stages = conv_plan(shape, "pacgan")
    trunk, ch = conv_trunk(channels * pack, stages, width, "batch")
    return dcgan_init(nn.Sequential(*trunk, nn.Flatten(), nn.Linear(ch * base * base, 1)))


class PackedDiscriminator(nn.Module):
    """Judges packs of ``pack`` samples and returns one logit per *sample* (the pack's,
    repeated), so the shared loop and every loss see the ``[N]`` logits they expect."""

    def __init__(self, body: nn.Module, pack: int) -> None:
        super().__init__()
        self.num_classes = 0
        self.pack = pack
        self.body = body

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        n, m = x.shape[0], self.pack
        if n % m:
            fit = max(m, n - n % m)
            raise GanzooError(
                f"pacgan packs {m} samples per discriminator input, so the batch size must be a multiple of {m} "
                f"(got {n}); use --batch-size {fit} or change --set pack"
            )
        packs = x.reshape(n // m, m * x.shape[1], *x.shape[2:])
        return self.body(packs).reshape(n // m).repeat_interleave(m)


# -- factories named by the spec ------------------------------------------------------------------
def generator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 2, pack: int = 2,
              width: int = 64, point_d: str = "joint") -> nn.Module:
    """PacGAN's generator: the 2-D MLP for vector data, DCGAN's for images.
    Packing changes only the discriminator; ``pack`` is accepted (and checked) so one
    ``--set`` reaches both factories."""
    _unconditional(num_classes)
    check_pack(pack)
    check_point_d(point_d)
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        return PointGenerator(shape, latent_dim)
    return ConvGenerator(shape, latent_dim, check_width(width, "pacgan"))


def discriminator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 2, pack: int = 2,
                  width: int = 64, point_d: str = "joint") -> nn.Module:
    """A packed discriminator: maxout MLP for vector data, DCGAN's convolutions for images.

    ``point_d`` defaults to ``joint`` here while the spec's default is ``shared``: a run
    saved by ganzoo-pacgan 0.3 or earlier has no ``point_d`` in its config.json and was
    trained with the joint body, so resuming it rebuilds the network its checkpoint holds."""
    _unconditional(num_classes)
    pack = check_pack(pack)
    point_d = check_point_d(point_d)
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        body = point_body(shape[0], pack, point_d)
    else:
        body = conv_body(shape, pack, check_width(width, "pacgan"))
    return PackedDiscriminator(body, pack)


__all__ = ["ConvGenerator", "Maxout", "PackedDiscriminator", "PointGenerator", "SharedFirstBody", "discriminator",
           "generator"]
