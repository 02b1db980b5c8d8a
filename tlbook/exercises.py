"""Exercises: check an answer with one call, ``check("1.2", answer)``.

Every exercise at the end of a chapter has an id ``"<chapter>.<number>"`` and,
where the answer can be checked by a program, a checker registered here. In a
notebook::

    from tlbook.exercises import check
    check("1.2", my_answer)      # prints "Exercise 1.2: correct." -> True

A wrong answer prints ``Exercise 1.2: not yet. Hint: ...`` and returns False;
an answer of the wrong type (a string where a number is wanted, say) is a wrong
answer too, with a sentence naming the type expected. Nothing here raises for a
wrong-but-reasonable answer.

Writing a checker (one section per chapter, below). A checker takes the answer
and returns True or False, or raises :class:`NotYet` / :class:`AnswerTypeError`
with a sentence for the learner. Three helpers build the common kinds:

- :func:`close_to` -- a number within an absolute tolerance;
- :func:`one_of` -- one of a set of accepted answers;
- :func:`same_as` -- a learner's function that agrees with a reference
  implementation on a few small inputs.

The checkers live in this module, not in the notebooks, so a student notebook
does not show the answers. An expected value that a chapter computes from data
is computed here too, from :mod:`tlbook.data`, never pasted in as a constant:
pass a zero-argument function as ``expected``; it runs when the learner
checks, and importing :mod:`tlbook.data` inside it keeps this module light::

    @register("1.3", hint="Count word types after lower-casing.")
    def _(answer):
        def expected():
            from tlbook import data
            return ...  # computed from data, exactly as the chapter does
        return close_to(expected, tol=0)(answer)

Each checker should be tested with the chapter's correct answer in
``tests/test_exercises.py``.
"""

from __future__ import annotations

import math
import numbers
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = [
    "AnswerTypeError",
    "NotYet",
    "check",
    "close_to",
    "known_exercises",
    "one_of",
    "progress",
    "register",
    "same_as",
    "verdict",
]

Checker = Callable[[Any], bool]

_ID_PATTERN = re.compile(r"^\d+\.\d+$")

# exercise id -> (checker, hint)
_REGISTRY: dict[str, tuple[Checker, str]] = {}


class NotYet(Exception):
    """Raised by a checker to say what is wrong with an answer (one sentence)."""


class AnswerTypeError(NotYet, TypeError):
    """Raised by a checker when the answer has the wrong type."""


def _id_key(exercise_id: str) -> tuple[int, int]:
    chapter, number = exercise_id.split(".")
    return int(chapter), int(number)


def known_exercises() -> list[str]:
    """Ids of all registered exercises, in chapter order (``["1.1", "1.2", ...]``)."""
    _load_chapter_checkers()
    return sorted(_REGISTRY, key=_id_key)


def _load_chapter_checkers(chapter: str | None = None) -> None:
    """Import ``tlbook._exercises_ch<N>`` modules so their checkers register.

    Chapters whose checks need heavy imports keep them in a module of their
    own; :func:`check` loads the module of the chapter it is asked about, and
    :func:`known_exercises` loads them all.
    """
    import importlib
    import pkgutil

    from . import __path__ as package_path

    for info in pkgutil.iter_modules(package_path):
        match = re.fullmatch(r"_exercises_ch(\d+)", info.name)
        if match and (chapter is None or match.group(1) == chapter):
            importlib.import_module(f"{__package__}.{info.name}")


def register(exercise_id: str, hint: str) -> Callable[[Checker], Checker]:
    """Register the decorated function as the checker of ``exercise_id``.

    Args:
        exercise_id: ``"<chapter>.<number>"``, e.g. ``"1.2"``.
        hint: one sentence shown with a wrong answer; it should nudge, not
            give the answer away.

    Returns:
        A decorator that registers ``checker(answer) -> bool`` and returns it
        unchanged.

    Raises:
        ValueError: if the id is malformed, the hint is empty, or another
            checker already has this id.
    """
    if not isinstance(exercise_id, str) or not _ID_PATTERN.match(exercise_id):
        raise ValueError(
            f"exercise_id must look like '<chapter>.<number>', e.g. '1.2'; got {exercise_id!r}"
        )
    if not isinstance(hint, str) or not hint.strip():
        raise ValueError(f"hint for exercise {exercise_id} must be a non-empty string")

    def decorator(checker: Checker) -> Checker:
        if not callable(checker):
            raise TypeError(f"checker for exercise {exercise_id} must be callable")
        previous = _REGISTRY.get(exercise_id)
        # Re-running the same definition (importlib.reload, a re-run cell) replaces it.
        if previous is not None and _qualified_name(previous[0]) != _qualified_name(checker):
            raise ValueError(
                f"exercise {exercise_id} already has a checker "
                f"({_qualified_name(previous[0])})"
            )
        _REGISTRY[exercise_id] = (checker, hint.strip())
        return checker

    return decorator


def _qualified_name(func: Callable) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def check(exercise_id: str, answer: Any) -> bool:
    """Check ``answer`` to exercise ``exercise_id``, print one line, return the verdict.

    Prints ``Exercise 1.2: correct.`` or ``Exercise 1.2: not yet. <why> Hint: <hint>``.
    When the check itself cannot run because a resource it reads is missing or
    damaged, it says so, with the command that repairs the data, and returns
    False without judging the answer.

    Raises:
        TypeError: if ``exercise_id`` is not a string.
        ValueError: if no exercise has this id (the message lists the ids that
            have a check), or if the exercise is open-ended and has no
            automatic check.
    """
    ok, message = verdict(exercise_id, answer)
    print(message)
    return bool(ok)


def verdict(exercise_id: str, answer: Any) -> tuple[bool | None, str]:
    """The verdict of :func:`check` without printing it: ``(ok, message)``.

    ``ok`` is True or False, or None when the check could not run because the
    data it needs is missing or damaged (the answer was not judged).
    ``message`` is the line :func:`check` prints.

    Raises:
        TypeError: if ``exercise_id`` is not a string.
        ValueError: as :func:`check`.
    """
    checker, hint = _checker_of(exercise_id)
    if answer is None or answer is Ellipsis:
        stub = "None" if answer is None else "..."
        return False, _message(exercise_id, False, f"No answer yet: the answer is still "
                               f"{stub}; replace the {stub} with your answer.", hint)
    from .resources import ResourceError

    _CURRENT.append(exercise_id)
    try:
        ok = bool(checker(answer))
        reason = ""
    except NotYet as exc:
        ok, reason = False, str(exc)
    except (TypeError, ValueError) as exc:
        ok, reason = False, f"Your answer could not be checked ({type(exc).__name__}: {exc})."
    except ResourceError as exc:
        # Not the learner's fault: the data the check needs is missing or damaged.
        return None, (f"Exercise {exercise_id}: cannot be checked, because the data the "
                      f"check needs is not usable: {exc}")
    finally:
        _CURRENT.pop()
    _LATEST[exercise_id] = ok
    return ok, _message(exercise_id, ok, reason, hint)


# exercise id -> the verdict of its latest check in this process
_LATEST: dict[str, bool] = {}


def progress(chapter: int | str) -> dict[str, str]:
    """Print and return where the exercises of ``chapter`` stand in this session.

    Reports the latest verdict of every exercise of the chapter checked so far
    in this Python process (``correct`` or ``not yet``), ``not checked yet``
    for the others, and ``open-ended`` for those without an automatic check.

    Args:
        chapter: the chapter's number, e.g. ``1`` or ``"1"``.

    Returns:
        ``{exercise id: status}`` in exercise order.

    Raises:
        ValueError: if the book has no exercises in that chapter.
    """
    from .grading import EXERCISE_INFO

    if isinstance(chapter, bool) or not isinstance(chapter, (int, str)):
        raise TypeError(f"chapter must be an int or str such as 1, got {type(chapter).__name__}")
    key = str(chapter).strip()
    ids = sorted((i for i in EXERCISE_INFO if i.split(".")[0] == key), key=_id_key)
    if not ids or key == "0":
        chapters = sorted({i.split(".")[0] for i in EXERCISE_INFO} - {"0"}, key=int)
        raise ValueError(f"chapter must be one of {', '.join(chapters)}, got {chapter!r}")
    status = {}
    for i in ids:
        if EXERCISE_INFO[i].kind == "design":
            status[i] = "open-ended"
        elif i in _LATEST:
            status[i] = "correct" if _LATEST[i] else "not yet"
        else:
            status[i] = "not checked yet"
    checked = [i for i in ids if status[i] != "open-ended"]
    right = sum(status[i] == "correct" for i in checked)
    print(f"Chapter {key}: {right} of {len(checked)} exercises with a check are correct. "
          + "; ".join(f"{i} {s}" for i, s in status.items()) + ".")
    return status


def _checker_of(exercise_id: str) -> tuple[Checker, str]:
    """The registered ``(checker, hint)`` of ``exercise_id``, or a clear error."""
    if not isinstance(exercise_id, str):
        raise TypeError(
            f"exercise_id must be a string such as '1.2', got {type(exercise_id).__name__}"
        )
    if exercise_id not in _REGISTRY and _ID_PATTERN.match(exercise_id):
        _load_chapter_checkers(exercise_id.split(".")[0])
    if exercise_id in _REGISTRY:
        return _REGISTRY[exercise_id]
    from .grading import EXERCISE_INFO

    info = EXERCISE_INFO.get(exercise_id)
    if info is not None and info.kind == "design":
        raise ValueError(
            f"exercise {exercise_id} is open-ended (design an experiment): it has no "
            "automatic check; compare your design and results with the solution in the book"
        )
    chapter_ids = [i for i in known_exercises() if not i.startswith("0.")]
    raise ValueError(f"unknown exercise id {exercise_id!r}; the exercises with a check are: "
                     f"{', '.join(chapter_ids) or 'none'}")


def _message(exercise_id: str, ok: bool, reason: str, hint: str) -> str:
    if ok:
        return f"Exercise {exercise_id}: correct."
    parts = ["not yet.", reason, f"Hint: {hint}"]
    return f"Exercise {exercise_id}: " + " ".join(p for p in parts if p)


# ---------------------------------------------------------------- helpers


def _type_name(value: Any) -> str:
    return type(value).__name__


def _as_number(answer: Any) -> float:
    """``answer`` as a float, or AnswerTypeError naming the type expected."""
    if isinstance(answer, (str, bytes, bool)):
        raise AnswerTypeError(f"Expected a number (int or float), got {_type_name(answer)} {answer!r}.")
    try:
        return float(answer)
    except (TypeError, ValueError):
        raise AnswerTypeError(
            f"Expected a number (int or float), got {_type_name(answer)}."
        ) from None


# Expected values and test inputs computed once per process: a retry, or the
# next learner's check in the same kernel, does not recompute them.
_CACHE: dict[tuple, Any] = {}
# The ids being checked (innermost last), part of the cache key.
_CURRENT: list[str] = []


def _cache_key(func: Callable) -> tuple | None:
    """A key for ``func``'s result: its code, its captured values, the profile."""
    code = getattr(func, "__code__", None)
    if code is None:
        return None
    captured = []
    for cell in func.__closure__ or ():
        try:
            value = cell.cell_contents
        except ValueError:  # a cell not filled yet
            return None
        try:
            hash(value)
            captured.append(value)
        except TypeError:  # an unhashable value counts by identity (kept alive below)
            captured.append(("object", id(value)))
    from .profiles import get_profile

    try:
        profile = get_profile().name
    except ValueError:
        profile = None
    return (tuple(_CURRENT[-1:]), code, tuple(captured), profile)


def _resolve(expected: Any) -> Any:
    """``expected()`` if it is a function (its result cached per process), else ``expected``."""
    if not callable(expected):
        return expected
    key = _cache_key(expected)
    if key is None:
        return expected()
    if key not in _CACHE:
        # The function is kept with its value, so an id in the key is never reused.
        _CACHE[key] = (expected(), expected)
    return _CACHE[key][0]


def close_to(expected: float | Callable[[], float], tol: float = 1e-6) -> Checker:
    """A checker accepting a number within ``tol`` of ``expected`` (absolute).

    ``expected`` may be a zero-argument function; it is called at check time,
    so a value computed from data costs nothing until a learner checks.
    """
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")

    def checker(answer: Any) -> bool:
        value = _as_number(answer)
        target = float(_resolve(expected))
        return math.isfinite(value) and abs(value - target) <= tol

    return checker


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def one_of(accepted: Iterable[Any] | Callable[[], Iterable[Any]],
           answer_type: type | None = None) -> Checker:
    """A checker accepting any answer in ``accepted``.

    Strings compare ignoring case and surrounding/repeated whitespace.
    ``answer_type`` (e.g. ``str``), when given, is checked before ``accepted``
    is computed, so an answer of the wrong type is told so at once even when
    the accepted answers take a while to compute.
    """
    if answer_type is not None and not isinstance(answer_type, type):
        raise TypeError(f"answer_type must be a type such as str, got {answer_type!r}")

    def checker(answer: Any) -> bool:
        if answer_type is str and not isinstance(answer, str):
            raise AnswerTypeError(f"Expected a string, got {_type_name(answer)}.")
        if answer_type not in (None, str) and not isinstance(answer, answer_type):
            raise AnswerTypeError(f"Expected {answer_type.__name__}, got {_type_name(answer)}.")
        options = list(_resolve(accepted))
        if options and all(isinstance(o, str) for o in options):
            if not isinstance(answer, str):
                raise AnswerTypeError(f"Expected a string, got {_type_name(answer)}.")
            return _normalise(answer) in {_normalise(o) for o in options}
        return answer in options

    return checker


def _to_array(value: Any):
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float)


def _agrees(got: Any, want: Any, tol: float) -> str:
    """Empty string if ``got`` matches ``want``; otherwise why not."""
    import numpy as np

    if isinstance(want, numbers.Real) and not isinstance(want, (bool, np.bool_)):
        value = _as_number(got)
        return "" if math.isfinite(value) and abs(value - want) <= tol else f"returned {got!r}"
    if isinstance(want, (np.ndarray, list, tuple)) or hasattr(want, "detach"):
        want_arr = _to_array(want)
        try:
            got_arr = _to_array(got)
        except (TypeError, ValueError):
            return f"returned a {_type_name(got)}, expected an array of shape {want_arr.shape}"
        if got_arr.shape != want_arr.shape:
            return f"returned shape {got_arr.shape}, expected shape {want_arr.shape}"
        if np.allclose(got_arr, want_arr, rtol=0.0, atol=tol):
            return ""
        return f"returned {np.array2string(got_arr, precision=4, threshold=8)}"
    return "" if got == want else f"returned {got!r}"


def same_as(
    reference: Callable[..., Any],
    inputs: Sequence[Any] | Callable[[], Sequence[Any]],
    tol: float = 1e-6,
) -> Checker:
    """A checker accepting a function that agrees with ``reference`` on ``inputs``.

    Each element of ``inputs`` is one argument (wrap several in a tuple and
    they are passed as ``f(*args)``). Numbers agree within ``tol``; arrays,
    lists and tensors element-wise within ``tol`` and with the same shape;
    anything else by ``==``. The reference's outputs are never printed.
    ``reference`` itself, or a function that only calls it, is not accepted
    as an answer: the exercise is to write it.
    """

    def checker(answer: Any) -> bool:
        import copy

        import numpy as np

        if not callable(answer):
            raise AnswerTypeError(f"Expected a function, got {_type_name(answer)}.")
        if _uses_reference(answer, reference):
            name = f"{getattr(reference, '__module__', '')}.{getattr(reference, '__name__', '')}"
            raise NotYet(f"That function is (or calls) the package's own {name.strip('.')}; "
                         "the exercise is to write it yourself.")
        for arg in _resolve(inputs):
            args = arg if isinstance(arg, tuple) else (arg,)
            shown = ", ".join(_short(a) for a in args)
            # Fresh copies: a function that changes its inputs in place must not
            # change the reference's inputs, or the cached ones.
            want = reference(*copy.deepcopy(args))
            try:
                # Overflow warnings from a naive attempt would bury the verdict.
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    got = answer(*copy.deepcopy(args))
            except Exception as exc:  # the learner's code: report, never a traceback
                raise NotYet(f"On input {shown} your function raised {type(exc).__name__}: {exc}.") from None
            if got is None and want is not None:
                raise NotYet(f"On input {shown} your function returned None: does it end "
                             "with a return statement (is its body still `...`)?")
            problem = _agrees(got, want, tol)
            if problem:
                raise NotYet(f"On input {shown} your function {problem}.")
        return True

    return checker


def _uses_reference(answer: Callable, reference: Callable) -> bool:
    """True if ``answer`` is ``reference`` or a function of the learner's that calls it."""
    import functools
    import inspect

    target = inspect.unwrap(reference)
    func = answer.func if isinstance(answer, functools.partial) else answer
    func = inspect.unwrap(func)
    if func is target or func is reference:
        return True
    if str(getattr(func, "__module__", "")).startswith("tlbook"):
        return False  # the package's own wrappers (a checker adapting the answer)
    code = getattr(func, "__code__", None)
    scope = getattr(func, "__globals__", {})
    if code is None:
        return False
    names, stack = set(), [code]
    while stack:  # the function's own code and that of functions nested in it
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if inspect.iscode(k))
    values = [scope.get(name) for name in names]
    for cell in getattr(func, "__closure__", None) or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:
            pass
    return any(v is target or v is reference for v in values)


def _short(value: Any) -> str:
    text = repr(value.tolist()) if hasattr(value, "tolist") else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------- chapter 0: demo and test exercises
# Used by the test suite and the docs of this module; not part of a chapter.


@register("0.1", hint="A fair coin has two equally likely sides.")
def _fair_coin(answer: Any) -> bool:
    return close_to(0.5, tol=0.01)(answer)


@register("0.2", hint="Think of 'the bank of a river' and 'to bank on someone'.")
def _bank_pos(answer: Any) -> bool:
    return one_of({"NOUN", "VERB"})(answer)


def _softmax_reference(x):
    import numpy as np

    x = np.asarray(x, dtype=float)
    z = np.exp(x - x.max())
    return z / z.sum()


@register("0.3", hint="Subtract the largest score before exponentiating.")
def _softmax(answer: Any) -> bool:
    import numpy as np

    inputs = [np.array([0.0, 0.0]), np.array([1.0, 2.0, 3.0]), np.array([1000.0, 1000.0])]
    return same_as(_softmax_reference, inputs, tol=1e-6)(answer)


# ------------------------------------------------------------------ chapter 1
# Chapter "Why transfer learning". Expected values are computed here, from the
# same data and code the chapter uses.


def _sentiment_splits():
    from .data import load_movie_sentiment
    from .profiles import get_profile

    ds = load_movie_sentiment()
    pool = get_profile().sizes["pool_size"]
    train = ds["train"] if pool is None else ds["train"].select(range(pool))
    return train, ds["test"]


@register("1.1", hint="Find the most frequent label in the training pool, then the share "
                      "of test sentences that carry it.")
def _majority_baseline(answer: Any) -> bool:
    def expected():
        import numpy as np

        train, test = _sentiment_splits()
        majority = np.bincount(train["label"]).argmax()
        return float(np.mean(np.asarray(test["label"]) == majority))

    return close_to(expected, tol=5e-4)(answer)


def _mean_pool_inputs():
    import torch

    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 4, 5, generator=g)
    return [(hidden, torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])),
            (hidden[:1], torch.ones(1, 4, dtype=torch.long))]


@register("1.2", hint="Multiply by the mask (unsqueezed to (batch, seq_len, 1)) before "
                      "summing, and divide by the number of real tokens, not seq_len.")
def _mean_pool(answer: Any) -> bool:
    from .embeddings import mean_pool

    return same_as(mean_pool, _mean_pool_inputs, tol=1e-5)(answer)


@register("1.3", hint="Use balanced_subsample(train labels, 64, seed=0), mean-pooled MiniLM "
                      "vectors, cosine similarity, and the label of the single nearest "
                      "training sentence.")
def _nearest_neighbour(answer: Any) -> bool:
    def expected():
        import numpy as np

        from .embeddings import sentence_embeddings
        from .models import load_encoder
        from .sample_efficiency import balanced_subsample

        train, test = _sentiment_splits()
        y = np.asarray(train["label"])
        idx = balanced_subsample(y, 64, seed=0)
        model, tok = load_encoder()
        a = sentence_embeddings(model, tok, [train["text"][i] for i in idx], normalize=True)
        b = sentence_embeddings(model, tok, test["text"], normalize=True)
        pred = y[idx][np.argmax(b @ a.T, axis=1)]
        return float(np.mean(pred == np.asarray(test["label"])))

    return close_to(expected, tol=2e-3)(answer)


# ------------------------------------------------------------------ chapter 4
# Chapter "Fine-tuning a pretrained encoder".


@register("4.1", hint="A linear layer from hidden_size inputs to 3 outputs: weights plus "
                      "one bias per output.")
def _head_size(answer: Any) -> bool:
    def expected():
        from .models import load_encoder

        model, _ = load_encoder(num_labels=3)
        return sum(p.numel() for p in model.classifier.parameters())

    return close_to(expected, tol=0)(answer)


@register("4.2", hint="Count the depth of the embeddings below the top layer: one step "
                      "below the bottom transformer layer.")
def _embedding_rate(answer: Any) -> bool:
    def expected():
        from .finetune import parameter_groups
        from .models import load_encoder

        model, _ = load_encoder(num_labels=2)
        groups = parameter_groups(model, lr=1e-4, weight_decay=0.01, layer_lr_decay=0.8)
        return min(g["lr"] for g in groups)

    return close_to(expected, tol=1e-9)(answer)


def _schedule_reference(step, warmup, total):
    import torch
    from transformers import get_linear_schedule_with_warmup

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    return get_linear_schedule_with_warmup(opt, warmup, total).lr_lambdas[0](step)


@register("4.3", hint="Two straight lines: step / warmup before the warm-up ends, then "
                      "(total - step) / (total - warmup), never below 0.")
def _schedule(answer: Any) -> bool:
    cases = [(0, 10, 100), (5, 10, 100), (10, 10, 100), (55, 10, 100), (100, 10, 100),
             (0, 0, 50), (25, 0, 50)]
    return same_as(_schedule_reference, cases, tol=1e-9)(answer)


# Section "Fine-tuning in practice" (exercises 4.5 to 4.7).


@register("4.5", hint="A rarer class gets a larger weight: count the examples, the classes "
                      "and the spam examples, and put them into the formula of the chapter.")
def _spam_weight(answer: Any) -> bool:
    def expected():
        from .finetune import class_weights_for

        return class_weights_for([0] * 900 + [1] * 100)[1]

    return close_to(expected, tol=1e-6)(answer)


def _precision_recall_reference(gold, pred, positive=1):
    from sklearn.metrics import precision_score, recall_score

    return (precision_score(gold, pred, pos_label=positive, zero_division=0),
            recall_score(gold, pred, pos_label=positive, zero_division=0))


@register("4.6", hint="precision = true positives / predicted positives, recall = true "
                      "positives / actual positives; return 0.0 for 0/0.")
def _precision_recall(answer: Any) -> bool:
    cases = [([1, 0, 1, 1], [1, 1, 0, 1]), ([0, 0, 1], [0, 0, 0]), ([1, 1, 0], [1, 1, 0]),
             (["spam", "ham", "spam"], ["spam", "spam", "ham"], "spam")]
    return same_as(_precision_recall_reference, cases, tol=1e-9)(answer)


@register("4.7", hint="Sort the spam messages' p(spam) from high to low: keeping a share r of "
                      "m spam messages needs the ceil(r * m) highest of them.")
def _threshold_for_recall(answer: Any) -> bool:
    from .evaluation import threshold_for_recall

    gold, probs = [1, 1, 1, 1, 0, 0, 0, 0], [0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1]
    cases = [(gold, probs, 0.75), (gold, probs, 0.95), (gold, probs, 0.25),
             ([0, 1, 1, 0, 1], [0.5, 0.2, 0.9, 0.95, 0.4], 0.6),
             ([1] * 20, [round(0.05 * i, 2) for i in range(1, 21)], 0.95)]
    return same_as(threshold_for_recall, cases, tol=1e-9)(answer)
