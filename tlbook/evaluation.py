"""Evaluating a classifier beyond one accuracy: thresholds, curves, errors, leaks.

Used in the section "Fine-tuning in practice" (spam), and useful wherever a
binary classifier's probabilities have to become decisions:

- :func:`threshold_for_recall` and :func:`threshold_for_f1` choose the cut on
  p(positive) from *validation* data; :func:`metrics_at` then scores that cut
  once on the test set. Choosing it on the test set would make the test score
  a score of the choice, not of the model.
- :func:`threshold_curve` gives precision, recall and F1 at every cut, the
  data of a precision-recall curve.
- :func:`weighted_threshold` is the cut that makes an unweighted model decide
  like one trained with class weights ``(w0, w1)``: ``w0 / (w0 + w1)``.
- :func:`confusion_table` is scikit-learn's confusion matrix with names.
- :func:`cross_entropy` and :func:`highest_loss` find the examples a model
  gets most confidently wrong, the start of an error analysis.
- :func:`near_duplicates` finds, for each text of one list, its most similar
  text in another (Jaccard similarity of word shingles), to check that a test
  set does not repeat its training set.
- :func:`paired_seed_difference` compares two systems trained on the same
  seeds through their per-seed differences.
- :func:`spam_splits` and :func:`spam_run` are the section's experiment, a
  fresh encoder fine-tuned on the spam training messages with or without
  class weights; :func:`spam_cell` is one cell of the recorded sweep
  ``ch4b-class-weights`` (:mod:`tlbook.sweeps`).

Probabilities ``probs`` are either ``(n,)`` values of p(positive) or the
``(n, num_labels)`` output of :func:`tlbook.finetune.predict`, as each
function says; labels ``gold`` are ``(n,)`` class ids.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from . import _validate as _v

__all__ = ["metrics_at", "threshold_for_recall", "threshold_for_f1", "threshold_curve",
           "weighted_threshold", "confusion_table", "cross_entropy", "highest_loss",
           "excerpt", "normalise_text", "shingles", "near_duplicates", "SPAM_LR", "spam_splits",
           "spam_run", "spam_cell",
           "paired_seed_difference"]


def _binary(gold, probs) -> tuple[np.ndarray, np.ndarray]:
    """``gold`` as 0/1 ints and ``probs`` as p(positive), checked."""
    _v.non_empty("gold", gold, "label")
    _v.non_empty("probs", probs, "probability")
    y = np.asarray(gold)
    p = np.asarray(probs, dtype=float)
    if y.ndim != 1:
        raise ValueError(f"gold must be 1-D (one label per example), got shape {y.shape}")
    if p.ndim == 2:
        if p.shape[1] != 2:
            raise ValueError("probs must be (n,) p(positive) or (n, 2) class probabilities, "
                             f"got shape {p.shape}")
        p = p[:, 1]
    if p.ndim != 1:
        raise ValueError(f"probs must be (n,) or (n, 2), got shape {p.shape}")
    _v.same_length("gold", y, "probs", p)
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"gold must hold 0/1 labels (1 = positive), got values "
                         f"{sorted(set(y.tolist()))[:10]}")
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise ValueError("probs must be probabilities in [0, 1] (no NaN or inf)")
    return y.astype(int), p


def metrics_at(gold: Sequence[int], probs, threshold: float) -> dict[str, float]:
    """Precision, recall, F1 and false-positive rate of ``probs >= threshold``.

    Args:
        gold: ``(n,)`` 0/1 labels, 1 the positive class (spam).
        probs: ``(n,)`` p(positive) or ``(n, 2)`` class probabilities.
        threshold: the cut in [0, 1]; an example is positive when its
            p(positive) is at least ``threshold``.

    Returns:
        ``{"precision", "recall", "f1", "specificity", "false_positive_rate",
        "flagged"}``: ``specificity`` is the recall of the negative class (ham
        kept in the inbox), ``false_positive_rate`` its complement (ham sent
        to the spam folder), ``flagged`` the number of examples called
        positive. A ratio of 0/0 is reported as 0.
    """
    y, p = _binary(gold, probs)
    _v.probability("threshold", threshold)
    pred = p >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    n_pos, n_neg, flagged = int(y.sum()), int((y == 0).sum()), int(pred.sum())
    precision = tp / flagged if flagged else 0.0
    recall = tp / n_pos if n_pos else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "specificity": (n_neg - fp) / n_neg if n_neg else 0.0,
            "false_positive_rate": fp / n_neg if n_neg else 0.0, "flagged": flagged}


def threshold_for_recall(gold: Sequence[int], probs, recall: float = 0.95) -> float:
    """The largest threshold whose recall on ``(gold, probs)`` is at least ``recall``.

    With ``m`` positives, at least ``k = ceil(recall * m)`` of them must reach
    the threshold, so it is the ``k``-th largest p(positive) among the
    positives: any higher cut loses one of them.

    Args:
        gold: ``(n,)`` 0/1 validation labels with at least one positive.
        probs: ``(n,)`` p(positive) or ``(n, 2)`` class probabilities.
        recall: the recall to reach, in (0, 1].

    Raises:
        ValueError: no positive example, or ``recall`` outside (0, 1].
    """
    y, p = _binary(gold, probs)
    _v.real("recall", recall, 0, 1, low_open=True)
    positives = np.sort(p[y == 1])[::-1]
    if len(positives) == 0:
        raise ValueError("gold has no positive example, so no threshold reaches a recall")
    # The small slack keeps 0.95 * 20 = 19 from becoming 19.000000000000004 -> 20.
    k = max(1, math.ceil(recall * len(positives) - 1e-9))
    return float(positives[k - 1])


def threshold_curve(gold: Sequence[int], probs):
    """Precision, recall and F1 at every distinct threshold, highest recall first.

    Returns:
        A pandas ``DataFrame`` with columns ``threshold``, ``precision``,
        ``recall``, ``f1``, one row per distinct value of p(positive) (the cut
        at that value), thresholds increasing; plot ``recall`` against
        ``precision`` for the precision-recall curve.
    """
    import pandas as pd

    y, p = _binary(gold, probs)
    cuts = np.unique(p)
    # For each cut, count the examples at or above it with a reverse cumulative sum.
    order = np.searchsorted(cuts, p)
    pos_at = np.bincount(order, weights=y, minlength=len(cuts))
    all_at = np.bincount(order, minlength=len(cuts))
    tp = np.cumsum(pos_at[::-1])[::-1]
    flagged = np.cumsum(all_at[::-1])[::-1]
    precision = tp / flagged
    recall = tp / y.sum() if y.sum() else np.zeros_like(tp)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return pd.DataFrame({"threshold": cuts, "precision": precision, "recall": recall, "f1": f1})


def threshold_for_f1(gold: Sequence[int], probs) -> float:
    """The threshold with the highest F1 on ``(gold, probs)`` (the highest such
    threshold if several tie).

    Raises:
        ValueError: no positive example (every F1 is 0).
    """
    y, p = _binary(gold, probs)
    if y.sum() == 0:
        raise ValueError("gold has no positive example, so every threshold has F1 = 0")
    curve = threshold_curve(y, p)
    best = curve["f1"].to_numpy()
    return float(curve["threshold"].to_numpy()[np.flatnonzero(best == best.max())[-1]])


def weighted_threshold(class_weights: Sequence[float]) -> float:
    """The cut on an unweighted model's p(positive) that decides like class weights.

    Training with weights ``(w0, w1)`` on the two classes moves the
    loss-minimising probability from ``p`` to ``w1 p / (w1 p + w0 (1 - p))``;
    that crosses 0.5 exactly when ``p >= w0 / (w0 + w1)``.

    Args:
        class_weights: ``(w0, w1)``, two positive numbers (e.g. from
            :func:`tlbook.finetune.class_weights_for`).
    """
    if isinstance(class_weights, (str, bytes)) or not hasattr(class_weights, "__len__"):
        raise _v.ArgumentTypeError(f"class_weights must be a pair (w0, w1) of positive numbers, "
                                   f"got {class_weights!r}")
    if len(class_weights) != 2:
        raise ValueError(f"class_weights must be a pair (w0, w1), got {len(class_weights)} "
                         "values")
    w0 = _v.positive_float("class_weights[0]", class_weights[0])
    w1 = _v.positive_float("class_weights[1]", class_weights[1])
    return float(w0 / (w0 + w1))


def confusion_table(gold: Sequence[int], pred: Sequence[int],
                    names: Sequence[str] = ("ham", "spam")):
    """The confusion matrix as a table: rows the true class, columns the predicted one.

    Args:
        gold, pred: ``(n,)`` class ids in ``0 .. len(names) - 1``.
        names: one name per class, in id order.

    Returns:
        A pandas ``DataFrame`` of counts, index ``true <name>``, columns
        ``predicted <name>``.
    """
    import pandas as pd
    from sklearn.metrics import confusion_matrix

    _v.str_sequence("names", names, allow_empty=False)
    _v.non_empty("gold", gold, "label")
    _v.same_length("gold", gold, "pred", pred)
    k = len(names)
    for arg, values in (("gold", gold), ("pred", pred)):
        _v.whole_labels(arg, values)
        bad = [x for x in values if not 0 <= x < k]
        if bad:
            raise ValueError(f"{arg} must hold class ids 0..{k - 1} (one per name), got {bad[0]!r}")
    matrix = confusion_matrix(np.asarray(gold, dtype=int), np.asarray(pred, dtype=int),
                              labels=list(range(k)))
    return pd.DataFrame(matrix, index=[f"true {n}" for n in names],
                        columns=[f"predicted {n}" for n in names])


def _class_probs(gold, probs) -> tuple[np.ndarray, np.ndarray]:
    _v.non_empty("gold", gold, "label")
    y = np.asarray(gold)
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2:
        raise ValueError(f"probs must be (n, num_labels) class probabilities, got shape {p.shape}")
    _v.same_length("gold", y, "probs", p)
    _v.whole_labels("gold", y.tolist())
    y = y.astype(int)
    if (y < 0).any() or (y >= p.shape[1]).any():
        raise ValueError(f"gold must hold class ids 0..{p.shape[1] - 1}, got "
                         f"{sorted(set(y.tolist()))[:10]}")
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise ValueError("probs must be probabilities in [0, 1] (no NaN or inf)")
    return y, p


def cross_entropy(gold: Sequence[int], probs) -> np.ndarray:
    """Per-example loss ``-log p(gold)``, shape ``(n,)``.

    Args:
        gold: ``(n,)`` class ids.
        probs: ``(n, num_labels)`` class probabilities, as
            :func:`tlbook.finetune.predict` returns them.
    """
    y, p = _class_probs(gold, probs)
    # A probability of exactly 0 (float32 underflow) would give an infinite loss.
    return -np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))


def highest_loss(gold: Sequence[int], probs, k: int = 5) -> np.ndarray:
    """Indices of the ``k`` examples with the highest loss, highest first.

    These are the examples the model is most confidently wrong about; ties
    keep the order of the data.
    """
    losses = cross_entropy(gold, probs)
    _v.positive_int("k", k)
    return np.argsort(-losses, kind="stable")[:k]


def excerpt(text: str, width: int = 70) -> str:
    """``text`` on one line (whitespace runs become one space), cut to ``width``
    characters with ``...`` when longer."""
    _v.string("text", text, allow_empty=True)
    _v.integer("width", width, 4)
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 3].rstrip() + "..."


_WORD = re.compile(r"[a-z0-9]+")
_DIGITS = re.compile(r"[0-9]+")


def normalise_text(text: str) -> list[str]:
    """The words of ``text`` for duplicate detection: lower case, letters and
    digits only, every run of digits replaced by ``0`` (mailings that differ
    only in a number, a date or a tracking id still match)."""
    _v.string("text", text, allow_empty=True)
    return _WORD.findall(_DIGITS.sub("0", text.lower()))


def shingles(text: str, n: int = 5) -> set[str]:
    """The set of word ``n``-grams of ``text`` (after :func:`normalise_text`),
    each as one space-separated string; a text shorter than ``n`` words is
    one shingle, an empty text none."""
    _v.positive_int("n", n)
    words = normalise_text(text)
    if not words:
        return set()
    return {" ".join(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def near_duplicates(queries: Sequence[str], references: Sequence[str], n: int = 5):
    """For each query text, its most similar reference text and their similarity.

    Similarity is the Jaccard index of the two texts' word ``n``-gram sets
    (:func:`shingles`): shared shingles / all distinct shingles of the two,
    1.0 for texts equal after :func:`normalise_text`. The shared counts of
    every pair come from one sparse matrix product (queries x shingles times
    shingles x references), so a few thousand e-mails take seconds.

    Args:
        queries: ``(q,)`` texts to check, e.g. the test set.
        references: ``(r,)`` texts to look in, e.g. the training set.
        n: words per shingle.

    Returns:
        ``(best, similarity)``: ``(q,)`` int indices into ``references``
        (-1 where nothing is shared) and ``(q,)`` floats in [0, 1]. Ties go
        to the lowest index.
    """
    from scipy import sparse

    _v.str_sequence("queries", queries)
    _v.str_sequence("references", references, allow_empty=False)
    _v.positive_int("n", n)
    # A datasets column reads row by row; one list is read once.
    queries, references = list(queries), list(references)
    columns: dict[str, int] = {}

    def incidence(texts, grow: bool):
        rows, cols, sizes = [], [], []
        for i, text in enumerate(texts):
            found = shingles(text, n)
            sizes.append(len(found))
            for h in found:
                j = columns.setdefault(h, len(columns)) if grow else columns.get(h)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        return rows, cols, np.asarray(sizes, dtype=float)

    r_rows, r_cols, r_sizes = incidence(references, grow=True)
    q_rows, q_cols, q_sizes = incidence(queries, grow=False)
    shape = (len(columns), len(references))
    ref = sparse.csc_matrix((np.ones(len(r_rows)), (r_cols, r_rows)), shape=shape)
    qry = sparse.csr_matrix((np.ones(len(q_rows)), (q_rows, q_cols)),
                            shape=(len(queries), len(columns)))
    shared = (qry @ ref).tocsr()
    shared.sort_indices()
    best = np.full(len(queries), -1, dtype=int)
    similarity = np.zeros(len(queries))
    for i in range(len(queries)):
        lo, hi = shared.indptr[i], shared.indptr[i + 1]
        if lo == hi:
            continue
        refs, counts = shared.indices[lo:hi], shared.data[lo:hi]
        jaccard = counts / (q_sizes[i] + r_sizes[refs] - counts)
        k = int(np.argmax(jaccard))  # the first maximum: the lowest index
        best[i], similarity[i] = refs[k], float(jaccard[k])
    return best, similarity


def paired_seed_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95):
    """Mean of the per-seed differences ``a - b`` of two systems run on the same
    seeds, with a Student-t interval over the seeds.

    Pairing by seed removes what the two runs share (the head's initial
    weights, the order of the batches), so the interval of the differences
    is narrower than the two systems' intervals would suggest. It covers the
    randomness of training only, on one fixed test set.

    Args:
        a, b: ``(s,)`` one score per seed each, in the same seed order, with
            ``s >= 2``.
        level: confidence level.

    Returns:
        A :class:`tlbook.stats.Difference` (method ``"paired over seeds"``),
        ready for :func:`tlbook.stats.verdict`.
    """
    from scipy import stats as sps

    from .stats import Difference, seed_interval

    if isinstance(a, (str, bytes)) or isinstance(b, (str, bytes)):
        raise _v.ArgumentTypeError("a and b must be sequences of numbers, one per seed")
    try:
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    except (TypeError, ValueError):
        raise _v.ArgumentTypeError("a and b must be sequences of numbers, one per seed") from None
    if a.ndim != 1 or b.ndim != 1 or len(a) != len(b):
        raise ValueError(f"a and b must be 1-D with one score per seed each, got shapes "
                         f"{a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError(f"a and b need at least 2 seeds each for an interval, got {len(a)}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must be finite (no NaN or inf)")
    d = a - b
    iv = seed_interval(d, level)
    if iv.se == 0:
        p = 1.0 if iv.mean == 0 else 0.0
    else:
        p = float(2 * sps.t.sf(abs(iv.mean) / iv.se, df=len(d) - 1))
    return Difference(iv.mean, iv.low, iv.high, p, len(d), iv.level, "paired over seeds")


# ------------------------------------------------------------------ the section's experiment

SPAM_LR = 1.5e-4
"""Peak learning rate of the spam fine-tuning runs (one epoch, batch 16)."""


def spam_splits(profile: str | None = None):
    """The spam messages the section uses: the first ``spam_train``,
    ``spam_validation`` and ``spam_test`` rows of each split (sizes from the
    profile), as ``(train, validation, test)`` datasets."""
    from .data import first_rows, load_spam
    from .profiles import get_profile

    sizes = get_profile(profile).sizes
    spam = load_spam()
    return tuple(first_rows(spam[split], sizes[f"spam_{split}"])
                 for split in ("train", "validation", "test"))


def spam_run(seed: int, weighted: bool, profile: str | None = None) -> dict:
    """A fresh encoder fine-tuned on the spam training messages, and its
    p(spam) on the validation and test messages.

    One epoch at :data:`SPAM_LR`, batch 16, inputs cut to the profile's
    ``spam_max_length`` tokens; ``weighted`` uses the class weights of the
    training labels (:func:`tlbook.finetune.class_weights_for`). The head's
    initial weights and the batch order follow ``seed``.

    Returns:
        ``{"model", "tokenizer", "validation", "test"}``: the last two are
        ``(n,)`` float arrays of p(spam).

    Raises:
        ValueError: ``seed`` not an int >= 0.
        TypeError: ``weighted`` not a bool.
    """
    import torch

    from .finetune import FineTuneConfig, class_weights_for, fine_tune, predict
    from .models import load_encoder
    from .profiles import get_profile

    _v.non_negative_int("seed", seed)
    if not isinstance(weighted, bool):
        raise _v.ArgumentTypeError(f"weighted must be True or False, got {weighted!r}")
    train, validation, test = spam_splits(profile)
    max_length = get_profile(profile).sizes["spam_max_length"]
    config = FineTuneConfig(lr=SPAM_LR, epochs=1, batch_size=16, max_length=max_length,
                            seed=seed, progress=False,
                            class_weights=class_weights_for(train["label"]) if weighted else None)
    torch.manual_seed(seed)  # the new head's initial weights
    model, tokenizer = load_encoder(profile, num_labels=2)
    fine_tune(model, tokenizer, train["text"], train["label"], config=config)
    run = {"model": model, "tokenizer": tokenizer}
    for name, split in (("validation", validation), ("test", test)):
        run[name] = predict(model, tokenizer, split["text"], max_length=max_length)[1][:, 1]
    return run


def spam_cell(config: dict, seed: int) -> dict:
    """One cell of sweep ``ch4b-class-weights``: ``config = {"class_weights": bool}``.

    Returns:
        ``validation`` and ``test``: p(spam) of each message, rounded to 6
        decimals.
    """
    run = spam_run(seed, bool(config["class_weights"]))
    return {name: [round(float(p), 6) for p in run[name]] for name in ("validation", "test")}
