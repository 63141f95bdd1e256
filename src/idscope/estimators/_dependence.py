"""The design effect of shared neighbourhoods on a sum of per-point statistics.

Every kNN estimator here is a function of a sum Σ_i h_i of per-point values (log μ_i for
TwoNN, S_i for MLE, the score for GRIDE). Their textbook intervals treat the h_i as
independent, but two points that are each other's neighbours see almost the same
neighbourhood: on a flat torus (exact marginal laws, nothing but this sharing) the estimates
spread 1.1–1.4 times the independent-points standard error. Var(Σ h_i) is therefore
estimated with the neighbour graph the estimator itself used (docs/science.md §3):

    Var(Σ h_i) ≈ Σ_i e_i² + Σ_{i ≠ j, i ~ j} e_i e_j,    e_i = h_i − mean(h),

where i ~ j when j is among i's first m neighbours or i among j's (m = the neighbours the
estimator reads: 2 for TwoNN, k for MLE, n2 for GRIDE). The design effect
deff = Var(Σ h_i) / Σ e_i² is at least 1 here (the interval is never narrower than the
independent-points one) and the effective number of points is N / deff. This is a
Conley-type spatial HAC variance with the kNN graph as the neighbourhood; truncating it at
the estimator's own m is what reproduced the torus spread (measured, §3), wider ranges add
noise and the small negative covariances of far pairs.
"""

from __future__ import annotations

import numpy as np

INTERVALS = ("graph", "independent")


def design_effect(values: np.ndarray, indices: np.ndarray | None, m: int) -> float:
    """deff = 1 + Σ_{i~j, i≠j} e_i e_j / Σ e_i², floored at 1 (1.0 without indices).

    ``values`` (N,) or (N, K) per-point values (rows of a vector statistic are first
    projected on their first principal axis by the caller when needed); ``indices`` (N, >= m)
    neighbour indices into the same N points, −1 for a neighbour that is not among them.
    """
    h = np.asarray(values, dtype=np.float64)
    if indices is None or h.size < 3:
        return 1.0
    e = h - h.mean()
    ee = float(e @ e)
    if not ee > 0:
        return 1.0
    n = e.size
    nbr = np.asarray(indices)[:, :m].astype(np.int64, copy=False)
    rows = np.repeat(np.arange(n, dtype=np.int64), nbr.shape[1])
    cols = nbr.ravel()
    ok = (cols >= 0) & (cols < n) & (cols != rows)
    a, b = np.minimum(rows[ok], cols[ok]), np.maximum(rows[ok], cols[ok])
    # each unordered edge once, however many of its two directions the kNN lists hold
    edges = np.unique(a * n + b)
    cross = 2.0 * float((e[edges // n] * e[edges % n]).sum())
    return max(1.0, 1.0 + cross / ee)
