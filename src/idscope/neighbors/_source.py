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

    def _to_tensor(self, block: Any, dtype: torch.dtype, copy: bool) -> torch.Tensor:
        """``block`` as a tensor; with ``copy`` it never aliases the caller's data."""
        if isinstance(block, torch.Tensor):
            t = block.to(device=self.device, dtype=dtype)
            return t.clone() if copy and t.data_ptr() == block.data_ptr() else t
        arr = np.asarray(block)
        # a memmap block must outlive its (closed) mapping; user memory must not be modified
        aliases = self.streamed or np.may_share_memory(arr, self.X)
        src = torch.from_numpy(np.array(arr) if self.streamed else np.ascontiguousarray(arr))
        t = src.to(device=self.device, dtype=dtype)
        if copy and aliases and t.data_ptr() == src.data_ptr() and not self.streamed:
            t = t.clone()
        return t

    def raw_rows(self, start: int, stop: int, dtype: torch.dtype, copy: bool = False
                 ) -> torch.Tensor:
        """Rows [start, stop) as ``dtype``; may share memory with the input unless ``copy``."""
        with self._array() as A:
            return self._to_tensor(A[start:stop], dtype, copy)

    def raw_take(self, index: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        """Rows ``index`` (any order, repeats allowed), always a new tensor."""
        if self.is_torch:
            return self.X[torch.as_tensor(index, device=self.X.device)].to(self.device, dtype)
        with self._array() as A:
            return self._to_tensor(A[np.asarray(index)], dtype, copy=False)

    def raw_cols(self, start: int, stop: int, dtype: torch.dtype) -> torch.Tensor:
        """Columns [start, stop) of every row, always a new tensor."""
        with self._array() as A:
            return self._to_tensor(np.ascontiguousarray(A[:, start:stop]) if not self.is_torch
                                   else A[:, start:stop].contiguous(), dtype, copy=True)

    def centred_cols(self, start: int, stop: int) -> torch.Tensor:
        """float32 columns [start, stop) minus their float64 column means (centring per
        chunk of features is centring per feature)."""
        if self.is_torch:
            x = self.X[:, start:stop].to(self.device, torch.float32)
            mean = self.X[:, start:stop].sum(0, dtype=torch.float64) / self.n
            return x - mean.to(self.device, torch.float32)
        with self._array() as A:
            # a streamed block must be copied before its mapping closes
            block = np.array(A[:, start:stop], copy=True) if self.streamed else (
                np.ascontiguousarray(A[:, start:stop]))
        # numpy reduces a C-ordered block over axis 0 row by row: fast and float64
        mean = np.add.reduce(block, axis=0, dtype=np.float64) / self.n
        x = torch.from_numpy(block).to(self.device, torch.float32)
        shares = x.device.type == "cpu" and np.may_share_memory(block, self.X)
        return (x - torch.from_numpy(mean).to(self.device, torch.float32)) if shares else (
            x.sub_(torch.from_numpy(mean).to(self.device, torch.float32)))

    # -- centring ----------------------------------------------------------------------
    def mean(self, block_rows: int) -> torch.Tensor:
        """Column mean in float64, accumulated block by block."""
        if self._mean is None:
            acc = torch.zeros(self.d, dtype=torch.float64, device=self.device)
            for a in range(0, self.n, block_rows):
                if self.is_torch:
                    block = self.X[a : a + block_rows]
                    acc += block.sum(0, dtype=torch.float64).to(self.device)
                else:
                    with self._array() as A:
                        acc += torch.from_numpy(np.add.reduce(
                            A[a : a + block_rows], axis=0, dtype=np.float64)).to(self.device)
            self._mean = acc / self.n
        return self._mean

    def centred_rows(self, start: int, stop: int, mean: torch.Tensor) -> torch.Tensor:
        """float32 rows minus the float64 mean (subtraction done in float64)."""
        if self.dtype == torch.float64:
            return (self.raw_rows(start, stop, torch.float64) - mean).float()
        # Rounding the mean to float32 shifts every point equally: distances are unaffected.
        return self.raw_rows(start, stop, torch.float32) - mean.float()
