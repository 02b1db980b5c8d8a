"""Tests of tlbook.evaluation on tiny inputs whose answers can be worked out by hand."""

import math

import numpy as np
import pytest

from tlbook import evaluation as ev
from tlbook.stats import Difference, verdict

# Four positives (p = 0.9, 0.8, 0.6, 0.3) and four negatives (p = 0.7, 0.4, 0.2, 0.1).
GOLD = [1, 1, 1, 1, 0, 0, 0, 0]
PROBS = [0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1]


def test_metrics_at_counts_by_hand():
    # At 0.5: predicted positive 0.9, 0.8, 0.6 (right) and 0.7 (wrong).
    m = ev.metrics_at(GOLD, PROBS, 0.5)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(3 / 4)
    assert m["false_positive_rate"] == pytest.approx(1 / 4)
    assert m["specificity"] == pytest.approx(3 / 4)
    assert m["flagged"] == 4


def test_metrics_at_accepts_two_column_probabilities_and_cut_is_inclusive():
    two = np.column_stack([1 - np.array(PROBS), PROBS])
    assert ev.metrics_at(GOLD, two, 0.6) == ev.metrics_at(GOLD, PROBS, 0.6)
    assert ev.metrics_at(GOLD, PROBS, 0.6)["recall"] == pytest.approx(3 / 4)


def test_metrics_at_with_nothing_flagged_reports_zero_not_nan():
    m = ev.metrics_at(GOLD, PROBS, 1.0)
    assert m == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "specificity": 1.0,
                 "false_positive_rate": 0.0, "flagged": 0}


def test_threshold_for_recall_is_the_kth_largest_positive():
    # recall 0.75 of 4 positives needs 3 of them: the third largest, 0.6.
    assert ev.threshold_for_recall(GOLD, PROBS, 0.75) == 0.6
    # Anything above 0.75 needs all four: the smallest positive.
    assert ev.threshold_for_recall(GOLD, PROBS, 0.76) == 0.3
    assert ev.threshold_for_recall(GOLD, PROBS, 0.25) == 0.9
    for target in (0.25, 0.5, 0.75, 1.0):
        t = ev.threshold_for_recall(GOLD, PROBS, target)
        assert ev.metrics_at(GOLD, PROBS, t)["recall"] >= target
        higher = min(p for p in PROBS if p > t) if t < max(PROBS) else None
        if higher is not None:
            assert ev.metrics_at(GOLD, PROBS, higher)["recall"] < target


def test_threshold_for_recall_exact_fraction_is_not_rounded_up():
    gold = [1] * 20
    probs = np.linspace(0.05, 1.0, 20)
    # 0.95 * 20 = 19 positives, the 19th largest is the second smallest.
    assert ev.threshold_for_recall(gold, probs, 0.95) == pytest.approx(probs[1])


def test_threshold_curve_matches_metrics_at_every_cut():
    curve = ev.threshold_curve(GOLD, PROBS)
    assert list(curve["threshold"]) == sorted(PROBS)
    for row in curve.itertuples():
        m = ev.metrics_at(GOLD, PROBS, row.threshold)
        assert (row.precision, row.recall, row.f1) == pytest.approx(
            (m["precision"], m["recall"], m["f1"]))


def test_threshold_curve_groups_tied_probabilities():
    curve = ev.threshold_curve([1, 0, 1], [0.5, 0.5, 0.9])
    assert list(curve["threshold"]) == [0.5, 0.9]
    assert list(curve["precision"]) == pytest.approx([2 / 3, 1.0])
    assert list(curve["recall"]) == pytest.approx([1.0, 0.5])


def test_threshold_for_f1_by_hand():
    # F1 at each cut: 0.1 -> 8/12, 0.2 -> 8/11, 0.3 -> 0.8, 0.4 -> 6/9, 0.6 -> 0.75,
    # 0.7 -> 4/7, 0.8 -> 4/6, 0.9 -> 0.4; the best is 0.3.
    assert ev.threshold_for_f1(GOLD, PROBS) == 0.3


def test_threshold_for_f1_prefers_the_highest_of_tied_thresholds():
    # Cuts 0.2 (P = 1/2, R = 1) and 0.9 (P = 1, R = 1/2) both give F1 = 2/3.
    assert ev.threshold_for_f1([1, 0, 0, 1], [0.9, 0.6, 0.5, 0.2]) == pytest.approx(0.9)


def test_weighted_threshold_theory_and_balanced_weights():
    assert ev.weighted_threshold([1.0, 1.0]) == 0.5
    assert ev.weighted_threshold((1.0, 3.0)) == pytest.approx(0.25)
    # The weighted optimum w1 p / (w1 p + w0 (1 - p)) is 0.5 exactly at the threshold.
    w0, w1 = 0.7, 1.9
    t = ev.weighted_threshold([w0, w1])
    assert w1 * t / (w1 * t + w0 * (1 - t)) == pytest.approx(0.5)


def test_confusion_table_counts_and_names():
    table = ev.confusion_table([0, 0, 1, 1, 1], [0, 1, 1, 1, 0])
    assert list(table.index) == ["true ham", "true spam"]
    assert list(table.columns) == ["predicted ham", "predicted spam"]
    assert table.to_numpy().tolist() == [[1, 1], [1, 2]]


def test_confusion_table_keeps_a_class_nobody_predicts():
    table = ev.confusion_table([0, 1, 2], [0, 0, 0], names=["a", "b", "c"])
    assert table.to_numpy().tolist() == [[1, 0, 0], [1, 0, 0], [1, 0, 0]]


def test_cross_entropy_and_highest_loss():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    gold = [0, 0, 1, 1]
    losses = ev.cross_entropy(gold, probs)
    assert losses == pytest.approx([-math.log(0.9), -math.log(0.2), -math.log(0.4),
                                    -math.log(0.5)])
    assert ev.highest_loss(gold, probs, k=2).tolist() == [1, 2]
    assert ev.highest_loss(gold, probs, k=10).tolist() == [1, 2, 3, 0]


def test_cross_entropy_of_a_zero_probability_is_finite():
    assert np.isfinite(ev.cross_entropy([1], np.array([[1.0, 0.0]]))).all()


def test_excerpt_flattens_and_cuts():
    assert ev.excerpt("Subject\n  body   text") == "Subject body text"
    cut = ev.excerpt("word " * 40, width=20)
    assert len(cut) <= 20 and cut.endswith("...")


def test_normalise_text_folds_case_punctuation_and_numbers():
    assert ev.normalise_text("Call NOW: 555-1234!") == ["call", "now", "0", "0"]
    assert ev.normalise_text("Call now, 555 9999") == ev.normalise_text("call NOW 12-34")


def test_shingles_counts_word_ngrams():
    assert len(ev.shingles("a b c d e f", n=3)) == 4
    assert len(ev.shingles("a b", n=3)) == 1
    assert ev.shingles("", n=3) == set()
    assert ev.shingles("A, B; C!", n=2) == ev.shingles("a b c", n=2)


def test_near_duplicates_finds_exact_near_and_no_match():
    refs = ["the quick brown fox jumps over the lazy dog today",
            "completely different words appear in this one sentence",
            "The QUICK brown fox jumps over the lazy dog today!"]
    queries = ["the quick brown fox jumps over the lazy dog today",
               "the quick brown fox jumps over the lazy cat today",
               "nothing here is shared with anything at all"]
    best, sim = ev.near_duplicates(queries, refs, n=3)
    # Exact after normalising: both ref 0 and ref 2 have similarity 1; the lower index wins.
    assert best[0] == 0 and sim[0] == pytest.approx(1.0)
    # 8 trigrams each; the two that hold "cat" are not shared: 6 / (8 + 8 - 6).
    assert best[1] == 0 and sim[1] == pytest.approx(6 / 10)
    assert best[2] == -1 and sim[2] == 0.0


def test_paired_seed_difference_is_a_t_interval_of_the_differences():
    a, b = [0.80, 0.85, 0.90], [0.70, 0.76, 0.79]
    d = ev.paired_seed_difference(a, b)
    assert isinstance(d, Difference) and d.method == "paired over seeds"
    assert d.diff == pytest.approx(0.1)
    # differences 0.10, 0.09, 0.11: sd 0.01, se 0.01 / sqrt(3), t(2, 0.975) = 4.303
    half = 4.302653 * 0.01 / math.sqrt(3)
    assert (d.low, d.high) == pytest.approx((0.1 - half, 0.1 + half), abs=1e-5)
    assert verdict(d, names=("a", "b"), show_p=False).startswith("a is better")


def test_paired_seed_difference_unresolved_when_signs_disagree():
    d = ev.paired_seed_difference([0.8, 0.7, 0.9], [0.75, 0.8, 0.85])
    assert d.low < 0 < d.high
    assert verdict(d, show_p=False).startswith("not resolved at this size")


@pytest.mark.parametrize("call, error, match", [
    (lambda: ev.metrics_at([1, 0], [0.5], 0.5), ValueError, "gold and probs"),
    (lambda: ev.metrics_at([1, 2], [0.5, 0.5], 0.5), ValueError, "0/1 labels"),
    (lambda: ev.metrics_at([1, 0], [0.5, 1.5], 0.5), ValueError, r"\[0, 1\]"),
    (lambda: ev.metrics_at([1, 0], [0.5, float("nan")], 0.5), ValueError, "NaN"),
    (lambda: ev.metrics_at([1, 0], [0.5, 0.5], 1.5), ValueError, "threshold"),
    (lambda: ev.metrics_at([1, 0], [0.5, 0.5], "0.5"), TypeError, "threshold"),
    (lambda: ev.metrics_at([1, 0], np.ones((2, 3)) / 3, 0.5), ValueError, r"\(n, 2\)"),
    (lambda: ev.metrics_at([], [], 0.5), ValueError, "gold must not be empty"),
    (lambda: ev.threshold_for_recall([0, 0], [0.1, 0.2]), ValueError, "no positive"),
    (lambda: ev.threshold_for_recall([1, 0], [0.1, 0.2], 0), ValueError, "recall"),
    (lambda: ev.threshold_for_recall([1, 0], [0.1, 0.2], 1.2), ValueError, "recall"),
    (lambda: ev.threshold_for_f1([0, 0], [0.1, 0.2]), ValueError, "no positive"),
    (lambda: ev.weighted_threshold([1.0]), ValueError, "pair"),
    (lambda: ev.weighted_threshold([1.0, 0.0]), ValueError, r"class_weights\[1\]"),
    (lambda: ev.weighted_threshold(0.5), TypeError, "class_weights"),
    (lambda: ev.confusion_table([0, 1], [0, 2]), ValueError, "pred must hold class ids"),
    (lambda: ev.confusion_table([0, 1], [0]), ValueError, "gold and pred"),
    (lambda: ev.confusion_table([0, 1], [0, 1], names="ham"), TypeError, "names"),
    (lambda: ev.cross_entropy([0, 1], [0.5, 0.5]), ValueError, "num_labels"),
    (lambda: ev.cross_entropy([0, 2], np.full((2, 2), 0.5)), ValueError, "class ids 0..1"),
    (lambda: ev.highest_loss([0], np.full((1, 2), 0.5), k=0), ValueError, "k must be"),
    (lambda: ev.excerpt(3), TypeError, "text"),
    (lambda: ev.shingles("a b", n=0), ValueError, "n must be"),
    (lambda: ev.near_duplicates("one text", ["a"]), TypeError, "queries"),
    (lambda: ev.near_duplicates(["a"], []), ValueError, "references must not be empty"),
    (lambda: ev.paired_seed_difference([0.1, 0.2], [0.1]), ValueError, "one score per seed"),
    (lambda: ev.paired_seed_difference([0.1], [0.1]), ValueError, "at least 2 seeds"),
    (lambda: ev.paired_seed_difference("ab", "cd"), TypeError, "sequences of numbers"),
])
def test_bad_arguments_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_spam_splits_follow_the_profile_and_spam_run_checks_its_arguments():
    from tlbook.evaluation import spam_run, spam_splits
    from tlbook.profiles import get_profile

    sizes = get_profile("lite").sizes
    train, validation, test = spam_splits("lite")
    assert (len(train), len(validation), len(test)) == \
        (sizes["spam_train"], sizes["spam_validation"], sizes["spam_test"])
    assert set(np.unique(train["label"])) == {0, 1}
    with pytest.raises(ValueError, match="seed"):
        spam_run(-1, False)
    with pytest.raises(TypeError, match="weighted"):
        spam_run(0, "yes")
