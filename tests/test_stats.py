"""The statistics module: known answers, and the behaviour a comparison relies on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tlbook import stats


def test_mean_and_standard_error_of_a_known_sample():
    mean, se = stats.mean_se([1.0, 2.0, 3.0])
    assert mean == 2.0 and se == pytest.approx(1 / math.sqrt(3))
    assert stats.mean_se([0.7]) == (0.7, 0.0)


def test_seed_interval_uses_the_t_quantile():
    iv = stats.seed_interval([1.0, 2.0, 3.0])
    # t(0.975, df=2) = 4.3027: three seeds give a wide interval, as they should
    assert iv.half_width == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert (iv.low, iv.high, iv.n) == pytest.approx((2 - iv.half_width, 2 + iv.half_width, 3))
    assert str(iv) == "2.000 ± 2.484"
    assert stats.seed_interval([1.0, 2.0, 3.0], level=0.5).half_width < iv.half_width


def test_paired_seeds_is_a_paired_t_test_and_cancels_what_the_seed_shares():
    from scipy import stats as sp

    seed_effect = np.array([0.60, 0.75, 0.68, 0.82, 0.55])  # what each seed does to both
    a, b = seed_effect + np.array([0.031, 0.029, 0.030, 0.032, 0.028]), seed_effect
    d = stats.paired_seeds(a, b)
    t = sp.ttest_rel(a, b)
    assert d.diff == pytest.approx(0.030) and d.p_value == pytest.approx(t.pvalue)
    assert d.low > 0 and stats.resolved(d)
    # the same two systems, unpaired, overlap: the seed effect swamps the difference
    assert not stats.resolved((stats.seed_interval(a), stats.seed_interval(b)))
    # the interval is mean +- t(n-1) * se of the differences
    half = sp.t.ppf(0.975, 4) * np.std(a - b, ddof=1) / np.sqrt(5)
    assert d.high - d.diff == pytest.approx(half)
    same = stats.paired_seeds(b, b)
    assert same.diff == 0 and same.p_value == 1 and not stats.resolved(same)
    with pytest.raises(ValueError, match="same test items"):
        stats.paired_seeds([0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="at least 2"):
        stats.paired_seeds([0.1], [0.2])


def test_bootstrap_interval_of_a_constant_has_zero_width():
    iv = stats.bootstrap_interval([0.8] * 50)
    assert iv.low == iv.mean == iv.high == pytest.approx(0.8)


def test_bootstrap_interval_of_coin_flips_matches_the_binomial_width():
    rng = np.random.default_rng(0)
    flips = rng.integers(0, 2, size=2000)
    iv = stats.bootstrap_interval(flips)
    expected = 1.96 * math.sqrt(0.25 / 2000)
    assert iv.half_width == pytest.approx(expected, rel=0.15)
    assert iv.low < flips.mean() < iv.high
    assert stats.bootstrap_interval(flips, seed=1) != iv  # the seed is the resampling's


def test_a_system_compared_with_itself_is_not_resolved():
    rng = np.random.default_rng(1)
    correct = rng.integers(0, 2, size=500)
    for result in (stats.paired_bootstrap(correct, correct), stats.mcnemar(correct, correct)):
        assert result.diff == 0 and result.p_value == 1.0
        assert not stats.resolved(result)
    assert stats.verdict(stats.mcnemar(correct, correct)).startswith("not resolved")


def test_mcnemar_exact_p_value_known_case():
    # ten items only A gets right, none only B: p = 2 * 0.5**10
    a = np.array([1] * 10 + [1] * 40 + [0] * 50)
    b = np.array([0] * 10 + [1] * 40 + [0] * 50)
    result = stats.mcnemar(a, b)
    assert result.p_value == pytest.approx(2 * 0.5**10)
    assert result.diff == pytest.approx(0.1)
    assert stats.resolved(result)


def test_pairing_resolves_what_unpaired_intervals_cannot():
    """B is A with 25 of 1,000 right answers turned wrong: a small, consistent loss."""
    rng = np.random.default_rng(2)
    a = (rng.random(1000) < 0.75).astype(int)
    b = a.copy()
    b[np.flatnonzero(a == 1)[:25]] = 0
    unpaired = (stats.bootstrap_interval(a), stats.bootstrap_interval(b))
    assert not stats.resolved(unpaired)      # the two intervals overlap
    paired = stats.paired_bootstrap(a, b)
    assert stats.resolved(paired) and paired.diff == pytest.approx(0.025)
    assert stats.resolved(stats.mcnemar(a, b))
    assert stats.verdict(paired, ("A", "B")).startswith("A is better, resolved at 95%")
    assert "p =" not in stats.verdict(paired, ("A", "B"), show_p=False)
    # A made 25 fewer errors: when lower is better (errors of B vs A), A still wins
    errors = stats.paired_bootstrap(1 - b, 1 - a)
    assert stats.verdict(errors, ("B", "A"), better="lower").startswith("A is better")
    assert stats.verdict(errors, ("B", "A"), better=None).startswith("B is higher, resolved")
    with pytest.raises(ValueError, match="better must be"):
        stats.verdict(paired, ("A", "B"), better="smaller")


def test_run_seeds_reseeds_before_every_run():
    first = stats.run_seeds(lambda seed: float(np.random.rand()), seeds=[0, 1, 0])
    assert first[0] == first[2] != first[1]


def test_interval_table_and_errorbar():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = stats.interval_table({"a": [0.7, 0.72, 0.74], "b": [0.6, 0.6, 0.6]})
    assert table.loc["a", "mean"] == pytest.approx(0.72) and table.loc["b", "±"] == 0
    fig, ax = plt.subplots()
    ivs = [stats.seed_interval([0.5, 0.6]), stats.seed_interval([0.7, 0.8])]
    bars = stats.errorbar(ax, [16, 32], ivs, label="x")
    assert len(bars.lines[0].get_xdata()) == 2
    plt.close(fig)


@pytest.mark.parametrize("call, match", [
    (lambda: stats.seed_interval([0.5]), "at least 2"),
    (lambda: stats.seed_interval([0.5, 0.6], level=95), "level"),
    (lambda: stats.bootstrap_interval([0.5, float("nan")]), "finite"),
    (lambda: stats.bootstrap_interval([1, 0], n_resamples=5), "n_resamples"),
    (lambda: stats.paired_bootstrap([1, 0], [1, 0, 1]), "same test items"),
    (lambda: stats.mcnemar([1, 0.5], [1, 0]), "0/1"),
    (lambda: stats.mean_se("0.5"), "sequence of numbers"),
    (lambda: stats.run_seeds(lambda s: s, seeds=[]), "seeds"),
    (lambda: stats.resolved(0.3), "Difference"),
])
def test_bad_arguments_say_what_is_wrong(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()


def test_runs_interval_is_over_seeds_unless_the_seeds_change_nothing():
    rng = np.random.default_rng(0)
    varied = (rng.random((3, 200)) < [[0.6], [0.7], [0.8]]).astype(int)
    iv = stats.runs_interval(varied)
    assert iv.n == 3 and iv.mean == pytest.approx(varied.mean())
    assert iv.half_width == pytest.approx(stats.seed_interval(varied.mean(1)).half_width)
    same = np.tile(varied[0], (3, 1))  # a deterministic method: every seed answers alike
    iv = stats.runs_interval(same)
    assert iv.n == 200 and iv.half_width > 0
    assert (iv.low, iv.high) == (stats.bootstrap_interval(same[0]).low,
                                 stats.bootstrap_interval(same[0]).high)
    for bad in ([[1, 0, 1]], [1, 0, 1], [[], []]):
        with pytest.raises(ValueError):
            stats.runs_interval(bad)
