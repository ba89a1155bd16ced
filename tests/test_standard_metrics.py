"""`ganzoo eval --metric fid|kid|is`: the wiring to torch-fidelity, offline.

The Inception weights here are the right network with random values, made in the test:
the figures it gives mean nothing and no test claims a number from them; what is
tested is that every path runs, and that missing or unsafe weights are one line.
"""

import json

import pytest
import torch

from conftest import assert_one_line_error, train_tiny

pytest.importorskip("torch_fidelity")


@pytest.fixture(scope="module")
def random_inception(tmp_path_factory):
    """A state dict of torch-fidelity's InceptionV3, random weights (no download)."""
    from torch import nn
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    mp = pytest.MonkeyPatch()
    mp.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
    mp.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None)
    try:
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"])
    finally:
        mp.undo()
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(nn.Module.state_dict(net), path)
    return path


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    return train_tiny("dcgan", tmp_path_factory.mktemp("fid") / "run", dataset="digits")


def test_fid_kid_is_run_and_are_written(digits_run, random_inception, tmp_path):
    out = tmp_path / "e.json"
    from conftest import invoke

    code, output = invoke("eval", digits_run, "--metric", "fid,kid,is", "-n", "24", "--inception-weights",
                          random_inception, "-o", out)
    assert code == 0, output
    result = json.loads(out.read_text())
    assert result["protocol"] == "inception" and result["n"] == 24 and result["dataset"] == "digits"
    assert {"fid", "kid", "kid_std", "is", "is_std"} <= set(result["metrics"])
    assert all(isinstance(v, float) for v in result["metrics"].values())
    assert "FID (InceptionV3 pool features)" in output and "Inception Score" in output


def test_without_weights_it_says_how_to_get_them_before_any_work(digits_run, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-cache"))
    assert_one_line_error(["eval", digits_run, "--metric", "fid"],
                          "FID, KID and IS need torch-fidelity's InceptionV3 weights "
                          "(weights-inception-2015-12-05-6726825d.pth), which are not in")
    assert_one_line_error(["eval", digits_run, "--metric", "fid", "--inception-weights", tmp_path / "nope.pth"],
                          "does not exist")


def test_weights_that_could_run_code_are_refused(digits_run, tmp_path):
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"fc.weight": torch.zeros(1008, 2048), "hook": print}, unsafe)  # unpickling would call code
    assert_one_line_error(["eval", digits_run, "--metric", "fid", "--inception-weights", unsafe],
                          "is not a plain PyTorch state dict")
    other = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(3)}, other)
    assert_one_line_error(["eval", digits_run, "--metric", "fid", "--inception-weights", other],
                          "does not hold torch-fidelity's InceptionV3 weights")


@pytest.mark.parametrize("args,message", [
    (["--metric", "fdi"], "--metric fdi: choose from classifier (the offline default) or any of fid, kid, is"),
    (["--reference", "mnist5k"], "--reference and --inception-weights go with --metric fid, kid or is"),
])
def test_metric_options_are_checked(digits_run, args, message):
    assert_one_line_error(["eval", digits_run, *args], message)


def test_labels_pick_the_classes_and_their_real_images(random_inception, tmp_path):
    from conftest import invoke
    from test_folders import shapes_folder

    folder = shapes_folder(tmp_path / "shapes", per_class=6)
    run = train_tiny("cdcgan", tmp_path / "run", dataset=f"folder:{folder}", image_size=8, latent_dim=8,
                     options={"width": 8})
    out = tmp_path / "e.json"
    code, output = invoke("eval", run, "--metric", "fid", "-n", "12", "--labels", "triangle",
                          "--inception-weights", random_inception, "-o", out)
    assert code == 0, output
    result = json.loads(out.read_text())
    assert result["labels"] == ["triangle"] and result["real"]["n"] == 6  # the triangles alone
    assert "classes triangle only" in output


def test_a_subsampled_reference_keeps_to_the_classes_of_labels():
    """The seeded subset is drawn among the chosen classes' images, not among all images."""
    from ganzoo.data.images import mnist5k
    from ganzoo.metrics.standard import _pixels, _reference

    data = mnist5k()
    threes = {bytes(p) for p in _pixels(data.floats()[data.y == 3].numpy())}
    picked = _reference("mnist5k", (1, 28, 28), 20, 0, None, False, classes=[3])
    assert len(picked) == 20 and all(bytes(p) in threes for p in picked)
