"""CKA against plain numpy formulas, its invariances, and the streamed paths."""

import numpy as np
import pytest

import idscope
from idscope.geometry import cka, cka_matrix


def linear_cka_reference(A, B):
    A, B = A - A.mean(0), B - B.mean(0)
    return (np.linalg.norm(B.T @ A) ** 2
            / (np.linalg.norm(A.T @ A) * np.linalg.norm(B.T @ B)))


def hsic1(K, L):
    """Song et al. (2012), eq. 5, written out on the n × n kernels."""
    n = K.shape[0]
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    one = np.ones(n)
    return (np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * one @ K @ L @ one) / (n * (n - 3))


def debiased_reference(A, B):
    A, B = A - A.mean(0), B - B.mean(0)
    K, L = A @ A.T, B @ B.T
    return hsic1(K, L) / np.sqrt(hsic1(K, K) * hsic1(L, L))


@pytest.fixture
def pair(rng):
    A = np.maximum(rng.normal(size=(300, 40)) + 0.5, 0)  # uncentred, ReLU-like
    B = np.tanh(A @ rng.normal(size=(40, 25))) + 0.2 * rng.normal(size=(300, 25)) + 3.0
    return A, B


@pytest.mark.parametrize("method", ["auto", "features", "samples"])
def test_linear_cka_equals_formula(pair, method):
    A, B = pair
    ref = linear_cka_reference(A, B)
    assert abs(cka(A, B, method=method) - ref) < 1e-6
    # a tiny budget forces many small blocks on either path
    assert abs(cka(A, B, method=method, memory_budget=1 << 16) - ref) < 1e-6


@pytest.mark.parametrize("method", ["features", "samples"])
def test_debiased_cka_equals_its_formula(pair, method):
    A, B = pair
    assert abs(cka(A, B, debiased=True, method=method) - debiased_reference(A, B)) < 1e-6


def test_cka_invariances(pair, rng):
    A, B = pair
    base = cka(A, B)
    Q, _ = np.linalg.qr(rng.normal(size=(40, 40)))
    for debiased in (False, True):
        ref = cka(A, B, debiased=debiased)
        assert cka(A @ Q, B, debiased=debiased) == pytest.approx(ref, abs=1e-9)
        assert cka(7.5 * A, 0.01 * B, debiased=debiased) == pytest.approx(ref, abs=1e-9)
    # not invariant to a general (badly conditioned) invertible linear map
    M = rng.normal(size=(40, 40)) @ np.diag(np.logspace(0, 3, 40))
    assert abs(cka(A @ M, B) - base) > 0.05
    assert cka(A, A) == pytest.approx(1.0)


def test_cka_of_memmaps_and_tensors(pair, tmp_path):
    import torch

    A, B = pair
    path = tmp_path / "a.npy"
    np.save(path, A.astype(np.float32))
    mm = np.load(path, mmap_mode="r")
    ref = linear_cka_reference(A.astype(np.float32).astype(np.float64), B)
    for method, budget in [("auto", 1 << 16), ("samples", 1 << 16), ("samples", 1 << 28)]:
        # row blocks; pairs of row blocks; the N × N Gram over feature chunks read from disk
        assert abs(cka(mm, B, method=method, memory_budget=budget) - ref) < 1e-6
    assert abs(cka(torch.from_numpy(A), torch.from_numpy(B)) - linear_cka_reference(A, B)) < 1e-9


@pytest.mark.parametrize("budget", [1 << 18, 400_000, 1 << 28])
def test_cka_matrix_within_and_across(rng, budget):
    """Budgets where the wide layer's Gram does not fit, where some Grams are kept and some
    recomputed, and where all are kept."""
    X = rng.normal(size=(120, 6))
    layers = {"x": X, "relu": np.maximum(X @ rng.normal(size=(6, 30)), 0)}
    for i in range(4):  # 4 wide layers: at 400 kB three 120 × 120 Grams are kept
        layers[f"wide{i}"] = np.hstack([X[:, i:], rng.normal(size=(120, 200))])
    m = cka_matrix(layers, memory_budget=budget)
    np.testing.assert_allclose(np.diag(m.values), 1.0, atol=1e-9)
    np.testing.assert_allclose(m.values, m.values.T)
    for i, a in enumerate(layers):
        for j, b in enumerate(layers):
            assert abs(m.values[i, j] - linear_cka_reference(layers[a], layers[b])) < 1e-6
    d = cka_matrix(layers, {"y": X[:, :3]}, debiased=True)
    assert d.metric == "cka-debiased" and d.values.shape == (6, 1)
    assert abs(d.value("relu", "y") - debiased_reference(layers["relu"], X[:, :3])) < 1e-6


def test_cka_from_an_activation_store(rng, tmp_path):
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
    X = rng.normal(size=(64, 5)).astype(np.float32)
    store = idscope.activations(model, X, layers=["0", "1", "2"], store=tmp_path / "st")
    m = cka_matrix(tmp_path / "st")
    assert m.rows == ("0", "1", "2")
    for i, a in enumerate(m.rows):
        for j, b in enumerate(m.cols):
            ref = linear_cka_reference(np.asarray(store[a], np.float64),
                                       np.asarray(store[b], np.float64))
            assert abs(m.values[i, j] - ref) < 1e-6


def test_cka_bad_input(rng):
    A = rng.normal(size=(20, 3))
    with pytest.raises(idscope.InputError, match="20 samples and B 10"):
        cka(A, A[:10])
    with pytest.raises(idscope.InputError, match="method='gram' is not one of"):
        cka(A, A, method="gram")
    with pytest.raises(idscope.InputError, match="at least 4 samples"):
        cka(A[:3], A[:3], debiased=True)


def test_cka_of_wide_memmaps_stays_within_memory(tmp_path):
    """Two 9.6 MB float32 layers on disk: CKA reads them in chunks, so the memory numpy
    allocates stays far below one layer (the N × N Grams are 0.3 MB each)."""
    import tracemalloc

    n, d = 200, 12_000
    rng = np.random.default_rng(0)
    paths = []
    for name in ("a", "b"):
        mm = np.lib.format.open_memmap(tmp_path / f"{name}.npy", mode="w+",
                                       dtype=np.float32, shape=(n, d))
        mm[:] = rng.random((n, d), dtype=np.float32)
        mm.flush()
        del mm
        paths.append(tmp_path / f"{name}.npy")
    a, b = (np.load(p, mmap_mode="r") for p in paths)
    tracemalloc.start()
    try:
        got = cka(a, b, memory_budget=2 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 << 20, peak  # one layer is 9.6 MB, in float64 19 MB
    # reference from the Grams of the centred layers, in float64 row blocks
    grams = []
    for X in (a, b):
        c = np.asarray(X, dtype=np.float64)
        c -= c.mean(0)
        grams.append(c @ c.T)
    ref = np.sum(grams[0] * grams[1]) / np.sqrt(np.sum(grams[0] ** 2) * np.sum(grams[1] ** 2))
    assert abs(got - ref) < 1e-6
