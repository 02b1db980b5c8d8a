"""Checkers of the exercises of chapter "Catastrophic forgetting" (ids ``8.N``).

Loaded by :func:`tlbook.exercises.check` when an ``8.N`` id is checked.
Expected values are computed here with real code (:mod:`tlbook.forgetting`
on the real encoder and data), never pasted in.
"""

from __future__ import annotations

from typing import Any

from .exercises import AnswerTypeError, close_to, register, same_as

__all__: list[str] = []

N_SENTENCES = 60
"""Exercise 8.3 uses the first this many test sentences of movie sentiment."""


def _cka_inputs():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5))
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    return [(x, rng.normal(size=(40, 3))), (x, 2.0 * x @ q + 1.0),
            (rng.normal(size=(8, 12)), rng.normal(size=(8, 20))),
            (x, x * np.array([5.0, 1, 1, 1, 1]))]


def _cka_reference(x, y):
    from .forgetting import linear_cka

    return linear_cka(x, y)


@register("8.1", hint="Centre each column of x and y first; then CKA = ||y^T x||_F^2 / "
                      "(||x^T x||_F * ||y^T y||_F).")
def _cka_by_hand(answer: Any) -> bool:
    return same_as(_cka_reference, _cka_inputs, tol=1e-6)(answer)


def _l2sp_inputs():
    import torch

    cases = []
    for seed, shift in [(0, 0.0), (1, 0.5), (2, -2.0)]:
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
        start = {n: p.detach().clone() for n, p in model.named_parameters()}
        with torch.no_grad():
            model[0].weight += shift
            model[1].bias -= shift / 2
        cases.append((model, start, 0.3 + seed))
    return cases


def _l2sp_reference(model, start, alpha):
    total = sum(float((p.detach() - start[n]).pow(2).sum()) for n, p in model.named_parameters())
    return alpha * total


@register("8.2", hint="Sum (w - w0)^2 over every parameter, look each start value up by the "
                      "parameter's name, and multiply the sum by alpha.")
def _l2sp_by_hand(answer: Any) -> bool:
    def as_float(model, start, alpha):
        out = answer(model, start, alpha)
        return float(out.detach()) if hasattr(out, "detach") else out

    # The reference agrees with tlbook.forgetting.L2SPPenalty (tests check both).
    return same_as(_l2sp_reference, _l2sp_inputs, tol=1e-5)(as_float)


@register("8.3", hint="Take the hidden states of the pretrained encoder (model.bert) for the "
                      "first 60 test sentences, split into words, and compare index 0 with "
                      "index 6 using debiased_cka.")
def _embedding_vs_top_layer(answer: Any) -> bool:
    def expected():
        import torch

        from .data import first_rows, load_movie_sentiment
        from .forgetting import debiased_cka
        from .hidden_states import hidden_states_by_layer
        from .models import load_encoder

        torch.manual_seed(0)
        model, tok = load_encoder()
        texts = first_rows(load_movie_sentiment()["test"], N_SENTENCES)["text"]
        states = hidden_states_by_layer(model, tok, [t.split() for t in texts])
        return debiased_cka(states[0], states[-1])

    return close_to(expected, tol=0.005)(answer)


def _best_variant_reference(table):
    import numpy as np

    scores = (np.asarray(table["sentiment after B"], dtype=float)
              + np.asarray(table["spam after B"], dtype=float)) / 2
    return str(table.index[int(np.argmax(scores))])


def _tables():
    import pandas as pd

    names = ["plain", "frozen", "LoRA", "rehearsal"]
    rows = [[0.80, 0.55, 0.97], [0.80, 0.70, 0.90], [0.80, 0.78, 0.80], [0.80, 0.74, 0.95]]
    cols = ["sentiment before B", "sentiment after B", "spam after B"]
    first = pd.DataFrame(rows, index=names, columns=cols)
    second = first.copy()
    second.loc["frozen", "spam after B"] = 0.99
    third = first.iloc[:2].copy()
    return [first, second, third]


@register("8.4", hint="Average the two 'after B' columns row by row and return the index label "
                      "(the variant's name) of the largest average.")
def _best_variant(answer: Any) -> bool:
    if not callable(answer):
        raise AnswerTypeError(f"Expected a function, got {type(answer).__name__}.")
    return same_as(_best_variant_reference, _tables, tol=0)(answer)
