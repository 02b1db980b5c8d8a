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
- says, instead of "Solutions are folded under each exercise.", where the
  solutions are;
- keeps everything else, stored outputs included.

``hide`` (``tlbook student --hide "5.*,6.2"``) removes only the solutions of
the exercises it names and keeps the others (as plain Markdown in the
notebooks for learners); a ``{solution}`` block with sphinx-exercise's
``:hidden:`` option is removed whatever ``hide`` says.

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
from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from typing import Any

__all__ = [
    "EXERCISE_TAG",
    "SOLUTION_TAG",
    "hide_patterns",
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


def _strip_solution_blocks(text: str, drop: Callable[[str | None, bool], bool] | None = None,
                           rewrite: Callable[[str | None, list[str]], str] | None = None
                           ) -> tuple[str, list[tuple[str | None, bool]]]:
    """``text`` without its ``{solution}`` directive blocks, and what was seen.

    Args:
        text: a markdown cell's source.
        drop: ``drop(exercise_id, marked_hidden) -> bool`` decides for each
            block (its exercise id, ``"5.1"`` from ``ex-5-1``, or None when its
            label is not of that form; whether it has the ``:hidden:``
            option); None drops every block.
        rewrite: ``rewrite(exercise_id, block_lines) -> str`` replaces each
            kept block (its lines from the opening to the closing fence);
            None keeps it as it is.

    Returns:
        ``(text, blocks)``: the text without the dropped blocks, and one
        ``(exercise_id, dropped)`` pair per block, in order.
    """
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    blocks: list[tuple[str | None, bool]] = []
    fence = None  # the opening fence of the block being read
    block: list[str] = []
    for line in lines:
        if fence is None:
            match = _SOLUTION_OPEN.match(line)
            if match:
                fence, block = match.group("fence"), [line]
                continue
            kept.append(line)
        else:
            block.append(line)
            closing = line.strip()
            # A closing fence: same character, at least as long, nothing else.
            if closing and set(closing) == {fence[0]} and len(closing) >= len(fence):
                fence = None
                exercise_id, hidden = _solution_label(block)
                dropped = True if drop is None else bool(drop(exercise_id, hidden))
                blocks.append((exercise_id, dropped))
                if not dropped:
                    kept.extend(block if rewrite is None else [rewrite(exercise_id, block)])
    if fence is not None:  # an unclosed block runs to the end of the cell: never shown
        exercise_id, hidden = _solution_label(block)
        blocks.append((exercise_id, True))
    return "".join(kept), blocks


def _solution_label(block: list[str]) -> tuple[str | None, bool]:
    """``(exercise id, has :hidden:)`` of a ``{solution}`` block's lines."""
    label = re.search(r"\{solution\}[ \t]*ex-(\d+)-(\d+)\b", block[0])
    hidden = False
    for line in block[1:]:
        if not re.match(r"^\s*:[\w-]+:", line):
            break  # options come first, one per line
        hidden = hidden or re.match(r"^\s*:hidden:", line) is not None
    return (f"{label.group(1)}.{label.group(2)}" if label else None), hidden


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
            stripped, _ = _strip_solution_blocks(source)
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


def hide_patterns(hide: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """The exercise-id patterns of a ``hide`` selection, checked.

    Args:
        hide: ``None`` (every solution), a comma-separated string such as
            ``"5.*,6.2"``, or an iterable of patterns; a pattern is an
            exercise id (``"6.2"``), a chapter's exercises (``"5.*"``) or
            ``"*"`` (all).

    Returns:
        The patterns, or None for "every solution".

    Raises:
        TypeError: ``hide`` is not None, a str or an iterable of str.
        ValueError: a pattern is not of the forms above, or there is none.
    """
    if hide is None:
        return None
    if isinstance(hide, str):
        items = hide.split(",")
    elif isinstance(hide, Iterable):
        items = list(hide)
        if not all(isinstance(item, str) for item in items):
            raise TypeError("hide must be None, a str such as '5.*,6.2' or a list of str")
    else:
        raise TypeError(f"hide must be None, a str such as '5.*,6.2' or a list of str, "
                        f"got {type(hide).__name__}")
    patterns = tuple(item.strip() for item in items if item.strip())
    for pattern in patterns:
        if not re.fullmatch(r"\*|\d+\.(\d+|\*)", pattern):
            raise ValueError(f"hide patterns must be exercise ids such as '6.2', a chapter's "
                             f"exercises such as '5.*', or '*'; got {pattern!r}")
    if not patterns:
        raise ValueError(f"hide must name at least one exercise id or pattern, got {hide!r}")
    return patterns


_FOLDED = re.compile(r"Solutions\s+are\s+folded\s+under\s+each\s+exercise\.")
def _id_order(exercise_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in exercise_id.split("."))


def _ids_text(ids: list[str]) -> str:
    return ids[0] if len(ids) == 1 else ", ".join(ids[:-1]) + " and " + ids[-1]


def _where_solutions_are(kept: list[str]) -> str:
    """The sentence that replaces "Solutions are folded under each exercise."."""
    if not kept:
        return "Solutions are in the instructors' edition."
    if len(kept) == 1:
        return (f"The solution of exercise {kept[0]} follows it; the others are in the "
                "instructors' edition.")
    return (f"The solutions of exercises {_ids_text(kept)} follow them; the others are in "
            "the instructors' edition.")


def _readable_solutions(source: str) -> str:
    """Kept ``{solution}`` blocks as plain Markdown: a bold heading over the text."""
    def plain(exercise_id: str | None, block: list[str]) -> str:
        lines = [line.rstrip("\n") for line in block[1:-1]]  # inside the fences
        while lines and re.match(r"^\s*:[\w-]+:", lines[0]):
            lines.pop(0)
        heading = (f"**Solution of exercise {exercise_id}**" if exercise_id
                   else "**Solution**")
        ending = "\n" if block[-1].endswith("\n") else ""
        return f"{heading}\n\n" + _plain_roles("\n".join(lines).strip()) + "\n" + ending

    return _strip_solution_blocks(source, lambda *_: False, plain)[0]


def student_notebook(nb: Any, readable_prompts: bool = False,
                     hide: str | Iterable[str] | None = None) -> Any:
    """A student edition of ``nb`` (a new notebook; ``nb`` is left unchanged).

    Args:
        nb: an ``nbformat`` notebook.
        readable_prompts: turn every ``{exercise}`` block into plain Markdown
            (:func:`readable_prompt`), and add a cell that calls ``check``
            after the answer cells of an exercise that have none, for Jupyter
            and Colab; the HTML build keeps the notebook as it is. Kept
            solutions become plain Markdown too.
        hide: which solutions to remove (:func:`hide_patterns`): None removes
            every one; ``"5.*,6.2"`` removes those of chapter 5 and exercise
            6.2 and keeps the others. A ``{solution}`` block with the
            ``:hidden:`` option, or without an ``ex-N-M`` label, is removed
            whatever ``hide`` says, and so are the code cells tagged
            ``solution`` that follow it.

    The sentence "Solutions are folded under each exercise." becomes one that
    says where the solutions are.

    Raises:
        ValueError: if the notebook has a cell whose solution status is
            ambiguous (the findings of :func:`lint_notebook`), uses the
            gated ``{solution-start}`` / ``{solution-end}`` syntax, which this
            convention does not support, or ``hide`` is malformed.
    """
    return _edition(nb, readable_prompts, hide)[0]


def _edition(nb: Any, readable_prompts: bool, hide: str | Iterable[str] | None
             ) -> tuple[Any, list[str], list[str]]:
    """:func:`student_notebook`, and the exercise ids of the solutions removed and kept."""
    patterns = hide_patterns(hide)
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

    def dropped(exercise_id: str | None, marked_hidden: bool) -> bool:
        if patterns is None or marked_hidden or exercise_id is None:
            return True
        return any(fnmatchcase(exercise_id, p) for p in patterns)

    out = copy.deepcopy(nb)
    cells = []
    hidden_ids: list[str] = []
    kept_ids: list[str] = []
    owner_dropped = True  # whether the solution that solution-tagged cells continue is removed
    for cell in out.cells:
        tags = _tags(cell)
        if cell.cell_type == "markdown":
            source = cell.source
            if "{solution}" in source:
                source, blocks = _strip_solution_blocks(source, dropped)
                for exercise_id, gone in blocks:
                    (hidden_ids if gone else kept_ids).append(exercise_id or "?")
                if blocks:
                    owner_dropped = blocks[-1][1]
                if SOLUTION_TAG in tags and any(gone for _, gone in blocks):
                    continue
                if not source.strip():
                    continue
                if readable_prompts and "{solution}" in source:
                    source = _readable_solutions(source)
                cell.source = source
            elif SOLUTION_TAG not in tags:
                owner_dropped = True  # prose after a solution ends it
            if SOLUTION_TAG in tags and "{solution}" not in cell.source and owner_dropped:
                continue
            if readable_prompts and "{exercise}" in source:
                cell.source, info = readable_prompt(source)
                if info is not None:
                    cell.metadata["tlbook"] = info
        elif SOLUTION_TAG in tags and owner_dropped:
            continue
        if cell.cell_type == "code" and EXERCISE_TAG in tags:
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    if hidden_ids:
        sentence = _where_solutions_are([i for i in kept_ids if i != "?"])
        for cell in cells:
            if cell.cell_type == "markdown" and _FOLDED.search(cell.source):
                cell.source = _FOLDED.sub(sentence, cell.source)
    out.cells = _with_check_cells(cells) if readable_prompts else cells
    return out, hidden_ids, kept_ids


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


def write_student_notebooks(src_dir: str | Path, out_dir: str | Path,
                            hide: str | Iterable[str] | None = None) -> list[Path]:
    """Write the student edition of every notebook under ``src_dir`` to ``out_dir``.

    Sub-folders are kept (``src_dir/a/b.ipynb`` -> ``out_dir/a/b.ipynb``);
    ``.ipynb_checkpoints`` folders are skipped. ``src_dir`` may also be one
    notebook (one chapter), which is written into ``out_dir``. The prompts are
    readable Markdown (see :func:`readable_prompt`). Every notebook is
    converted before any is written, so a refused notebook leaves ``out_dir``
    as it was.

    Args:
        src_dir: folder holding the chapter notebooks, e.g. ``book``, or one
            ``.ipynb`` file, e.g. ``book/05_probing.ipynb``.
        out_dir: folder to write to (created if missing), e.g. ``student/book``.
        hide: which solutions to remove, e.g. ``"5.*,6.2"`` (see
            :func:`student_notebook`); None removes every one.

    Returns:
        The paths written, sorted.

    Raises:
        ValueError: if ``src_dir`` is neither a folder nor a notebook, if
            ``out_dir`` is ``src_dir``, lies inside it or is a notebook (that
            would overwrite or mix with the solutions), if ``out_dir`` is a
            file, if a notebook is refused (see :func:`student_notebook`), or
            if a pattern of ``hide`` matches no solution of these notebooks
            (a mistyped id would otherwise leave its solution in).
    """
    patterns = hide_patterns(hide)
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
    editions, solution_ids = {}, set()
    for path in paths:
        try:
            editions[path], hidden, kept = _edition(nbformat.read(path, as_version=4),
                                                    True, patterns)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        solution_ids.update(hidden + kept)
    unmatched = [p for p in patterns or () if not any(fnmatchcase(i, p) for i in solution_ids)]
    if unmatched:
        raise ValueError(f"hide names {', '.join(map(repr, unmatched))}, which match no "
                         f"solution in {src}; the solutions there are of exercises "
                         f"{', '.join(sorted(solution_ids - {'?'}, key=_id_order)) or 'none'}")
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
