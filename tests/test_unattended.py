"""Runs nobody watches: a start line and plain progress lines when stderr is a file, kept
checkpoints (--keep), an in-training figure with the best checkpoint kept (--eval-every,
--checkpoint best), the Inception weights fetched on request (--download) and no .lock left
in a run folder once the run ends."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import assert_one_line_error, invoke, run_cli
from safetensors.torch import load_file

from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine.build import load_generator
from ganzoo.engine.config import resolve, resume_config
from ganzoo.engine.runlock import LOCK_FILE, RunLock, _same_file
from ganzoo.engine.train import _Lines, train
from ganzoo.errors import GanzooError


def ring8(out: Path, **kw):
    options = dict(dataset="ring8", steps=6, batch_size=16, log_every=1, sample_every=100, ckpt_every=2,
                   device="cpu", out=str(out))
    return resolve("vanilla", **{**options, **kw})


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def hidden(run: Path) -> list[str]:
    return sorted(p.name for p in run.iterdir() if p.name.startswith("."))


# -- 1. a start line, and plain lines instead of a bar ----------------------------------------------
def test_stderr_to_a_file_gets_a_start_line_and_plain_progress_lines(tmp_path):
    run = tmp_path / "run"
    done = run_cli("train", "vanilla", "--dataset", "ring8", "--steps", "30", "--batch-size", "16",
                   "--log-every", "10", "--out", run)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == f"training vanilla on ring8: step 0 of 30, cpu, 1 CPU thread -> {run}", lines
    assert "\r" not in done.stderr  # no carriage-return bar to pile up in a log
    assert lines[1].startswith("step 10/30 (33 %), ") and "steps/s" in lines[1] and "left, d_loss " in lines[1]
    last = [line for line in lines if line.startswith("step 30/30 (100 %), ")]
    assert len(last) == 1 and "done, d_loss " in last[0] and "g_loss " in last[0], lines
    assert not (run / LOCK_FILE).exists()  # a finished run leaves no lock behind

    code, output = invoke("train", "vanilla", "--dataset", "ring8", "--steps", "4", "--batch-size", "16", "-q",
                          "--out", tmp_path / "quiet")  # stdout and stderr together: -q leaves the result alone
    assert code == 0 and [line.split(":")[0] for line in output.splitlines()] == ["done", "next"], output


def test_plain_lines_come_at_the_first_log_step_then_at_most_every_30_seconds_and_at_the_end():
    now = [0.0]
    out: list[str] = []
    lines = _Lines(total=1000, initial=0, echo=out.append, clock=lambda: now[0])
    for step, seconds in ((50, 5.0), (100, 10.0), (150, 45.0), (900, 900.0), (950, 905.0), (1000, 910.0)):
        lines.update(50 if step != 900 else 750)
        now[0] = seconds
        lines.logged({"d_loss": 1.25, "g_loss": 0.5, "d/adv": 9.0, "eval/frechet_distance": 3.5})
    assert [line.split(", ")[0] for line in out] == ["step 50/1,000 (5 %)", "step 150/1,000 (15 %)",
                                                     "step 900/1,000 (90 %)", "step 1,000/1,000 (100 %)"]
    assert out[0] == "step 50/1,000 (5 %), 10 steps/s, 1m35s left, d_loss 1.25, g_loss 0.5, eval/frechet_distance 3.5"
    assert "2.5 steps/s, 5m40s left" in out[1] and "0.877 steps/s, 1m54s left" in out[2]
    assert out[3].startswith("step 1,000/1,000 (100 %), 10 steps/s, done")
    silent = _Lines(total=10, initial=0, echo=None)
    silent.update(10)
    silent.logged({"d_loss": 1.0})
    silent.write("nothing to print to")


# -- 2. --keep -----------------------------------------------------------------------------------------
def test_keep_holds_the_newest_checkpoints_as_checkpoint_step_folders(tmp_path):
    run = tmp_path / "run"
    train(ring8(run, steps=10, keep=3), quiet=True)
    assert sorted(ckpt.kept_checkpoints(run)) == [6, 8] and ckpt.load_state(run / "checkpoint")["step"] == 10
    for step in (6, 8):
        assert ckpt.load_state(run / ckpt.kept_name(step))["step"] == step
        G, _, _ = load_generator(run, checkpoint=str(step))
    G_latest, _, _ = load_generator(run, checkpoint="10")  # the latest, by its step
    assert not torch.equal(next(G.parameters()), next(G_latest.parameters()))
    assert hidden(run) == []
    with pytest.raises(GanzooError, match=r"no checkpoint of step 4 .*--checkpoint takes: latest \(step 10\), 6, 8$"):
        load_generator(run, checkpoint="4")

    plain = tmp_path / "plain"
    train(ring8(plain), quiet=True)  # --keep 1, the default: checkpoint/ alone, as before
    assert ckpt.kept_checkpoints(plain) == {} and sorted(p.name for p in plain.iterdir() if p.is_dir()) == [
        "checkpoint", "samples"]


class Killed(BaseException):
    """What a SIGKILL does to a save, in-process: it stops there."""


@pytest.mark.parametrize("stage", ["ready", "moved-aside", "swapped"])
def test_keep_survives_a_kill_in_a_save_and_the_resume_keeps_what_it_replaced(tmp_path, monkeypatch, stage):
    run = tmp_path / "run"

    def point(name, at):
        if (name, at) == (stage, 6):
            raise Killed(stage)

    monkeypatch.setattr(ckpt, "_kill_point", point)
    with pytest.raises(Killed):
        train(ring8(run, keep=3), quiet=True)
    monkeypatch.undo()
    assert ckpt.kept_checkpoints(run).keys() == {2}
    cfg = resume_config(str(run), steps=8)
    assert cfg.keep == 3  # kept in config.json: a resume keeps as many
    train(cfg, resume=True, quiet=True)
    assert sorted(ckpt.kept_checkpoints(run)) == [4, 6] and ckpt.load_state(run / "checkpoint")["step"] == 8
    assert all(ckpt.load_state(folder)["step"] == step for step, folder in ckpt.kept_checkpoints(run).items())
    assert hidden(run) == []


def test_keep_is_checked_before_anything_starts(tmp_path):
    assert_one_line_error(["train", "vanilla", "--dataset", "ring8", "--keep", "0", "--out", tmp_path / "r"],
                          "--keep must be at least 1")
    assert not (tmp_path / "r").exists()


# -- 3. --eval-every, best/, --checkpoint best ----------------------------------------------------------
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """vanilla on digits, scored every 5 steps on 64 samples, then resumed for 5 more."""
    run = tmp_path_factory.mktemp("eval") / "digits"
    cfg = resolve("vanilla", dataset="digits", steps=10, batch_size=16, log_every=5, sample_every=100,
                  ckpt_every=10, eval_every=5, eval_n=64, device="cpu", threads=1, out=str(run))
    said: list[str] = []
    train(cfg, echo=said.append)
    train(resume_config(str(run), steps=15), resume=True, echo=said.append)
    return run, said


def test_eval_every_logs_the_figure_and_keeps_the_best_checkpoint(digits_run):
    run, said = digits_run
    logged = [(row["step"], row["eval/frechet_distance"]) for row in rows(run) if "eval/frechet_distance" in row]
    assert [step for step, _ in logged] == [5, 10, 15]
    assert said[0].endswith(f"frechet_distance every 5 steps on 64 samples -> {run}")
    assert sum(line.startswith("eval at step ") for line in said) == 3
    best_step, best_fd = min(logged, key=lambda s: (s[1], s[0]))  # the lowest; on a tie, the first
    state = ckpt.load_state(run / "best")
    assert state["step"] == best_step and state["eval"]["protocol"] == "digits" and state["eval"]["n"] == 64
    assert state["eval"]["figures"]["frechet_distance"] == pytest.approx(best_fd, rel=1e-6)
    assert {p.name for p in (run / "best").iterdir()} == {p.name for p in (run / "checkpoint").iterdir()}
    assert hidden(run) == []


def test_eval_of_the_best_checkpoint_gives_back_the_logged_figure(digits_run, tmp_path):
    run, _ = digits_run
    from ganzoo.metrics.evaluate import evaluate, format_report

    stored = ckpt.load_state(run / "best")
    result = evaluate(run, n=64, checkpoint="best")
    assert result["checkpoint"] == "best" and result["steps"] == stored["step"]
    assert result["metrics"]["frechet_distance"] == pytest.approx(stored["eval"]["figures"]["frechet_distance"],
                                                                  rel=1e-5)
    assert f"checkpoint best, step {stored['step']}" in format_report(result)
    code, output = invoke("sample", run, "--checkpoint", "best", "-n", "4", "-o", tmp_path / "best.png")
    assert code == 0 and (tmp_path / "best.png").is_file(), output


def test_export_takes_the_best_checkpoint(digits_run, tmp_path):
    run, _ = digits_run
    from ganzoo.onnx.runtime import load

    code, output = invoke("export", run, "--checkpoint", "best", "-o", tmp_path / "best.onnx")
    assert code == 0, output
    assert load(str(tmp_path / "best.onnx"), provider="cpu").steps == ckpt.load_state(run / "best")["step"]


def test_best_survives_a_kill_in_its_save(tmp_path, monkeypatch):
    from ganzoo.metrics.quick import TrainingFigure

    run = tmp_path / "run"
    monkeypatch.setattr(TrainingFigure, "better", lambda self, new, old: True)  # every evaluation saves best/

    def point(name, at):
        if (name, at) == ("moved-aside", 4):  # best/ of step 2 moved aside, step 4's staged beside it
            raise Killed(name)

    monkeypatch.setattr(ckpt, "_kill_point", point)
    with pytest.raises(Killed):
        train(ring8(run, ckpt_every=3, eval_every=2, eval_n=50), quiet=True)
    monkeypatch.setattr(ckpt, "_kill_point", lambda name, at: None)
    assert not (run / "best").exists() and ckpt.load_state(ckpt.checkpoint_dir(run, ckpt.BEST))["step"] == 4
    load_generator(run, checkpoint="best")  # sample, export and eval find it where the kill left it
    train(resume_config(str(run), steps=6), resume=True, quiet=True)
    assert ckpt.load_state(run / "best")["step"] == 6 and hidden(run) == []


def test_a_resume_that_scores_another_way_starts_best_afresh(tmp_path):
    run = tmp_path / "run"
    train(ring8(run, steps=4, eval_every=2, eval_n=50), quiet=True)
    said: list[str] = []
    train(resume_config(str(run), steps=6, eval_n=60), resume=True, echo=said.append)
    assert any("was not scored like this run's --eval-every (mixture, 60 samples)" in line for line in said), said
    state = ckpt.load_state(run / "best")  # the first evaluation after the resume replaced it
    assert state["step"] == 6 and state["eval"]["n"] == 60


def test_an_evaluated_run_trains_the_same_weights_as_one_that_is_not(tmp_path):
    """The evaluation draws its latents from numpy and runs G in eval mode: the training
    RNG and the networks are untouched, so the run stays reproducible."""
    train(ring8(tmp_path / "a", steps=8), quiet=True)
    train(ring8(tmp_path / "b", steps=8, eval_every=4, eval_n=100), quiet=True)
    for name in ("generator.safetensors", "discriminator.safetensors"):
        a, b = load_file(tmp_path / "a" / "checkpoint" / name), load_file(tmp_path / "b" / "checkpoint" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    figures = [row for row in rows(tmp_path / "b") if "eval/modes_captured" in row]
    assert [row["step"] for row in figures] == [4, 8] and all("eval/hq_percent" in row for row in figures)


@pytest.mark.parametrize("dataset,shape", [("ring8", (2,)), ("digits", (1, 8, 8))])
def test_the_figure_ranks_real_samples_above_noise_and_a_tie_is_not_better(dataset, shape):
    import numpy as np

    from ganzoo.metrics.protocols import Evaluated, load_reference, real_images
    from ganzoo.metrics.quick import TrainingFigure

    figure = TrainingFigure("toy", dataset, {}, False, shape, 4, 0, [], n=200)
    _, _, data = load_reference(Evaluated(Path("x"), "run", "toy", dataset, 4, 0, shape, print), None, False)
    real = data.floats(200).numpy() if dataset == "ring8" else real_images(data, 1, 200)[0]
    good = figure(lambda z, labels: real[:len(z)])
    bad = figure(lambda z, labels: np.random.default_rng(0).uniform(-1, 1, (len(z), *shape)).astype(np.float32))
    assert list(good) == list(figure.names) and figure.better(good, bad) and not figure.better(bad, good)
    assert figure.better(good, None) and not figure.better(good, dict(good))


def test_the_figure_goes_to_tensorboard_too(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    train(ring8(run, steps=4, eval_every=2, eval_n=50, tensorboard=True), quiet=True)
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    logged = [(row["step"], row["eval/hq_percent"]) for row in rows(run) if "eval/hq_percent" in row]
    assert [(e.step, e.value) for e in events.Scalars("eval/hq_percent")] == pytest.approx(logged)
    assert [e.step for e in events.Scalars("eval/modes_captured")] == [2, 4]


def test_eval_every_options_are_refused_where_they_cannot_work(tmp_path):
    assert_one_line_error(["train", "vanilla", "--dataset", "cifar10", "--eval-every", "10", "--out",
                           tmp_path / "c"], "'cifar10' has none: drop --eval-every")
    assert_one_line_error(["train", "vanilla", "--dataset", "ring8", "--eval-n", "100", "--out", tmp_path / "n"],
                          "add --eval-every K or drop --eval-n")
    assert_one_line_error(["train", "vanilla", "--dataset", "ring8", "--eval-every", "5", "--eval-n", "1",
                           "--out", tmp_path / "m"], "--eval-n must be at least 2")
    assert not any(tmp_path.iterdir())
    plain = tmp_path / "plain"
    train(ring8(plain, steps=2), quiet=True)
    picture = tmp_path / "never.png"
    assert_one_line_error(["sample", plain, "--checkpoint", "best", "-o", picture], "has no best checkpoint")
    assert_one_line_error(["sample", plain, "--checkpoint", "last", "-o", picture],
                          "--checkpoint must be latest, best or a step")


# -- 4. --download of the Inception weights, without a network ------------------------------------------
@pytest.fixture()
def hub(tmp_path, monkeypatch):
    """torch's hub cache in tmp_path, and a file that stands in for the Inception weights."""
    pytest.importorskip("torch_fidelity")
    from ganzoo.metrics import standard

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    source = tmp_path / "served.pth"
    torch.save({"fc.weight": torch.zeros(1008, 2048)}, source)
    cached = tmp_path / "torch" / "hub" / "checkpoints" / standard.WEIGHTS_FILE
    return standard, source, cached


def test_download_checks_the_sha256_before_the_file_is_used(hub, monkeypatch):
    standard, source, cached = hub
    monkeypatch.setattr(standard, "INCEPTION_URL", source.as_uri())
    monkeypatch.setattr(standard, "INCEPTION_SHA256", "0" * 64)
    with pytest.raises(GanzooError, match=r"^--download: the file from .* has SHA-256 .*nothing was saved"):
        standard.inception_weights(None, download=True)
    assert not cached.parent.exists() or list(cached.parent.iterdir()) == []  # no file, no .part
    monkeypatch.setattr(standard, "INCEPTION_SHA256", hashlib.sha256(source.read_bytes()).hexdigest())
    said: list[str] = []
    assert standard.inception_weights(None, download=True, echo=said.append) == cached
    assert cached.read_bytes() == source.read_bytes() and said == [f"downloading {source.as_uri()} to {cached} ..."]
    monkeypatch.setattr(standard, "INCEPTION_URL", "http://127.0.0.1:9/never.pth")  # cached now: not fetched again
    assert standard.inception_weights(None, download=True) == cached


def test_without_a_network_fid_is_one_error_line_that_names_download(hub, monkeypatch):
    standard, _, cached = hub
    monkeypatch.setattr(standard, "INCEPTION_URL", "http://127.0.0.1:9/weights.pth")  # nothing listens there
    assert_one_line_error(["eval", "no-run", "--metric", "fid"], "add --download to fetch them")
    assert_one_line_error(["eval", "no-run", "--metric", "fid", "--download"],
                          "--download could not fetch http://127.0.0.1:9/weights.pth")
    assert not cached.exists()


# -- 5. the lock ---------------------------------------------------------------------------------------
def test_a_run_stopped_or_failed_leaves_no_lock_and_a_stale_one_is_taken_over(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "ganzoo", "train", "vanilla", "--dataset", "ring8", "--steps",
                             "100000", "--batch-size", "16", "--out", str(run)], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert proc.stderr.readline().startswith("training vanilla on ring8: step 0 of 100,000")
        assert proc.stderr.readline().startswith("step 50/100,000 (0 %)")  # in the loop: SIGTERM is handled
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 130
    finally:
        proc.kill()
    assert ckpt.has_checkpoint(run) and not (run / LOCK_FILE).exists()
    with pytest.raises(GanzooError, match="pass --steps larger than"):  # a failed resume lets go too
        train(resume_config(str(run), steps=1), resume=True, quiet=True)
    assert not (run / LOCK_FILE).exists()

    (run / LOCK_FILE).write_text("4194304\n")  # what a killed holder leaves: the file, with no lock on it
    train(resume_config(str(run), steps=ckpt.previous_step(run) + 2), resume=True, quiet=True)  # taken over
    assert not (run / LOCK_FILE).exists()


def test_a_lock_deleted_by_its_holder_is_not_taken_by_a_process_that_opened_it_before(tmp_path):
    first = RunLock(tmp_path).acquire()
    early = os.open(tmp_path / LOCK_FILE, os.O_RDWR)  # another process, between its open and its flock
    first.release()
    assert not (tmp_path / LOCK_FILE).exists() and not _same_file(early, tmp_path / LOCK_FILE)
    second = RunLock(tmp_path).acquire()  # acquire() compares the two, and locks the file that is there
    try:
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())
        assert not _same_file(early, tmp_path / LOCK_FILE)
    finally:
        os.close(early)
        second.release()
