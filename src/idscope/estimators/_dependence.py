"""The design effect of shared neighbourhoods on a sum of per-point statistics.

Every kNN estimator here is a function of a sum Σ_i h_i of per-point values (log μ_i for
TwoNN, S_i for MLE, the score for GRIDE). Their textbook intervals treat the h_i as
independent, but two points that are each other's neighbours see almost the same
neighbourhood: on a flat torus (exact marginal laws, nothing but this sharing) the estimates
spread 1.1–1.4 times the independent-points standard error. Var(Σ h_i) is therefore
estimated on the neighbour graph (docs/science.md §3), a Conley-type spatial HAC variance:

    Var(Σ h_i) ≈ Σ_i e_i² + 2·Σ_{pairs i~j} w_ij e_i e_j,    e_i = h_i − mean(h),

where i ~ j when one is among the other's first m neighbours, w_ij = 1 − r/(m + 1) with r
the pair's smaller rank (a Bartlett taper), and m = 3 × the neighbours the estimator reads
for TwoNN (6) and GRIDE (3·n2), 4k for MLE. Why these choices, measured on the torus (§3):
the covariance of two points' values is large and positive for near ranks and turns
negative further out (for MLE from rank ≈ k/2), and a pair is often near in one direction
only (j is i's first neighbour, i is j's 30th), so a one-sided or untapered truncation at
the estimator's own k is biased in a d-dependent way. MLE's covariance is signed over the
whole zone where two k-neighbourhoods overlap (centres within 2·r_k: about 2^d·k ranks):
positive, negative, positive again, summing to its total by rank ≈ 4k at d = 2. A taper to
4k spans that zone at d = 2 and its signed near part above: on 300–1 000 torus draws per
cell (``benchmarks/uncertainty.py --ranges``) 3k over-stated the simulated deff by 20–27 %
at d = 5 (the taper stops inside the negative part), 4k by 9–16 % (still conservative),
while at d = 2 every range from 3k to 6k gives the same value. TwoNN's covariance sits
almost entirely in mutual first neighbours, which 6 covers. The design effect deff =
Var(Σ h_i)/Σ e_i² is floored at 1 (never narrower than the independent-points interval);
the effective number of points is N/deff.
"""

from __future__ import annotations

import numpy as np

INTERVALS = ("graph", "independent")
GRAPH_FACTOR = 3  # TwoNN's and GRIDE's graph: 3 × the neighbours they read (see above)
MLE_GRAPH_FACTOR = 4  # MLE's graph: 4k, the zone where k-neighbourhoods overlap at d = 2


def graph_neighbors(estimator: str, k: int) -> int:
    """How many neighbours the default ``interval="graph"`` of ``estimator`` reads: 4k for
    MLE (k its neighbours), 3·n2 for GRIDE (n2 its larger rank), 6 for TwoNN (k = 2).
    A precomputed :class:`~idscope.neighbors.KNeighbors` with fewer columns gives a graph
    of that many (a shorter taper range)."""
    factor = MLE_GRAPH_FACTOR if estimator == "mle" else GRAPH_FACTOR
    return factor * int(k)


def design_effect(values: np.ndarray, indices: np.ndarray | None, m: int) -> float:
    """deff = 1 + 2·Σ_{pairs i~j} w_ij e_i e_j / Σ e_i², floored at 1 (1.0 without indices).

    ``values`` (N,) per-point values; ``indices`` (N, >= 1) neighbour indices into the same
    N points (−1 for a neighbour that is not among them), of which the first ``m`` columns
    are read. A pair i~j counts once, with the Bartlett weight w = 1 − r/(m + 1) of its
    smaller rank r (j's rank among i's neighbours or i's among j's).
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
    m = nbr.shape[1]
    rows = np.arange(n, dtype=np.int64)[:, None]
    ok = (nbr >= 0) & (nbr < n) & (nbr != rows)
    lo, hi = np.minimum(rows, nbr)[ok], np.maximum(rows, nbr)[ok]
    rank = np.broadcast_to(np.arange(1, m + 1, dtype=np.int64), nbr.shape)[ok]
    # each unordered pair once, at its smaller rank: sort by (pair, rank), keep the first
    sn, sr = max(1, (n - 1).bit_length()), m.bit_length()
    if 2 * sn + sr <= 62:
        # one int64 sort of the packed bits (lo, hi, rank): the lexsort's order, much faster
        packed = np.sort((lo << (sn + sr)) | (hi << sr) | rank)
        pair = packed >> sr
        packed = packed[np.r_[True, pair[1:] != pair[:-1]]]
        lo, hi = packed >> (sn + sr), (packed >> sr) & ((1 << sn) - 1)
        rank = packed & ((1 << sr) - 1)
    else:
        order = np.lexsort((rank, hi, lo))
        lo, hi, rank = lo[order], hi[order], rank[order]
        first = np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])]
        lo, hi, rank = lo[first], hi[first], rank[first]
    cross = 2.0 * float(((1.0 - rank / (m + 1)) * e[lo] * e[hi]).sum())
    return max(1.0, 1.0 + cross / ee)
