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

The notebooks written for learners (and offered for download by the student
HTML book) also turn each ``{exercise}`` block into plain Markdown, a heading
"Exercise N.M: title" over the prompt, which Jupyter and Colab render,
maths included, and add a cell with the ``check`` call the prompt names
after the answer cells; the HTML book keeps the directive.

A cell that looks like part of a solution but does not follow the convention
(a tag ``Solution`` or ``solutions``, an untagged code cell right after a
``{solution}`` block, a ``{solution}`` block indented inside a list, a cell
tagged both ``exercise`` and ``solution``) makes the conversion stop with a
``ValueError`` naming the cell: it is ambiguous whether it must be hidden.
:func:`lint_notebook` (``tlbook lint book``) lists every such cell.

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

__all__ = [
    "EXERCISE_TAG",
    "SOLUTION_TAG",
    "lint_notebook",
    "lint_notebooks",
    "read_student_notebook",
    "readable_prompt",
    "student_notebook",
    "write_student_notebooks",
]

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"

# Opening fence of a {solution} directive: ```{solution} or :::{solution}.
_SOLUTION_OPEN = re.compile(r"^[ ]{0,3}(?P<fence>`{3,}|:{3,})[ \t]*\{solution\}")
_GATED = re.compile(r"\{solution-(start|end)\}")
# Any {solution} opening, however indented (a list item, a block quote).
_ANY_SOLUTION_OPEN = re.compile(r"^[ \t>*+\-\d.]*(`{3,}|:{3,})[ \t]*\{solution\}", re.MULTILINE)
_EXERCISE_BLOCK = re.compile(
    r"^[ ]{0,3}(?P<fence>`{3,}|:{3,})[ \t]*\{exercise\}[ \t]*(?P<title>[^\n]*)\n"
    r"(?P<body>.*?)^[ ]{0,3}(?P=fence)[ \t]*$", re.MULTILINE | re.DOTALL)


def _nbformat():
    try:
        import nbformat
    except ImportError:
        raise ImportError("the student edition needs nbformat: pip install nbformat "
                          "(it comes with jupyter)") from None
    return nbformat


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


def lint_notebook(nb: Any) -> list[str]:
    """Cells of ``nb`` whose solution status is ambiguous, one sentence each.

    Finds: a tag that is ``solution`` written another way (``Solution``,
    ``solutions``, or with spaces around it); a cell tagged both ``exercise`` and
    ``solution``; a code cell without the ``solution`` tag right after a
    markdown cell with a ``{solution}`` block (before any other markdown
    cell); a ``{solution}`` block that is indented (in a list, a quote), which
    the converter would not see; the gated ``{solution-start}`` syntax.

    Args:
        nb: an ``nbformat`` notebook.

    Returns:
        The findings (empty when the notebook follows the convention).
    """
    findings = []
    after_solution = False
    for index, cell in enumerate(nb.cells):
        tags = _tags(cell)
        where = f"cell {index} ({cell.cell_type})"
        misspelled = False
        for tag in tags:
            if tag != SOLUTION_TAG and re.fullmatch(r"\s*solutions?\s*", tag, re.IGNORECASE):
                misspelled = True
                findings.append(f"{where}: tag {tag!r} is not {SOLUTION_TAG!r}, so the "
                                "cell would be kept; write the tag as 'solution'")
        if SOLUTION_TAG in tags and EXERCISE_TAG in tags:
            findings.append(f"{where}: tagged both 'exercise' and 'solution'; keep one")
        if cell.cell_type == "markdown":
            source = cell.source
            if _GATED.search(source):
                findings.append(f"{where}: gated {{solution-start}}/{{solution-end}} syntax; "
                                "use one {solution} directive")
            stripped = _strip_solution_blocks(source)
            if _ANY_SOLUTION_OPEN.search(stripped):
                findings.append(f"{where}: a {{solution}} block that is indented (in a list "
                                "or a quote) would stay in the student edition; start its "
                                "fence at the beginning of the line")
            # Code cells up to the next markdown cell continue this one.
            after_solution = "{solution}" in source or SOLUTION_TAG in tags
        elif cell.cell_type == "code":
            if after_solution and SOLUTION_TAG not in tags and not misspelled:
                findings.append(f"{where}: a code cell right after a {{solution}} block "
                                "without the 'solution' tag: tag it 'solution', or put a "
                                "markdown cell before it if it is not part of the solution")
    return findings


def lint_notebooks(src: str | Path) -> dict[str, list[str]]:
    """:func:`lint_notebook` for a notebook file or every notebook under a folder.

    Returns:
        ``{path: findings}`` for the notebooks that have findings.

    Raises:
        ValueError: if ``src`` is neither a folder nor an ``.ipynb`` file.
    """
    nbformat = _nbformat()
    return {str(path): found for path in _notebooks(src, "src")
            if (found := lint_notebook(nbformat.read(path, as_version=4)))}


def _notebooks(src: str | Path, argument: str) -> list[Path]:
    path = Path(src)
    if path.is_file() and path.suffix == ".ipynb":
        return [path]
    if path.is_dir():
        return [p for p in sorted(path.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
    raise ValueError(f"{argument} must be an existing folder or .ipynb file, got {str(src)!r}")


_ROLE = re.compile(r"\{(?P<role>[a-z:]+)\}`(?P<text>[^`]*)`")


def _plain_roles(text: str) -> str:
    """MyST roles as Markdown Jupyter renders: maths as $...$, citations by key."""
    def replace(match: re.Match) -> str:
        role, body = match.group("role"), match.group("text")
        if role == "math":
            return f"${body}$"
        if role.startswith("cite"):
            return "(" + "; ".join(k.strip() for k in body.split(",")) + ")"
        shown = re.match(r"(?s)(.*?)\s*<[^>]*>$", body)
        return f"*{shown.group(1) if shown else body}*"
    return _ROLE.sub(replace, text)


def readable_prompt(source: str) -> tuple[str, dict | None]:
    """A markdown cell's ``{exercise}`` block as plain Markdown Jupyter renders.

    Returns:
        The pair ``(markdown, info)``, where the block becomes an anchor ``<a id="ex-N-M">``,
        a heading ``### Exercise N.M: title`` and the prompt, with directive
        options dropped and MyST roles made plain; ``info`` is
        ``{"exercise": "N.M", "title": title}`` (None, and ``source``
        unchanged, when the cell has no labelled exercise).
    """
    match = _EXERCISE_BLOCK.search(source)
    if match is None:
        return source, None
    body = match.group("body")
    label = re.search(r"^:label:\s*ex-(\d+)-(\d+)\s*$", body, flags=re.MULTILINE)
    if label is None:
        return source, None
    number = f"{label.group(1)}.{label.group(2)}"
    title = match.group("title").strip()
    lines = body.splitlines()
    while lines and re.match(r"^:[\w-]+:", lines[0]):
        lines.pop(0)
    heading = f"### Exercise {number}" + (f": {title}" if title else "")
    text = (f'<a id="ex-{label.group(1)}-{label.group(2)}"></a>\n\n{heading}\n\n'
            + _plain_roles("\n".join(lines).strip()) + "\n")
    return source[:match.start()] + text + source[match.end():], {"exercise": number,
                                                                   "title": title}


def student_notebook(nb: Any, readable_prompts: bool = False) -> Any:
    """A student edition of ``nb`` (a new notebook; ``nb`` is left unchanged).

    Args:
        nb: an ``nbformat`` notebook.
        readable_prompts: turn every ``{exercise}`` block into plain Markdown
            (:func:`readable_prompt`), and add a cell that calls ``check``
            after the answer cells of an exercise that have none, for Jupyter
            and Colab; the HTML build keeps the notebook as it is.

    Raises:
        ValueError: if the notebook has a cell whose solution status is
            ambiguous (the findings of :func:`lint_notebook`), or uses the
            gated ``{solution-start}`` / ``{solution-end}`` syntax, which this
            convention does not support.
    """
    for cell in nb.cells:
        if cell.cell_type == "markdown" and _GATED.search(cell.source):
            raise ValueError(
                "gated solutions ({solution-start}/{solution-end}) are not supported; "
                "use one {solution} directive per markdown cell and tag solution "
                "code cells 'solution'"
            )
    findings = lint_notebook(nb)
    if findings:
        raise ValueError("refusing to make a student edition, because it is not clear "
                         "whether these cells are solutions: " + "; ".join(findings))
    out = copy.deepcopy(nb)
    cells = []
    for cell in out.cells:
        tags = _tags(cell)
        if SOLUTION_TAG in tags:
            continue
        if cell.cell_type == "markdown":
            source = cell.source
            if "{solution}" in source:
                source = _strip_solution_blocks(source)
                if not source.strip():
                    continue
                cell.source = source
            if readable_prompts and "{exercise}" in source:
                cell.source, info = readable_prompt(source)
                if info is not None:
                    cell.metadata["tlbook"] = info
        if cell.cell_type == "code" and EXERCISE_TAG in tags:
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    out.cells = _with_check_cells(cells) if readable_prompts else cells
    return out


def _with_check_cells(cells: list) -> list:
    """``cells`` with a check cell after each exercise's answer cells that lack one.

    The prompt names the call (``check("1.2", my_mean_pool)``); the cell goes
    after the last cell tagged ``exercise`` that follows the prompt.
    """
    from .grading import _CHECK_CALL

    nbformat = _nbformat()
    result = []
    call = None  # (id, the check call) of the exercise whose answer cells come next
    for index, cell in enumerate(cells):
        result.append(cell)
        info = cell.get("metadata", {}).get("tlbook", {})
        if cell.cell_type == "markdown":
            calls = [(i, n) for i, n in _CHECK_CALL.findall(cell.source) if i == info.get("exercise")]
            call = (calls[0][0], f'check("{calls[0][0]}", {calls[0][1]})') if calls else None
            continue
        if call is None or EXERCISE_TAG not in _tags(cell):
            continue
        if f'check("{call[0]}"' in cell.source:
            call = None  # the answer cell checks itself
            continue
        following = cells[index + 1] if index + 1 < len(cells) else None
        if following is None or following.cell_type != "code" or EXERCISE_TAG not in _tags(following):
            result.append(nbformat.v4.new_code_cell(
                f"from tlbook.exercises import check\n\n{call[1]}",
                metadata={"tags": ["check"]}))
            call = None
    return result


def read_student_notebook(text: str) -> Any:
    """MyST-NB reader: parse ``.ipynb`` text and return its student edition.

    Used by the student HTML build through
    ``nb_custom_formats: {.ipynb: tlbook.student.read_student_notebook}``.
    """
    return student_notebook(_nbformat().reads(text, as_version=4))


def write_student_notebooks(src_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the student edition of every notebook under ``src_dir`` to ``out_dir``.

    Sub-folders are kept (``src_dir/a/b.ipynb`` -> ``out_dir/a/b.ipynb``);
    ``.ipynb_checkpoints`` folders are skipped. ``src_dir`` may also be one
    notebook, which is written into ``out_dir``. The prompts are readable
    Markdown (see :func:`readable_prompt`). Every notebook is converted before
    any is written, so a refused notebook leaves ``out_dir`` as it was.

    Args:
        src_dir: folder holding the chapter notebooks, e.g. ``book``, or one
            ``.ipynb`` file.
        out_dir: folder to write to (created if missing), e.g. ``student/book``.

    Returns:
        The paths written, sorted.

    Raises:
        ValueError: if ``src_dir`` is neither a folder nor a notebook, if
            ``out_dir`` is ``src_dir``, lies inside it or is a notebook (that
            would overwrite or mix with the solutions), if ``out_dir`` is a
            file, or if a notebook is refused (see :func:`student_notebook`).
    """
    nbformat = _nbformat()
    src = Path(src_dir)
    out = Path(out_dir)
    paths = _notebooks(src, "src_dir")
    base = src if src.is_dir() else src.parent
    if out.suffix == ".ipynb" or (out.exists() and not out.is_dir()):
        raise ValueError(f"out_dir must be a folder, got {str(out_dir)!r}")
    resolved = out.resolve()
    if resolved == base.resolve() or base.resolve() in resolved.parents:
        raise ValueError("out_dir must differ from src_dir and lie outside it: writing there "
                         "would overwrite the solutions")
    editions = {}
    for path in paths:
        try:
            editions[path] = student_notebook(nbformat.read(path, as_version=4),
                                              readable_prompts=True)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    written = []
    for path, edition in editions.items():
        target = out / path.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(edition, target)
        written.append(target)
    return sorted(written)


# ------------------------------------------------------------ Sphinx extension


def _replace_downloadable_notebooks(app: Any, exception: Exception | None) -> None:
    """After an HTML build, make ``_sources/**/*.ipynb`` student editions."""
    sources = Path(app.outdir) / "_sources"
    if exception is not None or not sources.is_dir():
        return
    nbformat = _nbformat()
    for path in sources.rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nbformat.write(student_notebook(nb, readable_prompts=True), path)


def setup(app: Any) -> dict[str, Any]:
    """Sphinx entry point, for the student build only (see the module docstring)."""
    app.connect("build-finished", _replace_downloadable_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
