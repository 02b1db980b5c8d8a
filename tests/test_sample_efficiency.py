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
