"""The float32 tile products of the CPU search, each done by the BLAS measured fastest.

A tile of the tiled search (:mod:`.engine`) is ``d2 = |x|² + |y|² − 2·A·Bᵀ``. On the CPU two
libraries can compute ``A·Bᵀ``: torch (MKL or OpenBLAS, a fused ``addmm`` into the tile) and
numpy's BLAS (``sgemm``; on a diagonal tile, ``A·Aᵀ`` on one array is ``ssyrk``, half the
multiplications). Which is fastest depends on the machine and the shape: on an Intel Xeon
with numpy's OpenBLAS and torch's MKL, the whole ``ssyrk`` of 10 000 × 128 took 0.36 s against
0.22 s for the fastest general product, and at D = 4 096 2.14 s against 2.76 s (README table);
on an AMD EPYC, MKL ran at half OpenBLAS's speed. So the choice is measured, not ruled: when tiles
of a kind (diagonal or not), feature width and size are first met, each candidate is called
once untimed on a tiny product (a library's first call pays for starting its threads), then
does one real tile, timed per entry; the fastest does the rest, and the measurements are
kept for the process. Tiles under 256 rows or 256 features are not measured (torch does
them): below that width the product is a small part of a tile's cost, one timed tile cannot
tell the libraries apart, and when numpy's BLAS won by chance its threads, spinning after
each call, took the cores from the selection (the likely cause of an earlier table's second, slower
speed of the same search at 10⁵ points, gone from the README's "Neighbour paths" table). Every
candidate computes the same float32 product up to rounding, which the engine's error bound covers.
"""

from __future__ import annotations

import time

import numpy as np
import torch

__all__ = ["TileProducts"]

# (diagonal, width bucket, tile-rows bucket) -> {candidate: [best seconds per entry, trials]}
_MEASURED: dict[tuple[bool, int, int], dict[str, list]] = {}
_MIN_ROWS = 256
_MIN_WIDTH = 256


def _bucket(d: int) -> int:
    """Sizes within a factor of √2 share their measurements."""
    return int(round(2 * np.log2(max(d, 1))))


class TileProducts:
    """``product(d2, A, B, diagonal)``: ``d2 -= 2·A·Bᵀ`` in place (``B is A`` on a diagonal
    tile), by the candidate measured fastest for tiles of that kind, width and size."""

    def __init__(self, d: int, max_rows: int, max_cols: int):
        self.d = d
        self._out = np.empty(max_rows * max_cols, dtype=np.float32)

    def __call__(self, d2: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                 diagonal: bool) -> None:
        if d2.shape[0] < _MIN_ROWS or self.d < _MIN_WIDTH:
            self._product("torch", d2, A, B, diagonal)
            return
        options = ("syrk", "torch") if diagonal else ("torch", "numpy")
        key = (diagonal, _bucket(self.d), _bucket(d2.shape[0]))
        seen = _MEASURED.get(key)
        if seen is None:
            seen = _MEASURED[key] = {o: [np.inf, 0] for o in options}
            tiny = torch.ones((4, self.d), dtype=torch.float32)
            for how in options:  # untimed: thread start-up stays out of the measurement
                self._product(how, torch.zeros((4, 4)), tiny, tiny, diagonal)
        untried = [o for o in options if not seen[o][1]]
        how = untried[0] if untried else min(options, key=lambda o: seen[o][0])
        t0 = time.perf_counter()
        self._product(how, d2, A, B, diagonal)
        per_entry = (time.perf_counter() - t0) / d2.numel()
        seen[how] = [min(seen[how][0], per_entry), seen[how][1] + 1]

    def _product(self, how: str, d2: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                 diagonal: bool) -> None:
        if how == "torch":
            d2.addmm_(A, B.T, alpha=-2.0)
        else:
            out = self._out[: d2.numel()].reshape(d2.shape)
            # on one array numpy calls ssyrk; on two, sgemm
            np.matmul(A.numpy(), (A if diagonal else B).numpy().T, out=out)
            d2.add_(torch.from_numpy(out), alpha=-2.0)
