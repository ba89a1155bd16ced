import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch, tmp_path_factory):
    # Tests never touch the user's data folder or download anything.
    monkeypatch.setenv("GANZOO_DATA", str(tmp_path_factory.getbasetemp() / "data"))
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")


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
