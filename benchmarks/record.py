"""Appending one measurement to a results file: the benchmarks' shared last step."""

from __future__ import annotations

from pathlib import Path


def append(out: Path, title: str, lines: list[str]) -> None:
    """Print the section and append it to ``out`` (made with ``title`` as its heading when new):
    every run adds its dated section, so earlier figures stay beside the new ones."""
    text = "\n".join(lines)
    print(text)
    old = out.read_text() if out.is_file() else f"# {title}\n"
    out.write_text(old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n")
