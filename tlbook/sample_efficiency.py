"""Learning curves: accuracy as a function of the number of labelled examples.

Used in chapter "Why transfer learning" to compare a model that starts from
nothing (TF-IDF + logistic regression) with one that starts from a pretrained
encoder's sentence vectors (+ the same logistic regression).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer

from . import _validate as _v

__all__ = ["balanced_subsample", "learning_curve", "summarize_curve",
           "tfidf_classifier", "embedding_classifier"]


def balanced_subsample(labels: Sequence[int], n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` examples, as equal a share of each class as possible.

    With very few examples a plain random sample can miss a class entirely;
    drawing per class keeps every training set usable.

    Args:
        labels: class of each example, shape ``(n_examples,)``.
        n: how many indices to return (at least the number of classes).
        seed: seed of the draw; the same seed gives the same indices.

    Returns:
        Sorted int array ``(n,)`` of distinct indices.

    Raises:
        ValueError: ``labels`` empty or not 1-D, ``n`` not an int between
            the number of classes and of examples, ``seed`` not an int >= 0,
            or a class with fewer examples than its share.
    """
    if isinstance(labels, str):
        raise _v.ArgumentTypeError("labels must be a sequence of class labels, not one str")
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D sequence, got shape {labels.shape}")
    classes = np.unique(labels)
    _v.integer("n", n, len(classes), len(labels),
               rule=f"an int between {len(classes)} and {len(labels)}")
    _v.non_negative_int("seed", seed)
    rng = np.random.default_rng(seed)
    share = np.full(len(classes), n // len(classes))
    share[: n % len(classes)] += 1
    picked = []
    for c, k in zip(classes, share):
        pool = np.flatnonzero(labels == c)
        if k > len(pool):
            raise ValueError(f"class {c!r} has only {len(pool)} examples, {k} requested")
        picked.append(rng.choice(pool, size=k, replace=False))
    return np.sort(np.concatenate(picked))


def tfidf_classifier(C: float = 10.0):
    """TF-IDF on word uni- and bi-grams + logistic regression: learns only from
    the labelled examples it is given.

    Raises:
        ValueError: ``C`` is not a positive finite number.
    """
    _v.positive_float("C", C)
    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
                         LogisticRegression(C=C, max_iter=2000))


def embedding_classifier(C: float = 1.0):
    """Unit-length sentence vectors + logistic regression (the encoder was
    trained to compare sentences by cosine, so only directions matter).

    Raises:
        ValueError: ``C`` is not a positive finite number.
    """
    _v.positive_float("C", C)
    return make_pipeline(Normalizer(), LogisticRegression(C=C, max_iter=2000))


def _take(X, idx):
    if isinstance(X, np.ndarray):
        return X[idx]
    return [X[i] for i in idx]


def learning_curve(models: dict[str, tuple[Callable[[], object], object, object]],
                   y_train: Sequence[int], y_test: Sequence[int], sizes: Sequence[int],
                   seeds: Sequence[int]) -> pd.DataFrame:
    """Train every model on growing balanced subsets and score it on the test set.

    All models see the same subset for a given (size, seed), so differences
    come from the representation, not from which examples were drawn.

    Args:
        models: ``{name: (make_estimator, X_train, X_test)}``; ``X_*`` are lists
            of texts or arrays ``(n, dim)`` aligned with ``y_train`` / ``y_test``.
        y_train, y_test: labels.
        sizes: training-set sizes.
        seeds: one run per seed and size.

    Returns:
        DataFrame with columns ``model, size, seed, accuracy``.

    Raises:
        TypeError: ``models`` is not a dict of ``(make_estimator, X_train,
            X_test)`` triples with a callable first.
        ValueError: no model, no size or seed, a size or seed that is not
            an int, features not aligned with their labels (and what
            :func:`balanced_subsample` raises), all before any training.
    """
    if not isinstance(models, dict):
        raise _v.ArgumentTypeError(f"models must be a dict of name -> (make_estimator, "
                                   f"X_train, X_test), got {type(models).__name__}")
    if not models:
        raise ValueError("models must name at least one model")
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    for name, entry in models.items():
        if not isinstance(entry, tuple) or len(entry) != 3 or not callable(entry[0]):
            raise _v.ArgumentTypeError(f"models[{name!r}] must be a triple (make_estimator, "
                                       f"X_train, X_test) with a callable first, got "
                                       f"{type(entry).__name__}")
        _v.same_length(f"models[{name!r}] X_train", entry[1], "y_train", y_train)
        _v.same_length(f"models[{name!r}] X_test", entry[2], "y_test", y_test)
    _v.non_empty("sizes", sizes, "size")
    _v.non_empty("seeds", seeds, "seed")
    for size in sizes:
        _v.integer("each of sizes", size, len(np.unique(y_train)), len(y_train))
    for seed in seeds:
        _v.non_negative_int("each of seeds", seed)
    rows = []
    for size in sizes:
        for seed in seeds:
            idx = balanced_subsample(y_train, size, seed)
            for name, (make, X_train, X_test) in models.items():
                est = clone(make()).fit(_take(X_train, idx), y_train[idx])
                acc = float(np.mean(est.predict(X_test) == y_test))
                rows.append({"model": name, "size": int(size), "seed": int(seed),
                             "accuracy": acc})
    return pd.DataFrame(rows)


def summarize_curve(curve: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of accuracy per model and size.

    Returns:
        DataFrame indexed by ``size`` with columns ``(model, "mean"|"std")``.

    Raises:
        TypeError: ``curve`` is not a DataFrame with columns ``model``,
            ``size`` and ``accuracy`` (as :func:`learning_curve` returns).
    """
    if not isinstance(curve, pd.DataFrame) or not {"model", "size", "accuracy"} <= set(
            curve.columns):
        raise _v.ArgumentTypeError(f"curve must be a DataFrame with columns model, size and "
                                   f"accuracy (from learning_curve), got {type(curve).__name__}")
    table = curve.groupby(["size", "model"])["accuracy"].agg(["mean", "std"]).unstack("model")
    return table.swaplevel(axis=1).sort_index(axis=1)
