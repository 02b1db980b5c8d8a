"""Tests for tlbook.senses (chapter "Bank-sense separation") and its exercise checks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tlbook.senses import (
    CONTROLS,
    MAIN_SENSES,
    SENSES,
    SenseClassifier,
    anisotropy_by_layer,
    bilm_target_vectors,
    context_bow_vectors,
    control_vectors,
    gap_by_layer,
    glove_target_vectors,
    load_bank_senses,
    load_brown_bank_senses,
    nn_sense_accuracy,
    nn_sense_correct,
    nn_sense_predictions,
    pca_by_layer,
    plot_gap_by_layer,
    plot_pca_by_layer,
    plot_separation_by_layer,
    ratio_resamples,
    separation_by_layer,
    separation_intervals,
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
    assert check("6.1", nn_sense_correct(vectors[main], senses[main], folds=10).mean())
    assert not check("6.1", 0.1)
    assert check("6.2", separation_ratio(vectors, senses))

    def my_ratio(vectors, senses):  # written out, as a learner would
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        distance = 1 - unit @ unit.T
        labels = np.asarray(senses)
        same = labels[:, None] == labels[None, :]
        return distance[~same].mean() / distance[same & ~np.eye(len(labels), dtype=bool)].mean()

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


# ------------------------------------------------------------------ controls and intervals


def small_examples():
    """Two short sentences with their words' vectors: word k of sentence i is
    the vector (10 * i + k) * ones, so every mean is known."""
    examples = [e._replace(words=w, target=w.index("bank")) for e, w in
                zip(load_bank_senses()[:2], [["the", "bank", "pays", "."],
                                             ["a", "steep", "bank", "of", "mud", "."]])]
    rows = [np.full(3, 10.0 * i + k) for i, e in enumerate(examples) for k in range(len(e.words))]
    return examples, np.stack([np.stack(rows), -np.stack(rows)])  # two layers


def test_control_vectors_take_the_mean_of_the_other_words_and_the_last_word():
    examples, states = small_examples()
    mean = control_vectors(states, examples, "mean")
    assert mean.shape == (2, 2, 3)
    assert np.allclose(mean[0, 0], (0 + 2 + 3) / 3) and np.allclose(mean[0, 1], 10 + 13 / 5)
    assert np.allclose(mean[1], -mean[0])
    last = control_vectors(states, examples, "last")
    assert np.allclose(last[0, :, 0], [3, 15])
    with pytest.raises(ValueError, match="states"):
        control_vectors(states[:, :-1], examples)
    with pytest.raises(ValueError, match="control"):
        control_vectors(states, examples, "first")
    ends = [examples[0]._replace(words=["the", "bank"], target=1)]
    with pytest.raises(ValueError, match="target"):
        control_vectors(np.ones((1, 2, 3)), ends, "last")
    assert CONTROLS == ("mean", "last")


def test_context_bow_vectors_leave_the_target_out():
    from gensim.models import KeyedVectors

    ours = load_bank_senses()
    first = ours[0]
    swapped = first._replace(words=[w if k != first.target else "shore"
                                    for k, w in enumerate(first.words)])
    tfidf = context_bow_vectors([first, swapped, ours[50]], "tfidf")
    assert tfidf.shape[:2] == (1, 3)
    assert np.allclose(tfidf[0, 0], tfidf[0, 1])  # only the target differs
    assert not np.allclose(tfidf[0, 0], tfidf[0, 2])
    kv = KeyedVectors(vector_size=2)
    kv.add_vectors(["bank", "river", "the"], np.array([[9.0, 9.0], [1.0, 0.0], [0.0, 1.0]],
                                                       dtype=np.float32))
    example = first._replace(words=["the", "river", "bank", "zyzzyva"], target=2)
    assert np.allclose(context_bow_vectors([example], "glove", kv)[0, 0], [0.5, 0.5])
    with pytest.raises(ValueError, match="kind"):
        context_bow_vectors([example], "bert")
    with pytest.raises(TypeError, match="keyed_vectors"):
        context_bow_vectors([example], "glove")
    with pytest.raises(ValueError, match="keyed_vectors"):
        context_bow_vectors([example._replace(words=["zyzzyva", "bank"], target=1)], "glove", kv)


def test_nn_sense_correct_averages_the_fold_seeds():
    x, y = clusters(spread=2.0)
    correct = nn_sense_correct(x, y, folds=5, seeds=[0, 1, 2])
    by_seed = [nn_sense_predictions(x, y, 5, s) == np.array(y, dtype=object) for s in (0, 1, 2)]
    assert np.allclose(correct, np.mean(by_seed, axis=0))
    assert np.all(nn_sense_correct(*clusters()) == 1.0)
    with pytest.raises(ValueError, match="seeds"):
        nn_sense_correct(x, y, seeds=[])
    with pytest.raises(ValueError, match="seeds"):
        nn_sense_correct(x, y, seeds=[-1])


def test_ratio_resamples_weigh_pairs_by_draws_and_leave_out_copies():
    x, y = clusters(n_per_sense=5, spread=1.0, dim=4)
    y = np.array(y, dtype=object)
    samples = ratio_resamples(x, y, n_resamples=100, seed=3)
    draws = np.random.default_rng(3).integers(0, len(y), size=(100, len(y)))
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    for r in (0, 57):
        idx = draws[r]
        pairs = [(a, b) for p, a in enumerate(idx) for q, b in enumerate(idx) if p != q and a != b]
        within = [1 - u[a] @ u[b] for a, b in pairs if y[a] == y[b]]
        between = [1 - u[a] @ u[b] for a, b in pairs if y[a] != y[b]]
        assert samples[r] == pytest.approx(np.mean(between) / np.mean(within))
    assert np.allclose(samples, ratio_resamples(x * 7.0, y, n_resamples=100, seed=3))
    assert np.all(ratio_resamples(np.ones((10, 3)), ["financial", "river"] * 5, 100) == 1.0)
    with pytest.raises(ValueError, match="n_resamples"):
        ratio_resamples(x, y, n_resamples=10)


def test_intervals_hold_the_estimate_and_are_exact_on_separable_vectors():
    x, y = clusters(spread=1.0)
    stacked = np.stack([np.ones_like(x), x])
    table = separation_intervals(stacked, y, n_resamples=500)
    assert list(table.columns) == ["ratio", "ratio_low", "ratio_high", "accuracy",
                                   "accuracy_low", "accuracy_high"]
    assert (table["ratio_low"] <= table["ratio"]).all()
    assert (table["ratio"] <= table["ratio_high"]).all()
    assert (table["accuracy_low"] <= table["accuracy"]).all()
    assert (table["accuracy"] <= table["accuracy_high"]).all()
    assert table.loc[0, "ratio_low"] == table.loc[0, "ratio_high"] == 1.0
    sep = separation_intervals(np.stack([clusters()[0]]), clusters()[1], n_resamples=500)
    assert sep.loc[0, "accuracy_low"] == sep.loc[0, "accuracy_high"] == 1.0


@pytest.fixture(scope="module")
def middle_states(encoder, ours):
    from tlbook.hidden_states import hidden_states_by_layer

    model, tokenizer = encoder
    keep = [e for e in ours if e.sense in MAIN_SENSES]
    states = hidden_states_by_layer(model, tokenizer, [e.words for e in keep],
                                    [e.target for e in keep])
    return states[model.config.num_hidden_layers // 2], np.array([e.sense for e in keep])


def test_shuffled_senses_give_chance_accuracy_and_a_ratio_of_one(middle_states):
    vectors, senses = middle_states
    assert nn_sense_correct(vectors, senses).mean() > 0.85  # the real labels separate
    rng = np.random.default_rng(0)
    accuracies, ratios = [], []
    for _ in range(5):
        shuffled = rng.permutation(senses)
        accuracies.append(nn_sense_correct(vectors, shuffled).mean())
        ratios.append(separation_ratio(vectors, shuffled))
    # 88 balanced uses: one permutation's accuracy has sd ~0.05, the mean of five ~0.025
    assert np.mean(accuracies) == pytest.approx(0.5, abs=0.08)
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.03)
    table = separation_intervals(vectors[None], rng.permutation(senses), n_resamples=500)
    assert table.loc[0, "ratio_low"] < 1.0 + 0.02 and table.loc[0, "accuracy_low"] < 0.62


def test_gap_by_layer_is_zero_against_itself_and_resolved_against_noise():
    x, y = clusters(spread=1.0)
    stacked = np.stack([x, x])
    same = gap_by_layer(stacked, stacked, y, n_resamples=500)
    assert (same["accuracy_gap"] == 0).all() and not same["resolved"].any()
    assert (same["ratio_low"] == 0).all() and (same["ratio_high"] == 0).all()
    noise = np.random.default_rng(0).standard_normal((1,) + x.shape)
    better = gap_by_layer(stacked, noise, y, n_resamples=500)  # one control layer for both
    assert len(better) == 2 and better["resolved"].all()
    assert (better["accuracy_low"] > 0).all() and (better["ratio_low"] > 0).all()
    with pytest.raises(ValueError, match="control"):
        gap_by_layer(np.stack([x, x, x]), stacked, y)


def test_anisotropy_baseline_is_one_for_a_cone_and_near_zero_for_random_directions():
    examples, states = small_examples()
    examples, states = examples * 2, np.concatenate([states, states], axis=1)
    states = np.abs(states) + 1.0  # every vector a positive multiple of (1, 1, 1)
    senses = ["financial", "river"] * 2
    targets = states[:, [1, 6, 11, 16]]
    cone = anisotropy_by_layer(targets, senses, states, examples, n_pairs=200)
    assert np.allclose(cone["random"], 1.0) and np.allclose(cone["between"], 1.0)
    rng = np.random.default_rng(0)
    spread = rng.standard_normal((1, states.shape[1], 500))
    table = anisotropy_by_layer(spread[:, [1, 6, 11, 16]], senses, spread, examples, n_pairs=200)
    assert abs(table.loc[0, "random"]) < 0.05
    assert table.loc[0, "random_low"] <= table.loc[0, "random"] <= table.loc[0, "random_high"]
    with pytest.raises(ValueError, match="layers"):
        anisotropy_by_layer(targets, senses, states[:1], examples)
    with pytest.raises(ValueError, match="n_pairs"):
        anisotropy_by_layer(targets, senses, states, examples, n_pairs=5)


def test_gap_figure_and_interval_bands():
    x, y = clusters(spread=1.0)
    stacked = np.stack([x, x])
    gaps = {"a": gap_by_layer(stacked, stacked, y, n_resamples=200)}
    fig = plot_gap_by_layer(gaps, colors={"a": "black"})
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="gaps"):
        plot_gap_by_layer({})
    with pytest.raises(TypeError, match="gap_by_layer"):
        plot_gap_by_layer({"a": separation_by_layer(stacked, y)})
    with pytest.raises(ValueError, match="colors"):
        plot_gap_by_layer(gaps, colors={"b": "red"})
    banded = separation_intervals(stacked, y, n_resamples=200)
    fig = plot_separation_by_layer({"a": banded, "b": banded.iloc[:1]})
    assert len(fig.axes[0].collections) >= 1  # the shaded interval band


def test_sense_colours_stay_apart_for_red_green_colour_blindness():
    """Machado et al. (2009) protanopia and deuteranopia, full severity, on
    linear RGB; CIE76 distance in Lab. A difference under ~10 is hard to see
    in small markers."""
    from tlbook.runtime import COLORS

    machado = {"protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                              [-0.003882, -0.048116, 1.051998]],
               "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                                [-0.011820, 0.042940, 0.968881]],
               "normal": np.eye(3)}

    def lab(hex_colour, matrix):
        srgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
        linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
        linear = np.clip(np.asarray(matrix) @ linear, 0, 1)
        xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                        [0.0193, 0.1192, 0.9505]]) @ linear / [0.9505, 1.0, 1.089]
        f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
        return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])

    for matrix in machado.values():
        assert np.linalg.norm(lab(COLORS["financial"], matrix) - lab(COLORS["river"], matrix)) > 40
        # chapters draw the senses beside these colours
        for other in ("other", "pretrained", "scratch", "full", "lora"):
            for sense in ("financial", "river"):
                assert np.linalg.norm(lab(COLORS[sense], matrix)
                                      - lab(COLORS[other], matrix)) > 10, (sense, other)
