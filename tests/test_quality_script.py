"""benchmarks/quality.py's bookkeeping: a finished run is reused only while it was trained by
today's recipe for its row (defaults change between sessions; a stale run must not be scored
as if it were today's)."""

import importlib.util
import json
import sys
from pathlib import Path

from ganzoo.engine.config import resolve
from ganzoo.engine.train import train

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "quality.py"


def _quality():
    spec = importlib.util.spec_from_file_location("quality_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def test_a_run_trained_at_other_defaults_is_named_stale(tmp_path):
    quality = _quality()
    run = tmp_path / "vanilla-ring8-s0"
    train(resolve("vanilla", dataset="ring8", steps=2, seed=0, device="cpu", out=str(run)), quiet=True)
    job = quality.Job("vanilla", "ring8")
    assert quality._changed_recipe(run, job, 0, 2) == []
    # its rates decay over its own 2 steps: resumed to 3 they would rise again, unlike a fresh run
    assert quality._changed_recipe(run, job, 0, 3) == ["steps"]
    config = json.loads((run / "config.json").read_text())
    config["lr_g"], config["options"]["embed_dim"] = 1e-3, 3
    del config["lr_decay"]  # an older ganzoo did not record it: counts as its default (0), not as today's 0.5
    (run / "config.json").write_text(json.dumps(config))
    assert quality._changed_recipe(run, job, 0, 2) == ["lr_g", "lr_decay", "options"]
    assert quality._changed_recipe(tmp_path / "missing", job, 0, 2) == []


def test_a_row_with_settings_trains_and_checks_them(tmp_path):
    """A row such as dcgan --reg r1:0.1 on Stacked MNIST: its flags reach the train command,
    its run folder and label name them, and the recipe check compares against them."""
    quality = _quality()
    job = quality.Job("vanilla", "ring8", options={"norm": False}, settings={"reg": ["r1:1"], "lr_g": 1e-3})
    assert job.flags == ["--lr-g", "0.001", "--reg", "r1:1", "--set", "norm=False"]
    assert job.key == "vanilla-ring8-normFalse-lr_g-0.001-reg-r1-1"
    assert job.label == "vanilla (--lr-g 0.001, --reg r1:1, norm=False)"
    run = tmp_path / f"{job.key}-s0"
    train(resolve("vanilla", dataset="ring8", steps=2, seed=0, device="cpu", out=str(run), reg=["r1:1"],
                  lr_g=1e-3, options={"norm": False}), quiet=True)
    assert quality._changed_recipe(run, job, 0, 2) == []
    assert quality._changed_recipe(run, quality.Job("vanilla", "ring8"), 0, 2) == ["lr_g", "reg", "options"]


def test_a_stale_run_that_is_training_is_left_alone(tmp_path):
    from ganzoo.engine.runlock import RunLock

    quality = _quality()
    run = tmp_path / "vanilla-ring8-s0"
    train(resolve("vanilla", dataset="ring8", steps=2, seed=0, device="cpu", out=str(run)), quiet=True)
    config = json.loads((run / "config.json").read_text())
    config["lr_g"] = 1e-3
    (run / "config.json").write_text(json.dumps(config))
    lock = RunLock(run).acquire()
    try:
        record = quality.run_job(quality.Job("vanilla", "ring8"), 0, 2, None, tmp_path, "cpu", print, pictures=False)
    finally:
        lock.release()
    assert "error" in record and run.is_dir() and not list(tmp_path.glob("*.old-*"))


def test_each_row_says_which_target_it_misses_by_its_mean_over_seeds():
    quality = _quality()
    seeds = [{"modes_captured": 25, "hq_percent": 96.4, "reverse_kl": 0.006},
             {"modes_captured": 25, "hq_percent": 89.0, "reverse_kl": 0.008}]
    assert quality.verdict("grid25", seeds, [18.0, 19.0]) == "missed: high quality % 92.7 < 94"
    assert quality.verdict("grid25", seeds[:1], [18.0]) == "met"
    assert quality.verdict("grid25", seeds[:1], [31.0]) == "missed: 31 CPU-min > 30"
    # a figure the model does not produce (class accuracy of an unconditional model) is not a miss
    assert quality.verdict("mnist5k", [{"frechet_distance": 24.0, "conditional_accuracy": None}], [None]) == "met"
    assert quality.verdict("mnist5k", [{"frechet_distance": 39.72}], [None]) == "missed: Fréchet distance 39.72 > 30"
    assert quality.verdict("digits", [{"frechet_distance": 99.0}], [None]) == "—"  # no target on that data set


def test_rows_with_their_own_or_relative_targets():
    quality = _quality()
    stacked = [{"modes_captured": 1000, "kl": 0.07}]
    assert quality.verdict("stacked-mnist", stacked, [50.0]) == "met"  # the data set's own bound is 0.1
    assert quality.verdict("stacked-mnist", stacked, [50.0], "r3gan") == "missed: KL 0.07 > 0.05"
    fd = [{"frechet_distance": 60.0}]
    assert quality.verdict("emoji", fd, [None], "r3gan", {"dcgan": 130.0}) == "met"
    assert quality.verdict("emoji", fd, [None], "r3gan", {"dcgan": 100.0}) == \
        "missed: Fréchet distance 60 > 0.5 × dcgan's 100"
    assert quality.verdict("emoji", fd, [None], "stylegan2", {}) == "missed: no dcgan row on emoji to compare with"
    assert quality.verdict("emoji", fd, [None], "dcgan", {"dcgan": 60.0}) == "—"
    jobs = quality.plan([{"name": m, "dataset": "emoji", "plugin": "ganzoo"} for m in ("dcgan", "r3gan", "stylegan2")],
                        None)
    keys = [j.key for j in jobs]
    assert "r3gan-stacked-mnist" in keys and "stylegan2-emoji-1k-augment-ada" in keys
    r3 = next(j for j in jobs if j.key == "r3gan-stacked-mnist")
    assert quality._steps_for(r3, quality.BUDGETS["cpu"]) == quality.R3GAN_STACKED_STEPS
    assert quality._steps_for(r3, quality.BUDGETS["tiny"]) == 30


def test_merge_folds_new_rows_sections_pictures_and_commands_into_the_old_report():
    old = "\n".join([
        "# Quality", "", "Written by X.", "", "- Targets: mnist5k only.", "",
        "## mnist5k", "", "| model | data set | steps | FD | target |", "|---|---|---|---|---|",
        "| dcgan | mnist5k | 3,000 | 24.0 | met |", "| *real data* | mnist5k | — | 1.00 | — |", "",
        "## Gallery", "", "The first seed of each row.", "", "**dcgan-mnist5k**<br>![d](d.png)", "",
        "## Commands", "", "```", "ganzoo train dcgan", "```", "", "Training time per run: dcgan 1.0.", ""])
    new = "\n".join([
        "# Quality", "", "Written by Y.", "", "- Targets: mnist5k and emoji.", "",
        "## mnist5k", "", "| model | data set | steps | FD | target |", "|---|---|---|---|---|",
        "| dcgan | mnist5k | 5,000 | 20.0 | met |", "| lsgan | mnist5k | 3,000 | 15.9 | met |",
        "| *real data* | mnist5k | — | — | — |", "",
        "## Emoji (32 px colour)", "", "| model | data set | steps | FD | target |", "|---|---|---|---|---|",
        "| r3gan | emoji | 3,000 | 99.0 | missed |", "",
        "## Gallery", "", "The first seed of each row.", "", "**r3gan-emoji**<br>![r](r.png)", "",
        "Not measured in this run (`--only r3gan`): dcgan-mnist5k.", "",
        "## Commands", "", "```", "ganzoo train dcgan", "ganzoo train r3gan", "```", "",
        "Training time per run: r3gan 2.0.", ""])
    merged = _quality().merge_report(old, new, "(Merged.)")
    lines = merged.splitlines()
    assert lines[:4] == ["# Quality", "", "(Merged.)", ""] and "Written by X." in lines
    assert "| dcgan | mnist5k | 5,000 | 20.0 | met |" in lines and "| dcgan | mnist5k | 3,000 | 24.0 | met |" not in lines
    assert lines.index("| lsgan | mnist5k | 3,000 | 15.9 | met |") < lines.index("| *real data* | mnist5k | — | 1.00 | — |")
    # the old real-data row stays: a subset's lacks the columns that only the other models fill
    assert lines.count("| *real data* | mnist5k | — | 1.00 | — |") == 1 and "| *real data* | mnist5k | — | — | — |" \
        not in lines
    assert lines.index("## mnist5k") < lines.index("## Emoji (32 px colour)") < lines.index("## Gallery")
    assert "**dcgan-mnist5k**<br>![d](d.png)" in lines and "**r3gan-emoji**<br>![r](r.png)" in lines
    block = lines[lines.index("```") + 1:len(lines) - 1 - lines[::-1].index("```")]
    assert block == ["ganzoo train dcgan", "ganzoo train r3gan"]
    assert lines[-1] == "Training time per run: r3gan 2.0." and "Training time per run: dcgan 1.0." in lines
    # the header states today's targets; the subset run's list of what it skipped does not apply to the whole
    assert "- Targets: mnist5k and emoji." in lines and "- Targets: mnist5k only." not in lines
    assert not any(line.startswith("Not measured") for line in lines)
