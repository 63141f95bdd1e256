"""Plots of the sweep analyses (:mod:`idscope.analysis`), and
:func:`write_analysis`, which writes every table (CSV) and plot (PNG) of a results table.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot, no global
backend change), so they render headless and never open a window.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import analysis as A
from .._atomic import atomic_path, write_json
from ._axes import empty_panel, finite, log_axis

__all__ = [
    "plot_scaling", "plot_exponents", "plot_joint_fit", "plot_robustness",
    "plot_repr_vs_data", "plot_hidden_id_vs_error", "write_analysis", "save_figure",
]


def _figure(ncols: int = 1, size: tuple[float, float] = (5.0, 4.0)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1]), layout="constrained")
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write a figure as PNG atomically."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


def _label(key: Any) -> str:
    return "/".join(map(str, key)) if isinstance(key, tuple) else str(key)


def plot_scaling(results: Any, exponents: Any = None, *, loss: str = "test_loss",
                 by: Sequence[str] = ("dataset", "task", "model"),
                 d_data: str = A.DEFAULT_D_DATA):
    """Test loss against N on log–log axes, one series per group (every run, and the geometric
    mean per N), with the fitted power law; the legend gives the exponent α and 1/d_data."""
    df = A.results_frame(results, "plot_scaling")
    if exponents is None:
        exponents = A.scaling_exponents(df, loss=loss, by=by, d_data=d_data, n_bootstrap=0)
    by = [b for b in by if b in df.columns]
    fig, (ax,) = _figure(size=(6.0, 4.5))
    groups = df.groupby(by, sort=True, dropna=False) if by else [("all", df)]
    xs_all, ys_all = [], []
    for i, (key, g) in enumerate(groups):
        color = f"C{i % 10}"
        g = g[(g[loss] > 0) & (g["n_train"] > 0)]
        if g.empty:
            continue
        xs_all.append(g["n_train"].to_numpy(float))
        ys_all.append(g[loss].to_numpy(float))
        # The fit is in log space, so the markers are geometric means over the runs.
        gm = g.groupby("n_train")[loss].agg(lambda v: float(np.exp(np.log(v).mean())))
        ax.scatter(g["n_train"], g[loss], s=6, alpha=0.35, color=color)
        ax.plot(gm.index, gm.to_numpy(), "o", ms=5, color=color)
        sel = np.ones(len(exponents), dtype=bool)
        for b, v in zip(by, key if isinstance(key, tuple) else (key,)):
            sel &= (exponents[b] == v).to_numpy()
        if sel.any():
            e = exponents[sel].iloc[0]
            if math.isfinite(e["exponent"]):
                ns = np.geomspace(g["n_train"].min(), g["n_train"].max(), 50)
                ax.plot(ns, np.exp(e["intercept"]) * ns ** (-e["exponent"]), color=color,
                        label=f"{_label(key)}: α={e['exponent']:.3g}, "
                              f"1/d_data={e['inv_d_data']:.3g}")
    if not xs_all:
        empty_panel(ax, f"no positive {loss.replace('_', ' ')} to plot")
        ax.set_title("Scaling of the test loss with N")
        return fig
    log_axis(ax, "x", np.concatenate(xs_all))
    log_axis(ax, "y", np.concatenate(ys_all))
    sizes = np.sort(df["n_train"].dropna().unique())
    if 1 < len(sizes) <= 8:
        from matplotlib.ticker import FixedLocator, NullFormatter

        ax.xaxis.set_major_locator(FixedLocator(sizes))
        ax.set_xticks(sizes, [str(int(v)) for v in sizes])
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training-set size N")
    ax.set_ylabel(loss.replace("_", " "))
    ax.set_title("Scaling of the test loss with N")
    if 0 < len(ax.get_legend_handles_labels()[0]) <= 12:
        ax.legend(fontsize=7)
    return fig


def plot_exponents(exponents: Any):
    """Measured exponent α (with its CI) against 1/d_data and 1/d_repr; the line is α = 1/d."""
    fig, (ax,) = _figure(size=(5.0, 4.5))
    e = exponents
    yerr = np.vstack([e["exponent"] - e["ci_low"], e["ci_high"] - e["exponent"]])
    yerr = np.where(np.isfinite(yerr), np.abs(yerr), 0)
    for col, marker, name in (("inv_d_data", "o", "1/d_data"), ("inv_d_repr", "s", "1/d_repr")):
        if col in e and np.isfinite(e[col].to_numpy(float)).any():
            ax.errorbar(e[col], e["exponent"], yerr=yerr, marker=marker, ls="none", capsize=2,
                        label=name)
    xs = np.concatenate([[np.nan]] + [e[c].to_numpy(float) for c in ("inv_d_data", "inv_d_repr")
                                      if c in e])
    ys = np.r_[[np.nan], e["exponent"].to_numpy(float), e["ci_high"].to_numpy(float)]
    xmax = float(np.nanmax(xs)) * 1.15 if np.isfinite(xs).any() else 1.0
    ymax = float(np.nanmax(ys)) * 1.1 if np.isfinite(ys).any() else 1.0
    top = min(xmax, ymax)
    ax.plot([0, top], [0, top], "k--", lw=0.8, label="α = 1/d")
    ax.set_xlim(0, xmax)
    ax.set_ylim(0, max(ymax, top))
    ax.set_xlabel("1/d")
    ax.set_ylabel("measured exponent α (L ∝ N^−α)")
    ax.set_title("Scaling exponent vs intrinsic dimension")
    ax.legend(fontsize=8)
    return fig


def plot_joint_fit(results: Any, fit: Any = None, **kw: Any):
    """Observed against fitted log L for log L = a + c·(log N)/d_data + β·log K_F."""
    if fit is None:
        fit = A.joint_scaling_fit(results, n_bootstrap=0, **kw)
    d = fit.predict(results)
    pred, obs = d["fitted_log_loss"].to_numpy(), d["observed_log_loss"].to_numpy()
    fig, (ax,) = _figure(size=(5.0, 4.5))
    groups = d["dataset"].astype(str).to_numpy() if "dataset" in d else np.zeros(len(d), str)
    for gname in sorted(set(groups)):
        m = groups == gname
        ax.scatter(pred[m], obs[m], s=12, label=gname)
    lo, hi = float(min(pred.min(), obs.min())), float(max(pred.max(), obs.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel("fitted log L")
    ax.set_ylabel("observed log L")
    ax.set_title(f"log L = a + c·log N/d_data + β·log K_F   "
                 f"(c={fit['c']:.2f}, β={fit['beta']:.2f}, R²={fit.r2:.2f})", fontsize=9)
    if len(set(groups)) <= 12:
        ax.legend(fontsize=7)
    return fig


def plot_robustness(results: Any, *, method: str | None = None, eps: float | None = None,
                    aggregate: Sequence[str] | None = ("dataset", "task")):
    """Adversarial loss penalty and accuracy drop against label sharpness K_F."""
    pts = A.robustness_points(results, method=method, eps=eps, aggregate=aggregate)
    fig, axes = _figure(ncols=2, size=(4.5, 4.0))
    for ax, metric in zip(axes, ("loss_penalty", "acc_drop")):
        ok = finite(pts["label_sharpness"], pts[metric])
        if not ok.any():
            empty_panel(ax, f"no finite K_F and {metric.replace('_', ' ')} to plot")
            continue
        ax.scatter(pts["label_sharpness"][ok], pts[metric][ok], s=16)
        log_axis(ax, "x", pts["label_sharpness"][ok])
        ax.set_xlabel("label sharpness K_F")
        ax.set_ylabel(metric.replace("_", " "))
    fig.suptitle(f"{pts.attrs['method'].upper()} at ε = {pts.attrs['eps']:.4g} of the "
                 f"intensity range")
    return fig


def plot_repr_vs_data(results: Any, *, d_data: str = A.DEFAULT_D_DATA):
    """d_repr against d_data per run; the theory expects points below the diagonal."""
    df = A.results_frame(results, "plot_repr_vs_data")
    A.require_columns(df, ["d_repr", d_data], "plot_repr_vs_data")
    fig, (ax,) = _figure(size=(5.0, 4.5))
    groups = df["dataset"].astype(str) if "dataset" in df else np.zeros(len(df), str)
    for gname in sorted(set(groups)):
        m = (groups == gname).to_numpy() if hasattr(groups, "to_numpy") else groups == gname
        ax.scatter(df.loc[m, d_data], df.loc[m, "d_repr"], s=12, label=gname)
    hi = float(np.nanmax(np.r_[df[d_data].to_numpy(float), df["d_repr"].to_numpy(float)]))
    ax.plot([0, hi * 1.05], [0, hi * 1.05], "k--", lw=0.8, label="d_repr = d_data")
    ax.set_xlabel(f"d_data ({d_data})")
    ax.set_ylabel("d_repr (TwoNN, last hidden layer)")
    ax.set_title("Representation vs data intrinsic dimension")
    if len(set(groups)) <= 12:
        ax.legend(fontsize=7)
    return fig


def plot_hidden_id_vs_error(results: Any, *, error: str = "test_error"):
    """Last-hidden-layer ID against test error, one point per model and task."""
    pts = A.hidden_id_points(results, error=error)
    fig, (ax,) = _figure(size=(5.0, 4.5))
    ax.scatter(pts["d_repr"], pts[error], s=16)
    if "model" in pts and len(pts) <= 30:
        for _, r in pts.iterrows():
            ax.annotate(str(r["model"]), (r["d_repr"], r[error]), fontsize=6)
    ax.set_xlabel("ID of the last hidden layer (TwoNN)")
    ax.set_ylabel(error.replace("_", " "))
    ax.set_title("Last-hidden-layer ID vs test error")
    return fig


def write_analysis(results: Any, out_dir: str | os.PathLike, *,
                   d_data: str = A.DEFAULT_D_DATA, domain: str | None = None,
                   n_bootstrap: int = 1000, seed: int = 0, plots: bool = True
                   ) -> dict[str, Path]:
    """Run every analysis the table allows; write tables as CSV and plots as PNG into
    ``out_dir``. Returns name → path of everything written (``skipped.csv`` says which
    analyses could not run, and why)."""
    df = A.results_frame(results, "write_analysis")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = A.run_analyses(df, d_data=d_data, domain=domain, n_bootstrap=n_bootstrap,
                            seed=seed)
    written: dict[str, Path] = {}
    for name, table in tables.items():
        path = out / f"{name}.csv"
        with atomic_path(path, suffix=".csv") as tmp:
            table.to_csv(tmp, index=False)
        written[name] = path
    if not plots:
        return written
    figs = {}
    if "scaling_exponents" in tables:
        figs["scaling"] = lambda: plot_scaling(df, tables["scaling_exponents"], d_data=d_data)
        figs["exponents"] = lambda: plot_exponents(tables["scaling_exponents"])
    if "joint_fit" in tables:
        figs["joint_fit"] = lambda: plot_joint_fit(df, d_data=d_data,
                                                   domain=A.default_domain(df, domain))
    if "robustness_vs_sharpness" in tables:
        figs["robustness_vs_sharpness"] = lambda: plot_robustness(df)
    if "repr_vs_data" in tables:
        figs["repr_vs_data"] = lambda: plot_repr_vs_data(df, d_data=d_data)
    if "hidden_id_vs_error" in tables:
        figs["hidden_id_vs_error"] = lambda: plot_hidden_id_vs_error(df)
    for name, make in figs.items():
        written[f"{name}.png"] = save_figure(make(), out / f"{name}.png")
    write_json(out / "index.json", {k: p.name for k, p in written.items()})
    return written
