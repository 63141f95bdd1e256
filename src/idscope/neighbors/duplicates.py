"""Exact duplicate rows, found from the zero distances of an exact neighbour search."""

from __future__ import annotations

import numpy as np

from .engine import KNeighbors

__all__ = ["duplicate_groups", "first_occurrence_mask"]


def duplicate_groups(knn: KNeighbors) -> list[np.ndarray]:
    """Groups (sorted index arrays, size >= 2) of identical rows.

    Each point's zero-distance neighbours are its copies with the smallest indices (ties
    break by index), so linking every point to them connects each group even when a group
    is larger than k + 1.
    """
    rows, cols = np.nonzero(knn.distances == 0.0)
    if rows.size == 0:
        return []
    parent = np.arange(knn.n_points)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(rows.tolist(), knn.indices[rows, cols].tolist()):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    members = np.unique(np.concatenate([rows, knn.indices[rows, cols]]))
    roots = np.array([find(int(i)) for i in members])
    return [members[roots == r] for r in np.unique(roots)]


def first_occurrence_mask(n: int, groups: list[np.ndarray]) -> np.ndarray:
    """Boolean mask keeping the first row of each duplicate group and every unique row."""
    keep = np.ones(n, dtype=bool)
    for g in groups:
        keep[g[1:]] = False
    return keep
