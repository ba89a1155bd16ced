import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch, tmp_path_factory):
    # Tests never touch the user's data folder or download anything.
    monkeypatch.setenv("GANZOO_DATA", str(tmp_path_factory.getbasetemp() / "data"))
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    # Training picks its CPU threads from the load unless this is set: tests stay at one each.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture
def mount(tmp_path):
    """``mount(size="2m", ro=False)`` → a fresh tmpfs folder: a real full disk or a real
    read-only file system (root ignores permission bits, so chmod cannot make one).
    Skips where mounting is not allowed (not root, or a container without the capability)."""
    import subprocess

    mounted = []

    def make(size: str = "2m", ro: bool = False) -> Path:
        where = tmp_path / f"mnt{len(mounted)}"
        where.mkdir()
        options = f"size={size}" + (",ro" if ro else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not root'})")
        mounted.append(where)
        return where

    yield make
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(folder: Path, leave_kb: int = 0) -> None:
    """Fill the file system of ``folder`` until about ``leave_kb`` KiB are free."""
    import shutil

    free = shutil.disk_usage(folder).free // 1024 - leave_kb
    with open(folder / "filler", "wb") as fh:
        try:
            for _ in range(max(0, free)):
                fh.write(b"\0" * 1024)
            fh.flush()
        except OSError:
            pass


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    # CI has 2 cores and pytest-xdist may run two workers: one torch thread each.
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def run_cli(*args, env=None, cwd=None, timeout=300):
    """Run ``python -m ganzoo ARGS`` in a subprocess and return the CompletedProcess."""
    import subprocess

    full_env = dict(os.environ)
    full_env.setdefault("OMP_NUM_THREADS", "1")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "ganzoo", *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


def invoke(*args) -> tuple[int, str]:
    """Run the CLI in-process (click's CliRunner); a crash inside a command fails the test."""
    from click.testing import CliRunner

    from ganzoo.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def assert_one_line_error(args, expected: str) -> None:
    """The CLI's contract for bad input: exit 2 and a single ``Error: ...`` line naming the problem."""
    code, output = invoke(*args)
    lines = output.strip().splitlines()
    assert code == 2, output
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], output
    assert "Traceback" not in output


def train_tiny(model: str, out, **overrides):
    """A 2-step CPU run (batch 8) in ``out``; enough for anything that needs a checkpoint."""
    from ganzoo.engine.config import resolve
    from ganzoo.engine.train import train
    from ganzoo.registry import get_registry

    registry = get_registry()
    cfg = resolve(model, registry, **{"steps": 2, "batch_size": 8, "device": "cpu", "out": str(out), **overrides})
    train(cfg, quiet=True, registry=registry, echo=lambda message: None)
    return Path(out)


def headless_browser():
    """A headless Chromium through selenium and Debian's chromedriver, for the demo pages' tests;
    CI must have them (.ci/run installs them), elsewhere the test is skipped."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        selenium = None
    else:
        selenium = webdriver
    driver_path = shutil.which("chromedriver")
    if selenium is None or driver_path is None or not (shutil.which("chromium") or shutil.which("chromium-browser")):
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: .ci/run installs chromium, chromium-driver and selenium")
        pytest.skip("headless Chromium, chromedriver or selenium is not installed here")
    options = webdriver.ChromeOptions()
    flags = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,800")
    for flag in flags:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(driver_path))
