"""The engine is exact at every finite scale (issues #11.5 and #12.4).

Multiplying by a power of two is exact, so ``kneighbors(X·2^k)`` must return the indices of
``kneighbors(X)`` and exactly ``2^k`` times its distances, from 1e-300 to 1e300 and for
subnormal data; at decimal scales (rounded data) the result must equal a float64 brute force
computed in a safe frame. Identical points stay identical; NaN and inf are one clear error.
"""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import idscope
from idscope import InputError, kneighbors


def brute(X, k, reference=None):
    """(distances, indices) by float64 brute force, ties broken by index. The data are first
    rescaled by the power of two of their largest |x| (exact), so no square overflows."""
    R = X if reference is None else reference
    e = np.frexp(max(np.abs(X).max(), np.abs(R).max()))[1]
    Q64, R64 = np.ldexp(np.asarray(X, np.float64), -e), np.ldexp(np.asarray(R, np.float64), -e)
    d2 = cdist(Q64, R64, "sqeuclidean")
    if reference is None:
        np.fill_diagonal(d2, np.inf)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return np.ldexp(np.sqrt(np.take_along_axis(d2, idx, axis=1)), e), idx


def gaussian(n=500, d=8, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(dtype)


def test_issue_case_gaussian_times_3e18():
    """The reported case: 3 of 500 rows had wrong neighbours, silently."""
    X = gaussian()
    Y = X * 3e18
    knn = kneighbors(Y, 20)
    ref_d, ref_i = brute(Y, 20)
    np.testing.assert_array_equal(knn.indices, ref_i)
    np.testing.assert_allclose(knn.distances, ref_d, rtol=1e-12)
    np.testing.assert_array_equal(knn.indices, kneighbors(X, 20).indices)


@pytest.mark.parametrize("k2", [-1060, -1000, -600, -300, -100, -45, 0, 45, 100, 300, 600, 1000])
def test_power_of_two_scaling_is_exact(k2):
    """Indices identical and distances exactly 2^k2 times those of X (subnormal data at
    k2 = -1060, where the result itself is subnormal: within one rounding there)."""
    X = gaussian(n=400, d=6, seed=1)
    base = kneighbors(X, 10)
    Y = np.ldexp(X, k2)
    knn = kneighbors(Y, 10)
    if k2 > -1000:
        np.testing.assert_array_equal(knn.indices, base.indices)
        np.testing.assert_array_equal(knn.distances, np.ldexp(base.distances, k2))
    else:  # subnormal inputs hold ~14 bits: compare with the brute force on those inputs
        ref_d, ref_i = brute(Y, 10)
        np.testing.assert_array_equal(knn.indices, ref_i)
        np.testing.assert_allclose(knn.distances, ref_d, rtol=1e-12, atol=2.0**-1074)


@pytest.mark.parametrize("k2", [-140, -60, 0, 60, 120])
def test_power_of_two_scaling_float32(k2):
    X = np.ldexp(gaussian(n=300, d=5, seed=2, dtype=np.float32), k2)
    knn = kneighbors(X, 6)
    ref_d, ref_i = brute(X, 6)
    np.testing.assert_array_equal(knn.indices, ref_i)
    np.testing.assert_allclose(knn.distances, ref_d, rtol=1e-12, atol=2.0**-1074)


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e-100, 1e100, 1e160, 1e300])
def test_decimal_scales_equal_brute_force(scale):
    X = gaussian(n=300, d=7, seed=3) * scale
    knn = kneighbors(X, 8)
    ref_d, ref_i = brute(X, 8)
    np.testing.assert_array_equal(knn.indices, ref_i)
    np.testing.assert_allclose(knn.distances, ref_d, rtol=1e-12)


@pytest.mark.parametrize("scale", [2.0**-900, 2.0**900])
def test_every_path_scales_exactly(scale, tmp_path):
    """Tile search with the exhaustive fallback, feature-chunked Gram (also from a memmap),
    torch tensors and reference mode, all at extreme scales."""
    e = int(np.log2(scale))
    # ties at the k-th neighbour with extra=0: the float64 exhaustive search takes over
    P = np.random.default_rng(4).integers(0, 3, size=(300, 6)).astype(np.float64)
    base = kneighbors(P, 3, extra=0)
    knn = kneighbors(P * scale, 3, extra=0)
    assert knn.n_exhaustive > 0
    np.testing.assert_array_equal(knn.indices, base.indices)
    np.testing.assert_array_equal(knn.distances, np.ldexp(base.distances, e))
    # feature-chunked path (D > 4 N), several chunks, in memory and from a memmap
    W = gaussian(n=60, d=400, seed=5, dtype=np.float32)
    base = kneighbors(W, 4, memory_budget=1 << 20)
    Ws = np.ldexp(W.astype(np.float64), e)
    mm = np.lib.format.open_memmap(tmp_path / "w.npy", mode="w+", dtype=np.float64,
                                   shape=Ws.shape)
    mm[:] = Ws
    mm.flush()
    for data in (Ws, np.load(tmp_path / "w.npy", mmap_mode="r"), torch.from_numpy(Ws)):
        knn = kneighbors(data, 4, memory_budget=1 << 20)
        np.testing.assert_array_equal(knn.indices, base.indices)
        np.testing.assert_array_equal(knn.distances, np.ldexp(base.distances, e))
    # reference mode: the frame covers both sets
    Q, R = gaussian(n=50, d=3, seed=6), gaussian(n=200, d=3, seed=7)
    base = kneighbors(Q, 5, reference=R)
    knn = kneighbors(Q * scale, 5, reference=R * scale)
    np.testing.assert_array_equal(knn.indices, base.indices)
    np.testing.assert_array_equal(knn.distances, np.ldexp(base.distances, e))


def test_tiny_distances_far_from_the_origin():
    """A cloud of spread 1e-200 around 1e-100: no false duplicates, exact neighbours."""
    X = 1e-100 + gaussian(n=200, d=3, seed=8) * 1e-110
    knn = kneighbors(X, 5)
    ref_d, ref_i = brute(X, 5)
    assert (knn.distances > 0).all()
    np.testing.assert_array_equal(knn.indices, ref_i)
    np.testing.assert_allclose(knn.distances, ref_d, rtol=1e-9)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_identical_points_stay_identical(scale):
    X = np.full((20, 4), 3.0) * scale
    knn = kneighbors(X, 3)
    np.testing.assert_array_equal(knn.distances, 0.0)
    with pytest.raises(InputError, match="identical"):
        idscope.twonn(X)


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e160, 1e300])
def test_estimators_unchanged_by_scale(scale):
    """Issue #11.5: twonn(X·1e±160) equals twonn(X); no error at 1e-300."""
    X = gaussian(n=500, d=8, seed=9)
    for est in (idscope.twonn, idscope.mle):
        np.testing.assert_allclose(est(X * scale).dimension, est(X).dimension, rtol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_is_one_clear_error(bad):
    X = gaussian(n=50, d=3, seed=10)
    X[7, 1] = bad
    with pytest.raises(InputError, match="NaN or inf"):
        kneighbors(X, 2)
    with pytest.raises(InputError, match="NaN or inf"):
        kneighbors(X, 2, validate=False)
    with pytest.raises(InputError, match="NaN or inf"):
        kneighbors(X[:10], 2, reference=X, validate=False)


def test_distances_beyond_float64_are_an_error():
    X = np.array([[1.5e308], [-1.5e308], [1.4e308]])
    with pytest.raises(InputError, match="float64 range"):
        kneighbors(X, 2)
