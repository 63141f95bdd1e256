"""Calibration of kNN estimates against their finite-sample response (docs/science.md §4).

At a fixed number of points N, every kNN estimator reads low once d is large: the k nearest
neighbours are no longer a small, locally uniform neighbourhood (at N = 2 000 TwoNN reads
about 31 for a 50-ball). The response R_N(d) = E[raw estimate | N points uniform in a
d-ball] is smooth and increasing, so a raw reading v is mapped to the d with R_N(d) = v.

How the response is simulated cheaply: the estimate is a function of per-point statistics,
so R_N(d) is estimated from ``n_queries`` query points whose neighbours are searched among
all N points of a reference ball (cost n_queries·N·d instead of N²·d). The reference balls use
common random numbers across d (the same Gaussian columns and radii U^(1/d)), so R_N(d) is
smooth in d and linear interpolation between integer d is accurate. Each value is simulated
once per (estimator, N, d, seed), kept in memory and in a JSON file under the user cache
directory (``$IDSCOPE_CACHE_DIR``, ``$XDG_CACHE_HOME/idscope`` or ``~/.cache/idscope``).

Assumptions: a locally uniform density on a convex, boundary-dominated support, like the
reference ball. Calibration cannot separate curvature, non-uniform density or noise from
dimension: it corrects the finite-N bias of a ball, which over-corrects boundaryless
manifolds (a sphere) and under-corrects strongly non-uniform densities (§4 and §6 show by how
much). The interval combines the raw interval, the Monte-Carlo error of R_N and the
response's slope; where the slope is small (each unit of d moves the raw reading by < 0.5)
a :class:`SaturationWarning` says that kNN estimators saturate there.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_json
from .._errors import InputError
from ..data.images import default_cache_dir
from ._result import IDResult

__all__ = ["SaturationWarning", "calibrate_result", "response", "reference_ball"]

_Z95 = 1.959963984540054
_D_CAP = 1024  # largest reference dimension simulated
_QUERY_BUDGET = 8000  # query points per response value, over one or more reference balls
_SLOPE_WARN = 0.5
_VERSION = 1  # bump when the simulation changes: old cache files are then ignored
_MEMORY: dict[tuple[Any, ...], tuple[float, float]] = {}


class SaturationWarning(UserWarning):
    """A raw estimate lies where kNN estimators saturate for its N (docs/science.md §4)."""


def reference_ball(n: int, d: int, seed: int, rep: int = 0) -> np.ndarray:
    """``n`` points uniform in the unit ``d``-ball, with common random numbers across d:
    column j of the Gaussian directions and the uniform radii depend only on
    (seed, n, rep, j), so balls of neighbouring dimensions share their randomness."""
    g = np.empty((n, d))
    for j in range(d):
        g[:, j] = np.random.default_rng([seed, n, rep, j]).standard_normal(n)
    u = np.random.default_rng([seed, n, rep, 1_000_003]).uniform(size=n)
    norm = np.sqrt(np.einsum("ij,ij->i", g, g))
    return g * (u ** (1.0 / d) / norm)[:, None]


def _query_distances(X: np.ndarray, n_queries: int, k: int) -> np.ndarray:
    """Sorted distances (n_queries, k) from the first ``n_queries`` rows to their k nearest
    other rows of ``X`` (float64 Gram form: the reference points are centred and bounded,
    so there is no cancellation to guard against)."""
    sq = np.einsum("ij,ij->i", X, X)
    out = np.empty((n_queries, k))
    step = max(1, 2_000_000 // X.shape[0])
    for a in range(0, n_queries, step):
        b = min(n_queries, a + step)
        g = X[a:b] @ X.T  # in place from here on: |x_j|² − 2 q·x_j orders each row
        g *= -2.0
        g += sq[None, :]
        g[np.arange(b - a), np.arange(a, b)] = np.inf  # self
        g.partition(k - 1, axis=1)
        part = np.sort(g[:, :k], axis=1) + sq[a:b, None]
        out[a:b] = np.sqrt(np.maximum(part, 0.0))
    return out


# The raw estimator an estimate is calibrated for: (neighbours it needs, a function of the
# query points' sorted neighbour distances (n, k) returning (value, stderr)). twonn, mle and
# gride pass theirs to calibrate_result, so this module imports none of them.
Statistic = tuple[int, Callable[[np.ndarray], tuple[float, float]]]


def _cache_file(spec: tuple[Any, ...], n: int, seed: int) -> Path:
    name = "-".join(str(s) for s in spec)
    return default_cache_dir() / "calibration" / f"ball-{name}-n{n}-s{seed}-v{_VERSION}.json"


def response(spec: tuple[Any, ...], n: int, d: int, *, statistic: Statistic, seed: int = 0
             ) -> tuple[float, float]:
    """R_N(d) and its Monte-Carlo standard error for the estimator ``spec`` (e.g.
    ``("twonn", "linear", 0.9)``, ``("mle", 20, 20, "k-1", "inverse")``,
    ``("gride", 1, 2)``) on ``n`` points uniform in the unit ``d``-ball."""
    key = (spec, n, d, seed)
    if key in _MEMORY:
        return _MEMORY[key]
    path = _cache_file(spec, n, seed)
    stored = _read(path)
    if str(d) in stored:
        _MEMORY[key] = tuple(stored[str(d)])  # type: ignore[assignment]
        return _MEMORY[key]
    k, stat = statistic
    n_queries = min(n, _QUERY_BUDGET)
    reps = max(1, math.ceil(_QUERY_BUDGET / n_queries))
    r = np.concatenate([_query_distances(reference_ball(n, d, seed, rep), n_queries, k)
                        for rep in range(reps)])
    value, se = stat(r)
    _MEMORY[key] = (float(value), float(se))
    stored = _read(path)  # another process may have added values meanwhile
    stored[str(d)] = [float(value), float(se)]
    try:
        write_json(path, dict(sorted(stored.items(), key=lambda kv: int(kv[0]))))
    except OSError:  # a read-only or full cache only costs a recomputation next time
        pass
    return _MEMORY[key]


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _invert(value: float, spec: tuple[Any, ...], n: int, seed: int, statistic: Statistic
            ) -> tuple[float, float, float]:
    """(d, slope, mc_se) with R_N(d) = value; d = inf when even R_N(_D_CAP) is below it.

    A coarse integer search brackets the crossing; then a straight line is fitted to R_N at
    five integer d within ±20 % of it (±2 below d = 10), which averages the Monte-Carlo
    noise of single values (about 1 % for TwoNN at 8 000 query points) and gives a stable
    slope. ``mc_se`` is the standard error of the fitted line at the crossing.
    """
    def R(d: int) -> float:
        return response(spec, n, d, seed=seed, statistic=statistic)[0]

    lo = max(1, int(round(value)))
    while lo > 1 and R(lo) > value:  # step down until R(lo) <= value
        lo = max(1, min(lo - 1, int(lo * value / R(lo))))
    if R(lo) > value:  # below R(1): proportional extrapolation
        return value / R(1), 1.0, response(spec, n, 1, seed=seed, statistic=statistic)[1]
    hi = lo
    while R(hi) < value:  # multiplicative steps up to a bracket
        if hi >= _D_CAP:
            return math.inf, 0.0, response(spec, n, hi, seed=seed, statistic=statistic)[1]
        lo = hi
        hi = min(_D_CAP, max(hi + 1, int(math.ceil(hi * min(value / max(R(hi), 1e-12), 4.0)))))
    while hi - lo > max(1, 0.1 * lo):  # bisection; R is increasing up to its noise
        mid = (lo + hi) // 2
        if R(mid) < value:
            lo = mid
        else:
            hi = mid
    ra, rb = R(lo), R(hi)
    d0 = lo + (value - ra) / (rb - ra) * (hi - lo) if rb > ra else float(lo)
    step = max(1.0, 0.1 * d0)
    grid = sorted({min(_D_CAP, max(1, int(round(d0 + j * step)))) for j in (-2, -1, 0, 1, 2)})
    x = np.array(grid, dtype=float)
    y = np.array([R(int(g)) for g in grid])
    se = np.array([response(spec, n, int(g), seed=seed, statistic=statistic)[1] for g in grid])
    if x.size < 2:
        return d0, 1.0, float(se.mean())
    slope, icpt = np.polyfit(x - d0, y, 1)
    if not slope > 0:
        return d0, 0.0, float(se.mean())
    resid = y - (icpt + slope * (x - d0))
    dof = max(x.size - 2, 1)
    fit_se = max(float(np.sqrt((resid @ resid) / dof / x.size)),
                 float(se.mean()) / np.sqrt(x.size))
    return d0 + (value - icpt) / slope, float(slope), fit_se


def calibrate_result(result: IDResult, spec: tuple[Any, ...], n: int, *,
                     statistic: Statistic, seed: int = 0, caller: str = "calibrate"
                     ) -> IDResult:
    """``result`` mapped through the inverse response R_N^(−1) (module docstring).

    The 95 % interval: the raw interval's half-widths and 1.96 × the response's
    Monte-Carlo error are added in quadrature on the raw scale, and the end points mapped
    through R_N^(−1) (an end beyond R_N(1024) maps to infinity).
    """
    if n < 3:
        raise InputError(f"{caller}: calibration needs at least 3 points, got {n}")
    v = float(result.dimension)
    d, slope, mc = _invert(v, spec, n, seed, statistic)
    if not math.isfinite(d):
        raise InputError(f"{caller}: the raw estimate {v:.4g} is above the response of a "
                         f"{_D_CAP}-dimensional ball at N={n}; calibration cannot help here")
    if slope < _SLOPE_WARN:
        warnings.warn(f"{caller}: raw estimate {v:.4g} at N={n} is where kNN estimators "
                      f"saturate: one unit of d moves it by only {slope:.2f}. The calibrated "
                      f"{d:.4g} assumes a locally uniform, ball-like support and its interval "
                      f"is wide (docs/science.md §4)", SaturationWarning, stacklevel=3)
    m = _Z95 * mc
    # the raw interval is for d; on the scale of the raw estimate (and of R_N) it is
    # convention_factor times that (Pope's "k-2" reads (k−2)/(k−1)·d)
    f = result.convention_factor
    lo_raw = v - math.hypot(v - f * result.ci_low, m)
    hi_raw = v + math.hypot(f * result.ci_high - v, m)
    # an end within the fitted stretch of R_N uses that line; others get their own fit
    span = max(1.0, 0.2 * d) * slope
    lo = (d - (v - lo_raw) / slope if v - lo_raw <= span and slope > 0
          else _invert(lo_raw, spec, n, seed, statistic)[0] if lo_raw > 0 else 0.0)
    hi = (d + (hi_raw - v) / slope if hi_raw - v <= span and slope > 0
          else _invert(hi_raw, spec, n, seed, statistic)[0])
    se = (hi - lo) / (2 * _Z95) if math.isfinite(hi) else math.inf
    params = dict(result.params, calibration=f"ball, N={n}, seed={seed}",
                  calibration_slope=slope)
    return replace(result, dimension=d, stderr=se, ci_low=lo, ci_high=hi, params=params,
                   convention_factor=1.0, raw=result)
