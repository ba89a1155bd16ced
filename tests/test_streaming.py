"""Image files held as uint8 or streamed: folders and zip archives, labels, the sharded
resumable order, the memory budget, and a streamed run resumed mid-epoch bit for bit."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import assert_one_line_error
from ganzoo.data.files import ImageFiles, ShardedBatches, Stream
from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine.config import resolve
from ganzoo.engine.train import train
from ganzoo.errors import GanzooError


def make_folder(root: Path, classes=("a", "b", "c"), per_class=12, size=(20, 24), mode="RGB") -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (*size[::-1], 3) if mode == "RGB" else size[::-1]
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(root / c / f"{i:03d}.png")
    return root


def make_zip(path: Path, n=20, labels=True) -> Path:
    """An archive laid out as stylegan2-ada's dataset tool writes it."""
    rng = np.random.default_rng(1)
    names = [f"{i // 10:05d}/img{i:08d}.png" for i in range(n)]
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            buffer = __import__("io").BytesIO()
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(buffer, format="PNG")
            zf.writestr(name, buffer.getvalue())
        table = [[name, i % 4] for i, name in enumerate(names)] if labels else None
        zf.writestr("dataset.json", json.dumps({"labels": table}))
    return path


def test_a_folder_lists_classes_and_decodes_to_uint8(tmp_path):
    files = ImageFiles.open(make_folder(tmp_path / "f"), 16)
    assert len(files) == 36 and files.shape == (3, 16, 16) and files.num_classes == 3 and files.labelled
    assert files.labels[:12] == [0] * 12 and files.labels[-1] == 2
    x, label = files[13]
    assert x.dtype == torch.uint8 and x.shape == (3, 16, 16) and label == 1
    data = files.load(workers=0)
    assert data.x.dtype == torch.uint8 and torch.equal(data.x[13], x) and data.y.tolist() == files.labels
    assert data.nbytes == files.nbytes == 36 * 3 * 16 * 16


def test_grey_images_give_one_channel(tmp_path):
    files = ImageFiles.open(make_folder(tmp_path / "g", classes=("x",), mode="L"), 8)
    assert files.shape == (1, 8, 8) and files.num_classes == 1 and files[0][0].shape == (1, 8, 8)


def test_a_zip_archive_with_a_labels_file(tmp_path):
    files = ImageFiles.open(make_zip(tmp_path / "set.zip"), 16)
    assert len(files) == 20 and files.num_classes == 4 and files.labels[:5] == [0, 1, 2, 3, 0]
    assert files.members[0] == "00000/img00000000.png" and files[7][0].shape == (3, 16, 16)
    unlabelled = ImageFiles.open(make_zip(tmp_path / "plain.zip", labels=False), 16)
    assert not unlabelled.labelled and unlabelled.y is None


def test_a_labels_file_in_a_folder_wins_over_sub_folders(tmp_path):
    root = make_folder(tmp_path / "f", classes=("00000",), per_class=6)
    (root / "dataset.json").write_text(json.dumps({"labels": [[f"00000/{i:03d}.png", i % 2] for i in range(6)]}))
    files = ImageFiles.open(root, 8)
    assert files.num_classes == 2 and files.labels == [0, 1, 0, 1, 0, 1]


@pytest.mark.parametrize("content,message", [
    ("{not json", "is not {\"labels\": [[file, label], ...]}"),
    (json.dumps({"labels": [["00000/000.png", 0]]}), "gives no label for 5 image(s), e.g. '00000/001.png'"),
    (json.dumps({"labels": [[f"00000/{i:03d}.png", -1] for i in range(6)]}), "has negative labels"),
])
def test_bad_labels_files_are_one_line(tmp_path, content, message):
    root = make_folder(tmp_path / "f", classes=("00000",), per_class=6)
    (root / "dataset.json").write_text(content)
    with pytest.raises(GanzooError, match=None) as err:
        ImageFiles.open(root, 8)
    assert message in str(err.value)


def test_a_file_that_is_no_archive(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(GanzooError, match="is neither a folder nor a zip archive"):
        ImageFiles.open(tmp_path / "notes.txt", 8)


def test_batches_are_a_seeded_sharded_resumable_order():
    full = ShardedBatches(103, 10, seed=5)
    first = [b for _, b in zip(range(25), full)]
    assert all(len(b) == 10 for b in first) and full.per_epoch == 10
    epoch0 = sum(first[:10], [])
    assert len(set(epoch0)) == 100 and set(epoch0) <= set(range(103))  # no repeats within an epoch
    assert sum(first[10:20], []) != epoch0  # each epoch its own order
    resumed = ShardedBatches(103, 10, seed=5, start=13)
    assert [b for _, b in zip(range(12), resumed)] == first[13:25]
    ranks = [ShardedBatches(103, 10, seed=5, rank=r, world=2) for r in (0, 1)]
    halves = [sum((b for _, b in zip(range(5), it)), []) for it in ranks]
    assert not set(halves[0]) & set(halves[1]) and len(halves[0]) == len(halves[1]) == 50
    with pytest.raises(GanzooError, match="--batch-size 60 is larger than the data set \\(51 images per process"):
        ShardedBatches(103, 60, seed=5, world=2)


def test_stream_workers_read_the_same_batches_as_the_main_process(tmp_path):
    files = ImageFiles.open(make_zip(tmp_path / "set.zip"), 16)
    a = Stream(files, 4, seed=1, device=torch.device("cpu"), workers=0, with_labels=True)
    b = Stream(files, 4, seed=1, device=torch.device("cpu"), workers=2, with_labels=True)
    for _ in range(7):  # past an epoch boundary (5 batches an epoch)
        (xa, ya), (xb, yb) = a(), b()
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert xa.dtype == torch.float32 and -1 <= float(xa.min()) and float(xa.max()) <= 1


def cfg(tmp_path, name, dataset, **kw):
    options = dict(dataset=dataset, image_size=16, batch_size=8, steps=12, ckpt_every=12, log_every=4,
                   sample_every=100, device="cpu", workers=1, out=str(tmp_path / name))
    return resolve("cdcgan", **{**options, **kw})


def test_the_memory_budget_chooses_and_the_config_keeps_the_choice(tmp_path):
    folder = make_folder(tmp_path / "f")
    notes = []
    train(cfg(tmp_path, "held", f"folder:{folder}", steps=2), echo=notes.append)
    assert any(n.startswith(f"decoding folder:{folder} into memory (36 images") for n in notes), notes
    assert json.loads((tmp_path / "held/config.json").read_text())["stream"] is False
    notes.clear()
    train(cfg(tmp_path, "streamed", f"folder:{folder}", steps=2, data_budget_gb=1e-6), echo=notes.append)
    assert any("over the 0.00 GB memory budget) through 1 decode worker(s)" in n for n in notes), notes
    assert json.loads((tmp_path / "streamed/config.json").read_text())["stream"] is True
    assert ckpt.load_state(tmp_path / "streamed/checkpoint")["data"] == {"drawn": 2}


def test_a_streamed_run_resumes_mid_epoch_bit_for_bit(tmp_path):
    dataset = f"folder:{make_folder(tmp_path / 'f')}"  # 36 images, 4 batches an epoch
    train(cfg(tmp_path, "once", dataset, stream=True), quiet=True)
    train(cfg(tmp_path, "twice", dataset, stream=True, steps=5, ckpt_every=5), quiet=True)
    train(cfg(tmp_path, "twice", dataset, stream=True), resume=True, quiet=True)
    for name in ("generator.safetensors", "discriminator.safetensors"):
        a, b = (load_file(str(tmp_path / run / "checkpoint" / name)) for run in ("once", "twice"))
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert ckpt.load_state(tmp_path / "twice/checkpoint")["data"] == {"drawn": 12}


def test_stream_on_a_set_held_whole_is_one_line(tmp_path):
    assert_one_line_error(["train", "dcgan", "--dataset", "mnist5k", "--stream", "--out", tmp_path / "r"],
                          "--stream applies to image files (folder:PATH); data set 'mnist5k' is loaded whole")
