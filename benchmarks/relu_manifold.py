"""The synthetic data of the estimator and label-sharpness benchmarks: a 10-dimensional
latent manifold, a 64-unit tanh layer, then a ReLU layer of width D with 5 % noise (uncentred,
non-negative, many exact zeros, like a network's activations), generated in row blocks of
about 64 MB so that even a 6.4 GB data set never sits in memory whole."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

LATENT_DIM, HIDDEN, NOISE, SEED = 10, 64, 0.05, 20240601


def relu_manifold(n: int, d: int) -> tuple[np.ndarray, Iterator[tuple[int, int, np.ndarray]]]:
    """(latent coordinates z (n, LATENT_DIM), an iterator of (start, stop, float32 rows))."""
    rng = np.random.default_rng(SEED)
    z = rng.standard_normal((n, LATENT_DIM))
    h = np.tanh(z @ rng.standard_normal((LATENT_DIM, HIDDEN)) / math.sqrt(LATENT_DIM)
                + 0.5 * rng.standard_normal(HIDDEN)).astype(np.float32)
    # the ReLU layer: 64×D float32 weights (205 MB for the largest case) and offsets
    w = rng.standard_normal((HIDDEN, d), dtype=np.float32) / np.float32(math.sqrt(HIDDEN))
    off = np.float32(0.5) * rng.standard_normal(d, dtype=np.float32)
    rows = max(1, (64 << 20) // (4 * d))

    def blocks() -> Iterator[tuple[int, int, np.ndarray]]:
        for a in range(0, n, rows):
            b = min(n, a + rows)
            block = h[a:b] @ w
            block += off
            noise = np.random.default_rng([SEED, 2, a]).standard_normal(block.shape,
                                                                         dtype=np.float32)
            block += np.float32(NOISE) * noise
            np.maximum(block, 0, out=block)
            yield a, b, block

    return z, blocks()
