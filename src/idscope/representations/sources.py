"""The data side of a capture (its "parse" step): any supported input becomes a source of
numbered batches, sliced (arrays, tensors, memmaps, token dicts) or read from a
``DataLoader``/``Dataset``, with a description that identifies it for resuming.

:func:`idscope.representations.activations` then plans the layers and the store from the
first batch and executes the forward passes (``capture.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from .._errors import InputError
from .._validation import is_memmap
from .fingerprint import hash_batches, hash_rows
from .layers import input_tensor
from .text import token_inputs

__all__ = ["Source", "ArraySource", "LoaderSource", "make_source"]

_LABEL_KEYS = ("label", "labels", "target", "targets")


class Source:
    n: int
    n_batches: int
    batch_size: int | None
    shuffled: bool = False

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    def batches(self, skip: set[int]) -> Iterator[tuple[int, int, Any]]:
        raise NotImplementedError


class ArraySource(Source):
    """Tensors, arrays and memmaps: batches are slices (memmaps through a fresh mapping per
    batch, so pages read do not stay in the process)."""

    def __init__(self, X: Any, batch_size: int, index: Any, transform, dtype: torch.dtype):
        self.X, self.transform, self.dtype = X, transform, dtype
        if index is not None:
            index = np.asarray(index)
            if index.ndim != 1 or index.dtype.kind not in "iu":
                raise InputError("activations: index must be a 1-D array of integers")
            if index.size and (index.min() < -len(X) or index.max() >= len(X)):
                raise InputError(f"activations: index out of range for {len(X)} samples")
            index = index % len(X)
        self.index = index
        self.n = int(len(X) if index is None else index.size)
        if self.n == 0:
            raise InputError("activations: the data hold no sample")
        self.batch_size = batch_size
        self.n_batches = -(-self.n // batch_size)

    def _take(self, a: int, b: int) -> np.ndarray | torch.Tensor:
        X = self.X
        sel = slice(a, b) if self.index is None else self.index[a:b]
        if isinstance(X, torch.Tensor):
            return X[sel if self.index is None else torch.as_tensor(sel)].clone()
        if is_memmap(X):
            mm = np.memmap(X.filename, dtype=X.dtype, mode="r", offset=X.offset,
                           shape=X.shape, order="F" if X.flags.f_contiguous and X.ndim > 1
                           and not X.flags.c_contiguous else "C")
            try:
                return np.array(mm[sel])
            finally:
                mm._mmap.close()  # type: ignore[attr-defined]
        return np.array(X[sel])

    def _tensor(self, block: Any) -> torch.Tensor:
        t = block if isinstance(block, torch.Tensor) else torch.from_numpy(
            np.ascontiguousarray(block))
        if t.is_floating_point() or t.dtype == torch.bool:
            t = t.to(self.dtype)
        return t

    def batches(self, skip):
        for i, a in enumerate(range(0, self.n, self.batch_size)):
            if i in skip:
                continue
            b = min(a + self.batch_size, self.n)
            x = self._tensor(self._take(a, b))
            yield i, a, (self.transform(x) if self.transform else x)

    def describe(self):
        X = self.X
        kind = "tensor" if isinstance(X, torch.Tensor) else "memmap" if is_memmap(X) else "array"
        h = hashlib.sha256(f"all rows:{tuple(X.shape)}:{X.dtype}".encode())
        if self.index is not None:
            h.update(np.ascontiguousarray(self.index, dtype=np.int64).tobytes())
        # every row, streamed: a store is reused only for the same data
        hash_rows(h, self._take, self.n, int(np.prod(X.shape[1:], dtype=np.int64)) * (
            X.element_size() if isinstance(X, torch.Tensor) else X.dtype.itemsize))
        out = {"kind": kind, "shape": list(map(int, X.shape)), "dtype": str(X.dtype),
               "n_samples": self.n, "subset": self.index is not None,
               "fingerprint": h.hexdigest()[:16]}
        if kind == "memmap":
            out["filename"] = str(X.filename)
        return out


class LoaderSource(Source):
    """A DataLoader (or a Dataset wrapped in one without shuffling)."""

    def __init__(self, loader, transform, dtype: torch.dtype, wrapped: bool):
        self.loader, self.transform, self.dtype, self.wrapped = loader, transform, dtype, wrapped
        try:
            self.n_batches = len(loader)
            sampler = loader.batch_sampler if loader.batch_sampler is not None else None
            if loader.batch_size is not None and sampler is not None:
                self.n = (len(loader) * loader.batch_size if loader.drop_last
                          else len(loader.sampler))
            else:
                self.n = len(loader.dataset)
        except TypeError:
            raise InputError("activations: the DataLoader has no length; the number of "
                             "samples must be known to allocate the store") from None
        if self.n == 0:
            raise InputError("activations: the data hold no sample")
        self.batch_size = loader.batch_size
        from torch.utils.data import RandomSampler

        self.shuffled = isinstance(getattr(loader, "sampler", None), RandomSampler)

    def batches(self, skip):
        start = 0
        for i, item in enumerate(self.loader):
            x = _inputs_of(item)
            b = int(input_tensor(x).shape[0])
            if i not in skip:
                if isinstance(x, torch.Tensor) and (x.is_floating_point()
                                                    or x.dtype == torch.bool):
                    x = x.to(self.dtype)
                yield i, start, (self.transform(x) if self.transform else x)
            start += b

    def describe(self):
        ds = getattr(self.loader, "dataset", None)
        h = hashlib.sha256(f"{type(ds).__qualname__}:{self.n}:{self.n_batches}".encode())
        for part in (getattr(getattr(ds, "dataset", ds), "fingerprint", None),
                     getattr(ds, "indices", None)):  # token inputs (and a Subset of them)
            h.update(repr(part() if callable(part) else part).encode())
        hash_batches(h, (_inputs_of(item) for item in self.loader), ordered=not self.shuffled)
        return {"kind": "dataset" if self.wrapped else "dataloader",
                "dataset": type(ds).__qualname__, "n_samples": self.n,
                "shuffled": self.shuffled, "fingerprint": h.hexdigest()[:16]}


def _inputs_of(item: Any) -> Any:
    if isinstance(item, (tuple, list)):
        if not item:
            raise InputError("activations: the data yielded an empty batch")
        return _inputs_of(item[0]) if isinstance(item[0], (tuple, list)) else item[0]
    if isinstance(item, dict) or hasattr(item, "keys"):
        return {k: v for k, v in dict(item).items() if k not in _LABEL_KEYS}
    return item


def make_source(data: Any, batch_size: int, index: Any, transform, dtype: torch.dtype
                 ) -> Source:
    from torch.utils.data import DataLoader, Dataset, Subset

    data = token_inputs(data)  # a dict of input_ids, attention_mask, ...: one per sample
    if isinstance(data, DataLoader):
        if index is not None:
            raise InputError("activations: index cannot be combined with a DataLoader; "
                             "pass the Dataset instead")
        return LoaderSource(data, transform, dtype, wrapped=False)
    if isinstance(data, Dataset) and not isinstance(data, torch.Tensor):
        ds = data if index is None else Subset(data, [int(i) for i in np.asarray(index)])
        return LoaderSource(DataLoader(ds, batch_size=batch_size, shuffle=False), transform,
                             dtype, wrapped=True)
    if isinstance(data, torch.Tensor) or isinstance(data, np.ndarray):
        if data.ndim == 0 or len(data) == 0:
            raise InputError("activations: the data hold no sample")
        if isinstance(data, np.ndarray) and (data.dtype == object or data.dtype.kind in "USVc"):
            raise InputError(f"activations: data of dtype {data.dtype} are not numeric")
        return ArraySource(data, batch_size, index, transform, dtype)
    if hasattr(data, "__array__") or isinstance(data, (list, tuple)):
        arr = np.asarray(data)
        if arr.dtype == object or arr.ndim == 0:
            raise InputError("activations: could not convert the data to a numeric array")
        return ArraySource(arr, batch_size, index, transform, dtype)
    raise InputError(f"activations: cannot iterate over {type(data).__name__}; pass a "
                     f"tensor, array, Dataset or DataLoader")
