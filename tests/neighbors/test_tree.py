"""The k-d tree path against float64 brute force, and the dispatch between the paths.

Reference: squared distances from float64 difference vectors (``cdist``, exact on integer
data), ordered by (distance, index) with a stable sort. The tree path must return the same
indices and distances; against the float32-products path ("brute") it must be bitwise equal
(both verify candidates with the same float64 kernel).
"""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from idscope import InputError, kneighbors
from idscope.neighbors import PointSource
from idscope.neighbors.dispatch import choose_algorithm, tree_possible


def brute(X, k, reference=None):
    Q = np.asarray(X, dtype=np.float64)
    R = Q if reference is None else np.asarray(reference, dtype=np.float64)
    d2 = cdist(Q, R, "sqeuclidean")
    if reference is None:
        np.fill_diagonal(d2, np.inf)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return np.sqrt(np.take_along_axis(d2, idx, axis=1)), idx


def assert_tree_exact(X, k, reference=None, expect_ball=False):
    knn = kneighbors(X, k, reference=reference, algorithm="tree")
    ref_d, ref_i = brute(X, k, reference)
    np.testing.assert_array_equal(knn.indices, ref_i)
    np.testing.assert_allclose(knn.distances, ref_d, rtol=1e-12, atol=0)
    other = kneighbors(X, k, reference=reference, algorithm="brute")
    np.testing.assert_array_equal(knn.indices, other.indices)
    np.testing.assert_array_equal(knn.distances, other.distances)
    if expect_ball:
        assert knn.n_exhaustive > 0  # ties straddling the k-th place went to the ball query
    return knn


@pytest.mark.parametrize("d,k", [(2, 4), (3, 6), (1, 3)])
def test_integer_grid_with_many_ties(d, k):
    side = {1: 40, 2: 15, 3: 7}[d]
    axes = np.meshgrid(*[np.arange(side)] * d, indexing="ij")
    X = np.stack([a.ravel() for a in axes], axis=1).astype(np.float64)
    X = X[np.random.default_rng(d).permutation(len(X))]  # ties not in index order
    assert_tree_exact(X, k, expect_ball=True)


def test_small_integers_many_ties_and_duplicates():
    X = np.random.default_rng(1).integers(0, 4, size=(400, 3)).astype(np.float64)  # 64 cells
    knn = assert_tree_exact(X, 5, expect_ball=True)
    assert (knn.distances[:, 0] == 0).mean() > 0.9  # nearly every point has copies


def test_duplicate_group_larger_than_the_query():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 2))
    X[:30] = X[0]  # 30 copies: more than k + margin
    assert_tree_exact(X, 3, expect_ball=True)


def test_n_equals_k_plus_one_and_d_one():
    X = np.array([[3.0], [1.0], [2.0], [2.0], [7.0]])
    assert_tree_exact(X, 4)
    assert_tree_exact(np.array([[0.0, 1.0], [1.0, 0.0]]), 1)


def test_far_from_the_origin_and_float32():
    rng = np.random.default_rng(3)
    X = 1e6 + rng.normal(size=(500, 3)) * 1e-3
    assert_tree_exact(X, 5)
    X32 = (rng.uniform(size=(600, 4)) * 255).round().astype(np.float32)  # pixel-like ties
    assert_tree_exact(X32, 4)
    assert_tree_exact(np.float32(3e4) + X32 / np.float32(7), 4)


def test_reference_mode_and_torch_input():
    rng = np.random.default_rng(4)
    R = rng.integers(0, 5, size=(300, 2)).astype(np.float64)
    Q = np.concatenate([R[:20], rng.uniform(0, 5, size=(30, 2))])
    assert_tree_exact(Q, 6, reference=R)
    X = rng.normal(size=(300, 3))
    a = kneighbors(torch.from_numpy(X), 4, algorithm="tree")
    b = kneighbors(X, 4, algorithm="brute")
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.distances, b.distances)


def test_extreme_scales_on_the_tree():
    X = np.random.default_rng(5).integers(0, 6, size=(300, 3)).astype(np.float64)
    base = kneighbors(X, 4, algorithm="tree")
    for e in (-1000, -200, 200, 1000):
        knn = kneighbors(np.ldexp(X, e), 4, algorithm="tree")
        np.testing.assert_array_equal(knn.indices, base.indices)
        np.testing.assert_array_equal(knn.distances, np.ldexp(base.distances, e))


def test_dispatch_both_ways(tmp_path):
    rng = np.random.default_rng(6)
    low, high = rng.normal(size=(3000, 3)), rng.normal(size=(3000, 64))
    cpu = torch.device("cpu")
    budget = 192 << 20

    def algo(X):
        s = PointSource(X, cpu)
        return choose_algorithm(s, s, 5, budget)

    assert algo(low) == "tree"
    assert algo(high) == "brute"
    # at 12 features the tree wins for TwoNN's k = 2 from 10⁶ points, not for k = 5 nor
    # at 300 000 points
    wide = PointSource(np.zeros((1_000_000, 12), dtype=np.float32), cpu)
    assert choose_algorithm(wide, wide, 2, 1 << 30) == "tree"
    assert choose_algorithm(wide, wide, 5, 1 << 30) == "brute"
    narrow = PointSource(np.zeros((300_000, 12), dtype=np.float32), cpu)
    assert choose_algorithm(narrow, narrow, 2, 1 << 30) == "brute"
    assert algo(rng.normal(size=(3000, 12))) == "brute"
    for X in (low[:800], high[:800]):
        a, b = kneighbors(X, 5), kneighbors(X, 5, algorithm="brute")
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.distances, b.distances)
    # a memmap larger than the budget is streamed by the float32 path, never copied
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float64,
                                   shape=(3000, 3))
    mm[:] = low
    mm.flush()
    s = PointSource(np.load(tmp_path / "x.npy", mmap_mode="r"), cpu)
    assert s.streamed and tree_possible(s, s, budget) and not tree_possible(s, s, 1 << 10)
    with pytest.raises(InputError, match="algorithm"):
        kneighbors(low, 2, algorithm="ball")


def test_label_sharpness_uses_the_tree_in_low_dimension(monkeypatch):
    """K_F per class pair through the dispatch (the tree here) equals the brute force."""
    import idscope
    import idscope.neighbors.engine as engine

    calls = []
    real = engine.tree_search
    monkeypatch.setattr(engine, "tree_search", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(7)
    cells = rng.choice(30 * 30, 600, replace=False)  # distinct points, many tied distances
    X = np.stack(divmod(cells, 30), axis=1).astype(np.float64)
    y = rng.integers(0, 3, size=600)
    res = idscope.label_sharpness(X, y, per_class_pair=True)
    assert calls
    for a in range(3):
        for b in range(a + 1, 3):
            D = cdist(X[y == a], X[y == b])
            assert res.pair_matrix[a, b] == pytest.approx(1.0 / D.min(), rel=1e-12)
            i, j = res.pair_witness[a, b]
            assert np.linalg.norm(X[i] - X[j]) == D.min()
