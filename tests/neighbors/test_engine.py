"""The exact kNN engine against float64 brute force (scikit-learn and scipy).

Reference: squared distances from float64 difference vectors (``scipy.spatial.distance.cdist``,
exact on integer data), ordered by (distance, index) with a stable sort; scikit-learn's brute
``NearestNeighbors`` in float64 as a second, independent reference for the distances.
Distances are compared with rtol 1e-9, indices exactly.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from sklearn.datasets import load_digits
from sklearn.neighbors import NearestNeighbors

import idscope
from idscope import InputError, KNeighbors, kneighbors
from idscope.neighbors import duplicate_groups, first_occurrence_mask


# --------------------------------------------------------------------------------------
# references and data
# --------------------------------------------------------------------------------------
def brute(X, k, reference=None):
    """Exact (distances, indices): float64 differences, ties broken by the smaller index."""
    Q = np.asarray(X, dtype=np.float64)
    R = Q if reference is None else np.asarray(reference, dtype=np.float64)
    d2 = cdist(Q, R, "sqeuclidean")
    if reference is None:
        np.fill_diagonal(d2, np.inf)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]  # stable: equal distances by index
    return np.sqrt(np.take_along_axis(d2, idx, axis=1)), idx


def sklearn_squared_distances(X, k, reference=None):
    """scikit-learn's float64 brute force, squared distances and their absolute accuracy.

    Its Gram trick, even in float64, loses ~1e-8 (relative) on the uncentred data below, so
    both sets are centred first (in float64; a translation leaves distances unchanged). It
    still errs by ~1e-16·|x|² in d², so exact zeros (duplicates) read ~1e-8 after the square
    root: compare squared distances with that absolute tolerance.
    """
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute")
    Q = np.asarray(X, np.float64)
    R = Q if reference is None else np.asarray(reference, np.float64)
    mean = R.mean(axis=0)
    Q, R = Q - mean, R - mean
    d = nn.fit(R).kneighbors() if reference is None else nn.fit(R).kneighbors(Q)
    scale = max((Q * Q).sum(1).max(), (R * R).sum(1).max())
    return d[0] ** 2, 1e-12 * scale


def assert_exact(knn, X, k, reference=None, check_sklearn=True):
    ref_d, ref_i = brute(X, k, reference)
    assert knn.distances.shape == knn.indices.shape == (len(X), k)
    assert knn.distances.dtype == np.float64 and knn.indices.dtype == np.int64
    np.testing.assert_allclose(knn.distances, ref_d, rtol=1e-9, atol=0)
    np.testing.assert_array_equal(knn.indices, ref_i)
    if check_sklearn:
        sk_d2, atol = sklearn_squared_distances(X, k, reference)
        np.testing.assert_allclose(knn.distances**2, sk_d2, rtol=1e-9, atol=atol)


def relu_like(n=1000, d=128, seed=0):
    """Uncentred post-ReLU-like activations, float32: a 3-D latent manifold, offset by ~300
    and spread by ~1, where the float32 Gram trick fails (docs/science.md §1)."""
    rng = np.random.default_rng(seed)
    lat = rng.normal(size=(n, 3))
    W = rng.normal(size=(3, d))
    return (np.maximum(lat @ W * 0.01 + 3 + rng.normal(size=d) * 0.3, 0) * 100).astype(
        np.float32)


def pixels():
    """scikit-learn's digits as raw [0, 255] integer pixels (many exact distance ties)."""
    return np.round(load_digits().data * 255 / 16).astype(np.uint8)


def coarse_pixels(n=600, d=20, seed=1):
    """Integer pixels on three levels: very many ties, and duplicate rows."""
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([0, 128, 255], dtype=np.uint8), size=(n, d))


def with_duplicates(seed=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=5.0, size=(400, 16)).astype(np.float32)
    # 30 rows copied 1-3 times each, scattered
    src = rng.choice(400, 30, replace=False)
    reps = np.repeat(src, rng.integers(1, 4, 30))
    Y = np.concatenate([X, X[reps]])
    return Y[rng.permutation(len(Y))]


# --------------------------------------------------------------------------------------
# equality with brute force
# --------------------------------------------------------------------------------------
def test_relu_like_data_is_hard_for_naive_float32():
    """Guard: the test data really break the uncentred float32 Gram trick."""
    X = relu_like()
    t = torch.from_numpy(X)
    sq = (t * t).sum(1)
    g = sq[:, None] + sq[None, :] - 2 * t @ t.T
    g.fill_diagonal_(float("inf"))
    naive = torch.topk(g, 1, largest=False).indices[:, 0].numpy()
    assert np.mean(naive != brute(X, 1)[1][:, 0]) > 0.1


@pytest.mark.parametrize("k", [1, 2, 20])
def test_relu_like_float32(k):
    X = relu_like()
    knn = kneighbors(X, k)
    assert_exact(knn, X, k)


def test_relu_like_float64_same_as_float32_values():
    X = relu_like(n=500)
    knn64 = kneighbors(X.astype(np.float64), 5)
    knn32 = kneighbors(X, 5)
    assert_exact(knn64, X, 5)
    np.testing.assert_array_equal(knn64.indices, knn32.indices)
    np.testing.assert_allclose(knn64.distances, knn32.distances, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_raw_pixels_with_ties_broken_by_index(dtype):
    X = pixels().astype(dtype)
    k = 10
    knn = kneighbors(X, k)
    assert_exact(knn, X, k)
    # explicit: inside every run of equal distances the indices increase
    tie = knn.distances[:, 1:] == knn.distances[:, :-1]
    assert tie.sum() > 10  # the data do have ties
    assert (knn.indices[:, 1:][tie] > knn.indices[:, :-1][tie]).all()


def test_coarse_pixels_many_ties():
    X = coarse_pixels()
    knn = kneighbors(X, 8)
    assert_exact(knn, X, 8)
    tie = knn.distances[:, 1:] == knn.distances[:, :-1]
    assert tie.sum() > 100
    assert (knn.indices[:, 1:][tie] > knn.indices[:, :-1][tie]).all()


def test_duplicates_exact_and_reported():
    X = with_duplicates()
    k = 6
    knn = kneighbors(X, k)
    assert_exact(knn, X, k)
    groups = duplicate_groups(knn)
    # reference groups from np.unique
    _, inverse, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    ref = sorted(tuple(np.flatnonzero(inverse.ravel() == g)) for g in np.flatnonzero(counts > 1))
    assert sorted(tuple(g) for g in groups) == ref
    keep = first_occurrence_mask(len(X), groups)
    assert keep.sum() == len(counts)
    assert len(np.unique(X[keep], axis=0)) == keep.sum()


def test_group_larger_than_k_is_found():
    rng = np.random.default_rng(3)
    X = np.concatenate([np.ones((12, 4)), rng.normal(size=(30, 4))])[rng.permutation(42)]
    knn = kneighbors(X, 2)
    assert_exact(knn, X, 2)
    (g,) = duplicate_groups(knn)
    np.testing.assert_array_equal(g, np.flatnonzero((X == 1).all(axis=1)))


@pytest.mark.parametrize("tile", [64, 100, 333])
def test_n_not_a_multiple_of_the_tile(tile):
    X = relu_like(n=777, d=40, seed=4)
    assert 777 % tile
    assert_exact(kneighbors(X, 7, tile_size=tile), X, 7)


def test_tiny_tiles_with_ties():
    X = coarse_pixels(n=203, d=12, seed=5)
    assert_exact(kneighbors(X, 5, tile_size=7), X, 5)


@pytest.mark.parametrize("budget, row_wise", [(None, True), (1 << 16, False)])
def test_narrow_rows_row_wise_or_in_the_symmetric_order(monkeypatch, budget, row_wise):
    # Rows under 256 features whose float32 copy fits in half the budget are searched
    # row-wise on threads (every tile in both orders); otherwise each pair of tiles once, its
    # rows and columns selected. Both exact, with ties; torch's thread count is restored.
    from idscope.neighbors import engine

    calls = []
    real = engine._search_row_wise
    monkeypatch.setattr(engine, "_search_row_wise", lambda *a: calls.append(1) or real(*a))
    threads = torch.get_num_threads()
    options = {} if budget is None else {"memory_budget": budget}
    X = pixels()
    assert_exact(kneighbors(X, 7, algorithm="brute", **options), X, 7)
    Q, R = relu_like(n=300, d=90, seed=8), relu_like(n=700, d=90, seed=9)
    assert_exact(kneighbors(Q, 5, reference=R, algorithm="brute", **options), Q, 5,
                 reference=R)
    # below 64 features: short, wide tiles (shrunk here to make several of each)
    monkeypatch.setattr(engine, "_SHORT_ROWS", 16)
    monkeypatch.setattr(engine, "_WIDE_TILE", 100)
    P = coarse_pixels()
    assert_exact(kneighbors(P, 6, algorithm="brute", **options), P, 6)
    assert len(calls) == (3 if row_wise else 0)
    assert torch.get_num_threads() == threads


def test_rows_of_8192_features_or_more_far_from_the_origin():
    # rows this long are verified one run of pairs sharing a query row at a time, in the
    # data's power-of-two frame (|x| ~ 1e6 gives a frame exponent of ~20)
    rng = np.random.default_rng(6)
    X = (rng.standard_normal((120, 8200)) * 1e6 + 3e6).astype(np.float32)
    assert_exact(kneighbors(X, 3), X, 3, check_sklearn=False)


def test_torch_tensor_input():
    X = relu_like(n=600)
    knn = kneighbors(torch.from_numpy(X), 9)
    assert_exact(knn, X, 9)
    knn64 = kneighbors(torch.from_numpy(pixels()[:500].astype(np.float64)), 4)
    assert_exact(knn64, pixels()[:500], 4)


def _check_memmap(folder):
    """Memmap input (np.save, then np.load(mmap_mode="r")): run in a child process by the
    tests below, so that a crash in native code fails them instead of aborting the suite."""
    from pathlib import Path

    folder = Path(folder)
    X = relu_like(n=700, d=64, seed=6)
    np.save(folder / "x.npy", X)
    mm = np.load(folder / "x.npy", mmap_mode="r")
    assert isinstance(mm, np.memmap)
    assert_exact(kneighbors(mm, 5), X, 5)
    # a small memory budget forces the row-streaming search over tiles
    assert_exact(kneighbors(mm, 5, memory_budget=1 << 20), X, 5)
    P = pixels()[:900].astype(np.float32)
    np.save(folder / "p.npy", P)
    assert_exact(kneighbors(np.load(folder / "p.npy", mmap_mode="r"), 6), P, 6)
    assert_exact(kneighbors(np.load(folder / "p.npy", mmap_mode="r"), 6,
                            memory_budget=1 << 20), P, 6)


def run_isolated(function, *args):
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parents[2])!r}); "
            f"import tests.neighbors.test_engine as t; t.{function}(*{args!r})")
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code],
                          capture_output=True, text=True, timeout=300)
    err = "\n".join(ln for ln in proc.stderr.splitlines()
                    if not ln.startswith("Extension modules"))
    assert proc.returncode == 0, (f"{function} failed in a child process (exit code "
                                  f"{proc.returncode}):\n{err[-3000:]}")


def test_memmap_input(tmp_path):
    run_isolated("_check_memmap", str(tmp_path))


def test_feature_chunked_path():
    """D > 4·N: the Gram matrix is accumulated over chunks of features."""
    rng = np.random.default_rng(7)
    n, d = 150, 1000
    lat = rng.normal(size=(n, 4))
    X = (np.maximum(lat @ rng.normal(size=(4, d)) * 0.02 + 2, 0) * 100).astype(np.float32)
    X[10] = X[3]  # a duplicate pair
    assert_exact(kneighbors(X, 5), X, 5)
    # several feature chunks (tiny budget)
    assert_exact(kneighbors(X, 5, memory_budget=1 << 20), X, 5)
    P = coarse_pixels(n=120, d=600, seed=8)
    assert_exact(kneighbors(P, 4), P, 4)


def test_forced_exhaustive_fallback():
    """With no extra candidates and ties at the k-th neighbour, candidate lists cannot be
    certified and the float64 exhaustive search must take over; the result stays exact."""
    X = coarse_pixels(n=300, d=6, seed=9)
    knn = kneighbors(X, 3, extra=0)
    assert knn.n_exhaustive > 0
    assert_exact(knn, X, 3)
    P = pixels()[:300]
    knn = kneighbors(P, 4, extra=0, tile_size=128)
    assert knn.n_exhaustive > 0
    assert_exact(knn, P, 4)


def test_reference_mode():
    rng = np.random.default_rng(10)
    R = relu_like(n=700, d=32, seed=11)
    Q = np.concatenate([relu_like(n=250, d=32, seed=11)[:200] + np.float32(0.5),
                        R[rng.choice(700, 50, replace=False)]])  # 50 exact copies: distance 0
    knn = kneighbors(Q, 6, reference=R)
    assert_exact(knn, Q, 6, reference=R)
    assert (knn.distances[200:, 0] == 0).all()
    knn = kneighbors(torch.from_numpy(Q), 6, reference=torch.from_numpy(R), tile_size=97)
    assert_exact(knn, Q, 6, reference=R)


def test_reference_mode_pixels_with_ties():
    P = pixels()
    assert_exact(kneighbors(P[:300], 5, reference=P[300:]), P[:300], 5, reference=P[300:])


def test_all_neighbours():
    X = coarse_pixels(n=60, d=5, seed=12)
    assert_exact(kneighbors(X, 59), X, 59)


# --------------------------------------------------------------------------------------
# the KNeighbors object
# --------------------------------------------------------------------------------------
def test_kneighbors_object():
    X = relu_like(n=200, d=16)
    knn = kneighbors(X, 5)
    d, i = knn
    assert d is knn.distances and i is knn.indices
    assert (knn.n_points, knn.k) == (200, 5)
    sub = knn.subset_k(2)
    np.testing.assert_array_equal(sub.indices, knn.indices[:, :2])
    with pytest.raises(InputError, match="k=6 exceeds"):
        knn.subset_k(6)
    assert isinstance(idscope.kneighbors(X, 1), KNeighbors)


def test_deterministic():
    X = pixels()[:500]
    a, b = kneighbors(X, 7), kneighbors(X, 7)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.distances, b.distances)


def test_input_not_modified():
    X = relu_like(n=300)
    X0 = X.copy()
    kneighbors(X, 3)
    kneighbors(torch.from_numpy(X), 3)
    np.testing.assert_array_equal(X, X0)
