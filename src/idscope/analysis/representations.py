"""Representation ID over a results table: d_repr against d_data (Konz & Mazurowski, ICLR
2024) and the last hidden layer's ID against test error (Ansuini et al., NeurIPS 2019).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .tables import (
    DEFAULT_D_DATA,
    correlation_ci,
    require_columns,
    resolve_level,
    results_frame,
    wilson_interval,
)

__all__ = ["repr_vs_data", "hidden_id_points", "hidden_id_vs_error"]


def repr_vs_data(results: Any, *, d_data: str = DEFAULT_D_DATA,
                 by: Sequence[str] | None = ("dataset",), level: float = 0.95,
                 ci: float | None = None):
    """How d_repr compares with d_data: the fraction of runs with d_repr ≤ d_data and the
    distribution of the ratio d_repr / d_data.

    The scaling law in representation space (L ≃ O(N^(−1/d_repr))) together with the one in
    data space implies d_repr ≲ d_data (Konz & Mazurowski 2024).

    Returns
    -------
    DataFrame with a row ``group="(all)"`` and one per ``by`` group: ``n_runs``,
    ``n_leq``, ``fraction_leq`` with its Wilson interval (``ci_low``, ``ci_high``), and the
    ratio's ``mean``, ``min``, ``q25``, ``median``, ``q75``, ``max``.
    """
    import pandas as pd

    caller = "repr_vs_data"
    df = results_frame(results, caller)
    level = resolve_level(level, ci, caller)
    require_columns(df, ["d_repr", d_data], caller)
    dr, dd = df["d_repr"].to_numpy(float), df[d_data].to_numpy(float)
    ok = np.isfinite(dr) & np.isfinite(dd) & (dd > 0)
    df = df[ok].assign(_ratio=dr[ok] / dd[ok], _leq=dr[ok] <= dd[ok])

    def summary(g: Any, label: str) -> dict[str, Any]:
        r = g["_ratio"].to_numpy(float)
        k, n = int(g["_leq"].sum()), int(len(g))
        lo, hi = wilson_interval(k, n, level)
        q = np.quantile(r, [0, 0.25, 0.5, 0.75, 1]) if n else [math.nan] * 5
        return {"group": label, "n_runs": n, "n_leq": k,
                "fraction_leq": k / n if n else math.nan, "ci_low": lo, "ci_high": hi,
                "ratio_mean": float(r.mean()) if n else math.nan, "ratio_min": q[0],
                "ratio_q25": q[1], "ratio_median": q[2], "ratio_q75": q[3], "ratio_max": q[4]}

    rows = [summary(df, "(all)")]
    by = [b for b in (by or ()) if b in df.columns]
    if by:
        for gkey, g in df.groupby(by, sort=True, dropna=False):
            gkey = gkey if isinstance(gkey, tuple) else (gkey,)
            rows.append(summary(g, "/".join(map(str, gkey))))
    return pd.DataFrame(rows)


def hidden_id_points(results: Any, *, error: str = "test_error",
                     points_by: Sequence[str] = ("dataset", "task", "model")):
    """Per-model points (mean d_repr, mean test error) for :func:`hidden_id_vs_error`."""
    caller = "hidden_id_vs_error"
    df = results_frame(results, caller)
    if error == "test_error" and "test_error" not in df.columns and "test_acc" in df.columns:
        df = df.assign(test_error=1 - df["test_acc"].astype(float))
    require_columns(df, ["d_repr", error], caller)
    by = [b for b in points_by if b in df.columns]
    pts = df[by + ["d_repr", error]].copy()
    pts["d_repr"] = pts["d_repr"].astype(float)
    pts[error] = pts[error].astype(float)
    return pts.groupby(by, sort=True, dropna=False).mean().reset_index() if by else pts


def hidden_id_vs_error(
    results: Any,
    *,
    error: str = "test_error",
    points_by: Sequence[str] = ("dataset", "task", "model"),
    within: Sequence[str] | None = ("dataset", "task"),
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    ci: float | None = None,
):
    """Correlation across models of the last-hidden-layer ID (d_repr) with the test error.

    Ansuini et al. (2019) find that networks whose last hidden layer has a lower ID
    generalise better (Pearson r = 0.94 with top-5 error over 14 ImageNet CNNs). Points are
    the per-``points_by`` means (one per model of a task); the correlation is computed
    within each ``within`` group and over all points (``group="(all)"``).

    Returns
    -------
    DataFrame with rows (group) × (correlation ∈ {pearson, spearman}) and columns ``r``,
    ``ci_low``, ``ci_high``, ``p_value``, ``n``.
    """
    import pandas as pd

    caller = "hidden_id_vs_error"
    level = resolve_level(level, ci, caller)
    pts = hidden_id_points(results, error=error, points_by=points_by)
    groups: list[tuple[str, Any]] = [("(all)", pts)]
    within = [w for w in (within or ()) if w in pts.columns]
    if within:
        for gkey, g in pts.groupby(within, sort=True, dropna=False):
            gkey = gkey if isinstance(gkey, tuple) else (gkey,)
            groups.append(("/".join(map(str, gkey)), g))
    rows = []
    for i, (label, g) in enumerate(groups):
        for j, corr in enumerate(("pearson", "spearman")):
            r = correlation_ci(g["d_repr"], g[error], method=corr, n_bootstrap=n_bootstrap,
                               level=level, seed=seed + 2 * i + j)
            rows.append({"group": label, "correlation": corr, **r, "error": error})
    return pd.DataFrame(rows)
