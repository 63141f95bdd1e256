"""The neighbour-based estimates of one layer in a profile: one exact search, shared by
TwoNN on all points, TwoNN on the resamples (Ansuini et al.'s error bars), MLE and GRIDE.

Duplicate rows are removed by restricting the neighbour lists of the full search (the
resamples need no second search); lists that run short are extended together.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._errors import InputError
from ..estimators import gride, mle, twonn
from ..neighbors import KNeighbors, duplicate_groups, first_occurrence_mask, kneighbors

__all__ = ["OTHER_ESTIMATORS", "neighbour_estimates"]

OTHER_ESTIMATORS = ("mle", "gride")


def _needed_k(names, options) -> int:
    k = 2
    if "mle" in names:
        kk = options.get("mle", {}).get("k", 20)
        k = max(k, int(kk[1] if isinstance(kk, (tuple, list)) else kk))
    if "gride" in names:
        k = max(k, int(options.get("gride", {}).get("n2", 2)))
    return k


def neighbour_estimates(X, take, names, n_resamples, fraction, seed, duplicates,
                         twonn_method, fit_fraction, options, device, progress):
    n = int(X.shape[0])
    if n < 4:
        raise InputError(f"profile: needs at least 4 samples, got {n}")
    k_need = _needed_k(names, options)
    subsets = _resample_masks(n, n_resamples, fraction, seed) if "twonn" in names else []
    # The engine verifies every listed neighbour exactly (a pass over all D features per
    # pair), so lists stay short: a 90 % subset keeps fewer than 2 of a point's 5 nearest
    # with probability ~5e-4; the few points that need more are extended together.
    k = min(n - 1, k_need + (3 if subsets else 0))
    knn = kneighbors(X, k, device=device, validate=False, progress=progress)
    keep = np.ones(n, dtype=bool)
    if duplicates == "remove" and (knn.distances[:, 0] == 0).any():
        keep = first_occurrence_mask(n, duplicate_groups(knn))
    n_distinct = int(keep.sum())
    if n_distinct == 1:
        raise InputError(f"profile: all {n} samples are identical (a constant layer)")
    if n_distinct <= k_need + 1 or (subsets and min(
            int((keep & s).sum()) for s in subsets) <= 3):
        raise InputError(f"profile: only {n_distinct} distinct samples, too few for "
                         f"{k_need} neighbours" + (" in each resample" if subsets else ""))
    lists = _Lists(knn.distances, knn.indices, n)
    wanted = [(keep, k_need)] + [(keep & s, 2) for s in subsets]
    while True:
        short = np.flatnonzero(np.any([lists.short(m, kk) for m, kk in wanted], axis=0))
        if short.size == 0:
            break
        lists.extend(X, take, short, device)
    full = lists.restrict(keep, k_need)
    parts = [lists.restrict(keep & s, 2) for s in subsets]
    n_dup = n - n_distinct
    # under "remove" the duplicates are already gone from ``full``
    twopts = {"method": twonn_method, "fraction": fit_fraction, "duplicates": duplicates,
              **options.get("twonn", {})}
    estimates: dict[str, dict[str, Any]] = {}
    tw = tw_std = tw_full = float("nan")
    if "twonn" in names:
        res = twonn(full.subset_k(2), **twopts)
        tw_full = res.dimension
        estimates["twonn"] = res.to_dict()
        if parts:
            boot = dict(twopts, n_bootstrap=0)
            ids = np.array([twonn(p, **boot).dimension for p in parts])
            tw, tw_std = float(ids.mean()), float(ids.std())
        else:
            tw, tw_std = tw_full, float("nan")
    for name in OTHER_ESTIMATORS:
        if name in names:
            fn = {"mle": mle, "gride": gride}[name]
            estimates[name] = fn(full, duplicates=duplicates,
                                 **options.get(name, {})).to_dict()
    return tw, tw_std, tw_full, n_distinct, n_dup, estimates


class _Lists:
    """Exact neighbour lists of all n points, of varying length (padded with distance inf
    and the sentinel index n), from which the neighbours within any subset are read."""

    def __init__(self, dist: np.ndarray, idx: np.ndarray, n: int):
        self.dist, self.idx, self.n = dist, idx, n
        self.length = np.full(n, dist.shape[1])

    def _counts(self, members: np.ndarray) -> np.ndarray:
        return np.append(members, False)[self.idx].sum(axis=1)

    def short(self, members: np.ndarray, k: int) -> np.ndarray:
        """Members whose list holds fewer than k other members and could be longer."""
        return members & (self._counts(members) < k) & (self.length < self.n - 1)

    def extend(self, X: Any, take: Callable[[np.ndarray], Any], rows: np.ndarray,
               device: Any) -> None:
        """Longer exact lists for ``rows``: their neighbours among all points, searched with
        the rows as queries against the whole layer (self removed by index)."""
        k2 = int(min(self.n - 1, max(16, 2 * self.length[rows].max())))
        knn = kneighbors(take(rows), min(self.n, k2 + 1), reference=X, device=device,
                         validate=False)
        dist = np.full((rows.size, k2), np.inf)
        idx = np.full((rows.size, k2), self.n, dtype=np.int64)
        for i, r in enumerate(rows):
            other = knn.indices[i] != r
            m = min(k2, int(other.sum()))
            dist[i, :m] = knn.distances[i][other][:m]
            idx[i, :m] = knn.indices[i][other][:m]
        if k2 > self.dist.shape[1]:
            pad = k2 - self.dist.shape[1]
            self.dist = np.pad(self.dist, ((0, 0), (0, pad)), constant_values=np.inf)
            self.idx = np.pad(self.idx, ((0, 0), (0, pad)), constant_values=self.n)
        self.dist[rows] = np.inf
        self.idx[rows] = self.n
        self.dist[rows, :k2] = dist
        self.idx[rows, :k2] = idx
        self.length[rows] = k2

    def restrict(self, members: np.ndarray, k: int) -> KNeighbors:
        """The exact k nearest neighbours within ``members``, indices renumbered within
        them: among a point's nearest neighbours in the full set, the first k members."""
        rows = np.flatnonzero(members)
        idx = self.idx[rows]
        ok = np.append(members, False)[idx]
        sel = ok & (np.cumsum(ok, axis=1) <= k)
        renumber = np.cumsum(members) - 1
        return KNeighbors(self.dist[rows][sel].reshape(rows.size, k),
                          renumber[idx[sel]].reshape(rows.size, k))


def _resample_masks(n: int, n_resamples: int, fraction: float, seed: int) -> list[np.ndarray]:
    """Boolean masks of ``n_resamples`` seeded subsets of ⌊fraction·n⌋ samples."""
    rng = np.random.default_rng(seed)
    m = max(3, int(math.floor(fraction * n)))
    out = []
    for _ in range(n_resamples):
        mask = np.zeros(n, dtype=bool)
        mask[rng.permutation(n)[:m]] = True
        out.append(mask)
    return out
