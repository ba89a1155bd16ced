"""The shared training loop end to end: run directory, resume, crash safety, DDP, errors."""

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import run_cli
from ganzoo import LossSpec, ModelSpec, hookimpl
from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine.build import load_generator
from ganzoo.engine.config import resolve
from ganzoo.engine.train import Diverged, train
from ganzoo.errors import GanzooError
from ganzoo.registry import Registry

TINY = dict(steps=20, batch_size=16, log_every=5, sample_every=10, ckpt_every=10)


def tiny_cfg(tmp_path, dataset="ring8", name="run", model="vanilla", registry=None, **kw):
    return resolve(model, registry, dataset=dataset, out=str(tmp_path / name), **{**TINY, **kw})


@pytest.mark.parametrize("dataset", ["ring8", "digits", "mnist5k"])
def test_run_directory(tmp_path, dataset):
    result = train(tiny_cfg(tmp_path, dataset), quiet=True)
    run = result.run_dir
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "vanilla" and config["dataset"] == dataset and config["loss"] == "nonsaturating"
    assert config["seed"] == 0 and config["batch_size"] == 16 and config["versions"]["ganzoo"]
    assert config["runtime"]["device"] == "cpu" and config["data"]["shape"]
    assert sorted(p.name for p in (run / "checkpoint").iterdir()) == [
        "discriminator.safetensors", "generator.safetensors", "generator_ema.safetensors", "state.pt"]
    state = torch.load(run / "checkpoint" / "state.pt", weights_only=True)
    assert state["step"] == 20 and {"opt_g", "opt_d", "rng"} <= set(state)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 15, 20]
    assert all(torch.isfinite(torch.tensor([r["d_loss"], r["g_loss"]])).all() for r in rows)
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-000010.png", "step-000020.png"]
    assert (run / "losses.png").stat().st_size > 1000
    assert not list(run.glob(".checkpoint*"))


@pytest.mark.parametrize("lr_decay", [0.0, 0.5])
def test_resume_is_bit_identical(tmp_path, lr_decay):
    """With --lr-decay 0.5 the rates are constant up to step 40, so the first leg trains
    them constant; the resumed leg's schedule, a function of the step, then matches."""
    train(tiny_cfg(tmp_path, name="once", steps=80, ckpt_every=40, lr_decay=lr_decay), quiet=True)
    train(tiny_cfg(tmp_path, name="twice", steps=40, ckpt_every=40, lr_decay=0.0), quiet=True)
    cfg = tiny_cfg(tmp_path, name="twice", steps=80, ckpt_every=40, lr_decay=lr_decay)
    train(cfg, resume=True, quiet=True)
    for name in ("generator.safetensors", "generator_ema.safetensors", "discriminator.safetensors"):
        a = load_file(str(tmp_path / "once/checkpoint" / name))
        b = load_file(str(tmp_path / "twice/checkpoint" / name))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    steps = [json.loads(line)["step"] for line in (tmp_path / "twice/metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 80


def test_lr_decay_falls_linearly_to_zero_over_the_last_fraction(tmp_path):
    cfg = tiny_cfg(tmp_path, steps=20, lr_g=1e-3, lr_d=4e-3, lr_decay=0.5)
    train(cfg, quiet=True)
    state = ckpt.load_state(tmp_path / "run" / "checkpoint")
    # constant for steps 0-9, then (20 - step) / 10 of the base: the last update (step 19) ran at 1/10
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(1e-4)
    assert state["opt_d"]["param_groups"][0]["lr"] == pytest.approx(4e-4)
    constant = tiny_cfg(tmp_path, name="constant", steps=20, lr_g=1e-3, lr_decay=0.0)
    train(constant, quiet=True)
    assert ckpt.load_state(tmp_path / "constant" / "checkpoint")["opt_g"]["param_groups"][0]["lr"] == 1e-3


def _nan_plugin(after_calls):
    calls = {"n": 0}

    class NanLater:
        def d_loss(self, real, fake):
            calls["n"] += 1
            value = torch.nn.functional.softplus(-real).mean() + torch.nn.functional.softplus(fake).mean()
            return value * float("nan") if calls["n"] > after_calls else value

        def g_loss(self, fake):
            return torch.nn.functional.softplus(-fake).mean()

    module = types.ModuleType("nanplug")
    module.ganzoo_register_losses = hookimpl(
        lambda register: register(LossSpec(name="nan-later", summary="test", target=NanLater)))
    return module


def test_nan_stops_with_last_checkpoint_intact(tmp_path):
    registry = Registry(load_entry_points=False)
    registry.add_plugin(_nan_plugin(after_calls=16), "nanplug")
    cfg = tiny_cfg(tmp_path, registry=registry, loss="nan-later", steps=40)
    with pytest.raises(Diverged, match=r"d_loss = nan at step 17; the last good checkpoint \(step 10\) is intact"):
        train(cfg, quiet=True, registry=registry)
    assert ckpt.load_state(ckpt.checkpoint_dir(Path(cfg.out)))["step"] == 10
    load_generator(cfg.out)


@pytest.mark.parametrize("presses", [1, 2], ids=["ctrl-c", "ctrl-c-twice"])
def test_sigint_saves_and_resume_command_works(tmp_path, presses):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ganzoo", "train", "vanilla", "--dataset", "ring8", "--steps",
                             "1000000", "--batch-size", "16", "--log-every", "5", "--out", str(out), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "metrics.jsonl").exists() or not (out / "metrics.jsonl").read_text():
        time.sleep(0.2)
        assert time.time() < deadline, "training never started"
    for _ in range(presses):  # a second press while the save runs must not lose it
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"resume with: ganzoo train vanilla --resume {out} --steps 1000000" in err
    step = ckpt.load_state(ckpt.checkpoint_dir(out))["step"]
    assert step > 0
    load_generator(out)
    resumed = run_cli("train", "vanilla", "--resume", out, "--steps", step + 10, "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert ckpt.load_state(ckpt.checkpoint_dir(out))["step"] == step + 10


def test_torchrun_two_processes(tmp_path):
    out = tmp_path / "ddp"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ganzoo",
         "train", "vanilla", "--dataset", "digits", "--steps", "12", "--batch-size", "8", "--log-every", "4",
         "--ckpt-every", "6", "--device", "cpu", "--out", str(out), "-q"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    # the loop checks at every checkpoint that both ranks hold identical weights and fails otherwise
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("done: 12 steps") == 1  # only rank 0 reports
    config = json.loads((out / "config.json").read_text())
    assert config["runtime"]["world_size"] == 2
    assert len(list(tmp_path.iterdir())) == 1 and ckpt.load_state(out / "checkpoint")["step"] == 12


def test_torchrun_two_nodes_over_loopback(tmp_path):
    """Two single-process "nodes" (two torchrun launchers, --node_rank 0 and 1) meeting at a
    loopback rendezvous, streaming an image folder: each reads its own shard, rank 0 writes."""
    import socket

    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(24):
        Image.new("L", (12, 12), 10 * i).save(folder / f"{i}.png")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "run"
    launch = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
              "--master_addr", "127.0.0.1", "--master_port", str(port)]
    train_args = ["-m", "ganzoo", "train", "dcgan", "--dataset", f"folder:{folder}", "--image-size", "16",
                  "--stream", "--workers", "1", "--steps", "6", "--batch-size", "4", "--log-every", "3",
                  "--ckpt-every", "3", "--device", "cpu", "--out", str(out), "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = [subprocess.Popen([*launch, "--node_rank", str(rank), *train_args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for rank in (0, 1)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    for node, (_, err) in zip(nodes, outputs):
        assert node.returncode == 0, err[-3000:]
    assert sum(o.count("done: 6 steps") for o, _ in outputs) == 1  # only rank 0 reports
    config = json.loads((out / "config.json").read_text())
    assert config["runtime"]["world_size"] == 2 and config["stream"] is True
    state = ckpt.load_state(out / "checkpoint")
    assert state["step"] == 6 and state["data"] == {"drawn": 6}


@pytest.mark.parametrize("args,message", [
    (["dcgna"], "unknown model 'dcgna'"),
    (["vanilla", "--loss", "hnge"], "unknown loss 'hnge' — did you mean 'hinge'?"),
    (["vanilla", "--dataset", "mnist6k"], "unknown dataset 'mnist6k' — did you mean 'mnist5k'?"),
    (["vanilla", "--steps", "-5"], "--steps must be a positive integer, got -5"),
    (["vanilla", "--lr-decay", "1.5"], "--lr-decay must lie in [0, 1]"),
    (["vanilla", "--dataset", "digits", "--batch-size", "5000"], "--batch-size 5000 is larger than the data set (1797"),
    (["vanilla", "--reg", "gp:x"], "the weight after ':' must be a number"),
    (["vanilla", "--set", "widht=3"], "model 'vanilla' has no option 'widht'"),
    (["vanilla", "--resume", "/nonexistent/run"], "run directory '/nonexistent/run' does not exist"),
])
def test_bad_options_are_one_line_errors(args, message, tmp_path):
    result = run_cli("train", *args, "--out", tmp_path / "x", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "x" / "checkpoint").exists()


def test_existing_run_is_not_overwritten(tmp_path):
    cfg = tiny_cfg(tmp_path, steps=5)
    train(cfg, quiet=True)
    with pytest.raises(GanzooError, match="already holds a run; continue it with --resume"):
        train(tiny_cfg(tmp_path, steps=5), quiet=True)


def test_conditional_model_needs_labels(tmp_path):
    from PIL import Image

    for i in range(4):
        Image.new("L", (8, 8), 30 * i).save(tmp_path / f"{i}.png")
    registry = Registry(load_entry_points=False)
    module = types.ModuleType("condplug")
    module.ganzoo_register_models = hookimpl(lambda register: register(ModelSpec(
        name="cond", summary="s", generator="ganzoo.models.vanilla:Generator",
        discriminator="ganzoo.models.vanilla:Discriminator", conditional=True)))
    registry.add_plugin(module, "condplug")
    cfg = resolve("cond", registry, dataset=f"folder:{tmp_path}", out=str(tmp_path / "r"), steps=2, batch_size=2)
    with pytest.raises(GanzooError, match="is conditional but data set .* has no labels"):
        train(cfg, quiet=True, registry=registry)


def test_sample_command(tmp_path):
    images = train(tiny_cfg(tmp_path, "digits", name="img", steps=5), quiet=True).run_dir
    points = train(tiny_cfg(tmp_path, "ring8", name="pts", steps=5), quiet=True).run_dir
    result = run_cli("sample", images, "-n", 16, "-o", tmp_path / "g.png")
    assert result.returncode == 0 and (tmp_path / "g.png").exists(), result.stderr
    assert run_cli("sample", points, "-o", tmp_path / "p.png").returncode == 0 and (tmp_path / "p.png").exists()
    bad = run_cli("sample", images, "--labels", "1,2", "-o", tmp_path / "x.png")
    assert bad.returncode == 2 and "unconditional: drop --labels" in bad.stderr
    raw = train(tiny_cfg(tmp_path, "digits", name="raw", steps=5, ema=False), quiet=True).run_dir
    ema = run_cli("sample", raw, "--weights", "ema", "-o", tmp_path / "x.png")
    assert ema.returncode == 2 and "has no EMA weights" in ema.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text((raw / "config.json").read_text())  # a run killed before its first save
    missing = run_cli("sample", empty, "-o", tmp_path / "x.png")
    assert missing.returncode == 2 and "has no checkpoint yet" in missing.stderr


def test_reg_none_drops_model_default(tmp_path):
    result = run_cli("train", "wgan-gp", "--dataset", "ring8", "--reg", "none", "--steps", "1", "--batch-size", "8",
                     "--n-critic", "1", "--out", tmp_path / "w", "-q")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "w" / "config.json").read_text())["reg"] == []
    # none beside other --reg options: those replace the model's defaults
    result = run_cli("train", "wgan-gp", "--dataset", "ring8", "--reg", "none", "--reg", "r1:0.5@4", "--steps", "1",
                     "--batch-size", "8", "--n-critic", "1", "--out", tmp_path / "r", "-q")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r" / "config.json").read_text())["reg"] == ["r1:0.5@4"]


def test_regularizer_that_cannot_work_fails_before_the_run_starts(tmp_path):
    cfg = tiny_cfg(tmp_path, "digits", reg=["acgan-aux"])
    with pytest.raises(GanzooError, match="acgan-aux needs class labels"):
        train(cfg, quiet=True)
    assert not Path(cfg.out).exists()


def test_tensorboard_logs_every_term_and_the_sample_grids(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = tiny_cfg(tmp_path, dataset="digits", tensorboard=True, ema=True)
    train(cfg, quiet=True)
    events = EventAccumulator(str(Path(cfg.out) / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    assert {"d/adv", "g/adv", "d_loss", "g_loss", "steps_per_s"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("d/adv")] == [5, 10, 15, 20]
    logged = [json.loads(line)["d/adv"] for line in (Path(cfg.out) / "metrics.jsonl").read_text().splitlines()]
    assert [e.value for e in events.Scalars("d/adv")] == pytest.approx(logged, rel=1e-6)
    assert {"samples/ema", "samples/raw"} <= set(tags["images"])
    assert [e.step for e in events.Images("samples/ema")] == [10, 20]
    assert events.Images("samples/ema")[0].width > 8
