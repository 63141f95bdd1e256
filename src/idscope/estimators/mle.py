"""Levina–Bickel maximum-likelihood estimator (NIPS 2004), with MacKay–Ghahramani averaging."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from .._errors import InputError
from .._validation import check_choice, check_int
from ._base import BaseEstimator
from ._dependence import INTERVALS, design_effect, graph_neighbors
from ._neighbors import neighbor_distances, reference_points
from ._result import IDResult, normal_ci

__all__ = ["mle", "MLE", "mle_from_distances"]

NORMALIZATIONS = ("k-1", "k-2")
AGGREGATES = ("inverse", "mean")


def _log_sums(distances: np.ndarray, k: int) -> np.ndarray:
    """S_i = Σ_{j=1}^{k−1} log(r_k(i)/r_j(i)) for every point."""
    logr = np.log(np.asarray(distances, dtype=np.float64)[:, :k])
    return (k - 1) * logr[:, k - 1] - logr[:, : k - 1].sum(axis=1)


def mle_from_distances(
    distances: np.ndarray, k: int, *, normalization: str = "k-1", aggregate: str = "inverse",
    design_effect: float = 1.0,
) -> tuple[float, float, float, float]:
    """MLE from the first ``k`` neighbour distances: ``(dimension, stderr, ci_low, ci_high)``.

    S_i = Σ_{j=1}^{k−1} log(r_k(i)/r_j(i)); under a local Poisson process S_i ~ Gamma(k−1,
    rate d).

    - ``aggregate="inverse"`` (MacKay & Ghahramani 2005; scikit-dimension's default):
      d̂ = N·c/Σ S_i with c = k−1 (``"k-1"``, unbiased up to a factor (N(k−1)−1)/(N(k−1)))
      or c = k−2 (``"k-2"``). With ``("k-2", "inverse")`` this is the convention of Pope et
      al. (ICLR 2021), used for Konz & Mazurowski's d_data; it reads (k−2)/(k−1) times
      lower. The interval is exact from Σ S_i ~ Gamma(N(k−1), rate d) (points treated as
      independent).
    - ``aggregate="mean"`` (Levina & Bickel 2004): d̂ = mean_i c/S_i. Since
      E[1/S_i] = d/(k−2), the ``"k-1"`` estimate is biased high by (k−1)/(k−2); ``"k-2"`` is
      unbiased. The interval is a normal interval from the spread of the unbiased per-point
      values (k−2)/S_i; it needs k >= 3.

    Either way the 95 % interval is an interval for d under the model, so under a biased
    convention it is not centred on the estimate (:class:`IDResult` labels it). The
    standard error is that of the estimate itself.

    ``design_effect`` (>= 1) is Var(Σ S_i) over its independent-points value (shared
    neighbourhoods, docs/science.md §3): the Gamma interval then uses shape N(k−1)/deff
    scaled by deff, and the per-point spread is scaled by √deff.
    """
    s = _log_sums(distances, k)
    n = s.size
    c = k - 1 if normalization == "k-1" else k - 2
    deff = max(float(design_effect), 1.0)
    if aggregate == "inverse":
        total = s.sum()
        if not total > 0:
            raise InputError("mle: all k neighbours are equidistant from every point")
        d = n * c / total
        shape = n * (k - 1) / deff
        lo, hi = stats.gamma.ppf([0.025, 0.975], shape) * deff / total
        return float(d), float(d / np.sqrt(max(shape - 2, 1))), float(lo), float(hi)
    if k < 3:
        raise InputError(f"mle: aggregate='mean' needs k >= 3 (E[1/S] is infinite at k={k})")
    if (s <= 0).any():
        raise InputError(f"mle: {int((s <= 0).sum())} point(s) have all k neighbours "
                         f"equidistant; use aggregate='inverse'")
    per_point = c / s
    d = per_point.mean()
    se = per_point.std(ddof=1) / np.sqrt(n) * np.sqrt(deff)
    # the interval for d, from the unbiased per-point values (k−2)/S_i
    lo, hi = (v * (k - 2) / c for v in normal_ci(d, se))
    return float(d), float(se), float(lo), float(hi)


def _mle_k_range(
    distances: np.ndarray, k1: int, k2: int, *, normalization: str, aggregate: str,
    design_effect: float = 1.0,
) -> tuple[float, float, float, float]:
    """The Levina–Bickel average of the estimates for k = k1..k2, with its interval.

    The estimates for different k share their neighbours and are strongly correlated, so the
    interval comes from the delta method with the empirical covariance of the per-point S_i
    over k (``"inverse"``) or from the spread of the per-point averages over k of the unbiased
    values (k−2)/S_i (``"mean"``); the ``"inverse"`` interval is on the log scale.
    """
    if k1 == k2:
        return mle_from_distances(distances, k1, normalization=normalization,
                                  aggregate=aggregate, design_effect=design_effect)
    deff = max(float(design_effect), 1.0)
    ks = np.arange(k1, k2 + 1)
    c = ks - 1 if normalization == "k-1" else ks - 2
    S = np.stack([_log_sums(distances, int(k)) for k in ks], axis=1)  # (N, K)
    n = S.shape[0]
    if aggregate == "inverse":
        total = S.sum(axis=0)
        if not (total > 0).all():
            raise InputError("mle: all k neighbours are equidistant from every point")
        d = float(np.mean(n * c / total))
        # v = mean_k N(k−1)/T_k estimates d; Var(T) ≈ N·Cov_i(S_i)
        v = float(np.mean(n * (ks - 1) / total))
        grad = -n * (ks - 1) / total**2 / ks.size
        var_v = deff * float(grad @ (n * np.atleast_2d(np.cov(S, rowvar=False))) @ grad)
        z = 1.959963984540054
        half = z * np.sqrt(max(var_v, 0.0)) / v
        se = np.sqrt(max(var_v, 0.0)) * d / v
        return d, float(se), float(v * np.exp(-half)), float(v * np.exp(half))
    if ks[0] < 3:
        raise InputError("mle: aggregate='mean' needs k >= 3 (E[1/S] is infinite at k=2)")
    if (S <= 0).any():
        raise InputError(f"mle: {int((S <= 0).any(axis=1).sum())} point(s) have all k "
                         f"neighbours equidistant; use aggregate='inverse'")
    d = float((c / S).mean())
    se = float((c / S).mean(axis=1).std(ddof=1) / np.sqrt(n / deff))
    u = ((ks - 2) / S).mean(axis=1)
    lo, hi = normal_ci(float(u.mean()), float(u.std(ddof=1) / np.sqrt(n / deff)))
    return d, se, float(lo), float(hi)


def mle(
    X: Any,
    *,
    k: int | tuple[int, int] = 20,
    normalization: str = "k-1",
    aggregate: str = "inverse",
    duplicates: str = "remove",
    interval: str = "graph",
    calibrate: bool = False,
    seed: int = 0,
    device: Any = None,
    progress: bool = False,
    executor: str = "local",
    address: str | None = None,
) -> IDResult:
    """Intrinsic dimension by Levina–Bickel maximum likelihood.

    Parameters
    ----------
    X : array (N, D) or KNeighbors
    k : int or (k1, k2)
        Neighbours used; a range averages the estimates for k = k1..k2 (Levina & Bickel),
        with a delta-method (``"inverse"``) or per-point (``"mean"``) interval that accounts
        for the strong correlation between the estimates.
    normalization : {"k-1", "k-2"}
    aggregate : {"inverse", "mean"}
        See :func:`mle_from_distances`; Pope's convention is ``("k-2", "inverse")``. Its
        estimate is (k−2)/(k−1)·d; the result's ``convention_factor`` says so and its
        interval is for d.
    duplicates : {"remove", "drop-ties", "error"}
        Duplicate policy (see :func:`idscope.twonn`).
    interval : {"graph", "independent"}
        ``"graph"`` (default) accounts for points that share neighbours through the design
        effect on the k-NN graph; ``"independent"``: the exact interval for independent
        points (docs/science.md §3).
    calibrate : bool
        Map the raw estimate through the estimator's response on uniform balls with the
        same N and k (docs/science.md §4); ``seed`` seeds the reference samples.
    progress : bool
        Progress bar (stderr) over the neighbour search.
    executor : {"local", "ray"}
        Where the neighbour search runs: ``"ray"`` splits it over Ray tasks (a local
        instance on 127.0.0.1, or the cluster at ``address``) with exactly the local result
        (:func:`idscope.kneighbors`).
    address : str, optional
        Ray cluster address for ``executor="ray"``.
    """
    caller = "mle"
    check_choice(normalization, "normalization", NORMALIZATIONS, caller=caller)
    check_choice(aggregate, "aggregate", AGGREGATES, caller=caller)
    check_choice(interval, "interval", INTERVALS, caller=caller)
    # k = 2 leaves nothing to normalise by k − 2, and E[1/S] is infinite for "mean"
    k_low = 3 if normalization == "k-2" or aggregate == "mean" else 2
    if isinstance(k, (tuple, list)):
        if len(k) != 2:
            raise InputError(f"{caller}: k range must be (k1, k2), got {k!r}")
        k1 = check_int(k[0], "k1", caller=caller, low=k_low)
        k2 = check_int(k[1], "k2", caller=caller, low=k1)
    else:
        k1 = k2 = check_int(k, "k", caller=caller, low=k_low)
    nd = neighbor_distances(X, k2, caller=caller, duplicates=duplicates, tie_columns=(0, 0),
                            min_points=max(3, k2 + 1),
                            graph_k=graph_neighbors("mle", k2) if interval == "graph" else 0,
                            device=device, progress=progress, executor=executor,
                            address=address)
    res = _mle_result(nd.distances, k1, k2, normalization=normalization, aggregate=aggregate,
                      n_removed=nd.n_removed, duplicates=duplicates,
                      indices=nd.indices if interval == "graph" else None)
    if not calibrate:
        return res
    from .calibration import calibrate_result

    spec = ("mle", k1, k2, normalization, aggregate)
    statistic = (k2, lambda r: _mle_k_range(r, k1, k2, normalization=normalization,
                                            aggregate=aggregate)[:2])
    return calibrate_result(res, spec, reference_points(nd, duplicates), seed=seed,
                            caller=caller, statistic=statistic)


def _per_point(distances: np.ndarray, k1: int, k2: int, aggregate: str) -> np.ndarray:
    """Per-point values whose sum (or mean) the estimate is a smooth function of: S_i
    (``"inverse"``) or (k−2)/S_i (``"mean"``), averaged over k = k1..k2 with the weights of
    the estimate's linearisation."""
    ks = np.arange(k1, k2 + 1)
    S = np.stack([_log_sums(distances, int(k)) for k in ks], axis=1)
    if aggregate == "mean":
        with np.errstate(divide="ignore"):
            return ((ks - 2) / S).mean(axis=1)
    total = S.sum(axis=0)
    # ∂/∂T_k of mean_k N(k−1)/T_k, so that Σ_i h_i moves the estimate as Σ_i S_i does
    return S @ ((ks - 1) / np.where(total > 0, total, 1.0) ** 2)


def _mle_result(distances: np.ndarray, k1: int, k2: int, *, normalization: str, aggregate: str,
                n_removed: int, duplicates: str, indices: np.ndarray | None = None
                ) -> IDResult:
    """The :class:`IDResult`; with neighbour ``indices`` the interval includes the design
    effect of the k2-NN graph, without them it is the independent-points interval."""
    deff = (design_effect(_per_point(distances, k1, k2, aggregate), indices,
                           graph_neighbors("mle", k2))
            if indices is not None else 1.0)
    d, se, lo, hi = _mle_k_range(distances, k1, k2, normalization=normalization,
                                 aggregate=aggregate, design_effect=deff)
    ks = np.arange(k1, k2 + 1)
    c = ks - 1 if normalization == "k-1" else ks - 2
    # the estimate reads this factor times d (1 for the unbiased conventions)
    factor = float(np.mean(c / (ks - 1 if aggregate == "inverse" else ks - 2)))
    name = _interval_name(k1, k2, aggregate, graph=indices is not None)
    return IDResult("mle", float(d), float(se), float(lo), float(hi), distances.shape[0],
                    n_removed, {"k": k2 if k1 == k2 else (k1, k2),
                                "normalization": normalization, "aggregate": aggregate,
                                "duplicates": duplicates, "interval": name,
                                "design_effect": deff,
                                "scale": float(distances[:, k2 - 1].mean())},
                    convention_factor=factor)


def _interval_name(k1: int, k2: int, aggregate: str, *, graph: bool) -> str:
    if aggregate == "mean":
        return "normal-graph" if graph else "normal"
    if k1 == k2:
        return "gamma-graph" if graph else "gamma-exact"
    return "delta-method-log-graph" if graph else "delta-method-log"


class MLE(BaseEstimator):
    """Scikit-learn-style wrapper of :func:`mle`; the estimate is ``dimension_``."""

    _function = staticmethod(mle)

    def __init__(self, *, k: int | tuple[int, int] = 20, normalization: str = "k-1",
                 aggregate: str = "inverse", duplicates: str = "remove",
                 interval: str = "graph", calibrate: bool = False, seed: int = 0,
                 device: Any = None, executor: str = "local", address: str | None = None):
        self.k = k
        self.normalization = normalization
        self.aggregate = aggregate
        self.duplicates = duplicates
        self.interval = interval
        self.calibrate = calibrate
        self.seed = seed
        self.device = device
        self.executor = executor
        self.address = address
