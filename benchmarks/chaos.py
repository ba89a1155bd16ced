"""Rerun the reliability sweep and count what each hostile input did.

Every case is a real ``python -m ganzoo ...`` process with a timeout, so what is counted is
what a user sees: the exit status and the output. Five sections:

* bad invocations: every command x every option x a set of bad values (negative, zero where
  zero means nothing, huge, 1e999, nan, '', words, missing paths, folders for files, ...),
  plus valid ones that must succeed, so the harness is seen to tell the two apart;
* hostile files: images, archives, dataset.json, config.json edits, ONNX files whose metadata
  lies, checkpoint leftovers and a pickle that would run code, each made here in a temp folder;
* kills: ``kill -9`` at random moments of a training run (and, through the checkpoint's test
  hook, at every stage of a save), each followed by ``--resume``; the newest checkpoint seen
  must never go backwards or vanish, and the run must finish;
* full disk: train, export, generate, sample, eval and plugin new onto a nearly full tmpfs
  (needs root; skipped with a note otherwise);
* demo load: 1,000 idle connections held open, a burst of requests, clients that hang up
  early; threads, memory and failed requests of the server process.

Classes: clean (exit 2 and exactly one ``Error:`` line, or a documented success), traceback,
hang (the timeout), silent accept (exit 0 where the input must be refused, or a pickle that
ran), other (any other exit status, or not exactly one ``Error:`` line), runs lost (a
checkpoint gone or rolled back). Exit status 1 when any but clean is counted.

    python benchmarks/chaos.py            # the full sweep, ~15 min on 2 busy cores
    python benchmarks/chaos.py --quick    # a reduced one (kills 5, fewer commands per file)
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import random
import resource
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "chaos.md"
CLASSES = ["clean", "traceback", "hang", "silent accept", "other", "runs lost"]
FAILURES = CLASSES[1:]


# -- running one case -------------------------------------------------------------------------------
@dataclass
class Case:
    """One ``ganzoo`` process. ``expect``: 'refuse' (exit 0 is a silent accept), 'ok' (must
    succeed) or 'either' (a clean refusal and a success are both fine: the reason says why).
    ``{S}`` in an argument is the case's own scratch folder; ``prep`` builds its files there
    and ``post`` looks at what the command left (returning a class and a note, or None)."""

    section: str
    group: str
    args: list[str]
    expect: str = "refuse"
    prep: Callable[[Path], Any] | None = None
    post: Callable[[Path, subprocess.CompletedProcess], tuple[str, str] | None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    serves: bool = False  # `ganzoo demo`: still running at the timeout means it started
    reason: str = ""
    label: str = ""  # what is hostile about the case's file, where the command does not show it


@dataclass
class Outcome:
    case: Case
    cls: str
    rc: int | None
    seconds: float
    command: str
    detail: str = ""


#: Address space of every ganzoo process (``--memory-gb``): a number that escaped its bound then fails
#: inside the cap, and is counted, instead of taking the shared machine's memory.
MEMORY_CAP = [6 * 1024**3]
OUT_OF_MEMORY = ("can't allocate memory", "Cannot allocate memory", "MemoryError", "bad_alloc")


def capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP[0], MEMORY_CAP[0]))


BASE_ENV = {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore", "COLUMNS": "100"}


def classify(case: Case, rc: int | None, out: str, err: str, hung: bool) -> tuple[str, str]:
    text = out + "\n" + err
    errors = [line for line in text.splitlines() if line.startswith("Error: ")]
    first = (errors[0] if errors else (err.strip().splitlines() or out.strip().splitlines() or [""])[-1])[:300]
    if "Traceback (most recent call last)" in text:
        where = [line.strip() for line in text.splitlines() if line.strip()][-1:]
        return "traceback", (where[0] if where else "")[:300]
    if any(marker in text for marker in OUT_OF_MEMORY) or rc == -signal.SIGKILL:
        return "other", f"ran into the {MEMORY_CAP[0] / 1024**3:.0f} GB memory cap (exit {rc}): {first}"
    if case.serves and hung:
        started = "ganzoo demo of" in out
        if started:
            return ("silent accept", "the server started") if case.expect == "refuse" else ("clean", "served")
        return "hang", "no address printed before the timeout"
    if hung:
        return "hang", first
    if rc == 0:
        if case.expect == "refuse":
            return "silent accept", (out.strip().splitlines() or [""])[-1][:300]
        return "clean", ""
    if rc == 2 and len(errors) == 1:
        if case.expect == "ok":
            return "other", "a valid command was refused: " + first
        return "clean", first
    return "other", f"exit {rc}, {len(errors)} Error: lines; {first}"


def execute(case: Case, scratch: Path, timeout: float) -> Outcome:
    scratch.mkdir(parents=True, exist_ok=True)
    args = [a.replace("{S}", str(scratch)) for a in case.args]
    command = shlex.join(["ganzoo", *args])
    if case.prep is not None:
        case.prep(scratch)
    env = {**os.environ, **BASE_ENV, "GANZOO_DATA": str(scratch.parents[1] / "data"), **case.env}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "ganzoo", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, cwd=scratch, env=env, start_new_session=True, preexec_fn=capped)
    hung = False
    try:
        raw_out, raw_err = proc.communicate(timeout=case.timeout or timeout)
    except subprocess.TimeoutExpired:
        hung = True
        if case.serves:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                raw_out, raw_err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raw_out, raw_err = proc.communicate()
        else:
            os.killpg(proc.pid, signal.SIGKILL)
            raw_out, raw_err = proc.communicate()
    seconds = time.monotonic() - started
    out, err = raw_out.decode(errors="replace"), raw_err.decode(errors="replace")
    if case.serves and hung and "Traceback (most recent call last)" in err and "KeyboardInterrupt" in err:
        err = ""  # our own Ctrl-C of a started server is no finding (its stop line is checked in demo load)
    cls, detail = classify(case, None if hung else proc.returncode, out, err, hung)
    if case.post is not None and cls not in ("traceback", "hang"):
        found = case.post(scratch, subprocess.CompletedProcess(args, proc.returncode, out, err))
        if found is not None:
            cls, detail = found
    return Outcome(case, cls, None if hung else proc.returncode, seconds, command, detail)


def run_cases(cases: list[Case], work: Path, jobs: int, timeout: float, label: str) -> list[Outcome]:
    done: list[Outcome] = []
    lock = threading.Lock()
    started = time.monotonic()

    def one(item: tuple[int, Case]) -> Outcome:
        i, case = item
        outcome = execute(case, work / "cases" / f"{label}-{i:04d}", timeout)
        with lock:
            done.append(outcome)
            if outcome.cls != "clean":
                what = f"{case.group}: {case.label}: " if case.label else ""
                print(f"  [{outcome.cls}] {what}{outcome.command}\n      {outcome.detail}", flush=True)
            if len(done) % 50 == 0:
                print(f"  {label}: {len(done)}/{len(cases)} in {time.monotonic() - started:.0f} s", flush=True)
        return outcome

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, enumerate(cases)))
    return results


# -- the targets every case points at ---------------------------------------------------------------
@dataclass
class Targets:
    work: Path
    rp: Path = Path()  # vanilla on ring8 (2-D points, EMA weights)
    ri: Path = Path()  # dcgan on digits (8x8 images, raw weights only)
    rc: Path = Path()  # infogan on digits (latent codes)
    rl: Path = Path()  # cgan on digits (labels)
    op: Path = Path()
    oi: Path = Path()
    oc: Path = Path()
    ol: Path = Path()
    nope: Path = Path()
    folder: Path = Path()
    text: Path = Path()


def cli(args: list[Any], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, **BASE_ENV, "GANZOO_DATA": str(cwd / "data")}
    return subprocess.run([sys.executable, "-m", "ganzoo", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def make_targets(work: Path, jobs: int) -> Targets:
    """Four 2-step runs and their exports, made once: everything else points at copies of them."""
    t = Targets(work)
    base = work / "targets"
    base.mkdir(parents=True)
    specs = {"rp": ("vanilla", "ring8"), "ri": ("dcgan", "digits"), "rc": ("infogan", "digits"),
             "rl": ("cgan", "digits")}

    def build(key: str) -> None:
        model, data = specs[key]
        run = base / key
        done = cli(["train", model, "--dataset", data, "--steps", "2", "--batch-size", "8", "--device", "cpu",
                    "--out", run, "-q"], work)
        if done.returncode != 0:
            raise SystemExit(f"chaos: cannot make the target run {key}: {done.stderr.strip()}")
        exported = cli(["export", run, "-o", base / f"{key}.onnx"], work)
        if exported.returncode != 0:
            raise SystemExit(f"chaos: cannot export the target run {key}: {exported.stderr.strip()}")
        setattr(t, key, run)
        setattr(t, "o" + key[1], base / f"{key}.onnx")

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(build, specs))
    t.nope = base / "no-such-thing"
    t.folder = base / "a-folder"
    t.folder.mkdir()
    t.text = base / "notes.txt"
    t.text.write_text("just some text, not what was asked for\n")
    return t


# -- 1. bad invocations -----------------------------------------------------------------------------
INT_BAD = ["-1", "abc", "", "1e999", "nan", "1.5", "99999999999999999999", "-99999999999999999999"]
FLOAT_BAD = ["nan", "inf", "-inf", "1e999", "abc", "", "-1"]


def with_option(base: list[str], option: str, values: list[str]) -> list[str]:
    """``base`` with ``option`` set to ``values`` (replaced where base has it, appended otherwise)."""
    args = list(base)
    if option in args:
        i = args.index(option)
        del args[i:i + 2]
    for value in values:
        args += [option, value]
    return args


def copy_of(run: Path, name: str = "run") -> Callable[[Path], Any]:
    return lambda s: shutil.copytree(run, s / name)


class Invocations:
    """Collects the bad invocations: ``add`` one, or ``sweep`` one option of a base command
    over a list of values (each value replacing the base's own)."""

    def __init__(self, t: Targets) -> None:
        self.t = t
        self.cases: list[Case] = []
        self.nope, self.folder, self.text = str(t.nope), str(t.folder), str(t.text)
        self.in_paths = [self.nope, self.folder, self.text, ""]
        self.train = ["train", "vanilla", "--dataset", "ring8", "--steps", "2", "--batch-size", "8", "--device", "cpu",
                      "--out", "{S}/run", "-q"]
        self.sample = ["sample", str(t.rp), "-o", "{S}/s.png"]
        self.label_sample = ["sample", str(t.rl), "-o", "{S}/s.png"]
        self.code_sample = ["sample", str(t.rc), "-o", "{S}/s.png"]
        self.export = ["export", str(t.rp), "-o", "{S}/x.onnx"]
        self.generate = ["generate", str(t.oi), "-o", "{S}/g.png"]
        self.label_generate = ["generate", str(t.ol), "-o", "{S}/g.png"]
        self.code_generate = ["generate", str(t.oc), "-o", "{S}/g.png"]
        self.evaluate = ["eval", str(t.rp), "-n", "100", "-o", "{S}/e.json"]
        self.bench = ["bench", str(t.op), "--no-torch", "--batch-sizes", "1", "--runs", "10", "--max-time", "1", "-q"]
        self.demo = ["demo", str(t.oi), "--port", "0"]
        self.serve: dict[str, Any] = {"serves": True, "timeout": 30}  # demo: runs until the timeout when it starts

    def add(self, group: str, args: list[str], expect: str = "refuse", **kw: Any) -> None:
        self.cases.append(Case("bad invocations", group, [str(a) for a in args], expect, **kw))

    def sweep(self, group: str, base: list[str], option: str, values: list[str], **kw: Any) -> None:
        for value in values:
            self.add(group, with_option(base, option, [value]), **kw)


def _train_cases(c: Invocations) -> None:
    """Train: every number, every name, every path."""
    t, nope, folder, text = c.t, c.nope, c.folder, c.text
    in_paths, add, sweep, train = c.in_paths, c.add, c.sweep, c.train
    positive = ["--steps", "--batch-size", "--n-critic", "--latent-dim", "--log-every", "--sample-every",
                "--ckpt-every", "--image-size"]
    for option in positive:
        sweep("train", train, option, ["0", *INT_BAD])
    for option in ("--seed", "--threads", "--workers"):
        sweep("train", train, option, INT_BAD)
    sweep("train", train, "--steps", ["1000000001", "9223372036854775808"])
    sweep("train", train, "--batch-size", ["65537", "10000000"])
    sweep("train", train, "--latent-dim", ["65537", "1000000000"])
    sweep("train", train, "--n-critic", ["1001"])
    sweep("train", train, "--image-size", ["3", "1025", "20000"])
    sweep("train", train, "--seed", ["4294967296", "9223372036854775808"])
    sweep("train", train, "--threads", ["100000"])
    sweep("train", train, "--workers", ["100000"])
    for option in ("--lr-g", "--lr-d"):
        sweep("train", train, option, [*FLOAT_BAD, "0"])
    sweep("train", train, "--lr-decay", [*FLOAT_BAD, "1.5"])
    sweep("train", train, "--ema-decay", [*FLOAT_BAD, "1.5"])
    sweep("train", train, "--data-budget", [*FLOAT_BAD, "0"])
    sweep("train", train, "--dataset", ["nope", "", "ringg8", f"folder:{nope}", f"folder:{text}", f"folder:{folder}",
                                        "folder:", "ring8:3"])
    sweep("train", train, "--loss", ["nope", "", "lsgan:a=abc", "hinge:zz=1", ":", "lsgan:a=nan", "lsgan:a"])
    sweep("train", train, "--reg", ["nope", "", "gp:abc", "gp:-1", "gp:10@0", "gp:nan", "r1:1@-3", "gp:inf"])
    sweep("train", train, "--augment", ["nope", "", "ada:target=abc", "diffaug:bogus", "ada:target=2"])
    sweep("train", train, "--betas", ["0.5", "a,b", "1.5,0.9", "nan,0.9", "0.5,0.9,0.1", "-1,0.5", "", "inf,0.5"])
    sweep("train", train, "--device", ["nope", "", "cuda:99", "cuda", "mps", "cpu:0:0"])
    sweep("train", train, "--discriminator", ["timm:nope", "nope", ""])
    sweep("train", train, "--set", ["hidden", "=3", "nope=1", "norm=abc", ""])
    dcgan = with_option(with_option(train, "--dataset", ["digits"]), "--batch-size", ["8"])
    dcgan[1] = "dcgan"
    sweep("train", dcgan, "--set", ["width=-1", "width=0", "width=abc", "width=1.5", "width=1e999",
                                    "width=99999999999999999999", "width=100000"])
    mnist = with_option(train, "--dataset", ["mnist"])  # a torchvision set: --data-dir is read
    sweep("train", mnist, "--data-dir", [text, nope, ""])
    sweep("train", train, "--out", [text, str(t.rp), "", "/proc/chaos/run"])
    for model in ("nope", "", "vanila", "*"):
        add("train", ["train", model, *train[2:]])
    add("train", ["train", "--dataset", "ring8"])  # no model
    add("train", ["train", "vanilla", *train[2:], "--bogus"])
    for value in in_paths:
        add("train", ["train", "--resume", value, "-q"])
    add("train", ["train", "--resume", "{S}/run", "--lr-g", "0.1", "-q"], prep=copy_of(t.rp))
    add("train", ["train", "dcgan", "--resume", "{S}/run", "-q"], prep=copy_of(t.rp))
    add("train", ["train", "--resume", "{S}/run", "--steps", "1", "-q"], prep=copy_of(t.rp), expect="either",
        reason="asking for fewer steps than done may finish at once or be refused")
    add("train", ["train", "--resume", "{S}/run", "--steps", "-5", "-q"], prep=copy_of(t.rp))
    add("train", ["train", "--resume", "{S}/run", "--threads", "100000", "-q"], prep=copy_of(t.rp))


def _sample_cases(c: Invocations) -> None:
    """Sample."""
    t, folder, in_paths, add = c.t, c.folder, c.in_paths, c.add
    sweep, sample, label_sample, code_sample = c.sweep, c.sample, c.label_sample, c.code_sample
    sweep("sample", sample, "-n", ["0", *INT_BAD, "1000001"])
    add("sample", with_option(["sample", str(t.ri), "-o", "{S}/s.png"], "-n", ["2000000"]))
    sweep("sample", sample, "--seed", [*INT_BAD, "4294967296"])
    sweep("sample", sample, "--weights", ["bogus", ""])
    add("sample", ["sample", str(t.ri), "--weights", "ema", "-o", "{S}/s.png"])  # dcgan keeps no EMA here
    sweep("sample", sample, "--truncation", ["-1", "2", "nan", "abc", "", "inf", "1e999"])
    add("sample", [*sample, "--truncation", "0"], "either", reason="psi 0 is documented: z = 0 (the average image)")
    sweep("sample", sample, "-o", ["", "{S}/s.txt", folder, "/proc/chaos/s.png", "{S}/s"])
    sweep("sample", sample, "--labels", ["3"])  # unconditional
    sweep("sample", label_sample, "--labels", ["10", "-1", "abc", "", "1,,x", "99999999999999999999"])
    sweep("sample", code_sample, "--code", ["c1=10", "c1=-1", "c1=abc", "c2=nan", "c2=1e999", "c2=5000", "c9=1",
                                            "c1", "=3", "", "c2=1:", "c2=inf:1"])
    add("sample", [*code_sample, "--code", "c1=all", "--code", "c1=3"])
    add("sample", [*code_sample, "--code", "c2=-1:1", "--code", "c3=-1:1"])
    add("sample", [*sample, "--code", "c1=3"])
    for value in in_paths:
        add("sample", ["sample", value, "-o", "{S}/s.png"])


def _export_cases(c: Invocations) -> None:
    """Export."""
    t, text, in_paths, add, sweep, export = c.t, c.text, c.in_paths, c.add, c.sweep, c.export
    sweep("export", export, "--opset", ["0", "1", "99", *INT_BAD])
    sweep("export", export, "--weights", ["bogus", ""])
    add("export", ["export", str(t.ri), "--weights", "ema", "-o", "{S}/x.onnx"])
    sweep("export", export, "--exporter", ["bogus", ""])
    sweep("export", export, "-o", ["", "{S}/x.png", "/proc/chaos/x.onnx", text])
    for value in in_paths:
        add("export", ["export", value, "-o", "{S}/x.onnx"])


def _generate_cases(c: Invocations) -> None:
    """Generate."""
    t, folder, in_paths, add = c.t, c.folder, c.in_paths, c.add
    sweep, generate, label_generate, code_generate = c.sweep, c.generate, c.label_generate, c.code_generate
    sweep("generate", generate, "-n", ["0", *INT_BAD, "10000001", "1000000"])
    add("generate", ["generate", str(t.op), "--npy", "{S}/x.npy", "-n", "20000000"])
    sweep("generate", generate, "--seed", [*INT_BAD, "4294967296"])
    sweep("generate", generate, "--provider", ["bogus", ""])
    sweep("generate", generate, "--labels", ["3"])
    sweep("generate", label_generate, "--labels", ["10", "-1", "abc", "", "99999999999999999999"])
    sweep("generate", code_generate, "--code", ["c1=10", "c1=abc", "c2=nan", "c2=1e999", "c9=1", "c1", ""])
    sweep("generate", generate, "-o", ["", "{S}/g.txt", folder, "/proc/chaos/g.png"])
    sweep("generate", generate, "--npy", ["", "{S}/x.txt", folder, "/proc/chaos/x.npy"])
    sweep("generate", generate, "--latent-dim", ["0", *INT_BAD, "65537"])
    sweep("generate", generate, "--interpolate", ["0", "1", "1001", *INT_BAD])
    add("generate", [*generate, "--interpolate", "4", "--npy", "{S}/x.npy"])
    add("generate", ["generate", str(t.op), "--interpolate", "4", "-o", "{S}/w.gif"])
    sweep("generate", generate, "--truncation", ["-1", "2", "nan", "abc", "", "inf"])
    add("generate", [*generate, "--truncation", "0"], "either", reason="psi 0 is documented: z = 0")
    for value in in_paths:
        add("generate", ["generate", value, "-o", "{S}/g.png"])


def _eval_cases(c: Invocations) -> None:
    """Eval."""
    nope, folder, text = c.nope, c.folder, c.text
    in_paths, add, sweep, evaluate = c.in_paths, c.add, c.sweep, c.evaluate
    sweep("eval", evaluate, "-n", ["0", *INT_BAD, "1000001", "100000000"])
    sweep("eval", evaluate, "--seed", [*INT_BAD, "4294967296"])
    sweep("eval", evaluate, "--weights", ["bogus", ""])
    sweep("eval", evaluate, "-o", ["", "{S}/e.txt", folder, "/proc/chaos/e.json"])
    sweep("eval", evaluate, "--metric", ["bogus", "", "fid,bogus"])
    add("eval", [*evaluate, "--metric", "fid"])  # no Inception weights offline
    add("eval", [*evaluate, "--metric", "fid", "--inception-weights", nope])
    add("eval", [*evaluate, "--metric", "fid", "--inception-weights", text])
    add("eval", [*evaluate, "--reference", "ring8"])  # only with fid/kid/is
    add("eval", [*evaluate, "--metric", "fid", "--reference", "nope"])
    for value in in_paths:
        add("eval", ["eval", value, "-n", "100", "-o", "{S}/e.json"])


def _bench_cases(c: Invocations) -> None:
    """Bench."""
    folder, in_paths, add, sweep, bench = c.folder, c.in_paths, c.add, c.sweep, c.bench
    sweep("bench", bench, "--batch-sizes", ["", "abc", "0", "-1", "1,,x", "99999999999", "1e999", "nan"])
    sweep("bench", bench, "--providers", ["bogus", "", "cpu,bogus"])
    sweep("bench", bench, "--warmup", ["-1", "abc", "", "100001", "99999999999999999999"])
    sweep("bench", bench, "--runs", ["0", "-1", "abc", "", "100001", "99999999999999999999"])
    sweep("bench", bench, "--max-time", ["0", "-1", "nan", "inf", "1e999", "3601", "abc", ""])
    sweep("bench", bench, "--threads", ["0", "-1", "100000", "abc", ""])
    sweep("bench", bench, "--run", in_paths)
    sweep("bench", bench, "--json", ["", "{S}/b.txt", folder, "/proc/chaos/b.json"])
    for value in in_paths:
        add("bench", ["bench", value, "--no-torch", "-q"])


def _demo_cases(c: Invocations) -> None:
    """Demo: a refusal ends at once; a server that starts on a bad value runs until the timeout."""
    in_paths, add, sweep, demo, serve = c.in_paths, c.add, c.sweep, c.demo, c.serve
    sweep("demo", demo, "--port", ["-1", "65536", "abc", "", "1e999", "99999999999999999999"], **serve)
    sweep("demo", demo, "--host", ["", "nope.invalid", "999.1.1.1", "::zz", "192.0.2.1"], **serve)
    sweep("demo", demo, "--provider", ["bogus", ""], **serve)
    for value in in_paths:
        add("demo", ["demo", value, "--port", "0"], **serve)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    BUSY_SOCKETS.append(busy)
    add("demo", [*demo[:2], "--port", str(busy.getsockname()[1])], **serve)


def _plugin_new_cases(c: Invocations) -> None:
    """Plugin new."""
    text, add, sweep = c.text, c.add, c.sweep
    new = ["plugin", "new", "demo", "--dir", "{S}"]
    for name in ("", "Bad Name", "1abc", "a/b", "../x", "x" * 300, "ganzoo", "-", "demo!", "é"):
        add("plugin new", ["plugin", "new", name, "--dir", "{S}"])
    sweep("plugin new", new, "--dir", [text, "", "/proc/chaos"])
    add("plugin new", new, prep=lambda s: (s / "ganzoo-demo").mkdir())  # already there


def _list_info_plugins_the_group_cases(c: Invocations) -> None:
    """List / info / plugins / the group."""
    add = c.add
    for args in (["list", "bogus", "x"], ["list", "zzz-nothing"], ["list", "models", "zzz*"], ["list", ""],
                 ["list", "models", ""], ["list", "a", "b", "c"], ["list", "--bogus"], ["list", "models", "["]):
        add("list", args)
    for name in ("", "nope", "vanila", "*", "x" * 5000, "ganzoo:", "nope:vanilla", ":"):
        add("info", ["info", name])
    add("info", ["info"])
    for args in (["plugins", "x"], ["plugins", "--json", "x"], ["plugins", "--bogus"]):
        add("plugins", args)
    for args in (["bogus"], ["--bogus"], [""], ["--help", "x"]):
        add("group", args, "refuse" if args[0] != "--help" else "either", reason="--help is eager in click")
    add("group", ["-V", "x"], "either", reason="--version is eager in click: it prints and exits before the rest")


def _valid_ones_cases(c: Invocations) -> None:
    """Valid ones: the harness must see these succeed."""
    t, add, train, sample, label_sample, code_sample = c.t, c.add, c.train, c.sample, c.label_sample, c.code_sample
    generate, label_generate, bench, demo, serve = c.generate, c.label_generate, c.bench, c.demo, c.serve
    ok: dict[str, Any] = {"expect": "ok"}
    add("valid", ["list"], **ok)
    add("valid", ["list", "models", "--json"], **ok)
    add("valid", ["info", "vanilla"], **ok)
    add("valid", ["plugins", "--json"], **ok)
    add("valid", train, **ok)
    add("valid", sample, **ok)
    add("valid", [*code_sample, "--code", "c1=all"], **ok)
    add("valid", [*label_sample, "--labels", "3"], **ok)
    add("valid", ["export", str(t.ri), "-o", "{S}/x.onnx"], **ok)
    add("valid", generate, **ok)
    add("valid", [*label_generate, "--labels", "3", "-n", "8"], **ok)
    add("valid", ["generate", str(t.op), "--npy", "{S}/x.npy", "-n", "1000"], **ok)
    add("valid", [*generate, "--interpolate", "3", "-n", "4", "-o", "{S}/w.gif"], **ok)
    add("valid", ["eval", str(t.op), "-n", "100", "-o", "{S}/e.json"], **ok)
    add("valid", bench, **ok)
    add("valid", ["plugin", "new", "demo", "--dir", "{S}"], **ok)
    add("valid", demo, **ok, **serve)
    add("valid", ["train", "--resume", "{S}/run", "--steps", "3", "-q"], prep=copy_of(t.rp), **ok)


def invocations(t: Targets) -> list[Case]:
    c = Invocations(t)
    for part in (_train_cases, _sample_cases, _export_cases, _generate_cases, _eval_cases, _bench_cases,
                 _demo_cases, _plugin_new_cases, _list_info_plugins_the_group_cases, _valid_ones_cases):
        part(c)
    return c.cases


BUSY_SOCKETS: list[socket.socket] = []


# -- 2. hostile files -------------------------------------------------------------------------------
def png(w: int = 12, h: int = 12, seed: int = 0) -> bytes:
    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(seed: int = 0) -> bytes:
    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def header_png(w: int, h: int, crc_ok: bool = True) -> bytes:
    """A PNG whose header claims w x h pixels: a few bytes on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) if crc_ok else 0
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def header_bmp(w: int, h: int) -> bytes:
    return (b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 0, 0, 0,
                                                                      0))


def header_gif(w: int, h: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", w, h) + b"\x00\x00\x00" + b"\x3b"


def sparse(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        handle.truncate(size)


def good_images(root: Path, n: int = 8) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"{i:03d}.png").write_bytes(png(seed=i))
    return root


def write(name: str, data: bytes | str) -> Callable[[Path], Any]:
    raw = data.encode() if isinstance(data, str) else data
    return lambda root: (root / name).write_bytes(raw)


def symlink_loop(root: Path) -> None:
    (root / "bad.png").symlink_to(root / "bad2.png")
    (root / "bad2.png").symlink_to(root / "bad.png")


def image_cases() -> dict[str, Callable[[Path], Any]]:
    whole = png(64, 64)
    j = jpeg()
    cases: dict[str, Callable[[Path], Any]] = {
        "text named .png": write("bad.png", "hello, not an image"),
        "empty .png": write("bad.png", b""),
        "random bytes .png": write("bad.png", os.urandom(4096)),
        "random bytes .jpg": write("bad.jpg", os.urandom(4096)),
        "random bytes .bmp": write("bad.bmp", b"BM" + os.urandom(4096)),
        "random bytes .gif": write("bad.gif", b"GIF89a" + os.urandom(512)),
        "random bytes .webp": write("bad.webp", b"RIFF\x00\x10\x00\x00WEBP" + os.urandom(512)),
        "random bytes .tif": write("bad.tif", b"II*\x00" + os.urandom(512)),
        "png magic only": write("bad.png", b"\x89PNG\r\n\x1a\n"),
        "png bad CRC": write("bad.png", header_png(12, 12, crc_ok=False)),
        "png 0x0 header": write("bad.png", header_png(0, 0)),
        "png 30000x30000 header": write("bad.png", header_png(30000, 30000)),
        "png 9000x9000 header": write("bad.png", header_png(9000, 9000)),
        "png 65535x1 header": write("bad.png", header_png(65535, 1)),
        "png 2^31-1 square header": write("bad.png", header_png(2**31 - 1, 2**31 - 1)),
        "bmp 100000x100000 header": write("bad.bmp", header_bmp(100000, 100000)),
        "bmp negative size": write("bad.bmp", header_bmp(-5, -5)),
        "gif 65535x65535 header": write("bad.gif", header_gif(65535, 65535)),
        "jpeg cut at 20 bytes": write("bad.jpg", j[:20]),
        "jpeg text body": write("bad.jpg", b"\xff\xd8\xff\xe0" + b"not a jpeg" * 20),
        "17 MB of zeros .png": lambda root: sparse(root / "bad.png", 17 * 1024**2),
        "symlink outside to text": lambda root: (root / "bad.png").symlink_to(Path(__file__).resolve()),
        "broken symlink": lambda root: (root / "bad.png").symlink_to(root / "nowhere.png"),
        "symlink loop": symlink_loop,
        "symlink to /dev/zero": lambda root: (root / "bad.png").symlink_to("/dev/zero"),
        "symlink to /dev/urandom": lambda root: (root / "bad.png").symlink_to("/dev/urandom"),
        "fifo named .png": lambda root: os.mkfifo(root / "bad.png"),
    }
    for share in (10, 25, 50, 75, 90):
        cases[f"png cut at {share} %"] = write("bad.png", whole[:len(whole) * share // 100])
    return cases


def zip_of(path: Path, extra: dict[str, bytes] | None = None, n: int = 8, method: int = zipfile.ZIP_STORED) -> bytes:
    import warnings

    warnings.filterwarnings("ignore", "Duplicate name", UserWarning)  # one case writes a name twice on purpose
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for i in range(n):
            zf.writestr(f"img{i:03d}.png", png(seed=i))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path.read_bytes()


def patched_zip(path: Path, member: str, offset: int, value: bytes, extra: dict[str, bytes] | None = None,
                method: int = zipfile.ZIP_DEFLATED) -> None:
    """A zip whose central directory entry of ``member`` has ``value`` written at ``offset``."""
    raw = bytearray(zip_of(path, extra, method=method))
    entry = raw.rfind(b"PK\x01\x02")
    assert raw[entry + 46:entry + 46 + len(member)] == member.encode()
    raw[entry + offset:entry + offset + len(value)] = value
    path.write_bytes(bytes(raw))


def archive_cases() -> dict[str, Callable[[Path], Any]]:
    labels = lambda data: (lambda p: zip_of(p, {"dataset.json": data if isinstance(data, bytes)  # noqa: E731
                                                else json.dumps(data).encode()}))
    return {
        "zeros bomb 8 MB": lambda p: zip_of(p, {"bomb.bmp": b"\0" * (8 * 1024**2)}, method=zipfile.ZIP_DEFLATED),
        "zeros bomb named .png": lambda p: zip_of(p, {"bomb.png": b"\0" * (8 * 1024**2)},
                                                  method=zipfile.ZIP_DEFLATED),
        "declares 3.5 GB": lambda p: patched_zip(p, "big.png", 24, struct.pack("<I", 3_500_000_000),
                                                 {"big.png": b"\0" * 2048}),
        "declares 0 bytes for 2 KB": lambda p: patched_zip(p, "big.png", 24, struct.pack("<I", 0),
                                                           {"big.png": b"\1" * 2048}),
        "unknown compression method": lambda p: patched_zip(p, "odd.png", 10, struct.pack("<H", 99),
                                                            {"odd.png": png()}),
        "encrypted flag": lambda p: patched_zip(p, "enc.png", 8, struct.pack("<H", 1), {"enc.png": png()}),
        "member ../evil.png": lambda p: zip_of(p, {"../evil.png": png()}),
        "member /abs.png": lambda p: zip_of(p, {"/abs.png": png()}),
        "member a/../../x.png": lambda p: zip_of(p, {"a/../../x.png": png()}),
        "text member": lambda p: zip_of(p, {"bad.png": b"not an image"}),
        "bomb header member": lambda p: zip_of(p, {"bad.png": header_png(30000, 30000)}),
        "truncated member": lambda p: zip_of(p, {"bad.png": png(64, 64)[:300]}),
        "zip in a zip": lambda p: zip_of(p, {"inner.zip": zip_of(p.with_name("inner.zip"))}),
        "duplicate member names": lambda p: zip_of(p, {"img000.png": b"second copy, not an image"}),
        "no images": lambda p: zip_of(p, {"readme.txt": b"hi"}, n=0),
        "empty zip": lambda p: zip_of(p, n=0),
        "cut to 300 bytes": lambda p: p.write_bytes(zip_of(p)[:300]),
        "cut to half": lambda p: p.write_bytes(zip_of(p)[:len(zip_of(p)) // 2]),
        "cut before the end record": lambda p: p.write_bytes(zip_of(p)[:-10]),
        "random bytes .zip": lambda p: p.write_bytes(os.urandom(8192)),
        "empty .zip": lambda p: p.write_bytes(b""),
        "labels of 10**12": labels({"labels": [[f"img{i:03d}.png", 10**12] for i in range(8)]}),
        "labels []": labels([]),
        "labels non-UTF-8": labels(b"\xff\xfe{}"),
        "labels not pairs": labels({"labels": [["img000.png"]]}),
        "labels bool": labels({"labels": [["img000.png", True]]}),
        "labels nested 100,000 deep": labels(b"[" * 100_000 + b"]" * 100_000),
        "labels 17 MB": labels(b" " * (17 * 1024**2)),
        "labels negative": labels({"labels": [[f"img{i:03d}.png", -1] for i in range(8)]}),
        "labels of missing files": labels({"labels": [["nothere.png", 1]]}),
    }


def labels_cases() -> dict[str, Callable[[Path], Any]]:
    def put(data: bytes | str) -> Callable[[Path], Any]:
        raw = data.encode() if isinstance(data, str) else data
        return lambda p: p.write_bytes(raw)

    pairs = lambda label: json.dumps({"labels": [[f"{i:03d}.png", label] for i in range(8)]})  # noqa: E731
    return {
        "17 MB sparse": lambda p: sparse(p, 17 * 1024**2),
        "[]": put("[]"),
        "null": put("null"),
        "empty file": put(""),
        "non-UTF-8": put(b'{"labels": "\xff"}'),
        "UTF-16 with BOM": put('{"labels": []}'.encode("utf-16")),
        "NaN": put('{"labels": NaN}'),
        "Infinity label": put('{"labels": [["000.png", Infinity]]}'),
        "missing key": put('{"label": null}'),
        "string label": put(pairs("7")),
        "float label": put(pairs(1.5)),
        "negative label": put(pairs(-3)),
        "label 10**12": put(pairs(10**12)),
        "label 2**70": put(pairs(2**70)),
        "file not in the folder": put(json.dumps({"labels": [["ghost.png", 1]]})),
        "nested 100,000 deep": put("[" * 100_000 + "]" * 100_000),
        "a folder": lambda p: p.mkdir(),
        "symlink to /dev/zero": lambda p: p.symlink_to("/dev/zero"),
    }


def edit(key: str, value: Any) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        meta = json.loads(path.read_text())
        target = meta
        *parents, last = key.split(".")
        for part in parents:
            target = target[part]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
        path.write_text(json.dumps(meta))
    return apply


def config_cases() -> dict[str, Callable[[Path], Any]]:
    def replace(old: str, new: str) -> Callable[[Path], Any]:
        return lambda p: p.write_text(p.read_text().replace(old, new, 1))

    def gone(p: Path) -> None:
        p.unlink()

    def as_folder(p: Path) -> None:
        p.unlink()
        p.mkdir()

    def to_zero(p: Path) -> None:
        p.unlink()
        p.symlink_to("/dev/zero")

    return {
        "a list": lambda p: p.write_text("[]"),
        "null": lambda p: p.write_text("null"),
        "empty": lambda p: p.write_text(""),
        "non-UTF-8": lambda p: p.write_bytes(b'{"model": "\xc3\x28"}'),
        "17 MB": lambda p: sparse(p, 17 * 1024**2),
        "not JSON": lambda p: p.write_text("{"),
        "nested 100,000 deep": lambda p: p.write_text("[" * 100_000 + "]" * 100_000),
        "missing steps": edit("steps", KeyError),
        "steps abc": edit("steps", "abc"),
        "steps 1e999": replace('"steps": ', '"steps": 1e999, "x": '),
        "betas 5": edit("betas", 5),
        "latent_dim 10**9": edit("latent_dim", 10**9),
        "batch_size -1": edit("batch_size", -1),
        "seed 2**63": edit("seed", 2**63),
        "lr_g NaN": replace('"lr_g": ', '"lr_g": NaN, "x": '),
        "shape 1e999": replace('"shape": [', '"shape": [1e999, '),
        "model_classes 10**12": edit("data.model_classes", 10**12),
        "data missing": edit("data", KeyError),
        "modes of words": edit("data.modes", ["a", "b"]),
        "options a list": edit("options", []),
        "threads x": edit("runtime.threads", "x"),
        "model nope": edit("model", "nope"),
        "loss nope": edit("loss", "nope"),
        "deleted": gone,
        "a folder": as_folder,
        "symlink to /dev/zero": to_zero,
    }


def tiny_onnx(path: Path, metadata: dict[str, str | None], latent: int | str = 4, labels: bool = False,
              code: bool = False, opset: int = 17, op: str = "Reshape", external: str | None = None) -> None:
    """z [N, latent] -> images [N, 1, 2, 2]; a labels or code input rides along unused."""
    import onnx
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent])]
    if labels:
        inputs.append(helper.make_tensor_value_info("labels", TensorProto.INT64, ["batch"]))
    if code:
        inputs.append(helper.make_tensor_value_info("c1", TensorProto.INT64, ["batch"]))
    shape = helper.make_tensor("shape", TensorProto.INT64, [4], [-1, 1, 2, 2])
    if external is not None:  # the shape's bytes "live" in a file the model names
        shape = onnx.TensorProto(name="shape", data_type=TensorProto.INT64, dims=[4])
        shape.data_location = onnx.TensorProto.EXTERNAL
        for k, v in (("location", external), ("offset", "0"), ("length", "32")):
            entry = shape.external_data.add()
            entry.key, entry.value = k, v
    node = helper.make_node(op, ["z", "shape"], ["images"])
    out = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 1, 2, 2])
    model = helper.make_model(helper.make_graph([node], "g", inputs, [out], [shape]),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    base: dict[str, str | None] = {"ganzoo.latent_dim": "4", "ganzoo.num_classes": "0",
                                   "ganzoo.output_shape": "[1, 2, 2]", "ganzoo.model": "tiny",
                                   "ganzoo.dataset": "digits"}
    for key, value in {**base, **metadata}.items():
        if value is not None:
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
    path.write_bytes(model.SerializeToString())


def onnx_cases(t: Targets) -> dict[str, Callable[[Path], Any]]:
    def meta(**kw: Any) -> Callable[[Path], Any]:
        opts = {k: v for k, v in kw.items() if k in ("latent", "labels", "code", "opset", "op", "external")}
        values = {f"ganzoo.{k}": v for k, v in kw.items() if k not in opts}
        return lambda p: tiny_onnx(p, values, **opts)

    real = t.oi.read_bytes()
    codes = lambda value: meta(codes=json.dumps(value), code=True)  # noqa: E731
    return {
        "num_classes 10**12": meta(num_classes=str(10**12), labels=True),
        "num_classes -1": meta(num_classes="-1", labels=True),
        "num_classes abc": meta(num_classes="abc"),
        "num_classes without a labels input": meta(num_classes="10"),
        "output_shape 1e999": meta(output_shape="[1e999, 8, 8]"),
        "output_shape []": meta(output_shape="[]"),
        "output_shape [-1, 2, 2]": meta(output_shape="[-1, 2, 2]"),
        "output_shape a string": meta(output_shape='"x"'),
        "output_shape not JSON": meta(output_shape="[1, 2"),
        "output_shape against the graph": meta(output_shape="[1, 3, 3]"),
        "latent_dim 10**9 dynamic": meta(latent_dim=str(10**9), latent="d"),
        "latent_dim 0": meta(latent_dim="0"),
        "latent_dim -5": meta(latent_dim="-5"),
        "latent_dim four": meta(latent_dim="four"),
        "latent_dim against the graph": meta(latent_dim="7"),
        "code of size 2**70": codes([{"name": "c1", "kind": "categorical", "size": 2**70}]),
        "code of size 1": codes([{"name": "c1", "kind": "categorical", "size": 1}]),
        "code of unknown kind": codes([{"name": "c1", "kind": "mystery", "size": 3}]),
        "10,000 codes": codes([{"name": f"c{i}", "kind": "continuous"} for i in range(10_000)]),
        "codes not JSON": codes("[{"),
        "truncated real export": lambda p: p.write_bytes(real[:len(real) // 2]),
        "real export cut at 100 bytes": lambda p: p.write_bytes(real[:100]),
        "random bytes": lambda p: p.write_bytes(os.urandom(4096)),
        "text file": lambda p: p.write_text("not a model\n"),
        "empty file": lambda p: p.write_bytes(b""),
        "over 2 GB sparse": lambda p: sparse(p, 2 * 1024**3 + 1),
        "external data outside its folder": meta(external="../../../../etc/passwd"),
        "external data missing": meta(external="weights.bin"),
        "opset 99": meta(opset=99),
        "unknown operator": meta(op="NoSuchOp"),
        "a folder named .onnx": lambda p: p.mkdir(),
    }


def checkpoint_cases() -> dict[str, tuple[Callable[[Path], Any], tuple[str, str]]]:
    """Leftovers in a copy of the points run (its checkpoint: step 2). Each: (damage, expect)."""
    gen, state = "generator.safetensors", "state.pt"

    def ready(damage: Callable[[Path], Any] | None, tag: str = "ab12") -> Callable[[Path], Any]:
        def make(run: Path) -> None:
            staged = shutil.copytree(run / "checkpoint", run / f".checkpoint-{tag}.ready")
            if damage is not None:
                damage(staged)
        return make

    def truncate(folder: Path, name: str = gen) -> None:
        path = folder / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    def header_lie(folder: Path) -> None:
        for weights in folder.glob("*.safetensors"):  # each says its JSON header is 2**62 bytes long
            raw = weights.read_bytes()
            weights.write_bytes(struct.pack("<Q", 2**62) + raw[8:])

    def garbage(folder: Path, name: str = state) -> None:
        (folder / name).write_text("this is not a checkpoint\n")

    def pickle_bomb(folder: Path) -> None:
        import pickle

        class Run:
            def __reduce__(self) -> tuple[Any, ...]:
                return (os.system, (f"touch {folder.parent / 'PWNED'}",))

        (folder / state).write_bytes(pickle.dumps({"step": 9, "x": Run()}))

    def older(folder: Path) -> None:
        import torch

        found = torch.load(folder / state, weights_only=True)
        found["step"] = 1
        torch.save(found, folder / state)

    def old_copy(run: Path) -> None:
        shutil.copytree(run / "checkpoint", run / ".checkpoint.old")
        truncate(run / ".checkpoint.old")

    def emptied(folder: Path) -> None:
        shutil.rmtree(folder)
        folder.mkdir()

    def only_ready(run: Path) -> None:
        ready(None)(run)
        shutil.rmtree(run / "checkpoint")

    def current(damage: Callable[[Path], Any]) -> Callable[[Path], Any]:
        return lambda run: damage(run / "checkpoint")

    # a leftover, whole or not, never stops the run: resume goes on from the newest whole checkpoint
    goes_on, refuse = ("ok", "either"), ("refuse", "refuse")
    return {  # (damage, (expect of train --resume, expect of sample))
        ".ready with a truncated generator": (ready(truncate), goes_on),
        ".ready with a lying safetensors header": (ready(header_lie), goes_on),
        ".ready with a garbage state.pt": (ready(garbage), goes_on),
        ".ready with a pickle that runs code": (ready(pickle_bomb), goes_on),
        ".ready missing a file": (ready(lambda f: (f / "discriminator.safetensors").unlink()), goes_on),
        ".ready empty": (ready(emptied), goes_on),
        ".ready of an older step": (ready(older), goes_on),
        ".ready of the same step": (ready(None), goes_on),
        "two .ready, one truncated": (lambda r: (ready(truncate, "aa11")(r), ready(garbage, "bb22")(r)), goes_on),
        ".checkpoint.old truncated": (old_copy, goes_on),
        "a .tmp folder half written": (lambda r: shutil.copytree(r / "checkpoint", r / ".checkpoint-cd34.tmp"),
                                       goes_on),
        "only a whole .ready": (only_ready, goes_on),
        # sample reads the generator's weights alone: a damaged state.pt is no concern of its
        "checkpoint/ with a truncated state.pt": (current(lambda f: truncate(f, state)), ("refuse", "either")),
        "checkpoint/ with a pickle that runs code": (current(pickle_bomb), ("refuse", "either")),
        "checkpoint/ with lying safetensors headers": (current(header_lie), refuse),
        "checkpoint/ missing": (lambda r: shutil.rmtree(r / "checkpoint"), ("either", "either")),
    }


def in_folder(make: Callable[[Path], Any], name: str = "") -> Callable[[Path], None]:
    """Eight good images in S/data, then ``make`` there (or on S/data/NAME)."""
    def prep(s: Path) -> None:
        root = good_images(s / "data")
        make(root / name if name else root)
    return prep


def at(name: str, make: Callable[[Path], Any]) -> Callable[[Path], Any]:
    return lambda s: make(s / name)


def in_run(run: Path, make: Callable[[Path], Any], name: str = "") -> Callable[[Path], None]:
    """A copy of ``run`` in S/run, then ``make`` on it (or on S/run/NAME)."""
    def prep(s: Path) -> None:
        shutil.copytree(run, s / "run")
        make(s / "run" / name if name else s / "run")
    return prep


TRAIN_FILES = ["train", "vanilla", "--image-size", "8", "--steps", "1", "--batch-size", "4", "--device", "cpu",
               "--out", "{S}/run", "-q"]
RUN_COMMANDS = {
    "sample": ["sample", "{S}/run", "-o", "{S}/s.png"],
    "train --resume": ["train", "--resume", "{S}/run", "--steps", "3", "-q"],
    "export": ["export", "{S}/run", "-o", "{S}/x.onnx"],
    "eval": ["eval", "{S}/run", "-n", "100", "-o", "{S}/e.json"],
    "bench": ["bench", "{S}/run", "--batch-sizes", "1", "--runs", "10", "--max-time", "1", "-q"],
}
ONNX_COMMANDS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "generate": (["generate", "{S}/m.onnx", "-o", "{S}/g.png"], {}),
    "bench": (["bench", "{S}/m.onnx", "--no-torch", "--batch-sizes", "1", "--runs", "10", "--max-time", "1", "-q"],
              {}),
    "demo": (["demo", "{S}/m.onnx", "--port", "0"], {"serves": True, "timeout": 30}),
    "eval": (["eval", "{S}/m.onnx", "-n", "100", "-o", "{S}/e.json"], {}),
}


#: Hostile files a command may accept, and why (any other one must be refused).
ACCEPTABLE = {
    ("archives", "zip in a zip"): "members that are not images are left out, as a readme is",
    ("dataset.json", "a folder"): "a folder named dataset.json is no labels file: the set is unlabelled",
    **{("config.json", f"loss nope ({c})"): "only train reads the loss: a run trained with a plugin's loss samples, "
       "exports and scores where that plugin is not installed" for c in ("sample", "export", "eval", "bench")},
}


def hostile_files(t: Targets, quick: bool) -> list[Case]:
    """Every maker x the commands that read what it makes. ``eval``/``export``/``bench`` of a run
    and ``eval`` of an ONNX file start torch: the full sweep gives them every other maker,
    --quick none."""
    section = "hostile files"
    folder = [*TRAIN_FILES, "--dataset", "folder:{S}/data"]
    archive = [*TRAIN_FILES, "--dataset", "folder:{S}/set.zip"]
    cases: list[Case] = []

    def add(group: str, label: str, args: list[str], prep: Callable[[Path], Any], expect: str = "refuse",
            **kw: Any) -> None:
        why = ACCEPTABLE.get((group.split(" (")[0], label)) or ACCEPTABLE.get((group, label), "")
        cases.append(Case(section, group, args, "either" if why else expect, prep=prep, label=label,
                          reason=why or kw.pop("reason", ""), **kw))

    for label, make in image_cases().items():
        add("images", label, folder, in_folder(make))
    add("images", "an empty folder", folder, lambda s: (s / "data").mkdir())
    add("images", "a folder of no images", folder, lambda s: (good_images(s / "data", n=0) / "a.txt").write_text("x"))
    skip = {"GANZOO_SKIP_BAD_IMAGES": "1"}  # documented: unreadable images skipped and counted
    for label in ("text named .png", "png 30000x30000 header", "png cut at 50 %"):
        add("images (skip option)", label, folder, in_folder(image_cases()[label]), "ok", env=skip)
    for label, make in archive_cases().items():
        add("archives", label, archive, at("set.zip", make))
    for label, make in labels_cases().items():
        add("dataset.json", label, folder, in_folder(make, "dataset.json"))
    for i, (label, make) in enumerate(config_cases().items()):
        heavy = [] if quick or i % 2 else ["export", "eval", "bench"]
        for command in ["sample", "train --resume", *heavy]:
            add("config.json", f"{label} ({command})", RUN_COMMANDS[command], in_run(t.rp, make, "config.json"))
    for i, (label, make) in enumerate(onnx_cases(t).items()):
        for command, (args, extra) in ONNX_COMMANDS.items():
            if command != "eval" or not (quick or i % 2):
                add(f"onnx ({command})", label, args, at("m.onnx", make), **extra)
    for label, (damage, expects) in checkpoint_cases().items():
        for command, expect in zip(("train --resume", "sample"), expects):
            add(f"checkpoint leftovers ({command})", label, RUN_COMMANDS[command], in_run(t.rp, damage), expect,
                post=checkpoint_kept(label.startswith("checkpoint/")),
                reason="a bad leftover is set aside with one line and the run goes on; a whole newer one is used")
    return cases


def checkpoint_kept(own_damage: bool) -> Callable[[Path, subprocess.CompletedProcess], tuple[str, str] | None]:
    """After a command on a run whose whole checkpoint was step 2: the pickle never ran, and
    unless the case damaged ``checkpoint/`` itself, a whole checkpoint of step 2 or later is
    still there (a leftover may be set aside, never promoted over it or allowed to delete it)."""
    def check(scratch: Path, done: subprocess.CompletedProcess) -> tuple[str, str] | None:
        if any(scratch.rglob("PWNED")):
            return "silent accept", "the pickle in state.pt ran its code"
        if own_damage:
            return None
        step = checkpoint_step(scratch / "run")
        if step is None or step < 2:
            return "runs lost", f"the whole checkpoint of step 2 is gone (now: {step}); exit {done.returncode}"
        return None
    return check


def checkpoint_step(run: Path) -> int | None:
    """The step of the whole checkpoint a resume would use, or None (the library's own survey)."""
    import warnings

    from ganzoo.engine import checkpoint as ckpt

    try:
        with warnings.catch_warnings():  # torch's note on a hostile state.pt's pickle protocol
            warnings.simplefilter("ignore")
            return int(ckpt.load_state(ckpt.checkpoint_dir(run))["step"])
    except Exception:
        return None


# -- 3. kills ---------------------------------------------------------------------------------------
STAGES = ["writing", "ready", "old-removed", "moved-aside", "swapped"]


def kills(t: Targets, n: int, seed: int, timeout: float) -> dict[str, Any]:
    """``kill -9`` at a random moment (even rounds) or inside a save at a random stage (odd
    rounds, the checkpoint's test hook), then ``--resume``; the newest checkpoint never goes back."""
    from ganzoo.engine import checkpoint as ckpt

    rng = random.Random(seed)
    folder = t.work / "kills"
    folder.mkdir()
    run = folder / "run"
    every = 5
    fresh = ["train", "vanilla", "--dataset", "ring8", "--steps", "1000000", "--batch-size", "16", "--device", "cpu",
             "--ckpt-every", str(every), "--log-every", str(every), "--sample-every", "100000", "--out", str(run), "-q"]
    best: int | None = None
    report: dict[str, Any] = {"kills": 0, "lost": 0, "other": 0, "traceback": 0, "hang": 0, "rounds": [],
                              "problems": []}
    for i in range(n):
        if run.exists() and not (run / "config.json").exists():
            shutil.rmtree(run)  # killed before the run folder had its config: nothing to resume
        args = ["train", "--resume", str(run), "-q"] if run.exists() else fresh
        env = {**os.environ, **BASE_ENV, "GANZOO_DATA": str(folder / "data")}
        delay = round(rng.uniform(1.0, 9.0), 1)
        how = f"after {delay} s"
        if i % 2 == 1:
            at = (best or 0) + every * rng.randint(1, 4)
            stage = rng.choice(STAGES)
            env[ckpt.KILL_ENV] = f"{stage}@{at}"
            how = f"in the save of step {at} at '{stage}'"
        proc = subprocess.Popen([sys.executable, "-m", "ganzoo", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=folder, env=env,
                                start_new_session=True)
        try:
            if i % 2 == 0:
                out, err = proc.communicate(timeout=delay)
            else:
                out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            if i % 2 == 1:
                report["hang"] += 1
                report["problems"].append(f"round {i}: the save hook never fired ({how}): hang")
        text = (out + err).decode(errors="replace")
        if proc.returncode != -signal.SIGKILL:
            cls = "traceback" if "Traceback" in text else "other"
            report[cls] += 1
            report["problems"].append(f"round {i}: {shlex.join(['ganzoo', *args])} ended by itself with exit "
                                      f"{proc.returncode} ({how}): {text.strip().splitlines()[-1:] or ''}")
        report["kills"] += 1
        step = checkpoint_step(run)
        if best is not None and (step is None or step < best):
            report["lost"] += 1
            report["problems"].append(f"round {i}: killed {how}; the checkpoint went from step {best} to {step}")
        best = step if step is not None and (best is None or step > best) else best
        report["rounds"].append(f"{i}: killed {how}; checkpoint step {step}")
        print(f"  kill {i + 1}/{n}: {how}; checkpoint step {step}", flush=True)
    final = (best or 0) + every
    env = {**os.environ, **BASE_ENV, "GANZOO_DATA": str(folder / "data")}
    args = ["train", "--resume", str(run), "--steps", str(final), "-q"] if run.exists() else \
        with_option(fresh, "--steps", [str(final)])
    done = subprocess.run([sys.executable, "-m", "ganzoo", *args], capture_output=True, text=True, cwd=folder,
                          env=env, timeout=timeout)
    sampled = subprocess.run([sys.executable, "-m", "ganzoo", "sample", str(run), "-o", str(folder / "s.png")],
                             capture_output=True, text=True, cwd=folder, env=env, timeout=timeout)
    end = checkpoint_step(run)
    report["final"] = f"resume to step {final}: exit {done.returncode}; checkpoint step {end}; sample exit " \
                      f"{sampled.returncode}"
    if done.returncode != 0 or end != final or sampled.returncode != 0:
        report["lost"] += 1
        report["problems"].append(f"final: {shlex.join(['ganzoo', *args])} -> {report['final']}: "
                                  f"{(done.stderr + sampled.stderr).strip()[-300:]}")
    return report


# -- 4. full disk -----------------------------------------------------------------------------------
def fill(folder: Path, leave_kb: int) -> None:
    free = shutil.disk_usage(folder).free // 1024 - leave_kb
    with open(folder / "filler", "wb") as fh:
        try:
            block = b"\0" * 1024
            for _ in range(max(0, free)):
                fh.write(block)
            fh.flush()
        except OSError:
            pass


def full_disk(t: Targets, timeout: float) -> tuple[list[Outcome], str]:
    disk = t.work / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        return [], f"skipped: cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'})"
    plans: list[tuple[str, list[str], int, str, bool]] = [  # (name, args, KB left free, expect, holds a run)
        ("train --resume, 200 KB free", ["train", "--resume", f"{disk}/run", "--steps", "4", "-q"], 200, "refuse",
         True),
        ("train --resume, 0 KB free", ["train", "--resume", f"{disk}/run", "--steps", "4", "-q"], 0, "refuse", True),
        ("train a new run, 0 KB free", ["train", "vanilla", "--dataset", "ring8", "--steps", "2", "--out",
                                        f"{disk}/new", "-q"], 0, "refuse", False),
        ("train a new run, 200 KB free", ["train", "vanilla", "--dataset", "ring8", "--steps", "2", "--out",
                                          f"{disk}/new", "--ckpt-every", "1", "-q"], 200, "refuse", False),
        ("export, 200 KB free", ["export", str(t.rp), "-o", f"{disk}/x.onnx"], 200, "refuse", False),
        ("export, 0 KB free", ["export", str(t.rp), "-o", f"{disk}/x.onnx"], 0, "refuse", False),
        ("generate -o, 0 KB free", ["generate", str(t.oi), "-o", f"{disk}/g.png"], 0, "refuse", False),
        ("generate --npy, 200 KB free", ["generate", str(t.oi), "--npy", f"{disk}/x.npy", "-n", "100000"], 200,
         "refuse", False),
        ("generate --interpolate, 0 KB free", ["generate", str(t.oi), "--interpolate", "8", "-o", f"{disk}/w.gif"],
         0, "refuse", False),
        ("sample, 0 KB free", ["sample", str(t.rp), "-o", f"{disk}/s.png"], 0, "refuse", False),
        ("eval, 0 KB free", ["eval", str(t.op), "-n", "100", "-o", f"{disk}/e.json"], 0, "refuse", False),
        ("plugin new, 0 KB free", ["plugin", "new", "demo", "--dir", str(disk)], 0, "refuse", False),
        ("plugin new, 8 KB free", ["plugin", "new", "demo", "--dir", str(disk)], 8, "either", False),
    ]
    outcomes: list[Outcome] = []
    try:
        for i, (name, args, leave, expect, holds_run) in enumerate(plans):
            for entry in disk.iterdir():
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            if holds_run:
                shutil.copytree(t.rp, disk / "run")
            fill(disk, leave)
            case = Case("full disk", name, args, expect, post=run_kept(disk / "run") if holds_run else None,
                        timeout=timeout)
            outcome = execute(case, t.work / "cases" / f"disk-{i:02d}", timeout)
            leftovers = [p.name for p in disk.rglob("*") if p.name.endswith((".part", ".tmp"))]
            if outcome.cls == "clean" and leftovers:
                outcome.cls, outcome.detail = "other", f"left {leftovers} behind"
            outcomes.append(outcome)
            if outcome.cls != "clean":
                print(f"  [{outcome.cls}] {outcome.command}\n      {outcome.detail}", flush=True)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    return outcomes, "a 24 MB tmpfs filled to the free space named in each case"


def run_kept(run: Path) -> Callable[[Path, subprocess.CompletedProcess], tuple[str, str] | None]:
    def check(scratch: Path, done: subprocess.CompletedProcess) -> tuple[str, str] | None:
        step = checkpoint_step(run)
        return None if step is not None and step >= 2 else ("runs lost", f"the checkpoint of step 2 is gone ({step})")
    return check


# -- 5. demo load -----------------------------------------------------------------------------------
class DemoLoad:
    """One ``ganzoo demo`` process on loopback, watched through /proc (threads, RSS) every 50 ms."""

    def __init__(self, t: Targets) -> None:
        import queue

        env = {**os.environ, **BASE_ENV, "GANZOO_DATA": str(t.work / "data")}
        self.proc = subprocess.Popen([sys.executable, "-m", "ganzoo", "demo", str(t.oi), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
                                     cwd=t.work, start_new_session=True, text=True)
        lines: queue.Queue[str] = queue.Queue()
        def read() -> None:
            for line in self.proc.stdout or ():
                lines.put(line)

        threading.Thread(target=read, daemon=True).start()
        first = lines.get(timeout=120)  # "ganzoo demo of X at http://127.0.0.1:PORT/ ..."
        self.port = int(first.split("http://127.0.0.1:")[1].split("/")[0])
        self.peak = {"Threads": 0, "VmRSS": 0}
        self.stopped = threading.Event()
        self.failures: list[str] = []
        self.latencies: list[float] = []
        threading.Thread(target=self._watch, daemon=True).start()

    def status(self) -> dict[str, int]:
        found = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in self.peak:
                found[key] = int(value.split()[0])
        return found

    def _watch(self) -> None:
        while not self.stopped.is_set():
            try:
                now = self.status()
            except OSError:
                return
            for key, value in now.items():
                self.peak[key] = max(self.peak[key], value)
            time.sleep(0.05)

    PATHS = [("/api/info", 200), ("/api/sample?n=16&seed={i}", 200), ("/", 200),
             ("/api/walk?n=4&frames=4&seed={i}", 200), ("/api/sample?n=abc", 400), ("/nowhere", 404)]

    def get(self, i: int, host: str | None = None) -> None:
        """One request; a status other than the expected one (or any 4xx for a foreign Host) is a failure."""
        import http.client

        path, expected = self.PATHS[i % len(self.PATHS)] if host is None else ("/api/info", 0)
        started = time.monotonic()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.request("GET", path.format(i=i), headers={"Host": host} if host else {})
            answer = conn.getresponse()
            answer.read()
            conn.close()
            if (host is None and answer.status != expected) or (host is not None and answer.status < 400):
                self.failures.append(f"{host or ''}{path}: {answer.status}")
        except Exception as exc:
            self.failures.append(f"{host or ''}{path}: {type(exc).__name__}: {exc}")
        if host is None:
            self.latencies.append(time.monotonic() - started)

    def hang_up(self) -> None:
        """Ask for a walk and reset the connection before the answer."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(f"GET /api/walk?n=16&frames=16 HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode())
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError as exc:
            self.failures.append(f"hang-up: {exc}")

    def stop(self) -> list[str]:
        """Ctrl-C; what went wrong on the way out."""
        self.stopped.set()
        problems = []
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            _, err = self.proc.communicate()
            problems.append("the demo did not stop on Ctrl-C within 20 s")
        if "Traceback" in err:
            problems.append("traceback on the server's stderr: " + err.strip().splitlines()[-1][:300])
        return problems


def open_idle(port: int, count: int) -> tuple[list[socket.socket], int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 512:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(count + 512, hard), hard))
    held, refused = [], 0
    for _ in range(count):
        try:
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            refused += 1
    return held, refused


def closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def demo_load(t: Targets, idle: int, requests: int, concurrency: int, hangups: int) -> dict[str, Any]:
    """Idle sockets held open while a burst of requests (and foreign Host headers, and clients
    that hang up) goes through; bounded threads and memory, no failed request, no traceback."""
    report: dict[str, Any] = {"problems": []}
    try:
        demo = DemoLoad(t)
    except Exception as exc:
        report["problems"].append(f"the demo did not start: {exc!r}")
        return report
    now = demo.status()
    report["threads at start"], report["RSS at start (MB)"] = now["Threads"], now["VmRSS"] // 1024
    opened = time.monotonic()
    held, refused = open_idle(demo.port, idle)
    all_open = time.monotonic()
    time.sleep(1.0)
    now = demo.status()
    report["idle connections opened"] = f"{len(held)} of {idle}"
    report["threads with them held"], report["RSS with them held (MB)"] = now["Threads"], now["VmRSS"] // 1024
    burst = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(demo.get, range(requests)))
        list(pool.map(lambda i: demo.get(i, host="evil.example"), range(10)))
    report["burst"] = (f"{requests} requests + 10 with a foreign Host header, {concurrency} at a time, in "
                       f"{time.monotonic() - burst:.1f} s")
    lat = sorted(demo.latencies)
    if lat:
        report["latency p50 / p99 / max (ms)"] = " / ".join(
            f"{lat[min(len(lat) - 1, int(q * len(lat)))] * 1000:.0f}" for q in (0.5, 0.99, 1.0))
    for _ in range(hangups):
        demo.hang_up()
    report["clients that hung up mid-request"] = hangups
    open_left = list(held)  # the server's request timeout is 10 s from accept: each idle one must go by itself
    while open_left and time.monotonic() - all_open < 30:
        open_left = [sock for sock in open_left if not closed_by_peer(sock)]
        time.sleep(0.5)
    report["idle connections closed by the server"] = (f"{len(held) - len(open_left)} of {len(held)}, the last "
                                                       f"{time.monotonic() - all_open:.1f} s after all were open "
                                                       f"({all_open - opened:.1f} s to open them)")
    if open_left:
        report["problems"].append(f"{len(open_left)} idle connections still open 30 s after they were opened")
    for sock in held:
        sock.close()
    demo.get(1)  # still answering after all that
    now = demo.status()
    report["threads at the end"], report["RSS at the end (MB)"] = now["Threads"], now["VmRSS"] // 1024
    report["peak threads"], report["peak RSS (MB)"] = demo.peak["Threads"], demo.peak["VmRSS"] // 1024
    report["failed requests"] = len(demo.failures)
    report["problems"] += demo.stop()
    if demo.failures:
        report["problems"].append(f"{len(demo.failures)} failed requests, e.g. {demo.failures[:3]}")
    if refused:
        report["problems"].append(f"{refused} of {idle} idle connections could not be opened")
    if demo.peak["Threads"] > 64:
        report["problems"].append(f"{demo.peak['Threads']} threads at the peak: not bounded")
    return report


# -- the report -------------------------------------------------------------------------------------
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import ganzoo

    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{cpu}, {len(os.sched_getaffinity(0))} usable cores (load average {load} at the end), "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}, ganzoo "
            f"{ganzoo.__version__}")


def tally(outcomes: list[Outcome]) -> Counter:
    return Counter(o.cls for o in outcomes)


def table(rows: list[tuple[str, int, Counter]]) -> str:
    head = ["section", "cases", *CLASSES]
    body = [[name, str(n), *(str(counts.get(c, 0)) for c in CLASSES)] for name, n, counts in rows]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, body)])


@dataclass
class Report:
    rows: list[tuple[str, int, Counter]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: list[str] = field(default_factory=list)
    kill_lines: list[str] = field(default_factory=list)
    disk_lines: list[str] = field(default_factory=list)
    demo: dict[str, Any] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)  # 'either' cases that succeeded, with the reason

    def add(self, name: str, outcomes: list[Outcome], groups: bool = True) -> None:
        self.rows.append((name, len(outcomes), tally(outcomes)))
        self.accepted += [f"{o.case.group}: {o.case.label + ': ' if o.case.label else ''}`{o.command}` "
                          f"({o.case.reason})" for o in outcomes if o.case.expect == "either" and o.rc == 0]
        if groups:
            for group in sorted({o.case.group for o in outcomes}):
                sub = [o for o in outcomes if o.case.group == group]
                self.rows.append((f"  {group}", len(sub), tally(sub)))
        self.problems += [f"{o.cls}: {o.case.label + ': ' if o.case.label else ''}`{o.command}` — {o.detail}"
                          for o in outcomes if o.cls != "clean"]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced sweep: kills 5, two commands per config.json, "
                        "no eval of ONNX files, 300 demo requests")
    parser.add_argument("--jobs", type=int, default=2, help="ganzoo processes at a time [2]")
    parser.add_argument("--kills", type=int, help="kill -9 rounds [20, --quick 5]")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a process counts as a hang")
    parser.add_argument("--memory-gb", type=float, default=6.0, help="address-space cap of every ganzoo process [6]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times and stages")
    parser.add_argument("--sections", default="invocations,files,kills,disk,demo",
                        help="comma-separated subset of invocations,files,kills,disk,demo")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (its path is printed)")
    parser.add_argument("--output", type=Path, default=RESULT, help=f"markdown report [{RESULT.relative_to(ROOT)}]")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    args.sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    unknown = args.sections - {"invocations", "files", "kills", "disk", "demo"}
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    args.kills = args.kills if args.kills is not None else (5 if args.quick else 20)
    return args


def run_sections(args: argparse.Namespace, work: Path, report: Report) -> None:
    started = time.monotonic()
    targets = make_targets(work, args.jobs)
    report.timings.append(f"targets {time.monotonic() - started:.0f} s")
    for name, key, build in (("bad invocations", "invocations", lambda: invocations(targets)),
                             ("hostile files", "files", lambda: hostile_files(targets, args.quick))):
        if key in args.sections:
            t0 = time.monotonic()
            cases = build()
            print(f"chaos: {name}: {len(cases)} cases", flush=True)
            report.add(name, run_cases(cases, work, args.jobs, args.timeout, key))
            report.timings.append(f"{name} {time.monotonic() - t0:.0f} s")
    for sock in BUSY_SOCKETS:
        sock.close()
    if "kills" in args.sections:
        t0 = time.monotonic()
        print(f"chaos: kills: {args.kills} rounds", flush=True)
        k = kills(targets, args.kills, args.seed, args.timeout)
        counts = Counter({"runs lost": k["lost"], "traceback": k["traceback"], "hang": k["hang"], "other": k["other"]})
        counts["clean"] = k["kills"] - k["traceback"] - k["hang"] - k["other"]
        report.rows.append((f"kills (kill -9, then --resume; {k['final']})", k["kills"], counts))
        report.problems += [f"kills: {p}" for p in k["problems"]]
        report.kill_lines = k["rounds"]
        report.timings.append(f"kills {time.monotonic() - t0:.0f} s")
    if "disk" in args.sections:
        t0 = time.monotonic()
        print("chaos: full disk", flush=True)
        outcomes, note = full_disk(targets, args.timeout)
        report.notes.append(f"full disk: {note}")
        if outcomes:
            report.add("full disk", outcomes, groups=False)
            report.disk_lines = [f"{o.case.group}: {o.cls}, exit {o.rc}: {o.detail or 'succeeded'}" for o in outcomes]
        report.timings.append(f"full disk {time.monotonic() - t0:.0f} s")
    if "demo" in args.sections:
        t0 = time.monotonic()
        print("chaos: demo load", flush=True)
        report.demo = demo_load(targets, idle=1000, requests=300 if args.quick else 1000, concurrency=16, hangups=50)
        report.problems += [f"demo: {p}" for p in report.demo.pop("problems")]
        report.timings.append(f"demo {time.monotonic() - t0:.0f} s")


def render(report: Report, args: argparse.Namespace, command: str, minutes: float) -> str:
    text = [
        "# Reliability sweep (benchmarks/chaos.py)",
        "",
        f"- date: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        f"- machine: {machine()}",
        f"- command: `{command.strip()}` ({minutes:.1f} min: {', '.join(report.timings)})",
        "- classes: clean = exit 2 with exactly one `Error:` line, or a documented success; traceback; hang = "
        f"no exit within {args.timeout:.0f} s; silent accept = exit 0 where the input must be refused (or a pickle "
        "that ran); other = any other exit status, or not exactly one `Error:` line; runs lost = a checkpoint gone "
        "or rolled back",
        f"- every ganzoo process runs under a {args.memory_gb:g} GB address-space cap (RLIMIT_AS); running into it "
        "counts as other",
        "",
        table(report.rows),
        "",
    ]
    text += [f"- {n}" for n in report.notes]
    sections = [("Kills (round: how; the newest whole checkpoint after it)", report.kill_lines),
                ("Full disk (each case: what the command said)", report.disk_lines),
                ("Demo load (`ganzoo demo`, loopback)", [f"{k}: {v}" for k, v in report.demo.items()]),
                ("Accepted where either a refusal or a success is right (counted clean)", report.accepted)]
    for title, lines in sections:
        if lines:
            text += ["", f"## {title}", "", *(f"- {line}" for line in lines)]
    text += ["", f"## Problems ({len(report.problems)})", ""]
    text += [f"- {p}" for p in report.problems] or ["none"]
    return "\n".join(text) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    MEMORY_CAP[0] = int(args.memory_gb * 1024**3)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="ganzoo-chaos-"))
    print(f"chaos: working in {work}", flush=True)
    report = Report()
    try:
        run_sections(args, work, report)
    finally:
        for sock in BUSY_SOCKETS:
            sock.close()
        if args.keep:
            print(f"chaos: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    command = "python benchmarks/chaos.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = render(report, args, command, (time.monotonic() - started) / 60)
    print("\n" + text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
