"""Neighbour distances for the estimators, with one duplicate policy for all of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import DuplicatePointsError, InputError
from .._validation import check_array, check_choice, check_sample_size
from ..neighbors import KNeighbors, duplicate_groups, first_occurrence_mask, kneighbors

DUPLICATE_POLICIES = ("remove", "drop-ties", "error")


@dataclass(frozen=True)
class NeighborDistances:
    """Distances (N, k) of the points that enter an estimate, and what was taken out.

    ``indices`` (N, k) are the neighbours' rows among these N points (−1 for a neighbour
    that was dropped); the graph intervals read them (docs/science.md §3).
    """

    distances: np.ndarray
    n_removed: int
    n_input: int
    indices: np.ndarray | None = None


def neighbor_distances(
    X: Any,
    k: int,
    *,
    caller: str,
    duplicates: str = "remove",
    tie_columns: tuple[int, int] | None = None,
    min_points: int = 3,
    graph_k: int = 0,
    device: Any = None,
    progress: bool = False,
    executor: str = "local",
    address: str | None = None,
) -> NeighborDistances:
    """The first ``k`` neighbour distances under a duplicate policy.

    ``X`` may be data or a precomputed :class:`~idscope.neighbors.KNeighbors`.

    Policies: ``"remove"`` removes exact duplicate rows (keeping the first) and searches again;
    ``"drop-ties"`` (Ansuini et al.) keeps all rows and drops points whose distances in
    ``tie_columns`` (0-based columns, e.g. (0, 1) for r1 and r2) are zero or equal;
    ``"error"`` raises :class:`DuplicatePointsError`.

    ``graph_k`` > k searches that many neighbours (as many as there are, for precomputed
    ones) for the graph interval's ``indices``; ``distances`` keep k columns.
    ``executor`` and ``address`` go to :func:`~idscope.neighbors.kneighbors` (``"ray"``:
    query blocks over Ray tasks, the same result as the local search).
    """
    search = {"device": device, "progress": progress, "executor": executor,
              "address": address}
    check_choice(duplicates, "duplicates", DUPLICATE_POLICIES, caller=caller)
    if isinstance(X, KNeighbors):
        knn, data, n = X, None, X.n_points
        if k > knn.k:
            raise InputError(f"{caller}: needs {k} neighbours but the precomputed KNeighbors "
                             f"has {knn.k}")
        knn = knn.subset_k(max(k, min(graph_k, knn.k)))
    else:
        data = check_array(X, caller=caller, min_samples=2)
        n = int(data.shape[0])
        if n - 1 < k:
            raise InputError(f"{caller}: needs at least {k + 1} points for k={k}, got {n}")
        k_search = max(k, min(graph_k, n - 1))
        knn = kneighbors(data, k_search, validate=False, **search)
    dist = knn.distances[:, :k]
    if duplicates == "drop-ties":
        # applied even without duplicates: r1 = r2 ties also occur on grids and integer data
        a, b = tie_columns if tie_columns is not None else (0, 0)
        keep = (dist[:, a] > 0) & (dist[:, b] > dist[:, a] if b != a else True)
        n_keep = int(keep.sum())
        if n_keep < min_points:
            raise InputError(f"{caller}: needs at least {min_points} points, got {n_keep} "
                             f"after dropping {n - n_keep} point(s) with zero or tied "
                             f"neighbour distances (duplicates='drop-ties')")
        check_sample_size(n_keep, minimum=min_points, caller=caller)
        # renumber the kept points; neighbours that were dropped become −1
        new = np.full(n, -1, dtype=np.int64)
        new[keep] = np.arange(n_keep)
        return NeighborDistances(dist[keep], n - n_keep, n, new[knn.indices[keep]])
    if not (dist[:, 0] == 0).any():
        _check_count(n, min_points, caller, 0)
        return NeighborDistances(dist, 0, n, knn.indices)
    groups = duplicate_groups(knn)
    n_dup = int(sum(len(g) - 1 for g in groups))
    if duplicates == "error":
        raise DuplicatePointsError(f"{caller}: {n_dup} duplicate row(s) in {len(groups)} "
                                   f"group(s); use duplicates='remove' or 'drop-ties'")
    # "remove": search again among the distinct rows
    if data is None:
        raise InputError(f"{caller}: duplicates='remove' needs the data, not a precomputed "
                         f"KNeighbors (which has {n_dup} duplicate rows)")
    knn, n_removed = search_distinct(data, k, knn=knn, caller=caller, min_points=min_points,
                                     graph_k=graph_k, **search)
    return NeighborDistances(knn.distances[:, :k], n_removed, n, knn.indices)


def search_distinct(data: Any, k: int, *, knn: KNeighbors | None = None, caller: str,
                    min_points: int = 3, graph_k: int = 0, device: Any = None,
                    progress: bool = False, executor: str = "local",
                    address: str | None = None) -> tuple[KNeighbors, int]:
    """The ``k`` nearest neighbours among the distinct rows of ``data`` (the first of each
    group of exact duplicates is kept), and how many rows were removed. ``graph_k`` > k
    searches up to that many (for the graph interval's indices).

    ``knn`` is ``data``'s own neighbour search when already done: without duplicates (no
    zero first distance) it is returned as is; otherwise the distinct rows are searched
    again. The one place where "remove the duplicates, search again" happens.
    """
    n = int(data.shape[0])
    search = {"device": device, "progress": progress, "executor": executor,
              "address": address}
    if knn is None:
        knn = kneighbors(data, k, validate=False, **search)
    if not (knn.distances[:, 0] == 0).any():
        _check_count(n, max(min_points, k + 1), caller, 0)
        return knn, 0
    groups = duplicate_groups(knn)
    n_dup = int(sum(len(g) - 1 for g in groups))
    keep = first_occurrence_mask(n, groups)
    n_keep = int(keep.sum())
    if n_keep == 1:
        raise InputError(f"{caller}: all {n} points are identical")
    _check_count(n_keep, max(min_points, k + 1), caller, n_dup)
    knn = kneighbors(take_rows(data, np.flatnonzero(keep)), max(k, min(graph_k, n_keep - 1)),
                     validate=False, **search)
    return knn, n - n_keep


def reference_points(nd: NeighborDistances, duplicates: str) -> int:
    """The size N of the sample the neighbours were searched in (what a calibration's
    reference samples must match): the distinct rows under ``"remove"``, all rows
    otherwise."""
    return nd.n_input - nd.n_removed if duplicates == "remove" else nd.n_input


def take_rows(data: Any, index: np.ndarray) -> Any:
    """Rows ``index`` of a numpy array, memmap or torch tensor."""
    if isinstance(data, np.ndarray):
        return data[index]
    import torch

    return data[torch.as_tensor(index, device=data.device)]


def _check_count(n: int, need: int, caller: str, removed: int) -> None:
    extra = f" after removing {removed} duplicate(s)" if removed else ""
    check_sample_size(n, minimum=need, caller=caller, note=extra)
