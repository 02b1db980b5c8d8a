import numpy as np
import pytest

from tlbook.hidden_states import hidden_states_by_layer
from tlbook.models import load_encoder

SENTS = [["I", "deposited", "cash", "at", "the", "bank"],
         ["The", "river", "bank", "was", "muddy"],
         ["Unbelievably", "short"]]


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("lite")


def test_batched_equals_one_at_a_time(encoder):
    model, tok = encoder
    batched = hidden_states_by_layer(model, tok, SENTS, targets=[5, 2, 0])
    assert batched.shape == (7, 3, 384)
    single = np.concatenate([hidden_states_by_layer(model, tok, [s], targets=[t])
                             for s, t in zip(SENTS, [5, 2, 0])], axis=1)
    assert np.abs(batched - single).max() < 1e-5


def test_all_words_and_pooling(encoder):
    model, tok = encoder
    first = hidden_states_by_layer(model, tok, SENTS)
    mean = hidden_states_by_layer(model, tok, SENTS, pooling="mean")
    assert first.shape == mean.shape == (7, 13, 384)
    pieces = tok("Unbelievably", add_special_tokens=False)["input_ids"]
    assert len(pieces) > 1  # a word split into several pieces: the poolings differ there
    k = 6 + 5  # "Unbelievably" is word 0 of the third sentence
    assert not np.allclose(first[:, k], mean[:, k])
    assert np.allclose(first[:, 6 + 3], mean[:, 6 + 3])  # "was" is one piece


def test_bad_arguments(encoder):
    model, tok = encoder
    with pytest.raises(ValueError, match="pooling"):
        hidden_states_by_layer(model, tok, SENTS, pooling="last")
    with pytest.raises(TypeError, match="lists of words"):
        hidden_states_by_layer(model, tok, ["a sentence"])
    with pytest.raises(ValueError, match="outside a sentence"):
        hidden_states_by_layer(model, tok, SENTS, targets=[9, 0, 0])
    with pytest.raises(ValueError, match="targets has"):
        hidden_states_by_layer(model, tok, SENTS, targets=[0])
