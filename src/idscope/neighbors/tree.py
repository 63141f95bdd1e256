"""Exact k nearest neighbours in low dimension with SciPy's k-d tree.

A k-d tree (``scipy.spatial.cKDTree``, queries over all cores with ``workers=-1``) finds the
neighbours of N points in about O(N log N) when the dimension is low, where the tiled search
costs O(N²·D). Its distances carry their own rounding, so the tree only proposes candidates;
the result follows the engine's contract exactly:

1. query ``k + margin`` neighbours (one more with self-exclusion) in the power-of-two frame
   (:mod:`.frame`);
2. keep the candidates whose tree distance is within a relative ``1e-9`` of the k-th (the
   tree's rounding is ~D·2⁻⁵³ relative), recompute their squared distances from float64
   difference vectors (:mod:`.exact`, the same arithmetic as every other path) and sort by
   (distance, index);
3. certify: a point's list is exact when its k-th exact distance lies below the tree
   distance of the last point queried (every point not returned is at least that far)
   minus the rounding margin. Points that fail (ties or duplicates straddling the k-th
   place) take every point of the ball of that radius (``query_ball_point``), verified the
   same way, so ties are resolved by index exactly.

SciPy's ``cKDTree`` was measured against scikit-learn's ``KDTree`` and ``BallTree``
(``benchmarks/neighbors.py``, README "How exact and how fast"): it builds faster and its
queries use every core.
"""

from __future__ import annotations

import numpy as np

from .exact import _blocks, _exact_distances, _k_smallest
from .frame import ldexp
from .source import PointSource

__all__ = ["tree_search"]

_REL = 1e-9  # relative slack on the tree's float64 distances (its error is ~D·1e-16)
_ABS = 1e-150  # absolute slack (frame units): squares below ~1e-300 are subnormal


def _frame_copy(src: PointSource, budget: int) -> np.ndarray:
    """The points of ``src`` times ``2^-exp`` as one C-ordered float64 array."""
    step = max(1, (budget // 4) // max(1, 8 * src.d))
    out = np.empty((src.n, src.d), dtype=np.float64)
    for a, b in _blocks(src.n, step):
        block = src.rows_np(a, b)
        out[a:b] = ldexp(block, -src.exp, np.float64) if src.exp else block
    return out


def tree_search(src: PointSource, ref: PointSource, symmetric: bool, k: int, margin: int,
                budget: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Exact (d² in the frame, indices) of every point of ``src`` among ``ref``, and the
    number of points resolved by a ball query. Both sources share their frame."""
    from scipy.spatial import cKDTree

    R = _frame_copy(ref, budget)
    Q = R if symmetric else _frame_copy(src, budget)
    tree = cKDTree(R, balanced_tree=False)
    n_avail = ref.n - 1 if symmetric else ref.n
    kq = min(ref.n, k + margin + (1 if symmetric else 0))
    everything = kq - (1 if symmetric else 0) >= n_avail  # no point is left out
    dist2 = np.empty((src.n, k))
    idx = np.empty((src.n, k), dtype=np.int64)
    # rows per query block: the tree's (rows × kq) answers and their candidates in a
    # quarter of the budget
    step = max(1024, (budget // 4) // max(1, 40 * kq))
    # Queries in the tree's own leaf order (``tree.indices``) when the queries are the tree's
    # points: consecutive queries then visit the same nodes, which halves the query time of
    # a million points against the data's (random) order.
    order = tree.indices if symmetric else np.arange(src.n)
    failed_all = []
    for a, b in _blocks(src.n, step):
        at = order[a:b]
        dd, ii = tree.query(Q[at], k=kq, workers=-1)
        dd, ii = dd.reshape(b - a, kq), ii.reshape(b - a, kq)
        last = dd[:, -1].copy()
        if symmetric:
            dd, ii = _drop_self(dd, ii, at)
        d2, nn = _verified(src, ref, at, dd, ii, k, budget)
        dist2[at], idx[at] = d2, nn
        if not everything:
            bound = last * (1 - _REL) - _ABS
            failed_all.append(at[~(np.sqrt(d2[:, k - 1]) < bound)])
    failed = np.sort(np.concatenate(failed_all)) if failed_all else np.zeros(0, dtype=np.int64)
    if failed.size:
        dist2[failed], idx[failed] = _ball(tree, Q, src, ref, symmetric, failed, dist2, k,
                                           budget)
    return dist2, idx, int(failed.size)


def _drop_self(dd: np.ndarray, ii: np.ndarray, at: np.ndarray):
    """The answers without each query point itself (or, with more copies of it than were
    returned, without the last answer)."""
    if (ii[:, 0] == at).all():  # distinct points: self comes first, at distance 0
        return dd[:, 1:], ii[:, 1:]
    own = ii == at[:, None]
    own[~own.any(axis=1), -1] = True
    m = dd.shape[1] - 1
    return dd[~own].reshape(-1, m), ii[~own].reshape(-1, m)


def _verified(src, ref, at, dd, ii, k, budget):
    """The k nearest (exact d², index) of the queries ``at`` from the tree's ascending
    answers (dd, ii): the candidates are the answers within the rounding slack of the k-th
    (a prefix of each row); their d² are recomputed from float64 difference vectors, each
    pair as (query, reference) ((x − y)² and (y − x)² are the same float64 numbers, so
    this equals the other paths' once-per-pair result bit for bit), and sorted by
    (distance, index)."""
    B = at.size
    cut = dd[:, k - 1] * (1 + _REL) + _ABS
    n_cand = np.count_nonzero(dd <= cut[:, None], axis=1)  # >= k
    first = ii[:, :k]
    e = _exact_distances(src, ref, np.repeat(at, k), first.reshape(-1), False,
                         budget).reshape(B, k)
    # most rows: exactly k candidates, already in (distance, index) order
    simple = n_cand == k
    if k > 1:
        lo, hi = e[:, :-1], e[:, 1:]
        simple &= ((hi > lo) | ((hi == lo) & (first[:, 1:] > first[:, :-1]))).all(axis=1)
    hard = np.flatnonzero(~simple)
    if hard.size == 0:
        return e, first
    e, first = e.copy(), first.copy()
    dh, ih, nh = dd[hard], ii[hard], n_cand[hard]
    exact = np.full(dh.shape, np.inf)
    exact[:, :k] = e[hard]
    rows, slots = np.nonzero((np.arange(dh.shape[1]) >= k) & (np.arange(dh.shape[1])
                                                              < nh[:, None]))
    exact[rows, slots] = _exact_distances(src, ref, at[hard][rows], ih[rows, slots], False,
                                          budget)
    # sort each row by (distance, index): by index first, then stably by distance
    by_index = np.argsort(ih, axis=1, kind="stable")
    exact = np.take_along_axis(exact, by_index, axis=1)
    ih = np.take_along_axis(ih, by_index, axis=1)
    by_dist = np.argsort(exact, axis=1, kind="stable")[:, :k]
    e[hard] = np.take_along_axis(exact, by_dist, axis=1)
    first[hard] = np.take_along_axis(ih, by_dist, axis=1)
    return e, first


def _ball(tree, Q, src, ref, symmetric, failed, dist2, k, budget):
    """Exact k nearest of the points ``failed`` from every point within their current k-th
    exact distance (plus the slack): ties at the k-th place are all seen."""
    radius = np.sqrt(dist2[failed, k - 1]) * (1 + _REL) + _ABS
    balls = tree.query_ball_point(Q[failed], radius, workers=-1)
    rows = np.repeat(np.arange(failed.size), [len(b) for b in balls])
    cols = np.fromiter((j for b in balls for j in b), dtype=np.int64, count=rows.size)
    if symmetric:
        keep = cols != failed[rows]
        rows, cols = rows[keep], cols[keep]
    exact = _exact_distances(src, ref, failed[rows], cols, symmetric, budget)
    return _k_smallest(rows, cols, exact, failed.size, k)
