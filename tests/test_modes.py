"""Tests of tlbook.modes: the draws, budgets and measurements of the closing
chapter's comparison, on the real data and models (the cheap modes)."""

from __future__ import annotations

import numpy as np
import pytest

from tlbook import modes


def test_the_draw_is_chapter_11s_and_never_touches_the_test_sentences():
    from tlbook.strategies import splits

    train, validation, test = splits()
    subset, val, tst = modes.labelled_draw(32, 1)
    assert len(subset) == 32 and len(val) == len(validation) and len(tst) == len(test)
    # the first 32 of a seeded shuffle, as sweep ch11-dapt draws them
    pick = sorted(np.random.default_rng(1).permutation(len(train))[:32].tolist())
    assert list(subset["text"]) == [train[i]["text"] for i in pick]
    assert not set(subset["text"]) & set(tst["text"])
    # a larger budget from the same seed keeps the smaller draw: labels are only added
    assert set(subset["text"]) <= set(modes.labelled_draw(128, 1)[0]["text"])
    assert list(modes.labelled_draw(32, 2)[0]["text"]) != list(subset["text"])
    for bad in (1, 801, 2.5):
        with pytest.raises(ValueError, match="labels"):
            modes.labelled_draw(bad, 0)


@pytest.mark.parametrize("labels", modes.BUDGETS)
def test_every_budget_gets_about_the_same_steps_and_at_least_one_pass(labels):
    epochs = modes.epochs_for(labels)
    batches = -(-labels // 16)
    steps = epochs * batches
    assert epochs >= 1
    # as close to STEPS as whole passes allow, or one pass when that is more
    assert abs(steps - modes.STEPS) <= batches / 2 or (epochs == 1 and steps > modes.STEPS)
    with pytest.raises(ValueError):
        modes.epochs_for(0)


def test_words_cut_punctuation_as_brown_does():
    assert modes.words("it's bad, really.") == ["it's", "bad", ",", "really", "."]
    assert modes.words("") == ["."]


def test_bilm_sentence_vectors_average_every_layer_and_word():
    from tlbook.bilm import contextual_vectors, load_shipped_bilm

    bilm = load_shipped_bilm()
    texts = ["a fine film .", "dull"]
    vectors = modes.bilm_sentence_vectors(bilm, texts)
    layers = contextual_vectors(bilm, [modes.words(t) for t in texts])
    assert vectors.shape == (2, layers[0].shape[-1])
    assert np.allclose(vectors[0], layers[0].mean(axis=(0, 1)), atol=1e-6)


def test_a_linear_mode_measures_what_the_table_shows():
    out = modes.mode_cell({"method": "TF-IDF", "labels": 32}, 0)
    assert len(out["correct"]) == 500
    assert out["accuracy"] == pytest.approx(np.mean(out["correct"]))
    assert 0 <= out["validation accuracy"] <= 1 and out["steps"] == 0
    # logistic regression on the n-grams of 32 sentences: one weight per n-gram, one bias
    from sklearn.feature_extraction.text import TfidfVectorizer

    subset = modes.labelled_draw(32, 0)[0]
    n_grams = len(TfidfVectorizer(ngram_range=(1, 2)).fit(subset["text"]).vocabulary_)
    assert out["trainable"] == n_grams + 1
    assert out["bytes"] > 8 * n_grams  # the stored vocabulary and weights
    assert out["train seconds"] > 0 and out["label seconds per 1000"] > 0
    assert modes.mode_cell({"method": "TF-IDF", "labels": 32}, 0)["correct"] == out["correct"]


def test_the_frozen_encoder_reads_the_chapter_1_sentence_vectors():
    from tlbook.embeddings import sentence_embeddings
    from tlbook.models import load_encoder

    texts = ["a fine film", "a dull, long film"]
    assert np.allclose(modes.sentence_features("frozen encoder", texts),
                       sentence_embeddings(*load_encoder(), texts), atol=1e-6)
    assert modes.sentence_features("TF-IDF", texts) == texts
    out = modes.mode_cell({"method": "frozen encoder", "labels": 32}, 0)
    assert out["trainable"] == 384 + 1


def test_bad_configs_are_refused_before_any_work():
    for bad, error in [([1], TypeError), ({"method": "TF-IDF"}, ValueError),
                       ({"method": "magic", "labels": 32}, ValueError),
                       ({"method": "TF-IDF", "labels": 32, "lr": 1e-3}, ValueError),
                       ({"method": "LoRA", "labels": 32, "lr": -1.0}, ValueError),
                       ({"method": "LoRA", "labels": 32, "steps": 3}, ValueError),
                       ({"method": "LoRA", "labels": 10**5}, ValueError)]:
        with pytest.raises(error):
            modes.mode_cell(bad, 0)
    with pytest.raises(ValueError, match="seed"):
        modes.mode_cell({"method": "TF-IDF", "labels": 32}, -1)


def test_the_sweeps_cover_every_mode_and_budget():
    from tlbook import sweeps

    grid = sweeps.SWEEPS["ch13-modes"].grid + sweeps.SWEEPS["ch12-lm-lora"].grid
    assert {c["method"] for c in grid} == set(modes.MODES)
    for method in modes.MODES:
        assert {c["labels"] for c in grid if c["method"] == method} == set(modes.BUDGETS)
    assert set(sweeps._MODE_METRICS) == {"accuracy", "validation accuracy", "trainable",
                                         "bytes", "train seconds", "label seconds per 1000",
                                         "steps", "correct"}


def test_the_chat_models_rate_is_the_one_best_on_validation_in_the_record():
    from tlbook import sweeps

    table = sweeps.load("ch12-lm-lora")
    at_128 = table[table["labels"] == 128].groupby("lr")["validation accuracy"].mean()
    assert len(at_128) == 4
    assert modes.RATES[modes.LM_MODE] == sweeps._LM_LR == at_128.idxmax()
    others = [c for c in sweeps.SWEEPS["ch12-lm-lora"].grid if c["labels"] != 128]
    assert {c["lr"] for c in others} == {sweeps._LM_LR}
