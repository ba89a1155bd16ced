"""Every `ganzoo` command line in the README runs as written, in order, in one folder.

Only what cannot run here is changed: step counts become tiny, placeholders (RUN_DIR,
exports/<run>.onnx, ./faces, ...) become small runs, exports and folders the test makes,
and the demo server is stopped once it answers. The install lines and torchrun are
what CI and the distributed tests run; a line that matches neither list fails the test,
so a new README example is either runnable or named here.
"""

import re
import shlex
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_cli

NOT_HERE = ("pip install", "torchrun", "python -m pytest", "tensorboard --logdir")  # CI and other tests run these


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    lines = []
    for block in re.findall(r"^ *```bash\n(.*?)^ *```", text, flags=re.S | re.M):
        for line in block.splitlines():
            line = line.split(" #")[0].strip().rstrip("\\").strip()
            for part in (p.strip() for p in line.split("&&")):
                if part.startswith("ganzoo ") and "HOST0" not in line:
                    lines.append(part)
                elif part and not any(part.startswith(skip) or skip in part for skip in NOT_HERE):
                    if not part.startswith("-m ganzoo") and not part.startswith("#"):
                        raise AssertionError(f"README line neither runs here nor is named in NOT_HERE: {part}")
    return lines


def tiny(command: str, runs: dict[str, str]) -> list[str]:
    """The README line with placeholders filled and tiny step counts."""
    for placeholder, real in runs.items():
        command = command.replace(placeholder, real)
    args = shlex.split(command)[1:]
    if args[0] == "train" and "--help" not in args:
        if "--steps" in args:
            i = args.index("--steps")
            args[i + 1] = "4" if "--resume" in args else "2"
        else:
            args += ["--steps", "2"]
        args += ["-q"]
    return args


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("readme")
    faces = work / "faces"
    faces.mkdir()
    rng = np.random.default_rng(0)
    for i in range(70):  # one batch of dcgan's default 64
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(faces / f"{i}.png")
    for model in ("vanilla", "cgan", "infogan"):
        made = run_cli("train", model, "--steps", "2", "--out", f"runs/{model}-readme", "-q", cwd=work)
        assert made.returncode == 0, made.stderr
    made = run_cli("export", "runs/vanilla-readme", "-o", "exports/vanilla-readme.onnx", cwd=work)
    assert made.returncode == 0, made.stderr
    return work


def test_the_readme_has_runnable_examples():
    commands = readme_commands()
    assert len(commands) >= 25 and any(c.startswith("ganzoo demo") for c in commands)


def test_every_readme_command_runs(workdir):
    runs = {"RUN_DIR": "runs/vanilla-readme", "runs/vanilla-20261125-124710": "runs/vanilla-readme",
            "runs/vanilla-<timestamp>": "runs/vanilla-readme", "exports/<run>.onnx": "exports/vanilla-readme.onnx",
            "exports/vanilla-<timestamp>.onnx": "exports/vanilla-readme.onnx", "CGAN_RUN": "runs/cgan-readme",
            "INFOGAN_RUN": "runs/infogan-readme", "exports/examples/": f"{ROOT}/exports/examples/"}
    for command in readme_commands():
        args = tiny(command, runs)
        if args[0] == "train" and args[1] == "vanilla" and "--resume" not in args and "--out" not in args:
            args += ["--out", f"runs/quickstart-{time.time_ns()}"]  # "runs/vanilla-<timestamp>", one per line
        if args[0] == "plugin":
            subprocess.run(["rm", "-rf", str(workdir / "ganzoo-mygan")], check=True)
        if args[0] == "demo":
            _demo(args, workdir)
            continue
        done = run_cli(*args, cwd=workdir)
        assert done.returncode == 0, f"README line failed: {command}\n{done.stderr[-2000:]}"


def _demo(args, workdir):
    proc = subprocess.Popen([sys.executable, "-m", "ganzoo", *args, "--port", "0"], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://\S+/", line)
        assert url, f"ganzoo {' '.join(args)} printed {line!r}; {proc.stderr.read() if proc.poll() else ''}"
        with urllib.request.urlopen(url.group(0) + "api/sample?n=4", timeout=60) as res:
            assert res.status == 200 and res.read(8) == b"\x89PNG\r\n\x1a\n"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
