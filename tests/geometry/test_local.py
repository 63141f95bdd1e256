"""Local (per-point) ID: known dimension, plain numpy references, duplicates, smoothing."""

import numpy as np
import pytest

import idscope
from idscope.geometry import LocalID, local_id


def sorted_distances(X):
    d = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(len(X)), d.shape), d), axis=1)
    return np.take_along_axis(d, order, axis=1), order


@pytest.mark.parametrize("method", ["mle", "twonn"])
def test_local_id_median_on_uniform_5d(method):
    X = np.random.default_rng(0).uniform(size=(3000, 5))
    v = local_id(X, 20, method=method)
    assert v.shape == (3000,) and np.isfinite(v).all()
    assert abs(np.median(v) - 5) < 0.75


def test_local_mle_equals_the_per_point_formula(rng):
    X = rng.normal(size=(200, 3))
    dist, _ = sorted_distances(X)
    k = 10
    s = np.array([np.sum(np.log(dist[i, k - 1] / dist[i, : k - 1])) for i in range(200)])
    np.testing.assert_allclose(local_id(X, k), (k - 1) / s, rtol=1e-10)
    np.testing.assert_allclose(local_id(X, k, normalization="k-2"), (k - 2) / s, rtol=1e-10)


def test_local_twonn_and_smoothing_equal_their_formulas(rng):
    X = rng.normal(size=(150, 4))
    dist, idx = sorted_distances(X)
    k = 8
    log_mu = np.log(dist[:, 1] / dist[:, 0])
    ref = np.array([k / (log_mu[i] + log_mu[idx[i, :k]].sum()) for i in range(150)])
    got = local_id(X, k, method="twonn")
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    smoothed = np.array([(ref[i] + ref[idx[i, :5]].sum()) / 6 for i in range(150)])
    np.testing.assert_allclose(local_id(X, k, method="twonn", smooth=5), smoothed, rtol=1e-10)


def test_local_id_separates_a_line_from_a_plane(rng):
    line = np.c_[rng.uniform(size=400), np.zeros((400, 2))]
    plane = np.c_[rng.uniform(size=(400, 2)) + 5.0, np.zeros(400)]
    v = local_id(np.vstack([line, plane]), 15, smooth=10)
    assert abs(np.median(v[:400]) - 1) < 0.3 and abs(np.median(v[400:]) - 2) < 0.4


def test_duplicates_get_the_value_of_their_first_copy(rng):
    X = rng.normal(size=(120, 3))
    Xd = np.vstack([X, X[[3, 3, 50]]])
    v = local_id(Xd, 10)
    assert v.shape == (123,) and np.isfinite(v).all()
    np.testing.assert_allclose(v[:120], local_id(X, 10), rtol=1e-12)
    np.testing.assert_array_equal(v[120:], v[[3, 3, 50]])


def test_class_wrapper_and_precomputed_neighbours(rng):
    X = rng.normal(size=(100, 4))
    est = LocalID(k=12, method="twonn").fit(X)
    np.testing.assert_array_equal(est.local_id_, local_id(X, 12, method="twonn"))
    assert est.dimension_ == np.median(est.local_id_)
    np.testing.assert_array_equal(local_id(idscope.kneighbors(X, 15), 12), local_id(X, 12))


def test_local_id_bad_input(rng):
    with pytest.raises(idscope.InputError, match="method='pca' is not one of"):
        local_id(rng.normal(size=(20, 2)), 5, method="pca")
    with pytest.raises(idscope.InputError, match="needs at least 21 points"):
        local_id(rng.normal(size=(20, 2)), 20)
    with pytest.raises(idscope.InputError, match="k=2 is out of range"):
        local_id(rng.normal(size=(20, 2)), 2)


def test_local_id_against_a_reference_equals_the_formula(rng):
    R = rng.normal(size=(200, 3))
    Q = rng.normal(size=(30, 3)) * 1.5
    d = np.sqrt(((Q[:, None, :] - R[None, :, :]) ** 2).sum(-1))
    d.sort(axis=1)
    k = 12
    s = (k - 1) * np.log(d[:, k - 1]) - np.log(d[:, : k - 1]).sum(axis=1)
    np.testing.assert_allclose(local_id(Q, k, reference=R), (k - 1) / s, rtol=1e-10)
    with pytest.raises(idscope.InputError, match="2 row\\(s\\) of X coincide"):
        local_id(np.vstack([Q, R[:2]]), k, reference=R)


def test_paired_reference_excludes_each_rows_own_source(rng):
    R = rng.normal(size=(150, 4))
    Q = R + 1e-3 * rng.normal(size=R.shape)  # each query sits next to its own source
    k = 10
    got = local_id(Q, k, reference=R, paired=True)
    d = np.sqrt(((Q[:, None, :] - R[None, :, :]) ** 2).sum(-1))
    d[np.arange(150), np.arange(150)] = np.inf  # the source is not a neighbour
    d.sort(axis=1)
    s = (k - 1) * np.log(d[:, k - 1]) - np.log(d[:, : k - 1]).sum(axis=1)
    np.testing.assert_allclose(got, (k - 1) / s, rtol=1e-10)
    # even a query identical to its own source is fine when paired
    np.testing.assert_allclose(local_id(R, k, reference=R, paired=True), local_id(R, k),
                               rtol=1e-12)
