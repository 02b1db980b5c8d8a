"""How long each chapter takes: a pytest plugin for the nbval run of the book.

Loaded with ``-p tests.chapter_times`` and switched on with
``--chapter-times PATH``, it adds up the time nbval spends on every notebook
(kernel start, every cell) and, when the run has covered every chapter of the
table of contents and all of them passed, writes

- ``PATH``, a JSON record: seconds per chapter, the total, the machine, the
  load average before and after;
- ``book/chapter_times.md``, the table the introduction includes, rendered
  from that JSON by :func:`render_table`.

So the table in the book is always the one of the last complete, green test
run (``make test`` or ``python benchmarks/book_timing.py``), never typed in.
A partial or failing run writes nothing.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from collections import defaultdict
from pathlib import Path

# Loaded by name (``-p tests.chapter_times``) or by the tests beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bookbuild import toc_files  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "book" / "chapter_times.md"
GOAL_MINUTES = 20


def toc_notebooks(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """The chapter notebooks of the table of contents, in reading order (``book/01_...``)."""
    return [name for name in toc_files(toc_path) if (ROOT / f"{name}.ipynb").exists()]


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def render_table(record: dict) -> str:
    """The markdown table of ``record`` (the JSON written by this plugin)."""
    machine = record["machine"]
    lines = [
        "<!-- Written by tests/chapter_times.py from benchmarks/results/book_timing.json;"
        " do not edit. -->",
        "",
        "| Chapter | Time |",
        "|---|---|",
    ]
    for chapter in record["chapters"]:
        doc = Path(chapter["notebook"]).stem
        lines.append(f"| {{doc}}`{doc}` | {_duration(chapter['seconds'])} |")
    lines.append(f"| **The whole book** | **{_duration(record['total_seconds'])}** |")
    lines += [
        "",
        f"Measured by the test suite on {record['date']}: every chapter run from the top "
        f"on {machine['cores']} CPU cores ({machine['cpu']}), no GPU, "
        f"Python {machine['python']}, PyTorch {machine['torch']}, profile `lite`.",
        "",
    ]
    return "\n".join(lines)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _torch_version() -> str:
    try:
        from importlib.metadata import version

        return version("torch")
    except Exception:  # noqa: BLE001 - a missing torch only blanks one field
        return "unknown"


class _ChapterTimes:
    def __init__(self, path: Path):
        self.path = path
        self.seconds: dict[str, float] = defaultdict(float)
        self.cells: dict[str, int] = defaultdict(int)
        self.failed: set[str] = set()
        self.load_before = os.getloadavg()[0]
        self.message = ""

    def pytest_runtest_logreport(self, report):
        notebook = Path(report.fspath).as_posix()
        if not notebook.endswith(".ipynb"):
            return
        self.seconds[notebook] += report.duration
        if report.when == "call":
            self.cells[notebook] += 1
        if report.failed:
            self.failed.add(notebook)

    def pytest_sessionfinish(self, session, exitstatus):
        wanted = [f"{name}.ipynb" for name in toc_notebooks()]
        missing = [nb for nb in wanted if nb not in self.seconds]

        def say(text):  # shown in the summary, after pytest's progress line
            self.message = f"chapter times: {text}"

        if missing or self.failed or exitstatus != 0:
            say(f"not written (missing {missing}, failed {sorted(self.failed)}, "
                f"exit status {int(exitstatus)})")
            return
        chapters = [{"notebook": nb, "seconds": round(self.seconds[nb], 1),
                     "cells": self.cells[nb]} for nb in wanted]
        total = round(sum(c["seconds"] for c in chapters), 1)
        record = {
            "goal_seconds": GOAL_MINUTES * 60,
            "total_seconds": total,
            "goal_met": total <= GOAL_MINUTES * 60,
            "date": datetime.date.today().isoformat(),
            "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(),
                        "python": platform.python_version(), "torch": _torch_version()},
            "load_average_1min": {"before": round(self.load_before, 2),
                                  "after": round(os.getloadavg()[0], 2)},
            "chapters": chapters,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(record, indent=2) + "\n")
        TABLE.write_text(render_table(record))
        say(f"{total:.0f} s in total (goal {GOAL_MINUTES * 60} s); wrote {self.path} and {TABLE}")

    def pytest_terminal_summary(self, terminalreporter):
        if self.message:
            terminalreporter.write_line(self.message)


def pytest_addoption(parser):
    parser.addoption("--chapter-times", metavar="PATH", default=None,
                     help="write the seconds nbval spent on each chapter to PATH (JSON) and "
                          "the introduction's table book/chapter_times.md")


def pytest_configure(config):
    path = config.getoption("--chapter-times")
    if path:
        config.pluginmanager.register(_ChapterTimes(Path(path)), "chapter-times-recorder")
