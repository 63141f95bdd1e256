"""The measured choice of BLAS for the CPU tile products (:mod:`idscope.neighbors.products`).

Every candidate (numpy's ``ssyrk`` / ``sgemm``, torch's ``addmm``) is forced in turn, on
diagonal and off-diagonal tiles; the neighbours must equal the float64 brute force exactly
(indices) and to 1e-12 (distances) whichever computed the float32 products, and a fresh
measurement must try every candidate once and then keep the fastest.
"""

import numpy as np
import pytest
import torch

from idscope import kneighbors
from idscope.neighbors import products
from idscope.neighbors.products import TileProducts

from .test_engine import brute


@pytest.fixture
def measured(monkeypatch):
    table: dict = {}
    monkeypatch.setattr(products, "_MEASURED", table)
    return table


@pytest.mark.parametrize("diag,off", [("syrk", "torch"), ("torch", "numpy"),
                                      ("syrk", "numpy"), ("torch", "torch")])
def test_every_candidate_gives_the_exact_neighbours(measured, diag, off):
    rng = np.random.default_rng(3)
    X = np.round(rng.standard_normal((700, 256)) * 4) + 100.0  # ties, far from the origin
    key = (products._bucket(256), products._bucket(256))  # tiles of 256 x 256 are measured
    # the forced candidate is the one measured fastest; the other was tried and slower
    measured[(True, *key)] = {"syrk": [1.0, 1], "torch": [1.0, 1], diag: [0.0, 1]}
    measured[(False, *key)] = {"torch": [1.0, 1], "numpy": [1.0, 1], off: [0.0, 1]}
    got = kneighbors(X, 5, tile_size=256)
    d_ref, i_ref = brute(X, 5)
    np.testing.assert_array_equal(got.indices, i_ref)
    np.testing.assert_allclose(got.distances, d_ref, rtol=1e-12)
    assert measured[(True, *key)][diag] == [0.0, 3]  # used for both 256-row diagonal tiles
    assert measured[(False, *key)][off][1] == 4  # and for the three off the diagonal


def test_each_candidate_is_tried_once_then_the_fastest_kept(measured, monkeypatch):
    rng = np.random.default_rng(0)
    A = torch.from_numpy(rng.standard_normal((256, 256)).astype(np.float32))
    B = torch.from_numpy(rng.standard_normal((256, 256)).astype(np.float32))
    prod = TileProducts(256, 256, 256)
    # durations of the timed products, in call order: torch 2 s, numpy 3 s; then torch
    # (the faster) is kept: 1 s, 0.5 s
    ticks = np.cumsum([0.0, 2.0, 1.0, 3.0, 1.0, 1.0, 1.0, 0.5])
    clock = iter(ticks.tolist())
    monkeypatch.setattr(products.time, "perf_counter", lambda: next(clock))
    key = (False, products._bucket(256), products._bucket(256))
    seen = []
    for _ in range(4):
        d2 = torch.zeros((256, 256))
        prod(d2, A, B, diagonal=False)
        np.testing.assert_allclose(d2.numpy(), -2.0 * (A @ B.T).numpy(), rtol=1e-5,
                                   atol=1e-4)
        seen.append({o: (round(t * 256 * 256, 9), n) for o, (t, n) in measured[key].items()})
    inf = float("inf")
    assert seen == [{"torch": (2.0, 1), "numpy": (inf, 0)},
                    {"torch": (2.0, 1), "numpy": (3.0, 1)},
                    {"torch": (1.0, 2), "numpy": (3.0, 1)},
                    {"torch": (0.5, 3), "numpy": (3.0, 1)}]


def test_small_tiles_are_not_measured(measured):
    X = np.random.default_rng(1).standard_normal((300, 8))
    got = kneighbors(X, 3, tile_size=100, algorithm="brute")
    np.testing.assert_array_equal(got.indices, brute(X, 3)[1])
    assert measured == {}


def test_narrow_rows_are_not_measured(measured):
    # 256-row tiles of 40 features: torch does them, no measurement of numpy's BLAS
    X = np.random.default_rng(2).standard_normal((600, 40))
    got = kneighbors(X, 3, tile_size=256, algorithm="brute")
    np.testing.assert_array_equal(got.indices, brute(X, 3)[1])
    assert measured == {}
