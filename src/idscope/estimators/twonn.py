"""TwoNN (Facco et al., Sci. Rep. 2017)."""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from scipy import stats

from .._errors import InputError
from .._validation import check_choice
from ._base import BaseEstimator
from ._dependence import INTERVALS, design_effect, graph_neighbors
from ._neighbors import neighbor_distances, reference_points
from ._result import IDResult

__all__ = ["twonn", "TwoNN", "twonn_from_ratios"]

TWONN_METHODS = ("linear", "mle")


def twonn_from_ratios(
    mu: np.ndarray, *, method: str = "linear", fraction: float = 0.9, n_bootstrap: int = 200,
    seed: int = 0, design_effect: float = 1.0,
) -> tuple[float, float, float, float]:
    """TwoNN on the ratios μ = r2/r1 (>= 1): ``(dimension, stderr, ci_low, ci_high)``.

    ``"linear"``: sort μ, x_i = log μ_(i), y_i = −log(1 − i/N), keep the ⌊fraction·N⌋
    smallest and fit y = d·x through the origin, d = Σxy/Σx² (Facco 2017; the convention of
    Ansuini 2019, DADApy and scikit-dimension ≥ 0.3). Its standard error and percentile
    interval come from a seeded bootstrap over points (``n_bootstrap=0``: NaN; the resamples
    of ``default_rng(seed).choice(logmu, (n_bootstrap, N))``, fitted by counting sort in
    :func:`_bootstrap_fits`), widened by √design_effect about the estimate.

    ``"mle"``: Σ log μ ~ Gamma(N, rate d), so d̂ = (N − 1)/Σ log μ is unbiased with standard
    deviation d/√(N − 2); the 95 % interval is exact from the Gamma quantiles for
    independent points (``design_effect=1``). With dependent points Var(Σ log μ) is
    ``design_effect`` times larger and the interval uses Gamma(N/deff)·deff, the Gamma law
    with the same mean and that variance (docs/science.md §3).
    """
    mu = np.asarray(mu, dtype=np.float64)
    n = mu.size
    logmu = np.log(mu)
    if not (logmu > 0).any():
        raise InputError(f"twonn: all {n} points have r1 = r2 (mu = 1, e.g. data on a "
                         f"regular grid); the TwoNN model does not apply")
    deff = max(float(design_effect), 1.0)
    if method == "mle":
        s = logmu.sum()
        d = (n - 1) / s
        n_eff = n / deff
        lo, hi = stats.gamma.ppf([0.025, 0.975], n_eff) * deff / s
        return float(d), float(d / np.sqrt(max(n_eff - 2, 1))), float(lo), float(hi)
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
    boot = _bootstrap_fits(logmu, fraction, n_bootstrap, seed)
    boot = boot[np.isfinite(boot)]  # a resample of only tied ratios has no fit
    lo, hi = np.percentile(boot, [2.5, 97.5])
    se = float(boot.std(ddof=1)) if boot.size > 1 else float("nan")
    w = np.sqrt(deff)
    return float(d), se * w, float(d - (d - lo) * w), float(d + (hi - d) * w)


def _bootstrap_fits(logmu: np.ndarray, fraction: float, n_bootstrap: int,
                    seed: int) -> np.ndarray:
    """The linear fit on ``n_bootstrap`` resamples of the points, without sorting them.

    Resample b is ``logmu[I_b]`` with ``I_b`` the b-th N draws of
    ``default_rng(seed).integers(0, N)`` (exactly what ``rng.choice(logmu, (B, N))`` draws).
    Its sorted values are the sorted ``logmu`` x_(1) <= … <= x_(N) repeated by the counts
    c_i of each place, so with U_i = min(c_1 + … + c_i, K) (K = ⌊fraction·N⌋ places kept),
    Y_j = y_1 + … + y_j and Abel's summation, the fit's sums are
    Σxy = Σ_i Y_{U_i}·(x_(i) − x_(i+1)) and Σx² = Σ_i U_i·(x_(i)² − x_(i+1)²) (x_(N+1) = 0):
    a counting sort, O(N) per resample instead of a sort, the same resamples and the same
    fits up to the order of floating-point sums (about 1e-14 relative).
    """
    n = logmu.size
    keep = int(np.floor(n * fraction))
    order = np.argsort(logmu, kind="stable")
    x = logmu[order]
    place = np.empty(n, dtype=np.int64)
    place[order] = np.arange(n)  # each point's place in the sorted order
    Y = np.concatenate([[0.0], np.cumsum(-np.log1p(-np.arange(1, keep + 1) / n))])
    dx = x - np.append(x[1:], 0.0)
    dx2 = x * x - np.append(x[1:] * x[1:], 0.0)
    def fits(draws: np.ndarray) -> np.ndarray:
        b = draws.shape[0]
        pos = place[draws]
        if b > 1:
            pos += np.arange(0, b * n, n)[:, None]
        upto = np.bincount(pos.ravel(), minlength=b * n).reshape(b, n).cumsum(axis=1)
        np.minimum(upto, keep, out=upto)
        # einsum, not @: numpy's matmul of a 1-D pair is far slower here
        sxy = np.einsum("ij,j->i", Y[upto], dx)
        sxx = np.einsum("ij,j->i", upto, dx2)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), np.nan)

    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK // n)  # resamples per block, a block staying in cache
    # The draws stay in order on this thread; the blocks are fitted on as many threads as
    # there are cores (numpy releases the GIL in the gathers, sums and einsums).
    threads = max(1, min(os.cpu_count() or 1, 4))
    out, pending = [], deque()
    with ThreadPoolExecutor(threads) as pool:
        for start in range(0, n_bootstrap, rows):
            draws = rng.integers(0, n, (min(rows, n_bootstrap - start), n))
            pending.append(pool.submit(fits, draws))
            if len(pending) > threads:
                out.append(pending.popleft().result())
        out += [job.result() for job in pending]
    return np.concatenate(out)


_BLOCK = 1 << 17


def _linear_fit(sorted_logmu: np.ndarray, fraction: float) -> np.ndarray | float:
    """Σxy/Σx² on the ⌊fraction·N⌋ smallest log μ (NaN when they are all 0); rows of a 2-D
    array are fitted separately."""
    n = sorted_logmu.shape[-1]
    keep = int(np.floor(n * fraction))
    x = sorted_logmu[..., :keep]
    y = -np.log1p(-np.arange(1, keep + 1) / n)
    xx = np.einsum("...i,...i->...", x, x)
    xy = np.einsum("...i,i->...", x, y)  # not @: numpy's 1-D matmul is far slower here
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(xx > 0, xy / np.where(xx > 0, xx, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def twonn(
    X: Any,
    *,
    method: str = "linear",
    fraction: float = 0.9,
    duplicates: str = "remove",
    n_bootstrap: int = 200,
    seed: int = 0,
    interval: str = "graph",
    calibrate: bool = False,
    device: Any = None,
    progress: bool = False,
    executor: str = "local",
    address: str | None = None,
) -> IDResult:
    """Intrinsic dimension by TwoNN.

    Parameters
    ----------
    X : array (N, D) or KNeighbors
        Points, or precomputed neighbours (k >= 2).
    method : {"linear", "mle"}
        Linear fit through the origin on the ``fraction`` smallest μ (the paper's method) or
        the closed-form maximum likelihood (N − 1)/Σ log μ with its Gamma interval.
    fraction : float
        Fraction of the smallest μ kept by the linear fit (0.9 discards the top 10 %).
    duplicates : {"remove", "drop-ties", "error"}
        Duplicate policy; "drop-ties" drops points with r1 = 0 or r1 = r2 (Ansuini 2019).
    interval : {"graph", "independent"}
        ``"graph"`` (default) widens the interval by the design effect of points that share
        neighbours, estimated on the 2-NN graph; ``"independent"`` is the interval for
        independent points (exact Gamma for ``"mle"``). docs/science.md §3.
    calibrate : bool
        Map the raw estimate through TwoNN's response on uniform balls with the same N
        (simulated once, seeded, cached; docs/science.md §4). ``dimension`` is then the
        calibrated value, ``raw`` the uncalibrated result.
    progress : bool
        Progress bar (stderr) over the neighbour search.
    executor : {"local", "ray"}
        Where the neighbour search runs: ``"ray"`` splits it over Ray tasks (a local
        instance on 127.0.0.1, or the cluster at ``address``) with exactly the local result
        (:func:`idscope.kneighbors`).
    address : str, optional
        Ray cluster address for ``executor="ray"``.
    """
    caller = "twonn"
    check_choice(method, "method", TWONN_METHODS, caller=caller)
    check_choice(interval, "interval", INTERVALS, caller=caller)
    if not 0 < fraction <= 1:
        raise InputError(f"{caller}: fraction={fraction} must be in (0, 1]")
    graph = interval == "graph"
    nd = neighbor_distances(X, 2, caller=caller, duplicates=duplicates, tie_columns=(0, 1),
                            min_points=3, graph_k=graph_neighbors("twonn", 2) if graph else 0,
                            device=device, progress=progress, executor=executor,
                            address=address)
    r = nd.distances
    mu = r[:, 1] / r[:, 0]
    deff = design_effect(np.log(mu), nd.indices, graph_neighbors("twonn", 2)) if graph else 1.0
    d, se, lo, hi = twonn_from_ratios(mu, method=method, fraction=fraction,
                                      n_bootstrap=n_bootstrap, seed=seed, design_effect=deff)
    if method == "mle":
        name = "gamma-graph" if interval == "graph" else "gamma-exact"
    else:
        name = f"bootstrap({n_bootstrap})" + ("-graph" if interval == "graph" else "")
    res = IDResult("twonn", d, se, lo, hi, int(mu.size), nd.n_removed,
                   {"method": method, "fraction": fraction, "duplicates": duplicates,
                    "interval": name,
                    "design_effect": deff,
                    "scale": float(0.5 * (r[:, 0].mean() + r[:, 1].mean()))})
    if not calibrate:
        return res
    from .calibration import calibrate_result

    spec = ("twonn", method, fraction)
    statistic = calibration_statistic(method, fraction)
    return calibrate_result(res, spec, reference_points(nd, duplicates), seed=seed,
                            caller=caller, statistic=statistic)


def calibration_statistic(method: str, fraction: float) -> tuple[int, Any]:
    """What calibration inverts for TwoNN: (neighbours needed, raw (value, stderr) from the
    sorted neighbour distances of query points)."""
    return 2, lambda r: twonn_from_ratios(r[:, 1] / r[:, 0], method=method, fraction=fraction,
                                          n_bootstrap=50)[:2]


class TwoNN(BaseEstimator):
    """Scikit-learn-style wrapper of :func:`twonn`; the estimate is ``dimension_``."""

    _function = staticmethod(twonn)

    def __init__(self, *, method: str = "linear", fraction: float = 0.9,
                 duplicates: str = "remove", n_bootstrap: int = 200, seed: int = 0,
                 interval: str = "graph", calibrate: bool = False, device: Any = None,
                 executor: str = "local", address: str | None = None):
        self.method = method
        self.fraction = fraction
        self.duplicates = duplicates
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.interval = interval
        self.calibrate = calibrate
        self.device = device
        self.executor = executor
        self.address = address
