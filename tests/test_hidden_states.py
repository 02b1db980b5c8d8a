import numpy as np
import pytest

from tlbook.hidden_states import hidden_states_by_layer, length_sorted_batches
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


def _direct(model, tok, words, pooling):
    """Every word's vector at every layer from one unbatched forward pass,
    pooled by hand: the reference the batched gather must reproduce."""
    import torch

    enc = tok(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        states = torch.stack(model(**enc, output_hidden_states=True).hidden_states)[:, 0]
    ids = enc.word_ids(0)
    vecs = []
    for w in range(len(words)):
        pieces = [p for p, i in enumerate(ids) if i == w]
        vecs.append(states[:, pieces[0]] if pooling == "first" else states[:, pieces].mean(1))
    return torch.stack(vecs, dim=1).numpy()


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_pooling_matches_a_direct_forward_pass(encoder, pooling):
    model, tok = encoder
    got = hidden_states_by_layer(model, tok, SENTS, pooling=pooling, batch_size=2)
    want = np.concatenate([_direct(model, tok, s, pooling) for s in SENTS], axis=1)
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1e-5


def test_order_and_batch_size_do_not_matter(encoder):
    model, tok = encoder
    # Lengths in pieces differ from lengths in words here, so the length sort
    # really reorders the sentences and mixes them across batches.
    sents = SENTS + [["Antidisestablishmentarianism", "!"], ["a"] * 9]
    targets = [[5, 0], 2, 0, [1, 0], [8]]
    base = hidden_states_by_layer(model, tok, sents, targets=targets, batch_size=1)
    for bs in (2, 3, 64):
        assert np.abs(hidden_states_by_layer(model, tok, sents, targets=targets,
                                             batch_size=bs) - base).max() < 1e-5
    rev = hidden_states_by_layer(model, tok, sents[::-1], targets=targets[::-1], batch_size=2)
    sizes = [2, 1, 1, 2, 1]  # words asked of each sentence, in input order
    starts = np.cumsum([0] + sizes)
    rev_starts = np.cumsum([0] + sizes[::-1])
    for i in range(len(sents)):  # sentence i is sentence len - 1 - i of the reversed input
        j = len(sents) - 1 - i
        assert np.abs(rev[:, rev_starts[j]:rev_starts[j + 1]]
                      - base[:, starts[i]:starts[i + 1]]).max() < 1e-5


def test_truncated_target_and_empty_input(encoder):
    model, tok = encoder
    long = ["word"] * 40
    assert hidden_states_by_layer(model, tok, [long], targets=[5], max_length=16).shape == \
        (7, 1, 384)
    with pytest.raises(ValueError, match="truncated away; raise max_length"):
        hidden_states_by_layer(model, tok, [long], targets=[30], max_length=16)
    assert hidden_states_by_layer(model, tok, []).shape == (7, 0, 384)


def test_length_sorted_batches():
    lengths = [5, 3, 9, 3, 7, 1, 5]
    batches = length_sorted_batches(lengths, 3)
    assert [len(b) for b in batches] == [3, 3, 1]
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))  # every sentence once
    assert [lengths[i] for i in flat] == sorted(lengths)        # shortest first
    assert flat[1:3].tolist() == [1, 3]  # equal lengths keep input order
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            length_sorted_batches(lengths, bad)
