"""Checkers of the exercises of chapter 2, "word2vec" (ids ``"2.1"`` ... ``"2.4"``).

Imported by :mod:`tlbook.exercises`, so ``check("2.1", answer)`` works after
``from tlbook.exercises import check``. Every expected value is computed here
from the data and from :mod:`tlbook.word2vec`, exactly as the chapter does,
when a learner checks.
"""

from __future__ import annotations

from typing import Any

from .exercises import AnswerTypeError, close_to, register, same_as


def _brown_lower() -> list[list[str]]:
    from . import data

    return [[w.lower() for w in s.words] for s in data.brown_sentences()]


@register("2.1", hint="With rng=None every center uses its full window; a center near "
                      "either end of the sentence has fewer neighbours on that side.")
def _pairs_with_window_3(answer: Any) -> bool:
    def expected() -> int:
        import numpy as np

        from . import data
        from .word2vec import skipgram_pairs

        n = len(data.brown_sentences()[0].words)
        centers, _ = skipgram_pairs(np.arange(n), np.zeros(n, dtype=np.int64), window=3)
        return len(centers)

    if isinstance(answer, float) and not answer.is_integer():
        raise AnswerTypeError(f"Expected a whole number of pairs, got {answer!r}.")
    return close_to(expected, tol=0)(answer)


@register("2.2", hint="keep_probabilities(counts, subsample=1e-4), at the index of 'the' "
                      "in the vocabulary of lower-cased Brown with min_count=5.")
def _keep_the(answer: Any) -> bool:
    def expected() -> float:
        from .word2vec import build_vocabulary, keep_probabilities

        words, counts = build_vocabulary(_brown_lower(), min_count=5)
        return float(keep_probabilities(counts, subsample=1e-4)[words.index("the")])

    # Counting the share of "the" over all tokens (rare words included)
    # instead of the vocabulary changes it by about 0.001.
    return close_to(expected, tol=0.002)(answer)


def _sgns_loss_reference(v_c, u_o, u_neg) -> float:
    import numpy as np

    v_c, u_o, u_neg = (np.asarray(x, dtype=float) for x in (v_c, u_o, u_neg))
    return float(np.logaddexp(0, -(u_o @ v_c)) + np.logaddexp(0, u_neg @ v_c).sum())


def _sgns_loss_inputs() -> list[tuple]:
    import numpy as np

    rng = np.random.default_rng(0)
    inputs = []
    for d, k, scale in [(3, 1, 1.0), (5, 5, 0.5), (50, 5, 0.3), (4, 2, 2.0)]:
        inputs.append((rng.normal(0, scale, d), rng.normal(0, scale, d),
                       rng.normal(0, scale, (k, d))))
    return inputs


@register("2.3", hint="-log sigmoid(x) = log(1 + exp(-x)); the positive pair uses +u_o.v_c, "
                      "each noise word -u_k.v_c.")
def _sgns_loss(answer: Any) -> bool:
    return same_as(_sgns_loss_reference, _sgns_loss_inputs, tol=1e-6)(answer)


@register("2.4", hint="The loaded GloVe vectors have a method that returns the cosine of two "
                      "words; use the 50-d vectors the chapter loads, not your own.")
def _bank_money_minus_river(answer: Any) -> bool:
    def expected() -> float:
        from .models import load_glove

        kv = load_glove()
        return float(kv.similarity("bank", "money") - kv.similarity("bank", "river"))

    return close_to(expected, tol=0.005)(answer)
