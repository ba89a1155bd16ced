"""The offline colour set ``emoji`` (Noto Color Emoji + Unicode's emoji-test.txt) and its
shipped classifier ``emoji32``, which ``ganzoo eval`` scores emoji generators with."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ganzoo.data import emoji as em
from ganzoo.data.cache import read_arrays
from ganzoo.errors import GanzooError
from ganzoo.metrics import evaluate as ev
from ganzoo.metrics.classifier import heldout_split, load_classifier, weights_path

needs_font = pytest.mark.skipif(not (em.FONT.is_file() and em.EMOJI_TEST.is_file()),
                                reason="apt-get install fonts-noto-color-emoji unicode-data")


@pytest.fixture(scope="module")
def emoji32(tmp_path_factory):
    # The folder conftest points GANZOO_DATA at; a module fixture is made before that is set.
    return em.emoji(data_dir=str(tmp_path_factory.getbasetemp() / "data"))


def _one_line(exc: pytest.ExceptionInfo, expected: str) -> None:
    message = str(exc.value)
    assert "\n" not in message and expected in message, message


# -- the data set -------------------------------------------------------------------------------
@needs_font
def test_emoji_set_shape_labels_and_every_group(emoji32):
    data = emoji32
    assert data.name == "emoji" and data.kind == "images" and data.num_classes == len(em.GROUPS) == 9
    assert data.x.dtype == torch.uint8 and data.x.shape[1:] == (3, 32, 32)
    assert 1700 <= len(data) <= 2100, len(data)  # 1,861 with Debian 12's font and Unicode 15 test file
    assert data.y.dtype == torch.int64 and data.y.min() == 0 and data.y.max() == 8
    counts = torch.bincount(data.y, minlength=9)
    assert (counts >= 50).all(), counts  # every group drawn; natural, unbalanced frequencies
    assert counts[em.GROUPS.index("People & Body")] > 3 * counts[em.GROUPS.index("Activities")]
    corners = data.x[:, :, 0, 0].float()
    assert (corners > 250).float().mean() > 0.8  # drawn on white (flags and signs fill their square)
    assert torch.unique(data.x.view(len(data), -1), dim=0).shape[0] == len(data)  # each bitmap once


@needs_font
def test_emoji_drops_skin_tones_and_the_component_group(tmp_path):
    test_file = tmp_path / "emoji-test.txt"
    test_file.write_text(
        "# group: Smileys & Emotion\n"
        "1F600 ; fully-qualified # 😀 grinning face\n"
        "263A ; unqualified # ☺ smiling face\n"
        "# group: People & Body\n"
        "1F44B ; fully-qualified # 👋 waving hand\n"
        "1F44B 1F3FB ; fully-qualified # 👋🏻 waving hand: light skin tone\n"
        "# group: Component\n"
        "1F3FB ; component # 🏻 light skin tone\n"
        "# group: Flags\n"
        "1F1EB 1F1F7 ; fully-qualified # 🇫🇷 flag: France\n"
        "1F1F2 1F1EB ; fully-qualified # 🇲🇫 flag: St. Martin (France's bitmap)\n"
        "0023 FE0F 20E3 ; fully-qualified # #️⃣ keycap: # (in Symbols really; a sequence through FE0F)\n"
    )
    x, y = em.decode(32, test_file=test_file)
    assert x.shape == (4, 3, 32, 32) and y.tolist() == [0, 1, 8, 8]


@needs_font
def test_emoji_is_deterministic_cached_and_comes_at_64_px(emoji32):
    cache = em.cache_path(32)
    assert cache.is_file()
    again = em.emoji(seed=5)  # from the cache; the seed changes nothing
    assert torch.equal(again.x, emoji32.x) and torch.equal(again.y, emoji32.y)
    big = em.emoji(image_size=64)
    assert big.x.shape == (len(emoji32), 3, 64, 64) and torch.equal(big.y, emoji32.y)
    assert em.cache_path(64) != cache
    fresh_x, fresh_y = em.decode(32)  # straight from the font: what the cache holds
    assert np.array_equal(fresh_x, emoji32.x.numpy()) and np.array_equal(fresh_y, emoji32.y.numpy())


@needs_font
@pytest.mark.parametrize("size", [16, 48, 128])
def test_emoji_refuses_other_sizes(size):
    with pytest.raises(GanzooError) as exc:
        em.emoji(image_size=size)
    _one_line(exc, "--image-size 32 or 64")


@needs_font
@pytest.mark.parametrize("garbage", [b"not a zip archive", None])
def test_emoji_rebuilds_a_corrupt_cache(emoji32, garbage):
    path = em.cache_path(32)
    if garbage is None:  # a whole npz of the wrong shape is as bad as a torn file
        np.savez(path.with_suffix(".tmp.npz"), x=np.zeros((2, 3, 8, 8), np.uint8), y=np.zeros(2, np.int64))
        path.with_suffix(".tmp.npz").replace(path)
    else:
        path.write_bytes(garbage)
    assert read_arrays(path, em.fits(32)) is None
    data = em.emoji()
    assert torch.equal(data.x, emoji32.x) and torch.equal(data.y, emoji32.y)
    assert read_arrays(path, em.fits(32)) is not None  # written again


@needs_font
def test_emoji_cache_that_cannot_be_written_is_skipped(tmp_path, emoji32):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would go")
    data = em.emoji(data_dir=str(blocked))
    assert torch.equal(data.x, emoji32.x)


def test_missing_font_or_unicode_file_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(em, "FONT", tmp_path / "NotoColorEmoji.ttf")
    with pytest.raises(GanzooError) as exc:
        em.emoji()
    _one_line(exc, "apt-get install fonts-noto-color-emoji")
    monkeypatch.undo()
    monkeypatch.setattr(em, "EMOJI_TEST", tmp_path / "emoji-test.txt")
    with pytest.raises(GanzooError) as exc:
        em.emoji()
    _one_line(exc, "apt-get install unicode-data")


def test_damaged_font_is_one_line(tmp_path):
    font = tmp_path / "NotoColorEmoji.ttf"
    font.write_bytes(b"\0\1\0\0" + b"garbage" * 100)
    test_file = tmp_path / "emoji-test.txt"
    test_file.write_text("# group: Smileys & Emotion\n1F600 ; fully-qualified # 😀 grinning face\n")
    with pytest.raises(GanzooError) as exc:
        em.decode(32, font=font, test_file=test_file)
    _one_line(exc, "apt-get install --reinstall fonts-noto-color-emoji")


def test_emoji_is_registered():
    from ganzoo.registry import get_registry

    spec, _ = get_registry().dataset("emoji")
    assert spec.shape == (3, 32, 32) and spec.num_classes == len(em.GROUPS)
    assert ev.protocol_for("emoji", spec.plugin) == "emoji"


# -- the shipped classifier ---------------------------------------------------------------------
@needs_font
def test_emoji_classifier_beats_chance_on_held_out_emoji(emoji32):
    assert weights_path("emoji32").stat().st_size < 3 * 1024 * 1024
    clf = load_classifier("emoji32")
    assert (clf.in_channels, clf.size, clf.num_classes) == (3, 32, 9)
    assert clf.info.get("class_names") and len(json.loads(clf.info["class_names"])) == 9
    _, held = heldout_split(emoji32.y.numpy())
    truth = emoji32.y.numpy()[held]
    accuracy = float((clf.predict(emoji32.floats()[held].numpy()) == truth).mean())
    majority = np.bincount(truth).max() / len(truth)
    assert accuracy > 2.5 * majority, (accuracy, majority)  # ~0.67 against ~0.2
    assert clf.heldout_accuracy == pytest.approx(accuracy, abs=1e-3)  # the figure eval prints is the real one


def test_emoji_classifier_numpy_matches_torch():
    from safetensors.torch import load_file

    from ganzoo.metrics.train_classifier import RECIPES, LeNet

    clf = load_classifier("emoji32")
    recipe = RECIPES["emoji32"]
    net = LeNet(32, clf.kernel, clf.padding, recipe.channels, recipe.hidden, 9, in_channels=3)
    net.load_state_dict(load_file(str(weights_path("emoji32"))))
    x = np.random.default_rng(0).uniform(-1, 1, (9, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(x)).numpy()
    assert np.abs(clf.run(x, batch=4)[1] - expected).max() < 1e-4
    with pytest.raises(GanzooError, match=r"\[N, 3, 32, 32\]"):
        clf.predict(np.zeros((2, 1, 32, 32), np.float32))


# -- ganzoo eval on emoji -----------------------------------------------------------------------
@needs_font
def test_eval_scores_emoji_in_the_emoji_features(emoji32, monkeypatch):
    """'Generators' that copy real emoji of the asked group, or draw noise: the emoji protocol
    scores both in emoji32's features, and tells them apart."""
    monkeypatch.setattr(ev, "MAX_REAL", 500)  # a 500-image reference keeps this quick
    real, real_y = ev._real_images(emoji32, ev.REFERENCE_SEED, 500)
    by_group = [np.flatnonzero(real_y == g) for g in range(9)]

    def copies(z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        assert labels is not None
        rng = np.random.default_rng(len(z))
        return real[[rng.choice(by_group[c]) for c in labels]]

    def noise(z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        return np.random.default_rng(1).uniform(-1, 1, (len(z), 3, 32, 32)).astype(np.float32)

    scoring = ev.FEATURE_SCORING["emoji"]
    good = ev.Evaluated(Path("copies"), "run", "fake", "emoji", 4, 9, (3, 32, 32), copies)
    model, ref, info = ev._features(good, scoring, emoji32, 500, 0)
    assert info["name"] == "emoji32" and info["classes"] == "groups" and info["class_names"][0] == "Smileys & Emotion"
    assert model["num_classes"] == 9 and len(model["class_histogram"]) == 9 and model["classes_covered"] == 9
    assert model["conditional_accuracy"] > 0.75 and ref["conditional_accuracy"] > 0.75
    assert model["precision"] == 1.0 and model["recall"] > 0.4  # every copy lies in the real manifold
    bad = ev.Evaluated(Path("noise"), "run", "fake", "emoji", 4, 9, (3, 32, 32), noise)
    worse, _, _ = ev._features(bad, scoring, emoji32, 500, 0)
    # Noise collapses to a few points in feature space: no real emoji near them (recall), few groups.
    assert worse["recall"] < 0.05 and worse["frechet_distance"] > 10 * model["frechet_distance"]
    assert worse["classes_covered"] <= 3 and worse["conditional_accuracy"] < 0.3
    grey = ev.Evaluated(Path("grey"), "run", "fake", "emoji", 4, 9, (1, 32, 32), noise)
    with pytest.raises(GanzooError, match="holds"):  # a grey generator cannot be scored against emoji
        ev._features(grey, scoring, emoji32, 10, 0)


@needs_font
@pytest.mark.slow
def test_eval_on_an_emoji_run_and_its_onnx_export(tmp_path):
    from conftest import train_tiny

    run = train_tiny("cdcgan", tmp_path / "cdcgan-emoji", dataset="emoji", options={"width": 8})
    result = ev.evaluate(run, n=60)
    assert result["protocol"] == "emoji" and result["classifier"]["name"] == "emoji32"
    assert result["metrics"]["num_classes"] == 9 and "conditional_accuracy" in result["metrics"]
    assert "classes covered (>= 1.11 % each)" in ev.format_report(result)
    export = pytest.importorskip("ganzoo.onnx.export", reason="ONNX export module not available")
    onnx_path = export.export_run(run, output=tmp_path / "cdcgan-emoji.onnx").path
    from_onnx = ev.evaluate(onnx_path, n=60)
    assert from_onnx["protocol"] == "emoji" and from_onnx["classifier"]["name"] == "emoji32"
    assert from_onnx["metrics"]["frechet_distance"] == pytest.approx(result["metrics"]["frechet_distance"], rel=1e-3)


def test_subset_keeps_every_groups_share_and_is_fixed():
    labels = np.repeat(np.arange(3), [500, 300, 200])
    first, again = em.subset_indices(labels, 100), em.subset_indices(labels, 100)
    assert np.array_equal(first, again) and len(np.unique(first)) == 100
    assert np.bincount(labels[first]).tolist() == [50, 30, 20]
    odd = em.subset_indices(np.repeat(np.arange(3), [1, 1, 1]), 2)
    assert len(odd) == 2


@needs_font
def test_emoji_1k_is_a_subset_scored_against_the_whole_set(emoji32, monkeypatch):
    small = em.emoji_1k(data_dir=None)
    assert small.name == "emoji-1k" and len(small) == em.SUBSET and small.num_classes == 9
    full = {bytes(row) for row in emoji32.x.view(len(emoji32), -1).numpy()}
    assert all(bytes(row) in full for row in small.x.view(len(small), -1).numpy())
    assert ev.FEATURE_SCORING["emoji-1k"].reference == "emoji"
    target = ev.Evaluated(path=Path("x"), kind="run", model="dcgan", dataset="emoji-1k", latent_dim=4,
                          num_classes=0, output_shape=(3, 32, 32), generate=lambda z, y: z)
    name, protocol, data = ev._load_data(target, None, False)
    assert name == "emoji-1k" and protocol == "emoji" and len(data) == len(emoji32)
