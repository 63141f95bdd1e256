"""Uniform, memory-bounded access to a point cloud held in RAM, in a torch tensor or on disk.

Three kinds of storage:

- ``"array"``: a numpy array in memory (a CPU torch tensor of float32/float64 is viewed as
  one, without a copy). Blocks are views; nothing is copied until a computation needs to.
- ``"file"``: a C-ordered ``np.memmap`` opened read-only or read-write (shared). Blocks are
  read with ``pread`` into ordinary buffers, never through the mapping: a page touched
  through a mapping stays in the process's resident set until the mapping is closed, and the
  kernel maps whole (large) folios around every touch, so a column chunk read through a
  mapping faults in nearly the whole file. Reading with ``pread`` keeps the resident set at
  the size of the buffers (a 6.4 GB memmap streams with a few hundred MiB).
- ``"torch"``: any other tensor (a GPU tensor, float16/bfloat16); blocks are tensor views.
"""

from __future__ import annotations

import mmap
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from .._fileio import pread_exact
from .._validation import is_memmap
from .frame import ldexp, max_abs

__all__ = ["PointSource"]


def _torch_dtype(np_dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype=np.dtype(np_dtype).newbyteorder("="))).dtype


class _FileRows:
    """``pread`` access to the rows of a C-ordered memmap (exact byte offset of X[0, 0])."""

    def __init__(self, filename: str, offset: int, shape: tuple[int, int], dtype: np.dtype):
        self.filename, self.offset = filename, offset
        self.n, self.d = shape
        self.dtype = np.dtype(dtype)
        self.row_bytes = self.d * self.dtype.itemsize

    @classmethod
    def open(cls, X: np.memmap) -> _FileRows | None:
        """The file view of ``X``, or None when ``X`` is not a plain read of its file."""
        if getattr(X, "mode", "r") == "c" or not X.flags.c_contiguous or X.ndim != 2:
            return None  # copy-on-write changes are invisible to pread
        mm = getattr(X, "_mmap", None)
        if mm is None or X.size == 0:
            return None
        try:
            base = np.frombuffer(mm, dtype=np.uint8)
            start = X.offset - X.offset % mmap.ALLOCATIONGRANULARITY
            offset = (X.__array_interface__["data"][0] - base.__array_interface__["data"][0]
                      + start)
            del base
            rows = cls(os.fspath(X.filename), int(offset), X.shape, X.dtype)
            # a strided or otherwise unusual view reads back differently: do not stream it
            ok = (np.array_equal(rows.rows(0, 1), np.asarray(X[:1]))
                  and np.array_equal(rows.rows(X.shape[0] - 1, X.shape[0]),
                                     np.asarray(X[-1:])))
        except (OSError, ValueError, TypeError, BufferError):
            return None
        return rows if ok else None

    def _fd(self) -> int:
        return os.open(self.filename, os.O_RDONLY)

    def rows(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        out = np.empty((stop - start, self.d), self.dtype) if out is None else out
        fd = self._fd()
        try:
            pread_exact(fd, out, self.offset + start * self.row_bytes)
        finally:
            os.close(fd)
        return out

    def cols(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Columns [start, stop) of every row: one ``pread`` per row."""
        w = stop - start
        out = np.empty((self.n, w), self.dtype) if out is None else out
        isz = self.dtype.itemsize
        fd = self._fd()
        try:
            if w == self.d:
                pread_exact(fd, out, self.offset)
            else:
                base = self.offset + start * isz
                for i in range(self.n):
                    pread_exact(fd, out[i], base + i * self.row_bytes)
        finally:
            os.close(fd)
        return out

    def take(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        out = np.empty((index.size, self.d), self.dtype)
        fd = self._fd()
        try:
            for r, i in enumerate(index.tolist()):
                pread_exact(fd, out[r], self.offset + i * self.row_bytes)
        finally:
            os.close(fd)
        return out

class PointSource:
    """Rows (points) and column chunks (features) of ``X``.

    Search-side blocks (``centred_rows``, ``centred_cols``) are float32 torch tensors on
    ``device``; exact-side blocks (``col_block``) are numpy arrays for ``"array"`` and
    ``"file"`` storage and tensors for ``"torch"`` storage.

    ``exp`` is the power-of-two frame (:mod:`.frame`): ``mean``, ``centred_rows`` and
    ``centred_cols`` are those of ``X·2^-exp``; raw accessors return the data as stored.
    """

    def __init__(self, X: Any, device: torch.device):
        self.device = device
        self.n, self.d = (int(s) for s in X.shape)
        self._file: _FileRows | None = None
        if isinstance(X, torch.Tensor):
            if X.device.type == "cpu" and X.dtype in (torch.float32, torch.float64):
                X = X.detach().numpy()
            else:
                self.kind = "torch"
        if not isinstance(X, torch.Tensor):
            X = X if isinstance(X, np.ndarray) else np.asarray(X)
            if not X.dtype.isnative:
                X = X.astype(X.dtype.newbyteorder("="))
            self._file = _FileRows.open(X) if is_memmap(X) else None
            self.kind = "file" if self._file is not None else "array"
        self.X = X
        self.is_torch = self.kind == "torch"
        self.streamed = self.kind == "file"
        self.dtype = X.dtype if self.is_torch else _torch_dtype(X.dtype)
        self.itemsize = torch.empty(0, dtype=self.dtype).element_size()
        self._mean: torch.Tensor | None = None
        self._rowbuf: np.ndarray | None = None
        self._max_abs: float | None = None
        self.exp = 0

    def set_frame(self, exp: int) -> None:
        """Work on ``X·2^-exp`` from now on (see :mod:`.frame`)."""
        if exp != self.exp:
            self.exp, self._mean = exp, None

    def max_abs(self, block_rows: int) -> float:
        """Largest |x| (one pass, cached); NaN or inf raises :class:`InputError`."""
        if self._max_abs is None:
            if self.is_torch or self._file is None:
                self._max_abs = max_abs(self.X)
            else:
                self._max_abs = max((max_abs(self.rows_np(a, min(self.n, a + block_rows)))
                                     for a in range(0, self.n, block_rows)), default=0.0)
        return self._max_abs

    # -- raw access (numpy for array/file storage) -------------------------------------
    def rows_np(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as stored (a view for in-memory arrays)."""
        if self._file is not None:
            return self._file.rows(start, stop)
        return self.X[start:stop]

    def cols_np(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Columns [start, stop) of every row (a strided view for in-memory arrays)."""
        if self._file is not None:
            return self._file.cols(start, stop, out)
        return self.X[:, start:stop]

    def col_chunks(self, chunk: int) -> Iterator[tuple[int, int, Any]]:
        """(start, stop, columns) over chunks of ``chunk`` features: views for in-memory
        arrays, tensors for torch storage; for files, blocks read by a reader thread one
        chunk ahead into two alternating buffers (so reading overlaps the caller's work: a
        block is valid until the next one is requested)."""
        spans = [(a, min(a + chunk, self.d)) for a in range(0, self.d, chunk)]
        if self._file is None:
            for a, b in spans:
                yield a, b, self.col_block(a, b)
            return
        width = min(chunk, self.d)
        bufs = [np.empty((self.n, width), self.X.dtype) for _ in range(min(2, len(spans)))]

        def read(i: int) -> np.ndarray:
            a, b = spans[i]
            out = bufs[i % len(bufs)] if b - a == width else None
            return self._file.cols(a, b, out)

        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(read, 0)
            for i, (a, b) in enumerate(spans):
                block = pending.result()
                if i + 1 < len(spans):
                    pending = pool.submit(read, i + 1)
                yield a, b, block

    def col_block(self, start: int, stop: int, out: np.ndarray | None = None) -> Any:
        """Columns [start, stop) in the storage's own array type (for exact arithmetic)."""
        if self.is_torch:
            return self.X[:, start:stop]
        return self.cols_np(start, stop, out)

    def _as_tensor(self, block: Any, dtype: torch.dtype, copy: bool) -> torch.Tensor:
        if isinstance(block, torch.Tensor):
            t = block.to(device=self.device, dtype=dtype)
            return t.clone() if copy and t.data_ptr() == block.data_ptr() else t
        with warnings.catch_warnings():  # read-only input (a memmap): we never write to it
            warnings.simplefilter("ignore", UserWarning)
            src = torch.from_numpy(np.ascontiguousarray(block))
        t = src.to(device=self.device, dtype=dtype)
        if copy and t.data_ptr() == src.data_ptr() and self._file is None:
            t = t.clone()  # never hand out (or modify) the caller's memory
        return t

    def raw_rows(self, start: int, stop: int, dtype: torch.dtype, copy: bool = False
                 ) -> torch.Tensor:
        """Rows [start, stop) as ``dtype``; may share memory with the input unless ``copy``."""
        block = self.X[start:stop] if self.is_torch else self.rows_np(start, stop)
        return self._as_tensor(block, dtype, copy)

    def raw_take(self, index: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        """Rows ``index`` (any order, repeats allowed), always a new tensor."""
        index = np.asarray(index, dtype=np.int64)
        if self.is_torch:
            return self.X[torch.as_tensor(index, device=self.X.device)].to(self.device, dtype)
        block = self._file.take(index) if self._file is not None else self.X[index]
        return self._as_tensor(block, dtype, copy=False)

    def raw_cols(self, start: int, stop: int, dtype: torch.dtype) -> torch.Tensor:
        """Columns [start, stop) of every row, always a new tensor."""
        if self.is_torch:
            return self.X[:, start:stop].to(self.device, dtype).contiguous().clone()
        return self._as_tensor(self.cols_np(start, stop), dtype, copy=True)

    # -- centring ----------------------------------------------------------------------
    def mean(self, block_rows: int) -> torch.Tensor:
        """Column mean of ``X·2^-exp`` in float64, accumulated block by block."""
        if self._mean is None:
            e = self.exp
            if self.is_torch:
                acc = torch.zeros(self.d, dtype=torch.float64, device=self.X.device)
                for a in range(0, self.n, block_rows):
                    block = self.X[a : a + block_rows]
                    acc += (ldexp(block, -e, torch.float64) if e else block).sum(
                        0, dtype=torch.float64)
                acc = acc.to(self.device)
            else:
                acc_np = np.zeros(self.d, dtype=np.float64)
                for a in range(0, self.n, block_rows):
                    block = self.rows_np(a, min(self.n, a + block_rows))
                    acc_np += np.add.reduce(ldexp(block, -e, np.float64) if e else block,
                                            axis=0, dtype=np.float64)
                acc = torch.from_numpy(acc_np).to(self.device)
            self._mean = acc / self.n
        return self._mean

    def centred_rows(self, start: int, stop: int, mean: torch.Tensor,
                     out: torch.Tensor | None = None) -> torch.Tensor:
        """float32 rows minus the float64 mean: a new tensor, or the first rows of ``out``
        (a reusable float32 buffer on ``device``; reusing it spares the allocator)."""
        if self.dtype == torch.float64:
            c = (ldexp(self.raw_rows(start, stop, torch.float64), -self.exp) - mean).float()
            return c if out is None else out[: stop - start].copy_(c)
        if self._file is not None:
            if self._rowbuf is None or self._rowbuf.shape[0] < stop - start:
                self._rowbuf = np.empty((stop - start, self.d), self.X.dtype)
            x = self._as_tensor(self._file.rows(start, stop, self._rowbuf[: stop - start]),
                                torch.float32, copy=False)
        else:
            x = self.raw_rows(start, stop, torch.float32)
        if self.exp:
            x = ldexp(x, -self.exp)  # a new tensor: the caller's data are never modified
        # Rounding the mean to float32 shifts every point equally: distances are unaffected.
        m32 = mean.to(torch.float32)
        if out is None:
            return x - m32
        return torch.sub(x, m32, out=out[: stop - start])

    def centred_cols(self, start: int, stop: int, buffer: np.ndarray | None = None
                     ) -> torch.Tensor:
        """float32 columns [start, stop) minus their float64 column means (centring per
        chunk of features is centring per feature); a new tensor unless ``buffer`` (for
        file storage) is given, which it may then overwrite."""
        if self.is_torch:
            x = self.X[:, start:stop]
            if self.exp:
                x = ldexp(x, -self.exp)
            mean = x.sum(0, dtype=torch.float64) / self.n
            if x.dtype == torch.float64:
                return (x - mean).to(self.device, torch.float32)
            return x.to(self.device, torch.float32) - mean.to(x.device, torch.float32
                                                                ).to(self.device)
        block = self.cols_np(start, stop, buffer)
        if self.exp:
            block = ldexp(block, -self.exp)
        # numpy reduces over axis 0 row by row, vectorised along the row: fast and float64
        mean = torch.from_numpy(np.add.reduce(block, axis=0, dtype=np.float64) / self.n)
        x = torch.from_numpy(block)
        if x.dtype == torch.float64:
            return (x - mean).to(self.device, torch.float32)
        mean32 = mean.to(torch.float32)
        if self._file is not None and self.device.type == "cpu" and x.dtype == torch.float32:
            return x.sub_(mean32)  # our own read buffer
        return x.to(self.device, torch.float32) - mean32.to(self.device)
