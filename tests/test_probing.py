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
    return probing_split(genres="humor", n_train=300, n_test=100, n_dev=100)


def test_split_is_by_sentence_and_deterministic(split):
    train, test = split["train"], split["test"]
    assert set(split) == {"train", "dev", "test"}
    assert len(train.sentences) == 300 and len(test.sentences) == 100
    as_text = lambda s: {" ".join(x) for x in s.sentences}  # noqa: E731
    assert len(as_text(train)) == 300 and not as_text(train) & as_text(test)
    again = probing_split(genres="humor", n_train=300, n_test=100, n_dev=100)
    assert again["test"].sentences == test.sentences
    assert again["train"].sentences == train.sentences


def test_split_is_by_document_and_tests_on_files_the_bilm_never_saw(split):
    from tlbook.bilm import held_out_files
    from tlbook.data import brown_sentences

    held_out = set(held_out_files(brown_sentences()))
    assert set(split["test"].files) <= held_out
    assert not set(split["train"].files) & held_out
    # dev: the two humor files just before the held-out ones, shared with neither side
    humor = sorted({s.file for s in brown_sentences("humor")} - held_out)
    assert set(split["dev"].files) == set(humor[-2:])
    assert not set(split["dev"].files) & (set(split["train"].files) | held_out)
    as_text = lambda s: {" ".join(x) for x in s.sentences}  # noqa: E731
    assert not as_text(split["dev"]) & (as_text(split["train"]) | as_text(split["test"]))
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
    smaller = probing_split(genres="humor", n_train=50, n_test=100, n_dev=100)
    assert smaller["test"].sentences == split["test"].sentences
    assert smaller["train"].sentences == split["train"].sentences[:50]


@pytest.mark.parametrize("kwargs, match", [
    ({"n_train": 0}, "n_train"),
    ({"n_test": -5}, "n_test"),
    ({"min_words": 10, "max_words": 5}, "min_words"),
    ({"genres": "humor", "n_train": 10**6}, "too many"),
    ({"genres": "humor", "n_train": 50, "n_dev": 10**6}, "n_dev = 1000000 is too many"),
    ({"n_dev": 0}, "n_dev"),
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
    dev = split["dev"]
    control = control_labels(train.words + dev.words + test.words,
                             np.concatenate([train.tags, dev.tags, test.tags]), seed=0)
    n, m = len(train.words), len(train.words) + len(dev.words)
    assert check("5.3", my_lookup(train.words, control[:n], test.words, control[m:]))
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


# ------------------------------------------------------------------ the recorded sweep's pieces


def test_fit_probe_reads_the_label_and_scores_any_split():
    from tlbook.probing import fit_probe

    rng = np.random.default_rng(4)
    y = _labels(500, rng)
    x = np.hstack([(y[:, None] == np.array(["NOUN", "VERB", "DET"])).astype(np.float32),
                   rng.normal(size=(500, 5)).astype(np.float32)])
    probe = fit_probe(x[:300], y[:300], C=0.1)
    assert probe.score(x[300:], y[300:]) == 1.0
    assert 0 < probe[-1].n_iter_.max() < 1000
    with pytest.raises(ValueError, match="x_train must have shape"):
        fit_probe(x[:10], y[:11])
    with pytest.raises(ValueError, match="C must be"):
        fit_probe(x[:10], y[:10], C=-1.0)
    with pytest.raises(ValueError, match="two different labels"):
        fit_probe(x[:10], ["NOUN"] * 10)


def test_a_probe_trained_on_shuffled_tags_scores_at_the_majority_rate(split):
    """The shuffled-label control: real GloVe vectors of real words, but training tags
    permuted, so nothing links a vector to its tag; on held-out words the probe can do
    no better than always answering the majority tag (and the real tags do far better)."""
    from tlbook.models import load_glove
    from tlbook.probing import fit_probe

    glove = load_glove()
    train, test = split["train"], split["test"]
    x_train = static_word_features(glove, train.words)[0]
    x_test = static_word_features(glove, test.words)[0]
    majority = majority_baseline(train.tags, test.tags)
    for seed in range(3):
        shuffled = np.random.default_rng(seed).permutation(train.tags)
        chance = fit_probe(x_train, shuffled, C=0.01).score(x_test, test.tags)
        # No better than the majority tag; a little worse, as a probe that learned the
        # shuffled tags' frequencies answers with them instead of always the majority.
        assert majority - 0.07 <= chance <= majority + 0.01
    real = fit_probe(x_train, train.tags, C=0.01).score(x_test, test.tags)
    assert real > majority + 0.3


def _cell_inputs():
    from tlbook.probing import _default_split

    split, words, tags = _default_split()
    return split, words, tags


def test_probe_cell_on_features_that_hold_the_tag():
    """Known answer: a layer that is the one-hot tag is read perfectly at every C (the
    tie goes to the smallest C), one of pure noise lands near the majority rate, and
    the control task, unrelated to either, stays far below the task."""
    from tlbook.probing import PROBE_CS, probe_cell

    split, words, tags = _cell_inputs()
    rng = np.random.default_rng(5)
    onehot = (tags[:, None] == np.unique(tags)).astype(np.float32)
    features = np.stack([onehot, rng.normal(size=onehot.shape).astype(np.float32)])
    cell = probe_cell({"representation": "GloVe", "layer": 0}, 0, features=features)
    n_test = len(split["test"].words)
    assert all(cell[f"task test C={C:g}"] == 1.0 for C in PROBE_CS)
    assert cell["C"] == PROBE_CS[0]
    assert cell["task correct"] == [1] * n_test
    assert max(cell[f"control test C={C:g}"] for C in PROBE_CS) < 0.5
    assert cell["iterations"] < 1000
    noise = probe_cell({"representation": "GloVe", "layer": 1}, 1, features=features)
    assert "task test C=0.1" not in noise and "C" not in noise  # seed 1: control only
    control = control_labels(words, tags, seed=1)
    n = len(split["train"].words) + len(split["dev"].words)
    majority = majority_baseline(control[:len(split["train"].words)], control[n:])
    assert abs(noise["control test C=0.001"] - majority) < 0.03
    with pytest.raises(ValueError, match="layer must be < 2"):
        probe_cell({"representation": "GloVe", "layer": 2}, 0, features=features)
    with pytest.raises(ValueError, match="representation"):
        probe_cell({"representation": "ELMo", "layer": 0}, 0, features=features)
    with pytest.raises(ValueError, match="features must have shape"):
        probe_cell({"representation": "GloVe", "layer": 0}, 0, features=features[:, :10])
    with pytest.raises(TypeError, match="config"):
        probe_cell({"layer": 0}, 0, features=features)


def test_probing_features_of_a_random_init_depend_only_on_the_seed():
    from tlbook.probing import probing_features

    sentences = [["The", "bank", "closed", "."], ["Rivers", "flood"]]
    a = probing_features("encoder, random init", sentences, seed=0)
    assert a.shape[1] == 6 and a.dtype == np.float32
    assert np.array_equal(a, probing_features("encoder, random init", sentences, seed=0))
    assert not np.allclose(a, probing_features("encoder, random init", sentences, seed=1))
    pretrained = probing_features("encoder", sentences)
    assert pretrained.shape == a.shape and not np.allclose(a, pretrained)
    glove = probing_features("GloVe", sentences)
    assert glove.shape == (1, 6, 50)
    with pytest.raises(ValueError, match="representation"):
        probing_features("word2vec", sentences)
    with pytest.raises(ValueError, match="pooling"):
        probing_features("encoder", sentences, pooling="last")


def _toy_sweep_table():
    """A hand-made sweep table with known answers: a seed-independent task (seed 0 fits
    it) and a random init (every seed fits it)."""
    import pandas as pd

    rows = []
    for seed, control in enumerate((0.50, 0.52, 0.54)):
        row = {"representation": "GloVe", "layer": 0, "seed": seed}
        for C in (0.001, 0.01, 0.1, 1.0):
            row[f"control dev C={C:g}"] = control
            row[f"control test C={C:g}"] = control + (0.1 if C == 1.0 else 0.0)
        if seed == 0:
            for C in (0.001, 0.01, 0.1, 1.0):
                row[f"task dev C={C:g}"] = 0.8 if C == 0.1 else 0.7
                row[f"task test C={C:g}"] = 0.75 if C == 0.1 else 0.6
            row["C"], row["task correct"] = 0.1, [1, 1, 1, 0]
        rows.append(row)
    for seed, task in enumerate((0.6, 0.7, 0.8)):
        row = {"representation": "encoder, random init", "layer": 0, "seed": seed, "C": 0.01,
               "task correct": [1, 0]}
        for C in (0.001, 0.01, 0.1, 1.0):
            row[f"control dev C={C:g}"] = row[f"control test C={C:g}"] = 0.5
            row[f"task dev C={C:g}"] = row[f"task test C={C:g}"] = task
        rows.append(row)
    return pd.DataFrame(rows)


def test_probe_summary_and_capacity_table_read_the_sweep():
    from tlbook.probing import capacity_table, probe_summary

    table = _toy_sweep_table()
    glove = probe_summary(table, "GloVe").loc[0]
    assert glove["C"] == "0.1" and glove["dev"] == pytest.approx(0.8)
    # seed-independent task: bootstrap over the test words, mean 3/4
    assert glove["task"].mean == pytest.approx(0.75) and glove["task"].n == 4
    assert glove["control"].mean == pytest.approx(0.52) and glove["control"].n == 3
    assert glove["selectivity"].mean == pytest.approx(0.23)
    assert glove["selectivity"].half_width == pytest.approx(glove["control"].half_width)
    random = probe_summary(table, "encoder, random init").loc[0]
    assert random["task"].mean == pytest.approx(0.7) and random["task"].n == 3
    assert random["selectivity"].mean == pytest.approx(0.2)
    cap = capacity_table(table, "GloVe", 0)
    assert list(cap.index) == [0.001, 0.01, 0.1, 1.0]
    assert cap.loc[1.0, "control"].mean == pytest.approx(0.62)
    assert cap.loc[0.1, "task"] == pytest.approx(0.75)
    assert cap.loc[1.0, "selectivity"].mean == pytest.approx(0.6 - 0.62)
    with pytest.raises(ValueError, match="no rows"):
        capacity_table(table, "biLM", 0)
    with pytest.raises(TypeError, match="sweep_table"):
        probe_summary(table.drop(columns="seed"), "GloVe")


def test_plot_capacity_draws_task_and_control_per_panel():
    from tlbook.probing import capacity_table, plot_capacity

    cap = capacity_table(_toy_sweep_table(), "GloVe", 0)
    axes = plot_capacity({"layer 0": cap, "again": cap})
    assert len(axes) == 2 and axes[0].get_xscale() == "log"
    assert axes[0].get_legend_handles_labels()[1] == ["POS task", "control (3 seeds)"]
    with pytest.raises(ValueError, match="non-empty"):
        plot_capacity({})


def test_every_recorded_probe_converged_and_chose_a_grid_capacity():
    """The record proves the probes ran to convergence: probe_cell turns a
    ConvergenceWarning into an error, and no fit needed the whole budget."""
    from tlbook import sweeps
    from tlbook.probing import PROBE_CS

    table = sweeps.load("ch5-probes")
    assert (table["iterations"] < 1000).all()
    assert set(table["C"].dropna()) <= set(PROBE_CS)


def test_self_similarity_known_answers():
    """A static layer (one vector per type) has self-similarity 1; a layer whose
    occurrences of a word point in orthogonal directions has 0; anisotropy is the
    mean cosine over all token pairs, checked against the direct double loop."""
    from tlbook.probing import self_similarity

    words = ["a", "b", "a", "b", "A", "c"]
    static = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]], float)
    orthogonal = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]],
                          float)
    table = self_similarity(np.stack([static, orthogonal]), words, min_count=2)
    assert table.loc[0, "self_similarity"] == pytest.approx(1.0)
    assert table.loc[1, "self_similarity"] == pytest.approx(0.0)
    assert table["types"].tolist() == [2, 2]  # "a" (3 with "A") and "b"; "c" once
    rng = np.random.default_rng(6)
    x = rng.normal(size=(6, 4)) + 1.0
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    pairs = [unit[i] @ unit[j] for i in range(6) for j in range(6) if i != j]
    one = self_similarity(x, words, min_count=2).loc[0]
    assert one["anisotropy"] == pytest.approx(np.mean(pairs))
    a_pairs = [unit[i] @ unit[j] for i in (0, 2, 4) for j in (0, 2, 4) if i != j]
    b_pair = unit[1] @ unit[3]
    assert one["self_similarity"] == pytest.approx((np.mean(a_pairs) + b_pair) / 2)
    assert one["adjusted"] == pytest.approx(one["self_similarity"] - one["anisotropy"])
    with pytest.raises(ValueError, match="min_count"):
        self_similarity(x, words, min_count=1)
    with pytest.raises(ValueError, match="no word type"):
        self_similarity(x, words, min_count=4)
    with pytest.raises(ValueError, match="features must have shape"):
        self_similarity(x[:5], words)
