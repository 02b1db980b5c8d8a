"""Student editions: the chapters without their solutions.

Convention for exercises and solutions in a chapter notebook
-------------------------------------------------------------
An exercise is a markdown cell with a labelled ``{exercise}`` directive,
optionally followed by code cells for the learner to fill in, tagged
``exercise``::

    ```{exercise} Title
    :label: ex-1-1
    What to do.
    ```

Its solution is a markdown cell with a plain ``{solution}`` directive (not the
gated ``solution-start``/``solution-end`` form, which sphinx-exercise 1.2.1
cannot hide) whose ``:class: dropdown`` makes it collapsible in the book,
followed by code cells holding the solution code, tagged ``solution``::

    ```{solution} ex-1-1
    :class: dropdown
    Why the answer is what it is.
    ```

    # code cell, tags: ["solution"]
    check("1.1", answer)

So: **every code cell belonging to a solution carries the cell tag**
``solution`` (a ``{solution}`` markdown cell is recognised by its directive;
tagging it ``solution`` as well is allowed). A student edition

- drops every cell tagged ``solution``;
- drops every ``{solution}`` block from markdown cells (and the cell, if
  nothing else is left in it);
- clears the outputs and execution counts of cells tagged ``exercise``,
  so the learner starts from a blank cell;
- keeps everything else, stored outputs included.

Two uses
--------
``write_student_notebooks(src_dir, out_dir)`` writes the notebooks a learner
gets (``tlbook student`` on the command line).

The student HTML book (``_config_student.yml``) builds from the same sources
as the normal book, with three settings that apply the rules above:
sphinx-exercise's ``hide_solutions: true`` removes the ``{solution}``
directives; ``nb_custom_formats`` makes MyST-NB read every ``.ipynb`` through
:func:`read_student_notebook`, so solution code cells never reach the page;
and this module, loaded as a Sphinx extension, replaces the notebooks offered
for download (``_sources/``) by their student editions::

    jupyter-book build . --config _config_student.yml --path-output _build/student -W --keep-going
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import nbformat

__all__ = [
    "EXERCISE_TAG",
    "SOLUTION_TAG",
    "read_student_notebook",
    "student_notebook",
    "write_student_notebooks",
]

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"

# Opening fence of a {solution} directive: ```{solution} or :::{solution}.
_SOLUTION_OPEN = re.compile(r"^[ ]{0,3}(?P<fence>`{3,}|:{3,})[ \t]*\{solution\}")
_GATED = re.compile(r"\{solution-(start|end)\}")


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _strip_solution_blocks(text: str) -> str:
    """``text`` with every ``{solution}`` directive block removed."""
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    fence = None  # the opening fence of the block being skipped
    for line in lines:
        if fence is None:
            match = _SOLUTION_OPEN.match(line)
            if match:
                fence = match.group("fence")
                continue
            kept.append(line)
        else:
            closing = line.strip()
            # A closing fence: same character, at least as long, nothing else.
            if closing and set(closing) == {fence[0]} and len(closing) >= len(fence):
                fence = None
    return "".join(kept)


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A student edition of ``nb`` (a new notebook; ``nb`` is left unchanged).

    Raises:
        ValueError: if a markdown cell uses the gated ``{solution-start}`` /
            ``{solution-end}`` syntax, which this convention does not support.
    """
    out = copy.deepcopy(nb)
    cells = []
    for cell in out.cells:
        tags = _tags(cell)
        if SOLUTION_TAG in tags:
            continue
        if cell.cell_type == "markdown":
            source = cell.source
            if _GATED.search(source):
                raise ValueError(
                    "gated solutions ({solution-start}/{solution-end}) are not supported; "
                    "use one {solution} directive per markdown cell and tag solution "
                    "code cells 'solution'"
                )
            if "{solution}" in source:
                source = _strip_solution_blocks(source)
                if not source.strip():
                    continue
                cell.source = source
        if cell.cell_type == "code" and EXERCISE_TAG in tags:
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    out.cells = cells
    return out


def read_student_notebook(text: str) -> nbformat.NotebookNode:
    """MyST-NB reader: parse ``.ipynb`` text and return its student edition.

    Used by the student HTML build through
    ``nb_custom_formats: {.ipynb: tlbook.student.read_student_notebook}``.
    """
    return student_notebook(nbformat.reads(text, as_version=4))


def write_student_notebooks(src_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the student edition of every notebook under ``src_dir`` to ``out_dir``.

    Sub-folders are kept (``src_dir/a/b.ipynb`` -> ``out_dir/a/b.ipynb``);
    ``.ipynb_checkpoints`` folders are skipped.

    Args:
        src_dir: folder holding the chapter notebooks, e.g. ``book``.
        out_dir: folder to write to (created if missing), e.g. ``student/book``.

    Returns:
        The paths written, sorted.

    Raises:
        ValueError: if ``src_dir`` is not a folder, or ``out_dir`` is
            ``src_dir`` (that would overwrite the solutions).
    """
    src = Path(src_dir)
    out = Path(out_dir)
    if not src.is_dir():
        raise ValueError(f"src_dir must be an existing folder, got {str(src_dir)!r}")
    if out.resolve() == src.resolve():
        raise ValueError("out_dir must differ from src_dir: writing there would delete the solutions")
    written = []
    for path in sorted(src.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        target = out / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(student_notebook(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written


# ------------------------------------------------------------ Sphinx extension


def _replace_downloadable_notebooks(app: Any, exception: Exception | None) -> None:
    """After an HTML build, make ``_sources/**/*.ipynb`` student editions."""
    sources = Path(app.outdir) / "_sources"
    if exception is not None or not sources.is_dir():
        return
    for path in sources.rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nbformat.write(student_notebook(nb), path)


def setup(app: Any) -> dict[str, Any]:
    """Sphinx entry point, for the student build only (see the module docstring)."""
    app.connect("build-finished", _replace_downloadable_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
