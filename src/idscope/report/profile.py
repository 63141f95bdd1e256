"""Plots of ID profiles across depth (:mod:`idscope.representations.profiling`).

Figures are :class:`matplotlib.figure.Figure` objects rendered with the Agg canvas (no
pyplot, no global backend change, never a window).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from .._atomic import atomic_path
from .._errors import InputError

__all__ = ["plot_profile", "save_plot", "plot_format"]

_FORMATS = ("png", "pdf", "svg")


def _series(profiles: Any) -> dict[str, Any]:
    """``{label: single-model Profile}`` from a Profile (split by model) or a dict."""
    from ..representations.profiling import Profile

    if isinstance(profiles, Profile):
        return profiles.split()
    if isinstance(profiles, dict):
        out = {}
        for key, prof in profiles.items():
            if not isinstance(prof, Profile):
                raise InputError(f"plot_profile: {key!r} is a {type(prof).__name__}, not a "
                                 f"Profile")
            parts = prof.split()
            for model, part in parts.items():
                out[str(key) if len(parts) == 1 else f"{key}/{model}"] = part
        return out
    raise InputError(f"plot_profile: expected a Profile or a dict of them, got "
                     f"{type(profiles).__name__}")


def plot_profile(profiles: Any, pca: bool = True, *, error_bars: bool = True,
                 annotate: bool = False, title: str | None = None,
                 figsize: tuple[float, float] = (7.0, 4.5)):
    """Intrinsic dimension against relative depth (Ansuini et al. 2019, Fig. 2).

    Parameters
    ----------
    profiles : Profile or dict[str, Profile]
        One line per model (a Profile holding several models, e.g. with ``compare=``, gives
        one line each).
    pca : bool
        Draw the PCA-ID (dashed) on a second y-axis.
    error_bars : bool
        TwoNN mean ± standard deviation over the resamples.
    annotate : bool
        Write the layer names next to the points of the first model.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    series = _series(profiles)
    if not series or not any(len(p) for p in series.values()):
        raise InputError("plot_profile: nothing to plot (no rows)")
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    has_pca = pca and any(math.isfinite(r.pca) for p in series.values() for r in p)
    ax2 = ax.twinx() if has_pca else None
    colors = [f"C{i % 10}" for i in range(len(series))]
    for i, ((label, prof), color) in enumerate(zip(series.items(), colors)):
        rows = sorted(prof.rows, key=lambda r: r.relative_depth)
        x = [r.relative_depth for r in rows]
        y = [r.twonn for r in rows]
        err = [r.twonn_std if math.isfinite(r.twonn_std) else 0.0 for r in rows]
        if error_bars:
            ax.errorbar(x, y, yerr=err, color=color, marker="o", ms=4, capsize=3,
                        label=label)
        else:
            ax.plot(x, y, color=color, marker="o", ms=4, label=label)
        if ax2 is not None:
            ax2.plot(x, [r.pca for r in rows], color=color, ls="--", marker="s", ms=3,
                     alpha=0.7)
        if annotate and i == 0:
            for r in rows:
                if math.isfinite(r.twonn):
                    ax.annotate(r.layer, (r.relative_depth, r.twonn), fontsize=7,
                                textcoords="offset points", xytext=(3, 4), rotation=30)
    ax.set_xlabel("relative depth")
    ax.set_ylabel("intrinsic dimension (TwoNN)")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(bottom=0)
    handles, labels = ax.get_legend_handles_labels()
    if ax2 is not None:
        ax2.set_ylabel("PCA-ID (dashed)")
        ax2.set_ylim(bottom=0)
        handles += [Line2D([], [], color="k", marker="o", ms=4, label="TwoNN"),
                    Line2D([], [], color="k", ls="--", marker="s", ms=3, label="PCA-ID")]
        labels += ["TwoNN", "PCA-ID"]
    ax.legend(handles, labels, fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def plot_format(path: str | os.PathLike) -> str:
    """The format of a plot file from its suffix (png, pdf, svg); an error for others, so
    that a command can refuse a bad name before it computes anything."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in _FORMATS:
        raise InputError(f"plot file must end in .png, .pdf or .svg, got {Path(path).name!r}")
    return fmt


def save_plot(fig: Any, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write a figure atomically; the format (png, pdf, svg) follows the file's suffix."""
    path = Path(path)
    fmt = plot_format(path)
    with atomic_path(path, suffix=f".{fmt}") as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return path
