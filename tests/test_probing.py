"""Tests of tlbook.probing: the split, the control task, the probes and their baselines."""

from collections import Counter

import numpy as np
import pytest

from tlbook.probing import (
    control_labels,
    majority_baseline,
    probe_accuracy_by_layer,
    probe_table,
    probing_split,
    selectivity,
    static_word_features,
    type_lookup_accuracy,
)

# ------------------------------------------------------------------ control task


def test_control_label_is_a_function_of_the_word_type():
    words = ["the", "dog", "saw", "The", "dog", "the", "cat", "saw"]
    tags = ["DET", "NOUN", "VERB", "DET", "NOUN", "DET", "NOUN", "VERB"]
    labels = control_labels(words, tags, seed=3)
    by_type = {}
    for w, label in zip(words, labels):
        by_type.setdefault(w.lower(), set()).add(label)
    assert all(len(v) == 1 for v in by_type.values())
    assert set(labels) <= set(tags)
    # Case-sensitive types may differ; lower-cased ones may not.
    cased = control_labels(words, tags, seed=3, lowercase=False)
    assert cased[0] == cased[5] and cased[2] == cased[7]


def test_control_labels_are_deterministic_per_seed_and_independent_of_order():
    words = [f"w{i}" for i in range(300)]
    tags = ["A", "B", "C"] * 100
    a = control_labels(words, tags, seed=0)
    assert np.array_equal(a, control_labels(words, tags, seed=0))
    assert not np.array_equal(a, control_labels(words, tags, seed=1))
    # The label of a type does not depend on which other words are present.
    label_of = dict(zip(words, a))
    shuffled = words[::-1][:120]
    again = control_labels(shuffled, tags[:120], seed=0)
    assert [label_of[w] for w in shuffled] == list(again)


def test_control_labels_follow_the_tag_distribution():
    # Token distribution 60% A, 30% B, 10% C over 4,000 distinct types.
    tags = ["A"] * 2400 + ["B"] * 1200 + ["C"] * 400
    words = [f"type{i}" for i in range(len(tags))]
    share = Counter(control_labels(words, tags, seed=0))
    assert share["A"] / 4000 == pytest.approx(0.6, abs=0.03)
    assert share["B"] / 4000 == pytest.approx(0.3, abs=0.03)
    assert share["C"] / 4000 == pytest.approx(0.1, abs=0.02)


@pytest.mark.parametrize("kwargs, match", [
    ({"words": ["a", "b"], "tags": ["X"]}, "same length"),
    ({"words": [], "tags": []}, "must not be empty"),
    ({"words": ["a"], "tags": ["X"], "seed": -1}, "seed"),
    ({"words": ["a"], "tags": ["X"], "seed": 1.5}, "seed"),
])
def test_control_labels_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        control_labels(**kwargs)
    with pytest.raises(TypeError, match="words"):
        control_labels("the dog", ["DET", "NOUN"])


# ------------------------------------------------------------------ the split


@pytest.fixture(scope="module")
def split():
    return probing_split(genres="humor", n_train=300, n_test=100)


def test_split_is_by_sentence_and_deterministic(split):
    train, test = split["train"], split["test"]
    assert len(train.sentences) == 300 and len(test.sentences) == 100
    as_text = lambda s: {" ".join(x) for x in s.sentences}  # noqa: E731
    assert len(as_text(train)) == 300 and not as_text(train) & as_text(test)
    again = probing_split(genres="humor", n_train=300, n_test=100)
    assert again["test"].sentences == test.sentences
    assert again["train"].sentences == train.sentences


def test_split_is_by_document_and_tests_on_files_the_bilm_never_saw(split):
    from tlbook.bilm import held_out_files
    from tlbook.data import brown_sentences

    held_out = set(held_out_files(brown_sentences()))
    assert set(split["test"].files) <= held_out
    assert not set(split["train"].files) & held_out
    assert len(split["train"].files) == len(split["train"].sentences)
    assert all(f.startswith("cr") for f in split["train"].files + split["test"].files)


def test_split_words_tags_and_sentence_index_line_up(split):
    for part in split.values():
        n = sum(len(s) for s in part.sentences)
        assert len(part.words) == len(part.tags) == len(part.sentence_index) == n
        assert all(3 <= len(s) <= 40 for s in part.sentences)
        first = part.sentence_index == 0
        assert [w for w, f in zip(part.words, first) if f] == part.sentences[0]
        assert set(part.tags) <= {"ADJ", "ADP", "ADV", "CONJ", "DET", "NOUN", "NUM",
                                  "PRON", "PRT", "VERB", "X", "."}


def test_a_smaller_split_keeps_the_same_test_sentences(split):
    smaller = probing_split(genres="humor", n_train=50, n_test=100)
    assert smaller["test"].sentences == split["test"].sentences
    assert smaller["train"].sentences == split["train"].sentences[:50]


@pytest.mark.parametrize("kwargs, match", [
    ({"n_train": 0}, "n_train"),
    ({"n_test": -5}, "n_test"),
    ({"min_words": 10, "max_words": 5}, "min_words"),
    ({"genres": "humor", "n_train": 10**6}, "too many"),
    ({"genres": "poetry"}, "genres"),
])
def test_split_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        probing_split(**kwargs)


# ------------------------------------------------------------------ probes


def _labels(n, rng):
    return rng.choice(np.array(["NOUN", "VERB", "DET"]), size=n, p=[0.6, 0.25, 0.15])


def test_probe_reads_a_perfectly_encoded_label():
    rng = np.random.default_rng(0)
    y = _labels(600, rng)
    onehot = (y[:, None] == np.array(["NOUN", "VERB", "DET"])).astype(np.float32)
    noise = rng.normal(size=(600, 13)).astype(np.float32)
    # Layer 0: label plus noise dimensions; layer 1: noise only.
    features = np.stack([np.hstack([onehot, noise]),
                         np.hstack([rng.normal(size=(600, 3)), noise]).astype(np.float32)])
    acc = probe_accuracy_by_layer(features, y[:400], y[400:])
    assert acc.shape == (2,)
    assert acc[0] == 1.0
    majority = majority_baseline(y[:400], y[400:])
    assert majority - 0.12 <= acc[1] <= majority + 0.05


def test_probe_accepts_one_layer_as_2d_features():
    rng = np.random.default_rng(1)
    y = _labels(200, rng)
    features = (y[:, None] == np.array(["NOUN", "VERB", "DET"])).astype(float)
    assert probe_accuracy_by_layer(features, y[:150], y[150:]).tolist() == [1.0]


def test_probe_table_and_selectivity():
    rng = np.random.default_rng(2)
    y = _labels(300, rng)
    control = rng.permutation(y)
    features = (y[:, None] == np.array(["NOUN", "VERB", "DET"])).astype(float)[None]
    table = probe_table(features, (y[:200], y[200:]), (control[:200], control[200:]))
    assert list(table.columns) == ["task", "control", "selectivity"]
    assert table.index.name == "layer" and list(table.index) == [0]
    assert table.loc[0, "task"] == 1.0
    assert table.loc[0, "selectivity"] == pytest.approx(1.0 - table.loc[0, "control"])
    assert selectivity([0.9, 0.8], [0.5, 0.7]) == pytest.approx([0.4, 0.1])
    with pytest.raises(ValueError, match="same shape"):
        selectivity([0.9, 0.8], [0.5])


@pytest.mark.parametrize("features, y_train, y_test, kwargs, match", [
    (np.zeros(6), ["a", "b", "a"], ["b", "a", "b"], {}, "features must have shape"),
    (np.zeros((1, 5, 2)), ["a", "b", "a"], ["b", "a", "b"], {}, "features has 5 words"),
    (np.zeros((1, 6, 2)), ["a", "a", "a"], ["b", "a", "b"], {}, "at least two"),
    (np.zeros((1, 6, 2)), [], ["b", "a", "b"], {}, "y_train"),
    (np.zeros((1, 6, 2)), ["a", "b", "a"], ["b", "a", "b"], {"C": 0}, "C must be"),
    (np.zeros((1, 6, 2)), ["a", "b", "a"], ["b", "a", "b"], {"max_iter": 0}, "max_iter"),
    (np.full((1, 6, 2), np.nan), ["a", "b", "a"], ["b", "a", "b"], {}, "finite"),
])
def test_probe_rejects_bad_arguments(features, y_train, y_test, kwargs, match):
    with pytest.raises(ValueError, match=match):
        probe_accuracy_by_layer(features, y_train, y_test, **kwargs)


# ------------------------------------------------------------------ baselines


def test_majority_baseline():
    assert majority_baseline(["N", "N", "V"], ["N", "V", "V", "N"]) == 0.5
    assert majority_baseline(["V", "N"], ["N", "N"]) == 1.0  # tie: "N" sorts first
    with pytest.raises(TypeError, match="y_test"):
        majority_baseline(["N"], "N")


def test_type_lookup_accuracy():
    train_words = ["The", "dog", "runs", "the", "run", "run", "run"]
    train_tags = ["DET", "NOUN", "VERB", "DET", "NOUN", "VERB", "VERB"]
    # "run" -> VERB (2 of 3), "the" -> DET (case-folded), "cat" unseen -> VERB,
    # the most frequent training tag overall (3 of 7).
    test_words = ["the", "run", "cat", "dog"]
    assert type_lookup_accuracy(train_words, train_tags, test_words,
                                ["DET", "VERB", "VERB", "NOUN"]) == 1.0
    assert type_lookup_accuracy(train_words, train_tags, test_words,
                                ["DET", "NOUN", "NOUN", "NOUN"]) == 0.5
    with pytest.raises(ValueError, match="equal lengths"):
        type_lookup_accuracy(train_words, train_tags[:-1], test_words, ["DET"] * 4)


def test_static_word_features():
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=2)
    kv.add_vectors(["the", "dog"], np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))
    features, known = static_word_features(kv, ["The", "cat", "dog"])
    assert features.dtype == np.float32 and features.shape == (3, 2)
    assert features.tolist() == [[1.0, 2.0], [0.0, 0.0], [3.0, 4.0]]
    assert known.tolist() == [True, False, True]
    _, known_cased = static_word_features(kv, ["The"], lowercase=False)
    assert known_cased.tolist() == [False]


def test_plot_probe_accuracy_draws_every_series_and_rejects_a_bad_majority():
    import pandas as pd

    from tlbook.probing import plot_probe_accuracy

    table = pd.DataFrame({"task": [0.8, 0.9], "control": [0.6, 0.5]},
                         index=pd.Index([0, 1], name="layer"))
    ax = plot_probe_accuracy(table, 0.25, reference={"static": (0.7, 0.4)},
                             others={"other": table.iloc[:1]}, name="enc")
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["enc, POS task", "enc, control", "other, POS task", "other, control",
                      "static, POS task", "static, control", "majority class"]
    with pytest.raises(ValueError, match="majority"):
        plot_probe_accuracy(table, 25.0)


# ------------------------------------------------------------------ exercise checks


def test_chapter_5_checks_accept_the_chapter_answers(capsys):
    import tlbook._exercises_ch5  # noqa: F401
    from tlbook.exercises import check

    split = probing_split()
    train, test = split["train"], split["test"]
    seen = {w.lower() for w in train.words}
    assert check("5.1", float(np.mean([w.lower() not in seen for w in test.words])))
    assert not check("5.1", 0.5)

    def my_lookup(train_words, y_train, test_words, y_test):
        return type_lookup_accuracy(train_words, y_train, test_words, y_test)

    assert check("5.2", my_lookup)
    assert not check("5.2", lambda *args: 0.0)
    control = control_labels(train.words + test.words,
                             np.concatenate([train.tags, test.tags]), seed=0)
    n = len(train.words)
    assert check("5.3", my_lookup(train.words, control[:n], test.words, control[n:]))
    # the lookup table on the real tags is a different number
    assert not check("5.3", my_lookup(train.words, train.tags, test.words, test.tags))
    assert "not yet" in capsys.readouterr().out


def test_probes_run_to_convergence_so_the_budget_does_not_set_the_result():
    """A probe stopped early reports the optimiser's budget: the default must converge
    (no ConvergenceWarning) and agree with a much tighter fit; a tiny budget warns."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(3)
    y = _labels(900, rng)
    centres = rng.normal(size=(3, 40)).astype(np.float32)
    codes = np.searchsorted(np.array(["DET", "NOUN", "VERB"]), y)
    features = centres[codes] * 0.4 + rng.normal(size=(900, 40)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        converged = probe_accuracy_by_layer(features, y[:600], y[600:])
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features[:600])
    tight = LogisticRegression(C=0.1, tol=1e-10, max_iter=100_000).fit(
        scaler.transform(features[:600]), y[:600])
    tight_acc = np.mean(tight.predict(scaler.transform(features[600:])) == y[600:])
    assert 0.5 < converged[0] < 1.0  # a problem the probe neither fails nor solves
    assert abs(converged[0] - tight_acc) <= 1 / 300  # at most one test word apart
    with pytest.warns(ConvergenceWarning):
        probe_accuracy_by_layer(features, y[:600], y[600:], max_iter=2)
