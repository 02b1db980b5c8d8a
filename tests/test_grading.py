"""tlbook grade and the exercise catalogue (tlbook.grading), on notebooks made here.

The submitted notebooks are tiny and use the demo exercises 0.1 (a number),
0.2 (a choice) and 0.3 (a function, softmax), whose checks take milliseconds,
so each notebook costs little more than its kernel's start.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import nbformat
import pytest

from tlbook.grading import EXERCISE_INFO, exercise_catalogue, grade_submissions

ROOT = Path(__file__).resolve().parents[1]
v4 = nbformat.v4

STABLE_SOFTMAX = ("import numpy as np\n"
                  "def my_softmax(x):\n"
                  "    z = np.exp(np.asarray(x, float) - np.max(x))\n"
                  "    return z / z.sum()\n")


def _prompt(number: int, answer: str) -> nbformat.NotebookNode:
    return v4.new_markdown_cell(f"```{{exercise}} Demo {number}\n:label: ex-0-{number}\n"
                                f"Answer, then `check(\"0.{number}\", {answer})`.\n```")


def _answer(source: str) -> nbformat.NotebookNode:
    return v4.new_code_cell(source, metadata={"tags": ["exercise"]})


def _notebook(path: Path, p: str, pos: str, softmax: str, between: str = "") -> Path:
    cells = [v4.new_markdown_cell("# Demo chapter"), v4.new_code_cell("x = 1"),
             _prompt(1, "p"), _answer(p)]
    if between:
        cells.append(v4.new_code_cell(between))
    cells += [_prompt(2, "pos"), _answer(pos), _prompt(3, "my_softmax"), _answer(softmax)]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    _notebook(folder / "all_right.ipynb", "p = 0.5", "pos = 'noun'", STABLE_SOFTMAX)
    # Wrong answers, and a cell that asks for more memory than the limit allows.
    _notebook(folder / "wrong.ipynb", "p = 0.9", "pos = 3",
              "def my_softmax(x):\n    return x\n",
              between="big = bytearray(16 * 2**30)")
    # The kernel dies half way; the exercises after it are still graded.
    _notebook(folder / "crash.ipynb", "p = 0.5", "import os\nos._exit(3)\npos = 'noun'",
              STABLE_SOFTMAX)
    # A loop that never ends: interrupted at the cell time limit.
    # (It sleeps in its loop, to leave the shared CPU to other work.)
    _notebook(folder / "loop.ipynb", "p = 0.5",
              "import time\npos = 'verb'\nwhile True:\n    time.sleep(0.01)", STABLE_SOFTMAX)
    # The package's own reference function handed in as the answer.
    _notebook(folder / "copied.ipynb", "p = 0.5", "pos = 'noun'",
              "from tlbook.exercises import _softmax_reference as my_softmax")
    out = tmp_path_factory.mktemp("grades") / "grades.csv"
    results = grade_submissions([folder], out, timeout=120, cell_timeout=4, memory_mb=3072)
    with open(out, newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    return {r["student"]: r for r in results}, rows, out


def _verdicts(result):
    return {i: e["verdict"] for i, e in result["exercises"].items()}


def test_correct_notebook_gets_every_point(graded):
    results, rows, _ = graded
    assert _verdicts(results["all_right"]) == {"0.1": "correct", "0.2": "correct", "0.3": "correct"}
    assert results["all_right"]["problems"] == []
    full = sum(EXERCISE_INFO[i].points for i in ("0.1", "0.2", "0.3"))
    assert rows["all_right"]["points"] == rows["all_right"]["max_points"] == str(full)


def test_wrong_answers_get_no_points_and_their_reasons(graded):
    results, rows, _ = graded
    wrong = results["wrong"]
    assert _verdicts(wrong) == {"0.1": "not yet", "0.2": "not yet", "0.3": "not yet"}
    assert "Expected a string, got int" in wrong["exercises"]["0.2"]["message"]
    assert rows["wrong"]["points"] == "0"
    # The memory limit stopped the allocation, and grading went on.
    assert any("MemoryError" in p for p in wrong["problems"])


def test_a_crashed_kernel_does_not_stop_the_other_exercises(graded):
    results, _, _ = graded
    crash = results["crash"]
    # 0.1 was checked before the crash; pos never got its value in the new kernel;
    # 0.3 is defined in a later cell and graded in the fresh kernel.
    assert _verdicts(crash) == {"0.1": "correct", "0.2": "not yet", "0.3": "correct"}
    assert "not defined" in crash["exercises"]["0.2"]["message"]
    assert any("kernel died" in p for p in crash["problems"])


def test_an_endless_loop_is_interrupted_and_the_rest_graded(graded):
    results, _, _ = graded
    loop = results["loop"]
    assert _verdicts(loop) == {"0.1": "correct", "0.2": "correct", "0.3": "correct"}
    assert any("CellTimeoutError" in p for p in loop["problems"])
    assert loop["seconds"] < 60


def test_the_packages_own_reference_is_not_credited(graded):
    results, rows, _ = graded
    copied = results["copied"]["exercises"]["0.3"]
    assert copied["verdict"] == "not yet" and copied["points"] == 0
    assert "package's own" in copied["message"]
    assert rows["copied"]["0.3"] == "0"


def test_each_student_gets_a_report(graded):
    _, _, out = graded
    report = (out.parent / "grades_reports" / "wrong.md").read_text()
    assert report.startswith("# wrong\n")
    assert re.search(r"\| 0\.2 \| not yet \| 0/1 \| .*Expected a string", report)


def test_grade_refuses_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="submissions"):
        grade_submissions([tmp_path / "missing.txt"], tmp_path / "g.csv")
    with pytest.raises(ValueError, match="no .ipynb"):
        grade_submissions([tmp_path], tmp_path / "g.csv")
    nb = _notebook(tmp_path / "a.ipynb", "p = 0.5", "pos = 'noun'", STABLE_SOFTMAX)
    with pytest.raises(ValueError, match="out must be a .csv"):
        grade_submissions([nb], nb)


# ---------------------------------------------------------------- catalogue


def test_catalogue_lists_every_exercise_of_the_book():
    labels = set()
    for path in (ROOT / "book").glob("*.ipynb"):
        text = "".join(c.source for c in nbformat.read(path, as_version=4).cells)
        labels |= {f"{a}.{b}" for a, b in re.findall(r":label:\s*ex-(\d+)-(\d+)", text)}
    rows = exercise_catalogue(ROOT / "book")
    assert [r["id"] for r in rows] == sorted(labels, key=lambda i: tuple(map(int, i.split("."))))
    assert len(rows) == len(labels)
    by_id = {r["id"]: r for r in rows}
    from tlbook.exercises import known_exercises

    checked = set(known_exercises())
    for row in rows:
        assert row["kind"] in ("number", "choice", "function", "design")
        # design exercises are exactly those without a check
        assert row["auto_checked"] == (row["id"] in checked)
        assert row["auto_checked"] != (row["kind"] == "design"), row["id"]
        assert row["title"] and row["points"] > 0 and row["minutes"] > 0
    assert by_id["1.1"]["title"] == "The bar to beat"
    assert by_id["4.5"]["notebook"] == "04b_finetuning_practice.ipynb"


def test_catalogue_refuses_a_folder_without_notebooks(tmp_path):
    with pytest.raises(ValueError, match="book_dir"):
        exercise_catalogue(tmp_path)


def test_a_notebook_past_its_time_limit_is_stopped_with_what_it_reached(tmp_path):
    from tlbook.grading import grade_notebook

    # This loop ignores the interrupt, so only the notebook's limit can stop it.
    stubborn = ("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                "pos = 'noun'\nwhile True:\n    time.sleep(0.01)")
    path = _notebook(tmp_path / "stubborn.ipynb", "p = 0.5", stubborn, STABLE_SOFTMAX)
    result = grade_notebook(path, timeout=10, cell_timeout=2, memory_mb=3072)
    assert _verdicts(result) == {"0.1": "correct", "0.2": "not run", "0.3": "not run"}
    assert "ran longer than 10 s and was stopped" in result["problems"][0]
    assert result["seconds"] < 30
