"""The HTML book builds with warnings as errors, and the student edition hides solutions.

Three things are checked:
- the real book (``_config.yml``, ``_toc.yml``, ``book/``) builds, normal and
  student edition, and has a page for every entry of the table of contents;
- a tiny book made in a temporary folder from ``tests/fixtures/exercise_demo.ipynb``
  and this repository's two configurations shows the fixture's solution in the
  normal build and not in the student build (so this does not depend on any
  chapter's content);
- ``tlbook.student.write_student_notebooks`` leaves no solution in the notebooks.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from bookbuild import build, toc_files

from tlbook.student import student_notebook, write_student_notebooks

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEMO = FIXTURES / "exercise_demo.ipynb"

SOLUTION_MARKERS = ["SOLUTION-PROSE-MARKER", "SOLUTION-CODE-MARKER"]
KEPT_MARKER = "KEPT-PROSE-MARKER"


def all_text(folder: Path) -> str:
    """The text of every file under ``folder`` (HTML, search index, sources, ...)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return "\n".join(p.read_text(encoding="utf-8", errors="ignore") for p in files)


# ------------------------------------------------------------------ configuration


def test_student_config_is_the_normal_config_plus_the_student_settings():
    normal = yaml.safe_load((ROOT / "_config.yml").read_text())
    student = yaml.safe_load((ROOT / "_config_student.yml").read_text())

    assert normal["title"] == "Transfer Learning for NLP"
    assert normal["execute"]["execute_notebooks"] == "off"
    assert normal["sphinx"]["config"]["hide_solutions"] is False
    assert student["sphinx"]["config"]["hide_solutions"] is True
    assert student["sphinx"]["config"]["nb_custom_formats"] == {
        ".ipynb": "tlbook.student.read_student_notebook"
    }
    assert "tlbook.student" in student["sphinx"]["extra_extensions"]

    # Take the student settings away and the two files must be identical.
    stripped = copy.deepcopy(student)
    stripped["sphinx"]["config"]["hide_solutions"] = False
    del stripped["sphinx"]["config"]["nb_custom_formats"]
    stripped["sphinx"]["extra_extensions"].remove("tlbook.student")
    del stripped["html"]["announcement"]
    assert student["repository"]["branch"] == "student"  # buttons open student notebooks
    stripped["repository"]["branch"] = normal["repository"]["branch"]
    assert stripped == normal


# ------------------------------------------------------------------ the real book


@pytest.mark.parametrize("edition", ["normal", "student"])
def test_real_book_has_every_page(real_builds, edition):
    html = real_builds[edition]
    assert (html / "index.html").is_file()
    for name in toc_files(ROOT / "_toc.yml"):
        assert (html / f"{name}.html").is_file(), f"{edition} build lacks the page {name}"


@pytest.mark.parametrize("edition", ["normal", "student"])
def test_real_book_typesets_maths_with_its_own_mathjax(real_builds, edition):
    html = real_builds[edition]
    mathjax = html / "_static" / "mathjax"
    assert (mathjax / "tex-mml-chtml.js").stat().st_size > 500_000  # the real component
    assert list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("MathJax_Main-*.woff"))
    assert (mathjax / "LICENSE").is_file()
    page = (html / "book" / "07_lora.html").read_text(encoding="utf-8")
    assert 'class="math' in page  # the LoRA chapter has formulas
    assert 'src="../_static/mathjax/tex-mml-chtml.js' in page
    assert "cdn.jsdelivr.net/npm/mathjax" not in page


def test_real_book_notebook_pages_have_a_colab_button(real_builds):
    import colab_cells

    repo = colab_cells.repository_url().removeprefix("https://github.com/")
    notebooks = [n for n in toc_files(ROOT / "_toc.yml") if (ROOT / f"{n}.ipynb").exists()]
    for name in notebooks:
        page = (real_builds["normal"] / f"{name}.html").read_text(encoding="utf-8")
        url = f"https://colab.research.google.com/github/{repo}/blob/main/{name}.ipynb"
        assert url in page, f"{name}: no Colab launch link"




def test_every_chapter_installs_tlbook_in_colab_from_the_configured_repository(tmp_path):
    import colab_cells

    url = colab_cells.repository_url()
    assert url == colab_cells.repository_url(ROOT / "_config_student.yml")
    assert colab_cells.mismatches(url) == []
    chapters = sorted((ROOT / "book").glob("*.ipynb"))
    assert chapters and all(colab_cells.install_cell(nb) is not None for nb in chapters)
    # another URL: every cell disagrees, so a forgotten rewrite cannot pass
    assert colab_cells.mismatches("https://example.org/fork") == [nb.name for nb in chapters
                                                                   ] + ["intro.md"]
    cell = colab_cells.install_cell(chapters[0])
    assert {"remove-cell", "nbval-skip"} <= set(cell["metadata"]["tags"])


def test_every_chapter_and_the_introduction_say_how_to_install_the_pinned_version(tmp_path):
    import colab_cells

    url, version = colab_cells.repository_url(), colab_cells.package_version()
    note = colab_cells.install_note(url, version)
    assert f"`tlbook` {version}" in note and "pip install ." in note and "tlbook fetch" in note
    assert "npm" in note and url in note
    assert colab_cells.intro_note() == colab_cells.intro_install_note(url, version)
    assert colab_cells.intro_note().replace("a chapter", "this chapter", 1) == note
    chapters = sorted((ROOT / "book").glob("*.ipynb"))
    assert len(chapters) >= 10
    for nb in chapters:
        cell = colab_cells.install_note_cell(nb)
        assert cell is not None, f"{nb.name}: no install note after the Colab cell"
        assert cell["cell_type"] == "markdown" and not cell["metadata"].get("tags")  # visible
        assert "".join(cell["source"]) + "\n" == note, f"{nb.name}: stale install note"
    # A version bump makes every note stale, so a forgotten `make colab-cells` fails.
    assert set(colab_cells.mismatches(url, "9.9.9")) == {nb.name for nb in
                                                           (ROOT / "book").glob("*.ipynb")} | {"intro.md"}
    # The student edition keeps the note.
    student = student_notebook(nbformat.read(chapters[0], as_version=4), readable_prompts=True)
    assert any(c.source + "\n" == note for c in student.cells)


def test_make_colab_cells_inserts_missing_notes_and_rewrites_stale_ones(tmp_path):
    import json

    import colab_cells

    url, version = colab_cells.repository_url(), colab_cells.package_version()
    nb = tmp_path / "ch.ipynb"
    data = json.loads((ROOT / "book" / "01_why_transfer.ipynb").read_text())
    data["cells"] = [c for c in data["cells"] if c.get("id") != colab_cells.NOTE_ID][:3]
    nb.write_text(json.dumps(data))
    assert colab_cells.mismatches(url, version, [nb]) == ["ch.ipynb"]
    assert colab_cells.write(url, version, [nb]) == ["ch.ipynb"]  # inserted
    assert colab_cells.mismatches(url, version, [nb]) == []
    assert len(json.loads(nb.read_text())["cells"]) == 4
    assert colab_cells.write(url, version, [nb]) == []  # idempotent
    assert colab_cells.write(url, "9.9.9", [nb]) == ["ch.ipynb"]  # rewritten, not added
    cells = json.loads(nb.read_text())["cells"]
    assert len(cells) == 4 and "`tlbook` 9.9.9" in "".join(cells[1]["source"])
    assert nbformat.validate(nbformat.read(nb, as_version=4)) is None


def test_real_student_book_offers_notebooks_without_solutions(real_builds):
    for path in (real_builds["student"] / "_sources").rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            assert "solution" not in cell.get("metadata", {}).get("tags", []), path
            assert "{solution}" not in cell.source, path


# ------------------------------------------------ a tiny book with one exercise


@pytest.fixture(scope="module")
def demo_builds(tmp_path_factory):
    src = tmp_path_factory.mktemp("demo_src")
    (src / "book").mkdir()
    shutil.copy(ROOT / "_config.yml", src / "_config.yml")
    shutil.copy(ROOT / "_config_student.yml", src / "_config_student.yml")
    shutil.copy(ROOT / "book" / "references.bib", src / "book" / "references.bib")
    shutil.copytree(ROOT / "book" / "_ext", src / "book" / "_ext",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(DEMO, src / "book" / "exercise_demo.ipynb")
    (src / "book" / "intro.md").write_text("# Demo\n\nA tiny book for the tests.\n")
    (src / "book" / "bibliography.md").write_text("# References\n\n```{bibliography}\n```\n")
    (src / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n"
        "  - caption: Demo\n    chapters:\n      - file: book/exercise_demo\n"
        "      - file: book/bibliography\n"
    )
    out = tmp_path_factory.mktemp("demo_out")
    return {
        "normal": build(src, out / "normal"),
        "student": build(src, out / "student", "_config_student.yml"),
    }


def test_normal_build_shows_the_exercise_and_its_solution_in_a_dropdown(demo_builds):
    page = (demo_builds["normal"] / "book" / "exercise_demo.html").read_text(encoding="utf-8")
    assert "A fair coin" in page
    for marker in SOLUTION_MARKERS + [KEPT_MARKER]:
        assert marker in page, marker
    assert "solution dropdown" in page


def test_student_build_shows_the_exercise_but_no_solution(demo_builds):
    html = demo_builds["student"]
    page = (html / "book" / "exercise_demo.html").read_text(encoding="utf-8")
    assert "A fair coin" in page and KEPT_MARKER in page
    everything = all_text(html)
    for marker in SOLUTION_MARKERS:
        assert marker not in everything, marker
    # The notebook offered for download is the student edition too.
    downloaded = nbformat.read(html / "_sources" / "book" / "exercise_demo.ipynb", as_version=4)
    assert KEPT_MARKER in "".join(c.source for c in downloaded.cells)
    # Its Colab button opens the student notebook (branch "student"), not the book's.
    import re

    links = re.findall(r'https://colab\.research\.google\.com/github/[^"]*', page)
    assert links and all(u.endswith("/blob/student/book/exercise_demo.ipynb") for u in links)


# ----------------------------------------------------------- student notebooks


def test_write_student_notebooks_removes_solutions_and_clears_exercises(tmp_path):
    written = write_student_notebooks(FIXTURES, tmp_path / "student")
    assert tmp_path / "student" / "exercise_demo.ipynb" in written
    for path in written:
        text = path.read_text(encoding="utf-8")
        for marker in SOLUTION_MARKERS:
            assert marker not in text
    nb = nbformat.read(tmp_path / "student" / "exercise_demo.ipynb", as_version=4)
    original = nbformat.read(DEMO, as_version=4)
    assert len(nb.cells) == len(original.cells) - 2
    assert any("### Exercise 0.1" in c.source for c in nb.cells)  # the prompt, as Markdown
    assert KEPT_MARKER in nb.cells[-1].source
    exercise = next(c for c in nb.cells if "exercise" in c.metadata.get("tags", []))
    assert exercise.outputs == [] and exercise.execution_count is None
    # Cells that are neither exercise nor solution keep their stored state.
    assert nb.cells[1].execution_count == original.cells[1].execution_count
    # The source notebook is untouched.
    assert nbformat.read(DEMO, as_version=4) == original


def test_solution_block_inside_a_larger_markdown_cell_is_cut_out():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(
            "Before.\n\n````{solution} ex-1-1\n:class: dropdown\n\n"
            "```python\nsecret = 42\n```\n\nSECRET-PROSE\n````\n\nAfter."
        ),
        nbformat.v4.new_markdown_cell(":::{solution} ex-1-2\nSECRET-TWO\n:::\n"),
    ])
    student = student_notebook(nb)
    assert len(student.cells) == 1
    assert student.cells[0].source == "Before.\n\n\nAfter."


def test_gated_solution_syntax_is_refused_with_advice():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("```{solution-start} ex-1-1\n```\ntext\n```{solution-end}\n```")
    ])
    with pytest.raises(ValueError, match="gated solutions"):
        student_notebook(nb)


def test_write_student_notebooks_refuses_to_overwrite_the_sources(tmp_path):
    with pytest.raises(ValueError, match="out_dir must differ"):
        write_student_notebooks(FIXTURES, FIXTURES)
    with pytest.raises(ValueError, match="src_dir"):
        write_student_notebooks(tmp_path / "missing", tmp_path / "out")


# ------------------------------------------------------------------ API reference


def test_api_reference_documents_every_public_module():
    """book/api.md has an automodule entry for each public module of tlbook, and no other."""
    import re

    import tlbook

    package = Path(tlbook.__file__).parent
    public = {f"tlbook.{p.stem}" for p in package.glob("*.py") if not p.stem.startswith("_")}
    public |= {f"tlbook.{p.parent.name}" for p in package.glob("*/__init__.py")
               if not p.parent.name.startswith("_")}
    documented = set(re.findall(r"^\.\. automodule:: (\S+)", (ROOT / "book" / "api.md").read_text(),
                                flags=re.MULTILINE))
    assert public - documented == set(), "add these modules to book/api.md"
    assert documented - public == set(), "book/api.md names modules that do not exist"


def test_api_reference_page_shows_the_docstrings(real_builds):
    page = (real_builds["normal"] / "book" / "api.html").read_text(encoding="utf-8")
    # A function's signature and a sentence of its docstring reach the page.
    assert 'id="tlbook.lora.add_lora"' in page
    assert "Prepare a chapter: seeds, determinism, threads, quiet logs, plots." in page
