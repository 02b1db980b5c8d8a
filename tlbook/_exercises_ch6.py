"""Exercise checks of chapter "Bank-sense separation" (``check("6.N", answer)``).

Imported by the chapter's set-up cell; every expected value is computed here
from the data and code the chapter uses, never pasted in.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .exercises import close_to, register, same_as


def _main_examples(examples):
    from .senses import MAIN_SENSES

    return [e for e in examples if e.sense in MAIN_SENSES]


def _our_states():
    """Our sentences and their encoder states, computed once per profile."""
    from .profiles import get_profile

    return _states_for(get_profile().name, "ours")


@lru_cache(maxsize=2)
def _encoder(profile: str):
    from .models import load_encoder

    return load_encoder(profile)


@lru_cache(maxsize=4)
def _states_for(profile: str, which: str):
    """Sentences ("ours" or "brown", main senses only for Brown) and their encoder states."""
    from .hidden_states import hidden_states_by_layer
    from .senses import load_bank_senses, load_brown_bank_senses

    examples = load_bank_senses() if which == "ours" else _main_examples(load_brown_bank_senses())
    model, tokenizer = _encoder(profile)
    return examples, hidden_states_by_layer(model, tokenizer, [e.words for e in examples],
                                            [e.target for e in examples])


@register("6.1", hint="Take the middle layer (num_hidden_layers // 2) of the encoder states of "
                      "the financial and river sentences, call nn_sense_correct with folds=10 "
                      "(the default five fold seeds) and take the mean.")
def _ten_folds(answer: Any) -> bool:
    def expected():
        import numpy as np

        from .senses import MAIN_SENSES, nn_sense_correct

        ours, states = _our_states()
        senses = np.array([e.sense for e in ours])
        keep = np.isin(senses, MAIN_SENSES)
        middle = (len(states) - 1) // 2
        return float(nn_sense_correct(states[middle][keep], senses[keep], folds=10).mean())

    return close_to(expected, tol=1e-3)(answer)


@register("6.2", hint="Call separation_by_layer on the encoder states with "
                      "include=SENSES and read the ratio at layer num_hidden_layers // 2.")
def _ratio_with_other(answer: Any) -> bool:
    def expected():
        from .senses import SENSES, separation_by_layer

        ours, states = _our_states()
        table = separation_by_layer(states, [e.sense for e in ours], include=SENSES)
        return float(table.loc[(len(states) - 1) // 2, "ratio"])

    return close_to(expected, tol=1e-3)(answer)


def _ratio_inputs():
    import numpy as np

    rng = np.random.default_rng(6)
    separated = np.concatenate([rng.normal(0, 1, (6, 5)) + [4, 0, 0, 0, 0],
                                rng.normal(0, 1, (6, 5)) + [0, 4, 0, 0, 0]])
    mixed = rng.normal(0, 1, (9, 4)) + 0.5
    return [(separated, ["financial"] * 6 + ["river"] * 6),
            (mixed, ["river", "financial", "financial"] * 3),
            (separated * 10.0, ["financial", "river"] * 6)]


@register("6.3", hint="Normalise each row, take 1 - (cosine similarity) for every pair, and "
                      "average separately over different-sense pairs and over same-sense "
                      "pairs of two different sentences (leave out each sentence's pair with "
                      "itself).")
def _my_ratio(answer: Any) -> bool:
    from .senses import separation_ratio

    return same_as(separation_ratio, _ratio_inputs, tol=1e-6)(answer)


@register("6.4", hint="Fit SenseClassifier at layer num_hidden_layers // 2 on the Brown "
                      "sentences labelled financial or river, then score it on our "
                      "financial and river sentences.")
def _brown_to_ours(answer: Any) -> bool:
    def expected():
        import numpy as np

        from .profiles import get_profile
        from .senses import MAIN_SENSES, _nearest_sense, _unit_rows

        brown, brown_states = _states_for(get_profile().name, "brown")
        ours, our_states = _our_states()
        keep = [i for i, e in enumerate(ours) if e.sense in MAIN_SENSES]
        middle = (len(our_states) - 1) // 2
        train_senses = np.array([e.sense for e in brown], dtype=object)
        pred = _nearest_sense(_unit_rows(brown_states[middle].astype(float)), train_senses,
                              _unit_rows(our_states[middle][keep].astype(float)),
                              sorted(set(train_senses)))
        return float(np.mean(pred == np.array([ours[i].sense for i in keep], dtype=object)))

    return close_to(expected, tol=1e-3)(answer)
