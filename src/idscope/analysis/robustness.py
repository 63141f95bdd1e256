"""Adversarial vulnerability against label sharpness K_F over a results table.

Konz & Mazurowski (ICLR 2024): log R ≳ −log K_F + b; Pearson r = 0.70 across datasets for the
FGSM loss penalty at ε = 2/255. Correlations resample the points.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from .._errors import InputError
from .tables import (
    correlation_ci,
    require_columns,
    resolve_level,
    results_frame,
)

__all__ = ["robustness_columns", "robustness_points", "robustness_vs_sharpness"]

_ROBUST_RE = re.compile(r"^(?P<method>[a-z0-9]+)_eps(?P<eps>[0-9.eE+-]+)_(?P<metric>"
                        r"adv_loss|adv_acc|loss_penalty|acc_drop)$")


def robustness_columns(df: Any) -> dict[tuple[str, float], dict[str, str]]:
    """The robustness columns of a results table: {(method, eps): {metric: column}}."""
    out: dict[tuple[str, float], dict[str, str]] = {}
    for col in df.columns:
        m = _ROBUST_RE.match(str(col))
        if m:
            out.setdefault((m["method"], float(m["eps"])), {})[m["metric"]] = col
    return out


def _pick_attack(df: Any, method: str | None, eps: float | None, caller: str
                 ) -> tuple[str, float, dict[str, str]]:
    cols = robustness_columns(df)
    if not cols:
        raise InputError(f"{caller}: the results table has no robustness columns (set "
                         f"[measure.robustness] in the sweep config)")
    methods = sorted({m for m, _ in cols})
    if method is None:
        method = "fgsm" if "fgsm" in methods else methods[0]
    avail = sorted(e for m, e in cols if m == method)
    if not avail:
        raise InputError(f"{caller}: no robustness columns for method {method!r}; measured: "
                         f"{methods}")
    target = 2 / 255 if eps is None else float(eps)
    best = min(avail, key=lambda e: abs(e - target))
    if eps is not None and not math.isclose(best, target, rel_tol=1e-4, abs_tol=1e-9):
        raise InputError(f"{caller}: eps={eps} was not measured for {method}; measured: "
                         f"{avail}")
    return method, best, cols[(method, best)]


def robustness_points(results: Any, *, method: str | None = None, eps: float | None = None,
                      sharpness: str = "label_sharpness",
                      aggregate: Sequence[str] | None = ("dataset", "task")):
    """The (K_F, loss penalty, accuracy drop) points the robustness correlation uses: one per
    ``aggregate`` group (means over its runs), or one per run when ``aggregate`` is None."""
    import pandas as pd

    caller = "robustness_vs_sharpness"
    df = results_frame(results, caller)
    require_columns(df, [sharpness], caller)
    method, eps, cols = _pick_attack(df, method, eps, caller)
    pts = pd.DataFrame({"label_sharpness": df[sharpness].astype(float),
                        "loss_penalty": df[cols["loss_penalty"]].astype(float),
                        "acc_drop": df[cols["acc_drop"]].astype(float)})
    agg = [a for a in (aggregate or ()) if a in df.columns]
    if agg:
        for a in agg:
            pts[a] = df[a].to_numpy()
        pts = pts.groupby(agg, sort=True, dropna=False).mean().reset_index()
    pts.attrs.update(method=method, eps=eps)
    return pts


def robustness_vs_sharpness(
    results: Any,
    *,
    method: str | None = None,
    eps: float | None = None,
    sharpness: str = "label_sharpness",
    aggregate: Sequence[str] | None = ("dataset", "task"),
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    ci: float | None = None,
):
    """Correlation of adversarial vulnerability with label sharpness K_F.

    Konz & Mazurowski (2024): log R ≳ −log K_F + b, measured as the loss penalty of an FGSM
    attack at ε = 2/255 of the intensity range; r = 0.70 across datasets. By default the
    points are per-task means (``aggregate``) of the FGSM (if measured) columns at the ε
    closest to 2/255.

    Returns
    -------
    DataFrame with rows (metric ∈ {loss_penalty, acc_drop}) × (correlation ∈ {pearson,
    spearman}) and columns ``r``, ``ci_low``, ``ci_high``, ``p_value``, ``n``, ``method``,
    ``eps``.
    """
    import pandas as pd

    caller = "robustness_vs_sharpness"
    level = resolve_level(level, ci, caller)
    pts = robustness_points(results, method=method, eps=eps, sharpness=sharpness,
                            aggregate=aggregate)
    rows = []
    for i, metric in enumerate(("loss_penalty", "acc_drop")):
        for j, corr in enumerate(("pearson", "spearman")):
            r = correlation_ci(pts["label_sharpness"], pts[metric], method=corr,
                               n_bootstrap=n_bootstrap, level=level, seed=seed + 2 * i + j)
            rows.append({"metric": metric, "correlation": corr, **r,
                         "method": pts.attrs["method"], "eps": pts.attrs["eps"]})
    return pd.DataFrame(rows)
