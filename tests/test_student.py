"""The student converter's safety checks and the instructor commands of the CLI.

Tiny notebooks made here: mis-tagged solutions must be found by ``tlbook lint``
and refused by the converter; ordinary mistakes on the command line give one
sentence, never a traceback, and never touch the sources; prompts become
Markdown that Jupyter renders; ``tlbook info`` reports the profile it runs in.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

import nbformat
import pytest

from tlbook.cli import main
from tlbook.grading import exercises_in_notebook
from tlbook.student import lint_notebook, readable_prompt, student_notebook, write_student_notebooks

ROOT = Path(__file__).resolve().parents[1]
v4 = nbformat.v4

PROMPT = ("```{exercise} Count it\n:label: ex-3-1\nHow many? Use $r = 16$ and "
          "{cite}`hu2021lora`, then `check(\"3.1\", size)`.\n```")
SOLUTION = "```{solution} ex-3-1\n:class: dropdown\nSECRET-PROSE\n```"


def _nb(*cells) -> nbformat.NotebookNode:
    return v4.new_notebook(cells=list(cells))


def _code(source: str, *tags: str) -> nbformat.NotebookNode:
    return v4.new_code_cell(source, metadata={"tags": list(tags)} if tags else {})


def _good() -> nbformat.NotebookNode:
    return _nb(v4.new_markdown_cell("# A chapter"), v4.new_markdown_cell(PROMPT),
               _code("size = None  # your answer", "exercise"), v4.new_markdown_cell(SOLUTION),
               _code("size = 42  # SECRET-CODE", "solution"), v4.new_markdown_cell("After."))


# ------------------------------------------------------------ mis-tagged solutions


@pytest.mark.parametrize("bad, finding", [
    # a tag spelled another way
    (lambda nb: nb.cells[4].metadata.update(tags=["Solution"]), r"tag 'Solution' is not 'solution'"),
    # an untagged code cell after the {solution} block
    (lambda nb: nb.cells.insert(5, _code("print(size)  # SECRET-CODE")),
     r"cell 5 \(code\): a code cell right after a \{solution\} block"),
    # a {solution} block indented in a list
    (lambda nb: nb.cells.__setitem__(3, v4.new_markdown_cell(
        "1. First:\n\n    ```{solution} ex-3-1\n    SECRET-PROSE\n    ```\n")),
     r"cell 3 \(markdown\): a \{solution\} block that is indented"),
    # both tags
    (lambda nb: nb.cells[4].metadata.update(tags=["exercise", "solution"]),
     r"tagged both 'exercise' and 'solution'"),
])
def test_mis_tagged_solutions_are_found_and_refused(bad, finding):
    nb = _good()
    assert lint_notebook(nb) == []
    bad(nb)
    found = lint_notebook(nb)
    assert len(found) == 1 and re.search(finding, found[0]), found
    with pytest.raises(ValueError, match="refusing to make a student edition"):
        student_notebook(nb)


def test_the_books_notebooks_have_no_ambiguous_solution_cells(capsys):
    assert main(["lint", str(ROOT / "book")]) == 0
    assert "no ambiguous solution cells" in capsys.readouterr().out


def test_lint_command_lists_findings_and_fails(tmp_path, capsys):
    nb = _good()
    nb.cells[4].metadata["tags"] = ["solutions"]
    nbformat.write(nb, tmp_path / "ch.ipynb")
    assert main(["lint", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "ch.ipynb: cell 4 (code): tag 'solutions'" in captured.out
    assert "refuses these notebooks" in captured.err


# --------------------------------------------------------------- readable prompts


def test_prompts_become_markdown_that_jupyter_renders():
    text, info = readable_prompt("Intro.\n\n" + PROMPT + "\n\nOutro.")
    assert info == {"exercise": "3.1", "title": "Count it"}
    assert "```" not in text and "{exercise}" not in text and ":label:" not in text
    assert '<a id="ex-3-1"></a>\n\n### Exercise 3.1: Count it\n\n' in text
    assert "$r = 16$" in text  # maths outside a code fence: Jupyter typesets it
    assert "(hu2021lora)" in text and "{cite}" not in text
    assert text.startswith("Intro.") and text.endswith("Outro.")
    assert readable_prompt("No exercise here.") == ("No exercise here.", None)


def test_student_notebooks_carry_markdown_prompts_the_grader_still_finds(tmp_path):
    (tmp_path / "src").mkdir()
    nbformat.write(_good(), tmp_path / "src" / "ch.ipynb")
    written = write_student_notebooks(tmp_path / "src", tmp_path / "out")
    nb = nbformat.read(written[0], as_version=4)
    assert "SECRET" not in "".join(c.source for c in nb.cells)
    prompt = nb.cells[1]
    assert prompt.source.startswith('<a id="ex-3-1"></a>') and prompt.metadata["tlbook"]["exercise"] == "3.1"
    found = exercises_in_notebook(nb)
    assert [(e["id"], e["answer"]) for e in found] == [("3.1", "size")]
    # After the answer cell, a cell with the check the prompt names.
    assert nb.cells[2].source.startswith("size = None")
    assert nb.cells[3].source.endswith('check("3.1", size)') and nb.cells[3].metadata.tags == ["check"]
    assert nb.cells[4].source == "After."
    # An answer cell that checks itself gets no second check.
    own = _good()
    own.cells[2].source = 'size = None\ncheck("3.1", size)'
    assert len(student_notebook(own, readable_prompts=True).cells) == 4
    # The HTML build reads the notebook without that conversion: the directive stays.
    assert "{exercise}" in student_notebook(_good()).cells[1].source


# ------------------------------------------------------------ command-line mistakes


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture
def src(tmp_path):
    folder = tmp_path / "book"
    folder.mkdir()
    nbformat.write(_good(), folder / "ch.ipynb")
    return folder


@pytest.mark.parametrize("args, message", [
    (["{src}", "{src}"], "out_dir must differ from src_dir"),
    (["{src}", "{src}/student"], "lie outside it"),
    (["{src}", "{src}/ch.ipynb"], "out_dir must be a folder"),
    (["{src}/missing", "{tmp}/out"], "src_dir must be an existing folder or .ipynb file"),
])
def test_student_command_mistakes_give_one_sentence_and_keep_the_source(src, capsys, args, message):
    before = _digest(src)
    args = [a.format(src=src, tmp=src.parent) for a in args]
    assert main(["student", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tlbook: error: ") and message in err and "Traceback" not in err
    assert _digest(src) == before


def test_student_command_accepts_one_notebook(src, capsys):
    assert main(["student", str(src / "ch.ipynb"), str(src.parent / "out")]) == 0
    assert (src.parent / "out" / "ch.ipynb").is_file()
    assert "wrote 1 student notebook(s)" in capsys.readouterr().out


def test_a_refused_notebook_writes_nothing(src, capsys):
    nb = _good()
    nb.cells[4].metadata["tags"] = ["Solution"]
    nbformat.write(nb, src / "bad.ipynb")
    assert main(["student", str(src), str(src.parent / "out")]) == 1
    assert "bad.ipynb" in capsys.readouterr().err
    assert not (src.parent / "out").exists()


def test_nbformat_is_a_dependency_of_the_package():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(re.match(r"nbformat\b", d) for d in deps)


# --------------------------------------------------------------------- tlbook info


def test_info_shows_the_resources_of_the_full_profile(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TLBOOK_PROFILE", "full")
    monkeypatch.setattr("tlbook.profiles._current", None)  # no setup() of an earlier test
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path / "empty"))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "profile: full" in out and "bert-base-uncased" in out
    for lite_only in ("encoder-minilm", "causal-lm-smollm2", "movie-sentiment"):
        assert lite_only not in out
    assert re.search(r"not cached yet: run `tlbook fetch glove-6b-50d brown", out)


def test_info_on_an_empty_cache_says_to_fetch(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TLBOOK_PROFILE", raising=False)
    monkeypatch.setattr("tlbook.profiles._current", None)
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path / "empty"))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "encoder-minilm" in out and "not cached yet: run `tlbook fetch" in out


def test_exercises_command_prints_the_catalogue(capsys, tmp_path):
    assert main(["exercises", "--book", str(ROOT / "book")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^1\.1 +number +yes +easy", out, flags=re.MULTILINE)
    assert re.search(r"^9\.5 +design +no ", out, flags=re.MULTILINE)
    assert main(["exercises", "--book", str(ROOT / "book"), "--csv", str(tmp_path / "c.csv")]) == 0
    assert (tmp_path / "c.csv").read_text().startswith("id,title,chapter,notebook,kind")


# ----------------------------------------------- which solutions a student edition hides

CHAPTER_5 = ROOT / "book" / "05_probing.ipynb"


def _solution_ids(nb) -> list[str]:
    return re.findall(r"\{solution\}\s*ex-(\d+-\d+)", "".join(c.source for c in nb.cells))


def test_a_real_chapter_says_where_the_solutions_are():
    book = nbformat.read(CHAPTER_5, as_version=4)
    assert "Solutions are folded under\neach exercise." in "".join(c.source for c in book.cells)
    every = "".join(c.source for c in student_notebook(book).cells)
    assert "folded" not in every and "Solutions are in the instructors' edition." in every
    # Two of its four solutions kept: the sentence names them, the exercises stay.
    ids = [e["id"] for e in exercises_in_notebook(book)]
    assert ids == ["5.1", "5.2", "5.3", "5.4"] and _solution_ids(book) == ["5-1", "5-2", "5-3", "5-4"]
    some = student_notebook(book, readable_prompts=True, hide="5.2,5.3")
    text = "".join(c.source for c in some.cells)
    assert ("The solutions of exercises 5.1 and 5.4 follow them; the others are in the "
            "instructors' edition.") in text
    assert "**Solution of exercise 5.1**" in text and "**Solution of exercise 5.4**" in text
    assert "Solution of exercise 5.2" not in text and "{solution}" not in text
    assert [e["id"] for e in exercises_in_notebook(some)] == ids  # still catalogued and graded
    kept_code = [c for c in some.cells if "solution" in c.metadata.get("tags", [])]
    solution_code = [c for c in book.cells
                     if c.cell_type == "code" and "solution" in c.metadata.get("tags", [])]
    assert 0 < len(kept_code) < len(solution_code)
    # Nothing hidden: the book's sentence stays as it is.
    assert "folded under" in "".join(c.source for c in student_notebook(book, hide="9.*").cells)


def _two_exercises(first_options: str = "") -> nbformat.NotebookNode:
    def prompt(n, answer):
        return v4.new_markdown_cell(f"```{{exercise}} Demo {n}\n:label: ex-0-{n}\n"
                                    f"Answer, then `check(\"0.{n}\", {answer})`.\n```")

    return _nb(v4.new_markdown_cell("# Demo\n\nSolutions are folded under each exercise."),
               v4.new_code_cell("from tlbook.exercises import check"),
               prompt(1, "p"), _code("p = None  # your answer", "exercise"),
               v4.new_markdown_cell(f"```{{solution}} ex-0-1\n:class: dropdown\n{first_options}"
                                    "ONE-PROSE\n```"),
               _code("p = 0.5  # ONE-CODE\ncheck(\"0.1\", p)", "solution"),
               prompt(2, "pos"), _code("pos = None  # your answer", "exercise"),
               v4.new_markdown_cell("```{solution} ex-0-2\n:class: dropdown\nTWO-PROSE\n```"),
               _code("pos = 'NOUN'  # TWO-CODE", "solution"))


def test_hide_keeps_the_other_solutions_and_the_hidden_option_always_hides():
    text = "".join(c.source for c in student_notebook(_two_exercises(), hide="0.2").cells)
    assert "ONE-PROSE" in text and "ONE-CODE" in text
    assert "TWO-PROSE" not in text and "TWO-CODE" not in text
    assert "The solution of exercise 0.1 follows it" in text
    # sphinx-exercise's :hidden: marks a solution no student edition shows.
    marked = student_notebook(_two_exercises(":hidden:\n"), hide="0.2")
    assert "ONE-" not in "".join(c.source for c in marked.cells)
    assert "Solutions are in the instructors' edition." in marked.cells[0].source
    both = "".join(c.source for c in student_notebook(_two_exercises(), hide=["0.*"]).cells)
    assert "ONE-" not in both and "TWO-" not in both


@pytest.mark.parametrize("hide, error, message", [
    ("5-1", ValueError, "hide patterns must be exercise ids"),
    (",", ValueError, "at least one"),
    (5.1, TypeError, "hide must be None, a str"),
])
def test_a_malformed_hide_is_refused(hide, error, message):
    with pytest.raises(error, match=message):
        student_notebook(_two_exercises(), hide=hide)


def test_student_command_converts_one_chapter_with_some_solutions(src, tmp_path, capsys):
    nbformat.write(_two_exercises(), src / "demo.ipynb")
    before = _digest(src)
    out = tmp_path / "out"
    assert main(["student", str(src / "demo.ipynb"), str(out), "--hide", "0.2"]) == 0
    assert [p.name for p in out.iterdir()] == ["demo.ipynb"]  # that chapter only
    text = (out / "demo.ipynb").read_text()
    assert "ONE-CODE" in text and "TWO-CODE" not in text
    # A mistyped id would leave its solution in: refused, nothing written.
    assert main(["student", str(src / "demo.ipynb"), str(tmp_path / "o2"), "--hide", "0.20"]) == 1
    err = capsys.readouterr().err
    assert "'0.20', which match no solution" in err and "exercises 0.1, 0.2" in err
    assert not (tmp_path / "o2").exists() and _digest(src) == before


def test_a_kept_solution_is_graded_like_an_answer(tmp_path):
    from tlbook.grading import grade_notebook

    nb = _two_exercises()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    (tmp_path / "src").mkdir()
    nbformat.write(nb, tmp_path / "src" / "demo.ipynb")
    written = write_student_notebooks(tmp_path / "src", tmp_path / "out", hide="0.2")
    result = grade_notebook(written[0], timeout=120, cell_timeout=60)
    assert result["exercises"]["0.1"]["verdict"] == "correct"  # the kept solution's answer
    assert result["exercises"]["0.2"]["verdict"] == "not yet"  # still None
