"""Figures and a page for representation geometry: layer × layer heatmaps (neighbourhood
overlap, CKA), the ID profile beside them, ID during training, local-ID distributions.

Figures are :class:`matplotlib.figure.Figure` objects on the Agg canvas (no pyplot, never a
window); files are written atomically.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_text
from .._errors import InputError
from .html import Finding, Report, versions, write_report
from .profile import save_plot

__all__ = ["plot_layer_matrix", "plot_geometry", "plot_monitor", "plot_local_id",
           "write_geometry_report", "matrix_csv"]

_NAMES = {"overlap": "neighbourhood overlap", "cka": "linear CKA",
          "cka-debiased": "linear CKA (debiased)"}


def _figure(figsize: tuple[float, float], ncols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def _check_matrix(m: Any, caller: str) -> None:
    if not all(hasattr(m, a) for a in ("values", "rows", "cols", "metric")):
        raise InputError(f"{caller}: expected a LayerMatrix, got {type(m).__name__}")


def plot_layer_matrix(matrix: Any, ax: Any = None, *, title: str | None = None,
                      annotate: bool | None = None, vmin: float = 0.0, vmax: float = 1.0):
    """Heatmap of a :class:`~idscope.geometry.LayerMatrix` (rows top to bottom in depth
    order); ``annotate`` writes the values in the cells (default: up to 12 × 12)."""
    _check_matrix(matrix, "plot_layer_matrix")
    if ax is None:
        fig, (ax,) = _figure((1.6 + 0.45 * len(matrix.cols), 1.2 + 0.4 * len(matrix.rows)))
    v = np.asarray(matrix.values, dtype=float)
    im = ax.imshow(v, vmin=vmin, vmax=vmax, cmap="viridis", aspect="auto",
                   interpolation="nearest")
    ax.set_xticks(range(len(matrix.cols)), [str(c) for c in matrix.cols], rotation=60,
                  ha="right", fontsize=7)
    ax.set_yticks(range(len(matrix.rows)), [str(r) for r in matrix.rows], fontsize=7)
    ax.set_xlabel(f"{matrix.col_model} layer", fontsize=8)
    ax.set_ylabel(f"{matrix.row_model} layer", fontsize=8)
    if annotate is None:
        annotate = max(v.shape) <= 12
    if annotate:
        for (i, j), x in np.ndenumerate(v):
            if math.isfinite(x):
                ax.text(j, i, f"{x:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if x < 0.6 * (vmax - vmin) + vmin else "black")
    ax.figure.colorbar(im, ax=ax, shrink=0.85)
    extra = f" (k={matrix.params['k']})" if "k" in matrix.params else ""
    ax.set_title(title or _NAMES.get(matrix.metric, matrix.metric) + extra, fontsize=9)
    return ax.figure


def plot_geometry(profile: Any, overlap: Any = None, cka: Any = None, *,
                  label_overlap: dict[str, float] | None = None, title: str | None = None):
    """The ID profile of one model (TwoNN, and the label overlap on a second axis) beside
    its layer × layer overlap and CKA heatmaps."""
    rows = list(getattr(profile, "rows", ()))
    if not rows:
        raise InputError("plot_geometry: expected a Profile with rows")
    panels = 1 + (overlap is not None) + (cka is not None)
    n = len(rows)
    fig, axes = _figure((4.2 + panels * (1.4 + 0.38 * n), 1.6 + 0.35 * max(n, 6)), panels)
    ax = axes[0]
    x = np.arange(n)
    err = [r.twonn_std if math.isfinite(r.twonn_std) else 0.0 for r in rows]
    ax.errorbar(x, [r.twonn for r in rows], yerr=err, marker="o", ms=4, capsize=3,
                color="C0", label="TwoNN ID")
    ax.set_xticks(x, [r.layer for r in rows], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("intrinsic dimension (TwoNN)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if label_overlap:
        ax2 = ax.twinx()
        ax2.plot(x, [label_overlap.get(r.layer, np.nan) for r in rows], color="C3",
                 marker="s", ms=3, ls="--", label="label overlap")
        ax2.set_ylim(0, 1.02)
        ax2.set_ylabel("label overlap χ(layer, y)")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, fontsize=7, loc="best")
    ax.set_title("ID profile", fontsize=9)
    rest = axes[1:]
    for m in (overlap, cka):
        if m is not None:
            plot_layer_matrix(m, rest.pop(0))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_monitor(result: Any, column: str = "twonn", *, layers: list[str] | None = None,
                 xlabel: str = "training step", title: str | None = None):
    """ID against training time, one line per layer, from
    :meth:`idscope.geometry.IDMonitor.compute`."""
    steps = getattr(result, "steps", None)
    if not steps:
        raise InputError("plot_monitor: the monitor has no records")
    fig, (ax,) = _figure((6.0, 4.0))
    for i, layer in enumerate(layers or result.layers):
        s, v = result.series(layer, column)
        ax.plot(s, v, marker="o", ms=3, color=f"C{i % 10}", label=layer)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"intrinsic dimension ({column})")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best", title="layer", title_fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_local_id(groups: dict[str, Any], *, bins: int = 40, title: str | None = None):
    """Histograms of local ID (:func:`idscope.local_id`) per group, e.g. clean vs attacked
    inputs; the legend gives each group's median."""
    if not groups:
        raise InputError("plot_local_id: no groups to plot")
    data = {k: np.asarray(v, dtype=float) for k, v in groups.items()}
    finite = np.concatenate([v[np.isfinite(v)] for v in data.values()])
    if finite.size == 0:
        raise InputError("plot_local_id: no finite values")
    edges = np.histogram_bin_edges(finite, bins=bins)
    fig, (ax,) = _figure((5.5, 3.8))
    for i, (label, v) in enumerate(data.items()):
        v = v[np.isfinite(v)]
        ax.hist(v, bins=edges, alpha=0.5, color=f"C{i % 10}",
                label=f"{label} (median {np.median(v):.3g}, n={v.size})")
    ax.set_xlabel("local intrinsic dimension")
    ax.set_ylabel("points")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def matrix_csv(matrix: Any) -> str:
    """A LayerMatrix as CSV text: a header of column layers, one line per row layer."""
    _check_matrix(matrix, "matrix_csv")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["layer", *matrix.cols])
    for name, row in zip(matrix.rows, np.asarray(matrix.values)):
        w.writerow([name, *(f"{x:.6g}" for x in row)])
    return buf.getvalue()


def write_geometry_report(out_dir: str | os.PathLike, profile: Any, *, overlap: Any = None,
                          cka: Any = None, label_overlap: dict[str, float] | None = None,
                          title: str = "Representation geometry", settings: dict | None = None,
                          command: str = "", runtime_seconds: float | None = None) -> Path:
    """Write the tables (CSV), figures (PNG) and a static page (``index.html``) showing the
    ID profile beside the overlap and CKA matrices; returns the page's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables, figures = [], []
    buf = io.StringIO()
    prof_rows = profile.table()
    if label_overlap:
        prof_rows = [dict(r, label_overlap=label_overlap.get(r["layer"], float("nan")))
                     for r in prof_rows]
    w = csv.DictWriter(buf, fieldnames=list(prof_rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(prof_rows)
    write_text(out / "profile.csv", buf.getvalue())
    tables.append("profile.csv")
    for m in (overlap, cka):
        if m is not None:
            name = m.metric.replace("-", "_")
            write_text(out / f"{name}.csv", matrix_csv(m))
            save_plot(plot_layer_matrix(m), out / f"{name}.png")
            tables.append(f"{name}.csv")
    save_plot(plot_geometry(profile, overlap, cka, label_overlap=label_overlap),
              out / "geometry.png")
    figures.append("geometry.png")
    reading = ["The intrinsic dimension of each layer (TwoNN, mean ± std over resamples)"]
    if label_overlap:
        reading.append("the fraction of each sample's k nearest neighbours sharing its label")
    if overlap is not None:
        reading.append(f"the fraction of shared k = {overlap.params.get('k')} nearest "
                       f"neighbours between every two layers")
    if cka is not None:
        reading.append(f"{_NAMES.get(cka.metric, cka.metric)} between every two layers")
    finding = Finding(
        key="geometry", title="ID profile, neighbourhood overlap and CKA",
        claim="Layers are compared by more than one number: ID across depth (Ansuini et al. "
              "2019), neighbourhood overlap (Doimo et al. 2020) and CKA (Kornblith et al. "
              "2019).",
        reading="; ".join(reading) + ".", figures=tuple(figures), tables=tuple(tables))
    report = Report(title, "Measured by idscope on the samples and layers listed in the "
                    "settings.", (finding,), settings or {}, versions(), runtime_seconds,
                    command=command)
    return write_report(report, out)
