"""Running k smallest per row over the tiles of a distance matrix (CPU, numpy).

The tiled search (:mod:`.engine`) meets each tile of approximate squared distances once and
keeps, for every point, the ``kk`` smallest values seen so far with their indices. Once a
row's list is full, only the entries of a tile below the row's current ``kk``-th smallest
value (its threshold) can enter it: one vectorised comparison over the tile finds them
(about ``kk`` per row when tiles are alike), and only those are merged. An entry equal to
the threshold is not taken, so every value left out is at least the largest value kept (the
certificate of the engine relies on this).

Before a row's list is full (the first tile it meets), and when a tile holds more than
``2·kk`` entries per row below the thresholds, the tile is read in two levels instead: the
minima of ``g`` interleaved groups of each row (entries j, j + m, j + 2m, …; one streaming
pass, no transposed copy for the columns), then the members of the ``kk`` groups with the
smallest minima, which hold the row's ``kk`` smallest entries.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BestLists"]

_GROUP = 8


class BestLists:
    """Running ``kk`` smallest (value, index) per row, unordered: ``d`` (float32, +inf where
    the list is not full yet) and ``i`` (int64)."""

    def __init__(self, n: int, kk: int):
        self.kk = kk
        self.d = np.full((n, kk), np.inf, dtype=np.float32)
        self.i = np.zeros((n, kk), dtype=np.int64)

    def update(self, a: int, b: int, tile: np.ndarray, offset: int, axis: int) -> None:
        """Merge the rows (``axis=1``) or the columns (``axis=0``) of ``tile`` into the lists
        of points ``a:b``; the tile's positions along ``axis`` are indices minus ``offset``."""
        tau = self.d[a:b].max(axis=1)
        if not np.isfinite(tau).all():
            self.merge(a, b, *_tile_smallest(tile, self.kk, axis), offset)
            return
        below = tile < (tau[:, None] if axis == 1 else tau[None, :])
        if np.count_nonzero(below) > 2 * self.kk * (b - a):  # most lists change a lot
            self.merge(a, b, *_tile_smallest(tile, self.kk, axis), offset)
            return
        flat = np.flatnonzero(below)  # row-major
        if axis == 1:
            rows, pos = np.divmod(flat, tile.shape[1])
        else:
            pos, rows = np.divmod(flat, tile.shape[1])
            order = np.argsort(rows, kind="stable")  # grouped by column
            rows, pos, flat = rows[order], pos[order], flat[order]
        self._merge_sparse(a, rows, pos, tile.reshape(-1)[flat], offset)

    def _merge_sparse(self, a, rows, pos, vals, offset) -> None:
        """Merge the entries (rows[p], pos[p], vals[p]), ``rows`` ascending and relative
        to ``a``, each below its row's threshold."""
        if rows.size == 0:
            return
        u, start, count = np.unique(rows, return_index=True, return_counts=True)
        slot = np.arange(rows.size) - np.repeat(start, count)
        at = np.repeat(np.arange(u.size), count)
        pad_d = np.full((u.size, int(count.max())), np.inf, dtype=np.float32)
        pad_i = np.zeros(pad_d.shape, dtype=np.int64)
        pad_d[at, slot] = vals
        pad_i[at, slot] = pos + offset
        self._merge_rows(u + a, pad_d, pad_i)

    def merge(self, a: int, b: int, vals: np.ndarray, pos: np.ndarray, offset: int) -> None:
        """Merge candidate lists (values, positions) for each of the rows ``a:b``."""
        cd = np.concatenate([self.d[a:b], vals], axis=1)
        ci = np.concatenate([self.i[a:b], pos + offset], axis=1)
        j = _smallest(cd, self.kk)
        self.d[a:b] = np.take_along_axis(cd, j, axis=1)
        self.i[a:b] = np.take_along_axis(ci, j, axis=1)

    def _merge_rows(self, rows: np.ndarray, vals: np.ndarray, idx: np.ndarray) -> None:
        cd = np.concatenate([self.d[rows], vals], axis=1)
        ci = np.concatenate([self.i[rows], idx], axis=1)
        j = _smallest(cd, self.kk)
        self.d[rows] = np.take_along_axis(cd, j, axis=1)
        self.i[rows] = np.take_along_axis(ci, j, axis=1)


def _group_minima(tile: np.ndarray, ng: int, axis: int) -> np.ndarray:
    """(rows or columns, ng) minima of the ``_GROUP`` interleaved groups."""
    R, C = tile.shape
    m = ng * _GROUP
    if axis == 1:
        return np.minimum.reduce(tile[:, :m].reshape(R, _GROUP, ng), axis=1)
    return np.minimum.reduce(tile[:m].reshape(_GROUP, ng, C), axis=0).T


def _smallest(a: np.ndarray, kk: int) -> np.ndarray:
    """Positions of the kk smallest entries of every row of ``a`` (unordered)."""
    m = a.shape[1]
    if m <= kk:
        return np.broadcast_to(np.arange(m), a.shape)
    if m <= 256:  # a full sort of short rows beats introselect's per-row overhead
        return np.argsort(a, axis=1)[:, :kk]
    return np.argpartition(a, kk - 1, axis=1)[:, :kk]


def _tile_smallest(d2: np.ndarray, kk: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The kk smallest entries of every row (``axis=1``) or column (``axis=0``) of a tile:
    (values, positions along ``axis``), shape (rows or columns, ≤ kk): the members of the
    kk groups with the smallest minima (each entry below the kk-th smallest value lies in a
    group whose minimum is below it as well)."""
    R, C = d2.shape
    length = C if axis == 1 else R
    other = R if axis == 1 else C
    g = _GROUP
    ng = length // g
    if ng <= 2 * kk:
        t = d2 if axis == 1 else np.ascontiguousarray(d2.T)
        j = _smallest(t, kk)
        return np.take_along_axis(t, j, axis=1), np.asarray(j)
    m = ng * g
    gmin = _group_minima(d2, ng, axis)
    pos = (_smallest(gmin, kk)[:, :, None] + ng * np.arange(g)).reshape(other, -1)
    if length > m:  # the tail that does not fill a group is always a candidate
        pos = np.concatenate([pos, np.broadcast_to(np.arange(m, length), (other, length - m))],
                             axis=1)
    flat = d2.reshape(-1)
    if axis == 1:
        vals = flat[pos + (np.arange(R) * C)[:, None]]
    else:
        vals = flat[pos * C + np.arange(C)[:, None]]
    j = _smallest(vals, kk)
    return np.take_along_axis(vals, j, axis=1), np.take_along_axis(pos, j, axis=1)
