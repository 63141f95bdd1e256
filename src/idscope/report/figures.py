"""Plots of the demo's findings (matplotlib, headless).

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot, no global backend
change), so they render without a display; :func:`idscope.report.sweep_plots.save_figure` writes
them atomically. Every function takes plain tables (pandas DataFrames) and returns a figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._axes import empty_panel, finite, log_axis

__all__ = ["plot_profiles", "plot_id_vs_embedding", "plot_last_hidden", "plot_id_vs_error",
           "plot_pairs", "plot_learning_curves", "plot_correlation_vs_eps"]

_COLORS = {"trained": "C0", "untrained": "C7", "shuffled": "C3"}


def _figure(ncols: int = 1, size: tuple[float, float] = (5.0, 4.0)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1]), layout="constrained")
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _yerr(df: Any, col: str = "twonn_full") -> np.ndarray:
    lo = (df[col] - df["twonn_ci_low"]).to_numpy(float)
    hi = (df["twonn_ci_high"] - df[col]).to_numpy(float)
    return np.abs(np.nan_to_num(np.vstack([lo, hi])))


def plot_profiles(frame: Any, models: Sequence[str], *, title: str, pca: bool = True,
                  mark: dict[str, float] | None = None):
    """TwoNN ID (with its 95 % interval) against relative depth for each model; PCA-ID on
    the same axes (dashed, right-hand scale) when ``pca``; ``mark`` draws labelled
    horizontal reference lines."""
    fig, (ax,) = _figure(size=(6.5, 4.3))
    ax2 = ax.twinx() if pca else None
    for i, model in enumerate(models):
        d = frame[frame["model"] == model].sort_values("relative_depth")
        if d.empty:
            continue
        color = _COLORS.get(model, f"C{i + 1}")
        ax.errorbar(d["relative_depth"], d["twonn_full"], yerr=_yerr(d), marker="o", ms=4,
                    capsize=2, color=color, label=f"{model}: TwoNN")
        if ax2 is not None:
            ax2.plot(d["relative_depth"], d["pca"], ls="--", marker="s", ms=3, color=color,
                     alpha=0.6, label=f"{model}: PCA-ID")
    marks = {k: float(v) for k, v in (mark or {}).items() if math.isfinite(float(v))}
    for label, y in marks.items():
        ax.axhline(y, color="k", lw=0.8, ls=":")
        # x in axes fraction, y in data: the label sits on its line, inside the axes
        ax.annotate(label, (0.01, y), xycoords=ax.get_yaxis_transform(), xytext=(0, 2),
                    textcoords="offset points", fontsize=7, va="bottom", clip_on=True)
    names = frame[frame["model"] == models[0]].sort_values("relative_depth")
    ax.set_xticks(names["relative_depth"])
    ax.set_xticklabels([f"{n}\n{r:.2f}" for n, r in zip(names["layer"],
                                                         names["relative_depth"])],
                       fontsize=7)
    ax.set_xlabel("layer and relative depth")
    ax.set_ylabel("TwoNN intrinsic dimension (solid)")
    if ax2 is not None:
        ax2.set_ylabel("PCA-ID, 90 % variance (dashed)")
        ax2.set_ylim(bottom=0)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper right")
    else:
        ax.legend(fontsize=7)
    ax.set_ylim(bottom=0)
    if marks:  # room above the highest reference line for its label, below the title
        ax.set_ylim(top=max(ax.get_ylim()[1], 1.12 * max(marks.values())))
    ax.set_title(title, fontsize=10)
    return fig


def plot_id_vs_embedding(frame: Any, model: str = "trained"):
    """Each layer's TwoNN ID against its embedding dimension (log–log), with ID = D and
    ID = D/4 for reference."""
    d = frame[frame["model"] == model]
    d = d[finite(d["embedding_dim"], d["twonn_full"])]
    fig, (ax,) = _figure(size=(5.0, 4.3))
    if d.empty:
        empty_panel(ax, "no finite layer ID to plot")
        return fig
    ax.errorbar(d["embedding_dim"], d["twonn_full"], yerr=_yerr(d), marker="o", ls="none",
                capsize=2)
    for _, r in d.iterrows():
        ax.annotate(str(r["layer"]), (r["embedding_dim"], r["twonn_full"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    lim = np.array([1.0, float(d["embedding_dim"].max()) * 1.5])
    ax.plot(lim, lim, "k--", lw=0.8, label="ID = D")
    ax.plot(lim, lim / 4, "k:", lw=0.8, label="ID = D/4")
    log_axis(ax, "x", lim)
    log_axis(ax, "y", np.r_[lim / 4, d["twonn_full"].to_numpy(float)])
    ax.set_xlabel("embedding dimension D (units in the layer)")
    ax.set_ylabel("intrinsic dimension (TwoNN)")
    ax.set_title(f"ID vs embedding dimension ({model} network)", fontsize=10)
    ax.legend(fontsize=7)
    return fig


def plot_last_hidden(rows: Sequence[dict[str, Any]], *, title: str):
    """Bars of the last-hidden-layer ID with 95 % intervals (one per condition)."""
    fig, (ax,) = _figure(size=(4.8, 4.0))
    labels = [str(r["label"]) for r in rows]
    vals = np.array([float(r["value"]) for r in rows])
    err = np.abs(np.nan_to_num(np.vstack([vals - [float(r["ci_low"]) for r in rows],
                                          [float(r["ci_high"]) for r in rows] - vals])))
    colors = [_COLORS.get(lab.split()[0], f"C{i}") for i, lab in enumerate(labels)]
    ax.bar(labels, vals, yerr=err, capsize=4, color=colors)
    ax.set_ylabel("TwoNN ID of the last hidden layer")
    ax.set_title(title, fontsize=10)
    return fig


def plot_id_vs_error(points: Any, *, label: str = "label", r: float = math.nan):
    """Last-hidden-layer ID (with interval) against test error, one point per network."""
    fig, (ax,) = _figure(size=(5.2, 4.3))
    x = points["d_repr"].to_numpy(float)
    y = points["test_error"].to_numpy(float)
    if {"d_repr_ci_low", "d_repr_ci_high"} <= set(points.columns):
        xerr = np.abs(np.nan_to_num(np.vstack([x - points["d_repr_ci_low"].to_numpy(float),
                                               points["d_repr_ci_high"].to_numpy(float) - x])))
    else:
        xerr = None
    ax.errorbar(x, y, xerr=xerr, marker="o", ls="none", capsize=2)
    if label in points:
        for xi, yi, name in zip(x, y, points[label]):
            ax.annotate(str(name), (xi, yi), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() >= 2 and np.ptp(x[ok]) > 0:
        b, a = np.polyfit(x[ok], y[ok], 1)
        xs = np.linspace(x[ok].min(), x[ok].max(), 20)
        ax.plot(xs, a + b * xs, "k--", lw=0.8)
    ax.set_xlabel("ID of the last hidden layer (TwoNN, training images)")
    ax.set_ylabel("test error")
    ax.set_title(f"Last-hidden ID vs test error (Pearson r = {r:.2f})", fontsize=10)
    return fig


def plot_pairs(pairs: Any):
    """d_data against K_F for every class pair, each point labelled with its pair."""
    fig, (ax,) = _figure(size=(5.5, 4.5))
    sc = ax.scatter(pairs["label_sharpness"], pairs["d_data_mle_pope"],
                    c=pairs["d_data_twonn"], cmap="viridis", s=22)
    for _, r in pairs.iterrows():
        ax.annotate(str(r["task"]), (r["label_sharpness"], r["d_data_mle_pope"]), fontsize=6,
                    xytext=(2, 2), textcoords="offset points")
    fig.colorbar(sc, ax=ax, label="d_data (TwoNN)")
    ax.set_xlabel("label sharpness K_F (intensities in [0, 1])")
    ax.set_ylabel("d_data (MLE k=20, Pope's k-2)")
    ax.set_title(f"d_data and K_F of the {len(pairs)} class pairs", fontsize=10)
    return fig


def _panels(results: Any) -> list[tuple[str, Any]]:
    """One panel per domain when the table has several (e.g. digit pairs and synthetic
    sets), titled from the data; otherwise a single panel named after its source(s)."""
    for col in ("domain", "source", "dataset"):
        if col in results.columns:
            keys = results[col].dropna().astype(str)
            if col == "source":  # synthetic:* sources of one kind form one panel
                keys = keys.str.split(":").str[0]
            if 1 < keys.nunique() <= 4 and keys.index.equals(results.index):
                return [(str(k), results[keys == k]) for k in sorted(keys.unique())]
    names = sorted(results["dataset"].astype(str).unique()) if "dataset" in results else []
    title = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return [(title or "all runs", results)]


def plot_learning_curves(results: Any, *, loss: str = "test_loss"):
    """Test loss against N (log–log) for every task, coloured by d_data; one panel per
    domain (titled from the data) when the sweep spans several."""
    from matplotlib import colormaps

    panels = _panels(results)
    fig, axes = _figure(ncols=len(panels), size=(4.8, 4.2))
    cmap = colormaps["viridis"]
    dd = results.groupby(["dataset", "task"])["d_data_mle_pope"].mean()
    ok = dd[np.isfinite(dd.to_numpy(float))]
    lo, hi = (float(ok.min()), float(ok.max())) if len(ok) else (math.nan, math.nan)
    for ax, (title, sub) in zip(axes, panels):
        groups = list(sub.groupby(["dataset", "task"], sort=True))
        values = []
        for (ds, task), g in groups:
            m = g.groupby("n_train")[loss].mean()
            m = m[np.isfinite(m.to_numpy(float)) & (m.to_numpy(float) > 0)]
            if m.empty:
                continue
            d = dd.get((ds, task), math.nan)
            c = cmap((d - lo) / (hi - lo) if hi > lo and math.isfinite(d) else 0.5)
            label = str(task) if sub["dataset"].nunique() == 1 else f"{ds} {task}"
            ax.plot(m.index, m.to_numpy(), marker="o", ms=3, lw=1, color=c, alpha=0.8,
                    label=label)
            values.append(m)
        if not values:
            empty_panel(ax, f"no positive {loss.replace('_', ' ')} to plot")
            ax.set_title(title, fontsize=9)
            continue
        log_axis(ax, "x", np.concatenate([v.index.to_numpy(float) for v in values]))
        log_axis(ax, "y", np.concatenate([v.to_numpy(float) for v in values]))
        ax.set_xlabel("training-set size N")
        span = f" (colour: d_data {lo:.1f} to {hi:.1f})" if hi > lo else ""
        ax.set_title(f"{title}{span}", fontsize=9)
        if len(values) <= 12:
            ax.legend(fontsize=6, title="task", title_fontsize=6)
    axes[0].set_ylabel(loss.replace("_", " "))
    return fig


def plot_correlation_vs_eps(table: Any, *, what: str = "loss penalty"):
    """Correlation with K_F (and its 95 % interval) against the attack radius ε, one series
    per attack."""
    fig, (ax,) = _figure(size=(5.2, 4.0))
    table = table[finite(table["eps"], table["r"]) & (table["eps"].astype(float) > 0)]
    if table.empty:
        empty_panel(ax, "no correlation to plot: it needs at least 3 tasks with a finite K_F "
                        "and attack result")
        ax.set_title(f"Adversarial {what} vs label sharpness", fontsize=10)
        return fig
    for i, (method, g) in enumerate(table.groupby("method", sort=True)):
        g = g.sort_values("eps")
        x = g["eps"].to_numpy(float) * 255
        r = g["r"].to_numpy(float)
        err = np.abs(np.nan_to_num(np.vstack([r - g["ci_low"].to_numpy(float),
                                              g["ci_high"].to_numpy(float) - r])))
        ax.errorbar(x * (1 + 0.03 * i), r, yerr=err, marker="o", capsize=3,
                    label=method.upper())
    ax.axhline(0, color="k", lw=0.8)
    log_axis(ax, "x", table["eps"].to_numpy(float) * 255)
    ax.set_xlabel("ε (in 1/255 of the intensity range)")
    ax.set_ylabel(f"Pearson r ({what} vs K_F)")
    ax.set_ylim(-1.05, 1.05)
    ax.set_title(f"Adversarial {what} vs label sharpness", fontsize=10)
    ax.legend(fontsize=8)
    return fig
