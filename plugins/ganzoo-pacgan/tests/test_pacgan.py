"""Tests of ganzoo-pacgan: ganzoo's conformance kit first, then what packing must do.

Run from the repository root (after ``pip install -e ./plugins/ganzoo-pacgan``):
``python -m pytest plugins/ganzoo-pacgan/tests -q``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from ganzoo_pacgan.models import discriminator, generator

from ganzoo import GanzooError
from ganzoo.cli import cli
from ganzoo.testing import parametrize_with_checks

POINTS, IMAGES = (2,), (1, 8, 8)


# Everything the plugin registers, on its default 2-D mixture (MLP networks) and on
# 8x8 digits (convolutional networks). The kit's batch of 12 divides into packs of 2.
@parametrize_with_checks(plugin="pacgan", dataset=("grid25", "digits"))
def test_conformance(check):
    check()


def _pack_of(index: int, pack: int) -> list[int]:
    start = index // pack * pack
    return list(range(start, start + pack))


@pytest.mark.parametrize(("shape", "point_d"), [(POINTS, "shared"), (POINTS, "joint"), (IMAGES, "joint")],
                         ids=["points-shared", "points-joint", "images"])
@pytest.mark.parametrize("pack", [1, 2, 3, 4])
def test_a_pack_is_judged_together_and_alone(shape, point_d, pack):
    torch.manual_seed(0)
    D = discriminator(shape, pack=pack, width=8, point_d=point_d).eval()
    x = torch.randn(12, *shape)
    with torch.no_grad():
        out = D(x)
        assert out.shape == (12,)
        by_pack = out.view(12 // pack, pack)
        assert torch.equal(by_pack, by_pack[:, :1].expand_as(by_pack)), "every member carries its pack's logit"
        moved = x.clone()
        moved[5] += 1.0
        changed = (D(moved) != out).nonzero().flatten().tolist()
    assert changed == _pack_of(5, pack), "changing one sample changes its pack's logit and no other"


@pytest.mark.parametrize(("shape", "point_d"), [(POINTS, "shared"), (POINTS, "joint"), (IMAGES, "joint")],
                         ids=["points-shared", "points-joint", "images"])
def test_the_loss_sees_the_packed_objective(shape, point_d):
    """Mean over the N repeated logits == mean over the N/m packs, gradients included."""
    torch.manual_seed(0)
    D = discriminator(shape, pack=3, width=8, point_d=point_d).eval()
    x = torch.randn(12, *shape, requires_grad=True)
    F.softplus(-D(x)).mean().backward()
    via_loop = x.grad.clone()
    x.grad = None
    packs = x.reshape(4, 3 * shape[0], *shape[1:])  # consecutive samples, stacked features / channels
    F.softplus(-D.body(packs).flatten()).mean().backward()
    assert torch.allclose(via_loop, x.grad, atol=1e-7)


def test_images_are_stacked_along_channels():
    torch.manual_seed(0)
    D = discriminator(IMAGES, pack=2, width=8).eval()
    x = torch.randn(4, *IMAGES)
    with torch.no_grad():
        direct = D.body(torch.cat([x[2], x[3]], dim=0).unsqueeze(0))
        assert torch.allclose(D(x)[2:], direct.flatten().expand(2))


def test_a_batch_that_does_not_divide_is_a_one_line_error(tmp_path):
    D = discriminator(POINTS, pack=4)
    with pytest.raises(GanzooError, match=r"multiple of 4 \(got 10\); use --batch-size 8 or change --set pack"):
        D(torch.randn(10, 2))
    result = CliRunner().invoke(cli, ["train", "pacgan", "--dataset", "ring8", "--steps", "2", "--batch-size", "10",
                                      "--set", "pack=3", "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 2 and "use --batch-size 9" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.parametrize("bad", ["both", "", None, 1])
def test_bad_point_d_values_name_the_fix(bad):
    with pytest.raises(GanzooError, match=r"^pacgan: --set point_d must be shared or joint"):
        discriminator(POINTS, point_d=bad)


@pytest.mark.parametrize("bad", [0, 17, 2.5, "2", True, None])
def test_bad_pack_values_name_the_fix(bad):
    with pytest.raises(GanzooError, match=r"--set pack must be an integer from 1 to 16"):
        discriminator(POINTS, pack=bad)
    with pytest.raises(GanzooError, match=r"--set pack"):
        generator(POINTS, pack=bad)


def test_other_bad_inputs_name_the_fix():
    with pytest.raises(GanzooError, match="unconditional"):
        generator(IMAGES, num_classes=10)
    with pytest.raises(GanzooError, match=r"^pacgan cannot build a conv stack for 9x9 images; .*--image-size"):
        discriminator((1, 9, 9))
    with pytest.raises(GanzooError, match=r"^pacgan needs square images, got 8x16; pass --image-size 16"):
        generator((1, 8, 16))
    with pytest.raises(GanzooError, match=r"^pacgan: --set width must be a positive integer"):
        generator(IMAGES, width=0)
    with pytest.raises(GanzooError, match=r"^pacgan: --set width"):
        discriminator(IMAGES, width="wide")


def test_image_networks_are_built_from_ganzoo_layers():
    """The plugin imports ganzoo's public building blocks instead of copying them: the packed
    body is ganzoo's conv trunk over m*C channels, then one linear logit, DCGAN-initialised."""
    from ganzoo_pacgan import models

    import ganzoo.layers

    for name in ("conv_plan", "conv_trunk", "dcgan_init", "check_width"):
        assert getattr(models, name) is getattr(ganzoo.layers, name)
    torch.manual_seed(0)
    D = discriminator((3, 32, 32), pack=2, width=8)
    torch.manual_seed(0)
    trunk, ch = ganzoo.layers.conv_trunk(6, 3, 8, "batch")
    expected = ganzoo.layers.dcgan_init(torch.nn.Sequential(*trunk, torch.nn.Flatten(), torch.nn.Linear(ch * 16, 1)))
    assert repr(D.body) == repr(expected)
    got, want = D.body.state_dict(), expected.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)


def _maxouts(D: torch.nn.Module) -> list[tuple[int, int, int]]:
    return [(m.linear.in_features, m.fan_out, m.pieces) for m in D.modules() if type(m).__name__ == "Maxout"]


def test_the_paper_architecture_on_points():
    G, D = generator(POINTS, latent_dim=2), discriminator(POINTS, pack=4, point_d="joint")
    linears = [m for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [400, 400, 400, 400, 2]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in G.modules()) == 4
    assert _maxouts(D) == [(8, 200, 5), (200, 200, 5), (200, 200, 5)]


def test_the_shared_first_layer_is_the_papers_with_tied_blocks():
    """point_d=shared (the spec's default) equals the paper's joint body whose first layer is
    m times wider with the same weights in each member's block: still one judgment per pack."""
    torch.manual_seed(0)
    m = 3
    D = discriminator(POINTS, pack=m, point_d="shared").eval()
    assert _maxouts(D) == [(2, 200, 5), (m * 200, 200, 5), (200, 200, 5)]
    first = D.body.first.linear
    tied = torch.nn.Linear(2 * m, first.out_features * m)
    with torch.no_grad():
        tied.weight.copy_(torch.block_diag(*[first.weight] * m))
        tied.bias.copy_(first.bias.repeat(m))
    x = torch.randn(12, 2)
    with torch.no_grad():
        features = tied(x.reshape(4, 2 * m)).unflatten(1, (m, first.out_features // 5, 5)).amax(dim=3).flatten(1)
        assert torch.allclose(D(x), D.body.rest(features).flatten().repeat_interleave(m), atol=1e-6)


def test_runs_saved_before_point_d_resume_with_the_joint_body(tmp_path):
    """A 0.3 run's config.json has no point_d: the factory's default rebuilds the joint body
    its checkpoint holds (the 0.3 state-dict keys), while new runs get the spec's shared one."""
    old_keys = ["body.0.linear.weight", "body.0.linear.bias", "body.1.linear.weight", "body.1.linear.bias",
                "body.2.linear.weight", "body.2.linear.bias", "body.3.weight", "body.3.bias"]
    assert list(discriminator(POINTS, pack=4).state_dict()) == old_keys
    runner = CliRunner()
    args = ["train", "pacgan", "--dataset", "ring8", "--steps", "4", "--batch-size", "8", "--device", "cpu", "-q"]
    result = runner.invoke(cli, [*args, "--out", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "new" / "config.json").read_text())["options"]["point_d"] == "shared"
    # A 0.3 run: the joint body, and no point_d in its config.json.
    result = runner.invoke(cli, [*args, "--set", "point_d=joint", "--out", str(tmp_path / "old")])
    assert result.exit_code == 0, result.output
    config_path = tmp_path / "old" / "config.json"
    config = json.loads(config_path.read_text())
    del config["options"]["point_d"]
    config_path.write_text(json.dumps(config))
    result = runner.invoke(cli, ["train", "--resume", str(tmp_path / "old"), "--steps", "6", "-q"])
    assert result.exit_code == 0, result.output


def test_listed_with_its_version():
    proc = subprocess.run([sys.executable, "-m", "ganzoo", "list", "models", "pacgan", "--json"],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["plugin"] == "pacgan" and row["version"] == version("ganzoo-pacgan")
    assert row["dataset"] == "grid25" and row["conditional"] is False


def test_train_export_generate_eval_like_a_builtin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def ok(*args: str) -> str:
        result = runner.invoke(cli, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    ok("train", "pacgan", "--dataset", "grid25", "--steps", "20", "--batch-size", "24", "--set", "pack=4",
       "--device", "cpu", "--out", "run", "-q")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["options"]["pack"] == 4 and config["versions"]["pacgan"] == version("ganzoo-pacgan")
    assert "verified" in ok("export", "run", "--onnx", "-o", "pacgan.onnx")
    ok("generate", "pacgan.onnx", "-n", "200", "-o", "points.png", "--npy", "points.npy")
    assert (tmp_path / "points.png").is_file() and (tmp_path / "points.npy").is_file()
    ok("eval", "run", "--n", "500")
    result = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert result["protocol"] == "mixture" and result["metrics"]["num_modes"] == 25
