"""The tolerant output comparison of the nbval run (tests/nbval_tolerance.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from nbval_tolerance import numbers_agree

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("stored, got", [
    ("accuracy 0.947", "accuracy 0.948"),          # one unit in the last digit
    ("0.899 / 0.947 / 0.621 / 0.330", "0.898 / 0.948 / 0.622 / 0.329"),  # the cross-CPU case
    ("loss 1.25e-05", "loss 1.27e-05"),            # two units of the mantissa
    ("delta -0.001", "delta 0.001"),               # a sign flip of a value within noise
    ("<td>0.81</td><td>12</td>", "<td>0.82</td><td>12</td>"),  # an HTML table cell
    ("same text", "same text"),
    ("GloVe  0.46", "GloVe  0.461"),               # pandas trimmed a trailing zero
    ("GloVe  0.762    0.461\n", "GloVe  0.762     0.46\n"),  # ... and re-aligned the columns
])
def test_accepts_numbers_within_two_units(stored, got):
    assert numbers_agree(stored, got)


@pytest.mark.parametrize("stored, got, why", [
    ("accuracy 0.947", "accuracy 0.960", "13 units apart"),
    ("accuracy 0.947", "accuracy 0.950", "3 units apart"),
    ("accuracy 0.947", "precision 0.947", "a changed word"),
    ("a 0.1\nb 0.2\n", "a 0.1\n", "a missing line"),
    ("a 0.1\nb 0.2\n", "a 0.1 b 0.2\n", "two lines joined"),
    ("1,011 tokens", "1,012 tokens", "an integer count"),
    ("best layer 3", "best layer 4", "an integer choice"),
    ("GloVe  0.46", "GloVe  0.465", "five units at the finer precision"),
    ("1.0e-05", "0.00001", "a changed notation"),
    ("torch 2.15.0", "torch 2.15.1", "a version string is not a number"),
])
def test_rejects_real_changes(stored, got, why):
    assert not numbers_agree(stored, got), why


def test_units_set_the_width_of_the_tolerance():
    assert not numbers_agree("0.947", "0.948", units=0)
    assert numbers_agree("0.947", "0.952", units=5)
    with pytest.raises(ValueError, match="units"):
        numbers_agree("0.1", "0.1", units=-1)


def _notebook(path: Path, cells: list[tuple[str, str, list[str]]]) -> None:
    """A notebook whose code cells print ``printed`` but store ``stored`` as their output."""
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": []}
    for i, (printed, stored, tags) in enumerate(cells, start=1):
        nb["cells"].append({
            "cell_type": "code", "execution_count": i, "id": f"c{i}",
            "metadata": {"tags": tags}, "source": f"print({printed!r}, end='')",
            "outputs": [{"output_type": "stream", "name": "stdout", "text": stored}],
        })
    path.write_text(json.dumps(nb))


def _nbval(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.nbval_tolerance", "--nbval", "-q",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), *extra, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )


def test_nbval_run_passes_noise_and_fails_real_changes(tmp_path):
    _notebook(tmp_path / "a.ipynb", [
        ("probe 0.948 on 1,011 tokens", "probe 0.947 on 1,011 tokens", []),  # noise: pass
        ("probe 0.960", "probe 0.947", []),                                    # real: fail
        ("precision 0.947", "recall 0.947", []),                               # word: fail
        ("probe 0.948", "probe 0.947", ["nbval-exact"]),                       # exact: fail
    ])
    run = _nbval(tmp_path)
    assert "1 passed" in run.stdout and "3 failed" in run.stdout, run.stdout[-3000:]


def test_tolerance_zero_is_strict_nbval(tmp_path):
    _notebook(tmp_path / "a.ipynb", [("probe 0.948", "probe 0.947", [])])
    assert _nbval(tmp_path).returncode == 0
    assert _nbval(tmp_path, "--nbval-tolerance-units", "0").returncode == 1
