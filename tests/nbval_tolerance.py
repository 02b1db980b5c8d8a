"""Numerically tolerant comparison of stored notebook outputs: a pytest plugin for nbval.

Loaded with ``-p tests.nbval_tolerance`` next to ``--nbval``. Strict nbval
compares every output character by character, so a probe accuracy printed as
0.947 on one machine and 0.948 on another (a different CPU picks different
floating-point kernels) fails the run although the chapter says the same thing.

With this plugin a cell's output still has to match its stored version exactly,
except that a *decimal number* (one with digits after a point, optionally with
an exponent: ``0.947``, ``-1.5``, ``3.2e-05``) may differ from the stored one by
at most ``--nbval-tolerance-units`` units (default 2) in its last printed digit,
printed with the same number of decimals. Everything else stays exact:

- text and punctuation (only the width of a run of spaces may change, as a
  table re-aligns its columns around a number printed one digit shorter);
- integers (counts, sizes, indices, chosen layers): ``1,011`` or ``7`` never move;
- the notation (``1.0e-05`` against ``0.00001`` is a change); a number printed
  with fewer decimals is read at the other's precision, because pandas trims
  trailing zeros (``0.460`` shows as ``0.46`` in a one-value column), so
  ``0.46`` against ``0.461`` is one unit and ``0.46`` against ``0.47`` ten;
- the number and kind of outputs.

A cell tagged ``nbval-exact`` is compared with no tolerance at all.

The comparison runs after nbval's own sanitising (``--nbval-sanitize-with``), so
both rules combine.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal

import pytest

DEFAULT_UNITS = 2
EXACT_TAG = "nbval-exact"

# A decimal number that stands on its own: not a piece of a version string
# ("2.15.0"), an identifier ("layer0.5x") or a longer number.
SPACES = re.compile(r"[ \t]+")
NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+(?:[eE][+-]?\d+)?(?![\w.]|\.\d)")


def _last_digit_unit(text: str) -> Decimal:
    """Value of one unit in the last printed digit of ``text`` (a NUMBER match)."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.split(".")[1])
    return Decimal(1).scaleb(-decimals + (int(exponent) if exponent else 0))


def _same_notation(a: str, b: str) -> bool:
    return ("e" in a.lower()) == ("e" in b.lower())


def numbers_agree(reference: str, got: str, units: int = DEFAULT_UNITS) -> bool:
    """True if ``got`` reads as ``reference`` within ``units`` of each number's last digit.

    The text between the decimal numbers must be identical, and so must the
    count of numbers and their notation (plain or with an exponent).
    """
    if units < 0:
        raise ValueError(f"units must be >= 0, got {units}")
    if reference == got:
        return True
    ref_parts, got_parts = NUMBER.split(reference), NUMBER.split(got)
    # The text around the numbers must not change, nor their count; runs of
    # spaces may, because a table re-aligns its columns when a number's width
    # changes (pandas prints 0.460 as 0.46 in a one-value column).
    if [SPACES.sub(" ", p) for p in ref_parts] != [SPACES.sub(" ", p) for p in got_parts]:
        return False
    for ref_num, got_num in zip(NUMBER.findall(reference), NUMBER.findall(got)):
        if not _same_notation(ref_num, got_num):
            return False
        # pandas trims trailing zeros (0.460 prints as 0.46 in a one-value column):
        # a shorter number is read at the longer one's precision.
        allowed = units * min(_last_digit_unit(ref_num), _last_digit_unit(got_num))
        if abs(Decimal(ref_num) - Decimal(got_num)) > allowed:
            return False
    return True


def _align(test_outputs: list, ref_outputs: list, units: int) -> list:
    """A copy of ``test_outputs`` whose text equals the stored text wherever it agrees
    within the tolerance, so nbval's exact comparison then passes there and reports
    any real difference as usual."""
    aligned = copy.deepcopy(test_outputs)
    if len(aligned) != len(ref_outputs):
        return aligned
    for test, ref in zip(aligned, ref_outputs):
        if test.get("output_type") != ref.get("output_type"):
            continue
        if "text" in test and "text" in ref:
            if _agree(ref["text"], test["text"], units):
                test["text"] = ref["text"]
        for mime, value in test.get("data", {}).items():
            stored = ref.get("data", {}).get(mime)
            if _agree(stored, value, units):
                test["data"][mime] = stored
    return aligned


def _agree(want, got, units: int) -> bool:
    return isinstance(want, str) and isinstance(got, str) and numbers_agree(want, got, units)


def _sanitized(cell, outputs: list) -> list:
    result = copy.deepcopy(outputs)
    for out in result:
        if "text" in out:
            out["text"] = cell.sanitize(out["text"])
        for mime, value in out.get("data", {}).items():
            out["data"][mime] = cell.sanitize(value)
    return result


def pytest_addoption(parser):
    group = parser.getgroup("nbval")
    group.addoption(
        "--nbval-tolerance-units", type=int, default=DEFAULT_UNITS, metavar="N",
        help="decimal numbers in stored outputs may differ by up to N units in their "
             f"last printed digit (default {DEFAULT_UNITS}; 0 compares exactly)",
    )


def pytest_configure(config):
    if config.getoption("nbval_tolerance_units") < 0:
        raise pytest.UsageError("--nbval-tolerance-units must be >= 0, got "
                                f"{config.getoption('nbval_tolerance_units')}")
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: nothing to patch
        return
    if getattr(IPyNbCell.compare_outputs, "_tolerant", False):
        return
    exact = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        if exact(self, test, ref, skip_compare):
            return True
        units = self.config.getoption("nbval_tolerance_units", 0)
        if units == 0 or EXACT_TAG in self.cell.get("metadata", {}).get("tags", []):
            return False
        test, ref = _sanitized(self, test), _sanitized(self, ref)
        return exact(self, _align(test, ref, units), ref, skip_compare)

    compare_outputs._tolerant = True
    IPyNbCell.compare_outputs = compare_outputs
