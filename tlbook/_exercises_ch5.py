"""Checkers of the exercises of chapter "Layer probing" (ids ``5.N``).

Imported by the chapter's set-up cell (``import tlbook._exercises_ch5``).
Expected values are computed here from the same data and code the chapter
uses (:func:`tlbook.probing.probing_split` with its defaults, control labels
of the train, dev and test words with seed 0), never pasted in.
"""

from __future__ import annotations

from typing import Any

from .exercises import close_to, register, same_as

__all__: list[str] = []

CONTROL_SEED = 0
"""The seed of the chapter's control task."""


def _split():
    from .probing import probing_split

    split = probing_split()
    return split["train"], split["test"]


@register("5.1", hint="Lower-case every word, collect the training words in a set, and "
                      "count the test words (tokens, not types) that are not in it.")
def _unseen_share(answer: Any) -> bool:
    def expected():
        train, test = _split()
        seen = {w.lower() for w in train.words}
        return sum(w.lower() not in seen for w in test.words) / len(test.words)

    return close_to(expected, tol=5e-4)(answer)


# Small inputs without ties, so any correct lookup table agrees with the reference.
_LOOKUP_INPUTS = [
    (["the", "dog", "runs", "The", "run", "run", "run"],
     ["DET", "NOUN", "VERB", "DET", "NOUN", "VERB", "VERB"],
     ["the", "Run", "cat", "dog"],
     ["DET", "VERB", "NOUN", "NOUN"]),
    (["a", "saw", "saw", "saw", "cut", "a", "a"],
     ["DET", "NOUN", "VERB", "NOUN", "VERB", "DET", "DET"],
     ["saw", "A", "cut", "cuts", "bank"],
     ["VERB", "DET", "VERB", "VERB", "DET"]),
    (["I", "can", "can", "fish", "fish", "fish"],
     ["PRON", "VERB", "VERB", "NOUN", "VERB", "NOUN"],
     ["can", "fish", "i", "CAN"],
     ["NOUN", "NOUN", "PRON", "VERB"]),
]


def _lookup_reference(train_words, y_train, test_words, y_test):
    from .probing import type_lookup_accuracy

    return type_lookup_accuracy(train_words, y_train, test_words, y_test)


@register("5.2", hint="Count the tags of each lower-cased training word; predict a test "
                      "word's most frequent tag, or the most frequent tag overall when the "
                      "word was never seen; return the share of correct predictions.")
def _lookup(answer: Any) -> bool:
    return same_as(_lookup_reference, _LOOKUP_INPUTS, tol=1e-9)(answer)


@register("5.3", hint="Apply the lookup table of exercise 5.2 to the control labels of the "
                      "training and test words (control_labels over the three splits, seed 0).")
def _lookup_control(answer: Any) -> bool:
    def expected():
        import numpy as np

        from .probing import control_labels, probing_split, type_lookup_accuracy

        split = probing_split()
        sides = [split[side] for side in ("train", "dev", "test")]
        control = control_labels([w for s in sides for w in s.words],
                                 np.concatenate([s.tags for s in sides]), seed=CONTROL_SEED)
        train, test = split["train"], split["test"]
        n = len(train.words)
        return type_lookup_accuracy(train.words, control[:n], test.words,
                                    control[n + len(split["dev"].words):])

    return close_to(expected, tol=5e-4)(answer)
