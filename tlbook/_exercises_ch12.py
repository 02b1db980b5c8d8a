"""Checkers of the exercises of chapter "Prompting and in-context learning" (ids ``12.N``).

Loaded by :func:`tlbook.exercises.check` when a ``12.N`` id is checked.
Expected values are computed here with real code (the profile's chat model,
:mod:`tlbook.prompting`), never pasted in.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .exercises import AnswerTypeError, NotYet, close_to, register, same_as

__all__: list[str] = []

OTHER_WORDS = (" bad", " good")
"""Exercise 12.1's label words, for labels 0 and 1."""

FIRST = 50
"""Exercise 12.1 scores the first this many test sentences."""


@lru_cache(maxsize=1)
def _chat():
    from .models import load_causal_lm

    return load_causal_lm()


def _test():
    from .strategies import splits

    return splits()[2]


@register("12.1", hint="Build the zero-shot prompts with chat_prompts, score them with "
                       "label_logprobs(model, tok, prompts, [' bad', ' good']) and compare the "
                       "argmax with the gold labels of the same 50 sentences.")
def _other_label_words(answer: Any) -> bool:
    def expected():
        import numpy as np

        from .prompting import (MOVIE_ANSWER_PREFIX, MOVIE_INSTRUCTION, chat_prompts,
                                label_logprobs)

        model, tok = _chat()
        test = _test()
        prompts = chat_prompts(tok, list(test["text"][:FIRST]), MOVIE_INSTRUCTION,
                               MOVIE_ANSWER_PREFIX)
        scores = label_logprobs(model, tok, prompts, list(OTHER_WORDS), shared_prefix=True)
        return float(np.mean(scores.argmax(1) == np.asarray(test["label"][:FIRST])))

    # one sentence of 50 may flip on another CPU's rounding
    return close_to(expected, tol=0.021)(answer)


def _calibration_inputs():
    import numpy as np

    rng = np.random.default_rng(0)
    cases = []
    for n, labels in [(5, 2), (4, 3), (6, 4)]:
        logprobs = np.log(rng.dirichlet(np.ones(labels), size=n)) - rng.random((n, 1))
        content_free = np.log(rng.dirichlet(np.ones(labels)))
        cases.append((logprobs, content_free))
    return cases


def _calibrated_probabilities(logprobs, content_free):
    import numpy as np

    from .prompting import calibrate

    return np.exp(calibrate(logprobs, content_free))


@register("12.2", hint="Turn each row into probabilities over the labels (they need not sum "
                       "to 1 yet), divide by exp(content_free) label by label, then divide "
                       "each row by its sum.")
def _calibration_by_hand(answer: Any) -> bool:
    return same_as(_calibrated_probabilities, _calibration_inputs, tol=1e-6)(answer)


@register("12.3", hint="draw_demonstrations(train['text'], train['label'], k=8, seed=0) with "
                       "train from splits(); a prompt builder texts -> few_shot_prompts(...); "
                       "content_free_logprobs returns log-probabilities: take exp of the "
                       "' positive' entry.")
def _content_free_eight_shot(answer: Any) -> bool:
    def expected():
        import numpy as np

        from .prompting import (MOVIE_ANSWER_PREFIX, MOVIE_INSTRUCTION, MOVIE_LABEL_WORDS,
                                content_free_logprobs, draw_demonstrations, few_shot_prompts)
        from .strategies import splits

        model, tok = _chat()
        train = splits()[0]
        shown = draw_demonstrations(train["text"], train["label"], k=8, seed=0)

        def build(texts):
            return few_shot_prompts(tok, texts, MOVIE_INSTRUCTION, MOVIE_ANSWER_PREFIX, shown,
                                    MOVIE_LABEL_WORDS)

        return float(np.exp(content_free_logprobs(model, tok, build, MOVIE_LABEL_WORDS)[1]))

    return close_to(expected, tol=0.002)(answer)


def _scoring_inputs():
    from .prompting import MOVIE_ANSWER_PREFIX, MOVIE_INSTRUCTION, chat_prompts

    model, tok = _chat()
    texts = ["a joy from start to finish", "the worst film of the year, by some distance, "
             "and far too long", "meh"]
    prompts = chat_prompts(tok, texts, MOVIE_INSTRUCTION, MOVIE_ANSWER_PREFIX)
    return [(model, tok, prompts, [" negative", " positive"]),
            (model, tok, prompts[:1], [" bad", " good", " fine"])]


def _label_scores_reference(model, tokenizer, prompts, label_words):
    from .prompting import label_logprobs

    return label_logprobs(model, tokenizer, prompts, label_words)


@register("12.4", hint="Pad on the left so that every prompt's last token sits in the last "
                       "column, give the model the attention mask and positions that start at "
                       "0 on each prompt's first real token, and read the log-softmax of the "
                       "last column's logits at the label words' ids.")
def _label_scores_by_hand(answer: Any) -> bool:
    # same_as would deep-copy the 135M-parameter model for every call; scoring
    # under no_grad leaves it as it was, so the inputs are shared instead
    import numpy as np

    if not callable(answer):
        raise AnswerTypeError(f"Expected a function, got {type(answer).__name__}.")
    for model, tok, prompts, words in _scoring_inputs():
        want = _label_scores_reference(model, tok, prompts, words)
        try:
            got = answer(model, tok, list(prompts), list(words))
        except Exception as exc:  # the learner's code: report, never a traceback
            raise NotYet(f"On {len(prompts)} prompts and label words {words} your function "
                         f"raised {type(exc).__name__}: {exc}.") from None
        if got is None:
            raise NotYet("Your function returned None: does it end with a return statement "
                          "(is its body still `...`)?")
        got = np.asarray(got.detach() if hasattr(got, "detach") else got, dtype=float)
        if got.shape != want.shape:
            raise NotYet(f"On {len(prompts)} prompts and {len(words)} label words your "
                         f"function returned shape {got.shape}, expected {want.shape}.")
        if not np.allclose(got, want, atol=2e-4):
            raise NotYet(f"On {len(prompts)} prompts of different lengths your scores differ "
                         f"from the expected ones by up to {np.abs(got - want).max():.3g}.")
    return True
