"""Axis helpers shared by the report's figures: log scales that cannot crash on empty or
non-positive data and whose tick labels stay readable, and a panel that says why it is
empty."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["log_axis", "empty_panel", "finite"]


def finite(*columns: Any) -> np.ndarray:
    """Mask of the rows where every column is a finite number."""
    mask = None
    for c in columns:
        v = np.isfinite(np.asarray(c, dtype=float))
        mask = v if mask is None else mask & v
    return np.zeros(0, dtype=bool) if mask is None else mask


def log_axis(ax: Any, which: str, values: Any) -> bool:
    """Put axis ``which`` ("x" or "y") on a log scale when ``values`` hold a positive finite
    number, and keep it linear otherwise (matplotlib raises on a log axis whose data are all
    <= 0). Over less than two decades the ticks are 1-2-5 steps labelled as plain numbers;
    minor ticks are never labelled (their labels pile up). Returns whether it is log."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return False
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    span = float(np.log10(v.max() / v.min())) if v.size > 1 else 0.0
    if span < 2:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
        axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.3g}"))
    else:
        axis.set_major_locator(LogLocator(base=10, numticks=8))
    axis.set_minor_formatter(NullFormatter())
    if v.size == 1 or span == 0:  # one value: give it a visible range around it
        lo, hi = float(v.min()) / 2, float(v.max()) * 2
        (ax.set_xlim if which == "x" else ax.set_ylim)(lo, hi)
    return True


def empty_panel(ax: Any, text: str) -> None:
    """An axes with no data: a centred sentence saying why, no ticks."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9,
            wrap=True, color="#555")
    ax.set_xticks([])
    ax.set_yticks([])
