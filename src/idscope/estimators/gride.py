"""GRIDE, the generalised ratios ID estimator (Denti et al., Sci. Rep. 2022)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import betaln

from .._errors import InputError
from .._validation import check_int
from ._base import BaseEstimator
from ._neighbors import neighbor_distances
from ._result import IDResult

__all__ = ["gride", "GRIDE", "gride_from_ratios", "gride_from_distances"]

_D_MIN, _D_MAX = 1e-3, 1e3
_Z95 = 1.959963984540054


def _score(d: float, logmu: np.ndarray, n1: int, n2: int) -> float:
    """Derivative of the log-likelihood in d."""
    n = logmu.size
    a = n2 - n1 - 1
    # μ^d / (μ^d − 1) = 1 / (1 − μ^−d), written with expm1 to stay finite for large d·log μ
    term = (logmu / -np.expm1(-d * logmu)).sum() if a else 0.0
    return (n - 1) / d + a * term - (n2 - 1) * logmu.sum()


def gride_from_ratios(mu: np.ndarray, n1: int, n2: int) -> tuple[float, float, float, float]:
    """GRIDE from μ = r_{n2}/r_{n1}: ``(dimension, stderr, ci_low, ci_high)``.

    μ^(−d) ~ Beta(n1, n2 − n1). Log-likelihood (DADApy's form)
    (N−1)·log d + (n2−n1−1)·Σ log(μ^d − 1) − N·log B(n2−n1, n1) − Σ((n2−1)·d + 1)·log μ,
    maximised by bisection on its derivative over d ∈ [0.001, 1000]; standard error 1/√J,
    J = N/d² + (n2−n1−1)·Σ (log μ)² μ^(−d)/(1 − μ^(−d))². The 95 % interval is the Wald
    interval on log d, d̂·exp(±1.96·se/d̂): always positive, and closer to nominal coverage
    than d̂ ± 1.96·se at small N (the likelihood is skewed in d).
    (n1, n2) = (1, 2) is TwoNN's maximum likelihood.
    """
    logmu = np.log(np.asarray(mu, dtype=np.float64))
    if (logmu <= 0).any():
        raise InputError(f"gride: {int((logmu <= 0).sum())} ratio(s) mu <= 1 (r_n1 = r_n2)")
    lo, hi = _D_MIN, _D_MAX
    if _score(hi, logmu, n1, n2) > 0:
        d = hi
    else:
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if _score(mid, logmu, n1, n2) > 0:
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-12 * hi:
                break
        d = 0.5 * (lo + hi)
    n = logmu.size
    a = n2 - n1 - 1
    q = np.exp(-d * logmu)
    fisher = n / d**2 + (a * (logmu**2 * q / (1 - q) ** 2).sum() if a else 0.0)
    se = 1.0 / np.sqrt(fisher)
    half = _Z95 * se / d
    return float(d), float(se), float(d * np.exp(-half)), float(d * np.exp(half))


def gride_loglik(d: float, mu: np.ndarray, n1: int, n2: int) -> float:
    """The log-likelihood maximised by :func:`gride_from_ratios` (for tests and plots)."""
    logmu = np.log(np.asarray(mu, dtype=np.float64))
    n = logmu.size
    return float((n - 1) * np.log(d) + (n2 - n1 - 1) * np.log(np.expm1(d * logmu)).sum()
                 - n * betaln(n2 - n1, n1) - (((n2 - 1) * d + 1) * logmu).sum())


def gride(
    X: Any, *, n1: int = 1, n2: int = 2, duplicates: str = "remove", device: Any = None,
    progress: bool = False,
) -> IDResult:
    """Intrinsic dimension by GRIDE with neighbour ranks ``n1 < n2``.

    ``X`` may be data or a precomputed KNeighbors with at least ``n2`` neighbours;
    ``duplicates`` as in :func:`idscope.twonn`; ``progress`` shows a progress bar (stderr)
    over the neighbour search.
    """
    caller = "gride"
    n1 = check_int(n1, "n1", caller=caller, low=1)
    n2 = check_int(n2, "n2", caller=caller, low=n1 + 1)
    nd = neighbor_distances(X, n2, caller=caller, duplicates=duplicates,
                            tie_columns=(n1 - 1, n2 - 1), min_points=max(3, n2 + 1),
                            device=device, progress=progress)
    return gride_from_distances(nd.distances, n1, n2, n_removed=nd.n_removed,
                                duplicates=duplicates)


def gride_from_distances(
    r: np.ndarray, n1: int, n2: int, *, n_removed: int = 0, duplicates: str = "remove"
) -> IDResult:
    """GRIDE's :class:`IDResult` from neighbour distances ``r`` (N, >= n2), self excluded.

    Points with μ = 1 (r_n1 = r_n2, common on integer-valued data) have zero likelihood
    under the model; they are dropped and counted with the duplicates.
    """
    mu = r[:, n2 - 1] / r[:, n1 - 1]
    ties = ~(mu > 1.0)
    if ties.all():
        raise InputError(f"gride: every point has r_{n1} = r_{n2}")
    if (~ties).sum() < 3:
        raise InputError(f"gride: needs at least 3 points with r_{n1} < r_{n2}, got "
                         f"{int((~ties).sum())} after dropping {int(ties.sum())} tie(s)")
    d, se, lo, hi = gride_from_ratios(mu[~ties], n1, n2)
    return IDResult("gride", d, se, lo, hi, int((~ties).sum()), n_removed + int(ties.sum()),
                    {"n1": n1, "n2": n2, "duplicates": duplicates,
                     "interval": "fisher-log-normal", "ties_dropped": int(ties.sum()),
                     "scale": float(0.5 * (r[:, n1 - 1].mean() + r[:, n2 - 1].mean()))})


class GRIDE(BaseEstimator):
    """Scikit-learn-style wrapper of :func:`gride`; the estimate is ``dimension_``."""

    _function = staticmethod(gride)

    def __init__(self, *, n1: int = 1, n2: int = 2, duplicates: str = "remove",
                 device: Any = None):
        self.n1 = n1
        self.n2 = n2
        self.duplicates = duplicates
        self.device = device
