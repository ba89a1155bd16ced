"""Every command in the README and in docs/*.md runs as written, in order, one folder per page.

Only what cannot run here is changed: step counts become tiny, placeholders (RUN_DIR,
exports/<run>.onnx, ./faces, ...) become small runs, exports and folders the test makes,
a plugin the page generates is installed into a private folder rather than the environment,
and the demo server is stopped once it answers. A line that cannot run here is named in
NOT_HERE with the reason and the place that covers it instead; any other line that is not a
ganzoo command fails the test, so a new example is either runnable or accounted for.
Links between the pages are checked too, down to the heading a link points at.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_cli
from PIL import Image

PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]

#: A fragment of a line that cannot run here, and why (with what covers it instead).
NOT_HERE = {
    "git clone": "the repository's URL is the reader's; the checkout under test is that clone",
    "cd ganzoo": "enters that clone",
    "pip install": "changes the environment: .ci/run runs the README's install lines (and a fresh base install)",
    "python -m pytest": "the test suites themselves: .ci/run and tests/test_scaffold.py run them",
    "torchrun": "tests/test_train.py trains under torch.distributed.run, on one node and on two",
    "tensorboard --logdir": "a server that runs until stopped; tests/test_train.py reads the event files",
    "sudo apt-get": "installs system packages; .ci/run installs the emoji font and list",
    "--download": "downloads from the internet, which tests never do",
    "--inception-weights": "needs InceptionV3 weights; tests/test_standard_metrics.py runs it on random ones",
    "python -m build": "publishing; tests/test_scaffold.py builds and installs the generated package",
    "python -m twine": "publishing to PyPI",
    "--loss my-ragan": "the loss of docs/plugins.md section 8's plugin; tests/test_objectives.py trains that code",
}


def page_commands(page: str) -> list[str]:
    return commands((ROOT / page).read_text(), page)


def commands(text: str, page: str) -> list[str]:
    """The ganzoo command lines of a page's ```bash blocks (continuations joined, comments dropped)."""
    lines: list[str] = []
    for block in re.findall(r"^ *```bash\n(.*?)^ *```", text, flags=re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            for part in (p.strip() for p in line.split("&&") if p.strip() and not line.startswith("#")):
                if _installs_a_local_plugin(part):
                    lines.append(part)
                elif any(fragment in part for fragment in NOT_HERE):
                    continue
                elif part.startswith("ganzoo "):
                    lines.append(part)
                else:
                    raise AssertionError(f"{page}: line neither runs here nor is named in NOT_HERE: {part}")
    return lines


def _installs_a_local_plugin(line: str) -> bool:
    return re.fullmatch(r"pip install (-e )?\./ganzoo-[a-z0-9-]+", line) is not None


_resumes = itertools.count(4, 2)  # every resume of runs/resume-docs asks for two steps more than the last


def tiny(command: str, placeholders: dict[str, str]) -> list[str]:
    """The line with placeholders filled in and tiny step counts."""
    for placeholder in sorted(placeholders, key=len, reverse=True):  # ./faces.zip before ./faces
        command = command.replace(placeholder, placeholders[placeholder])
    args = shlex.split(command)[1:]
    if args[0] == "train" and "--help" not in args:
        steps = str(next(_resumes)) if "--resume" in args else "2"
        if "--steps" in args:
            args[args.index("--steps") + 1] = steps
        else:
            args += ["--steps", steps]
        if "--out" not in args and "--resume" not in args:
            args += ["--out", f"runs/{args[1]}-{time.time_ns()}"]  # the default name has one-second resolution
        args += ["-q"]
    return args


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("pages")
    rng = np.random.default_rng(0)
    faces, pets = work / "faces", work / "pets"
    faces.mkdir()
    for i in range(70):  # one batch of dcgan's default 64
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(faces / f"{i}.png")
    for label in ("cat", "dog"):  # one sub-folder per class
        (pets / label).mkdir(parents=True)
        for i in range(35):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(pets / label / f"{i}.png")
    with zipfile.ZipFile(work / "faces.zip", "w") as archive:  # stylegan2-ada's layout, labels included
        names = [f"00000/img{i:08d}.png" for i in range(70)]
        for i, name in enumerate(names):
            archive.write(faces / f"{i}.png", name)
        archive.writestr("dataset.json", json.dumps({"labels": [[name, i % 2] for i, name in enumerate(names)]}))
    for model, name in (("vanilla", "vanilla"), ("cgan", "cgan"), ("infogan", "infogan"), ("vanilla", "resume")):
        made = run_cli("train", model, "--steps", "2", "--out", f"runs/{name}-docs", "-q", cwd=work)
        assert made.returncode == 0, made.stderr
    made = run_cli("export", "runs/vanilla-docs", "-o", "exports/vanilla-docs.onnx", cwd=work)
    assert made.returncode == 0, made.stderr
    _translation_fixtures(work, rng)
    return work


def _translation_fixtures(work: Path, rng: np.random.Generator) -> None:
    """Tiny image-to-image runs and their export, pix2pix's side-by-side pairs, CycleGAN's two
    folders and an edge picture, for the pages' image-to-image examples."""
    for model in ("pix2pix", "srgan", "cyclegan"):
        width = ["--set", "width=8"] + ([] if model == "pix2pix" else ["--set", "blocks=1"])
        made = run_cli("train", model, "--steps", "2", "--out", f"runs/{model}-docs", "-q", *width, cwd=work)
        assert made.returncode == 0, made.stderr
    made = run_cli("export", "runs/pix2pix-docs", "-o", "exports/pix2pix-docs.onnx", cwd=work)
    assert made.returncode == 0, made.stderr
    for folder in ("facades", "horse2zebra/A", "horse2zebra/B"):
        (work / folder).mkdir(parents=True)
    for i in range(20):
        side_by_side = rng.integers(0, 255, (32, 64, 3), dtype=np.uint8)
        Image.fromarray(side_by_side).save(work / "facades" / f"{i}.png")
        for domain in "AB":
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
                work / "horse2zebra" / domain / f"{i}.png")
    Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(work / "edges.png")


def test_every_page_has_runnable_examples():
    counts = {page: len(page_commands(page)) for page in PAGES}
    assert counts["README.md"] >= 20 and any(c.startswith("ganzoo demo") for c in page_commands("README.md"))
    for page in ("docs/training.md", "docs/data.md", "docs/export.md", "docs/evaluation.md", "docs/plugins.md"):
        assert counts[page] >= 4, counts


def test_a_line_is_run_skipped_for_its_reason_or_refused():
    page = "```bash\npip install -e \".[dev]\" && ganzoo train vanilla   # a comment\n# a comment line\n" \
           "torchrun --nproc_per_node=2 \\\n    -m ganzoo train dcgan\npip install -e ./ganzoo-mygan\n```\n"
    assert commands(page, "page") == ["ganzoo train vanilla", "pip install -e ./ganzoo-mygan"]
    with pytest.raises(AssertionError, match="neither runs here nor is named in NOT_HERE: make all"):
        commands("```bash\nganzoo list && make all\n```\n", "page")


def test_the_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    [line] = [line for line in readme.splitlines() if "python -m pytest" in line and line.startswith("pip install")]
    ci_steps = [c for c in ci if c.startswith(("pip install -e", "python -m pytest"))]
    assert [part.strip() for part in line.split("&&")] == ci_steps


@pytest.mark.parametrize("page", PAGES)
def test_every_command_runs(workdir, page):
    here = workdir / page.replace("/", "-").removesuffix(".md")
    here.mkdir()
    run, export = str(workdir / "runs" / "vanilla-docs"), str(workdir / "exports" / "vanilla-docs.onnx")
    placeholders = {
        "exports/<run>.onnx": export, "exports/vanilla-<timestamp>.onnx": export,
        "CGAN_RUN": str(workdir / "runs" / "cgan-docs"), "INFOGAN_RUN": str(workdir / "runs" / "infogan-docs"),
        "exports/examples/": f"{ROOT}/exports/examples/",
        "./faces.zip": str(workdir / "faces.zip"), "./faces": str(workdir / "faces"), "./pets": str(workdir / "pets"),
        "PIX2PIX_RUN": str(workdir / "runs" / "pix2pix-docs"), "CYCLEGAN_RUN": str(workdir / "runs" / "cyclegan-docs"),
        "runs/srgan-20260101-120000": str(workdir / "runs" / "srgan-docs"),
        "runs/cyclegan-20260101-120000": str(workdir / "runs" / "cyclegan-docs"),
        "exports/pix2pix.onnx": str(workdir / "exports" / "pix2pix-docs.onnx"),
        "./facades": str(workdir / "facades"), "./horse2zebra": str(workdir / "horse2zebra"),
        "edges.png": str(workdir / "edges.png"),
    }
    env: dict[str, str] = {}
    for command in page_commands(page):
        if _installs_a_local_plugin(command):
            env["PYTHONPATH"] = _install(command.split()[-1], here)
            continue
        # a resume trains its run further, so it gets a run of its own: the shared export stays current
        target = str(workdir / "runs" / "resume-docs") if "--resume" in command else run
        args = tiny(command, {**placeholders, "RUN_DIR": target, "runs/vanilla-<timestamp>": target})
        if args[0] == "demo":
            _demo(args, here)
            continue
        done = run_cli(*args, cwd=here, env=env)
        assert done.returncode == 0, f"{page}: line failed: {command}\n{done.stderr[-2000:]}"


def _install(package: str, here: Path) -> str:
    """The plugin the page generated, installed into a private folder that goes on PYTHONPATH."""
    site = here / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--target", str(site), str(here / package)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return str(site)


def _demo(args, here):
    proc = subprocess.Popen([sys.executable, "-m", "ganzoo", *args, "--port", "0"], cwd=here,
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


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"^ *```.*?^ *```", "", path.read_text(), flags=re.S | re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.*)$", text, re.M)}


@pytest.mark.parametrize("page", PAGES)
def test_links_between_pages_resolve(page):
    source = ROOT / page
    text = re.sub(r"^ *```.*?^ *```", "", source.read_text(), flags=re.S | re.M)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        file, _, anchor = target.partition("#")
        path = (source.parent / file).resolve() if file else source
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in _anchors(path)):
            broken.append(target)
    assert broken == [], f"{page} links to what does not exist: {broken}"


def test_the_images_folder_holds_only_pictures_the_pages_show():
    shown = "\n".join((ROOT / page).read_text() for page in PAGES)
    shown += (ROOT / "benchmarks" / "results" / "quality.md").read_text()
    unused = [p.name for p in (ROOT / "docs" / "images").glob("*.png") if f"images/{p.name}" not in shown]
    assert unused == []
