"""d_data: MLE (k = 20, both normalisations) and TwoNN from one neighbour search."""

import numpy as np
import pytest
from scipy.special import gammainc

import idscope
from idscope import InputError, data_dimension


def skdim_fixture():
    """scikit-dimension's test fixture (docs/science.md §5): 30 points in a 5-ball in R^10."""
    X = np.zeros((30, 10))
    Z = np.random.RandomState(0).normal(size=(30, 5))
    r2 = (Z**2).sum(1)
    X[:, :5] = Z * (gammainc(5 / 2, r2 / 2) ** (1 / 5) / np.sqrt(r2))[:, None]
    return X


def test_reference_values_of_scikit_dimension_fixture():
    res = data_dimension(skdim_fixture(), k=20)
    np.testing.assert_allclose(res.mle_k1.dimension, 3.3411618305, rtol=1e-9)
    np.testing.assert_allclose(res.mle_pope.dimension, 3.1653112079, rtol=1e-9)
    np.testing.assert_allclose(res.twonn.dimension, 4.52231, atol=5e-6)
    assert res.k == 20 and res.n_points == 30 and res.n_duplicates == 0


def test_matches_the_estimators_and_pope_ratio(rng):
    X = rng.normal(size=(400, 6))
    res = data_dimension(X)
    np.testing.assert_allclose(res.mle_k1.dimension, idscope.mle(X, k=20).dimension,
                               rtol=1e-12)
    np.testing.assert_allclose(res.mle_pope.dimension,
                               idscope.mle(X, k=20, normalization="k-2").dimension, rtol=1e-12)
    np.testing.assert_allclose(res.mle_pope.dimension / res.mle_k1.dimension, 18 / 19,
                               rtol=1e-12)
    np.testing.assert_allclose(res.twonn.dimension, idscope.twonn(X).dimension, rtol=1e-12)
    assert res.mle_pope.params["normalization"] == "k-2"
    # the one search serves the default graph intervals too: the same intervals as the
    # estimators' own searches (MLE reads 4k = 80 neighbours, TwoNN 6)
    for ours, ref in ((res.mle_k1, idscope.mle(X, k=20)), (res.twonn, idscope.twonn(X))):
        np.testing.assert_allclose([ours.ci_low, ours.ci_high], [ref.ci_low, ref.ci_high],
                                   rtol=1e-12)
    d = res.to_dict()
    assert d["mle_k1"]["dimension"] == res.mle_k1.dimension and d["k"] == 20


def test_duplicates_removed_and_counted(rng):
    X = rng.normal(size=(200, 3))
    Xd = np.concatenate([X, X[:7], X[:2]])
    res = data_dimension(Xd)
    ref = idscope.mle(Xd, k=20)
    assert res.n_duplicates == 9 == ref.n_duplicates and res.n_points == 200
    np.testing.assert_allclose(res.mle_k1.dimension, ref.dimension, rtol=1e-12)
    np.testing.assert_allclose([res.mle_k1.ci_low, res.mle_k1.ci_high],
                               [ref.ci_low, ref.ci_high], rtol=1e-12)
    np.testing.assert_allclose(res.twonn.dimension, idscope.twonn(Xd).dimension, rtol=1e-12)
    assert res.mle_k1.n_duplicates == res.twonn.n_duplicates == 9


def test_images_are_flattened_and_bad_input(rng):
    X = rng.normal(size=(120, 4, 4))
    np.testing.assert_allclose(data_dimension(X).mle_k1.dimension,
                               data_dimension(X.reshape(120, 16)).mle_k1.dimension, rtol=1e-12)
    with pytest.raises(InputError, match="k=2"):
        data_dimension(X, k=2)
    with pytest.raises(InputError, match="duplicates"):
        data_dimension(X, duplicates="keep")
    with pytest.raises(InputError, match="distinct points"):
        data_dimension(np.repeat(X[:5], 6, axis=0), k=20)
