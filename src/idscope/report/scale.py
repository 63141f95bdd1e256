"""Plots of scale analyses (:func:`idscope.scale_analysis`): the ID against the number of
points, the neighbour rank k, or the length scale.

Figures are :class:`matplotlib.figure.Figure` objects rendered with the Agg canvas (no
pyplot, no global backend change, never a window).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError

__all__ = ["plot_scale"]

_XLABEL = {
    "decimation": "points per estimate (N)",
    "blocks": "points per block (N / b)",
    "mle-k": "neighbours k",
    "gride": "scale: mean of r_n1 and r_n2",
}


def plot_scale(result: Any, ax: Any = None, *, label: str | None = None):
    """Plot a :class:`~idscope.estimators.ScaleResult`; returns the Figure.

    Error bars are the spread over repeats (decimation, blocks: mean ± std, as Ansuini et
    al.) or, for single estimates (mle-k, gride), the estimator's standard error. The x axis
    is logarithmic for N and for the length scale. Pass ``ax`` to draw into an existing
    axes (several results on one plot). The plateau (the flattest window of the plateau
    rule, :func:`idscope.estimators.find_plateau`) is shaded and the recommended scale
    marked with a star; the legend gives its flatness.
    """
    rows = getattr(result, "rows", None)
    if rows is None or not hasattr(result, "kind"):
        raise InputError(f"plot_scale: expected a ScaleResult, got {type(result).__name__}")
    if not rows:
        raise InputError("plot_scale: the scale analysis has no rows")
    if ax is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.5, 4.0), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
    fig = ax.figure
    x = result.column(result.x)
    y = result.column("dimension")
    spread = result.column("spread")
    yerr = np.where(np.isfinite(spread), spread, result.column("stderr"))
    yerr = np.where(np.isfinite(yerr), yerr, 0.0)
    order = np.argsort(x)
    line = ax.errorbar(x[order], y[order], yerr=yerr[order], marker="o", ms=4, capsize=3,
                       label=label or f"{result.estimator} ({result.kind})")
    plateau = getattr(result, "plateau", None)
    if plateau is not None:
        xs = x[list(plateau.rows)]
        colour = line[0].get_color()
        ax.axvspan(xs.min(), xs.max(), color=colour, alpha=0.12, lw=0)
        state = "flat" if plateau.flat else "not flat"
        ax.plot([plateau.x], [plateau.dimension], marker="*", ms=13, color=colour, ls="none",
                label=f"recommended: {plateau.dimension:.3g} at {result.x}={plateau.x:.3g} "
                      f"(plateau {100 * plateau.flatness:.1f}% {state})")
    if result.x in ("n", "scale") and np.all(x > 0):
        ax.set_xscale("log")
        if result.x == "n":
            from matplotlib.ticker import ScalarFormatter

            ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel(_XLABEL.get(result.kind, result.x))
    ax.set_ylabel("intrinsic dimension")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig
