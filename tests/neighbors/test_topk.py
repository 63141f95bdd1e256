"""The running top-kk over tiles against a full sort of everything seen."""

import numpy as np
import pytest

from idscope.neighbors.topk import BestLists


@pytest.mark.parametrize("kk,ties", [(3, False), (10, False), (6, True)])
def test_running_smallest_equals_a_full_sort(kk, ties):
    rng = np.random.default_rng(kk)
    n, m = 150, 900  # rows of the lists; columns seen, in tiles of odd widths
    full = rng.random((n, m)).astype(np.float32)
    if ties:
        full = np.round(full * 20).astype(np.float32)  # many equal values
    best = BestLists(n, kk)
    edges = [0, 37, 300, 301, 640, 900]
    for c, e in zip(edges[:-1], edges[1:]):
        best.update(0, n, np.ascontiguousarray(full[:, c:e]), offset=c, axis=1)
    # the same values through the columns of transposed tiles
    by_cols = BestLists(n, kk)
    for c, e in zip(edges[:-1], edges[1:]):
        by_cols.update(0, n, np.ascontiguousarray(full[:, c:e].T), offset=c, axis=0)
    expect = np.sort(full, axis=1)[:, :kk]
    for lists in (best, by_cols):
        np.testing.assert_array_equal(np.sort(lists.d, axis=1), expect)
        # each kept index holds its value, and every value left out is >= the largest kept
        np.testing.assert_array_equal(np.take_along_axis(full, lists.i, axis=1), lists.d)
        left = np.ones_like(full, dtype=bool)
        np.put_along_axis(left, lists.i, False, axis=1)
        assert (np.where(left, full, np.inf).min(axis=1) >= lists.d.max(axis=1)).all()
        assert (np.sort(lists.i, axis=1)[:, 1:] != np.sort(lists.i, axis=1)[:, :-1]).all()


@pytest.mark.parametrize("axis", [1, 0])
def test_far_tile_first_then_near_ones(axis):
    # the first tile fills the lists with large values: every entry of the next tile lies
    # below the thresholds (the whole tile is selected), then the tiles after it hold only
    # a few entries below them each (only those are merged)
    rng = np.random.default_rng(7)
    n, kk = 120, 8
    tiles = [rng.random((n, 200)).astype(np.float32) + s for s in (10.0, 0.0, 0.0, 0.0)]
    best = BestLists(n, kk)
    for t, tile in enumerate(tiles):
        best.update(0, n, np.ascontiguousarray(tile if axis == 1 else tile.T),
                    offset=200 * t, axis=axis)
    full = np.concatenate(tiles, axis=1)
    np.testing.assert_array_equal(np.sort(best.d, axis=1), np.sort(full, axis=1)[:, :kk])
    np.testing.assert_array_equal(np.take_along_axis(full, best.i, axis=1), best.d)
