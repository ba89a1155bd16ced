"""DiffAugment: what D must see (the paper's transformations) and what training relies on
(differentiable, reproducible under a seed, images only)."""

from __future__ import annotations

import pytest
import torch

from ganzoo import GanzooError
from ganzoo.augment import (
    DEFAULT_POLICY,
    POLICIES,
    Augment,
    check_images,
    parse_augment,
)

ALL = [(p,) for p in POLICIES] + [DEFAULT_POLICY]
IDS = [",".join(p) for p in ALL]


def _images(n: int = 8, c: int = 3, side: int = 32, seed: int = 1) -> torch.Tensor:
    """Images in [-1, 1] with no exact zeros, so zeroed pixels can only come from augmentation."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, side, side, generator=g) * 1.8 - 0.9
    return torch.where(x.abs() < 1e-3, torch.full_like(x, 0.5), x)


# -- contract -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ALL, ids=IDS)
@pytest.mark.parametrize("shape", [(5, 3, 32, 32), (4, 1, 28, 28), (3, 1, 8, 8), (2, 3, 4, 4), (2, 2, 6, 10)])
def test_shape_and_dtype_are_preserved(policy, shape):
    aug = Augment(policy)
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(shape, dtype=dtype) * 2 - 1
        y = aug(x)
        assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
        assert torch.isfinite(y).all()


def test_no_parameters_and_canonical_text():
    aug = Augment()
    assert list(aug.parameters()) == [] and list(aug.buffers()) == []
    assert aug.policy == ("color", "translation", "cutout")
    assert str(aug) == "diffaug:color,translation,cutout"
    assert str(Augment(("color", "translation"))) == "diffaug:color,translation"
    assert "policy=color,translation,cutout" in repr(aug)


@pytest.mark.parametrize("policy", ALL, ids=IDS)
def test_gradients_flow_to_the_input(policy):
    x = _images(4, side=16).requires_grad_()
    torch.manual_seed(0)
    (Augment(policy)(x) * torch.randn(4, 3, 16, 16)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("policy", ALL, ids=IDS)
def test_gradients_are_exact(policy):
    """With the draws fixed by a seed, each augmentation is a differentiable function of x."""
    aug = Augment(policy)

    def seeded(x: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(7)
        return aug(x)

    x = (torch.rand(2, 3, 8, 8, dtype=torch.float64) * 2 - 1).requires_grad_()
    assert torch.autograd.gradcheck(seeded, (x,))


@pytest.mark.parametrize("policy", ALL, ids=IDS)
def test_deterministic_under_a_seed_and_varies_without(policy):
    aug, x = Augment(policy), _images()
    torch.manual_seed(123)
    a = aug(x)
    b = aug(x)
    torch.manual_seed(123)
    assert torch.equal(aug(x), a), "same seed, same augmentation: resume from a checkpointed RNG is exact"
    assert not torch.equal(a, b), "draws advance the global RNG"


def test_randomness_comes_from_torchs_global_rng():
    torch.manual_seed(5)
    Augment()(_images())
    after = torch.rand(1)
    torch.manual_seed(5)
    untouched = torch.rand(1)
    assert not torch.equal(after, untouched)


@pytest.mark.parametrize("policy", ALL, ids=IDS)
def test_each_policy_changes_the_input(policy):
    torch.manual_seed(0)
    x = _images()
    y = Augment(policy)(x)
    changed = (y != x).flatten(1).any(dim=1)
    assert changed.float().mean() >= 0.5, "most samples are transformed"


# -- color ------------------------------------------------------------------------------------------------
def test_color_factors_stay_in_the_papers_ranges():
    """On a constant grey image only brightness acts (saturation and contrast scale
    deviations from means, which are zero), so the shift itself is visible."""
    torch.manual_seed(0)
    x = torch.full((4000, 3, 4, 4), 0.25)
    y = Augment(("color",))(x)
    shift = y[:, 0, 0, 0] - 0.25
    assert torch.allclose(y, y[:, :1, :1, :1].expand_as(y))
    assert -0.5 <= shift.min() < -0.45 and 0.45 < shift.max() <= 0.5
    assert abs(shift.mean().item()) < 0.02


def test_color_is_per_sample():
    torch.manual_seed(0)
    y = Augment(("color",))(torch.zeros(6, 3, 8, 8))
    assert len(set(y[:, 0, 0, 0].tolist())) == 6


def test_color_keeps_a_grey_image_grey_and_saturation_scales_chroma():
    torch.manual_seed(0)
    grey = _images(6, c=1).expand(6, 3, 32, 32).contiguous()
    y = Augment(("color",))(grey)
    assert torch.allclose(y[:, 0], y[:, 1]) and torch.allclose(y[:, 1], y[:, 2])
    # Contrast scales each image's deviation from its mean by c in [0.5, 1.5] (after saturation).
    x = _images(200, c=1)
    torch.manual_seed(1)
    y = Augment(("color",))(x)
    ratio = (y - y.mean(dim=(1, 2, 3), keepdim=True)).std(dim=(1, 2, 3)) / x.std(dim=(1, 2, 3))
    assert ratio.min() >= 0.5 - 1e-4 and ratio.max() <= 1.5 + 1e-4


# -- translation -------------------------------------------------------------------------------------
def _shift_of(x: torch.Tensor, y: torch.Tensor, max_shift: int) -> tuple[int, int]:
    """The (rows, cols) shift with y[i, j] = x[i + dy, j + dx] where in range, zero elsewhere."""
    side = x.shape[-1]
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            expected = torch.zeros_like(x)
            rows, cols = slice(max(0, -dy), min(side, side - dy)), slice(max(0, -dx), min(side, side - dx))
            src_rows, src_cols = slice(max(0, dy), min(side, side + dy)), slice(max(0, dx), min(side, side + dx))
            expected[:, rows, cols] = x[:, src_rows, src_cols]
            if torch.equal(expected, y):
                return dy, dx
    raise AssertionError("output is not a zero-padded whole-pixel shift of the input within the bound")


@pytest.mark.parametrize("side", [8, 28, 32])
def test_translation_is_a_bounded_zero_padded_shift(side):
    torch.manual_seed(0)
    n = 40
    x = _images(n, side=side)
    y = Augment(("translation",))(x)
    values = set(x.unique().tolist()) | {0.0}
    assert set(y.unique().tolist()) <= values, "only original values or zeros"
    assert y.min() >= x.min().clamp(max=0) and y.max() <= x.max().clamp(min=0)
    shifts = [_shift_of(x[i], y[i], int(side / 8 + 0.5)) for i in range(n)]
    assert len(set(shifts)) > 1, "each sample draws its own shift"
    assert max(max(abs(a), abs(b)) for a, b in shifts) == int(side / 8 + 0.5)


# -- cutout ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("side", [4, 7, 8, 28, 32])
def test_cutout_zeroes_one_half_side_square_per_sample(side):
    """Exactly one square of side ``round(side / 2)`` is zeroed, all channels alike, clipped where it
    crosses the border (at least half of it stays in the image), nothing else changes."""
    torch.manual_seed(0)
    n, size = 200, int(side / 2 + 0.5)
    x = _images(n, side=side)
    y = Augment(("cutout",))(x)
    zero = y == 0
    assert torch.equal(zero, zero[:, :1].expand_as(zero)), "the same square in every channel"
    assert torch.equal(y[~zero], x[~zero]), "pixels outside the square are untouched"
    whole = 0
    for i in range(n):
        rows = zero[i, 0].any(dim=1).nonzero().flatten()
        cols = zero[i, 0].any(dim=0).nonzero().flatten()
        r0, r1, c0, c1 = rows.min().item(), rows.max().item(), cols.min().item(), cols.max().item()
        assert zero[i, 0].sum() == (r1 - r0 + 1) * (c1 - c0 + 1), "a filled rectangle"
        assert zero[i, 0, r0:r1 + 1, c0:c1 + 1].all()
        for lo, hi in ((r0, r1), (c0, c1)):
            extent = hi - lo + 1
            assert (size + 1) // 2 <= extent <= size
            assert extent == size or lo == 0 or hi == side - 1, "shorter only where clipped by a border"
        whole += (r1 - r0 + 1, c1 - c0 + 1) == (size, size)
    assert whole >= n // 8, "many positions keep the whole square"


def test_cutout_positions_are_per_sample_and_symmetric():
    torch.manual_seed(0)
    n, side, size = 2000, 8, 4
    cut = Augment(("cutout",))(_images(n, c=1, side=side))[:, 0] == 0
    assert (cut.any(dim=0)).all(), "every pixel is cut in some sample"
    assert len({tuple(m.flatten().tolist()) for m in cut[:50]}) > 10, "each sample draws its own position"
    rows = cut.any(dim=2)  # [n, side]: rows the square covers
    extent = rows.sum(dim=1)
    clipped_top = ((extent < size) & rows[:, 0]).float().mean().item()
    clipped_bottom = ((extent < size) & rows[:, -1]).float().mean().item()
    # The centre is uniform over the image: 9 top edges from -2 to 6, two clipped at each border.
    assert abs(clipped_top - 2 / 9) < 0.04 and abs(clipped_bottom - 2 / 9) < 0.04


# -- refusals and parsing -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(16, 2), (16, 5)])
def test_refuses_vector_data(shape):
    with pytest.raises(GanzooError, match=r"--augment applies to images only") as info:
        Augment()(torch.randn(*shape))
    assert "\n" not in str(info.value)
    with pytest.raises(GanzooError, match=r"applies to images only"):
        check_images((2,))


def test_refuses_other_bad_inputs():
    with pytest.raises(GanzooError, match=r"images \[N, C, H, W\] only"):
        Augment()(torch.randn(2, 8, 8))
    with pytest.raises(GanzooError, match="at least 4x4"):
        Augment()(torch.randn(2, 1, 3, 3))
    with pytest.raises(GanzooError, match="float images"):
        Augment()(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    check_images((3, 4, 4))  # the smallest accepted


@pytest.mark.parametrize("text", [None, "none", "NONE", " none ", ""])
def test_parse_none(text):
    assert parse_augment(text) is None


@pytest.mark.parametrize("text, policy", [
    ("diffaug", ("color", "translation", "cutout")),
    ("DiffAug", ("color", "translation", "cutout")),
    ("diffaug:color,translation", ("color", "translation")),
    ("diffaug: cutout , color", ("cutout", "color")),
    ("diffaug:color", ("color",)),
])
def test_parse_policies(text, policy):
    aug = parse_augment(text)
    assert isinstance(aug, Augment) and aug.policy == policy
    assert parse_augment(str(aug)).policy == policy, "the canonical text parses back"


@pytest.mark.parametrize("text, match", [
    ("diffaug:color,flip", r"unknown DiffAugment policy 'flip'; valid policies: color, translation, cutout"),
    ("diffaug:", "at least one policy"),
    ("diffaug:color,color", "more than once"),
    ("cutmix", r"unknown augmentation 'cutmix'; use none, ada, diffaug or diffaug:POLICY"),
    ("translation", "unknown augmentation"),
    (3, "must be text"),
])
def test_parse_errors_are_one_line(text, match):
    with pytest.raises(GanzooError, match=match) as info:
        parse_augment(text)
    assert "\n" not in str(info.value)
