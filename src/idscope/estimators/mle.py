"""Levina–Bickel maximum-likelihood estimator (NIPS 2004), with MacKay–Ghahramani averaging."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from .._errors import InputError
from .._validation import check_choice, check_int
from ._base import BaseEstimator
from ._neighbors import neighbor_distances
from ._result import IDResult, normal_ci

__all__ = ["mle", "MLE", "mle_from_distances"]

NORMALIZATIONS = ("k-1", "k-2")
AGGREGATES = ("inverse", "mean")


def mle_from_distances(
    distances: np.ndarray, k: int, *, normalization: str = "k-1", aggregate: str = "inverse"
) -> tuple[float, float, float, float]:
    """MLE from the first ``k`` neighbour distances: ``(dimension, stderr, ci_low, ci_high)``.

    S_i = Σ_{j=1}^{k−1} log(r_k(i)/r_j(i)); under a local Poisson process S_i ~ Gamma(k−1,
    rate d).

    - ``aggregate="inverse"`` (MacKay & Ghahramani 2005; scikit-dimension's default):
      d̂ = N·c/Σ S_i with c = k−1 (``"k-1"``) or k−2 (``"k-2"``). With ``("k-2",
      "inverse")`` this is the convention of Pope et al. (ICLR 2021), used for Konz &
      Mazurowski's d_data. The interval is exact from Σ S_i ~ Gamma(N(k−1), d) (points
      treated as independent).
    - ``aggregate="mean"`` (Levina & Bickel): d̂ = mean_i c/S_i, normal interval from the
      spread of the per-point estimates.
    """
    r = np.asarray(distances, dtype=np.float64)[:, :k]
    n = r.shape[0]
    logr = np.log(r)
    s = (k - 1) * logr[:, k - 1] - logr[:, : k - 1].sum(axis=1)
    c = k - 1 if normalization == "k-1" else k - 2
    if aggregate == "inverse":
        total = s.sum()
        if not total > 0:
            raise InputError("mle: all k neighbours are equidistant from every point")
        d = n * c / total
        lo, hi = stats.gamma.ppf([0.025, 0.975], n * (k - 1)) / total
        return float(d), float(d / np.sqrt(max(n * (k - 1) - 2, 1))), float(lo), float(hi)
    if (s <= 0).any():
        raise InputError(f"mle: {int((s <= 0).sum())} point(s) have all k neighbours "
                         f"equidistant; use aggregate='inverse'")
    per_point = c / s
    d = per_point.mean()
    se = per_point.std(ddof=1) / np.sqrt(n)
    lo, hi = normal_ci(d, se)
    return float(d), float(se), float(lo), float(hi)


def mle(
    X: Any,
    *,
    k: int | tuple[int, int] = 20,
    normalization: str = "k-1",
    aggregate: str = "inverse",
    duplicates: str = "remove",
    device: Any = None,
) -> IDResult:
    """Intrinsic dimension by Levina–Bickel maximum likelihood.

    Parameters
    ----------
    X : array (N, D) or KNeighbors
    k : int or (k1, k2)
        Neighbours used; a range averages the estimates for k = k1..k2 (Levina & Bickel),
        with the mean of their standard errors and interval ends.
    normalization : {"k-1", "k-2"}
    aggregate : {"inverse", "mean"}
        See :func:`mle_from_distances`; Pope's convention is ``("k-2", "inverse")``.
    """
    caller = "mle"
    check_choice(normalization, "normalization", NORMALIZATIONS, caller=caller)
    check_choice(aggregate, "aggregate", AGGREGATES, caller=caller)
    if isinstance(k, (tuple, list)):
        if len(k) != 2:
            raise InputError(f"{caller}: k range must be (k1, k2), got {k!r}")
        k1 = check_int(k[0], "k1", caller=caller, low=3 if normalization == "k-2" else 2)
        k2 = check_int(k[1], "k2", caller=caller, low=k1)
    else:
        k1 = k2 = check_int(k, "k", caller=caller, low=3 if normalization == "k-2" else 2)
    nd = neighbor_distances(X, k2, caller=caller, duplicates=duplicates, tie_columns=(0, 0),
                            min_points=max(3, k2 + 1), device=device)
    ests = np.array([mle_from_distances(nd.distances, kk, normalization=normalization,
                                        aggregate=aggregate) for kk in range(k1, k2 + 1)])
    d, se, lo, hi = ests.mean(axis=0)
    return IDResult("mle", float(d), float(se), float(lo), float(hi), nd.distances.shape[0],
                    nd.n_removed, {"k": k2 if k1 == k2 else (k1, k2),
                                   "normalization": normalization, "aggregate": aggregate,
                                   "duplicates": duplicates,
                                   "interval": "gamma-exact" if aggregate == "inverse"
                                   else "normal"})


class MLE(BaseEstimator):
    """Scikit-learn-style wrapper of :func:`mle`; the estimate is ``dimension_``."""

    _function = staticmethod(mle)

    def __init__(self, *, k: int | tuple[int, int] = 20, normalization: str = "k-1",
                 aggregate: str = "inverse", duplicates: str = "remove", device: Any = None):
        self.k = k
        self.normalization = normalization
        self.aggregate = aggregate
        self.duplicates = duplicates
        self.device = device
