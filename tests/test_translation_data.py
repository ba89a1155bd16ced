"""Translation sets (ganzoo.data.pairs): the built-in paired and unpaired sets derived from mnist5k
and emoji, users' pairs:PATH and domains:PATH folders, and the shipped ``textured32`` classifier."""

import json
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganzoo.data import emoji as em
from ganzoo.data import pairs as P
from ganzoo.errors import GanzooError
from ganzoo.metrics.classifier import heldout_split, load_classifier, resize_images, weights_path
from ganzoo.registry import get_registry

needs_font = pytest.mark.skipif(not (em.FONT.is_file() and em.EMOJI_TEST.is_file()),
                                reason="apt-get install fonts-noto-color-emoji unicode-data")

DIGIT_SETS = {"edges2digits": P.edges2digits, "digits-x4": P.digits_x4, "masked-digits": P.masked_digits}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    # The folder conftest points GANZOO_DATA at; a module fixture is made before that is set.
    return str(tmp_path_factory.getbasetemp() / "data")


@pytest.fixture(scope="module")
def loaded(data_dir):
    return {name: loader(data_dir=data_dir) for name, loader in
            [*DIGIT_SETS.items(), ("digits2textured", P.digits2textured)]}


def _one_line(exc: pytest.ExceptionInfo, *expected: str) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    for text in expected:
        assert text in message, message
    return message


def _keys(x: torch.Tensor) -> set[bytes]:
    return {row.tobytes() for row in x.numpy()}


# -- the built-in sets ------------------------------------------------------------------------------
@pytest.mark.parametrize("name,source_shape,domains", [
    ("edges2digits", (1, 32, 32), ("edges", "digits")),
    ("digits-x4", (1, 8, 8), ("8px", "32px")),
    ("masked-digits", (1, 32, 32), ("masked", "digits")),
])
def test_paired_digit_sets_shapes_labels_and_balanced_held_out(loaded, name, source_shape, domains):
    data = loaded[name]
    assert (data.name, data.kind, data.domains, data.held_out) == (name, "pairs", domains, 500)
    assert data.x.shape == (5000, 1, 32, 32) and data.source.shape == (5000, *source_shape)
    assert data.x.dtype == data.source.dtype == torch.uint8 and data.source_y is None
    assert data.num_classes == 10 and data.class_names == [str(d) for d in range(10)]
    assert torch.bincount(data.y[-500:]).tolist() == [50] * 10  # the held-out block: 50 of every class
    assert torch.bincount(data.y[:-500]).tolist() == [450] * 10
    assert data.y[:10].tolist() == data.y[-10:].tolist() == list(range(10))  # interleaved: any prefix balanced
    assert not _keys(data.x[-500:]) & _keys(data.x[:-500])  # no held-out digit is trained on
    assert data.x[:, :, :2].max() == 0 and data.x[:, :, :, -2:].max() == 0  # mnist5k padded by 2 px


def test_digit_order_covers_mnist5k_once_and_holds_out_the_last_of_each_class():
    labels = np.repeat(np.arange(10), 500)
    order, held = P._digit_order(labels)
    assert held == 500 and sorted(order.tolist()) == list(range(5000))
    assert set(order[-500:].tolist()) == {c * 500 + k for c in range(10) for k in range(450, 500)}
    half_a, held_a = P._digit_order(labels, P.HALF_PER_CLASS, P.HELD_PER_DOMAIN_CLASS, part=0)
    half_b, _ = P._digit_order(labels, P.HALF_PER_CLASS, P.HELD_PER_DOMAIN_CLASS, part=1)
    assert held_a == 250 and len(half_a) == len(half_b) == 2500 and not set(half_a) & set(half_b)


def test_sets_are_deterministic_and_ignore_the_run_seed(loaded, data_dir):
    for name, loader in DIGIT_SETS.items():
        again = loader(data_dir=data_dir, seed=7)
        first = loaded[name]
        assert torch.equal(again.x, first.x) and torch.equal(again.source, first.source)
        assert torch.equal(again.y, first.y)
    again = P.digits2textured(data_dir=data_dir, seed=3)
    assert torch.equal(again.x, loaded["digits2textured"].x)
    assert torch.equal(again.source, loaded["digits2textured"].source)


def test_x4_source_is_the_area_downsampled_target(loaded):
    data = loaded["digits-x4"]
    assert torch.equal(F.avg_pool2d(data.x.float(), 4).round().to(torch.uint8), data.source)


def test_edges_are_a_one_pixel_outline_outside_the_stroke(loaded):
    data = loaded["edges2digits"]
    edge, ink = data.source > 0, data.x > 127
    assert set(data.source.unique().tolist()) == {0, 255}
    assert not bool((edge & ink).any())  # outside the stroke
    padded = F.pad(ink.float(), (1, 1, 1, 1))
    touching = (padded[..., :-2, 1:-1] + padded[..., 2:, 1:-1] + padded[..., 1:-1, :-2] + padded[..., 1:-1, 2:]) > 0
    assert bool((touching[edge]).all())  # every edge pixel touches the stroke
    assert bool(((touching & ~ink) == edge).all())  # and every pixel that does is an edge
    assert bool((edge.flatten(1).sum(1) > 20).all())  # a digit's outline, never an empty image


def test_masked_source_is_the_target_but_for_one_grey_square(loaded):
    data = loaded["masked-digits"]
    diff = data.source != data.x
    assert bool((data.source[diff] == 128).all())
    rows, cols = diff.any(3)[:, 0], diff.any(2)[:, 0]  # [N, 32] each
    for r, c in zip(rows.numpy()[::97], cols.numpy()[::97]):
        if r.any():
            assert np.ptp(np.flatnonzero(r)) < 12 and np.ptp(np.flatnonzero(c)) < 12
    grey = (data.source == 128).flatten(1).sum(1)
    assert bool((grey >= 144).all())  # the whole 12x12 hole is grey, whatever lay under it
    corners = P.hole_corners(5000, 32)
    assert corners.min() >= 4 and corners.max() <= 32 - 4 - 12  # inside the digits' box
    assert np.array_equal(corners, P.hole_corners(5000, 32))


def test_unpaired_set_has_disjoint_labelled_domains(loaded, data_dir):
    data = loaded["digits2textured"]
    assert (data.kind, data.domains, data.held_out) == ("domains", ("plain", "textured"), 250)
    assert data.x.shape == data.source.shape == (2500, 3, 32, 32) and data.x.dtype == data.source.dtype == torch.uint8
    assert torch.equal(data.source[:, 0], data.source[:, 1]) and torch.equal(data.source[:, 1], data.source[:, 2])
    for labels in (data.y, data.source_y):
        assert torch.bincount(labels[-250:]).tolist() == [25] * 10
        assert torch.bincount(labels[:-250]).tolist() == [225] * 10
    digits, labels = P._padded_digits(32, data_dir)
    order_b, _ = P._digit_order(labels, 250, 25, part=1)
    assert not _keys(data.source[:, :1]) & _keys(digits[torch.from_numpy(order_b)])  # B's digits are not A's
    assert float(data.x.float().std()) > 60  # colour textures, not a plain background
    assert torch.equal(P.textures(8, 32), P.textures(8, 32))


@pytest.mark.parametrize("loader", [P.edges2digits, P.digits2textured])
def test_digit_sets_come_at_64_px_and_refuse_other_sizes(loader, data_dir):
    with pytest.raises(GanzooError) as exc:
        loader(data_dir=data_dir, image_size=48)
    _one_line(exc, "32 or 64 px, not 48", "--image-size 32 or 64")


def test_x4_at_64_px_keeps_the_factor(data_dir):
    data = P.digits_x4(data_dir=data_dir, image_size=64)
    assert data.x.shape == (5000, 1, 64, 64) and data.source.shape == (5000, 1, 16, 16)
    assert data.domains == ("16px", "64px")
    assert torch.equal(F.avg_pool2d(data.x.float(), 4).round().to(torch.uint8), data.source)


def test_registered_specs_say_what_they_hold():
    reg = get_registry()
    expected = {"edges2digits": ("pairs", (1, 32, 32), (1, 32, 32), 10),
                "digits-x4": ("pairs", (1, 32, 32), (1, 8, 8), 10),
                "masked-digits": ("pairs", (1, 32, 32), (1, 32, 32), 10),
                "digits2textured": ("domains", (3, 32, 32), (3, 32, 32), 10),
                "emoji-x4": ("pairs", (3, 32, 32), (3, 8, 8), 9),
                "grey2emoji": ("pairs", (3, 32, 32), (1, 32, 32), 9)}
    for name, (kind, shape, source_shape, classes) in expected.items():
        spec = reg.get("dataset", name)
        assert (spec.kind, spec.shape, spec.source_shape, spec.num_classes) == (kind, shape, source_shape, classes)
        assert spec.summary.startswith(f"{kind}:") and "derived from" in spec.source
    for name in ("pairs", "domains"):
        spec, arg = reg.dataset(f"{name}:./photos")
        assert (spec.kind, spec.takes_argument, arg) == (name, True, "./photos")


# -- the emoji sets ---------------------------------------------------------------------------------
@needs_font
def test_emoji_sets_relation_and_stratified_held_out(data_dir):
    x4 = P.emoji_x4(data_dir=data_dir)
    grey = P.grey2emoji(data_dir=data_dir)
    n = len(x4)
    assert x4.kind == grey.kind == "pairs" and x4.held_out == grey.held_out == round(0.1 * n)
    assert x4.x.shape == (n, 3, 32, 32) and x4.source.shape == (n, 3, 8, 8) and grey.source.shape == (n, 1, 32, 32)
    assert torch.equal(x4.x, grey.x) and torch.equal(x4.y, grey.y) and x4.num_classes == 9
    assert torch.equal(F.avg_pool2d(x4.x.float(), 4).round().to(torch.uint8), x4.source)
    rgb = grey.x.to(torch.int64)
    luma = (299 * rgb[:, 0] + 587 * rgb[:, 1] + 114 * rgb[:, 2] + 500) // 1000
    assert torch.equal(luma.to(torch.uint8), grey.source[:, 0])
    every, held = torch.bincount(x4.y, minlength=9), torch.bincount(x4.y[-x4.held_out:], minlength=9)
    assert bool(((held - every * 0.1).abs() <= 1).all())  # every group at its share
    assert not _keys(x4.x[-x4.held_out:]) & _keys(x4.x[:-x4.held_out])
    big = P.emoji_x4(data_dir=data_dir, image_size=64)
    assert big.x.shape == (n, 3, 64, 64) and big.source.shape == (n, 3, 16, 16) and torch.equal(big.y, x4.y)
    with pytest.raises(GanzooError) as exc:
        P.grey2emoji(data_dir=data_dir, image_size=128)
    _one_line(exc, "grey2emoji", "--image-size 32 or 64")


# -- users' folders ---------------------------------------------------------------------------------
def _save(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)


def _colour(value, size=32, grey=False):
    shape = (size, size) if grey else (size, size, 3)
    return np.full(shape, value, np.uint8)


def _side_by_side(folder, count=4, size=32):
    for i in range(count):
        left = np.stack([np.full((size, size), 10 * i, np.uint8)] * 3, 2)  # grey sources
        right = np.zeros((size, size, 3), np.uint8)
        right[..., i % 3] = 200  # coloured targets
        _save(folder / f"{i:03d}.png", np.concatenate([left, right], 1))


def test_pairs_side_by_side_folder_and_zip(tmp_path):
    _side_by_side(tmp_path / "sbs")
    data = P.pairs(str(tmp_path / "sbs"))
    assert (data.kind, data.held_out, data.domains, data.y) == ("pairs", 0, ("A", "B"), None)
    assert data.source.shape == (4, 1, 32, 32) and data.x.shape == (4, 3, 32, 32)  # a grey side is one channel
    assert data.source[:, 0, 0, 0].tolist() == [0, 10, 20, 30] and data.x[1, :, 5, 5].tolist() == [0, 200, 0]
    archive = tmp_path / "sbs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted((tmp_path / "sbs").iterdir()):
            zf.write(f, f"train/{f.name}")
        zf.write(tmp_path / "sbs" / "000.png", "test/000.png")
    zipped = P.pairs(str(archive), image_size=16)
    assert zipped.x.shape == (5, 3, 16, 16) and zipped.held_out == 1  # pix2pix's train/ and test/
    assert P.pairs(str(tmp_path / "sbs")).x.equal(data.x)


def test_pairs_a_b_folders_match_by_name_and_keep_a_super_resolution_factor(tmp_path, capsys):
    root = tmp_path / "sr"
    for i in range(3):
        _save(root / "A" / f"img{i}.png", _colour(50 * i, 16))
        _save(root / "B" / f"img{i}.bmp", _colour(50 * i + 1, 64))  # the suffix may differ
    data = P.pairs(str(root))
    assert data.source.shape == (3, 1, 16, 16) and data.x.shape == (3, 1, 64, 64) and data.held_out == 0
    assert data.source[:, 0, 0, 0].tolist() == [0, 50, 100] and data.x[:, 0, 0, 0].tolist() == [1, 51, 101]
    smaller = P.pairs(str(root), image_size=32)
    assert smaller.source.shape == (3, 1, 8, 8) and smaller.x.shape == (3, 1, 32, 32)
    capsys.readouterr()


def test_domains_a_b_and_cyclegan_layouts(tmp_path):
    for i in range(5):
        _save(tmp_path / "ab" / "A" / f"{i}.png", _colour(i, 32, grey=True))
    for i in range(3):
        _save(tmp_path / "ab" / "B" / "sub" / f"{i}.jpg", _colour((200, 0, 0)))
    data = P.domains(str(tmp_path / "ab"))
    assert (data.kind, data.held_out) == ("domains", 0)
    assert data.source.shape == (5, 1, 32, 32) and data.x.shape == (3, 3, 32, 32)
    cg = tmp_path / "cyclegan"
    for folder, count in (("trainA", 4), ("trainB", 6), ("testA", 3), ("testB", 2)):
        for i in range(count):
            _save(cg / folder / f"{i}.png", _colour((i, 100, 200)))
    data = P.domains(str(cg))
    assert data.held_out == 2 and len(data.source) == 6 and len(data) == 8  # testA's third image left out


@pytest.mark.parametrize("make,flag,expected", [
    (lambda p: p / "missing", "pairs", ["does not exist", "pairs:PATH"]),
    (lambda p: (p / "notes.txt").write_text("hi") and p / "notes.txt", "pairs",
     ["neither a folder nor a zip archive"]),
    (lambda p: (p / "empty").mkdir() or p / "empty", "domains", ["holds no images", "A/ (source domain)"]),
])
def test_bad_paths_are_one_line(tmp_path, make, flag, expected):
    path = make(tmp_path)
    with pytest.raises(GanzooError) as exc:
        getattr(P, flag)(str(path))
    _one_line(exc, *expected)


def _a_without_b(root):
    _save(root / "A" / "x.png", _colour(0))


def _lonely(root):
    for name in ("x", "y"):
        _save(root / "A" / f"{name}.png", _colour(0))
    _save(root / "B" / "x.png", _colour(0))


def _twice(root):
    _save(root / "A" / "x.png", _colour(0))
    _save(root / "A" / "x.bmp", _colour(0))
    _save(root / "B" / "x.png", _colour(0))


def _odd(root):
    _save(root / "a.png", np.zeros((32, 65, 3)))


def _aspect(root):
    _save(root / "A" / "x.png", np.zeros((32, 32, 3)))
    _save(root / "B" / "x.png", np.zeros((32, 48, 3)))


def _stray(root):
    _save(root / "A" / "x.png", _colour(0))
    _save(root / "B" / "x.png", _colour(0))
    _save(root / "loose.png", _colour(0))


def _not_an_image(root):
    _save(root / "A" / "x.png", _colour(0))
    (root / "B").mkdir()
    (root / "B" / "x.png").write_bytes(b"not a png at all")


def _tiny(root):
    for i in range(3):
        _save(root / f"{i}.png", np.zeros((64, 128, 3)))
    _save(root / "small.png", np.zeros((8, 16, 3)))


@pytest.mark.parametrize("build,expected", [
    (_a_without_b, ["A' has no partner folder B/", "same file names"]),
    (_lonely, ["A/y.png' has no partner in B/", "add B/y.* or remove it"]),
    (_twice, ["have one name", "rename or remove one"]),
    (_odd, ["a.png' is 65 px wide, an odd width", "crop one column off"]),
    (_aspect, ["is 32x32 px but its partner", "is 48x32", "crop or resize one"]),
    (_stray, ["loose.png' is outside A/, B/", "move it out"]),
    (_not_an_image, ["cannot read image", "B/x.png", "remove or replace the file"]),
    (_tiny, ["small.png' is 8 px on its shorter side", "--image-size 64"]),
])
def test_bad_pairs_folders_are_one_line_naming_the_file(tmp_path, build, expected):
    root = tmp_path / "data"
    root.mkdir()
    build(root)
    with pytest.raises(GanzooError) as exc:
        P.pairs(str(root))
    _one_line(exc, *expected)


def test_bad_domains_folders_are_one_line(tmp_path):
    _side_by_side(tmp_path / "flat", count=1)
    with pytest.raises(GanzooError) as exc:
        P.domains(str(tmp_path / "flat"))
    _one_line(exc, "has no A/ and B/ sub-folders", "trainA/")
    for folder in ("testA", "testB"):
        _save(tmp_path / "tests-only" / folder / "0.png", _colour(0))
    with pytest.raises(GanzooError) as exc:
        P.domains(str(tmp_path / "tests-only"))
    _one_line(exc, "trainA' holds no images to train on")
    _save(tmp_path / "cg" / "trainA" / "0.png", _colour(0))
    with pytest.raises(GanzooError) as exc:
        P.domains(str(tmp_path / "cg"))
    _one_line(exc, "trainA' has no partner folder trainB/")
    _save(tmp_path / "cg" / "trainB" / "0.png", _colour(0))
    _save(tmp_path / "cg" / "testB" / "0.png", _colour(0))
    with pytest.raises(GanzooError) as exc:
        P.domains(str(tmp_path / "cg"))
    _one_line(exc, "testB' has no partner folder testA/")


# -- the shipped classifier of the textured domain ----------------------------------------------------
def test_textured_classifier_reads_the_textured_digits(loaded):
    data = loaded["digits2textured"]
    assert weights_path("textured32").stat().st_size < 2 * 1024 * 1024
    clf = load_classifier("textured32")
    assert (clf.in_channels, clf.size, clf.num_classes) == (3, 32, 10)
    assert json.loads(clf.info["class_names"]) == [str(d) for d in range(10)]
    x, y = data.floats()[:-data.held_out].numpy(), data.y[:-data.held_out].numpy()  # trained on the training part
    _, held = heldout_split(y)
    accuracy = float((clf.predict(x[held]) == y[held]).mean())
    assert accuracy >= 0.97 and clf.heldout_accuracy == pytest.approx(accuracy, abs=1e-3)
    block = float((clf.predict(data.floats()[-250:].numpy()) == data.y[-250:].numpy()).mean())
    assert block >= 0.95  # the set's own held-out block, never trained on either


def test_textured_classifier_numpy_matches_torch():
    from safetensors.torch import load_file

    from ganzoo.metrics.train_classifier import RECIPES, LeNet

    clf = load_classifier("textured32")
    recipe = RECIPES["textured32"]
    net = LeNet(32, clf.kernel, clf.padding, recipe.channels, recipe.hidden, 10, in_channels=3)
    net.load_state_dict(load_file(str(weights_path("textured32"))))
    x = np.random.default_rng(0).uniform(-1, 1, (6, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(x)).numpy()
    assert np.abs(clf.run(x, batch=4)[1] - expected).max() < 1e-4
    with pytest.raises(GanzooError, match=r"\[N, 3, 32, 32\]"):
        clf.predict(np.zeros((2, 1, 32, 32), np.float32))


def test_mnist28_reads_the_plain_domain(loaded):
    data = loaded["digits2textured"]
    plain = data.source[:, :1].float().numpy() / 255 * 2 - 1
    predicted = load_classifier("mnist28").predict(resize_images(plain, 28))
    assert float((predicted == data.source_y.numpy()).mean()) >= 0.97
