"""Argument checks shared by the modules of :mod:`tlbook`.

Each check raises before any work is done, with a message that names the
argument, shows what was given and says what is allowed, in scikit-learn's
style: ``lr must be a positive finite number, got inf``. A wrong type raises
:class:`ArgumentTypeError`, a value of the right type outside the allowed
range raises ``ValueError``. Each check returns the value unchanged, so a
valid call behaves exactly as it did without the check.

Counts accept Python and NumPy integers but not ``True``/``False`` (``bool``
is a subclass of ``int``, and ``batch_size=True`` is a mistake, not a 1).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

__all__ = ["ArgumentTypeError", "integer", "positive_int", "non_negative_int", "optional_int",
           "real", "positive_float", "non_negative_float", "probability", "boolean",
           "one_of", "string", "non_empty", "same_length", "str_sequence", "whole_labels",
           "max_length", "device", "callable_or_none"]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type.

    A ``TypeError``, and a ``ValueError`` too: tlbook raised ``ValueError``
    for some wrong types (``batch_size=2.5``) before these checks were
    shared, and code that catches that keeps working (scikit-learn's
    ``InvalidParameterError`` is both for the same reason).
    """


def _given(value) -> str:
    """``value`` as the message shows it: its repr (cut at 60 characters)
    and, where the repr hides it, its type."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if not isinstance(value, (bool, int, float, str, type(None))):
        text += f" ({type(value).__name__})"
    return text


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _int_rule(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an int in [{minimum}, {maximum}]"
    if minimum == 1:
        return "a positive int"
    if minimum == 0:
        return "a non-negative int"
    if minimum is not None:
        return f"an int >= {minimum}"
    if maximum is not None:
        return f"an int <= {maximum}"
    return "an int"


def integer(name: str, value, minimum: int | None = None, maximum: int | None = None,
            rule: str | None = None):
    """``value`` if it is an int (Python or NumPy, not bool) in
    ``[minimum, maximum]``; ``rule`` replaces the generated description of
    what is allowed.

    Raises:
        ArgumentTypeError: not an int.
        ValueError: outside the range.
    """
    rule = rule or _int_rule(minimum, maximum)
    if not _is_int(value):
        raise ArgumentTypeError(f"{name} must be {rule}, got {_given(value)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return value


def positive_int(name: str, value, rule: str | None = None):
    """``value`` if it is an int >= 1 (see :func:`integer`)."""
    return integer(name, value, 1, rule=rule)


def non_negative_int(name: str, value, rule: str | None = None):
    """``value`` if it is an int >= 0 (see :func:`integer`)."""
    return integer(name, value, 0, rule=rule)


def optional_int(name: str, value, minimum: int | None = None, maximum: int | None = None):
    """``None``, or an int as :func:`integer` checks it."""
    if value is None:
        return None
    return integer(name, value, minimum, maximum,
                   rule="None or " + _int_rule(minimum, maximum))


def real(name: str, value, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False, rule: str | None = None):
    """``value`` if it is a finite real number (Python or NumPy, not bool)
    between ``low`` and ``high``; ``low_open``/``high_open`` leave the bound
    itself out.

    Raises:
        ArgumentTypeError: not a real number (a str such as ``"2e-5"`` too).
        ValueError: NaN, infinite, or outside the range.
    """
    if rule is None:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
        if low is None and high is None:
            rule = "a finite number"
        elif high is None:
            rule = f"a finite number {'>' if low_open else '>='} {low:g}"
        elif low is None:
            rule = f"a finite number {'<' if high_open else '<='} {high:g}"
        else:
            rule = f"a number in {lo}, {hi}"
    if not _is_real(value):
        raise ArgumentTypeError(f"{name} must be {rule}, got {_given(value)}")
    ok = math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return value


def positive_float(name: str, value, rule: str | None = None):
    """``value`` if it is a finite number > 0."""
    return real(name, value, 0, low_open=True, rule=rule or "a positive finite number")


def non_negative_float(name: str, value, rule: str | None = None):
    """``value`` if it is a finite number >= 0."""
    return real(name, value, 0, rule=rule or "a finite number >= 0")


def probability(name: str, value, include_one: bool = True, rule: str | None = None):
    """``value`` if it is a number in [0, 1] (or [0, 1) without ``include_one``)."""
    return real(name, value, 0, 1, high_open=not include_one, rule=rule)


def boolean(name: str, value):
    """``value`` if it is ``True`` or ``False`` (a NumPy bool too)."""
    if not isinstance(value, bool) and type(value).__name__ != "bool_":
        raise ArgumentTypeError(f"{name} must be True or False, got {_given(value)}")
    return value


def one_of(name: str, value, allowed: Sequence):
    """``value`` if it is one of ``allowed``."""
    try:
        ok = value in allowed
    except TypeError:  # an unhashable value looked up in a set or dict
        ok = False
    if not ok:
        shown = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {shown}; got {_given(value)}")
    return value


def string(name: str, value, allow_none: bool = False, allow_empty: bool = False):
    """``value`` if it is a str (non-empty unless ``allow_empty``), or
    ``None`` when ``allow_none``."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        rule = "a str or None" if allow_none else "a str"
        raise ArgumentTypeError(f"{name} must be {rule}, got {_given(value)}")
    if not allow_empty and not value.strip():
        raise ValueError(f"{name} must be a non-empty str, got {value!r}")
    return value


def non_empty(name: str, value, what: str = "item"):
    """``value`` if it is a sequence (not a str) with at least one element."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise ArgumentTypeError(f"{name} must be a sequence of {what}s, got {_given(value)}")
    if len(value) == 0:
        raise ValueError(f"{name} must not be empty (give at least one {what})")
    return value


def same_length(name_a: str, a, name_b: str, b) -> None:
    """``a`` and ``b`` have the same number of elements."""
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} must have the same length (one per example), "
                         f"got {len(a)} and {len(b)}")


def str_sequence(name: str, value, allow_empty: bool = True):
    """``value`` if it is a sequence of str (not a single str)."""
    if isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a sequence of str, not a single str "
                                f"(wrap it in a list: [{value!r:.40}])")
    if not hasattr(value, "__len__") or not hasattr(value, "__iter__"):
        raise ArgumentTypeError(f"{name} must be a sequence of str, got {_given(value)}")
    for x in value:
        if not isinstance(x, str):
            raise ArgumentTypeError(f"{name} must contain only str, got an element {_given(x)}")
    if not allow_empty and len(value) == 0:
        raise ValueError(f"{name} must not be empty")
    return value


def whole_labels(name: str, labels) -> None:
    """Every label is an int or a float without a fractional part: ``0.7``
    would otherwise become class 0 without a word."""
    for i, x in enumerate(labels):
        if _is_int(x) or (_is_real(x) and math.isfinite(x) and float(x).is_integer()):
            continue
        raise ArgumentTypeError(f"{name} must be int class ids (or str with label2id), got "
                                f"{_given(x)} at position {i}")


def max_length(name: str, value, model=None):
    """``value`` if it is a positive int no larger than the number of
    positions the model has (``model.config.max_position_embeddings``, 512
    for BERT), where the model says."""
    positive_int(name, value)
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if _is_int(limit) and value > limit:
        raise ValueError(f"{name} must be at most {limit}, the number of positions the model "
                         f"has (model.config.max_position_embeddings), got {value!r}")
    return value


def device(name: str, value, allow_none: bool = True):
    """``value`` if it names a device this machine has: ``"cpu"``,
    ``"cuda"``, ``"cuda:N"``, ``"mps"``, a ``torch.device``, or ``None``.

    Raises:
        ArgumentTypeError: not a str or ``torch.device``.
        ValueError: an unknown name, or a device this machine does not have.
    """
    import torch

    if value is None and allow_none:
        return None
    rule = ("None, " if allow_none else "") + "'cpu', 'cuda', 'cuda:N' or 'mps'"
    if isinstance(value, torch.device):
        kind, index = value.type, value.index
    elif isinstance(value, str):
        kind, _, number = value.partition(":")
        if kind not in ("cpu", "cuda", "mps") or (number and (kind != "cuda"
                                                             or not number.isdigit())):
            raise ValueError(f"{name} must be {rule}; got {value!r}")
        index = int(number) if number else None
    else:
        raise ArgumentTypeError(f"{name} must be {rule}; got {_given(value)}")
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name} is {value!r} but no CUDA GPU is available; use 'cpu' "
                             "or None (the best device available)")
        if index is not None and index >= count:
            raise ValueError(f"{name} is {value!r} but only {count} CUDA GPU(s) are "
                             f"available (cuda:0 to cuda:{count - 1})")
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"{name} is {value!r} but Apple's MPS backend is not available "
                             "here; use 'cpu' or None (the best device available)")
    return value


def callable_or_none(name: str, value):
    """``value`` if it is ``None`` or callable."""
    if value is not None and not callable(value):
        raise ArgumentTypeError(f"{name} must be None or a callable, got {_given(value)}")
    return value
