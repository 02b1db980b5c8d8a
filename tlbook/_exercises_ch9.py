"""Checkers of the exercises of chapter "Token classification" (ids ``9.N``).

Loaded by :func:`tlbook.exercises.check` when a ``9.N`` id is checked.
Expected values are computed here with :mod:`tlbook.token_classification`
and the real Brown data, never pasted in.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from .exercises import AnswerTypeError, NotYet, close_to, register

__all__: list[str] = []

BASELINE_TEST_SENTENCES = 1000
"""Test sentences exercise 9.3 scores under the ``lite`` profile (the chapter's
test split, :func:`tlbook.token_classification.task_sizes`); ``full`` scores
them all."""


def _agrees_on(answer: Any, reference: Callable, inputs: Sequence[tuple]) -> bool:
    """The learner's function returns exactly what ``reference`` returns
    (lists compared element by element, tuples and lists alike)."""
    if not callable(answer):
        raise AnswerTypeError(f"Expected a function, got {type(answer).__name__}.")
    for args in inputs:
        shown = ", ".join(repr(a) for a in args)
        try:
            got = answer(*copy.deepcopy(args))  # a learner may edit inputs in place
        except Exception as exc:  # the learner's code: report, never a traceback
            raise NotYet(f"On input {shown} your function raised "
                         f"{type(exc).__name__}: {exc}.") from None
        want = reference(*copy.deepcopy(args))
        try:
            same = [tuple(x) if isinstance(x, (list, tuple)) else x for x in got] == \
                [tuple(x) if isinstance(x, (list, tuple)) else x for x in want]
        except TypeError:
            same = False
        if not same:
            raise NotYet(f"On input {shown} your function returned {got!r}.")
    return True


# ---------------------------------------------------------------- 9.1

_SPAN_INPUTS = [
    (["O", "B-NAME", "I-NAME", "O"],),
    (["B-NAME", "B-NAME", "I-NAME"],),
    (["I-NAME", "I-NAME", "O", "B-NAME"],),
    (["B-PER", "I-PER", "I-ORG", "O", "B-LOC"],),
    (["O", "O"],),
    ([],),
    (["B-NAME"],),
]


@register("9.1", hint="Close the open span whenever the label is O, a B-, or an I- of "
                      "another type; an I- that follows O opens a new span, as in seqeval.")
def _spans(answer: Any) -> bool:
    from .token_classification import spans

    return _agrees_on(answer, spans, _SPAN_INPUTS)


# ---------------------------------------------------------------- 9.2

def every_subword_reference(word_labels: Sequence[str],
                            word_ids: Sequence[int | None]) -> list[str | None]:
    """Reference of exercise 9.2: every subword carries a label; the pieces
    after the first of a ``B-X`` or ``I-X`` word get ``I-X``; special tokens
    get ``None``."""
    out, previous = [], None
    for word in word_ids:
        if word is None:
            out.append(None)
        elif word != previous:
            out.append(word_labels[word])
        else:
            label = word_labels[word]
            out.append("O" if label == "O" else "I-" + label[2:])
        previous = word
    return out


_SUBWORD_INPUTS = [
    (["B-NAME", "I-NAME", "O"], [None, 0, 0, 1, 1, 1, 2, None]),
    (["O", "B-PER", "O", "B-LOC"], [None, 0, 1, 1, 2, 3, 3, 3, None]),
    (["B-NAME"], [None, 0, None]),
    (["O", "B-ORG"], [None, 0, 0, 1, None, None]),  # with padding
]


@register("9.2", hint="Walk through word_ids; a position whose word equals the previous "
                      "position's word is a continuation piece, and a B-X word's later pieces "
                      "become I-X.")
def _every_subword(answer: Any) -> bool:
    return _agrees_on(answer, every_subword_reference, _SUBWORD_INPUTS)


# ---------------------------------------------------------------- 9.3

def baseline_without_i_f1(n: int | None = None) -> float:
    """Span F1 (span types ignored, as in the chapter) of the capitalisation rule
    on the first ``n`` test sentences of the current profile when the pronoun
    "I" does not count as capitalised.

    Args:
        n: test sentences to score; ``None`` takes the chapter's test split of
            the current profile (:func:`tlbook.token_classification.task_sizes`,
            whose ``None`` means every sentence).
    """
    from .data import first_rows
    from .token_classification import (bio_labels, label_names, load_names, span_scores,
                                       task_sizes, untyped)

    test = first_rows(load_names()["test"], task_sizes()["test"] if n is None else n)
    names = label_names(test)
    gold = untyped([[names[i] for i in row] for row in test["ner_tags"]])
    pred = []
    for words in test["tokens"]:
        first = next((i for i, w in enumerate(words) if w[:1].isalpha()), None)
        pred.append(bio_labels([i != first and w != "I" and w[:1].isupper()
                                for i, w in enumerate(words)]))
    return float(span_scores(gold, pred)["f1"])


@register("9.3", hint="Give the rule one more condition, w != 'I', before merging "
                      "consecutive capitalised words into spans, and score the chapter's "
                      "test sentences with span_scores.")
def _baseline_without_i(answer: Any) -> bool:
    return close_to(baseline_without_i_f1, tol=0.002)(answer)


# ---------------------------------------------------------------- 9.4

def keep_capitalised_reference(words: Sequence[str], labels: Sequence[str]) -> list[str]:
    """Reference of exercise 9.4: predicted spans none of whose words starts
    with a capital letter are dropped (set to ``O``); other spans stay."""
    from .token_classification import spans

    out = list(labels)
    for _, start, end in spans(labels):
        if not any(w[:1].isupper() for w in words[start:end]):
            out[start:end] = ["O"] * (end - start)
    return out


_KEEP_INPUTS = [
    (["the", "brown", "dog", "met", "Brown"], ["O", "B-NAME", "O", "O", "B-NAME"]),
    (["New", "york", "city"], ["B-NAME", "I-NAME", "O"]),
    (["a", "will", "of", "iron"], ["O", "B-NAME", "O", "O"]),
    (["He", "said", "so"], ["O", "O", "O"]),
    (["mr.", "Smith", "left"], ["B-NAME", "I-NAME", "O"]),
    (["x", "y"], ["I-NAME", "I-NAME"]),
]


@register("9.4", hint="Use spans(labels) to find each predicted span and look at the first "
                      "character of every word inside it; copy the labels, do not edit them "
                      "in place.")
def _keep_capitalised(answer: Any) -> bool:
    return _agrees_on(answer, keep_capitalised_reference, _KEEP_INPUTS)
