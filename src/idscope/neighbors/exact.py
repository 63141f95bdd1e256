"""Exact squared distances of candidate pairs, and the exhaustive float64 search.

Both work in the sources' power-of-two frame (:mod:`.frame`): rows are rescaled by
``2^-exp`` before any difference is squared, so no square overflows or underflows.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from .frame import ldexp

_U64 = 2.0**-53
_TINY64 = 2.0**-1074
_LAMBDA = 10.0


def _blocks(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def _k_smallest(rows: np.ndarray, cols: np.ndarray, d2: np.ndarray, n: int, k: int):
    """The k smallest (d², index) of each row's candidate list (every row has >= k)."""
    order = np.lexsort((cols, d2, rows))
    rows, cols, d2 = rows[order], cols[order], d2[order]
    at = np.searchsorted(rows, np.arange(n))[:, None] + np.arange(k)
    return d2[at], cols[at]


# ----------------------------------------------------------------------------------------
# exact squared distances of candidate pairs, from float64 difference vectors
# ----------------------------------------------------------------------------------------
def _exact_distances(src, ref, rows, cols, symmetric, budget) -> np.ndarray:
    """Exact d² of the pairs (rows[p], cols[p]); with ``symmetric`` each unordered pair is
    computed once."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    if not symmetric or rows.size == 0:
        return _exact_pairs(src, ref, rows, cols, budget)
    n = src.n
    keys, inverse = np.unique(np.minimum(rows, cols) * n + np.maximum(rows, cols),
                              return_inverse=True)
    return _exact_pairs(src, ref, keys // n, keys % n, budget)[inverse.reshape(-1)]


def _exact_pairs(src, ref, rows, cols, budget) -> np.ndarray:
    out = np.zeros(rows.size, dtype=np.float64)
    if rows.size == 0:
        return out
    if src.is_torch or ref.is_torch:
        return _exact_pairs_torch(src, ref, rows, cols, budget)
    e = src.exp  # the frame: both sources share it
    if not (src.streamed or ref.streamed):
        _pair_kernel(src.X, ref.X, rows, cols, out, e)
        return out
    # one sequential pass over the file(s), chunk of features by chunk of features
    same = ref is src
    row_bytes = 2 * (src.n * src.itemsize + (0 if same else ref.n * ref.itemsize))
    chunk = max(64, min(src.d, (budget // 2) // max(1, row_bytes)))
    if same:
        for _, _, Q in src.col_chunks(chunk):
            _pair_kernel(Q, Q, rows, cols, out, e)
    else:
        for (_, _, Q), (_, _, R) in zip(src.col_chunks(chunk), ref.col_chunks(chunk)):
            _pair_kernel(Q, R, rows, cols, out, e)
    return out


def _pair_kernel(Q: np.ndarray, R: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                 out: np.ndarray, e: int = 0) -> None:
    """out[p] += Σ_f (R[cols[p], f]·2^-e − Q[rows[p], f]·2^-e)² with float64 arithmetic
    (the difference of two float32 values is exact in float64; the power of two keeps the
    squares in range); large jobs are split over threads (numpy releases the GIL in the
    gathers and the arithmetic)."""
    n_threads = max(1, min(torch.get_num_threads(), os.cpu_count() or 1))
    if n_threads == 1 or rows.size * Q.shape[1] < (1 << 23) or rows.size < 2 * n_threads:
        _pair_kernel_serial(Q, R, rows, cols, out, e)
        return
    edges = np.linspace(0, rows.size, n_threads + 1).astype(np.int64)
    with ThreadPoolExecutor(n_threads) as pool:
        jobs = [pool.submit(_pair_kernel_serial, Q, R, rows[a:b], cols[a:b], out[a:b], e)
                for a, b in zip(edges[:-1], edges[1:])]
        for job in jobs:
            job.result()


def _f64(a: np.ndarray, e: int) -> np.ndarray:
    """``a·2^-e`` in float64 (no copy when ``a`` is float64 and ``e == 0``)."""
    return np.ldexp(a, -e, dtype=np.float64) if e else a.astype(np.float64, copy=False)


def _pair_kernel_serial(Q, R, rows, cols, out, e=0) -> None:
    w = Q.shape[1]
    if w >= 8192:
        # Long rows: one run of pairs sharing a query row at a time, the query row converted
        # once and broadcast (no gathered copy of it per pair).
        fw = 8192
        brk = np.flatnonzero(rows[1:] != rows[:-1]) + 1
        for s, t in zip(np.r_[0, brk].tolist(), np.r_[brk, rows.size].tolist()):
            i, c = int(rows[s]), cols[s:t]
            acc = np.zeros(t - s)
            for f0 in range(0, w, fw):
                diff = _f64(R[c, f0 : f0 + fw], e)
                diff -= _f64(Q[i, f0 : f0 + fw], e)
                acc += np.einsum("ij,ij->i", diff, diff)
            out[s:t] += acc
        return
    # short rows: tiles of pairs × features small enough to keep the float64 temporaries
    # in cache (2^15 values, 256 KB: about 20 % faster at D = 4 096 than 2 MB tiles)
    fw = min(w, 4096)
    pc = max(8, (1 << 15) // fw)
    for p0 in range(0, rows.size, pc):
        p1 = min(rows.size, p0 + pc)
        r, c = rows[p0:p1], cols[p0:p1]
        acc = np.zeros(p1 - p0)
        for f0 in range(0, w, fw):
            f1 = min(w, f0 + fw)
            if f1 - f0 == w:  # whole rows: numpy's fast row gather (no slice per row)
                diff = _f64(R.take(c, axis=0), e)
                diff -= _f64(Q.take(r, axis=0), e)
            else:
                diff = _f64(R[c, f0:f1], e)
                diff -= _f64(Q[r, f0:f1], e)
            acc += np.einsum("ij,ij->i", diff, diff)
        out[p0:p1] += acc


def _exact_pairs_torch(src, ref, rows, cols, budget) -> np.ndarray:
    """Torch storage (any device): gather whole rows in float64, pair chunk by pair chunk."""
    out = np.empty(rows.size, dtype=np.float64)
    step = max(1, (budget // 2) // max(1, 16 * src.d))
    for a, b in _blocks(rows.size, step):
        xc = ldexp(ref.raw_take(cols[a:b], torch.float64), -src.exp)
        xc.sub_(ldexp(src.raw_take(rows[a:b], torch.float64), -src.exp))  # exact
        out[a:b] = torch.linalg.vecdot(xc, xc).cpu().numpy()
    return out


# ----------------------------------------------------------------------------------------
# exhaustive float64 fallback for uncertified points
# ----------------------------------------------------------------------------------------
def _exhaustive(src, ref, symmetric, rows: np.ndarray, k: int, budget: int):
    """Exact k nearest of the points ``rows`` against every reference point.

    A second, float64 search: the Gram products of the centred points in float64 (error
    bound λ·√D·u₆₄·(|x| + |y|)², about 10⁻¹² relative instead of 10⁻⁴), then the usual
    bound-selected candidates verified from difference vectors. It costs about one float64
    GEMM of the rows against the reference, instead of a float64 difference vector for
    every pair (many times slower), and stays exact. Batches of rows, one pass over the
    data per batch.
    """
    m, d = ref.n, src.d
    dist2 = np.empty((rows.size, k))
    idx = np.empty((rows.size, k), dtype=np.int64)
    # the batch's float64 Gram rows and bounds (~4 arrays of batch × m) in a third of
    # the budget; the chunks of the reference in float64 in another third
    batch = max(1, min(rows.size, (budget // 3) // max(1, 32 * m)))
    chunk = max(16, min(d, (budget // 3) // max(1, 8 * (m + batch))))
    mean = ref.mean(max(1, min(4096, (budget // 4) // max(1, 8 * d))))
    for a, b in _blocks(rows.size, batch):
        q = rows[a:b]
        gram, nq, nr = _gram64_rows(src, ref, q, mean, chunk)
        d2 = nq[:, None] + nr[None, :] - 2.0 * gram
        if symmetric:
            d2[np.arange(q.size), q] = np.inf
        sq = np.sqrt(nq)[:, None] + np.sqrt(nr)[None, :]
        err = _LAMBDA * math.sqrt(d) * _U64 * sq**2
        err += 16.0 * _U64 * (nq[:, None] + nr[None, :])
        err += 8.0 * _TINY64 * (d + math.sqrt(d) * sq)  # underflow (tiny distances)
        upper_k = np.partition(d2 + err, k - 1, axis=1)[:, k - 1]
        local, pc = np.nonzero(d2 - err <= upper_k[:, None])
        del gram, d2, err
        exact = _exact_distances(src, ref, q[local], pc, symmetric, budget)
        dist2[a:b], idx[a:b] = _k_smallest(local, pc, exact, b - a, k)
    return dist2, idx


def _gram64_rows(src, ref, q: np.ndarray, mean: torch.Tensor, chunk: int):
    """float64 x_q·x_j, |x_q|², |x_j|² of the centred points (the rows ``q`` of ``src``
    against every row of ``ref``), accumulated over chunks of features."""
    dev = src.device
    gram = torch.zeros((q.size, ref.n), dtype=torch.float64, device=dev)
    nq = torch.zeros(q.size, dtype=torch.float64, device=dev)
    nr = torch.zeros(ref.n, dtype=torch.float64, device=dev)
    qt = torch.as_tensor(q)

    def f64(block: Any) -> torch.Tensor:
        t = block if isinstance(block, torch.Tensor) else torch.from_numpy(block)
        return t.to(dev, torch.float64)

    same = ref is src
    chunks = src.col_chunks(chunk) if same else zip(src.col_chunks(chunk),
                                                     ref.col_chunks(chunk))
    for item in chunks:
        (c0, c1, qb), (_, _, rb) = (item, item) if same else item
        m = mean[c0:c1]
        R = ldexp(f64(rb), -src.exp) - m
        Q = ldexp(f64(qb[qt.to(qb.device)] if isinstance(qb, torch.Tensor) else qb[q]),
                  -src.exp) - m
        gram.addmm_(Q, R.T)
        nq += torch.linalg.vecdot(Q, Q)
        nr += torch.linalg.vecdot(R, R)
        del R, Q
    return gram.cpu().numpy(), nq.cpu().numpy(), nr.cpu().numpy()
