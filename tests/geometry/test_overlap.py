"""Neighbourhood overlap against a brute-force count on plain numpy distances."""

import numpy as np
import pytest

import idscope
from idscope.geometry import label_overlap_profile, neighborhood_overlap, overlap_matrix


def brute_neighbours(X, k):
    """k nearest by float64 brute force, self excluded, ties by index."""
    d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    return np.lexsort((np.broadcast_to(np.arange(len(X)), d2.shape), d2), axis=1)[:, :k]


def brute_overlap(A, B, k):
    na, nb = brute_neighbours(A, k), brute_neighbours(B, k)
    return np.mean([len(set(na[i]) & set(nb[i])) / k for i in range(len(A))])


def brute_label_overlap(A, y, k):
    na = brute_neighbours(A, k)
    return np.mean([np.sum(y[na[i]] == y[i]) / k for i in range(len(A))])


@pytest.mark.parametrize("k", [1, 5, 17])
def test_overlap_equals_brute_force_count(rng, k):
    A = rng.normal(size=(150, 6))
    B = np.tanh(A @ rng.normal(size=(6, 9))) + 0.3 * rng.normal(size=(150, 9))
    got = neighborhood_overlap(A, B, k)
    assert got == pytest.approx(brute_overlap(A, B, k), abs=1e-12)
    per = neighborhood_overlap(A, B, k, per_sample=True)
    assert per.shape == (150,) and per.mean() == pytest.approx(got, abs=1e-12)


def test_overlap_with_ties_and_duplicates_is_the_index_tie_break_count(rng):
    A = rng.integers(0, 3, size=(80, 3)).astype(float)  # many ties and duplicate rows
    B = A[:, ::-1] * 2.0
    assert neighborhood_overlap(A, B, 6) == pytest.approx(brute_overlap(A, B, 6), abs=1e-12)


def test_overlap_of_a_representation_with_itself_and_its_rotation_is_one(rng):
    A = rng.normal(size=(120, 5))
    Q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    assert neighborhood_overlap(A, A, 10) == 1.0
    assert neighborhood_overlap(A, 3.0 * A @ Q + 7.0, 10) == pytest.approx(1.0)


def test_label_overlap_equals_brute_force_count(rng):
    A = rng.normal(size=(140, 4))
    y = (A[:, 0] > 0).astype(int) + (A[:, 1] > 0.5)
    for k in (3, 10):
        assert neighborhood_overlap(A, labels=y, k=k) == pytest.approx(
            brute_label_overlap(A, y, k), abs=1e-12)


def test_precomputed_neighbours_give_the_same_overlap(rng):
    A, B = rng.normal(size=(100, 4)), rng.normal(size=(100, 7))
    ka, kb = idscope.kneighbors(A, 12), idscope.kneighbors(B, 12)
    assert neighborhood_overlap(ka, kb, 8) == neighborhood_overlap(A, B, 8)


def test_overlap_matrices_within_and_across_models(rng):
    X = rng.normal(size=(90, 5))
    layers = {"in": X, "h1": np.maximum(X @ rng.normal(size=(5, 8)), 0), "h2": X[:, :2]}
    other = {"a": X @ rng.normal(size=(5, 5)), "b": rng.normal(size=(90, 3))}
    m = overlap_matrix(layers, k=7)
    assert m.rows == m.cols == ("in", "h1", "h2")
    np.testing.assert_allclose(np.diag(m.values), 1.0)
    np.testing.assert_allclose(m.values, m.values.T)
    for i, a in enumerate(layers):
        for j, b in enumerate(layers):
            assert m.values[i, j] == pytest.approx(brute_overlap(layers[a], layers[b], 7))
    x = overlap_matrix(layers, other, k=7, labels=("net", "other"))
    assert x.values.shape == (3, 2) and (x.row_model, x.col_model) == ("net", "other")
    assert x.value("h2", "b") == pytest.approx(brute_overlap(layers["h2"], other["b"], 7))
    assert len(x.records()) == 6


def test_label_overlap_profile(rng):
    X = rng.normal(size=(90, 5))
    y = (X[:, 0] > 0).astype(int)
    prof = label_overlap_profile({"in": X, "first": X[:, :1]}, y, k=5)
    assert list(prof) == ["in", "first"]
    assert prof["first"] == pytest.approx(brute_label_overlap(X[:, :1], y, 5))
    assert prof["first"] > prof["in"]  # the label is a function of the first coordinate


def test_overlap_bad_input(rng):
    A = rng.normal(size=(30, 3))
    with pytest.raises(idscope.InputError, match="either a second representation B or"):
        neighborhood_overlap(A, k=3)
    with pytest.raises(idscope.InputError, match="30 samples and B 20"):
        neighborhood_overlap(A, A[:20], 3)
    with pytest.raises(idscope.InputError, match="k=30 needs at least 31"):
        neighborhood_overlap(A, A, 30)
    with pytest.raises(idscope.InputError, match="different numbers of samples"):
        overlap_matrix({"a": A, "b": A[:10]}, k=3)
