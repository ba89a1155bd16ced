"""Runs that cannot be lost: kills inside a save, crashes before the first checkpoint, two
processes on one run folder, non-finite weights, full and read-only disks, busy CPUs."""

import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import assert_one_line_error, fill, run_cli, train_tiny
from ganzoo import LossSpec, hookimpl
from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine.build import load_generator
from ganzoo.engine.config import resolve
from ganzoo.engine.train import Diverged, free_cores, train
from ganzoo.errors import GanzooError
from ganzoo.registry import Registry

STAGES = ["writing", "ready", "old-removed", "moved-aside", "swapped"]


def cfg_for(out, registry=None, **kw):
    options = dict(dataset="ring8", steps=6, batch_size=16, log_every=1, sample_every=100, ckpt_every=2,
                   device="cpu", out=str(out))
    return resolve("vanilla", registry, **{**options, **kw})


class Killed(BaseException):
    """What a SIGKILL does to a save, in-process: it stops there, no cleanup runs."""


def kill_at(monkeypatch, stage, step):
    def point(name, at):
        if name == stage and at == step:
            raise Killed(f"{name}@{at}")

    monkeypatch.setattr(ckpt, "_kill_point", point)


def steps_logged(run):
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("stage", STAGES)
def test_a_kill_at_any_stage_of_a_save_leaves_a_checkpoint_and_resume_finishes(tmp_path, monkeypatch, stage):
    run = tmp_path / "run"
    kill_at(monkeypatch, stage, 4)
    with pytest.raises(Killed):
        train(cfg_for(run), quiet=True)
    monkeypatch.undo()
    found = ckpt.checkpoint_dir(run)  # what sample/export/eval read, without touching the folder
    expected = 4 if stage in ("ready", "old-removed", "moved-aside", "swapped") else 2
    assert ckpt.load_state(found)["step"] == expected
    load_generator(run)
    train(cfg_for(run), resume=True, quiet=True)
    assert ckpt.load_state(run / "checkpoint")["step"] == 6
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".checkpoint")) == []  # orphans tidied
    assert steps_logged(run) == [1, 2, 3, 4, 5, 6]


def test_killed_twice_in_a_real_process_still_resumes(tmp_path):
    """The reliability report's loss: a SIGKILL inside the save, then another inside the
    resumed run's save. Real processes, real SIGKILL (the test hook's env variable)."""
    run = tmp_path / "run"
    common = ["--log-every", "1", "--ckpt-every", "1", "-q"]
    first = run_cli("train", "vanilla", "--dataset", "ring8", "--steps", "5", "--batch-size", "16", "--out", run,
                    *common, env={ckpt.KILL_ENV: "moved-aside@3"})
    assert first.returncode == -9, first.stderr
    second = run_cli("train", "--resume", run, *common, env={ckpt.KILL_ENV: "old-removed@4"})
    assert second.returncode == -9, second.stderr
    assert ckpt.load_state(ckpt.checkpoint_dir(run))["step"] == 4
    third = run_cli("train", "--resume", run, *common)
    assert third.returncode == 0, third.stderr
    assert ckpt.load_state(run / "checkpoint")["step"] == 5
    assert steps_logged(run) == [1, 2, 3, 4, 5]
    assert not [p for p in run.iterdir() if p.name.startswith(".checkpoint")]


def test_a_run_killed_before_its_first_checkpoint_is_resumed_from_step_0(tmp_path, monkeypatch):
    run = tmp_path / "run"
    kill_at(monkeypatch, "writing", 2)
    with pytest.raises(Killed):
        train(cfg_for(run), quiet=True)
    monkeypatch.undo()
    assert (run / "config.json").is_file() and not ckpt.has_checkpoint(run)
    assert_one_line_error(["sample", run, "-o", tmp_path / "s.png"],
                          f"has no checkpoint yet (training stopped before its first one); continue it with: "
                          f"ganzoo train --resume {run}")
    with pytest.raises(GanzooError, match=f"already holds a run; continue it with --resume {run}"):
        train(cfg_for(run), quiet=True)
    notes = []
    train(cfg_for(run), resume=True, quiet=False, echo=notes.append)
    assert any("stopped before its first checkpoint; starting it again from step 0" in n for n in notes), notes
    assert ckpt.load_state(run / "checkpoint")["step"] == 6
    assert steps_logged(run) == [1, 2, 3, 4, 5, 6]


def test_a_cut_metrics_line_does_not_stop_resume(tmp_path):
    run = tmp_path / "run"
    train(cfg_for(run, steps=2), quiet=True)
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 3, "d_lo')  # a kill in the middle of an append
    train(cfg_for(run, steps=4), resume=True, quiet=True)
    assert steps_logged(run) == [1, 2, 3, 4]


# -- one process per run folder ---------------------------------------------------------------
HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, f"{os.getpid()}\\n".encode())
print("held", flush=True)
time.sleep(120)
"""


def test_a_second_process_is_refused_with_the_holders_pid_and_a_dead_holder_is_taken_over(tmp_path):
    run = tmp_path / "run"
    train(cfg_for(run, steps=2), quiet=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(GanzooError, match=rf"run folder '{run}' is in use by process {holder.pid} \(ganzoo train\)"):
            train(cfg_for(run, steps=4), resume=True, quiet=True)
        assert ckpt.load_state(run / "checkpoint")["step"] == 2
    finally:
        holder.kill()
        holder.wait()
    assert (run / ".lock").read_text().strip() == str(holder.pid)  # stale: its holder is dead
    train(cfg_for(run, steps=4), resume=True, quiet=True)
    assert ckpt.load_state(run / "checkpoint")["step"] == 4


def test_two_runs_started_into_one_folder_at_once(tmp_path):
    run = tmp_path / "run"
    args = ["train", "vanilla", "--dataset", "ring8", "--steps", "400", "--batch-size", "16", "--out", str(run), "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "ganzoo", *args], stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], errors
    refused = next(e for p, e in zip(procs, errors) if p.returncode == 2).strip()
    assert refused.startswith("Error: ") and len(refused.splitlines()) == 1
    assert "is in use by process" in refused or "already holds a run" in refused, refused
    assert steps_logged(run) == sorted(set(steps_logged(run)))


# -- weights and losses that are not finite ---------------------------------------------------------
def _poison_plugin(at_step):
    """An objective whose D term stays finite but whose gradient is NaN at one step (0 x the
    infinite slope of sqrt at 0), so D's weights turn NaN while every logged value is finite."""
    from ganzoo.api import Objective

    class Poison(Objective):
        def d_terms(self, step):
            logits = step.d_real.logits
            adv = torch.nn.functional.softplus(-logits).mean() + torch.nn.functional.softplus(step.d_fake.logits).mean()
            if step.step == at_step:
                adv = adv + 0 * torch.sqrt(logits.sum() * 0)
            return {"adv": adv}

        def g_terms(self, step):
            return {"l2": step.fake.pow(2).mean()}  # independent of D: finite after D's weights are not

    module = types.ModuleType("poison")
    module.ganzoo_register_losses = hookimpl(lambda register: register(
        LossSpec(name="poison", summary="test", target=Poison)))
    return module


def test_non_finite_weights_are_never_saved(tmp_path):
    registry = Registry(load_entry_points=False)
    registry.add_plugin(_poison_plugin(at_step=3), "poison")
    cfg = cfg_for(tmp_path / "run", registry, loss="poison", log_every=100)
    with pytest.raises(Diverged, match=r"discriminator weights are NaN or infinite at step 4 .*not saved, the last "
                                       r"good checkpoint \(step 2\) is intact"):
        train(cfg, quiet=True, registry=registry)
    assert ckpt.load_state(ckpt.checkpoint_dir(tmp_path / "run"))["step"] == 2


def test_sample_and_export_refuse_non_finite_weights(tmp_path):
    run = train_tiny("vanilla", tmp_path / "run", dataset="ring8", ema=False)
    path = run / "checkpoint" / ckpt.GENERATOR
    tensors = load_file(str(path))
    first = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[first] = torch.full_like(tensors[first], float("inf"))
    save_file(tensors, str(path))  # as an older ganzoo could have saved it
    for args in (["sample", run, "-o", tmp_path / "s.png"], ["export", run, "-o", tmp_path / "m.onnx"]):
        assert_one_line_error(args, f"weights in '{path}' are not finite (NaN or inf in {first}")
    assert not (tmp_path / "s.png").exists() and not (tmp_path / "m.onnx").exists()


def test_exploding_losses_stop_the_run(tmp_path):
    result = run_cli("train", "vanilla", "--dataset", "ring8", "--steps", "200", "--lr-g", "1e6", "--lr-d", "1e6",
                     "--log-every", "10", "--out", tmp_path / "run", "-q")
    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("Error: training diverged: ")
    assert "(beyond ±1e+06)" in line or "= nan" in line or "= inf" in line, line


def test_an_infinite_learning_rate_is_refused():
    assert_one_line_error(["train", "vanilla", "--lr-g", "inf"], "--lr-g must be a finite positive number, got inf")


# -- full and read-only disks ----------------------------------------------------------------------
def test_a_full_disk_is_one_line_and_the_previous_checkpoint_stays(tmp_path, mount):
    disk = mount("24m")
    run = disk / "run"
    train(cfg_for(run, steps=2), quiet=True)
    fill(disk, leave_kb=200)  # room for logs and pictures, not for a checkpoint
    code_line = run_cli("train", "--resume", run, "--steps", "4", "-q")
    assert code_line.returncode == 2, code_line.stderr
    line = code_line.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert line.startswith(f"Error: cannot write the checkpoint '{run}/checkpoint': No space left on device; "
                           "free some disk space or write somewhere else (the checkpoint of step 2 is intact)"), line
    assert ckpt.load_state(run / "checkpoint")["step"] == 2
    assert not [p.name for p in run.iterdir() if p.name.startswith(".checkpoint")]
    (disk / "filler").unlink()
    assert run_cli("train", "--resume", run, "--steps", "4", "-q").returncode == 0


def test_a_disk_too_full_for_anything(tmp_path, mount):
    disk = mount("24m")
    run = disk / "run"
    train(cfg_for(run, steps=2), quiet=True)
    fill(disk)
    result = run_cli("train", "--resume", run, "--steps", "4", "-q")
    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith(f"Error: cannot ") and str(run) in line, line
    assert "No space left on device" in line, line
    assert ckpt.load_state(ckpt.checkpoint_dir(run))["step"] == 2


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny("vanilla", tmp_path_factory.mktemp("ro") / "run", dataset="ring8")


@pytest.mark.parametrize("command,target", [
    (["train", "vanilla", "--dataset", "ring8", "--steps", "2", "--out"], "run"),
    (["sample", "RUN", "-o"], "s.png"),
    (["eval", "RUN", "-o"], "e.json"),
    (["export", "RUN", "-o"], "m.onnx"),
    (["plugin", "new", "demo", "--dir"], ""),
    (["bench", "RUN", "--batch-sizes", "1", "--json"], "b.json"),
])
def test_read_only_outputs_are_one_line_before_the_work(mount, trained, command, target):
    readonly = mount("1m", ro=True)
    path = readonly / target if target else readonly
    args = [trained if a == "RUN" else a for a in command] + [path]
    started = time.time()
    assert_one_line_error(args, "Read-only file system; write somewhere else")
    assert time.time() - started < 30  # refused before minutes of work


def test_io_errors_name_the_reason_and_a_fix():
    import errno

    from ganzoo.errors import io_error

    assert str(io_error(OSError(errno.ENOSPC, "No space left on device"), "x/y")) == (
        "cannot write 'x/y': No space left on device; free some disk space or write somewhere else")
    assert str(io_error(OSError(errno.EIO, "Input/output error"), "x/y", "choose another -o")) == (
        "cannot write 'x/y': Input/output error; choose another -o")


# -- CPU threads ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cores,load,processes,expected", [
    (2, 0.1, 1, 2), (2, 1.2, 1, 1), (2, 6.0, 1, 1), (16, 4.2, 1, 12), (16, 0.0, 4, 4), (2, 0.0, 4, 1)])
def test_free_cores_leaves_the_busy_cores_alone(monkeypatch, cores, load, processes, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert free_cores(processes) == expected


def test_threads_are_recorded_and_a_changed_count_on_resume_is_said(tmp_path, monkeypatch):
    before = torch.get_num_threads()
    try:
        run = tmp_path / "run"
        train(cfg_for(run, steps=2, threads=1), quiet=True)
        assert json.loads((run / "config.json").read_text())["runtime"]["threads"] == 1
        notes = []
        train(cfg_for(run, steps=4, threads=2), resume=True, echo=notes.append)
        assert any("trained with 1 CPU threads and resumes with 2" in n and "--threads 1" in n for n in notes), notes
    finally:
        torch.set_num_threads(before)


# -- options checked before anything is built ---------------------------------------------------------
@pytest.mark.parametrize("args,message", [
    (["train", "dcgan", "--set", "width=abc"], "--set width=\"abc\": model 'dcgan' takes an integer for 'width' "
                                               "(default 64)"),
    (["train", "dcgan", "--set", "width=1.5"], "takes an integer for 'width'"),
    (["train", "acgan", "--set", "aux_fakes=1"], "takes true or false for 'aux_fakes' (default false)"),
    (["train", "vanilla", "--set", "norm=[0]"], "takes true or false for 'norm'"),
])
def test_set_values_have_the_type_of_the_default(args, message, tmp_path):
    assert_one_line_error([*args, "--out", tmp_path / "run"], message)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args,message", [
    (["export", "RUN", "-o", "model.png"], "does not end in .onnx; give a .onnx file name, such as model.onnx"),
    (["eval", "RUN", "-o", "scores.txt"], "does not end in .json; give a .json file name, such as scores.json"),
    (["bench", "RUN", "--json", "b.csv"], "does not end in .json"),
])
def test_output_suffixes_are_checked_first(trained, tmp_path, args, message):
    assert_one_line_error([trained if a == "RUN" else tmp_path / a if "." in a else a for a in args], message)
