"""Figures shared by several chapters, drawn in the book's colours
(:data:`tlbook.runtime.COLORS`)."""

from __future__ import annotations

import pandas as pd

from .runtime import COLORS

__all__ = ["plot_learning_curves"]


def plot_learning_curves(table: pd.DataFrame, labels: dict[str, str] | None = None,
                         colors: dict[str, str] | None = None, chance: float | None = 0.5,
                         title: str = "Accuracy against labelled training examples", ax=None):
    """Mean accuracy with one-standard-deviation error bars, log-2 x axis.

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
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    labels = labels or {}
    colors = colors or {}
    models = table.columns.get_level_values(0).unique()
    for i, model in enumerate(models):
        color = colors.get(model) or next(
            (c for k, c in COLORS.items() if k in model), f"C{i}")
        ax.errorbar(table.index, table[(model, "mean")], yerr=table[(model, "std")],
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
