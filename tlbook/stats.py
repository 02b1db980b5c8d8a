"""Statistics for comparisons: seeds, intervals, paired tests, "is it resolved?".

Every comparison table in the book goes through this module, so that a
difference is only ranked or explained when the data resolve it:

- :func:`run_seeds` runs an experiment once per seed;
- :func:`seed_interval` summarises a score over seeds (mean, standard error,
  Student-t interval: with three to five seeds a normal interval is too narrow);
- :func:`paired_seeds` compares two systems run with the same seeds;
- :func:`bootstrap_interval` gives a percentile bootstrap interval of a mean
  over test items;
- :func:`paired_bootstrap` and :func:`mcnemar` compare two systems on the
  *same* test items, which is far more sensitive than comparing their two
  unpaired intervals, because the items both get right or both get wrong
  cancel;
- :func:`resolved` and :func:`verdict` say in words whether a difference is
  resolved at the chosen level ("not resolved at this size" otherwise).

The scores themselves come from scikit-learn or seqeval; this module only
says how sure we may be of them. Intervals print as ``0.792 ± 0.012``: the
mean and the half-width of the interval (the interval itself is
``[low, high]``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Interval",
    "Difference",
    "run_seeds",
    "mean_se",
    "seed_interval",
    "paired_seeds",
    "bootstrap_interval",
    "runs_interval",
    "paired_bootstrap",
    "mcnemar",
    "resolved",
    "verdict",
    "interval_table",
    "errorbar",
]


@dataclass(frozen=True)
class Interval:
    """A mean with its interval: ``low <= mean <= high`` at confidence ``level``.

    ``str()`` gives ``"0.792 ± 0.012"`` (mean ± the larger half-width);
    :meth:`format` chooses the digits.
    """

    mean: float
    low: float
    high: float
    se: float
    n: int
    level: float

    @property
    def half_width(self) -> float:
        return max(self.mean - self.low, self.high - self.mean)

    def format(self, digits: int = 3) -> str:
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class Difference:
    """Mean difference ``a - b`` with its interval and a two-sided p-value."""

    diff: float
    low: float
    high: float
    p_value: float
    n: int
    level: float
    method: str

    def format(self, digits: int = 3, show_p: bool = True) -> str:
        """``+0.034 [+0.010, +0.058], p = 0.006``; ``show_p=False`` leaves out the
        p-value (it moves more than the interval when a few items flip)."""
        text = f"{self.diff:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"
        return text + (f", p = {self.p_value:.{max(digits, 2)}f}" if show_p else "")

    def __str__(self) -> str:
        return self.format()


def _level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 1:
        raise ValueError(f"level must be a number strictly between 0 and 1, got {level!r}")
    return float(level)


def _values(name: str, values: Any, minimum: int = 1) -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of numbers, got a {type(values).__name__}")
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if len(arr) < minimum:
        raise ValueError(f"{name} needs at least {minimum} value(s), got {len(arr)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def _resamples(n_resamples: int) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, numbers.Integral) \
            or n_resamples < 100:
        raise ValueError(f"n_resamples must be an int >= 100, got {n_resamples!r}")
    return int(n_resamples)


def run_seeds(experiment: Callable[[int], Any], seeds: Iterable[int] = (0, 1, 2)) -> list:
    """``[experiment(seed) for seed in seeds]``, every random generator seeded first.

    Each call starts from :func:`tlbook.runtime.seed_everything` with its seed,
    so a run does not depend on what ran before it.
    """
    from .runtime import seed_everything

    if not callable(experiment):
        raise TypeError(f"experiment must be callable as experiment(seed), got "
                        f"{type(experiment).__name__}")
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool)
                            and s >= 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty sequence of ints >= 0, got {seeds!r}")
    results = []
    for seed in seeds:
        seed_everything(int(seed))
        results.append(experiment(int(seed)))
    return results


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample standard deviation / sqrt(n)).

    One value has a standard error of 0: nothing is known about its spread.
    """
    arr = _values("values", values)
    se = float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else 0.0
    return float(arr.mean()), se


def seed_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Interval of a score's mean over seeds: mean ± t(n-1) * standard error.

    The Student-t quantile matters at the book's seed counts: with 3 seeds a
    95% interval is mean ± 4.30 standard errors, not ± 1.96.
    """
    from scipy import stats

    level = _level(level)
    arr = _values("values", values, minimum=2)
    mean, se = mean_se(arr)
    half = float(stats.t.ppf(0.5 + level / 2, df=len(arr) - 1)) * se
    return Interval(mean, mean - half, mean + half, se, len(arr), level)


def paired_seeds(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Difference:
    """Mean difference ``a - b`` of two systems run with the *same* seeds
    (``a[i]`` and ``b[i]`` share seed ``i``: the same data order, the same
    starting model), with the Student-t interval and two-sided p-value of
    the per-seed differences (a paired t-test).

    What the seed moves in both systems alike cancels, so this resolves
    differences that two unpaired :func:`seed_interval` results leave
    overlapping.
    """
    from scipy import stats

    level = _level(level)
    a, b = _paired(a, b)
    if len(a) < 2:
        raise ValueError(f"a and b need at least 2 seeds each for an interval, got {len(a)}")
    d = a - b
    diff, se = mean_se(d)
    if se == 0:
        return Difference(diff, diff, diff, 1.0 if diff == 0 else 0.0, len(d), level,
                          "paired t over seeds")
    half = float(stats.t.ppf(0.5 + level / 2, df=len(d) - 1)) * se
    p = float(2 * stats.t.sf(abs(diff) / se, df=len(d) - 1))
    return Difference(diff, diff - half, diff + half, p, len(d), level, "paired t over seeds")


def bootstrap_interval(values: Sequence[float], level: float = 0.95,
                       n_resamples: int = 10_000, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of the mean of ``values`` (e.g. per-item correctness).

    Args:
        values: ``(n,)`` one number per test item (1/0 for right/wrong).
        level: confidence level.
        n_resamples: bootstrap samples (>= 100).
        seed: seed of the resampling (the same seed gives the same interval).
    """
    level = _level(level)
    arr = _values("values", values)
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, len(arr), size=(_resamples(n_resamples), len(arr)))].mean(axis=1)
    low, high = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    mean, se = mean_se(arr)
    # Guard against the float noise of averaging: a constant has a zero-width interval.
    low, high = min(float(low), mean), max(float(high), mean)
    return Interval(mean, low, high, se, len(arr), level)


def runs_interval(correct: Sequence[Sequence[float]], level: float = 0.95) -> Interval:
    """Accuracy of one method run with several seeds on the same test items.

    Args:
        correct: ``(seeds, items)``, 1/0 for each seed's answer on each item.

    Returns:
        :func:`seed_interval` of the seeds' accuracies when the seeds change
        the answers: how far another seed (another draw of training data,
        another initialisation) would move the result. When every seed gives
        the same answers, as a deterministic method trained on the same data
        does, the seeds say nothing about uncertainty; the interval is then
        :func:`bootstrap_interval` over the items: how far another test set
        would move it.

    Raises:
        ValueError: fewer than two seeds, rows of different lengths, or no
            items.
    """
    try:
        arr = np.asarray(correct, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"correct must be a (seeds, items) array of numbers ({e})") from None
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"correct must have shape (seeds, items) with at least 2 seeds and 1 "
                         f"item, got {arr.shape}")
    if np.all(arr == arr[0]):
        return bootstrap_interval(arr[0], level)
    return seed_interval(arr.mean(axis=1), level)


def _paired(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = _values("a", a), _values("b", b)
    if len(a) != len(b):
        raise ValueError(f"a and b must score the same test items: got {len(a)} and {len(b)} "
                         "values")
    return a, b


def paired_bootstrap(a: Sequence[float], b: Sequence[float], level: float = 0.95,
                     n_resamples: int = 10_000, seed: int = 0) -> Difference:
    """Mean difference ``a - b`` of two systems scored on the same items, with a
    paired percentile bootstrap interval and p-value.

    The same resampled items are used for both systems, so what they agree on
    cancels. The two-sided p-value is twice the share of resampled
    differences on the far side of zero (at least ``1 / n_resamples``), and 1
    when the systems never differ.
    """
    level = _level(level)
    a, b = _paired(a, b)
    d = a - b
    diff = float(d.mean())
    if np.all(d == d[0]):
        return Difference(diff, diff, diff, 1.0 if diff == 0 else 0.0, len(d), level,
                          "paired bootstrap")
    rng = np.random.default_rng(seed)
    n_resamples = _resamples(n_resamples)
    means = d[rng.integers(0, len(d), size=(n_resamples, len(d)))].mean(axis=1)
    low, high = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    far = np.mean(means <= 0) if diff > 0 else np.mean(means >= 0)
    p = float(min(1.0, max(2 * far, 1 / n_resamples))) if diff != 0 else 1.0
    return Difference(diff, float(low), float(high), p, len(d), level, "paired bootstrap")


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool],
            level: float = 0.95) -> Difference:
    """McNemar's exact test of two classifiers on the same test items.

    Only the items exactly one system gets right count: under the null both
    kinds of disagreement are equally likely, so the smaller count is
    binomial(n_disagree, 1/2). The interval is the normal one of the paired
    accuracy difference.

    Args:
        correct_a, correct_b: ``(n,)`` whether each system got each item right.
    """
    from scipy import stats

    level = _level(level)
    a, b = _paired(correct_a, correct_b)
    if not (np.isin(a, (0, 1)).all() and np.isin(b, (0, 1)).all()):
        raise ValueError("correct_a and correct_b must hold 0/1 or booleans (right or wrong)")
    only_a, only_b = int(np.sum((a == 1) & (b == 0))), int(np.sum((a == 0) & (b == 1)))
    n = len(a)
    diff = (only_a - only_b) / n
    disagree = only_a + only_b
    p = 1.0 if disagree == 0 else float(min(1.0, 2 * stats.binom.cdf(min(only_a, only_b),
                                                                      disagree, 0.5)))
    var = (only_a + only_b - (only_a - only_b) ** 2 / n) / n**2
    half = float(stats.norm.ppf(0.5 + level / 2)) * math.sqrt(max(var, 0.0))
    return Difference(diff, diff - half, diff + half, p, n, level, "McNemar")


def resolved(result: Difference | tuple[Interval, Interval]) -> bool:
    """Whether a difference is resolved at the result's confidence level.

    A :class:`Difference` is resolved when its interval excludes zero. A pair
    of :class:`Interval` (two unpaired systems, e.g. over seeds) is resolved
    only when the two intervals do not overlap, a conservative rule.
    """
    if isinstance(result, Difference):
        return result.low > 0 or result.high < 0
    if (isinstance(result, tuple) and len(result) == 2
            and all(isinstance(r, Interval) for r in result)):
        first, second = result
        return first.low > second.high or second.low > first.high
    raise TypeError("result must be a Difference or a pair of Interval, got "
                    f"{type(result).__name__}")


def verdict(result: Difference | tuple[Interval, Interval], names: tuple[str, str] = ("A", "B"),
            digits: int = 3, show_p: bool = True, better: str | None = "higher") -> str:
    """One sentence for the prose: which is better, or that it is not resolved.

    ``show_p=False`` omits the p-value of a :class:`Difference` (for outputs
    that must read the same on another machine, where a handful of items may
    flip). ``better`` says which direction is better: ``"higher"`` (accuracy,
    F1), ``"lower"`` (a loss, a count of errors), or ``None`` for a quantity
    that is neither (a rate to be compared with a target), which the sentence
    then calls higher or lower.
    """
    if not (isinstance(names, tuple) and len(names) == 2 and all(isinstance(n, str)
                                                                  for n in names)):
        raise TypeError(f"names must be a pair of strings, got {names!r}")
    if better not in ("higher", "lower", None):
        raise ValueError(f"better must be 'higher', 'lower' or None, got {better!r}")
    first, second = names
    if isinstance(result, Difference):
        detail = f"{first} - {second} = {result.format(digits, show_p)}"
        first_higher = result.diff > 0
        level = result.level
    else:
        resolved(result)  # validates
        detail = f"{first} {result[0].format(digits)}, {second} {result[1].format(digits)}"
        first_higher = result[0].mean > result[1].mean
        level = result[0].level
    if not resolved(result):
        return f"not resolved at this size ({detail})"
    if better is None:
        return (f"{first} is {'higher' if first_higher else 'lower'}, resolved at {level:.0%} "
                f"({detail})")
    ahead = first if first_higher == (better == "higher") else second
    return f"{ahead} is better, resolved at {level:.0%} ({detail})"


def interval_table(scores: dict[str, Sequence[float]], level: float = 0.95,
                   digits: int = 3):
    """A pandas table ``mean ± half-width`` (and n) of each system's scores over seeds."""
    import pandas as pd

    if not isinstance(scores, dict) or not scores:
        raise ValueError("scores must be a non-empty dict of name -> scores over seeds")
    rows = {}
    for name, values in scores.items():
        iv = seed_interval(values, level)
        rows[name] = {"mean": round(iv.mean, digits), "±": round(iv.half_width, digits),
                      "seeds": iv.n}
    return pd.DataFrame(rows).T.astype({"seeds": int})


def errorbar(ax, x: Sequence[float], intervals: Sequence[Interval], label: str | None = None,
             color: str | None = None, **kwargs):
    """Draw means with their intervals as error bars on a matplotlib ``ax``."""
    if len(x) != len(intervals):
        raise ValueError(f"x and intervals must have the same length, got {len(x)} and "
                         f"{len(intervals)}")
    if not all(isinstance(iv, Interval) for iv in intervals):
        raise TypeError("intervals must be a sequence of Interval")
    means = np.array([iv.mean for iv in intervals])
    err = np.array([[iv.mean - iv.low for iv in intervals], [iv.high - iv.mean for iv in intervals]])
    kwargs.setdefault("capsize", 3)
    kwargs.setdefault("marker", "o")
    return ax.errorbar(x, means, yerr=err, label=label, color=color, **kwargs)
