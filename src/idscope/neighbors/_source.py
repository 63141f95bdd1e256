"""Uniform, memory-bounded access to a point cloud held in RAM, in a torch tensor or on disk.

Every block handed to the engine is a fresh torch tensor; a ``np.memmap`` is re-opened for
each block and closed afterwards, so pages read from disk do not accumulate in the
process's resident set (a 6.4 GB memmap streams with a few hundred MiB of RSS).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from .._validation import is_memmap


class PointSource:
    """Rows (points) and column chunks (features) of ``X`` as torch blocks on ``device``."""

    def __init__(self, X: Any, device: torch.device):
        self.device = device
        self.X = X
        self.n, self.d = (int(s) for s in X.shape)
        self.is_torch = isinstance(X, torch.Tensor)
        self.streamed = (not self.is_torch) and is_memmap(X) and self._reopenable(X)
        if self.is_torch:
            self.dtype = X.dtype
        else:
            self.dtype = torch.from_numpy(np.empty(0, dtype=X.dtype)).dtype
        self._mean: torch.Tensor | None = None

    # -- raw access --------------------------------------------------------------------
    @staticmethod
    def _reopenable(X: np.memmap) -> bool:
        """Whether (filename, offset, shape) describe ``X`` exactly (not a strided view)."""
        try:
            mm = np.memmap(X.filename, dtype=X.dtype, mode="r", offset=X.offset, shape=X.shape)
        except (OSError, ValueError):
            return False
        try:
            ok = X.flags.c_contiguous and np.array_equal(mm[:1], X[:1])
            ok = ok and np.array_equal(mm[-1:], X[-1:])
        finally:
            mm._mmap.close()  # type: ignore[attr-defined]
            del mm
        return bool(ok)

    @contextmanager
    def _array(self):
        """The data as an indexable array; for memmaps a fresh mapping closed on exit."""
        if not self.streamed:
            yield self.X
            return
        mm = np.memmap(self.X.filename, dtype=self.X.dtype, mode="r", offset=self.X.offset,
                       shape=self.X.shape)
        try:
            yield mm
        finally:
            mm._mmap.close()  # type: ignore[attr-defined]

    def _to_tensor(self, block: Any, dtype: torch.dtype) -> torch.Tensor:
        if isinstance(block, torch.Tensor):
            return block.to(device=self.device, dtype=dtype)
        return torch.from_numpy(np.array(block, copy=True)).to(device=self.device, dtype=dtype)

    def raw_rows(self, start: int, stop: int, dtype: torch.dtype) -> torch.Tensor:
        with self._array() as A:
            return self._to_tensor(A[start:stop], dtype)

    def raw_take(self, index: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        """Rows ``index`` (any order, repeats allowed)."""
        if self.is_torch:
            return self.X[torch.as_tensor(index, device=self.X.device)].to(self.device, dtype)
        with self._array() as A:
            return self._to_tensor(A[np.asarray(index)], dtype)

    def raw_cols(self, start: int, stop: int, dtype: torch.dtype) -> torch.Tensor:
        with self._array() as A:
            return self._to_tensor(A[:, start:stop], dtype)

    # -- centring ----------------------------------------------------------------------
    def mean(self, block_rows: int) -> torch.Tensor:
        """Column mean in float64, accumulated block by block."""
        if self._mean is None:
            acc = torch.zeros(self.d, dtype=torch.float64, device=self.device)
            for a in range(0, self.n, block_rows):
                acc += self.raw_rows(a, min(a + block_rows, self.n), torch.float64).sum(0)
            self._mean = acc / self.n
        return self._mean

    def centred_rows(self, start: int, stop: int, mean: torch.Tensor) -> torch.Tensor:
        """float32 rows minus the float64 mean (subtraction done in float64)."""
        if self.dtype == torch.float64:
            return (self.raw_rows(start, stop, torch.float64) - mean).float()
        # Rounding the mean to float32 shifts every point equally: distances are unaffected.
        return self.raw_rows(start, stop, torch.float32) - mean.float()
