"""Shared pieces of the analyses over a results table: reading the table, checking its
columns, percentile and Wilson intervals, bootstrap correlations.

``level`` is the coverage of an interval (0.95 for a 95 % interval): the analyses' ``ci=``
parameter.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import InputError

__all__ = ["DEFAULT_D_DATA", "results_frame", "require_columns", "percentile_interval",
           "check_level", "resolve_level", "correlation_ci", "wilson_interval", "default_domain"]

# Konz & Mazurowski measure d_data with Pope et al.'s MLE normalisation (k = 20, "k-2").
DEFAULT_D_DATA = "d_data_mle_pope"


def results_frame(results: Any, caller: str):
    import pandas as pd

    if isinstance(results, pd.DataFrame):
        return results
    if isinstance(results, (str, os.PathLike)):
        from ..sweeps.results import load_results

        return load_results(results)
    if isinstance(results, list):
        return pd.DataFrame(results)
    raise InputError(f"{caller}: expected a results DataFrame, folder or file, got "
                     f"{type(results).__name__}")


def require_columns(df: Any, columns: Sequence[str], caller: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{caller}: the results table has no column(s) {missing} "
                         f"(was it measured? columns: {list(df.columns)[:40]})")


def percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    s = np.asarray(samples, dtype=float)
    s = s[np.isfinite(s)]
    if s.size < 2:
        return (math.nan, math.nan)
    a = (1 - level) / 2
    lo, hi = np.quantile(s, [a, 1 - a])
    return float(lo), float(hi)


def check_level(level: float, caller: str) -> float:
    """An interval's coverage, in (0, 1)."""
    if not 0 < level < 1:
        raise InputError(f"{caller}: level={level} must be in (0, 1)")
    return float(level)


def resolve_level(level: float, ci: float | None, caller: str) -> float:
    """``level``, or the deprecated ``ci=`` (0.1's name for it: a level, where estimators'
    ``ci`` is an interval) with a ``DeprecationWarning``."""
    if ci is not None:
        warnings.warn(f"{caller}: ci= is deprecated (it is a coverage level, not an "
                      f"interval): use level=", DeprecationWarning, stacklevel=3)
        level = ci
    return check_level(level, caller)


def correlation_ci(x: Any, y: Any, *, method: str = "pearson", n_bootstrap: int = 1000,
                   level: float = 0.95, seed: int = 0, ci: float | None = None
                   ) -> dict[str, float]:
    """Pearson or Spearman correlation with a bootstrap percentile CI (pairs resampled) and
    scipy's p-value. NaN when fewer than 3 points or a variable is constant."""
    from scipy import stats

    level = resolve_level(level, ci, "correlation_ci")

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
        out["ci_low"], out["ci_high"] = percentile_interval(r, level)
    return out


def wilson_interval(k: int, n: int, level: float) -> tuple[float, float]:
    from scipy import stats

    if n == 0:
        return (math.nan, math.nan)
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (0.0 if k == 0 else max(0.0, mid - half), 1.0 if k == n else min(1.0, mid + half))


def default_domain(df: Any, domain: str | None) -> str | None:
    """``domain`` if given, else ``"domain"`` when the table has more than one domain."""
    if domain is None and "domain" in df.columns and df["domain"].astype(str).nunique() > 1:
        return "domain"
    return domain
