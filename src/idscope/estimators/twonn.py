"""TwoNN (Facco et al., Sci. Rep. 2017)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from .._errors import InputError
from .._validation import check_choice
from ._base import BaseEstimator
from ._neighbors import neighbor_distances
from ._result import IDResult

__all__ = ["twonn", "TwoNN", "twonn_from_ratios"]

TWONN_METHODS = ("linear", "mle")


def twonn_from_ratios(
    mu: np.ndarray, *, method: str = "linear", fraction: float = 0.9, n_bootstrap: int = 200,
    seed: int = 0,
) -> tuple[float, float, float, float]:
    """TwoNN on the ratios μ = r2/r1 (> 1): ``(dimension, stderr, ci_low, ci_high)``.

    ``"linear"``: sort μ, x_i = log μ_(i), y_i = −log(1 − i/N), keep the ⌊fraction·N⌋
    smallest and fit y = d·x through the origin, d = Σxy/Σx² (Facco 2017; the convention of
    Ansuini 2019, DADApy and scikit-dimension ≥ 0.3). Its standard error and percentile
    interval come from a seeded bootstrap over points (``n_bootstrap=0``: NaN).

    ``"mle"``: Σ log μ ~ Gamma(N, rate d), so d̂ = (N − 1)/Σ log μ is unbiased with standard
    deviation d/√(N − 2); the 95 % interval is exact from the Gamma quantiles.
    """
    mu = np.asarray(mu, dtype=np.float64)
    n = mu.size
    logmu = np.log(mu)
    if not (logmu > 0).any():
        raise InputError(f"twonn: all {n} points have r1 = r2 (mu = 1, e.g. data on a "
                         f"regular grid); the TwoNN model does not apply")
    if method == "mle":
        s = logmu.sum()
        d = (n - 1) / s
        lo, hi = stats.gamma.ppf([0.025, 0.975], n) / s
        return float(d), float(d / np.sqrt(max(n - 2, 1))), float(lo), float(hi)
    keep = int(np.floor(n * fraction))
    if keep < 2:
        raise InputError(f"twonn: fraction={fraction} keeps {keep} of {n} ratios; the linear "
                         f"fit needs at least 2")
    d = _linear_fit(np.sort(logmu), fraction)
    if not np.isfinite(d):
        raise InputError(f"twonn: the {keep} smallest ratios are all mu = 1 (r1 = r2 ties); "
                         f"use duplicates='drop-ties' or method='mle'")
    if not n_bootstrap:
        return float(d), float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    boot = np.array([_linear_fit(np.sort(rng.choice(logmu, n)), fraction)
                     for _ in range(n_bootstrap)])
    boot = boot[np.isfinite(boot)]  # a resample of only tied ratios has no fit
    lo, hi = np.percentile(boot, [2.5, 97.5])
    se = float(boot.std(ddof=1)) if boot.size > 1 else float("nan")
    return float(d), se, float(lo), float(hi)


def _linear_fit(sorted_logmu: np.ndarray, fraction: float) -> float:
    """Σxy/Σx² on the ⌊fraction·N⌋ smallest log μ (NaN when they are all 0)."""
    n = sorted_logmu.size
    keep = int(np.floor(n * fraction))
    x = sorted_logmu[:keep]
    y = -np.log1p(-np.arange(1, keep + 1) / n)
    xx = np.dot(x, x)
    return float(np.dot(x, y) / xx) if xx > 0 else float("nan")


def twonn(
    X: Any,
    *,
    method: str = "linear",
    fraction: float = 0.9,
    duplicates: str = "remove",
    n_bootstrap: int = 200,
    seed: int = 0,
    device: Any = None,
    progress: bool = False,
) -> IDResult:
    """Intrinsic dimension by TwoNN.

    Parameters
    ----------
    X : array (N, D) or KNeighbors
        Points, or precomputed neighbours (k >= 2).
    method : {"linear", "mle"}
        Linear fit through the origin on the ``fraction`` smallest μ (the paper's method) or
        the closed-form maximum likelihood (N − 1)/Σ log μ with its exact Gamma interval.
    fraction : float
        Fraction of the smallest μ kept by the linear fit (0.9 discards the top 10 %).
    duplicates : {"remove", "drop-ties", "error"}
        Duplicate policy; "drop-ties" drops points with r1 = 0 or r1 = r2 (Ansuini 2019).
    progress : bool
        Progress bar (stderr) over the neighbour search.
    """
    caller = "twonn"
    check_choice(method, "method", TWONN_METHODS, caller=caller)
    if not 0 < fraction <= 1:
        raise InputError(f"{caller}: fraction={fraction} must be in (0, 1]")
    nd = neighbor_distances(X, 2, caller=caller, duplicates=duplicates, tie_columns=(0, 1),
                            min_points=3, device=device, progress=progress)
    r = nd.distances
    mu = r[:, 1] / r[:, 0]
    d, se, lo, hi = twonn_from_ratios(mu, method=method, fraction=fraction,
                                      n_bootstrap=n_bootstrap, seed=seed)
    interval = "gamma-exact" if method == "mle" else f"bootstrap({n_bootstrap})"
    return IDResult("twonn", d, se, lo, hi, int(mu.size), nd.n_removed,
                    {"method": method, "fraction": fraction, "duplicates": duplicates,
                     "interval": interval,
                     "scale": float(0.5 * (r[:, 0].mean() + r[:, 1].mean()))})


class TwoNN(BaseEstimator):
    """Scikit-learn-style wrapper of :func:`twonn`; the estimate is ``dimension_``."""

    _function = staticmethod(twonn)

    def __init__(self, *, method: str = "linear", fraction: float = 0.9,
                 duplicates: str = "remove", n_bootstrap: int = 200, seed: int = 0,
                 device: Any = None):
        self.method = method
        self.fraction = fraction
        self.duplicates = duplicates
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.device = device
