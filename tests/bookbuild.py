"""Building the HTML book from the tests (shared by test_book.py and test_browser.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _jupyter_book() -> str:
    exe = Path(sys.executable).parent / "jupyter-book"
    return str(exe) if exe.exists() else (shutil.which("jupyter-book") or "jupyter-book")


def build(source: Path, output: Path, config: str = "_config.yml") -> Path:
    """Build the book in ``source`` with -W into ``output``; return the HTML folder."""
    cmd = [
        _jupyter_book(), "build", str(source),
        "--config", str(source / config),
        "--toc", str(source / "_toc.yml"),
        "--path-output", str(output),
        "-W", "--keep-going", "--all",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        f"{' '.join(cmd)} failed ({result.returncode}):\n"
        f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    )
    return output / "_build" / "html"


def toc_files(toc_path: Path) -> list[str]:
    """Every file named in a jb-book table of contents (root first)."""
    toc = yaml.safe_load(toc_path.read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files
