"""GRIDE, the generalised ratios ID estimator (Denti et al., Sci. Rep. 2022)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import betaln

from .._errors import InputError
from .._validation import check_choice, check_int
from ._base import BaseEstimator
from ._dependence import INTERVALS, design_effect, graph_neighbors
from ._neighbors import neighbor_distances, reference_points
from ._result import IDResult

__all__ = ["gride", "GRIDE", "gride_from_ratios", "gride_from_distances"]

_D_MIN, _D_MAX = 1e-3, 1e3
_Z95 = 1.959963984540054


def _terms(logmu: np.ndarray, d: float, tie: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """x/(1 − e^(−d·x)) and x²·e^(−d·x)/(1 − e^(−d·x))² at x = log μ, with their limits
    1/d and 1/d² at x = 0 (a tie r_n1 = r_n2)."""
    if tie is None:
        tie = logmu <= 0
    x = np.where(tie, 1.0, logmu) if tie.any() else logmu
    q = np.exp(-d * x)
    den = -np.expm1(-d * x)  # 1 − μ^(−d), finite for large d·log μ
    ratio, info = x / den, x * x * q / (den * den)
    if tie.any():
        ratio[tie], info[tie] = 1.0 / d, 1.0 / d**2
    return ratio, info


def _score_info(d: float, logmu: np.ndarray, n1: int, n2: int, tie: np.ndarray,
                sum_logmu: float) -> tuple[float, float]:
    """The log-likelihood's derivative in d and minus its second derivative."""
    n = logmu.size
    a = n2 - n1 - 1
    ratio, info = _terms(logmu, d, tie) if a else (np.zeros(1), np.zeros(1))
    return ((n - 1) / d + a * ratio.sum() - (n2 - 1) * sum_logmu,
            (n - 1) / d**2 + a * info.sum())


def _score(d: float, logmu: np.ndarray, n1: int, n2: int) -> float:
    """Derivative of the log-likelihood in d."""
    return _score_info(d, logmu, n1, n2, logmu <= 0, float(logmu.sum()))[0]


def point_scores(d: float, mu: np.ndarray, n1: int, n2: int) -> np.ndarray:
    """Each point's term of :func:`_score` (their sum is the score up to the (N−1)/N of the
    first term); the graph interval reads their dependence (docs/science.md §3)."""
    logmu = np.log(np.asarray(mu, dtype=np.float64))
    a = n2 - n1 - 1
    return 1.0 / d + (a * _terms(logmu, d)[0] if a else 0.0) - (n2 - 1) * logmu


def gride_from_ratios(
    mu: np.ndarray, n1: int, n2: int, *, design_effect: float = 1.0
) -> tuple[float, float, float, float]:
    """GRIDE from μ = r_{n2}/r_{n1} (>= 1): ``(dimension, stderr, ci_low, ci_high)``.

    μ^(−d) ~ Beta(n1, n2 − n1). Log-likelihood (DADApy's form)
    (N−1)·log d + (n2−n1−1)·Σ log(μ^d − 1) − N·log B(n2−n1, n1) − Σ((n2−1)·d + 1)·log μ,
    maximised over d ∈ [0.001, 1000] (safeguarded Newton steps on its derivative, which
    decreases in d); standard error 1/√J,
    J = N/d² + (n2−n1−1)·Σ (log μ)² μ^(−d)/(1 − μ^(−d))². The 95 % interval is the Wald
    interval on log d, d̂·exp(±1.96·se/d̂): always positive, and closer to nominal coverage
    than d̂ ± 1.96·se at small N (the likelihood is skewed in d). ``design_effect`` (>= 1)
    multiplies the variance (shared neighbourhoods, docs/science.md §3).
    (n1, n2) = (1, 2) is TwoNN's maximum likelihood.

    Ties μ = 1 (r_n1 = r_n2, e.g. integer data) enter through the likelihood: the
    probability that μ falls in [1, 1 + ε] is ∝ d^(n2−n1)·ε^(n2−n1) as ε → 0, so a tie
    contributes (n2 − n1)·log d (the limit of the density terms as μ → 1; for (1, 2) the
    Pareto density at 1 is d). The estimate is continuous as ties are broken, e.g. by a
    rotation (docs/science.md §2). If the likelihood still rises at d = 1000 (or falls at
    0.001) there is no finite estimate and :class:`InputError` says so.
    """
    logmu = np.log(np.asarray(mu, dtype=np.float64))
    if (logmu < 0).any():
        raise InputError(f"gride: {int((logmu < 0).sum())} ratio(s) mu < 1 (r_n2 < r_n1)")
    if not (logmu > 0).any():
        raise InputError(f"gride: every point has r_{n1} = r_{n2} ({logmu.size} points, e.g. "
                         f"data on a regular grid); the likelihood has no maximum")
    tie, sx = logmu <= 0, float(logmu.sum())
    n = logmu.size
    a = n2 - n1 - 1
    lo, hi = _D_MIN, _D_MAX
    if _score_info(hi, logmu, n1, n2, tie, sx)[0] > 0 or _score_info(lo, logmu, n1, n2, tie,
                                                                      sx)[0] < 0:
        edge = hi if _score_info(hi, logmu, n1, n2, tie, sx)[0] > 0 else lo
        raise InputError(f"gride: the likelihood is still {'rising' if edge == hi else 'falling'}"
                         f" at d = {edge:g}, the end of the search bracket "
                         f"[{_D_MIN:g}, {_D_MAX:g}]; {int(tie.sum())} of {n} points have "
                         f"r_{n1} = r_{n2} (ties). No finite estimate: the data look like a "
                         f"lattice at the scale of neighbours {n1} and {n2}")
    # the score decreases in d (concave likelihood): Newton steps on log d, kept inside a
    # shrinking bracket (bisection when a step leaves it); the start uses
    # x/(1 − e^(−dx)) ≈ 1/d + x/2
    d = min(max((n - 1 + a * n) / max((n2 - 1 - a / 2) * sx, 1e-300), lo), hi)
    for _ in range(200):
        g, info = _score_info(d, logmu, n1, n2, tie, sx)
        if g > 0:
            lo = d
        else:
            hi = d
        new = d * np.exp(min(max(g / (info * d), -2.0), 2.0))
        if abs(new - d) <= 1e-13 * d or hi - lo <= 1e-13 * hi:
            d = new
            break
        d = new if lo < new < hi else np.sqrt(lo * hi)
    fisher = n / d**2 + (a * _terms(logmu, d, tie)[1].sum() if a else 0.0)
    se = np.sqrt(max(float(design_effect), 1.0) / fisher)
    half = _Z95 * se / d
    return float(d), float(se), float(d * np.exp(-half)), float(d * np.exp(half))


def gride_loglik(d: float, mu: np.ndarray, n1: int, n2: int) -> float:
    """The log-likelihood maximised by :func:`gride_from_ratios` (for tests and plots);
    a tie μ = 1 contributes its limit term (n2 − n1 − 1)·log d, up to a constant."""
    logmu = np.log(np.asarray(mu, dtype=np.float64))
    n = logmu.size
    tie = logmu <= 0
    x = np.where(tie, 1.0, logmu)
    pair = np.where(tie, np.log(d), np.log(np.expm1(d * x)))
    return float((n - 1) * np.log(d) + (n2 - n1 - 1) * pair.sum()
                 - n * betaln(n2 - n1, n1) - (((n2 - 1) * d + 1) * logmu).sum())


def gride(
    X: Any, *, n1: int = 1, n2: int = 2, duplicates: str = "remove", interval: str = "graph",
    calibrate: bool = False, seed: int = 0, device: Any = None, progress: bool = False,
    executor: str = "local", address: str | None = None,
) -> IDResult:
    """Intrinsic dimension by GRIDE with neighbour ranks ``n1 < n2``.

    ``X`` may be data or a precomputed KNeighbors with at least ``n2`` neighbours;
    ``duplicates`` as in :func:`idscope.twonn`; ``interval`` ``"graph"`` (default, shared
    neighbourhoods on the n2-NN graph) or ``"independent"`` (docs/science.md §3);
    ``calibrate=True`` maps the estimate through GRIDE's response on uniform balls with the
    same N (§4, reference samples seeded by ``seed``); ``progress`` shows a progress bar
    (stderr) over the neighbour search; ``executor="ray"`` (``address``: a cluster) runs it
    over Ray tasks with exactly the local result (:func:`idscope.kneighbors`).
    """
    caller = "gride"
    n1 = check_int(n1, "n1", caller=caller, low=1)
    n2 = check_int(n2, "n2", caller=caller, low=n1 + 1)
    check_choice(interval, "interval", INTERVALS, caller=caller)
    nd = neighbor_distances(X, n2, caller=caller, duplicates=duplicates,
                            tie_columns=(n1 - 1, n2 - 1), min_points=max(3, n2 + 1),
                            graph_k=graph_neighbors("gride", n2) if interval == "graph" else 0,
                            device=device, progress=progress, executor=executor,
                            address=address)
    res = gride_from_distances(nd.distances, n1, n2, n_removed=nd.n_removed,
                               duplicates=duplicates,
                               indices=nd.indices if interval == "graph" else None)
    if not calibrate:
        return res
    from .calibration import calibrate_result

    statistic = (n2, lambda r: gride_from_ratios(r[:, n2 - 1] / r[:, n1 - 1], n1, n2)[:2])
    return calibrate_result(res, ("gride", n1, n2), reference_points(nd, duplicates),
                            seed=seed, caller=caller, statistic=statistic)


def gride_from_distances(
    r: np.ndarray, n1: int, n2: int, *, n_removed: int = 0, duplicates: str = "remove",
    indices: np.ndarray | None = None,
) -> IDResult:
    """GRIDE's :class:`IDResult` from neighbour distances ``r`` (N, >= n2), self excluded.

    Points with μ = 1 (r_n1 = r_n2, common on integer-valued data) enter through the
    likelihood's limit at μ = 1 (see :func:`gride_from_ratios`); ``params["ties"]`` counts
    them. With neighbour ``indices`` the interval includes the design effect of the n2-NN
    graph; without, it is the independent-points interval.
    """
    mu = r[:, n2 - 1] / r[:, n1 - 1]
    d, se, lo, hi = gride_from_ratios(mu, n1, n2)
    deff = 1.0
    if indices is not None:
        deff = design_effect(point_scores(d, mu, n1, n2), indices, graph_neighbors("gride", n2))
        d, se, lo, hi = gride_from_ratios(mu, n1, n2, design_effect=deff)
    return IDResult("gride", d, se, lo, hi, int(mu.size), n_removed,
                    {"n1": n1, "n2": n2, "duplicates": duplicates,
                     "interval": "fisher-log-normal" + ("-graph" if indices is not None else ""),
                     "design_effect": deff, "ties": int((mu <= 1.0).sum()),
                     "scale": float(0.5 * (r[:, n1 - 1].mean() + r[:, n2 - 1].mean()))})


class GRIDE(BaseEstimator):
    """Scikit-learn-style wrapper of :func:`gride`; the estimate is ``dimension_``."""

    _function = staticmethod(gride)

    def __init__(self, *, n1: int = 1, n2: int = 2, duplicates: str = "remove",
                 interval: str = "graph", calibrate: bool = False, seed: int = 0,
                 device: Any = None, executor: str = "local", address: str | None = None):
        self.n1 = n1
        self.n2 = n2
        self.duplicates = duplicates
        self.interval = interval
        self.calibrate = calibrate
        self.seed = seed
        self.device = device
        self.executor = executor
        self.address = address
