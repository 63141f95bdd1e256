"""Exact k-nearest neighbours on torch: float32 search, float64 verification.

In low dimension a k-d tree proposes the candidates instead (:mod:`.tree`; the choice is
:mod:`.dispatch`'s), and every path works in a power-of-two frame (:mod:`.frame`) so that no
square overflows or underflows. ``executor="ray"`` spreads query blocks over Ray tasks
(:mod:`.ray`).

1. **Centre** the data (column mean in float64): the Gram trick |x|² + |y|² − 2x·y cancels
   catastrophically in float32 on uncentred data (post-ReLU activations, raw pixels).
2. **Search** with float32 matrix products, either
   - over tiles of points (each unordered pair of tiles once), keeping a running
     top-(k + extra) per point (:mod:`.topk`; a tile's rows and columns are selected on two
     threads); on the CPU each product comes from the BLAS measured fastest for tiles of
     that kind and width (:mod:`.products`); memory O(N·k + tile·D + tile²); rows narrower
     than 256 features are searched row-wise instead (every tile in both orders, blocks of
     rows on parallel threads: there the selection, not the product, is the cost); or
   - when rows are long and an N×N matrix is small (and always for memmaps): over chunks of
     features, accumulating the N×N Gram matrix in float64 (each chunk's product in float32,
     a symmetric rank-k update on the CPU); one sequential pass over a memmap, read with
     ``pread`` so the file never enters the resident set; memory O(N² + N·chunk).
3. **Select** the candidates that can still be among the k nearest given a bound on the
   float32 rounding error (the probabilistic bound λ·√d·u·|x||y| of Higham & Mary, SIAM J.
   Sci. Comput. 2019, with λ = 10, d the length of the float32 products): point j stays a
   candidate of i when its approximate d² minus the bound does not exceed the k-th smallest
   approximate d² plus the bound.
4. **Verify** every candidate pair once from float64 difference vectors (the difference of
   two float32 values is exact in float64) and sort by (distance, index), so ties break
   deterministically by index.
5. **Certify** (tile search): a point's list is exact when its k-th exact squared distance
   lies below the smallest approximate one left out, minus the bound. Points that fail, and
   on the feature-chunked path points left with many candidates (distances that
   concentrate), are searched again with float64 Gram products (bound ~10⁻¹² relative) and
   verified the same way, so the result is exact in every case.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._errors import InputError
from .._runtime import resolve_device  # one meaning of device=, re-exported here
from .._validation import check_array, check_choice, check_int
from .dispatch import ALGORITHMS, choose_algorithm, tree_possible
from .exact import _blocks, _exact_distances, _exhaustive, _k_smallest
from .frame import frame_exponent, ldexp, max_abs, unscale_distances
from .products import TileProducts
from .source import PointSource
from .topk import BestLists
from .tree import tree_search

__all__ = ["KNeighbors", "kneighbors", "resolve_device", "distance_error_bound"]

_U32 = 2.0**-24
_TINY32 = 2.0**-149
_LAMBDA = 10.0
# Rows narrower than _NARROW are searched row-wise (:func:`_search_row_wise`): the width where
# the product stops being a small part of a tile's cost, the same as :mod:`.products`' (at
# 10 000 points the two orders were even near D = 200). Below _SELECTION_BOUND features the
# selection is most of the cost and tiles are short and wide (_SHORT_ROWS × _WIDE_TILE); above
# it taller blocks of _ROW_BLOCK rows amortise the GEMM's packing of each column tile.
_NARROW = 256
_SELECTION_BOUND = 64
_SHORT_ROWS, _WIDE_TILE = 64, 16384
_ROW_BLOCK = 256
_DEFAULT_BUDGET = 192 << 20  # bytes of working memory beyond the data and the results


@dataclass(frozen=True, eq=False)
class KNeighbors:
    """Exact neighbours, self excluded: ``distances`` (N, k) float64 ascending, ``indices``
    (N, k) int64, ties broken by the smaller index. Unpacks as ``distances, indices``.

    ``n_exhaustive`` counts points whose candidate list could not be certified (or was too
    long) and that were searched again: with float64 products, or on the tree path with a
    ball query (a diagnostic; the result is exact either way).
    """

    distances: np.ndarray
    indices: np.ndarray
    n_exhaustive: int = 0

    def __iter__(self):
        return iter((self.distances, self.indices))

    @property
    def n_points(self) -> int:
        return int(self.distances.shape[0])

    @property
    def k(self) -> int:
        return int(self.distances.shape[1])

    def subset_k(self, k: int) -> KNeighbors:
        """The first ``k`` neighbours."""
        if k > self.k:
            raise InputError(f"KNeighbors.subset_k: k={k} exceeds the {self.k} stored")
        return KNeighbors(self.distances[:, :k], self.indices[:, :k], self.n_exhaustive)


def kneighbors(
    X: Any,
    k: int,
    *,
    reference: Any = None,
    device: Any = None,
    tile_size: int | None = None,
    extra: int | None = None,
    memory_budget: int = _DEFAULT_BUDGET,
    progress: bool = False,
    validate: bool = True,
    algorithm: str = "auto",
    executor: str = "local",
    address: str | None = None,
    workers: int | None = None,
) -> KNeighbors:
    """Exact k nearest neighbours of every row of ``X`` (self excluded).

    Parameters
    ----------
    X : array (N, D)
        numpy array, ``np.memmap`` (streamed from disk in blocks) or torch tensor.
    k : int
        Number of neighbours, ``1 <= k <= N - 1`` (``<= len(reference)`` with a reference).
    reference : array (M, D), optional
        Search the neighbours of each row of ``X`` among the rows of ``reference`` instead
        (no self-exclusion).
    device : str or torch.device, optional
        ``"cpu"`` (default for numpy input) or ``"cuda"``.
    tile_size : int, optional
        Points per tile; by default chosen from ``memory_budget``.
    extra : int, optional
        Extra candidates kept per point for the float64 re-ranking (default ``max(4, k // 2)``).
    memory_budget : int
        Bytes of working memory the search may use beyond its input and output.
    progress : bool
        Show a progress bar over tiles.
    algorithm : {"auto", "tree", "brute"}
        ``"tree"``: a k-d tree proposes candidates (low dimension, :mod:`.tree`);
        ``"brute"``: float32 products over tiles of points or chunks of features;
        ``"auto"``: the faster one for (N, D, k), by the measured rule of :mod:`.dispatch`.
        Every algorithm returns the same exact result.
    executor : {"local", "ray"}
        ``"ray"`` splits blocks of query rows over Ray tasks against the reference held once
        in the object store (:mod:`.ray`, with its cost model); the result is the local one.
    address, workers : optional
        Ray only: a cluster's address (default: a local instance on 127.0.0.1) and the CPUs
        of a local instance.

    Returns
    -------
    KNeighbors
        ``distances`` (float64) and ``indices`` (int64), each (N, k).
    """
    caller = "kneighbors"
    if validate:
        X = check_array(X, caller=caller, min_samples=1 if reference is not None else 2)
        if reference is not None:
            reference = check_array(reference, caller=caller, min_samples=1)
    n = int(X.shape[0])
    symmetric = reference is None
    n_ref = n if symmetric else int(reference.shape[0])
    if not symmetric and int(reference.shape[1]) != int(X.shape[1]):
        raise InputError(f"{caller}: X has {X.shape[1]} features but reference has "
                         f"{reference.shape[1]}")
    n_avail = n_ref - 1 if symmetric else n_ref
    k = check_int(k, "k", caller=caller, low=1, high=n_avail)
    algorithm = check_choice(algorithm, "algorithm", ALGORITHMS, caller=caller)
    executor = check_choice(executor, "executor", ("local", "ray"), caller=caller)
    if executor == "ray":
        return _on_ray(X, k, reference, address, workers,
                       {"algorithm": algorithm, "extra": extra, "memory_budget": memory_budget,
                        "tile_size": tile_size})
    extra = max(4, k // 2) if extra is None else check_int(extra, "extra", caller=caller, low=0)
    kk = min(k + extra, n_avail)
    dev = resolve_device(device, X)
    src = PointSource(X, dev)
    ref = src if symmetric else PointSource(reference, dev)
    d = src.d
    block_rows = max(1, min(4096, (memory_budget // 4) // max(1, 8 * d)))

    if algorithm == "auto":
        algorithm = choose_algorithm(src, ref, k, memory_budget)
    elif algorithm == "tree" and not tree_possible(src, ref, memory_budget):
        raise InputError(f"{caller}: algorithm='tree' needs CPU data that fit in memory "
                         f"(float64 copy within 4 x memory_budget)")
    long_rows = 2 * 64 * 4 * d > memory_budget // 2
    by_features = symmetric and 8 * n * n <= memory_budget // 2 and (
        src.streamed or long_rows or d > 4 * n)
    if algorithm == "tree":
        m = src.max_abs(block_rows)
        if not symmetric:
            m = max(m, ref.max_abs(block_rows))
        src.set_frame(frame_exponent(m))
        ref.set_frame(src.exp)
        # one extra candidate certifies continuous data; ties go to the ball query
        dist2, idx, n_failed = tree_search(src, ref, symmetric, k, 1, memory_budget)
    elif by_features:
        # the frame is found while the chunks stream by (no extra pass over a memmap)
        dist2, idx, n_failed = _by_features(src, ref, symmetric, k, memory_budget, progress)
    else:
        m = src.max_abs(block_rows)
        if not symmetric:
            m = max(m, ref.max_abs(block_rows))
        src.set_frame(frame_exponent(m))
        ref.set_frame(src.exp)
        dist2, idx, n_failed = _by_points(src, ref, symmetric, k, kk, memory_budget,
                                          tile_size, progress)
    distances = unscale_distances(np.sqrt(np.maximum(dist2, 0.0)), src.exp, caller)
    return KNeighbors(distances, idx.astype(np.int64, copy=False), n_failed)


def _on_ray(X, k, reference, address, workers, options) -> KNeighbors:
    from .ray import kneighbors_ray

    def host(A: Any) -> np.ndarray:
        if isinstance(A, torch.Tensor):
            return A.detach().cpu().numpy()
        return np.asarray(A)  # a memmap is read whole: each task needs the rows in memory

    dist, idx = kneighbors_ray(host(X), k, None if reference is None else host(reference),
                               search=kneighbors, address=address, workers=workers,
                               options=options)
    return KNeighbors(dist, idx)


def _by_features(src, ref, symmetric, k, budget, progress):
    n = src.n
    d2, norms, d_eff = _gram_by_features(src, budget, progress)
    # The whole approximate distance matrix is known: select each point's candidates by the
    # error bound directly; no certificate is needed.
    rows, cols = _select_from_matrix(d2, norms, d_eff, k)
    del d2
    # Where the float32 bound leaves many candidates (distances that concentrate), a float64
    # search of those rows costs less than verifying every candidate.
    count = np.bincount(rows, minlength=n)
    heavy = np.flatnonzero(count > 2 * k + 8)
    if count[heavy].sum() * 8 <= n:
        heavy = heavy[:0]
    if heavy.size:
        keep = count[rows] <= 2 * k + 8
        rows, cols = rows[keep], cols[keep]
    exact = _exact_distances(src, ref, rows, cols, symmetric, budget)
    dist2 = np.empty((n, k))
    idx = np.empty((n, k), dtype=np.int64)
    light = np.setdiff1d(np.arange(n), heavy, assume_unique=True)
    if light.size:
        dist2[light], idx[light] = _k_smallest(np.searchsorted(light, rows), cols, exact,
                                               light.size, k)
    if heavy.size:
        dist2[heavy], idx[heavy] = _exhaustive(src, ref, symmetric, heavy, k, budget)
    return dist2, idx, int(heavy.size)


def _by_points(src, ref, symmetric, k, kk, budget, tile_size, progress):
    n_avail = ref.n - 1 if symmetric else ref.n
    approx, cand, nq, nr = _search_by_points(src, ref, symmetric, kk, budget, tile_size,
                                             progress)
    # Only candidates that can still be among the k nearest, given the rounding-error bound,
    # are recomputed exactly (usually about k per point, not k + extra).
    err = distance_error_bound(nq[:, None], nr[cand], src.d)
    upper_k = np.partition(approx + err, k - 1, axis=1)[:, k - 1]  # >= true k-th smallest
    rows, slots = np.nonzero(approx - err <= upper_k[:, None])
    exact = np.full(approx.shape, np.inf)
    exact[rows, slots] = _exact_distances(src, ref, rows, cand[rows, slots], symmetric, budget)
    # sort each list by (distance, index)
    order = np.lexsort((cand, exact), axis=1)[:, :k]
    dist2 = np.take_along_axis(exact, order, axis=1)
    idx = np.take_along_axis(cand, order, axis=1)
    # Certificate: every point left out has approximate d² >= the largest one kept.
    if kk < n_avail:
        boundary = approx.max(axis=1) - distance_error_bound(nq, nr.max(), src.d)
        failed = np.flatnonzero(~(dist2[:, k - 1] < boundary))
    else:
        failed = np.zeros(0, dtype=np.int64)
    if failed.size:
        dist2[failed], idx[failed] = _exhaustive(src, ref, symmetric, failed, k, budget)
    return dist2, idx, int(failed.size)


# ----------------------------------------------------------------------------------------
# search over tiles of points
# ----------------------------------------------------------------------------------------
def _merge(best_d: torch.Tensor, best_i: torch.Tensor, rows: slice, d2: torch.Tensor,
           offset: int) -> None:
    """Running top-kk: merge a tile's candidates into the rows ``rows`` of the best lists."""
    kk = best_d.shape[1]
    kt = min(kk, d2.shape[1])
    td, ti = torch.topk(d2, kt, dim=1, largest=False, sorted=False)
    cd = torch.cat([best_d[rows], td], dim=1)
    ci = torch.cat([best_i[rows], ti + offset], dim=1)
    md, mi = torch.topk(cd, kk, dim=1, largest=False, sorted=False)
    best_d[rows] = md
    best_i[rows] = torch.gather(ci, 1, mi)


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="tile", leave=False)


def _norms(src: PointSource, mean: torch.Tensor, block: int) -> torch.Tensor:
    """Squared norms of the centred float32 rows (:func:`_squared_norms`)."""
    out = torch.empty(src.n, dtype=torch.float64, device=src.device)
    for a, b in _blocks(src.n, block):
        out[a:b] = _squared_norms(src.centred_rows(a, b, mean)).double()
    return out


def _squared_norms(C: torch.Tensor) -> torch.Tensor:
    """|x|² of each float32 row as the square of torch's 2-norm, which on the CPU is many
    times faster than a row-wise dot product. Its error is the float32 sum's (of the order
    of the Gram product's) plus about 2u·|x|² from the square root and the square, within
    the rounding allowance 16u·(|x|² + |y|²) of :func:`distance_error_bound`."""
    return torch.linalg.vector_norm(C, dim=1).square_()


def _search_by_points(src, ref, symmetric, kk, budget, tile_size, progress):
    """Running top-kk over tiles of points; returns numpy (approx d², indices, |q|², |r|²)."""
    d = src.d
    if tile_size is None:
        # two float32 row blocks (B×D) plus ~3 float32 B×B tiles within the budget
        tile = int((-2 * d + math.sqrt(4 * d * d + 12 * budget / 4)) / 6)
        tile = max(32, min(2048, tile))
    else:
        tile = check_int(tile_size, "tile_size", caller="kneighbors", low=1)
    stream_block = max(1, min(4096, (budget // 4) // max(1, 8 * d)))
    # Centre both sets on the same mean (the reference's when there is one) so that
    # differences are unchanged.
    mean = ref.mean(stream_block)
    dev = src.device
    if (dev.type == "cpu" and d < _NARROW
            and 4 * d * (src.n + (0 if symmetric else ref.n)) <= budget // 2):
        rows, cols = (_SHORT_ROWS, _WIDE_TILE) if d < _SELECTION_BOUND else (_ROW_BLOCK, tile)
        if tile_size is not None:
            cols = tile
        return _search_row_wise(src, ref, symmetric, kk, rows, cols, mean,
                                progress)  # own norms
    if symmetric:
        # the norms of each block are taken when the block is first centred for a tile
        # (every block is, in the first row of tiles): no separate pass over the data
        nq = torch.empty(src.n, dtype=torch.float64, device=dev)
        nq32 = torch.empty(src.n, dtype=torch.float32, device=dev)
        nr, nr32 = nq, nq32
    else:
        nq = _norms(src, mean, stream_block)
        nr = _norms(ref, mean, stream_block)
        nq32, nr32 = nq.float(), nr.float()

    def first_norms(C: torch.Tensor, a: int) -> None:
        nq32[a : a + C.shape[0]] = _squared_norms(C)
        nq[a : a + C.shape[0]] = nq32[a : a + C.shape[0]]

    on_cpu = dev.type == "cpu"
    if on_cpu:
        best = BestLists(src.n, kk)
        product = TileProducts(d, min(tile, src.n), min(tile, ref.n))
    else:
        best_d = torch.full((src.n, kk), math.inf, dtype=torch.float32, device=dev)
        best_i = torch.zeros((src.n, kk), dtype=torch.long, device=dev)
    qblocks, rblocks = _blocks(src.n, tile), _blocks(ref.n, tile)
    total = len(qblocks) * (len(qblocks) + 1) // 2 if symmetric else len(qblocks) * len(rblocks)
    # two reusable row-block buffers: fresh multi-MB tensors for every tile pair would
    # fragment the allocator and grow the resident set
    buf_i = torch.empty((min(tile, src.n), d), dtype=torch.float32, device=dev)
    buf_j = torch.empty((min(tile, ref.n), d), dtype=torch.float32, device=dev)
    buf_d2 = torch.empty(min(tile, src.n) * min(tile, ref.n), dtype=torch.float32, device=dev)
    with _progress(total, progress, "neighbours") as bar, ThreadPoolExecutor(1) as pool:
        for bi, (a, b) in enumerate(qblocks):
            Ci = src.centred_rows(a, b, mean, out=buf_i)
            if symmetric and bi == 0:
                first_norms(Ci, a)
            for c, e in rblocks[bi:] if symmetric else rblocks:
                Cj = Ci if (symmetric and c == a) else ref.centred_rows(c, e, mean, out=buf_j)
                if symmetric and bi == 0 and c != a:
                    first_norms(Cj, c)
                # |x|² + |y|² − 2 x·y: the bias written into the reused tile, then one GEMM
                # call adds to it (beta = 1)
                d2 = buf_d2[: (b - a) * (e - c)].view(b - a, e - c)
                torch.add(nq32[a:b, None], nr32[None, c:e], out=d2)
                if on_cpu:
                    product(d2, Ci, Cj, symmetric and c == a)
                else:
                    d2.addmm_(Ci, Cj.T, alpha=-2.0)
                if symmetric and c == a:
                    d2.fill_diagonal_(math.inf)
                if on_cpu:
                    tile_np = d2.numpy()
                    # the columns update other points' lists than the rows: the two
                    # selections run side by side (numpy releases the GIL in its loops)
                    cols = (pool.submit(best.update, c, e, tile_np, a, 0)
                            if symmetric and c != a else None)
                    best.update(a, b, tile_np, offset=c, axis=1)
                    if cols is not None:
                        cols.result()
                else:
                    _merge(best_d, best_i, slice(a, b), d2, c)
                    if symmetric and c != a:
                        _merge(best_d, best_i, slice(c, e), d2.T.contiguous(), a)
                bar.update(1)
    if on_cpu:
        approx, cand = best.d.astype(np.float64), best.i
    else:
        approx, cand = best_d.double().cpu().numpy(), best_i.cpu().numpy()
    return approx, cand, nq.cpu().numpy(), nr.cpu().numpy()


def _search_row_wise(src, ref, symmetric, kk, block, tile, mean, progress):
    """Narrow rows (D < _NARROW): every tile (i, j), both orders of a pair when symmetric,
    each selected along its rows only, blocks of rows on parallel threads.

    At such widths a tile's product costs less than its selection, so computing each
    symmetric pair twice costs less than the symmetric order's column selection (strided,
    and on one extra thread that the main thread waits for). Blocks of ``block`` rows against
    tiles of ``tile`` columns; short, wide tiles (64 × 16 384 float32, 4 MB) make most rows'
    selection a single pass of :class:`.BestLists`' group minima, with few later merges.
    Scratch timings (the messages of commit 2ae7284 and of the change to 64 × 16 384 tiles):
    1.5–2× faster than the symmetric order, and the selection 1.5–1.8× faster again than
    with 256 × 2 048 tiles below 64 features.
    """
    Cq = src.centred_rows(0, src.n, mean)  # whole: N·D float32 fits in the budget here
    Cr = Cq if symmetric else ref.centred_rows(0, ref.n, mean)
    nq32 = _squared_norms(Cq)
    nr32 = nq32 if symmetric else _squared_norms(Cr)
    best = BestLists(src.n, kk)
    qblocks, rblocks = _blocks(src.n, block), _blocks(ref.n, tile)
    threads = torch.get_num_threads()

    def rows(a: int, b: int, bar) -> None:
        buf = torch.empty((b - a) * min(tile, ref.n), dtype=torch.float32)
        for c, e in rblocks:
            d2 = buf[: (b - a) * (e - c)].view(b - a, e - c)
            torch.add(nq32[a:b, None], nr32[None, c:e], out=d2)
            d2.addmm_(Cq[a:b], Cr[c:e].T, alpha=-2.0)
            if symmetric and max(a, c) < min(b, e):  # the points themselves
                own = torch.arange(max(a, c), min(b, e))
                d2[own - a, own - c] = math.inf
            best.update(a, b, d2.numpy(), offset=c, axis=1)  # disjoint rows per thread
            bar.update(1)

    # One torch thread per worker while the workers run: each worker's torch calls would
    # otherwise start a team of `threads` on the same cores (whose threads spin after each
    # call). Restored on every exit.
    torch.set_num_threads(1)
    try:
        with (_progress(len(qblocks) * len(rblocks), progress, "neighbours") as bar,
              ThreadPoolExecutor(max(1, min(len(qblocks), threads))) as pool):
            list(pool.map(lambda ab: rows(*ab, bar), qblocks))
    finally:
        torch.set_num_threads(threads)
    return (best.d.astype(np.float64), best.i, nq32.double().numpy(), nr32.double().numpy())


def distance_error_bound(nq: Any, nr: Any, d_eff: int) -> Any:
    """Bound on |approximate − exact| squared distance between centred points with squared
    norms ``nq`` and ``nr`` (numpy arrays or tensors): each of the three float32 products
    |x|², |y|², x·y of length ``d_eff`` errs by at most λ·√d_eff·u·|x||y| (Higham & Mary),
    so together by λ·√d_eff·u·(|x| + |y|)², plus the rounding of their sum; and the
    absolute errors of float32 underflow (2^-149 per product and per rounded coordinate),
    which matter only for points within ~1e-19 of each other in the engine's frame."""
    sq = nq**0.5 + nr**0.5
    gram = _LAMBDA * math.sqrt(d_eff) * _U32 * sq**2
    return gram + 16.0 * _U32 * (nq + nr) + 8.0 * _TINY32 * (d_eff + math.sqrt(d_eff) * sq)


# ----------------------------------------------------------------------------------------
# search over chunks of features (long rows, small N; one sequential pass over a memmap)
# ----------------------------------------------------------------------------------------
def _col_chunk(n: int, d: int, budget: int) -> int:
    """Features per chunk: the N×N float64 Gram matrix and its float32 product, plus three
    N×chunk float32 arrays (a centred copy or two alternating read buffers) in the budget."""
    return max(64, min(d, (budget - 12 * n * n) // max(1, 12 * n)))


def _gram_by_features(src: PointSource, budget: int, progress: bool):
    """Approximate squared distances (N×N, float64, diagonal +inf) from the Gram matrix of
    the centred data, accumulated in float64 over chunks of features (each chunk's product
    in float32: the error bound then has √chunk, not √D). Returns (d², |x|², chunk), numpy.

    On the CPU each chunk's product is a symmetric rank-k update (``C @ C.T`` on one
    array is BLAS ``syrk``: half the multiplications of a general product).
    """
    n, d = src.n, src.d
    chunk = _col_chunk(n, d, budget)
    spans = _blocks(d, chunk)
    if src.device.type == "cpu" and not src.is_torch:
        gram = np.zeros((n, n))
        # The frame (power-of-two scale) of the chunks seen so far; when a chunk raises it,
        # the Gram accumulated so far is rescaled (exactly) into the new frame.
        top, e = 0.0, 0
        with _progress(len(spans), progress, "neighbours") as bar:
            for _, _, block in src.col_chunks(chunk):
                top = max(top, max_abs(block))
                if frame_exponent(top) != e:
                    np.ldexp(gram, 2 * (e - frame_exponent(top)), out=gram)
                    e = frame_exponent(top)
                own = src.streamed  # our own read buffer: may be modified in place
                if e:
                    block, own = ldexp(block, -e), True
                mean = np.add.reduce(block, axis=0, dtype=np.float64) / n
                if block.dtype == np.float64:
                    c32 = (block - mean).astype(np.float32)
                elif own and block.dtype == np.float32:
                    c32 = block  # centre in place
                    c32 -= mean.astype(np.float32)
                else:
                    c32 = np.subtract(block, mean.astype(np.float32), dtype=np.float32)
                gram += c32 @ c32.T
                del c32, block
                bar.update(1)
        src.set_frame(e)
        norms = np.diagonal(gram).copy()
    else:
        src.set_frame(frame_exponent(src.max_abs(max(1, (budget // 4) // max(1, 8 * d)))))
        gram_t = torch.zeros((n, n), dtype=torch.float64, device=src.device)
        # only the row-block pairs on or above the diagonal are multiplied (10 of 16)
        rb = _blocks(n, -(-n // max(1, min(4, n // 256))))
        with _progress(len(spans), progress, "neighbours") as bar:
            for c0, c1 in spans:
                x32 = src.centred_cols(c0, c1)
                for i, (a, b) in enumerate(rb):
                    for c, e in rb[i:]:
                        # float64 accumulation of a contiguous float64 product (a mixed-
                        # dtype add into a strided view is many times slower)
                        gram_t[a:b, c:e].add_((x32[a:b] @ x32[c:e].T).double())
                del x32
                bar.update(1)
        for i, (a, b) in enumerate(rb):
            for c, e in rb[i + 1 :]:
                gram_t[c:e, a:b] = gram_t[a:b, c:e].T
        gram = gram_t.cpu().numpy()
        norms = np.diagonal(gram).copy()
    d2 = gram
    d2 *= -2.0
    d2 += norms[:, None]
    d2 += norms[None, :]
    np.fill_diagonal(d2, np.inf)
    return d2, norms, min(chunk, d)


def _select_from_matrix(D2: np.ndarray, nrm: np.ndarray, d_eff: int, k: int):
    """Pairs (i, j), sorted by i, whose approximate d² minus its error bound does not exceed
    the k-th smallest upper bound of row i: a superset of every row's k nearest."""
    rows, cols = [], []
    for a, b in _blocks(D2.shape[0], 512):
        err = distance_error_bound(nrm[a:b, None], nrm[None, :], d_eff)
        upper_k = np.partition(D2[a:b] + err, k - 1, axis=1)[:, k - 1]
        r, c = np.nonzero(D2[a:b] - err <= upper_k[:, None])
        rows.append(r + a)
        cols.append(c)
    return np.concatenate(rows), np.concatenate(cols)
