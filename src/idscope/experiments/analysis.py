"""Analyses over a sweep's results table (also importable as ``idscope.analysis``).

Each function takes the table (a pandas DataFrame, a results folder, or a .parquet/.csv
file) and returns a table; the plots are in :mod:`idscope.report.analysis`.

* :func:`scaling_exponents` — per dataset/task/model, the empirical exponent α of the test
  loss, L ∝ N^(−α), as minus the least-squares slope of log L on log N, with a bootstrap CI
  (runs resampled within each N), beside 1/d_data and 1/d_repr, the exponents that Konz &
  Mazurowski (ICLR 2024) bound it by (log L ≲ −(1/d)·log N + log K_F + a).
* :func:`joint_scaling_fit` — the joint law over all runs,
  log L = a + c·(log N)/d_data + β·log K_F (+ a per-domain offset), by ordinary least
  squares with classical standard errors, bootstrap CIs (runs resampled) and R²; the theory
  reads c ≈ −1, β ≈ 1.
* :func:`robustness_vs_sharpness` — Pearson and Spearman correlation of the adversarial loss
  penalty and accuracy drop with K_F (Konz & Mazurowski: r = 0.70 across datasets for the
  FGSM loss penalty at ε = 2/255), bootstrap CIs.
* :func:`repr_vs_data` — the fraction of runs with d_repr ≤ d_data (with a Wilson interval)
  and the distribution of d_repr / d_data.
* :func:`hidden_id_vs_error` — correlation across models of the last-hidden-layer ID and the
  test error (Ansuini et al., NeurIPS 2019: Pearson r = 0.94 over 14 ImageNet CNNs).

Bootstrap intervals are percentile intervals; ``seed`` fixes them. Regression fits use the
residual bootstrap with leverage-adjusted residuals (the design is fixed by the sweep);
correlations resample the points.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InputError

__all__ = [
    "scaling_exponents", "joint_scaling_fit", "JointFit", "robustness_vs_sharpness",
    "repr_vs_data", "hidden_id_vs_error", "run_analyses", "robustness_columns",
    "robustness_points", "hidden_id_points", "correlation_ci", "loglog_exponent",
    "default_domain", "DEFAULT_D_DATA",
]

# Konz & Mazurowski measure d_data with Pope et al.'s MLE normalisation (k = 20, "k-2").
DEFAULT_D_DATA = "d_data_mle_pope"
_ROBUST_RE = re.compile(r"^(?P<method>[a-z0-9]+)_eps(?P<eps>[0-9.eE+-]+)_(?P<metric>"
                        r"adv_loss|adv_acc|loss_penalty|acc_drop)$")


def _frame(results: Any, caller: str):
    import pandas as pd

    if isinstance(results, pd.DataFrame):
        return results
    if isinstance(results, (str, os.PathLike)):
        from .results import load_results

        return load_results(results)
    if isinstance(results, list):
        return pd.DataFrame(results)
    raise InputError(f"{caller}: expected a results DataFrame, folder or file, got "
                     f"{type(results).__name__}")


def _need(df: Any, columns: Sequence[str], caller: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{caller}: the results table has no column(s) {missing} "
                         f"(was it measured? columns: {list(df.columns)[:40]})")


def _percentile_ci(samples: np.ndarray, ci: float) -> tuple[float, float]:
    s = np.asarray(samples, dtype=float)
    s = s[np.isfinite(s)]
    if s.size < 2:
        return (math.nan, math.nan)
    a = (1 - ci) / 2
    lo, hi = np.quantile(s, [a, 1 - a])
    return float(lo), float(hi)


def _check_ci(ci: float, caller: str) -> float:
    if not 0 < ci < 1:
        raise InputError(f"{caller}: ci={ci} must be in (0, 1)")
    return float(ci)


# ---------------------------------------------------------------------------------------------
# Scaling law per group


def _residual_bootstrap(X: np.ndarray, y: np.ndarray, n_bootstrap: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Least-squares coefficients of ``n_bootstrap`` residual-bootstrap resamples, (B, p).

    The design X stays fixed (the sizes N are chosen by the experimenter); responses are the
    fit plus resampled *modified* residuals e_i/√(1 − h_i), centred (Davison & Hinkley 1997,
    Algorithm 6.3), whose variance matches the errors' even with a few runs per N — case
    resampling within each N shrinks it by (m − 1)/m and under-covers with m = 2–3 seeds.
    """
    pinv = np.linalg.pinv(X)
    coef = pinv @ y
    fitted = X @ coef
    e = y - fitted
    h = np.einsum("ij,ji->i", X, pinv)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(1 - h > 1e-10, e / np.sqrt(np.clip(1 - h, 1e-10, None)), 0.0)
    r = r - r.mean()
    out = np.empty((n_bootstrap, X.shape[1]))
    for start in range(0, n_bootstrap, 512):  # bounded memory for large tables
        b = min(512, n_bootstrap - start)
        ys = fitted + r[rng.integers(0, y.size, (b, y.size))]
        out[start:start + b] = ys @ pinv.T
    return out


def loglog_exponent(n: Any, loss: Any, *, n_bootstrap: int = 1000, ci: float = 0.95,
                    seed: int = 0) -> dict[str, float]:
    """Exponent α of L ∝ N^(−α) from runs (N_i, L_i): α = −slope of log L on log N.

    Returns ``exponent``, ``ci_low``, ``ci_high`` (residual-bootstrap percentile interval),
    ``intercept`` (log-space), ``r2``, ``n_runs``, ``n_sizes``.
    """
    n = np.asarray(n, dtype=float)
    loss = np.asarray(loss, dtype=float)
    ok = np.isfinite(n) & np.isfinite(loss) & (n > 0) & (loss > 0)
    n, loss = n[ok], loss[ok]
    out = {"exponent": math.nan, "ci_low": math.nan, "ci_high": math.nan,
           "intercept": math.nan, "r2": math.nan, "n_runs": int(n.size),
           "n_sizes": int(np.unique(n).size)}
    if out["n_sizes"] < 2:
        return out
    X = np.column_stack([np.ones_like(n), np.log(n)])
    y = np.log(loss)
    (a, b), *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ np.array([a, b])
    sst = float(((y - y.mean()) ** 2).sum())
    out.update(exponent=-float(b), intercept=float(a),
               r2=1 - float(resid @ resid) / sst if sst > 0 else math.nan)
    if n_bootstrap > 0 and y.size > 2:
        boot = _residual_bootstrap(X, y, n_bootstrap, np.random.default_rng(seed))
        out["ci_low"], out["ci_high"] = _percentile_ci(-boot[:, 1], ci)
    return out


def scaling_exponents(
    results: Any,
    *,
    loss: str = "test_loss",
    by: Sequence[str] = ("dataset", "task", "model"),
    d_data: str = DEFAULT_D_DATA,
    n_bootstrap: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
):
    """Empirical scaling exponent of the test loss per group, beside 1/d_data and 1/d_repr.

    For each group of runs (default: dataset, task, model) fits log L = b₀ − α·log N over its
    runs and reports α with a residual-bootstrap CI (``n_bootstrap`` resamples), the fit's
    R², and the group's ``d_data`` and ``d_repr`` (means over its runs at the largest N, where
    the kNN estimates are least biased) with their inverses. Konz & Mazurowski (2024) bound
    the loss by a law with α = 1/d_data (a measured α ≥ 1/d_data is consistent with the
    bound), and argue for α ≈ 1/d_repr in representation space.

    Returns
    -------
    DataFrame with one row per group: the ``by`` columns, ``exponent``, ``ci_low``,
    ``ci_high``, ``intercept``, ``r2``, ``n_runs``, ``n_sizes``, ``d_data``, ``inv_d_data``,
    ``d_repr``, ``inv_d_repr``, ``loss``.
    """
    import pandas as pd

    caller = "scaling_exponents"
    df = _frame(results, caller)
    ci = _check_ci(ci, caller)
    by = [b for b in by if b in df.columns]
    _need(df, ["n_train", loss], caller)
    rows = []
    groups = df.groupby(by, sort=True, dropna=False) if by else [((), df)]
    for i, (gkey, g) in enumerate(groups):
        gkey = gkey if isinstance(gkey, tuple) else (gkey,)
        fit = loglog_exponent(g["n_train"], g[loss], n_bootstrap=n_bootstrap, ci=ci,
                              seed=seed + i)
        row = dict(zip(by, gkey))
        row.update(fit)
        # d_data and d_repr at the group's largest N: the least biased (kNN estimates read low
        # on few points), and the closest to a property of the dataset.
        top = g[g["n_train"] == g["n_train"].max()]
        dd = float(top[d_data].mean()) if d_data in g else math.nan
        dr = float(top["d_repr"].mean()) if "d_repr" in g else math.nan
        row.update(d_data=dd, inv_d_data=1 / dd if dd > 0 else math.nan,
                   d_repr=dr, inv_d_repr=1 / dr if dr > 0 else math.nan, loss=loss)
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Joint fit


@dataclass(frozen=True)
class JointFit:
    """Least-squares fit of log L = a + c·(log N)/d_data + β·log K_F (+ domain offsets).

    Attributes
    ----------
    terms : tuple of str
        ``"a"``, ``"c"``, ``"beta"`` and ``"domain[NAME]"`` offsets (relative to the first
        domain, which ``a`` then belongs to).
    estimate, stderr : tuple of float
        OLS coefficients and their classical standard errors σ̂·√diag((XᵀX)⁻¹).
    ci_low, ci_high : tuple of float
        Residual-bootstrap percentile intervals.
    r2 : float
        Coefficient of determination in log space.
    n : int
        Runs used.
    """

    terms: tuple[str, ...]
    estimate: tuple[float, ...]
    stderr: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    r2: float
    n: int
    loss: str = "test_loss"
    d_data: str = DEFAULT_D_DATA
    sharpness: str = "label_sharpness"
    domain: str | None = None
    properties: str = "group"
    group_by: tuple[str, ...] = ("dataset", "task")
    ci: float = 0.95
    n_bootstrap: int = 1000

    def __getitem__(self, term: str) -> float:
        return self.estimate[self.terms.index(term)]

    def interval(self, term: str) -> tuple[float, float]:
        i = self.terms.index(term)
        return (self.ci_low[i], self.ci_high[i])

    def table(self):
        import pandas as pd

        return pd.DataFrame({"term": self.terms, "estimate": self.estimate,
                             "stderr": self.stderr, "ci_low": self.ci_low,
                             "ci_high": self.ci_high, "r2": self.r2, "n": self.n})

    def to_dict(self) -> dict[str, Any]:
        return {"terms": list(self.terms), "estimate": list(self.estimate),
                "stderr": list(self.stderr), "ci_low": list(self.ci_low),
                "ci_high": list(self.ci_high), "r2": self.r2, "n": self.n, "loss": self.loss,
                "d_data": self.d_data, "sharpness": self.sharpness, "domain": self.domain,
                "properties": self.properties, "group_by": list(self.group_by), "ci": self.ci,
                "n_bootstrap": self.n_bootstrap}


def _design(df: Any, d_data: str, sharpness: str, domain: str | None
            ) -> tuple[np.ndarray, list[str]]:
    cols = [np.ones(len(df)), np.log(df["n_train"].to_numpy(float))
            / df[d_data].to_numpy(float), np.log(df[sharpness].to_numpy(float))]
    terms = ["a", "c", "beta"]
    if domain is not None:
        levels = sorted(df[domain].astype(str).unique())
        for lev in levels[1:]:
            cols.append((df[domain].astype(str) == lev).to_numpy(float))
            terms.append(f"domain[{lev}]")
    return np.column_stack(cols), terms


def _group_properties(df: Any, columns: Sequence[str], group_by: Sequence[str]):
    """``columns`` replaced by their group means over the group's runs at its largest N."""
    by = [b for b in group_by if b in df.columns]
    if not by:
        return df
    df = df.copy()
    key = df[by].astype(str).agg("\x1f".join, axis=1)
    nmax = df.groupby(key)["n_train"].transform("max")
    top = df[df["n_train"] == nmax]
    for col in columns:
        means = top.groupby(key[top.index])[col].mean()
        df[col] = key.map(means).to_numpy(float)
    return df


def joint_scaling_fit(
    results: Any,
    *,
    loss: str = "test_loss",
    d_data: str = DEFAULT_D_DATA,
    sharpness: str = "label_sharpness",
    domain: str | None = None,
    properties: str = "group",
    group_by: Sequence[str] = ("dataset", "task"),
    n_bootstrap: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> JointFit:
    """Fit log L = a + c·(log N)/d_data + β·log K_F (+ per-domain offsets) over all runs.

    Konz & Mazurowski (ICLR 2024) bound the test loss by log L ≲ −(1/d_data)·log N +
    log K_F + a, i.e. c ≈ −1 and β ≈ 1 when the bound is tight. ``domain`` names a column
    (e.g. ``"domain"``: natural vs medical images) that gets its own offset.

    ``properties="group"`` (default) uses, for every run, its dataset/task's d_data and K_F
    (means over the ``group_by`` group's runs at its largest N), as the paper treats them:
    properties of the dataset. ``"run"`` uses each run's own values, measured on its
    training subset (K_F grows and kNN estimates of d_data change with N).

    Returns
    -------
    JointFit
        Coefficients with classical standard errors, residual-bootstrap percentile CIs
        (``n_bootstrap`` resamples) and R²; ``.table()`` is a DataFrame.
    """
    caller = "joint_scaling_fit"
    df = _frame(results, caller)
    ci = _check_ci(ci, caller)
    cols = ["n_train", loss, d_data, sharpness] + ([domain] if domain else [])
    _need(df, cols, caller)
    if properties not in ("group", "run"):
        raise InputError(f"{caller}: properties={properties!r} is not 'group' or 'run'")
    if properties == "group":
        df = _group_properties(df, [d_data, sharpness], group_by)
    num = df[["n_train", loss, d_data, sharpness]].to_numpy(float)
    ok = np.isfinite(num).all(axis=1) & (num > 0).all(axis=1)
    df = df[ok]
    X, terms = _design(df, d_data, sharpness, domain)
    y = np.log(df[loss].to_numpy(float))
    n, p = X.shape
    if n <= p or np.linalg.matrix_rank(X) < p:
        raise InputError(f"{caller}: {n} usable run(s) cannot determine the {p} terms {terms} "
                         f"(need more runs than terms, and N, d_data and K_F that vary "
                         f"independently)")
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    sigma2 = float(resid @ resid) / (n - p)
    se = np.sqrt(np.diag(np.linalg.inv(X.T @ X)) * sigma2)
    sst = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float(resid @ resid) / sst if sst > 0 else math.nan
    lo = hi = np.full(p, np.nan)
    if n_bootstrap > 0:
        est = _residual_bootstrap(X, y, n_bootstrap, np.random.default_rng(seed))
        bounds = np.array([_percentile_ci(est[:, j], ci) for j in range(p)])
        lo, hi = bounds[:, 0], bounds[:, 1]
    return JointFit(tuple(terms), tuple(map(float, coef)), tuple(map(float, se)),
                    tuple(map(float, lo)), tuple(map(float, hi)), float(r2), int(n), loss,
                    d_data, sharpness, domain, properties, tuple(group_by), ci, n_bootstrap)


# ---------------------------------------------------------------------------------------------
# Correlations


def correlation_ci(x: Any, y: Any, *, method: str = "pearson", n_bootstrap: int = 1000,
                   ci: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Pearson or Spearman correlation with a bootstrap percentile CI (pairs resampled) and
    scipy's p-value. NaN when fewer than 3 points or a variable is constant."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    out = {"r": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan,
           "n": int(x.size)}
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    if method == "spearman":
        res = stats.spearmanr(x, y)
    elif method == "pearson":
        res = stats.pearsonr(x, y)
    else:
        raise InputError(f"correlation_ci: method={method!r} is not 'pearson' or 'spearman'")
    out["r"], out["p_value"] = float(res[0]), float(res[1])
    if n_bootstrap > 0:
        idx = np.random.default_rng(seed).integers(0, x.size, (n_bootstrap, x.size))
        bx, by = x[idx], y[idx]
        if method == "spearman":
            bx = stats.rankdata(bx, axis=1)
            by = stats.rankdata(by, axis=1)
        bx = bx - bx.mean(axis=1, keepdims=True)
        by = by - by.mean(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (bx * by).sum(1) / np.sqrt((bx * bx).sum(1) * (by * by).sum(1))
        out["ci_low"], out["ci_high"] = _percentile_ci(r, ci)
    return out


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
    df = _frame(results, caller)
    _need(df, [sharpness], caller)
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
    ci: float = 0.95,
    seed: int = 0,
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
    ci = _check_ci(ci, caller)
    pts = robustness_points(results, method=method, eps=eps, sharpness=sharpness,
                            aggregate=aggregate)
    rows = []
    for i, metric in enumerate(("loss_penalty", "acc_drop")):
        for j, corr in enumerate(("pearson", "spearman")):
            r = correlation_ci(pts["label_sharpness"], pts[metric], method=corr,
                               n_bootstrap=n_bootstrap, ci=ci, seed=seed + 2 * i + j)
            rows.append({"metric": metric, "correlation": corr, **r,
                         "method": pts.attrs["method"], "eps": pts.attrs["eps"]})
    return pd.DataFrame(rows)


def _wilson(k: int, n: int, ci: float) -> tuple[float, float]:
    from scipy import stats

    if n == 0:
        return (math.nan, math.nan)
    z = float(stats.norm.ppf(0.5 + ci / 2))
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (0.0 if k == 0 else max(0.0, mid - half), 1.0 if k == n else min(1.0, mid + half))


def repr_vs_data(results: Any, *, d_data: str = DEFAULT_D_DATA,
                 by: Sequence[str] | None = ("dataset",), ci: float = 0.95):
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
    df = _frame(results, caller)
    ci = _check_ci(ci, caller)
    _need(df, ["d_repr", d_data], caller)
    dr, dd = df["d_repr"].to_numpy(float), df[d_data].to_numpy(float)
    ok = np.isfinite(dr) & np.isfinite(dd) & (dd > 0)
    df = df[ok].assign(_ratio=dr[ok] / dd[ok], _leq=dr[ok] <= dd[ok])

    def summary(g: Any, label: str) -> dict[str, Any]:
        r = g["_ratio"].to_numpy(float)
        k, n = int(g["_leq"].sum()), int(len(g))
        lo, hi = _wilson(k, n, ci)
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
    df = _frame(results, caller)
    if error == "test_error" and "test_error" not in df.columns and "test_acc" in df.columns:
        df = df.assign(test_error=1 - df["test_acc"].astype(float))
    _need(df, ["d_repr", error], caller)
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
    ci: float = 0.95,
    seed: int = 0,
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
    ci = _check_ci(ci, caller)
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
                               ci=ci, seed=seed + 2 * i + j)
            rows.append({"group": label, "correlation": corr, **r, "error": error})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# All at once


def default_domain(df: Any, domain: str | None) -> str | None:
    """``domain`` if given, else ``"domain"`` when the table has more than one domain."""
    if domain is None and "domain" in df.columns and df["domain"].astype(str).nunique() > 1:
        return "domain"
    return domain


def run_analyses(results: Any, *, d_data: str = DEFAULT_D_DATA, domain: str | None = None,
                 n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Every analysis the table's columns allow.

    Returns a dict name → DataFrame (``scaling_exponents``, ``joint_fit``,
    ``robustness_vs_sharpness``, ``repr_vs_data``, ``hidden_id_vs_error``) plus
    ``"skipped"``: a DataFrame of (analysis, reason) for those that could not run.
    """
    import pandas as pd

    df = _frame(results, "run_analyses")
    domain = default_domain(df, domain)
    out: dict[str, Any] = {}
    skipped = []
    calls = {
        "scaling_exponents": lambda: scaling_exponents(df, d_data=d_data,
                                                       n_bootstrap=n_bootstrap, seed=seed),
        "joint_fit": lambda: joint_scaling_fit(df, d_data=d_data, domain=domain,
                                               n_bootstrap=n_bootstrap, seed=seed).table(),
        "robustness_vs_sharpness": lambda: robustness_vs_sharpness(
            df, n_bootstrap=n_bootstrap, seed=seed),
        "repr_vs_data": lambda: repr_vs_data(df, d_data=d_data),
        "hidden_id_vs_error": lambda: hidden_id_vs_error(df, n_bootstrap=n_bootstrap,
                                                         seed=seed),
    }
    for name, fn in calls.items():
        try:
            out[name] = fn()
        except InputError as exc:
            skipped.append({"analysis": name, "reason": str(exc)})
    out["skipped"] = pd.DataFrame(skipped, columns=["analysis", "reason"])
    return out
