"""InfoGAN (Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel 2016, "InfoGAN:
Interpretable Representation Learning by Information Maximizing Generative
Adversarial Nets", NeurIPS).

A vanilla GAN gives no say over what it draws: its noise z is used in an entangled
way. InfoGAN splits G's input into noise z and latent codes c and adds to the GAN
game a lower bound on the mutual information I(c; G(z, c)):

    min_{G,Q} max_D  V(D, G) - lambda * L_I(G, Q),
    L_I = E_{c ~ P(c), x ~ G(z, c)}[log Q(c | x)] + H(c)

Q is an auxiliary network that guesses c from a generated image; maximising L_I
forces G to draw images from which c can be read back, so each code ends up
controlling a visible factor, without labels. On MNIST the paper's codes are one
categorical code with 10 values (it captures the digit) and two continuous codes
uniform on [-1, 1] (rotation and width).

Here:
- ``generator`` takes ``codes={"c1": int64 [N], "c2": float [N], "c3": float [N]}``
  beside z; ``c1`` enters one-hot, ``c2``, ``c3`` as they are (``ganzoo.api.Code``
  describes them, so sampling, ``--code`` and ONNX export know them);
- ``discriminator`` returns, from one body pass, the real/fake logit and the shared
  features Q reads (``heads``);
- :class:`MutualInformation` (the ``info`` term, a default of the ``infogan``
  model) owns Q, a small head on D's features trained with D's optimiser, and adds
  lambda * (cross-entropy of the categorical code + Gaussian negative
  log-likelihood of the continuous ones) to both D's and G's loss: in D's update
  through the detached fakes (Q and D's body learn to read the codes), in G's update
  through the fakes' graph (G learns to write them). H(c) is a constant and dropped.

Networks, as the paper's MNIST ones: G is FC 1024 - FC (7x7x128) - two 4x4 stride-2
transposed convolutions (64, 1), BatchNorm and ReLU between, Tanh out; D is two 4x4
stride-2 convolutions (64, 128) with LeakyReLU(0.1) and BatchNorm on the second,
FC 1024 with BatchNorm, and a linear real/fake output; Q is FC 128 - BatchNorm -
LeakyReLU - the codes' parameters. Other image sizes follow ``ganzoo.layers.conv_plan``
(one transposed convolution per doubling); on 2-D points both networks are MLPs.

Deviations:
- z is 62-d N(0, I) (the paper: 62-d uniform noise), as every ganzoo generator's;
- Q models each continuous code as a Gaussian with unit variance (the paper lets Q
  predict the variance too; fixing it is the common, steadier choice), so its term
  is 0.5 * (c - mu)^2;
- lambda is 1 (``--reg info:W`` changes it) and the continuous codes' term counts 0.1
  of it (``--set continuous_weight=W``, relative to the categorical code's; 1 weighs
  all codes alike, as the paper's code does; the paper fixes no value for them). At
  equal weights the continuous codes took over part of the digit's identity on mnist5k
  (one of them turned a c1 value's 5s into 9s along its range), which cost the
  categorical code its hold on the digit (benchmarks/results/image-sweeps.md). Runs
  saved before the option existed keep equal weights when resumed;
- G ends in Tanh for images in [-1, 1] (the paper: sigmoid on [0, 1]).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo.api import Code, Objective, Outputs, Setup, Step, codes_of
from ganzoo.errors import GanzooError
from ganzoo.layers import check_width, conv_plan, dcgan_init, is_points, mlp, up_trunk

#: The paper's MNIST codes: the digit, and two continuous factors (rotation, width).
CODES = (Code("c1", "categorical", size=10), Code("c2", "continuous"), Code("c3", "continuous"))
FEATURES = 1024
POINT_HIDDEN = (400, 400, 400)
Q_HIDDEN = 128


def _unconditional(num_classes: int) -> None:
    if num_classes:
        raise GanzooError("infogan is unsupervised: its codes replace labels; use an unconditional spec")


def encode(codes: tuple[Code, ...], values: dict[str, Tensor], n: int) -> Tensor:
    """The codes as network input columns: one-hot categorical, raw continuous."""
    columns = []
    for code in codes:
        if code.name not in values:
            raise GanzooError(f"infogan generator: missing code '{code.name}' (codes: "
                              f"{', '.join(c.name for c in codes)})")
        value = values[code.name]
        if code.kind == "categorical":
            columns.append(F.one_hot(value.long(), code.size).float())
        else:
            columns.append(value.float().reshape(n, 1))
    return torch.cat(columns, dim=1)


class InfoGANGenerator(nn.Module):
    """(z, codes) → image: FC 1024, FC to the first feature map, transposed convolutions."""

    def __init__(self, shape: tuple[int, ...], latent_dim: int = 62, width: int = 64) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.output_shape = latent_dim, 0, tuple(shape)
        self.codes = CODES
        in_dim = latent_dim + sum(c.width for c in CODES)
        if is_points(shape):
            self.start: tuple[int, ...] = ()
            self.net = nn.Sequential(*mlp([in_dim, *POINT_HIDDEN], nn.ReLU, norm=True),
                                     nn.Linear(POINT_HIDDEN[-1], int(shape[0])))
            return
        channels, base, stages = conv_plan(shape, "infogan")
        top = check_width(width, "infogan") * 2 ** (stages - 1)
        self.start = (top, base, base)
        layers: list[nn.Module] = [*mlp([in_dim, FEATURES, top * base * base], nn.ReLU, norm=True),
                                   nn.Unflatten(1, self.start)]
        layers += up_trunk(top, channels, stages)
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: Tensor, labels: Tensor | None = None, codes: dict[str, Tensor] | None = None) -> Tensor:
        if codes is None:
            raise GanzooError("infogan generator needs its codes: G(z, codes={'c1': ..., 'c2': ..., 'c3': ...})")
        return self.net(torch.cat([z, encode(self.codes, codes, z.shape[0])], dim=1))


class InfoGANDiscriminator(nn.Module):
    """Image → shared features (``heads()["features"]``, what Q reads) → real/fake logit."""

    def __init__(self, shape: tuple[int, ...], width: int = 64) -> None:
        super().__init__()
        self.num_classes = 0
        self.feature_dim = FEATURES
        act = partial(nn.LeakyReLU, 0.1)
        if is_points(shape):
            self.body = nn.Sequential(*mlp([int(shape[0]), *POINT_HIDDEN[:-1], FEATURES], act))
        else:
            channels, base, stages = conv_plan(shape, "infogan")
            ch = check_width(width, "infogan")
            layers: list[nn.Module] = [nn.Conv2d(channels, ch, 4, 2, 1), act()]
            for _ in range(stages - 1):
                layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), act()]
                ch *= 2
            self.body = nn.Sequential(*layers, nn.Flatten(1), *mlp([ch * base * base, FEATURES], act, norm=True))
        self.adversarial = nn.Linear(FEATURES, 1)
        if not is_points(shape):
            dcgan_init(self)

    def heads(self, x: Tensor, labels: Tensor | None = None) -> dict[str, Tensor]:
        h = self.body(x)
        return {"logits": self.adversarial(h).squeeze(1), "features": h}

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.adversarial(self.body(x)).squeeze(1)


def check_continuous_weight(value: object) -> float:
    """The ``continuous_weight`` option: a number from 0 (continuous codes left free) upward."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise GanzooError(f"infogan: --set continuous_weight must be a number >= 0 (the continuous codes' "
                          f"weight relative to the categorical code's; 1 weighs them alike), got {value!r}")
    return float(value)


def generator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 62, width: int = 64,
              continuous_weight: float = 1.0) -> nn.Module:
    """``continuous_weight`` belongs to the ``info`` term and is ignored here; it is accepted
    because a model's options are passed to both factories."""
    _unconditional(num_classes)
    return InfoGANGenerator(tuple(int(s) for s in shape), latent_dim, width)


def discriminator(shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 62, width: int = 64,
                  continuous_weight: float = 1.0) -> nn.Module:
    _unconditional(num_classes)
    return InfoGANDiscriminator(tuple(int(s) for s in shape), width)


class MutualInformation(Objective):
    """The ``info`` term: lambda * -L_I, estimated by Q on D's shared features.

    Needs a generator with ``codes`` and a discriminator whose ``heads`` return
    ``features`` and that says how wide they are (``feature_dim``). The continuous codes'
    part is scaled by the model option ``continuous_weight``; a model without that option
    (or a run saved before it existed) weighs every code alike."""

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = float(weight)
        self.continuous_weight = 1.0
        self.codes: tuple[Code, ...] = ()

    def setup(self, run: Setup) -> None:
        self.codes = codes_of(run.G)
        self.continuous_weight = check_continuous_weight(run.options.get("continuous_weight", 1.0))
        if not self.codes:
            raise GanzooError("--reg info needs a generator with latent codes (the infogan model's); drop --reg info")
        features = getattr(run.D, "feature_dim", None)
        if not callable(getattr(run.D, "heads", None)) or not isinstance(features, int):
            raise GanzooError("--reg info needs a discriminator with shared features (heads() returning "
                              "'features' and a feature_dim attribute, as infogan's); drop --discriminator")
        out = sum(c.width for c in self.codes)
        q = nn.Sequential(*mlp([features, Q_HIDDEN], partial(nn.LeakyReLU, 0.1), norm=True), nn.Linear(Q_HIDDEN, out))
        self.d_modules = {"q": q}

    def _term(self, out: Outputs, codes: dict[str, Tensor]) -> Tensor:
        if "features" not in out:
            raise GanzooError("--reg info: the discriminator's heads() returned no 'features'")
        params = self.d_modules["q"](out["features"])
        loss = params.new_zeros(())
        at = 0
        for code in self.codes:
            if code.kind == "categorical":
                loss = loss + F.cross_entropy(params[:, at:at + code.size], codes[code.name])
                at += code.size
            else:
                loss = loss + self.continuous_weight * 0.5 * (codes[code.name] - params[:, at]).pow(2).mean()
                at += 1
        return self.weight * loss

    def d_terms(self, step: Step) -> dict[str, Tensor]:
        return {"info": self._term(step.d_fake, step.codes)}

    def g_terms(self, step: Step) -> dict[str, Tensor]:
        return {"info": self._term(step.d_fake, step.codes)}
