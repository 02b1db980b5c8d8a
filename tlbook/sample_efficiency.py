"""Learning curves: accuracy as a function of the number of labelled examples.

Used in chapter "Why transfer learning" to compare a model that starts from
nothing (TF-IDF + logistic regression) with one that starts from a pretrained
encoder's sentence vectors (+ the same logistic regression).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer

from . import _validate as _v

__all__ = ["balanced_subsample", "learning_curve", "summarize_curve", "paired_gap",
           "curve_cell", "recorded_curve", "tuned_classifier", "tuned_predictions",
           "CURVE_MODELS", "CURVE_CS", "tfidf_classifier", "embedding_classifier"]


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


def tuned_classifier(make, Cs: Sequence[float], X_train, y_train, X_val, y_val):
    """``(C, fitted estimator)``: the fit whose validation accuracy is best (the
    smallest such C). A pipeline's steps before the classifier do not depend on
    C, so they are fitted once and only the classifier once per C; the
    returned pipeline holds those fitted steps and the chosen classifier.

    Args:
        make: ``make(C=...)`` returns an unfitted estimator or pipeline.
        Cs: the regularisation strengths to choose from.
    """
    from sklearn.pipeline import Pipeline

    first = make(C=Cs[0])
    split = isinstance(first, Pipeline) and len(first.steps) > 1
    if split:
        features = Pipeline(clone(first).steps[:-1]).fit(X_train, y_train)
        X_train, X_val = (features.transform(X) for X in (X_train, X_val))
    best = None
    for C in Cs:
        est = make(C=C)
        est = clone(est.steps[-1][1] if split else est).fit(X_train, y_train)
        score = float(np.mean(est.predict(X_val) == np.asarray(y_val)))
        if best is None or score > best[0]:
            best = (score, C, est)
    _, C, est = best
    if split:
        est = Pipeline(features.steps + [(first.steps[-1][0], est)])
    return C, est


def tuned_predictions(make, Cs: Sequence[float], X_train, y_train, X_val, y_val, X_test
                      ) -> tuple[float, np.ndarray]:
    """``(C, test predictions)`` of :func:`tuned_classifier`."""
    C, est = tuned_classifier(make, Cs, X_train, y_train, X_val, y_val)
    return C, est.predict(X_test)


def _tuned_accuracy(make, Cs, X_train, y_train, X_val, y_val, X_test, y_test
                    ) -> tuple[float, float]:
    """``(C, test accuracy)`` of :func:`tuned_predictions`."""
    C, pred = tuned_predictions(make, Cs, X_train, y_train, X_val, y_val, X_test)
    return C, float(np.mean(pred == np.asarray(y_test)))


def learning_curve(models: dict[str, tuple], y_train: Sequence[int], y_test: Sequence[int],
                   sizes: Sequence[int], seeds: Sequence[int],
                   y_validation: Sequence[int] | None = None,
                   Cs: Sequence[float] | None = None) -> pd.DataFrame:
    """Train every model on growing balanced subsets and score it on the test set.

    All models see the same subset for a given (size, seed), so differences
    come from the representation, not from which examples were drawn.

    With ``Cs`` every model is tuned the same way: for each subset it is
    fitted once per regularisation strength ``C`` (each ``make(C=C)``), the
    fit with the best validation accuracy is kept (ties: the smaller ``C``,
    the stronger regularisation), and only that one is scored on the test set.

    Args:
        models: ``{name: (make_estimator, X_train, X_test)}``, or with ``Cs``
            ``{name: (make_estimator, X_train, X_test, X_validation)}``;
            ``X_*`` are lists of texts or arrays ``(n, dim)`` aligned with
            their labels.
        y_train, y_test: labels.
        sizes: training-set sizes.
        seeds: one run per seed and size.
        y_validation: labels of the validation examples (with ``Cs``).
        Cs: regularisation strengths to choose from on validation.

    Returns:
        DataFrame with columns ``model, size, seed, accuracy`` (and ``C``,
        the chosen strength, with ``Cs``).

    Raises:
        TypeError: ``models`` is not a dict of such tuples with a callable
            first.
        ValueError: no model, no size or seed, a size or seed that is not
            an int, features not aligned with their labels, ``Cs`` without
            validation data or with a value that is not a positive number
            (and what :func:`balanced_subsample` raises), all before any
            training.
    """
    if not isinstance(models, dict):
        raise _v.ArgumentTypeError(f"models must be a dict of name -> (make_estimator, "
                                   f"X_train, X_test), got {type(models).__name__}")
    if not models:
        raise ValueError("models must name at least one model")
    tuned = Cs is not None
    width = 4 if tuned else 3
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if tuned:
        _v.non_empty("Cs", Cs, "C")
        Cs = sorted(_v.positive_float("each of Cs", C) for C in Cs)
        if y_validation is None:
            raise ValueError("Cs needs validation data: pass y_validation and give each model "
                             "a fourth element, X_validation")
        y_validation = np.asarray(y_validation)
    for name, entry in models.items():
        if not isinstance(entry, tuple) or len(entry) != width or not callable(entry[0]):
            shape = "(make_estimator, X_train, X_test" + (", X_validation)" if tuned else ")")
            raise _v.ArgumentTypeError(f"models[{name!r}] must be a tuple {shape} with a "
                                       f"callable first, got {type(entry).__name__} of "
                                       f"{len(entry) if isinstance(entry, tuple) else '?'}")
        _v.same_length(f"models[{name!r}] X_train", entry[1], "y_train", y_train)
        _v.same_length(f"models[{name!r}] X_test", entry[2], "y_test", y_test)
        if tuned:
            _v.same_length(f"models[{name!r}] X_validation", entry[3], "y_validation",
                           y_validation)
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
            for name, (make, X_train, X_test, *X_val) in models.items():
                X_sub, y_sub = _take(X_train, idx), y_train[idx]
                row = {"model": name, "size": int(size), "seed": int(seed)}
                if tuned:
                    row["C"], row["accuracy"] = _tuned_accuracy(
                        make, Cs, X_sub, y_sub, X_val[0], y_validation, X_test, y_test)
                else:
                    est = clone(make()).fit(X_sub, y_sub)
                    row["accuracy"] = float(np.mean(est.predict(X_test) == y_test))
                rows.append(row)
    return pd.DataFrame(rows)


def summarize_curve(curve: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Mean accuracy per model and size, with its interval over the seeds.

    Returns:
        DataFrame indexed by ``size`` with columns ``(model, "mean"|"±"|"std")``:
        the mean, the half-width of the Student-t interval at ``level``
        (:func:`tlbook.stats.seed_interval`; 0 with one seed) and the
        standard deviation over the seeds.

    Raises:
        TypeError: ``curve`` is not a DataFrame with columns ``model``,
            ``size`` and ``accuracy`` (as :func:`learning_curve` returns).
    """
    from .stats import seed_interval

    if not isinstance(curve, pd.DataFrame) or not {"model", "size", "accuracy"} <= set(
            curve.columns):
        raise _v.ArgumentTypeError(f"curve must be a DataFrame with columns model, size and "
                                   f"accuracy (from learning_curve), got {type(curve).__name__}")

    def half_width(values) -> float:
        return seed_interval(values, level).half_width if len(values) > 1 else 0.0

    table = curve.groupby(["size", "model"])["accuracy"].agg(
        ["mean", ("±", half_width), "std"]).unstack("model")
    return table.swaplevel(axis=1).sort_index(axis=1, level=0, sort_remaining=False)


def paired_gap(curve: pd.DataFrame, better: str, worse: str, level: float = 0.95) -> pd.DataFrame:
    """Per size, the accuracy difference ``better - worse`` over the same draws.

    Both models saw the same training subset for each (size, seed), so the
    difference is taken seed by seed and its interval is over those paired
    differences (:func:`tlbook.stats.seed_interval`), much tighter than two
    unpaired intervals.

    Returns:
        DataFrame indexed by ``size`` with columns ``gap``, ``±`` and
        ``resolved`` (the interval excludes zero).
    """
    from .stats import seed_interval

    if not isinstance(curve, pd.DataFrame) or not {"model", "size", "seed", "accuracy"} <= set(
            curve.columns):
        raise _v.ArgumentTypeError("curve must be a learning_curve DataFrame")
    wide = curve.pivot_table(index=["size", "seed"], columns="model", values="accuracy")
    for name in (better, worse):
        if name not in wide.columns:
            raise ValueError(f"model {name!r} is not in the curve; it has {list(wide.columns)}")
    diff = (wide[better] - wide[worse]).groupby(level="size")
    rows = {}
    for size, values in diff:
        iv = seed_interval(values.to_numpy(), level)
        rows[size] = {"gap": iv.mean, "±": iv.half_width, "resolved": iv.low > 0 or iv.high < 0}
    return pd.DataFrame(rows).T.astype({"gap": float, "±": float, "resolved": bool})


CURVE_MODELS = {"scratch (TF-IDF)": "text", "static (GloVe average)": "glove",
                "pretrained (MiniLM)": "encoder"}
"""The three learners of chapter "Why transfer learning" and the features each reads."""

CURVE_CS = (0.01, 0.1, 1.0, 10.0, 100.0)
"""The regularisation strengths every learner chooses among on the validation split."""


@lru_cache(maxsize=1)
def _movie_features():
    """Labels and the three kinds of features of the chapter's pool, validation and
    test sentences, computed once per process (the profile's sizes)."""
    from .data import load_movie_sentiment
    from .embeddings import averaged_word_vectors, sentence_embeddings
    from .models import load_encoder, load_glove
    from .profiles import get_profile

    ds = load_movie_sentiment()
    n_pool = get_profile().sizes["pool_size"]
    splits = {"pool": ds["train"].select(range(n_pool)) if n_pool else ds["train"],
              "validation": ds["validation"], "test": ds["test"]}
    encoder, tokenizer = load_encoder()
    glove = load_glove()
    features = {"text": {k: list(v["text"]) for k, v in splits.items()},
                "encoder": {k: sentence_embeddings(encoder, tokenizer, v["text"])
                            for k, v in splits.items()},
                "glove": {k: averaged_word_vectors(glove, v["text"]) for k, v in splits.items()}}
    labels = {k: np.asarray(v["label"]) for k, v in splits.items()}
    return features, labels


def curve_cell(config: dict, seed: int) -> dict[str, float]:
    """One point of chapter "Why transfer learning"'s learning curve for every learner
    (a cell of the recorded sweep ``ch1-learning-curve``, :mod:`tlbook.sweeps`).

    Args:
        config: ``{"size": n}``, the number of labelled training sentences.
        seed: the balanced draw of those sentences.

    Returns:
        Test accuracy of each learner of :data:`CURVE_MODELS` (C tuned on
        validation among :data:`CURVE_CS`), and the C each chose
        (``"C <name>"``).
    """
    features, labels = _movie_features()
    curve = learning_curve(
        {name: (tfidf_classifier if kind == "text" else embedding_classifier,
                features[kind]["pool"], features[kind]["test"], features[kind]["validation"])
         for name, kind in CURVE_MODELS.items()},
        labels["pool"], labels["test"], sizes=[config["size"]], seeds=[seed],
        y_validation=labels["validation"], Cs=CURVE_CS)
    out = {row.model: row.accuracy for row in curve.itertuples()}
    out.update({f"C {row.model}": row.C for row in curve.itertuples()})
    return out


def recorded_curve(name: str = "ch1-learning-curve") -> pd.DataFrame:
    """The recorded learning curve in :func:`learning_curve`'s long format
    (``model, size, seed, accuracy, C``), with the record in ``attrs["record"]``."""
    from .sweeps import load

    wide = load(name)
    rows = [{"model": model, "size": int(r["size"]), "seed": int(r["seed"]),
             "accuracy": r[model], "C": r[f"C {model}"]}
            for _, r in wide.iterrows() for model in CURVE_MODELS]
    curve = pd.DataFrame(rows)
    curve.attrs["record"] = wide.attrs["record"]
    return curve

