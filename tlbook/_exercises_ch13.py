"""Checkers of the exercises of chapter "One task, every transfer mode" (ids ``13.N``).

Loaded by :func:`tlbook.exercises.check` when a ``13.N`` id is checked.
Expected values come from the recorded sweep the chapter reads and from
:mod:`tlbook.stats`, never pasted in.
"""

from __future__ import annotations

from typing import Any

from .exercises import close_to, register, same_as

__all__: list[str] = []


@register("13.1", hint="Take the 'bytes' of the seed-0 runs with 800 labels of 'full "
                       "fine-tuning' and of 'LoRA' in the record of sweep ch13-modes and "
                       "divide the first by the second.")
def _bytes_ratio(answer: Any) -> bool:
    def expected():
        from .sweeps import load

        runs = load("ch13-modes")
        at = runs[(runs["labels"] == 800) & (runs["seed"] == 0)].set_index("method")
        return float(at.loc["full fine-tuning", "bytes"] / at.loc["LoRA", "bytes"])

    return close_to(expected, tol=0.5)(answer)


def _paired_inputs():
    import numpy as np

    rng = np.random.default_rng(0)
    return [(rng.random(3), rng.random(3)), (rng.random(5), rng.random(5)),
            (np.array([0.70, 0.72, 0.75]), np.array([0.69, 0.70, 0.74]))]


def _paired_reference(a, b):
    from .stats import paired_seeds

    d = paired_seeds(a, b)
    return (d.diff, d.low, d.high)


@register("13.2", hint="Work on the differences a[i] - b[i]: their mean, plus and minus "
                       "the 97.5% quantile of Student's t with n - 1 degrees of freedom times "
                       "their standard error (standard deviation with ddof=1 over sqrt(n)).")
def _paired_by_hand(answer: Any) -> bool:
    def as_tuple(a, b):
        out = answer(a, b)
        return tuple(float(x) for x in out) if out is not None else None

    as_tuple.__wrapped__ = answer  # the reference check looks at the learner's function
    return same_as(_paired_reference, _paired_inputs, tol=1e-6)(as_tuple)
