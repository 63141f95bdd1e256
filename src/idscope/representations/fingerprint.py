"""Fingerprints of the data an activation store was built from.

A finished store is reused only when the data are the same, so the fingerprint covers every
sample, not a few rows (three sampled rows let a store built from other data be answered
again, issue #12): arrays, tensors and memmaps are hashed row block by row block (~64 MiB
at a time, memmaps through fresh mappings), Datasets and DataLoaders by one pass over what
they yield. A shuffling DataLoader yields its samples in a new order each time, so its hash
is of the sorted per-sample digests (the multiset of samples).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

__all__ = ["hash_rows", "hash_batches"]

_BLOCK = 64 << 20


def _bytes(x: Any) -> np.ndarray:
    """The raw bytes of an array or tensor as a uint8 numpy array (bfloat16 has no numpy
    dtype, so tensors are reinterpreted as bytes on the torch side)."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu().contiguous()
        return t.reshape(-1).view(torch.uint8).numpy() if t.numel() else np.empty(0, np.uint8)
    a = np.ascontiguousarray(x)
    return a.reshape(-1).view(np.uint8) if a.size else np.empty(0, np.uint8)


def hash_rows(h: Any, take: Callable[[int, int], Any], n: int, row_bytes: int) -> None:
    """Feed rows ``[0, n)`` (read with ``take(start, stop)``) into the hash ``h``."""
    step = max(1, _BLOCK // max(1, row_bytes))
    for a in range(0, n, step):
        h.update(_bytes(take(a, min(a + step, n))).data)


def hash_batches(h: Any, batches: Iterable[Any], *, ordered: bool) -> None:
    """Feed every sample of ``batches`` (tensors, arrays, or dicts of them, samples along
    the first axis) into ``h``; ``ordered=False`` makes the result independent of the order
    of the samples."""
    digests: list[bytes] = []
    for batch in batches:
        parts = ([batch[k] for k in sorted(batch)] if isinstance(batch, dict) else [batch])
        for p in parts:
            if not isinstance(p, (torch.Tensor, np.ndarray)) or p.ndim == 0:
                h.update(repr(p).encode())
            elif ordered:
                h.update(str(tuple(p.shape)).encode())
                h.update(_bytes(p).data)
            else:
                digests.extend(hashlib.blake2b(_bytes(row).data, digest_size=16).digest()
                               for row in p)
    for d in sorted(digests):
        h.update(d)
