"""``ganzoo eval`` of image-to-image models: the figures (SSIM, PSNR, L1) against values worked
out from their formulas, the baselines, run directories and their exports scoring alike, and
one-line errors for what cannot be scored."""

import json

import numpy as np
import pytest
from conftest import assert_one_line_error, invoke, train_tiny

from ganzoo.errors import GanzooError
from ganzoo.metrics import translation as tr

C1, C2 = 0.01 ** 2, 0.03 ** 2


# -- the figures -----------------------------------------------------------------------------------
def _const(value, shape=(1, 1, 16, 16)):
    return np.full(shape, value, np.float64)


def _ssim_by_loop(x, y, size=11, sigma=1.5):
    """SSIM straight from Wang et al.'s definition: every valid window, its 2-D Gaussian weights
    written out, the weighted means, variances and covariance, the index, then the mean."""
    k = np.arange(size) - (size - 1) / 2
    w = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * sigma ** 2))
    w /= w.sum()
    values = []
    for c in range(x.shape[0]):
        for i in range(x.shape[1] - size + 1):
            for j in range(x.shape[2] - size + 1):
                a, b = x[c, i:i + size, j:j + size], y[c, i:i + size, j:j + size]
                ma, mb = (w * a).sum(), (w * b).sum()
                va, vb = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum()
                cov = (w * (a - ma) * (b - mb)).sum()
                values.append((2 * ma * mb + C1) * (2 * cov + C2) / ((ma ** 2 + mb ** 2 + C1) * (va + vb + C2)))
    return float(np.mean(values))


def test_ssim_of_an_image_with_itself_is_one():
    x = np.random.default_rng(0).random((3, 2, 20, 24))
    assert np.allclose(tr.ssim(x, x), 1.0, atol=1e-12)
    assert np.allclose(tr.ssim(_const(0.0), _const(0.0)), 1.0)


def test_ssim_of_constant_images_is_the_luminance_term_worked_by_hand():
    # flat images: no variance, so the structure term is C2 / C2 = 1 and SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    assert tr.ssim(_const(0.25), _const(0.75))[0] == pytest.approx(0.3751 / 0.6251, rel=1e-12)  # 0.600064
    assert tr.ssim(_const(0.5), _const(0.6))[0] == pytest.approx(0.6001 / 0.6101, rel=1e-12)  # 0.983609
    assert tr.ssim(_const(0.0), _const(1.0))[0] == pytest.approx(C1 / (1 + C1), rel=1e-9)


def test_ssim_of_a_shifted_image_keeps_only_the_luminance_term():
    # y = x + c: the variances and the covariance are equal, so the contrast-structure factor is
    # exactly 1 and each window's index is (2 mx (mx + c) + C1) / (mx^2 + (mx + c)^2 + C1)
    rng = np.random.default_rng(1)
    x = rng.random((1, 1, 13, 13)) * 0.5
    y = x + 0.2
    k = np.arange(11) - 5.0
    w = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / 4.5)
    w /= w.sum()
    means = [(w * x[0, 0, i:i + 11, j:j + 11]).sum() for i in range(3) for j in range(3)]
    want = np.mean([(2 * m * (m + 0.2) + C1) / (m ** 2 + (m + 0.2) ** 2 + C1) for m in means])
    assert tr.ssim(x, y)[0] == pytest.approx(want, rel=1e-10)
    assert tr.ssim(x, y)[0] < 1


def test_ssim_matches_the_definition_window_by_window():
    rng = np.random.default_rng(2)
    x = rng.random((2, 3, 17, 15))
    y = np.clip(x + rng.normal(0, 0.2, x.shape), 0, 1)
    got = tr.ssim(x, y)
    for i in range(2):
        assert got[i] == pytest.approx(_ssim_by_loop(x[i], y[i]), rel=1e-10)
    # symmetric, and noise lowers it
    assert np.allclose(tr.ssim(y, x), got) and (got < 0.9).all()


def test_images_under_11_px_take_the_largest_odd_window_that_fits():
    assert [tr.ssim_window(h, w) for h, w in ((32, 32), (11, 40), (10, 10), (8, 9), (2, 2), (1, 5))] == \
        [11, 11, 9, 7, 1, 1]
    rng = np.random.default_rng(3)
    x, y = rng.random((1, 1, 8, 8)), rng.random((1, 1, 8, 8))
    assert tr.ssim(x, y)[0] == pytest.approx(_ssim_by_loop(x[0], y[0], size=7), rel=1e-10)
    assert tr.gaussian(11).sum() == pytest.approx(1) and tr.gaussian(11)[5] == tr.gaussian(11).max()


def test_psnr_and_l1_of_known_differences():
    assert tr.psnr(_const(0.0), _const(0.1))[0] == pytest.approx(20.0)  # MSE 0.01
    assert tr.psnr(_const(0.2), _const(0.2 + 0.01))[0] == pytest.approx(40.0)  # MSE 1e-4
    assert tr.psnr(_const(0.3), _const(0.3))[0] == tr.PSNR_MAX  # identical: capped, not infinite
    x, y = _const(0.0, (2, 1, 4, 4)), _const(0.0, (2, 1, 4, 4))
    y[1, 0, :2] = 1.0  # half the pixels of image 1 off by 1: MSE 0.5, L1 0.5
    assert tr.psnr(x, y)[1] == pytest.approx(10 * np.log10(2))
    assert tr.l1(x, y).tolist() == [0.0, 0.5]
    figures = tr.image_figures(x, y)
    assert figures["l1"] == pytest.approx(0.25) and figures["psnr"] == pytest.approx((100 + 10 * np.log10(2)) / 2)
    with pytest.raises(GanzooError, match="one shape"):
        tr.psnr(_const(0.0), _const(0.0, (1, 1, 8, 8)))


def test_baselines_follow_the_shapes():
    rng = np.random.default_rng(4)
    low = rng.random((2, 1, 8, 8))
    up = tr.baselines(low, (1, 32, 32))
    assert list(up) == ["bicubic", "nearest"] and up["bicubic"].shape == (2, 1, 32, 32)
    assert np.array_equal(up["nearest"], low.astype(np.float32).repeat(4, axis=2).repeat(4, axis=3))  # Pillow: float32
    assert np.allclose(tr.upscale(_const(0.3, (1, 1, 8, 8)), 4), 0.3, atol=1e-6)  # flat stays flat
    assert up["bicubic"].min() >= 0 and up["bicubic"].max() <= 1  # overshoot clipped
    assert list(tr.baselines(low, (1, 8, 8))) == ["identity"]
    assert list(tr.baselines(low, (3, 8, 8))) == ["grey as RGB"]
    assert tr.baselines(rng.random((1, 3, 8, 8)), (1, 8, 8)) == {}


# -- runs and exports ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("translation-eval")
    return {
        "srgan": train_tiny("srgan", root / "srgan", options={"width": 8, "blocks": 1}),
        "pix2pix": train_tiny("pix2pix", root / "pix2pix", options={"width": 8}),
        "cyclegan": train_tiny("cyclegan", root / "cyclegan", batch_size=2, options={"width": 8, "blocks": 1}),
    }


def _close(a, b, tol=1e-3):
    assert a.keys() == b.keys()
    for k in a:
        assert abs(a[k] - b[k]) <= tol * max(1.0, abs(a[k])), (k, a[k], b[k])


def test_srgan_scores_against_bicubic_and_its_export_agrees(runs, tmp_path):
    from ganzoo.onnx.export import export_run

    code, out = invoke("eval", runs["srgan"])
    assert code == 0, out
    assert "500 held-out pairs (all of them)" in out and "bicubic" in out and "nearest" in out
    assert "PSNR (dB, [0,1] pixels)" in out and "SSIM (11-px Gaussian window" in out
    result = json.loads((runs["srgan"] / "eval.json").read_text())
    assert result["protocol"] == "paired" and result["n"] == result["held_out"] == 500
    assert result["baseline"] == "bicubic" and result["scale"] == 4 and result["ssim_window"] == 11
    # a model that learned nothing gives the same baseline whatever it is: 8 px digits upscaled
    assert 10 < result["baselines"]["bicubic"]["psnr"] < 25 and 0 < result["baselines"]["bicubic"]["ssim"] < 1
    onnx = export_run(runs["srgan"], tmp_path / "srgan.onnx").path
    exported = tr.evaluate(onnx)
    assert exported["source_kind"] == "onnx" and exported["runner"].startswith("onnxruntime")
    _close(exported["metrics"], result["metrics"])
    assert exported["baselines"] == result["baselines"]
    again = tr.evaluate(runs["srgan"], n=50)  # the first 50 held-out pairs, the same way every time
    assert again["n"] == 50 and again == {**tr.evaluate(runs["srgan"], n=50), "seconds": again["seconds"]}


def test_pix2pix_scores_against_the_untranslated_source(runs, tmp_path):
    code, out = invoke("eval", runs["pix2pix"], "-o", tmp_path / "p.json", "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result == json.loads((tmp_path / "p.json").read_text())
    assert result["baseline"] == "identity" and list(result["baselines"]) == ["identity"]
    assert result["dataset"] == "edges2digits" and result["n"] == 500 and result["scale"] == 1
    assert set(result["metrics"]) == {"psnr", "ssim", "l1"}
    report = tr.format_report(result)
    assert "identity = the source itself" in report and "translated by torch, CPU" in report


def test_cyclegan_run_scores_both_ways_and_each_export_its_own(runs, tmp_path):
    from ganzoo.onnx.export import export_run

    code, out = invoke("eval", runs["cyclegan"])
    assert code == 0, out
    assert "250 held-out images per domain" in out
    assert "digits kept, plain -> textured (textured32)" in out and "digits kept, textured -> plain (plain32)" in out
    result = json.loads((runs["cyclegan"] / "eval.json").read_text())
    assert result["protocol"] == "unpaired" and set(result["metrics"]) == {"a2b", "b2a"}
    assert result["classifier"]["a2b"]["name"] == "textured32" and result["classifier"]["b2a"]["name"] == "plain32"
    for way in ("a2b", "b2a"):
        assert set(result["metrics"][way]) == {"digits_kept", "frechet_distance"}
        assert result["real"][way]["digits_kept"] > 0.9  # the classifiers read the real held-out images
    for way in ("a2b", "b2a"):
        onnx = export_run(runs["cyclegan"], tmp_path / f"{way}.onnx", direction=way).path
        exported = tr.evaluate(onnx)
        assert exported["direction"] == way and list(exported["metrics"]) == [way]
        _close(exported["metrics"][way], result["metrics"][way])
        assert exported["real"][way] == result["real"][way]


def test_what_cannot_be_scored_is_one_line(runs, tmp_path):
    from PIL import Image

    assert_one_line_error(["eval", runs["pix2pix"], "--labels", "3"], "drop --labels")
    assert_one_line_error(["eval", runs["srgan"], "--metric", "fid"], "image-to-image model")
    # users' pairs without a test/ folder: nothing held out, nothing to score
    folder = tmp_path / "pairs"
    rng = np.random.default_rng(0)
    for side in ("A", "B"):
        (folder / side).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(folder / side / f"{i}.png")
    run = train_tiny("pix2pix", tmp_path / "run", dataset=f"pairs:{folder}", options={"width": 8}, batch_size=2)
    assert_one_line_error(["eval", run], "holds out no pairs")


def test_the_quality_benchmark_judges_translation_rows_against_their_baselines():
    import importlib.util
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "quality.py"
    spec = importlib.util.spec_from_file_location("quality_translation", script)
    quality = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = quality
    spec.loader.exec_module(quality)
    paired = {"protocol": "paired", "metrics": {"psnr": 17.0, "ssim": 0.7, "l1": 0.03},
              "baselines": {"bicubic": {"psnr": 15.5, "ssim": 0.45, "l1": 0.08}}}
    figures = quality.translation_figures(paired)
    assert figures["bicubic:psnr"] == 15.5 and figures["ssim"] == 0.7
    assert quality.translation_verdict("srgan", "digits-x4", [figures]) == "missed: PSNR 17 < bicubic 15.5 + 2"
    assert quality.translation_verdict("srgan", "digits-x4", [{**figures, "psnr": 17.6}]) == "met"
    unpaired = {"protocol": "unpaired", "metrics": {"a2b": {"digits_kept": 0.95}, "b2a": {"digits_kept": 0.8}},
                "baselines": {"identity": {"a2b": {"digits_kept": 0.2}}}, "real": {}}
    figures = quality.translation_figures(unpaired)
    assert figures["identity:digits_kept_a2b"] == 0.2
    assert quality.translation_verdict("cyclegan", "digits2textured", [figures]) == \
        "missed: digits kept B→A 0.8 < 0.9"
    assert "srgan on digits-x4: PSNR ≥ bicubic's + 2 dB, SSIM > bicubic's" in quality.targets_text()
