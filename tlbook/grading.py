"""Instructor tools: the catalogue of exercises, and grading a class's notebooks.

The catalogue (:func:`exercise_catalogue`, ``tlbook exercises``) lists every
exercise of the book, read from the ``{exercise}`` blocks of the chapter
notebooks, with what this module adds: its kind (a number, a choice, a
function, or a design with no single answer), whether ``check`` can grade it,
a difficulty, an estimate of the minutes it takes and its points.

Grading (:func:`grade_submissions`, ``tlbook grade``) runs every submitted
notebook from the top in a fresh Jupyter kernel and grades each exercise with
the same checkers as ``check``::

    tlbook grade submissions/ --out grades.csv

Each notebook runs in its own worker process (``python -m tlbook.grading
worker``), in a temporary folder of its own, under a limit on its address
space and on its total time; the worker starts the kernel, runs the cells one
by one, and carries on after a cell that fails, runs past the per-cell time
limit (it is interrupted) or kills its kernel (a new kernel runs the rest).
After the learner's cells of an exercise, and before the next exercise, the
worker runs one cell of its own that checks the answer variable named in the
exercise. The learner's code never runs in the grader's process; it does run
with the grader's user rights, so this is no sandbox against a hostile
learner (see the instructor page).
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "EXERCISE_INFO",
    "ExerciseInfo",
    "exercise_catalogue",
    "exercises_in_notebook",
    "grade_notebook",
    "grade_submissions",
]

KINDS = ("number", "choice", "function", "design")
DIFFICULTIES = ("easy", "medium", "hard")


@dataclass(frozen=True)
class ExerciseInfo:
    """What the catalogue adds to an exercise's prompt.

    Attributes:
        kind: ``"number"``, ``"choice"``, ``"function"`` or ``"design"``
            (an experiment to design: no automatic check).
        difficulty: ``"easy"``, ``"medium"`` or ``"hard"``.
        minutes: an estimate of the time a learner needs.
        points: the points :func:`grade_submissions` gives a correct answer.
    """

    kind: str
    difficulty: str
    minutes: int
    points: int


# id, kind, difficulty, minutes, points. Changing one argument or reading off a
# number is easy; writing a function or computing a value from the data is
# medium; designing an experiment is hard and graded by hand. The 0.x ids are
# the demo exercises of tlbook.exercises (tests and examples, no chapter).
_TABLE = """
0.1 number easy 1 1
0.2 choice easy 1 1
0.3 function easy 5 2
1.1 number easy 10 1
1.2 function medium 15 2
1.3 number medium 25 2
1.4 design hard 60 4
2.1 number easy 10 1
2.2 number easy 10 1
2.3 function medium 20 2
2.4 number easy 10 1
2.5 design hard 60 4
3.1 number easy 10 1
3.2 choice medium 15 1
3.3 function medium 20 2
3.4 number medium 25 2
3.5 design hard 60 4
4.1 number easy 10 1
4.2 number easy 10 1
4.3 function medium 20 2
4.4 design hard 60 4
4.5 number easy 10 1
4.6 function medium 15 2
4.7 function medium 20 2
5.1 number easy 15 1
5.2 function medium 20 2
5.3 number medium 15 1
5.4 design hard 60 4
6.1 number easy 10 1
6.2 number easy 10 1
6.3 function medium 20 2
6.4 number medium 20 2
6.5 design hard 60 4
7.1 number easy 15 1
7.2 function medium 20 2
7.3 function medium 15 2
7.4 number easy 10 1
7.5 design hard 60 4
7.6 number medium 20 2
8.1 function medium 20 2
8.2 function medium 15 2
8.3 number medium 20 2
8.4 function easy 10 1
8.5 design hard 60 4
9.1 function medium 20 2
9.2 function medium 20 2
9.3 number medium 15 1
9.4 function medium 20 2
9.5 design hard 60 4
10.1 number easy 15 1
10.2 function medium 20 2
10.3 number easy 10 1
10.4 number medium 15 1
10.5 design hard 60 4
11.1 function medium 20 2
11.2 number medium 15 1
11.3 number easy 10 1
11.4 design hard 45 4
12.1 number easy 15 1
12.2 function medium 20 2
12.3 number medium 20 1
12.4 function hard 30 3
12.5 design hard 60 4
13.1 number easy 10 1
13.2 function medium 20 2
13.3 design hard 45 4
"""

EXERCISE_INFO: dict[str, ExerciseInfo] = {
    row.split()[0]: ExerciseInfo(row.split()[1], row.split()[2], int(row.split()[3]),
                                 int(row.split()[4]))
    for row in _TABLE.strip().splitlines()
}

_LABEL = re.compile(r"^:label:\s*ex-(\d+)-(\d+)\s*$", re.MULTILINE)
_EXERCISE_OPEN = re.compile(r"^[ ]{0,3}(`{3,}|:{3,})[ \t]*\{exercise\}[ \t]*(?P<title>.*)$",
                            re.MULTILINE)
_ANCHOR = re.compile(r'<a id="ex-(\d+)-(\d+)"></a>')
_CHECK_CALL = re.compile(r'check\(\s*["\'](\d+\.\d+)["\']\s*,\s*([A-Za-z_]\w*)\s*\)')
_ASSIGNED = re.compile(r"^(?:def\s+([A-Za-z_]\w*)|([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=))",
                       re.MULTILINE)


def _read_notebook(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4)


def _exercise_of_cell(cell: Any) -> dict | None:
    """``{"id", "title", "answer"}`` if ``cell`` states an exercise, else None.

    Recognises the book's ``{exercise}`` directive (its ``:label: ex-N-M``) and
    the readable prompt of a student notebook (``tlbook`` cell metadata, or
    its ``<a id="ex-N-M">`` anchor).
    """
    if cell.cell_type != "markdown":
        return None
    source = cell.source
    meta = cell.get("metadata", {}).get("tlbook", {})
    exercise_id, title = meta.get("exercise"), meta.get("title", "")
    if exercise_id is None:
        opening, label = _EXERCISE_OPEN.search(source), _LABEL.search(source)
        anchor = _ANCHOR.search(source)
        if opening and label:
            exercise_id, title = f"{label.group(1)}.{label.group(2)}", opening.group("title")
        elif anchor:
            exercise_id = f"{anchor.group(1)}.{anchor.group(2)}"
        else:
            return None
    answer = None
    for found_id, name in _CHECK_CALL.findall(source):
        if found_id == exercise_id:
            answer = name
    return {"id": exercise_id, "title": title.strip(), "answer": answer}


def exercises_in_notebook(nb: Any) -> list[dict]:
    """The exercises stated in a notebook, in order.

    Args:
        nb: an ``nbformat`` notebook (the book's or a student edition).

    Returns:
        One dict per exercise, with ``id`` (``"1.2"``), ``title``, ``cell`` (the
        index of its prompt), ``answer`` (the variable or function the
        exercise asks for, or None when it names none), ``end`` (the index of
        the next exercise's prompt, or the number of cells).
    """
    found = []
    for index, cell in enumerate(nb.cells):
        exercise = _exercise_of_cell(cell)
        if exercise is not None:
            exercise["cell"] = index
            found.append(exercise)
    for this, following in zip(found, found[1:] + [None]):
        this["end"] = following["cell"] if following else len(nb.cells)
        if this["answer"] is None:  # the first name the answer cell defines
            for cell in nb.cells[this["cell"] + 1:this["end"]]:
                if cell.cell_type == "code" and "exercise" in cell.get("metadata", {}).get("tags", []):
                    match = _ASSIGNED.search(cell.source)
                    if match:
                        this["answer"] = match.group(1) or match.group(2)
                        break
    return found


def _chapter_title(nb: Any, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, flags=re.MULTILINE)
            if match:
                return match.group(1).strip()
    return fallback


def exercise_catalogue(book_dir: str | Path = "book") -> list[dict]:
    """Every exercise of the book, in chapter order, with its metadata.

    Reads the ``{exercise}`` blocks of the notebooks in ``book_dir`` and adds
    :data:`EXERCISE_INFO` and whether :func:`tlbook.exercises.check` has a
    checker for it.

    Args:
        book_dir: the folder of the chapter notebooks (the repository's
            ``book``).

    Returns:
        One dict per exercise with the keys ``id``, ``title``, ``chapter``
        (the chapter's title), ``notebook`` (file name), ``kind``,
        ``auto_checked``, ``difficulty``, ``minutes`` and ``points``.

    Raises:
        ValueError: if ``book_dir`` holds no notebooks, or an exercise has no
            entry in :data:`EXERCISE_INFO`.
    """
    from .exercises import _id_key, known_exercises

    folder = Path(book_dir)
    notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not notebooks:
        raise ValueError(f"book_dir must be a folder of chapter notebooks, got {str(book_dir)!r}")
    checked = set(known_exercises())
    rows = []
    for path in notebooks:
        nb = _read_notebook(path)
        chapter = _chapter_title(nb, path.stem)
        for exercise in exercises_in_notebook(nb):
            info = EXERCISE_INFO.get(exercise["id"])
            if info is None:
                raise ValueError(f"exercise {exercise['id']} ({path.name}) has no entry in "
                                 "tlbook.grading.EXERCISE_INFO: add its kind, difficulty, "
                                 "minutes and points there")
            rows.append({"id": exercise["id"], "title": exercise["title"], "chapter": chapter,
                         "notebook": path.name, "kind": info.kind,
                         "auto_checked": exercise["id"] in checked,
                         "difficulty": info.difficulty, "minutes": info.minutes,
                         "points": info.points})
    return sorted(rows, key=lambda r: _id_key(r["id"]))


# ------------------------------------------------------------------ grading

_MARKER = "TLBOOK-GRADE"
_KERNEL = "tlbook-grade"


def _grading_code(exercise_id: str, answer: str | None, nonce: str) -> str:
    """The cell the worker runs after an exercise's cells: one JSON line."""
    return (
        "def _tlbook_grade():\n"
        "    import json\n"
        "    from tlbook.exercises import verdict\n"
        f"    name = {answer!r}\n"
        "    if name is None or name not in globals():\n"
        "        record = {'ok': False, 'message': 'No answer: ' + (repr(name) if name else "
        "'the answer') + ' is not defined.'}\n"
        "    else:\n"
        "        try:\n"
        f"            ok, message = verdict({exercise_id!r}, globals()[name])\n"
        "            record = {'ok': ok, 'message': message}\n"
        "        except Exception as exc:\n"
        "            record = {'ok': None, 'message': f'the check failed: {type(exc).__name__}: {exc}'}\n"
        f"    record['id'] = {exercise_id!r}\n"
        f"    print({(_MARKER + nonce)!r} + json.dumps(record))\n"
        "_tlbook_grade()\n"
        "del _tlbook_grade\n"
    )


def _run_worker(notebook: str, results: str, cell_timeout: float) -> int:
    """Worker process: run ``notebook`` cell by cell, append JSON lines to ``results``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = nbformat.read(notebook, as_version=4)
    exercises = {e["end"]: e for e in exercises_in_notebook(nb) if e["id"] in EXERCISE_INFO}
    nonce = secrets.token_hex(8)
    # Run order: every cell, and after the last cell of an exercise its grading cell.
    steps: list[tuple[int, Any, dict | None]] = []
    for index, cell in enumerate(nb.cells):
        if index in exercises:
            steps.append((index, None, exercises[index]))
        steps.append((index, cell, None))
    if len(nb.cells) in exercises:
        steps.append((len(nb.cells), None, exercises[len(nb.cells)]))

    def emit(record: dict) -> None:
        with open(results, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    # nbclient stores each executed cell at its index: grading cells go to a
    # slot past the learner's cells, so they never replace one of them.
    scratch = len(nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell(""))
    position = 0
    while position < len(steps):
        client = NotebookClient(
            nb, timeout=cell_timeout, allow_errors=True, interrupt_on_timeout=True,
            kernel_name=_KERNEL, resources={"metadata": {"path": os.getcwd()}},
        )
        try:
            with client.setup_kernel():
                while position < len(steps):
                    index, cell, exercise = steps[position]
                    position += 1
                    if exercise is not None:
                        if EXERCISE_INFO[exercise["id"]].kind == "design":
                            continue
                        grading = nbformat.v4.new_code_cell(
                            _grading_code(exercise["id"], exercise["answer"], nonce))
                        client.execute_cell(grading, scratch)
                        text = "".join(o.get("text", "") for o in grading.outputs
                                       if o.get("output_type") == "stream")
                        lines = [ln for ln in text.splitlines() if ln.startswith(_MARKER + nonce)]
                        if lines:
                            emit({"type": "exercise",
                                  **json.loads(lines[-1][len(_MARKER + nonce):])})
                        else:
                            emit({"type": "exercise", "id": exercise["id"], "ok": None,
                                  "message": "the check printed no verdict"})
                        continue
                    if cell.cell_type != "code":
                        continue
                    started = time.monotonic()
                    client.execute_cell(cell, index)
                    timed_out = time.monotonic() - started >= cell_timeout
                    for output in cell.get("outputs", []):
                        if output.get("output_type") == "error":
                            error = f"{output.get('ename')}: {output.get('evalue')}"
                            if timed_out:
                                error = (f"CellTimeoutError: the cell ran longer than "
                                         f"{cell_timeout:g} s and was interrupted")
                            emit({"type": "cell_error", "cell": index, "error": error})
        except DeadKernelError:
            emit({"type": "cell_error", "cell": steps[position - 1][0],
                  "error": "the kernel died (it crashed, exited or ran out of memory); "
                           "a new kernel runs the remaining cells"})
    emit({"type": "done"})
    return 0


def _limit_memory(memory_mb: int):
    def apply() -> None:
        import resource

        if memory_mb > 0:
            limit = memory_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def _require_kernel_tools() -> None:
    import importlib.util

    missing = [m for m in ("nbclient", "ipykernel") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(f"grading runs notebooks in Jupyter kernels and needs "
                          f"{' and '.join(missing)}: pip install 'tlbook[grade]'")


def grade_notebook(
    path: str | Path,
    timeout: float = 1800,
    cell_timeout: float = 600,
    memory_mb: int = 8192,
) -> dict:
    """Run one submitted notebook in a fresh kernel and grade its exercises.

    Args:
        path: the submitted ``.ipynb``.
        timeout: seconds the whole notebook may run; the worker and its kernel
            are then killed and the exercises not reached are ``not run``.
        cell_timeout: seconds one cell may run before it is interrupted.
        memory_mb: limit on the address space of the worker and its kernel, in
            MiB (0: no limit; CUDA needs none).

    Returns:
        A dict with the keys ``exercises`` (for each exercise id a dict of
        ``verdict``, ``points``, ``max_points`` and ``message``), ``problems``
        (one sentence per cell that failed, timed out or killed its kernel)
        and ``seconds``. A verdict is ``correct``, ``not yet``, ``not run``,
        ``not checked`` (the check could not run) or ``by hand`` (a design
        exercise).

    Raises:
        ValueError: if ``path`` is not a notebook file or a limit is not positive.
        ImportError: if ``nbclient`` or ``ipykernel`` is not installed.
    """
    _require_kernel_tools()
    path = Path(path)
    if path.suffix != ".ipynb" or not path.is_file():
        raise ValueError(f"path must be an .ipynb file, got {str(path)!r}")
    for name, value in [("timeout", timeout), ("cell_timeout", cell_timeout)]:
        if not value > 0:
            raise ValueError(f"{name} must be > 0 seconds, got {value!r}")
    if not isinstance(memory_mb, int) or memory_mb < 0:
        raise ValueError(f"memory_mb must be an int >= 0 (0: no limit), got {memory_mb!r}")
    nb = _read_notebook(path)
    stated = [e for e in exercises_in_notebook(nb) if e["id"] in EXERCISE_INFO]
    problems: list[str] = []
    records: dict[str, dict] = {}
    start = time.monotonic()
    # The kernel works in `work`; the verdicts go to another folder.
    with tempfile.TemporaryDirectory(prefix="tlbook-grade-") as work, \
            tempfile.TemporaryDirectory(prefix="tlbook-verdicts-") as verdicts:
        notebook = Path(work) / path.name
        notebook.write_bytes(path.read_bytes())
        results = Path(verdicts) / "results.jsonl"
        # A kernel of this very Python (where tlbook is installed), whatever
        # kernels the user's Jupyter knows: JUPYTER_PATH is searched first.
        spec = Path(verdicts) / "kernels" / _KERNEL
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "tlbook grade", "language": "python"}))
        env = {**os.environ, "TMPDIR": work, "TQDM_DISABLE": "1",
               "JUPYTER_PATH": os.pathsep.join([verdicts, os.environ.get("JUPYTER_PATH", "")])}
        cmd = [sys.executable, "-m", "tlbook.grading", "worker", str(notebook), str(results),
               str(cell_timeout)]
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_limit_memory(memory_mb))
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the worker and the kernel it started
            out, _ = proc.communicate()
            problems.append(f"the notebook ran longer than {timeout:g} s and was stopped")
        done = False
        for line in results.read_text(encoding="utf-8").splitlines() if results.exists() else []:
            record = json.loads(line)
            if record["type"] == "exercise":
                records[record["id"]] = record
            elif record["type"] == "cell_error":
                problems.append(f"cell {record['cell']}: {record['error']}")
            elif record["type"] == "done":
                done = True
        if not done and not problems:
            tail = out.decode(errors="replace").strip().splitlines()[-3:]
            problems.append("the grading worker stopped early: " + " / ".join(tail))
    exercises = {}
    for e in stated:
        info = EXERCISE_INFO[e["id"]]
        record = records.get(e["id"])
        if info.kind == "design":
            verdict, message = "by hand", "open-ended: read the learner's design and results"
        elif record is None:
            verdict, message = "not run", "the notebook stopped before this exercise was checked"
        elif record["ok"] is None:
            verdict, message = "not checked", record["message"]
        else:
            verdict = "correct" if record["ok"] else "not yet"
            message = record["message"]
        exercises[e["id"]] = {"verdict": verdict, "message": message,
                              "points": info.points if verdict == "correct" else 0,
                              "max_points": info.points}
    return {"exercises": exercises, "problems": problems,
            "seconds": round(time.monotonic() - start, 1)}


def _report_text(student: str, result: dict) -> str:
    lines = [f"# {student}", ""]
    auto = [r for r in result["exercises"].values() if r["verdict"] != "by hand"]
    lines.append(f"Points: {sum(r['points'] for r in auto)} of {sum(r['max_points'] for r in auto)}"
                 " (exercises graded by hand not included)")
    lines += ["", "| exercise | verdict | points | message |", "|---|---|---|---|"]
    for exercise_id, r in result["exercises"].items():
        message = r["message"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {exercise_id} | {r['verdict']} | {r['points']}/{r['max_points']} | "
                     f"{message} |")
    if result["problems"]:
        lines += ["", "Problems while running the notebook:", ""]
        lines += [f"- {p}" for p in result["problems"]]
    return "\n".join(lines) + "\n"


def _submissions(paths: Iterable[str | Path]) -> list[tuple[str, Path]]:
    found = []
    for entry in paths:
        p = Path(entry)
        if p.is_dir():
            for nb in sorted(p.rglob("*.ipynb")):
                if ".ipynb_checkpoints" not in nb.parts:
                    found.append((nb.relative_to(p).with_suffix("").as_posix(), nb))
        elif p.suffix == ".ipynb" and p.is_file():
            found.append((p.stem, p))
        else:
            raise ValueError(f"submissions must be .ipynb files or folders holding them, "
                             f"got {str(entry)!r}")
    if not found:
        raise ValueError("no .ipynb file found in the submissions")
    return found


def grade_submissions(
    submissions: Iterable[str | Path],
    out: str | Path,
    reports: str | Path | None = None,
    timeout: float = 1800,
    cell_timeout: float = 600,
    memory_mb: int = 8192,
) -> list[dict]:
    """Grade every submitted notebook; write a CSV of points and one report per notebook.

    Each notebook runs as in :func:`grade_notebook`, one after another.

    Args:
        submissions: ``.ipynb`` files and folders (searched recursively); a
            notebook's name in the CSV is its path inside its folder without
            ``.ipynb`` (``alice/05_probing``), or its file name.
        out: the CSV to write: one row per notebook with the columns
            ``student``, ``points``, ``max_points`` (automatic checks only),
            ``by_hand`` (points of the design exercises, to grade by hand),
            ``problems`` and one column of points per exercise.
        reports: folder for the reports (``<student>.md``); default: a folder
            named after ``out`` (``grades.csv`` -> ``grades_reports``).
        timeout, cell_timeout, memory_mb: as in :func:`grade_notebook`.

    Returns:
        One dict per notebook, with ``student``, ``path`` and the result of
        :func:`grade_notebook`.

    Raises:
        ValueError: if a submission is neither a notebook nor a folder, or
            ``out`` is a submitted notebook.
    """
    found = _submissions(submissions)
    out = Path(out)
    if out.suffix == ".ipynb" or any(out.resolve() == p.resolve() for _, p in found):
        raise ValueError(f"out must be a .csv file, not a notebook, got {str(out)!r}")
    report_dir = Path(reports) if reports is not None else out.with_name(out.stem + "_reports")
    report_dir.mkdir(parents=True, exist_ok=True)
    graded = []
    for student, path in found:
        result = grade_notebook(path, timeout=timeout, cell_timeout=cell_timeout,
                                memory_mb=memory_mb)
        graded.append({"student": student, "path": str(path), **result})
        target = report_dir / f"{student}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_report_text(student, result), encoding="utf-8")
    from .exercises import _id_key

    ids = sorted({i for g in graded for i in g["exercises"]}, key=_id_key)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "points", "max_points", "by_hand", "problems", *ids])
        for g in graded:
            ex = g["exercises"]
            auto = [r for r in ex.values() if r["verdict"] != "by hand"]
            writer.writerow([
                g["student"], sum(r["points"] for r in auto), sum(r["max_points"] for r in auto),
                sum(r["max_points"] for r in ex.values() if r["verdict"] == "by hand"),
                len(g["problems"]),
                *[(ex[i]["points"] if ex[i]["verdict"] != "by hand" else "by hand")
                  if i in ex else "" for i in ids],
            ])
    return graded


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "worker":
    sys.exit(_run_worker(sys.argv[2], sys.argv[3], float(sys.argv[4])))
