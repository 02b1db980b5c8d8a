"""The Colab install cell of every chapter, derived from ``_config.yml``.

The first cell of each chapter installs ``tlbook`` when the notebook runs in
Colab, from the repository named once, in ``_config.yml`` (``repository.url``,
the same URL the HTML's Colab and repository buttons use). When the book is
published elsewhere, change that URL (and its copy in ``_config_student.yml``)
and run ``make colab-cells``, which rewrites the cells;
``tests/test_book.py`` fails while any cell disagrees.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MARKER = 'if "google.colab" in sys.modules:'


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    return yaml.safe_load(config.read_text())["repository"]["url"].rstrip("/")


def install_source(url: str) -> list[str]:
    """The source lines of the install cell for the repository at ``url``."""
    return [
        "import sys\n",
        f"{MARKER}  # Colab: install the book's package first\n",
        f'    %pip install -q "tlbook @ git+{url}"',
    ]


def install_cell(notebook: Path) -> dict | None:
    """The notebook's Colab install cell (the first code cell that tests for Colab)."""
    cells = json.loads(notebook.read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] == "code" and MARKER in "".join(cell["source"]):
            return cell
    return None


def mismatches(url: str | None = None) -> list[str]:
    """Chapters whose install cell is missing or installs from another URL."""
    url = url or repository_url()
    wrong = []
    for nb in sorted((ROOT / "book").glob("*.ipynb")):
        cell = install_cell(nb)
        if cell is None or cell["source"] != install_source(url):
            wrong.append(nb.name)
    return wrong


def write(url: str | None = None) -> list[str]:
    """Rewrite every chapter's install cell for ``url``; returns the chapters changed."""
    url = url or repository_url()
    changed = []
    for nb in sorted((ROOT / "book").glob("*.ipynb")):
        data = json.loads(nb.read_text())
        for cell in data["cells"]:
            if cell["cell_type"] == "code" and MARKER in "".join(cell["source"]):
                if cell["source"] != install_source(url):
                    cell["source"] = install_source(url)
                    nb.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
                    changed.append(nb.name)
                break
    return changed


if __name__ == "__main__":
    done = write()
    print(f"install cells rewritten for {repository_url()}: {', '.join(done) or 'none needed'}")
    sys.exit(0)
