"""A staged checkpoint (``.checkpoint-ID.ready``, ``.checkpoint.old``) left in a run folder is
used only when it is whole and strictly newer than a whole ``checkpoint/``; anything else is
set aside as ``.checkpoint-ID.rejected`` and never costs the good checkpoint."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from ganzoo.engine import checkpoint as ckpt
from ganzoo.errors import GanzooError


def modules(seed, ema=False):
    torch.manual_seed(seed)
    found = {ckpt.GENERATOR: torch.nn.Linear(4, 8), ckpt.DISCRIMINATOR: torch.nn.Linear(8, 1)}
    if ema:
        found[ckpt.GENERATOR_EMA] = torch.nn.Linear(4, 8)
    return found


def save(run, step, ema=False):
    return ckpt.save_checkpoint(run, modules(step, ema), {"step": step})


def stage(run, tmp_path, step, tag="ab12", ema=False):
    """A whole checkpoint of ``step`` left in ``run`` as a staged folder, the way a killed save leaves one."""
    made = save(tmp_path / f"elsewhere-{step}-{tag}", step, ema)
    return shutil.copytree(made, run / f".checkpoint-{tag}.ready")


def listing(run):
    return sorted((p.relative_to(run).as_posix(), p.stat().st_size) for p in run.rglob("*") if p.is_file())


def weights(folder):
    return load_file(str(folder / ckpt.GENERATOR))["weight"]


def truncate(folder):
    path = folder / ckpt.GENERATOR
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garbage_state(folder):
    (folder / ckpt.STATE).write_text("this is not a checkpoint\n")


def nan_weights(folder):
    tensors = load_file(str(folder / ckpt.GENERATOR))
    tensors["weight"][0, 0] = float("nan")
    save_file(tensors, str(folder / ckpt.GENERATOR))


def missing(folder):
    (folder / ckpt.DISCRIMINATOR).unlink()


@pytest.fixture
def run(tmp_path):
    folder = tmp_path / "run"
    save(folder, 20)
    return folder


def test_a_whole_newer_staged_checkpoint_is_used_and_promoted(run, tmp_path):
    ready = stage(run, tmp_path, 30)
    assert ckpt.checkpoint_dir(run) == ready and ckpt.previous_step(run) == 30
    notes = []
    ckpt.tidy(run, echo=notes.append)
    assert notes == []
    assert ckpt.load_state(run / "checkpoint")["step"] == 30
    assert torch.equal(weights(run / "checkpoint"), modules(30)[ckpt.GENERATOR].weight.detach())
    assert [p.name for p in run.iterdir()] == ["checkpoint"]


@pytest.mark.parametrize("damage, step, why", [
    (truncate, 30, "generator.safetensors unreadable"),
    (garbage_state, 30, "state.pt unreadable"),
    (nan_weights, 30, "generator.safetensors holds NaN or infinite weights"),
    (missing, 30, "discriminator.safetensors missing"),
    (None, 10, "step 10, older than checkpoint/ at step 20"),
    (None, 20, "step 20, not newer than checkpoint/ at step 20"),
])
def test_a_damaged_or_not_newer_staged_checkpoint_is_set_aside_and_the_good_one_kept(run, tmp_path, damage, step, why):
    good = weights(run / "checkpoint")
    ready = stage(run, tmp_path, step)
    if damage:
        damage(ready)
    staged = listing(ready)
    before = listing(run)
    assert ckpt.checkpoint_dir(run) == run / "checkpoint" and ckpt.previous_step(run) == 20
    assert ckpt.has_checkpoint(run)
    assert listing(run) == before  # only tidy, under the lock, moves folders
    notes = []
    ckpt.tidy(run, echo=notes.append)
    assert notes == [f"note: set aside '.checkpoint-ab12.ready' as '.checkpoint-ab12.rejected' ({why}); "
                     "the run continues from step 20"]
    assert sorted(p.name for p in run.iterdir()) == [".checkpoint-ab12.rejected", "checkpoint"]
    assert listing(run / ".checkpoint-ab12.rejected") == staged  # kept whole for a human to look at
    assert ckpt.load_state(run / "checkpoint")["step"] == 20 and torch.equal(weights(run / "checkpoint"), good)
    ckpt.tidy(run, echo=notes.append)  # the next resume leaves the set-aside folder alone
    assert len(notes) == 1 and ckpt.checkpoint_dir(run) == run / "checkpoint"


def test_a_staged_checkpoint_without_the_ema_weights_checkpoint_has_is_set_aside(tmp_path):
    run = tmp_path / "run"
    save(run, 20, ema=True)
    stage(run, tmp_path, 30)
    assert ckpt.checkpoint_dir(run) == run / "checkpoint"
    notes = []
    ckpt.tidy(run, echo=notes.append)
    assert len(notes) == 1 and "(generator_ema.safetensors missing)" in notes[0]
    assert ckpt.load_state(run / "checkpoint")["step"] == 20


def test_a_whole_staged_checkpoint_replaces_a_damaged_one_and_the_damaged_one_is_kept(run, tmp_path):
    truncate(run / "checkpoint")
    damaged = listing(run / "checkpoint")
    stage(run, tmp_path, 10)  # older, but the only whole one
    assert ckpt.checkpoint_dir(run).name == ".checkpoint-ab12.ready" and ckpt.previous_step(run) == 10
    notes = []
    ckpt.tidy(run, echo=notes.append)
    assert len(notes) == 1 and notes[0].startswith("note: set aside 'checkpoint/' as '.checkpoint-")
    assert "(generator.safetensors unreadable" in notes[0] and notes[0].endswith("the run continues from step 10")
    assert ckpt.load_state(run / "checkpoint")["step"] == 10
    rejected = [p for p in run.iterdir() if p.name.endswith(".rejected")]
    assert len(rejected) == 1 and listing(rejected[0]) == damaged


def test_a_damaged_old_checkpoint_alone_is_one_clear_error_and_nothing_is_deleted(run):
    (run / "checkpoint").rename(run / ".checkpoint.old")
    truncate(run / ".checkpoint.old")
    before = listing(run)
    ckpt.tidy(run, echo=pytest.fail)
    assert listing(run) == before
    assert ckpt.has_checkpoint(run)  # a resume goes on to the error below, instead of starting over
    with pytest.raises(GanzooError) as caught:
        ckpt.checkpoint_dir(run)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"run directory '{run}' holds no whole checkpoint ('.checkpoint.old': "
                              "generator.safetensors unreadable")
    assert message.endswith("restore one from a backup or start the run again with a new --out")
    assert listing(run) == before


def test_a_whole_old_checkpoint_stands_in_for_a_damaged_one(run, tmp_path):
    (run / "checkpoint").rename(run / ".checkpoint.old")
    save(tmp_path / "newer", 30)
    shutil.copytree(tmp_path / "newer" / "checkpoint", run / "checkpoint")
    garbage_state(run / "checkpoint")
    assert ckpt.checkpoint_dir(run) == run / ".checkpoint.old"
    notes = []
    ckpt.tidy(run, echo=notes.append)
    assert len(notes) == 1 and "(state.pt unreadable); the run continues from step 20" in notes[0]
    assert ckpt.load_state(run / "checkpoint")["step"] == 20 and not (run / ".checkpoint.old").exists()


def test_the_newest_of_several_staged_checkpoints_wins_and_notes_go_to_stderr_by_default(run, tmp_path, capsys):
    stage(run, tmp_path, 30, tag="aaaa")
    stage(run, tmp_path, 40, tag="bbbb")
    assert ckpt.checkpoint_dir(run).name == ".checkpoint-bbbb.ready"
    ckpt.tidy(run)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["note: set aside '.checkpoint-aaaa.ready' as '.checkpoint-aaaa.rejected' "
                   "(step 30, older than .checkpoint-bbbb.ready at step 40); the run continues from step 40"]
    assert ckpt.load_state(run / "checkpoint")["step"] == 40


def test_a_lone_damaged_staged_checkpoint_is_set_aside_and_counts_as_none(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    ready = stage(run, tmp_path, 10)
    missing(ready)
    assert not ckpt.has_checkpoint(run) and ckpt.previous_step(run) is None
    with pytest.raises(GanzooError, match="holds no whole checkpoint .'.checkpoint-ab12.ready': discriminator"):
        ckpt.checkpoint_dir(run)
    notes = []
    ckpt.tidy(run, echo=notes.append)
    assert notes == ["note: set aside '.checkpoint-ab12.ready' as '.checkpoint-ab12.rejected' "
                     "(discriminator.safetensors missing); no whole checkpoint is left"]
    with pytest.raises(GanzooError, match="has no checkpoint yet"):
        ckpt.checkpoint_dir(run)


def test_resume_with_an_older_staged_copy_beside_the_checkpoint_does_not_roll_back(tmp_path, capsys):
    from ganzoo.engine.config import resolve
    from ganzoo.engine.train import train

    run = tmp_path / "run"
    options = dict(dataset="ring8", batch_size=16, log_every=1, sample_every=100, ckpt_every=2, device="cpu",
                   out=str(run))
    train(resolve("vanilla", None, steps=2, **options), quiet=True)
    shutil.copytree(run / "checkpoint", tmp_path / "step2")
    train(resolve("vanilla", None, steps=4, **options), resume=True, quiet=True)
    shutil.copytree(tmp_path / "step2", run / ".checkpoint-ab12.ready")
    capsys.readouterr()
    train(resolve("vanilla", None, steps=6, **options), resume=True, quiet=True)
    assert "set aside '.checkpoint-ab12.ready' as '.checkpoint-ab12.rejected' (step 2, older than checkpoint/ " \
           "at step 4); the run continues from step 4" in capsys.readouterr().err
    assert ckpt.load_state(run / "checkpoint")["step"] == 6
    logged = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in logged] == [1, 2, 3, 4, 5, 6]
