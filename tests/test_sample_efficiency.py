import numpy as np
import pytest
import torch

from tlbook.embeddings import mean_pool, sentence_embeddings
from tlbook.models import load_encoder
from tlbook.sample_efficiency import (balanced_subsample, embedding_classifier,
                                      learning_curve, summarize_curve, tfidf_classifier)


def test_balanced_subsample_properties():
    labels = np.array([0] * 90 + [1] * 10)
    idx = balanced_subsample(labels, 16, seed=1)
    assert len(idx) == len(set(idx)) == 16
    assert (labels[idx] == 1).sum() == 8
    assert np.array_equal(idx, balanced_subsample(labels, 16, seed=1))
    assert not np.array_equal(idx, balanced_subsample(labels, 16, seed=2))
    assert (labels[balanced_subsample(labels, 5, seed=0)] == 0).sum() == 3
    with pytest.raises(ValueError, match="only 10 examples"):
        balanced_subsample(labels, 30, seed=0)
    with pytest.raises(ValueError, match="n must be"):
        balanced_subsample(labels, 1, seed=0)


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.allclose(mean_pool(hidden, mask), torch.tensor([[2.0, 3.0]]))


def test_sentence_embeddings_order_and_padding_invariance():
    model, tok = load_encoder(profile="lite")
    texts = ["a gripping, beautiful film", "dull", "the plot makes no sense at all, sadly"]
    batched = sentence_embeddings(model, tok, texts, batch_size=3)
    single = np.stack([sentence_embeddings(model, tok, [t])[0] for t in texts])
    assert batched.shape == (3, 384)
    np.testing.assert_allclose(batched, single, atol=1e-5)  # sorting + padding change nothing
    cls = sentence_embeddings(model, tok, texts, pooling="cls", normalize=True)
    np.testing.assert_allclose(np.linalg.norm(cls, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="pooling"):
        sentence_embeddings(model, tok, texts, pooling="max")
    with pytest.raises(TypeError, match="sequence of str"):
        sentence_embeddings(model, tok, "one string")


def test_learning_curve_on_a_tiny_separable_task():
    pos = ["great fun", "wonderful acting", "great story", "wonderful film", "great cast"]
    neg = ["awful mess", "boring plot", "awful script", "boring film", "awful cast"]
    texts, y = pos + neg, [1] * 5 + [0] * 5
    test_texts, y_test = ["great plot", "awful fun"], [1, 0]
    X = np.array([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 5)
    X_test = np.array([[1.0, 0.0], [0.0, 1.0]])
    curve = learning_curve({"tfidf": (tfidf_classifier, texts, test_texts),
                            "emb": (embedding_classifier, X, X_test)},
                           y, y_test, sizes=[4, 10], seeds=[0, 1])
    assert len(curve) == 2 * 2 * 2
    assert set(curve.columns) == {"model", "size", "seed", "accuracy"}
    assert (curve[curve["size"] == 10]["accuracy"] == 1.0).all()
    table = summarize_curve(curve)
    assert list(table.index) == [4, 10]
    assert table[("emb", "mean")].loc[10] == 1.0
    with pytest.raises(ValueError, match="models"):
        learning_curve({}, y, y_test, [4], [0])


def test_tuning_keeps_the_fit_with_the_best_validation_accuracy():
    """For every (size, seed) the recorded C is the one whose fit scores best on the
    validation set (the smallest such C on a tie), and the test accuracy is that fit's."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 8))
    y = (X[:, 0] + X[:, 1] + rng.normal(scale=1.5, size=400) > 0).astype(int)
    X_tr, y_tr, X_val, y_val, X_te, y_te = X[:200], y[:200], X[200:300], y[200:300], X[300:], y[300:]
    Cs = [1e-3, 1e-1, 10.0]
    curve = learning_curve({"emb": (embedding_classifier, X_tr, X_te, X_val)}, y_tr, y_te,
                           sizes=[20, 80], seeds=[0, 1, 2], y_validation=y_val, Cs=Cs)
    assert set(curve.columns) == {"model", "size", "seed", "C", "accuracy"}
    for row in curve.itertuples():
        idx = balanced_subsample(y_tr, row.size, row.seed)
        fits = {C: embedding_classifier(C).fit(X_tr[idx], y_tr[idx]) for C in Cs}
        val = {C: np.mean(f.predict(X_val) == y_val) for C, f in fits.items()}
        assert row.C == min(C for C in Cs if val[C] == max(val.values()))
        assert row.accuracy == np.mean(fits[row.C].predict(X_te) == y_te)
    with pytest.raises(ValueError, match="validation"):
        learning_curve({"emb": (embedding_classifier, X_tr, X_te, X_val)}, y_tr, y_te,
                       sizes=[20], seeds=[0], Cs=[1.0])


def test_summary_intervals_and_paired_gap():
    import pandas as pd

    from tlbook.sample_efficiency import paired_gap

    rows = [{"model": m, "size": 16, "seed": s, "accuracy": acc + (0.1 if m == "a" else 0)}
            for s, acc in enumerate([0.5, 0.6, 0.7]) for m in ("a", "b")]
    curve = pd.DataFrame(rows)
    table = summarize_curve(curve)
    # the unpaired spread is wide, t(2) * 0.1 / sqrt(3) ...
    assert table[("a", "±")].loc[16] == pytest.approx(4.302653 * 0.1 / np.sqrt(3), rel=1e-5)
    # ... but a constant paired gap of 0.1 has no spread at all: resolved
    gap = paired_gap(curve, "a", "b")
    assert gap.loc[16, "gap"] == pytest.approx(0.1) and gap.loc[16, "±"] == pytest.approx(0)
    assert bool(gap.loc[16, "resolved"])
    with pytest.raises(ValueError, match="'c'"):
        paired_gap(curve, "a", "c")


def test_averaged_word_vectors_skips_unknown_words():
    from gensim.models import KeyedVectors

    from tlbook.embeddings import averaged_word_vectors

    kv = KeyedVectors(vector_size=2)
    kv.add_vectors(["good", "film", "isn't"], np.array([[1, 0], [0, 1], [2, 2]], dtype=np.float32))
    out = averaged_word_vectors(kv, ["A GOOD film!", "zzz qqq", "it isn't"])
    assert out.shape == (3, 2) and out.dtype == np.float32
    assert out[0].tolist() == [0.5, 0.5] and out[1].tolist() == [0, 0] and out[2].tolist() == [2, 2]
    with pytest.raises(TypeError, match="keyed_vectors"):
        averaged_word_vectors({"good": [1, 0]}, ["good"])
