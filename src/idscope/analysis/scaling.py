"""Scaling of test loss with training-set size: per-group exponents and the joint law.

Each function takes the table (a pandas DataFrame, a results folder, or a .parquet/.csv
file) and returns a table; the plots are in :mod:`idscope.report.sweep_plots`.

* :func:`scaling_exponents` — per dataset/task/model, the empirical exponent α of the test
  loss, L ∝ N^(−α), as minus the least-squares slope of log L on log N, with a bootstrap CI
  (runs resampled within each N), beside 1/d_data and 1/d_repr, the exponents that Konz &
  Mazurowski (ICLR 2024) bound it by (log L ≲ −(1/d)·log N + log K_F + a).
* :func:`joint_scaling_fit` — the joint law over all runs,
  log L = a + c·(log N)/d_data + β·log K_F (+ a per-domain offset), by ordinary least
  squares with classical standard errors, bootstrap CIs (runs resampled) and R²; the theory
  reads c ≈ −1, β ≈ 1.

Bootstrap intervals are percentile intervals; ``seed`` fixes them. Regression fits use the
residual bootstrap with leverage-adjusted residuals (the design is fixed by the sweep).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InputError
from .tables import (
    DEFAULT_D_DATA,
    percentile_interval,
    require_columns,
    resolve_level,
    results_frame,
)

__all__ = ["loglog_exponent", "scaling_exponents", "JointFit", "joint_scaling_fit",
           "scaling_design", "group_properties"]


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


def loglog_exponent(n: Any, loss: Any, *, n_bootstrap: int = 1000, level: float = 0.95,
                    seed: int = 0, ci: float | None = None) -> dict[str, float]:
    """Exponent α of L ∝ N^(−α) from runs (N_i, L_i): α = −slope of log L on log N.

    Returns ``exponent``, ``ci_low``, ``ci_high`` (residual-bootstrap percentile interval),
    ``intercept`` (log-space), ``r2``, ``n_runs``, ``n_sizes``.
    """
    level = resolve_level(level, ci, "loglog_exponent")
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
        out["ci_low"], out["ci_high"] = percentile_interval(-boot[:, 1], level)
    return out


def scaling_exponents(
    results: Any,
    *,
    loss: str = "test_loss",
    by: Sequence[str] = ("dataset", "task", "model"),
    d_data: str = DEFAULT_D_DATA,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    ci: float | None = None,
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
    df = results_frame(results, caller)
    level = resolve_level(level, ci, caller)
    by = [b for b in by if b in df.columns]
    require_columns(df, ["n_train", loss], caller)
    rows = []
    groups = df.groupby(by, sort=True, dropna=False) if by else [((), df)]
    for i, (gkey, g) in enumerate(groups):
        gkey = gkey if isinstance(gkey, tuple) else (gkey,)
        fit = loglog_exponent(g["n_train"], g[loss], n_bootstrap=n_bootstrap, level=level,
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
    level: float = 0.95
    n_bootstrap: int = 1000

    @property
    def ci(self) -> float:
        """Deprecated name of :attr:`level` (0.1)."""
        return self.level

    def __getitem__(self, term: str) -> float:
        return self.estimate[self.terms.index(term)]

    def interval(self, term: str) -> tuple[float, float]:
        i = self.terms.index(term)
        return (self.ci_low[i], self.ci_high[i])

    def predict(self, results: Any):
        """The runs the fit can read, with the fitted and observed log L.

        ``results`` is a results table (or folder/file); its group properties are averaged
        as in the fit (``properties="group"``). Returns a copy of the usable rows with two
        added columns, ``fitted_log_loss`` (the design times :attr:`estimate`) and
        ``observed_log_loss``.
        """
        df = results_frame(results, "JointFit.predict")
        require_columns(df, ["n_train", self.loss, self.d_data, self.sharpness],
                        "JointFit.predict")
        if self.properties == "group":
            df = group_properties(df, [self.d_data, self.sharpness], self.group_by)
        num = df[["n_train", self.loss, self.d_data, self.sharpness]].to_numpy(float)
        ok = np.isfinite(num).all(axis=1) & (num > 0).all(axis=1)
        d = df[ok]
        X, _ = scaling_design(d, self.d_data, self.sharpness, self.domain)
        return d.assign(fitted_log_loss=X @ np.asarray(self.estimate),
                        observed_log_loss=np.log(d[self.loss].to_numpy(float)))

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
                "properties": self.properties, "group_by": list(self.group_by), "level": self.level,
                "n_bootstrap": self.n_bootstrap}


def scaling_design(df: Any, d_data: str, sharpness: str, domain: str | None
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


def group_properties(df: Any, columns: Sequence[str], group_by: Sequence[str]):
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
    level: float = 0.95,
    seed: int = 0,
    ci: float | None = None,
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
    df = results_frame(results, caller)
    level = resolve_level(level, ci, caller)
    cols = ["n_train", loss, d_data, sharpness] + ([domain] if domain else [])
    require_columns(df, cols, caller)
    if properties not in ("group", "run"):
        raise InputError(f"{caller}: properties={properties!r} is not 'group' or 'run'")
    if properties == "group":
        df = group_properties(df, [d_data, sharpness], group_by)
    num = df[["n_train", loss, d_data, sharpness]].to_numpy(float)
    ok = np.isfinite(num).all(axis=1) & (num > 0).all(axis=1)
    df = df[ok]
    X, terms = scaling_design(df, d_data, sharpness, domain)
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
        bounds = np.array([percentile_interval(est[:, j], level) for j in range(p)])
        lo, hi = bounds[:, 0], bounds[:, 1]
    return JointFit(tuple(terms), tuple(map(float, coef)), tuple(map(float, se)),
                    tuple(map(float, lo)), tuple(map(float, hi)), float(r2), int(n), loss,
                    d_data, sharpness, domain, properties, tuple(group_by), level, n_bootstrap)
