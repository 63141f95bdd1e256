"""The float32 tile products of the CPU search, each done by the BLAS measured fastest.

A tile of the tiled search (:mod:`.engine`) is ``d2 = |x|² + |y|² − 2·A·Bᵀ``. On the CPU two
libraries can compute ``A·Bᵀ``: torch (MKL or OpenBLAS, a fused ``addmm`` into the tile) and
numpy's BLAS (``sgemm``; on a diagonal tile, ``A·Aᵀ`` on one array is ``ssyrk``, half the
multiplications). Which is fastest depends on the machine and the shape: on an Intel Xeon
with numpy's OpenBLAS and torch's MKL, ``ssyrk`` of 10 000 × 128 took 3× longer than the
general product, and at D = 4 096 0.62× as long; on an AMD EPYC, MKL ran at half OpenBLAS's
speed. So the choice is measured, not ruled: the first tiles of each kind (diagonal, off the
diagonal) of a feature width are done by each candidate in turn, twice each (a library's
first call can include its warm-up), timed per entry, and the fastest (its better time) is
used from then on; the measurements are kept for the process. Every candidate
computes the same float32 product up to rounding, which the engine's error bound covers.
"""

from __future__ import annotations

import time

import numpy as np
import torch

__all__ = ["TileProducts"]

# (diagonal, feature-width bucket) -> {candidate: [best seconds per tile entry, trials]}
_MEASURED: dict[tuple[bool, int], dict[str, list]] = {}
_TRIALS = 2


def _bucket(d: int) -> int:
    """Feature widths within a factor of √2 share their measurements."""
    return int(round(2 * np.log2(max(d, 1))))


class TileProducts:
    """``product(d2, A, B, diagonal)``: ``d2 -= 2·A·Bᵀ`` in place (``B is A`` on a diagonal
    tile), by the candidate measured fastest for tiles of that kind and width."""

    def __init__(self, d: int, max_rows: int, max_cols: int):
        self.key = _bucket(d)
        self._out = np.empty(max_rows * max_cols, dtype=np.float32)

    def __call__(self, d2: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                 diagonal: bool) -> None:
        options = ("syrk", "torch") if diagonal else ("torch", "numpy")
        seen = _MEASURED.setdefault((diagonal, self.key), {o: [np.inf, 0] for o in options})
        trials = min(seen[o][1] for o in options)
        if trials < _TRIALS:  # the first candidate with the fewest trials
            how = next(o for o in options if seen[o][1] == trials)
        else:
            how = min(options, key=lambda o: seen[o][0])
        t0 = time.perf_counter()
        if how == "torch":
            d2.addmm_(A, B.T, alpha=-2.0)
        else:
            out = self._out[: d2.numel()].reshape(d2.shape)
            # on one array numpy calls ssyrk; on two, sgemm
            np.matmul(A.numpy(), (A if diagonal else B).numpy().T, out=out)
            d2.add_(torch.from_numpy(out), alpha=-2.0)
        per_entry = (time.perf_counter() - t0) / max(1, d2.numel())
        seen[how] = [min(seen[how][0], per_entry), seen[how][1] + 1]
