"""The public building blocks of ganzoo.layers: the contracts plugins rely on when they import them."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from ganzoo import GanzooError
from ganzoo.layers import (
    MAX_EMBED_DIM,
    Dropout,
    ProjectionHead,
    check_width,
    conv_plan,
    conv_trunk,
    dcgan_init,
    embed_dim,
    is_points,
    mlp,
    need_labels,
    norm_layer,
)


# -- conv_plan ------------------------------------------------------------------------------------
@pytest.mark.parametrize("side, base, stages", [(8, 4, 1), (16, 4, 2), (28, 7, 2), (32, 4, 3), (48, 6, 3), (64, 4, 4)])
def test_conv_plan_halves_down_to_a_base_of_4_to_7(side, base, stages):
    assert conv_plan((3, side, side), "mymodel") == (3, base, stages)
    assert base * 2**stages == side


def test_conv_plan_accepts_any_int_like_shape():
    assert conv_plan(torch.Size([1, 28, 28]), "m") == (1, 7, 2)


@pytest.mark.parametrize("shape, fix", [
    ((1, 30, 30), "--image-size 32 or 64"),   # 30 -> 15: odd and above 7
    ((1, 4, 4), "--image-size 32 or 64"),     # no stride-2 stage left
    ((1, 9, 9), "--image-size 32 or 64"),
    ((1, 28, 32), "--image-size 32"),         # not square
    ((4, 4), "images (C, H, W)"),             # neither images nor vectors
    ((1, 2, 8, 8), "images (C, H, W)"),
])
def test_conv_plan_bad_sizes_are_one_line_errors_naming_the_model(shape, fix):
    with pytest.raises(GanzooError) as info:
        conv_plan(shape, "mymodel")
    message = str(info.value)
    assert message.startswith("mymodel ") and fix in message
    assert "\n" not in message


# -- options and small helpers ------------------------------------------------------------------------
def test_check_width_passes_positive_ints():
    assert check_width(1, "m") == 1
    assert check_width(64, "m") == 64


@pytest.mark.parametrize("bad", [0, -3, 2.5, "64", True, None])
def test_check_width_names_the_model_and_the_option(bad):
    with pytest.raises(GanzooError, match=r"^mymodel: --set width must be a positive integer such as 64, at most 4,096, got "):
        check_width(bad, "mymodel")


def test_is_points():
    assert is_points((2,)) and is_points(torch.Size([5]))
    assert not is_points((1, 8, 8)) and not is_points((4, 4))


def test_embed_dim_is_one_hot_wide_then_capped():
    assert embed_dim(10) == 10
    assert embed_dim(MAX_EMBED_DIM) == MAX_EMBED_DIM
    assert embed_dim(1000) == MAX_EMBED_DIM


def test_need_labels():
    labels = torch.tensor([0, 1])
    assert need_labels(labels, "generator") is labels
    with pytest.raises(GanzooError, match="this generator is conditional: pass int64 labels"):
        need_labels(None, "generator")


def test_norm_layer_kinds():
    assert isinstance(norm_layer("batch", 8), nn.BatchNorm2d)
    layer = norm_layer("layer", 8)
    assert isinstance(layer, nn.GroupNorm) and layer.num_groups == 1 and layer.num_channels == 8
    assert isinstance(norm_layer("none", 8), nn.Identity)


# -- conv_trunk -------------------------------------------------------------------------------------
@pytest.mark.parametrize("stages, width, out", [(1, 16, 16), (2, 16, 32), (3, 8, 32), (4, 64, 512)])
def test_conv_trunk_doubles_channels_per_stage(stages, width, out):
    trunk, ch = conv_trunk(3, stages, width, "batch")
    assert ch == out
    side = 4 * 2**stages
    with torch.no_grad():
        h = trunk.eval()(torch.randn(2, 3, side, side))
    assert h.shape == (2, out, 4, 4)


@pytest.mark.parametrize("norm, kind", [("batch", nn.BatchNorm2d), ("layer", nn.GroupNorm), ("none", nn.Identity)])
def test_conv_trunk_layers(norm, kind):
    trunk, _ = conv_trunk(2, 3, 8, norm, slope=0.1)
    convs = [m for m in trunk if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(2, 8), (8, 16), (16, 32)]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) and c.padding == (1, 1) for c in convs)
    # D's input layer is never normalised; a norm after a conv makes its bias redundant.
    assert isinstance(trunk[1], nn.LeakyReLU) and convs[0].bias is not None
    assert all((c.bias is None) == (norm != "none") for c in convs[1:])
    assert [type(m) for m in trunk if not isinstance(m, (nn.Conv2d, nn.LeakyReLU))] == [kind, kind]
    assert all(m.negative_slope == 0.1 for m in trunk if isinstance(m, nn.LeakyReLU))


# -- dcgan_init -------------------------------------------------------------------------------------
def test_dcgan_init_draws_the_paper_distributions():
    torch.manual_seed(0)
    trunk, _ = conv_trunk(3, 3, 64, "batch")
    net = nn.Sequential(trunk, nn.Flatten(), nn.Linear(256 * 16, 8), nn.BatchNorm1d(8))
    embed = nn.Embedding(10, 10)
    net.append(embed)
    before = embed.weight.detach().clone()
    assert dcgan_init(net) is net
    weights = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))])
    assert abs(weights.mean().item()) < 1e-3 and abs(weights.std().item() - 0.02) < 1e-3
    scales = torch.cat([m.weight for m in net.modules() if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d))])
    assert abs(scales.mean().item() - 1.0) < 0.01 and scales.std().item() < 0.05
    biases = [m.bias for m in net.modules() if getattr(m, "bias", None) is not None]
    assert biases and all(torch.count_nonzero(b) == 0 for b in biases)
    assert torch.equal(embed.weight, before), "label embeddings keep their N(0, 1) draw"


def test_dcgan_init_is_deterministic_under_a_seed():
    def build() -> nn.Module:
        torch.manual_seed(3)
        return dcgan_init(conv_trunk(1, 2, 8, "layer")[0])

    a, b = build().state_dict(), build().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


# -- ProjectionHead ---------------------------------------------------------------------------------
def test_projection_head_unconditional():
    head = ProjectionHead(16, 4)
    assert head.embed is None and head.linear.in_features == 16 * 4 * 4
    h = torch.randn(5, 16, 4, 4)
    out = head(h, None)
    assert out.shape == (5,)
    assert torch.allclose(out, head.linear(h.flatten(1)).squeeze(1))


def test_projection_head_conditional_adds_the_projection_term():
    torch.manual_seed(0)
    head = ProjectionHead(16, 7, num_classes=10)
    assert head.embed.weight.shape == (10, 16)
    assert abs(head.embed.weight.std().item() - 0.02) < 0.01
    h, labels = torch.randn(5, 16, 7, 7), torch.tensor([0, 3, 3, 9, 1])
    out = head(h, labels)
    assert out.shape == (5,)
    expected = head.linear(h.flatten(1)).squeeze(1) + (head.embed(labels) * h.mean(dim=(2, 3))).sum(dim=1)
    assert torch.allclose(out, expected)
    with pytest.raises(GanzooError, match="this discriminator is conditional"):
        head(h, None)


def test_projection_head_hidden_layer_sits_between_the_map_and_the_logit():
    torch.manual_seed(0)
    head = ProjectionHead(16, 4, hidden=32, norm="batch").eval()
    assert head.linear.in_features == 32
    linear, norm, act = head.hidden
    assert (linear.in_features, linear.out_features) == (16 * 4 * 4, 32) and linear.bias is None
    assert isinstance(norm, torch.nn.BatchNorm1d) and isinstance(act, torch.nn.LeakyReLU)
    h = torch.randn(5, 16, 4, 4)
    assert torch.allclose(head(h, None), head.linear(act(norm(linear(h.flatten(1))))).squeeze(1))
    critic = ProjectionHead(16, 4, hidden=32, norm="none")
    assert isinstance(critic.hidden[1], torch.nn.Identity) and critic.hidden[0].bias is not None


# -- mlp --------------------------------------------------------------------------------------------
def test_mlp_plain_layers():
    layers = mlp([2, 200, 100])
    assert [type(m) for m in layers] == [nn.Linear, nn.LeakyReLU, nn.Linear, nn.LeakyReLU]
    assert [(m.in_features, m.out_features) for m in layers if isinstance(m, nn.Linear)] == [(2, 200), (200, 100)]
    assert all(m.negative_slope == 0.2 for m in layers if isinstance(m, nn.LeakyReLU))
    assert layers[1] is not layers[3], "each layer gets its own activation module"


def test_mlp_norm_dropout_and_activation():
    layers = mlp([8, 16, 4], act=nn.ReLU, norm=True, dropout=0.3)
    assert [type(m) for m in layers] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, Dropout] * 2
    assert [m.num_features for m in layers if isinstance(m, nn.BatchNorm1d)] == [16, 4]
    assert all(m.p == 0.3 for m in layers if isinstance(m, nn.Dropout))
    layers = mlp((3, 5), act=partial(nn.LeakyReLU, 0.1))
    assert layers[1].negative_slope == 0.1


def test_dropout_keeps_its_share_scales_and_passes_gradients_through_the_kept_units():
    torch.manual_seed(0)
    drop = Dropout(0.3)
    y = drop(torch.ones(4, 250_000))
    kept = y > 0
    assert abs(kept.float().mean().item() - 0.7) < 0.002  # torch.randint's four 16-bit lanes are all used
    assert torch.allclose(y[kept], torch.tensor(1 / 0.7)) and abs(y.mean().item() - 1) < 0.005
    for lane in range(4):  # each of the four 16-bit draws one 64-bit number makes keeps the same share
        assert abs(kept.view(-1, 4)[:, lane].float().mean().item() - 0.7) < 0.004
    x = torch.randn(33, 7, requires_grad=True)  # an element count that is not a multiple of 4
    out = drop(x)
    out.sum().backward()
    assert torch.equal(x.grad != 0, out != 0) and out.dtype == x.dtype
    assert drop(torch.ones(3, dtype=torch.bfloat16)).dtype == torch.bfloat16
    assert torch.equal(drop.eval()(x), x), "eval mode passes its input through"
    assert torch.equal(Dropout(1.0)(torch.ones(5)), torch.zeros(5))
    nearly_all = Dropout(0.99999)(torch.ones(4_000_000))  # 16 bits cannot draw it: torch's own dropout
    assert all(v == 0 or abs(v - 1e5) < 1 for v in nearly_all.unique().tolist())
    assert 0.5 < nearly_all.mean().item() < 1.5
    assert torch.equal(Dropout(0.0)(torch.ones(5)), torch.ones(5))


def test_mlp_splices_into_a_sequential():
    net = nn.Sequential(*mlp([2, 32, 32], norm=True), nn.Linear(32, 1))
    assert net.eval()(torch.randn(6, 2)).shape == (6, 1)
    assert "0.weight" in net.state_dict() and "6.weight" in net.state_dict()


def test_mlp_needs_two_sizes():
    with pytest.raises(GanzooError, match="mlp needs at least an input and one layer size"):
        mlp([4])
