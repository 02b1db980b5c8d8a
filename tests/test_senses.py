"""Tests for tlbook.senses (chapter "Bank-sense separation") and its exercise checks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tlbook.senses import (
    MAIN_SENSES,
    SENSES,
    SenseClassifier,
    bilm_target_vectors,
    glove_target_vectors,
    load_bank_senses,
    load_brown_bank_senses,
    nn_sense_accuracy,
    nn_sense_predictions,
    pca_by_layer,
    plot_pca_by_layer,
    plot_separation_by_layer,
    separation_by_layer,
    separation_ratio,
    tokenize,
)


@pytest.fixture(scope="module")
def ours():
    return load_bank_senses()


@pytest.fixture(scope="module")
def encoder():
    from tlbook.models import load_encoder

    return load_encoder()


@pytest.fixture(scope="module")
def classifier(encoder, ours):
    """Fitted on all our sentences at the middle layer, as in the chapter."""
    model, tokenizer = encoder
    return SenseClassifier(model, tokenizer, layer=model.config.num_hidden_layers // 2).fit(ours)


def clusters(n_per_sense=20, dim=16, spread=0.05, seed=0):
    """Two tight clusters around orthogonal directions."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:2] * 3.0
    x = np.concatenate([c + spread * rng.standard_normal((n_per_sense, dim)) for c in centres])
    return x, ["financial"] * n_per_sense + ["river"] * n_per_sense


# ------------------------------------------------------------------ data


def test_labelled_set_is_large_and_balanced(ours):
    counts = Counter(e.sense for e in ours)
    assert len(ours) >= 80
    assert set(counts) == set(SENSES)
    for sense in MAIN_SENSES:
        assert 0.4 <= counts[sense] / (counts["financial"] + counts["river"]) <= 0.6
        assert counts[sense] >= 40
    assert counts["other"] >= 8
    assert len({e.id for e in ours}) == len(ours)
    assert len({" ".join(e.words) for e in ours}) == len(ours)


def test_every_labelled_sentence_has_bank_at_its_target(ours):
    for e in ours:
        assert e.words[e.target].lower() == "bank", e.id
        assert sum(w.lower() == "bank" for w in e.words) == 1, e.id
        assert e.source == "tlbook"
    # the position of the target varies, and so does the length
    assert len({e.target for e in ours}) >= 10
    lengths = [len(e.words) for e in ours]
    assert min(lengths) <= 7 and max(lengths) >= 30


def test_brown_labels_cover_all_bank_sentences():
    from tlbook.data import sentences_containing

    corpus = sentences_containing("bank")
    brown = load_brown_bank_senses()
    assert len(brown) == len(corpus) == 76
    for e, s in zip(brown, corpus):
        assert e.words == s.words and e.source == s.genre
        assert e.words[e.target].lower() == "bank"
        assert e.sense in SENSES
    assert len({e.id for e in brown}) == 76
    counts = Counter(e.sense for e in brown)
    assert counts["financial"] > counts["river"] > counts["other"] > 0


def test_tokenize_keeps_contractions_and_splits_punctuation():
    assert tokenize("Don't bank on it, Sam.") == ["Don't", "bank", "on", "it", ",", "Sam", "."]
    with pytest.raises(TypeError):
        tokenize(["bank"])


# ------------------------------------------------------------------ measures


def test_separation_ratio_is_one_for_identical_vectors():
    x = np.tile(np.arange(1.0, 6.0), (10, 1))
    assert separation_ratio(x, ["financial", "river"] * 5) == 1.0


def test_separation_ratio_above_one_for_separated_clusters():
    x, y = clusters()
    ratio = separation_ratio(x, y)
    assert ratio > 10
    # cosine distance ignores the length of each vector
    scaled = x * np.linspace(0.5, 3.0, len(x))[:, None]
    assert separation_ratio(scaled, y) == pytest.approx(ratio)


def test_separation_ratio_near_one_for_random_labels():
    x, _ = clusters(n_per_sense=50, spread=1.0)
    y = np.random.default_rng(1).permutation(["financial", "river"] * 50)
    assert separation_ratio(x, y) == pytest.approx(1.0, abs=0.1)


def test_nn_accuracy_is_one_on_separable_vectors():
    x, y = clusters()
    assert nn_sense_accuracy(x, y, folds=5) == 1.0


def test_nn_accuracy_is_chance_on_identical_vectors():
    x = np.ones((40, 8))
    y = ["financial", "river"] * 20
    assert nn_sense_accuracy(x, y, folds=5) == pytest.approx(0.5, abs=0.1)
    # skewed senses: ties vote, so identical vectors predict the majority sense
    y = ["financial"] * 30 + ["river"] * 10
    assert set(nn_sense_predictions(x, y, folds=5)) == {"financial"}


def test_nn_predictions_are_deterministic():
    x, y = clusters(spread=2.0)
    a, b = nn_sense_predictions(x, y, seed=3), nn_sense_predictions(x, y, seed=3)
    assert list(a) == list(b)


def test_pca_and_table_by_layer():
    x, y = clusters()
    stacked = np.stack([np.ones_like(x), x])  # layer 0: no information; layer 1: clusters
    coords = pca_by_layer(stacked)
    assert coords.shape == (2, len(x), 2)
    assert np.allclose(coords, pca_by_layer(stacked))
    table = separation_by_layer(stacked, y)
    assert list(table.columns) == ["ratio", "accuracy"]
    assert table.loc[0, "ratio"] == 1.0 and table.loc[1, "accuracy"] == 1.0
    # "other" examples are left out by default
    with_other = separation_by_layer(np.concatenate([stacked, stacked[:, :2]], axis=1),
                                     list(y) + ["other", "other"])
    assert with_other.loc[1, "accuracy"] == 1.0


@pytest.mark.parametrize("call, name", [
    (lambda: separation_ratio(np.ones((4, 3)), ["river"] * 4), "senses"),
    (lambda: separation_ratio(np.ones((4, 3)), ["river", "financial"]), "senses"),
    (lambda: separation_ratio(np.ones(4), ["river", "financial"] * 2), "vectors"),
    (lambda: separation_ratio(np.zeros((4, 3)), ["river", "financial"] * 2), "vectors"),
    (lambda: nn_sense_accuracy(np.ones((6, 3)), ["river", "financial"] * 3, folds=4), "folds"),
    (lambda: nn_sense_accuracy(np.ones((6, 3)), ["river", "financial"] * 3, folds=1), "folds"),
    (lambda: pca_by_layer(np.ones((4, 3))), "vectors"),
    (lambda: pca_by_layer(np.ones((1, 4, 3)), n_components=5), "n_components"),
    (lambda: separation_by_layer(np.ones((1, 4, 3)), ["river"] * 4, include="river"), "include"),
    (lambda: load_bank_senses("river"), "word"),
])
def test_bad_arguments_are_rejected(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ------------------------------------------------------------------ classifier


def test_sense_classifier_on_real_encoder(classifier):
    clf = classifier
    assert clf.predict_sentence("I asked the bank for a loan to buy a car.") == "financial"
    assert clf.predict_sentence("We pulled the canoe up onto the muddy bank of the river.",
                                "bank") == "river"
    example, similarity = clf.nearest("The river overflowed and flooded the bank.")
    assert example.sense in SENSES and -1.0 <= similarity <= 1.0 + 1e-9


def test_sense_classifier_rejects_bad_arguments(encoder, ours):
    model, tokenizer = encoder
    with pytest.raises(ValueError, match="layer"):
        SenseClassifier(model, tokenizer, layer=model.config.num_hidden_layers + 1)
    with pytest.raises(ValueError, match="pooling"):
        SenseClassifier(model, tokenizer, layer=1, pooling="max")
    clf = SenseClassifier(model, tokenizer, layer=1)
    with pytest.raises(ValueError, match="fit"):
        clf.predict_sentence("The bank is open.")
    clf.fit(ours[:3] + ours[-3:])
    with pytest.raises(ValueError, match="vectors"):
        clf.predict(ours[:2], vectors=np.ones((3, model.config.hidden_size)))
    with pytest.raises(ValueError, match="target_word"):
        clf.predict_sentence("The shop is open.", "bank")
    with pytest.raises(ValueError, match="target_word"):
        clf.predict_sentence("The bank is open.", "river bank")


# ------------------------------------------------------------------ exercise checks


def test_chapter_6_checks_accept_the_chapter_answers(encoder, ours, classifier, capsys):
    import tlbook._exercises_ch6  # noqa: F401
    from tlbook.exercises import check

    model, tokenizer = encoder
    middle = model.config.num_hidden_layers // 2
    # the classifier holds our sentences' middle-layer vectors (unit length, file order)
    vectors, senses = classifier.vectors_, np.array([e.sense for e in ours])
    main = np.isin(senses, MAIN_SENSES)
    assert check("6.1", nn_sense_accuracy(vectors[main], senses[main], folds=10))
    assert not check("6.1", 0.1)
    assert check("6.2", separation_ratio(vectors, senses))

    def my_ratio(vectors, senses):
        return separation_ratio(vectors, senses)

    assert check("6.3", my_ratio)
    assert not check("6.3", lambda v, s: 1.0)

    brown = [e for e in load_brown_bank_senses() if e.sense in MAIN_SENSES]
    clf = SenseClassifier(model, tokenizer, layer=middle).fit(brown)
    two = [e for e in ours if e.sense in MAIN_SENSES]
    assert check("6.4", clf.score(two, vectors=vectors[main]))
    assert "not yet" in capsys.readouterr().out


# ------------------------------------------------------------------ target vectors and figures


def test_glove_target_vectors_are_one_row_per_use_and_identical():
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=3)
    kv.add_vectors(["bank", "river"], np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]],
                                                dtype=np.float32))
    examples = load_bank_senses()[:4]
    vectors = glove_target_vectors(kv, examples)
    assert vectors.shape == (1, 4, 3) and vectors.dtype == np.float32
    assert np.all(vectors[0] == [1.0, 2.0, 3.0])
    kv_without = KeyedVectors(vector_size=3)
    kv_without.add_vectors(["river"], np.ones((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="bank"):
        glove_target_vectors(kv_without, examples)
    with pytest.raises(ValueError, match="examples"):
        glove_target_vectors(kv, [])


def test_bilm_target_vectors_pick_the_target_column():
    import torch

    from tlbook.bilm import SPECIALS, BiLM, Vocabulary, contextual_vectors

    torch.manual_seed(0)
    words = ["the", "bank", "river", "of", "money", "."]
    bilm = BiLM(Vocabulary(list(SPECIALS) + words), embedding_dim=4, hidden_dim=8,
                num_layers=2, cutoffs=(4,)).eval()
    examples = [e._replace(words=w, target=w.index("bank")) for e, w in
                zip(load_bank_senses()[:2], [["the", "bank", "of", "money", "."],
                                             ["river", "bank", "."]])]
    vectors = bilm_target_vectors(bilm, examples)
    assert vectors.shape == (3, 2, 16)
    per_sentence = contextual_vectors(bilm, [e.words for e in examples])
    assert np.allclose(vectors[:, 0], per_sentence[0][:, 1])
    assert np.allclose(vectors[:, 1], per_sentence[1][:, 1])
    # layer 0 is context-free: the same "bank" vector in both sentences
    assert np.allclose(vectors[0, 0], vectors[0, 1])
    assert not np.allclose(vectors[1, 0], vectors[1, 1])


def test_figures_reject_bad_arguments():
    x, y = clusters()
    coords = pca_by_layer(np.stack([x, x]))
    with pytest.raises(ValueError, match="coords"):
        plot_pca_by_layer(coords[:, :5], y)
    with pytest.raises(ValueError, match="ncols"):
        plot_pca_by_layer(coords, y, ncols=0)
    table = separation_by_layer(np.stack([x, x]), y)
    with pytest.raises(ValueError, match="tables"):
        plot_separation_by_layer({})
    with pytest.raises(ValueError, match="styles"):
        plot_separation_by_layer({"a": table}, styles={"b": {"ls": ":"}})
    fig = plot_separation_by_layer({"a": table, "b": table.iloc[:1]},
                                   styles={"a": {"ls": "-."}})
    assert len(fig.axes) == 2
