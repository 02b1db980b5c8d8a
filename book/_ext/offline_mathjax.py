"""Typeset the book's mathematics with a copy of MathJax inside the build.

Sphinx loads MathJax 3 from a CDN by default, so a page opened without a
network (a laptop on a train, a classroom behind a firewall, a CI browser)
shows raw TeX such as ``\\(\\ell\\)``. This extension copies MathJax 3 from the
``django-static-mathjax`` wheel (in the ``book`` extra; it is plain static
files and needs no Django) into ``_static/mathjax/`` of every HTML build and
points ``mathjax_path`` at that copy.

Without the wheel the build warns, naming the fix, and keeps the CDN (``-W``
turns the warning into an error, as in the test suite).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

ENTRY = "tex-mml-chtml.js"  # the component Sphinx's default URL names
# What the entry component loads on demand: TeX extensions (autoload), the
# CHTML fonts, the context menu and the accessibility tools with their speech
# rules. The other combined components of the wheel are not needed.
PARTS = ("input", "output", "ui", "a11y", "sre", "adaptors")


def mathjax_source() -> Path | None:
    """The wheel's ``es5`` folder, or ``None`` when the wheel is not installed."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"
    return root / "es5" if (root / "es5" / ENTRY).is_file() else None


def _use_local_copy(app, config) -> None:
    if mathjax_source() is None:
        logger.warning("offline MathJax not found, so pages load it from a CDN and show raw TeX "
                       "offline; install it with: pip install 'django-static-mathjax>=3.2,<4' "
                       "(part of the book extra: pip install -e '.[book]')")
        return
    config.mathjax_path = f"mathjax/{ENTRY}"  # relative: Sphinx prefixes _static/


def _copy(app, exception) -> None:
    source = mathjax_source()
    if exception is not None or source is None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / ENTRY, target / ENTRY)
    shutil.copy2(source.parent / "LICENSE", target / "LICENSE")  # Apache-2.0 asks for it
    for part in PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)


def setup(app):
    app.connect("config-inited", _use_local_copy)
    app.connect("build-finished", _copy)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
