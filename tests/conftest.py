"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest
from bookbuild import ROOT, build


@pytest.fixture(scope="session")
def real_builds(tmp_path_factory):
    """The real book built once per test run, normal and student edition (HTML folders)."""
    out = tmp_path_factory.mktemp("book")
    return {
        "normal": build(ROOT, out / "normal"),
        "student": build(ROOT, out / "student", "_config_student.yml"),
    }
