"""Figures shared by several chapters, drawn in the book's colours
(:data:`tlbook.runtime.COLORS`)."""

from __future__ import annotations

import pandas as pd

from . import _validate as _v
from .runtime import COLORS

__all__ = ["plot_learning_curves"]


def plot_learning_curves(table: pd.DataFrame, labels: dict[str, str] | None = None,
                         colors: dict[str, str] | None = None, chance: float | None = 0.5,
                         title: str = "Accuracy against labelled training examples", ax=None):
    """Mean accuracy with error bars, log-2 x axis: the interval over seeds
    (column ``"±"``) when the table has one, else one standard deviation.

    Args:
        table: output of :func:`tlbook.sample_efficiency.summarize_curve`
            (index ``size``; columns ``(model, "mean"|"std")``).
        labels: legend label per model name.
        colors: colour per model name (default: the book's colour for
            ``"pretrained"`` / ``"scratch"`` when the name contains those words).
        chance: draw a dotted line at this accuracy (``None`` for none).
        title: the figure title.
        ax: matplotlib axes to draw on (a new figure by default).

    Returns:
        The matplotlib axes.

    Raises:
        TypeError: ``table`` is not a :func:`summarize_curve` table,
            ``labels``/``colors`` not dicts, ``title`` not a str.
        ValueError: ``chance`` is not None or a number in [0, 1].
    """
    import matplotlib.pyplot as plt

    columns = getattr(table, "columns", None)
    if not isinstance(table, pd.DataFrame) or getattr(columns, "nlevels", 1) != 2 \
            or not {"mean", "std"} <= set(columns.get_level_values(1)):
        raise _v.ArgumentTypeError(f"table must be a summarize_curve table (columns (model, "
                                   f"'mean'|'std')), got {type(table).__name__}")
    for name, value in (("labels", labels), ("colors", colors)):
        if value is not None and not isinstance(value, dict):
            raise _v.ArgumentTypeError(f"{name} must be None or a dict keyed by model name, "
                                       f"got {type(value).__name__}")
    if chance is not None:
        _v.probability("chance", chance, rule="None or an accuracy in [0, 1]")
    _v.string("title", title, allow_empty=True)

    if ax is None:
        _, ax = plt.subplots()
    labels = labels or {}
    colors = colors or {}
    models = table.columns.get_level_values(0).unique()
    for i, model in enumerate(models):
        color = colors.get(model) or next(
            (c for k, c in COLORS.items() if k in model), f"C{i}")
        spread = "±" if (model, "±") in table.columns else "std"
        ax.errorbar(table.index, table[(model, "mean")], yerr=table[(model, spread)],
                    marker="o", ms=4, capsize=3, color=color, label=labels.get(model, model))
    if chance is not None:
        ax.axhline(chance, ls=":", color=COLORS["other"], label="chance")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(table.index))
    ax.set_xticklabels([str(s) for s in table.index])
    ax.set_xlabel("labelled training sentences (log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return ax
