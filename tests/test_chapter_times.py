"""The introduction's chapter-time table comes from the last complete test run.

``tests/chapter_times.py`` (a pytest plugin used by ``make nbval`` and
``benchmarks/book_timing.py``) writes benchmarks/results/book_timing.json and
renders book/chapter_times.md from it. These tests check that the committed
table is exactly the rendering of the committed record, and that the record
covers every chapter of the table of contents, so a new chapter cannot be
added without a fresh timed run.
"""

from __future__ import annotations

import json
from pathlib import Path

from chapter_times import TABLE, render_table, toc_notebooks

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "benchmarks" / "results" / "book_timing.json"


def test_intro_table_is_the_rendering_of_the_recorded_run():
    record = json.loads(RECORD.read_text())
    assert TABLE.read_text() == render_table(record), (
        "book/chapter_times.md is out of date: run `make nbval` or "
        "`python benchmarks/book_timing.py`")


def test_recorded_run_covers_every_chapter_in_reading_order():
    record = json.loads(RECORD.read_text())
    assert [c["notebook"] for c in record["chapters"]] == [f"{n}.ipynb" for n in toc_notebooks()]
    assert all(c["seconds"] > 0 and c["cells"] > 0 for c in record["chapters"])
    assert abs(record["total_seconds"] - sum(c["seconds"] for c in record["chapters"])) < 0.5
    assert record["goal_met"] == (record["total_seconds"] <= record["goal_seconds"])


def test_the_introduction_includes_the_table():
    assert "```{include} chapter_times.md" in (ROOT / "book" / "intro.md").read_text()


def test_render_table_lists_chapters_in_order_with_minutes_and_seconds():
    record = {
        "date": "2026-01-01", "total_seconds": 86.4,
        "machine": {"cores": 2, "cpu": "Some CPU", "python": "3.11.9", "torch": "2.9.0"},
        "chapters": [{"notebook": "book/02_b.ipynb", "seconds": 65.2, "cells": 3},
                     {"notebook": "book/01_a.ipynb", "seconds": 21.2, "cells": 2}],
    }
    lines = render_table(record).splitlines()
    rows = [line for line in lines if line.startswith("| ")]
    assert rows[1:] == ["| {doc}`02_b` | 1 min 05 s |", "| {doc}`01_a` | 21 s |",
                        "| **The whole book** | **1 min 26 s** |"]
    assert "2 CPU cores (Some CPU)" in lines[-1] and "2026-01-01" in lines[-1]
