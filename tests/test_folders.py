"""Own image folders as first-class data (issue 30, items 5 and 7): class names kept from the
sub-folders into config.json and the ONNX metadata, ``--labels NAME`` wherever labels are taken,
grid rows named, no silent upscaling, readable grid sizes, and the first impressions (the
shipped example, ``generate -n`` counts, where eval writes)."""

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, invoke, train_tiny
from PIL import Image

from ganzoo import schema
from ganzoo.errors import GanzooError
from ganzoo.sampling import (
    count_note,
    describe_classes,
    find_class,
    layout,
    parse_labels,
    row_names,
)

SHAPES = ("circle", "square", "triangle")
EXAMPLE = ROOT / "exports" / "examples" / "cgan-digits.onnx"
OLD = ROOT / "tests" / "fixtures" / "cgan-digits-0.2.onnx"  # exported by ganzoo 0.2: no class names, 8x8


def shapes_folder(root: Path, side: int = 8, per_class: int = 6, classes=SHAPES) -> Path:
    """One sub-folder per class of small grey images, each class a different brightness."""
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            value = 40 + 80 * k + i
            Image.fromarray(np.full((side, side), value, np.uint8)).save(root / name / f"{i}.png")
    return root


def images(root: Path, sides, name="img") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, (w, h) in enumerate(sides):
        Image.new("RGB", (w, h), (200, 10, 10)).save(root / f"{name}{i}.png")
    return root


def load(name: str, image_size=None):
    from ganzoo.registry import get_registry
    from ganzoo.specs import resolve

    spec, arg = get_registry().dataset(name)
    return resolve(spec.target)(arg=arg, image_size=image_size)


# -- 1. class names kept ----------------------------------------------------------------------------
def test_a_folder_keeps_its_sub_folder_names_in_index_order(tmp_path):
    files = load(f"folder:{shapes_folder(tmp_path / 'shapes')}")
    assert files.class_names == list(SHAPES) and files.num_classes == 3
    data = files.load()
    assert data.class_names == list(SHAPES) and data.y.tolist() == [0] * 6 + [1] * 6 + [2] * 6


def test_builtin_labelled_sets_name_their_classes():
    from ganzoo.data import emoji
    from ganzoo.data.images import digits, mnist5k

    assert digits().class_names == mnist5k().class_names == [str(d) for d in range(10)]
    if emoji.FONT.is_file() and emoji.EMOJI_TEST.is_file():  # Debian packages; test_emoji.py says when missing
        assert emoji.emoji_1k().class_names == list(emoji.GROUPS)


def test_flat_folders_and_dataset_json_have_no_names(tmp_path):
    flat = load(f"folder:{images(tmp_path / 'flat', [(8, 8)] * 3)}")
    assert flat.class_names is None and not flat.labelled
    table = images(tmp_path / "table", [(8, 8)] * 2)
    (table / "dataset.json").write_text(json.dumps({"labels": [["img0.png", 0], ["img1.png", 1]]}))
    labelled = load(f"folder:{table}")
    assert labelled.labelled and labelled.class_names is None


@pytest.mark.parametrize("bad,expected", [
    ("a" * 101, "1..100 characters"),
    ("tab\there", "without control characters"),
])
def test_a_sub_folder_name_that_cannot_be_a_class_name_is_one_line(tmp_path, bad, expected):
    root = shapes_folder(tmp_path / "s", classes=("ok", bad))
    with pytest.raises(GanzooError, match=f"class sub-folders name the classes.*{expected}.*rename the sub-folder"):
        load(f"folder:{root}")


def test_config_json_class_names_are_checked_and_optional(tmp_path):
    base = {"model": "cdcgan", "dataset": "folder:x", "loss": "nonsaturating", "steps": 2, "batch_size": 8,
            "lr_g": 1e-3, "lr_d": 2e-4, "betas": [0.5, 0.999], "n_critic": 1, "latent_dim": 8,
            "data": {"shape": [1, 8, 8], "model_classes": 3, "kind": "images", "num_classes": 3}}
    assert "class_names" not in schema.check_run_config(base, "c.json")["data"]  # a run from before names
    good = {**base, "data": {**base["data"], "class_names": list(SHAPES)}}
    assert schema.check_run_config(good, "c.json")["data"]["class_names"] == list(SHAPES)
    for names, expected in ((["a", "b"], "2 names for 3 classes"), (["a", "a", "b"], "there twice"),
                            (["a", "b\n", "c"], "control characters"), (["a", 3, "c"], "1..100 characters")):
        with pytest.raises(GanzooError, match=expected):
            schema.check_run_config({**base, "data": {**base["data"], "class_names": names}}, "c.json")


# -- 2. --labels NAME -------------------------------------------------------------------------------
def test_labels_by_name_number_or_case_and_the_error_lists_the_names():
    assert parse_labels("triangle", 3, 4, SHAPES) == [2, 2, 2, 2]
    assert parse_labels("Circle,2", 3, 3, SHAPES) == [0, 2, 0]
    assert parse_labels("all", 3, 7, SHAPES) == [0, 0, 1, 1, 2, 2]
    with pytest.raises(GanzooError, match=r"--labels 'hexagon': no class has that name; the classes are "
                                          r"circle, square, triangle \(or their numbers 0..2\)"):
        parse_labels("hexagon", 3, 4, SHAPES)
    with pytest.raises(GanzooError, match="--labels 3 is out of range"):
        parse_labels("3", 3, 4, SHAPES)


def test_a_name_wins_over_a_number_and_a_name_with_a_comma_is_given_alone():
    folders = ["1", "10", "2"]  # sorted as text: folder "2" is class 2, folder "10" class 1
    assert find_class("10", 3, folders) == 1 and find_class("2", 3, folders) == 2
    assert parse_labels("cats, dogs", 2, 2, ["cats, dogs", "fish"]) == [0, 0]


def test_many_names_are_cut_in_error_lines():
    names = [f"class{k}" for k in range(500)]
    text = describe_classes(500, names)
    assert text.startswith("class0, class1") and "(500 in all)" in text and len(text) < 200


def test_runtime_and_python_labels_take_names(tmp_path, named_export):
    from ganzoo.onnx import runtime

    G = runtime.load(named_export, provider="cpu")
    assert G.class_names == list(SHAPES)
    assert np.array_equal(G.sample(4, labels="square", seed=1), G.sample(4, labels=1, seed=1))
    assert np.array_equal(G.sample(2, labels=["triangle", 0], seed=1), G.sample(2, labels=[2, 0], seed=1))
    with pytest.raises(GanzooError, match="label 'hexagon': no class has that name"):
        G.sample(2, labels="hexagon")


# -- a conditional run on a folder, exported ---------------------------------------------------------
@pytest.fixture(scope="module")
def named_run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("named")
    return train_tiny("cdcgan", work / "run", dataset=f"folder:{shapes_folder(work / 'shapes')}", image_size=8,
                      latent_dim=8, options={"width": 8})


@pytest.fixture(scope="module")
def named_export(named_run, tmp_path_factory) -> Path:
    """The run's export; from a copy whose config.json holds the names as the engine records
    them, so that the export side is tested whatever test_a_run_records_... finds."""
    import shutil

    from ganzoo.onnx.export import export_run

    work = tmp_path_factory.mktemp("named-export")
    run = Path(shutil.copytree(named_run, work / "run"))
    meta = json.loads((run / "config.json").read_text())
    meta["data"]["class_names"] = list(SHAPES)
    (run / "config.json").write_text(json.dumps(meta))
    return export_run(run, output=work / "shapes.onnx").path


def test_a_run_records_its_folders_class_names(named_run):
    assert json.loads((named_run / "config.json").read_text())["data"]["class_names"] == list(SHAPES)


def test_the_python_api_takes_names_from_a_run_and_from_its_export(named_run, named_export, tmp_path):
    import ganzoo

    for G in (ganzoo.load(named_run), ganzoo.load(named_export)):
        assert G.class_names == list(SHAPES), G.backend
        assert np.array_equal(G.sample(3, labels="triangle", seed=2), G.sample(3, labels=2, seed=2))
        with pytest.raises(GanzooError, match="no class has that name"):
            G.sample(1, labels="hexagon")
        assert G.save_grid(tmp_path / f"{G.backend}.png", n=6, labels=["circle"] * 3 + ["square"] * 3, nrow=3).is_file()


def test_the_export_carries_the_names_and_generate_takes_them(named_export, tmp_path):
    from ganzoo.onnx.export import read_metadata

    assert json.loads(read_metadata(named_export)["ganzoo.class_names"]) == list(SHAPES)
    code, output = invoke("generate", named_export, "--labels", "triangle", "-n", "4", "--npy", tmp_path / "t.npy")
    assert code == 0, output
    code, output = invoke("generate", named_export, "--labels", "2", "-n", "4", "--npy", tmp_path / "n.npy")
    assert np.array_equal(np.load(tmp_path / "t.npy"), np.load(tmp_path / "n.npy"))
    assert_one_line_error(["generate", named_export, "--labels", "hexagon"],
                          "no class has that name; the classes are circle, square, triangle")


def test_sample_takes_names_from_the_run(named_export, tmp_path):
    named_run = named_export.parent / "run"
    code, output = invoke("sample", named_run, "--labels", "square", "-n", "3", "-o", tmp_path / "s.png")
    assert code == 0 and output.startswith("wrote 3 samples"), output
    assert_one_line_error(["sample", named_run, "--labels", "hexagon", "-o", tmp_path / "s.png"],
                          "the classes are circle, square, triangle")


def test_exports_refuse_names_that_do_not_fit(named_run, tmp_path):
    from ganzoo.engine.build import load_generator
    from ganzoo.onnx.export import export_generator

    G, _, _ = load_generator(named_run)
    with pytest.raises(GanzooError, match="3 class names .* not 2"):
        export_generator(G, tmp_path / "x.onnx", metadata={"ganzoo.class_names": json.dumps(["a", "b"])})


def test_a_file_with_corrupt_names_is_one_line(named_export, tmp_path):
    import onnx

    model = onnx.load(str(named_export))
    for prop in model.metadata_props:
        if prop.key == "ganzoo.class_names":
            prop.value = json.dumps(["a", "a", "b"])
    onnx.save(model, str(tmp_path / "bad.onnx"))
    assert_one_line_error(["generate", tmp_path / "bad.onnx"], "corrupt ganzoo.class_names (distinct class names")


def test_old_files_without_names_take_numbers(tmp_path):
    code, output = invoke("generate", OLD, "--labels", "3", "-n", "4", "-o", tmp_path / "g.png")
    assert code == 0, output
    assert_one_line_error(["generate", OLD, "--labels", "three"], "the classes have no names here, only numbers 0..9")


# -- the demo ---------------------------------------------------------------------------------------
def _get(server, path):
    host, port = server.server_address[:2]
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=60) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_the_demo_shows_and_takes_names(named_export):
    from ganzoo.demo import make_server

    srv = make_server(str(named_export), port=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        status, body = _get(srv, "/api/info")
        assert status == 200 and json.loads(body)["class_names"] == list(SHAPES)
        assert _get(srv, "/api/sample?n=4&label=square")[1] == _get(srv, "/api/sample?n=4&label=1")[1]
        status, body = _get(srv, "/api/sample?n=4&label=hexagon")
        assert status == 400 and "or a class name" in json.loads(body)["error"]
        status, named = _get(srv, "/api/sample?n=6&label=all")
        assert status == 200
    finally:
        srv.shutdown()
        srv.server_close()


# -- 3. named grid rows -----------------------------------------------------------------------------
def test_rows_are_named_only_when_each_row_is_one_class():
    assert row_names([0, 0, 1, 1, 2, 2], 2, SHAPES) == list(SHAPES)
    assert row_names([0, 0, 1, 1], 2, None) == ["0", "1"]  # unnamed classes: their numbers
    assert row_names([0, 1, 0, 1], 2, SHAPES) is None and row_names(None, 2, SHAPES) is None


def test_a_named_grid_has_a_name_column_and_tiny_rows_go_without(tmp_path):
    from ganzoo.grid import grid_picture

    x = np.zeros((6, 1, 8, 8), np.float32)
    plain, named = grid_picture(x, 2), grid_picture(x, 2, row_names=list(SHAPES))
    assert named.height == plain.height and named.width > plain.width + 20
    left = np.asarray(named.convert("L"))[:, : named.width - plain.width]
    assert (left < 128).any()  # ink: the names are written
    many = np.zeros((2000, 1, 4, 4), np.float32)  # a grid already large: 4-px rows, no room for names
    assert grid_picture(many, 2000 // 20, row_names=[str(i) for i in range(20)]).size == grid_picture(many, 100).size


# -- 4. no silent upscaling ---------------------------------------------------------------------------
def test_model_sides():
    from ganzoo.data.files import model_side

    assert [model_side(s) for s in (3, 8, 20, 30, 33, 40, 63, 64, 100)] == [4, 8, 20, 28, 32, 40, 56, 64, 96]


def test_without_image_size_a_folder_trains_at_its_own_side(tmp_path, capsys):
    files = load(f"folder:{images(tmp_path / 'forty', [(40, 40)] * 4)}")
    assert files.size == 40 and files.size_note is None  # 40 = 5 x 8: taken as it is
    assert "note:" not in capsys.readouterr().err
    files = load(f"folder:{images(tmp_path / 'big', [(120, 100)] * 3)}")
    assert files.size == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "centre-cropped to squares and resized to 64 px, from their median" in err


def test_without_image_size_an_image_is_not_enlarged_over_2x(tmp_path, capsys):
    root = images(tmp_path / "mixed", [(40, 40)] * 4 + [(12, 12)])
    with pytest.raises(GanzooError, match=r"img4.png' is 12 px .* more than 2x smaller than the 40 px chosen .*"
                                          r"pass --image-size 40 to enlarge such images anyway"):
        load(f"folder:{root}")
    files = load(f"folder:{root}", image_size=40)  # asked for by name: done, without a note
    assert files.size == 40 and files.size_note is None and "note:" not in capsys.readouterr().err


def test_train_says_the_size_on_stderr(tmp_path):
    from conftest import run_cli

    root = images(tmp_path / "thirty", [(30, 30)] * 8)
    done = run_cli("train", "dcgan", "--dataset", f"folder:{root}", "--steps", "1", "--batch-size", "4",
                   "--set", "width=8", "--device", "cpu", "--out", tmp_path / "run", "-q", timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resized to 28 px" in done.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"]["shape"] == [3, 28, 28]
    # the side a folder gets by default may change (new images, a new version): a resume keeps the run's
    for i in range(8):
        Image.new("RGB", (64, 64), (10, 200, 10)).save(root / f"img{i}.png")
    done = run_cli("train", "--resume", tmp_path / "run", "--steps", "2", "-q", timeout=600)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 2  # at 64 px the checkpoint's weights would not have fitted


# -- 5. readable grids --------------------------------------------------------------------------------
def test_small_grids_are_enlarged_to_a_readable_size():
    from ganzoo.grid import enlargement, grid_picture

    assert enlargement(274, 32) == 2 and enlargement(600, 8) == 1 and enlargement(12, 8) == 32
    for shape, n in (((1, 8, 8), 64), ((3, 32, 32), 64), ((1, 28, 28), 60)):
        im = grid_picture(np.zeros((n, *shape), np.float32), 8)
        assert 512 <= max(im.size) < 1100, (shape, im.size)


# -- 6. first impressions -----------------------------------------------------------------------------
def test_the_shipped_example_is_a_named_28_px_conditional_model():
    from ganzoo.onnx import runtime

    G = runtime.load(EXAMPLE, provider="cpu")
    assert G.output_shape == (1, 28, 28) and G.num_classes == 10 and G.dataset == "mnist5k"
    assert G.class_names == [str(d) for d in range(10)]
    assert EXAMPLE.stat().st_size < 1024**2


def test_generate_says_why_it_wrote_fewer_samples(named_export, tmp_path):
    code, output = invoke("generate", named_export, "-n", "64", "-o", tmp_path / "g.png")
    assert code == 0 and output.strip().count("\n") == 0, output
    assert output.startswith("wrote 63 samples") and "63, not 64: 21 in each of the 3 rows (one per class); " \
        "-n 66 gives 22 a row" in output
    code, output = invoke("generate", named_export, "-n", "63", "-o", tmp_path / "g.png")
    assert code == 0 and "not" not in output, output
    assert count_note(2, 3, 1, 3).startswith("; 3, not 2: a row for each of the 3 classes")
    assert layout(None, (), 3, [], 2, "m")[0] == 3


def test_eval_outputs_are_ignored_by_git():
    """``eval X.onnx`` writes X.eval.json beside the file, wherever it is; RUN/eval.json sits in runs/."""
    from fnmatch import fnmatch

    rules = [line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert "/runs/" in rules
    for name in ("x.eval.json", "cgan-digits.eval.json"):  # a rule without a slash matches the name anywhere
        assert any("/" not in rule and fnmatch(name, rule) for rule in rules), name


def test_eval_scores_the_classes_labels_names(tmp_path):
    out = tmp_path / "sevens.json"
    code, output = invoke("eval", EXAMPLE, "-n", "60", "--labels", "7", "-o", out)
    assert code == 0, output
    result = json.loads(out.read_text())
    assert result["labels"] == ["7"] and "classes 7 only" in output
    assert result["real"]["classes_covered"] == 1  # the reference is the real sevens
    assert result["real"]["conditional_accuracy"] > 0.9
    assert 0 <= result["metrics"]["conditional_accuracy"] <= 1
    assert_one_line_error(["eval", EXAMPLE, "-n", "60", "--labels", "eight"], "no class has that name")


def test_eval_labels_on_an_unconditional_model_is_one_line(tmp_path):
    run = train_tiny("vanilla", tmp_path / "run", dataset="ring8")
    assert_one_line_error(["eval", run, "--labels", "0"], "--labels applies to conditional models")


def test_eval_labels_from_python_take_numbers_names_and_numpy_integers():
    import ganzoo

    for labels in (np.int64(7), [7], ["7"], "7"):
        assert ganzoo.evaluate(EXAMPLE, n=20, labels=labels)["labels"] == ["7"]
