"""Exact k-nearest neighbours on torch: tiled float32 search, float64 verification.

1. **Centre** the data (column mean in float64): the Gram trick |x|² + |y|² − 2x·y cancels
   catastrophically in float32 on uncentred data (post-ReLU activations, raw pixels).
2. **Search** with float32 matrix products and a running top-(k + extra) per point, either
   over tiles of points (each unordered pair of tiles once) or, when rows are very long and
   an N×N matrix is small, over chunks of features accumulating the N×N Gram matrix (one
   sequential pass over a memmap). Memory stays O(N·k + tile²) resp. O(N² + N·chunk).
3. **Verify**: recompute every candidate's distance from difference vectors with float64
   accumulation and sort by (distance, index), so ties break deterministically by index.
4. **Certify**: a point's list is exact when its k-th exact squared distance lies below the
   smallest approximate squared distance left out, minus a bound on the float32 rounding
   error (the probabilistic bound λ·√D·u·|x||y| of Higham & Mary, SIAM J. Sci. Comput. 2019,
   with λ = 10). Points that fail are searched exhaustively in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._errors import InputError
from .._validation import check_array, check_int
from ._source import PointSource

__all__ = ["KNeighbors", "kneighbors"]

_U32 = 2.0**-24
_LAMBDA = 10.0
_DEFAULT_BUDGET = 192 << 20  # bytes of working memory beyond the data and the results


@dataclass(frozen=True, eq=False)
class KNeighbors:
    """Exact neighbours, self excluded: ``distances`` (N, k) float64 ascending, ``indices``
    (N, k) int64, ties broken by the smaller index. Unpacks as ``distances, indices``.

    ``n_exhaustive`` counts points whose candidate list could not be certified and that were
    searched exhaustively in float64 (a diagnostic; the result is exact either way).
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


def _resolve_device(device: Any, X: Any) -> torch.device:
    if device is None:
        if isinstance(X, torch.Tensor):
            return X.device
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("kneighbors: device='cuda' requested but CUDA is not available")
    return dev


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
    extra = max(4, k // 2) if extra is None else check_int(extra, "extra", caller=caller, low=0)
    kk = min(k + extra, n_avail)
    dev = _resolve_device(device, X)
    src = PointSource(X, dev)
    ref = src if symmetric else PointSource(reference, dev)
    d = src.d

    gram_bytes = 8 * n * n
    long_rows = 2 * 64 * 4 * d > memory_budget // 2
    by_features = symmetric and gram_bytes <= memory_budget // 2 and (
        src.streamed or long_rows or d > 4 * n)
    if by_features:
        approx, cand, nq, nr, d_eff = _search_by_features(src, kk, memory_budget, progress)
    else:
        approx, cand, nq, nr, d_eff = _search_by_points(src, ref, symmetric, kk, memory_budget,
                                                        tile_size, progress)

    # Only candidates that can still be among the k nearest, given the rounding-error bound,
    # are recomputed exactly (usually k per point, not k + extra).
    a = approx.double()
    err = _bound(nq[:, None], nr[cand], d_eff)
    upper_k = torch.kthvalue(a + err, k, dim=1).values  # >= the true k-th smallest
    rows, slots = torch.nonzero((a - err) <= upper_k[:, None], as_tuple=True)
    cols = cand[rows, slots]
    inverse = None
    if symmetric:  # d(i, j) = d(j, i): compute each unordered pair once
        keys, inverse = torch.unique(torch.minimum(rows, cols) * n + torch.maximum(rows, cols),
                                     return_inverse=True)
        rows, cols = keys // n, keys % n
    pair_d2 = _pairs_by_features if by_features else _pairs_by_points
    d2 = pair_d2(src, ref, rows, cols, memory_budget)
    exact = torch.full_like(a, math.inf)
    exact[torch.nonzero((a - err) <= upper_k[:, None], as_tuple=True)] = (
        d2 if inverse is None else d2[inverse])

    # Sort by (distance, index): order by index first, then a stable sort by distance.
    order = torch.argsort(cand, dim=1)
    cand = torch.gather(cand, 1, order)
    exact = torch.gather(exact, 1, order)
    order = torch.sort(exact, dim=1, stable=True).indices
    cand = torch.gather(cand, 1, order)[:, :k]
    exact = torch.gather(exact, 1, order)[:, :k]

    # Every left-out point had approximate d² >= the largest kept one.
    if kk < n_avail:
        boundary = a.max(dim=1).values - _bound(nq, nr.max(), d_eff)
        failed = torch.nonzero(~(exact[:, k - 1] < boundary)).flatten()
    else:
        failed = torch.zeros(0, dtype=torch.long, device=exact.device)
    if failed.numel():
        rows_np = failed.cpu().numpy()
        e_d2, e_idx = _exhaustive(src, ref, symmetric, rows_np, k, memory_budget)
        exact[failed] = e_d2.to(exact.device)
        cand[failed] = e_idx.to(cand.device)

    distances = exact.clamp_min_(0).sqrt_().cpu().numpy()
    indices = cand.cpu().numpy().astype(np.int64, copy=False)
    return KNeighbors(distances, indices, int(failed.numel()))


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


def _blocks(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="tile", leave=False)


def _norms(src: PointSource, mean: torch.Tensor, block: int) -> torch.Tensor:
    """Squared norms of the centred float32 rows (float32 sums: their rounding error is of
    the order of the Gram product's and is covered by :func:`_bound`)."""
    out = torch.empty(src.n, dtype=torch.float64, device=src.device)
    for a, b in _blocks(src.n, block):
        c = src.centred_rows(a, b, mean)
        out[a:b] = torch.linalg.vecdot(c, c).double()
    return out


def _search_by_points(src, ref, symmetric, kk, budget, tile_size, progress):
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
    nq = _norms(src, mean, stream_block)
    nr = nq if symmetric else _norms(ref, mean, stream_block)
    nq32, nr32 = nq.float(), nr.float()
    dev = src.device
    best_d = torch.full((src.n, kk), math.inf, dtype=torch.float32, device=dev)
    best_i = torch.zeros((src.n, kk), dtype=torch.long, device=dev)
    qblocks, rblocks = _blocks(src.n, tile), _blocks(ref.n, tile)
    total = len(qblocks) * (len(qblocks) + 1) // 2 if symmetric else len(qblocks) * len(rblocks)
    with _progress(total, progress, "neighbours") as bar:
        for bi, (a, b) in enumerate(qblocks):
            Ci = src.centred_rows(a, b, mean)
            for c, e in rblocks[bi:] if symmetric else rblocks:
                Cj = Ci if (symmetric and c == a) else ref.centred_rows(c, e, mean)
                d2 = Ci @ Cj.T
                d2.mul_(-2.0).add_(nq32[a:b, None]).add_(nr32[None, c:e])
                if symmetric and c == a:
                    d2.fill_diagonal_(math.inf)
                _merge(best_d, best_i, slice(a, b), d2, c)
                if symmetric and c != a:
                    _merge(best_d, best_i, slice(c, e), d2.T, a)
                bar.update(1)
    return best_d, best_i, nq, nr, d


def _bound(nq: torch.Tensor, nr: torch.Tensor, d_eff: int) -> torch.Tensor:
    """Bound on |approximate − exact| squared distance between centred points with squared
    norms ``nq`` and ``nr``: each of the three float32 products |x|², |y|², x·y of length
    ``d_eff`` errs by at most λ·√d_eff·u·|x||y| (Higham & Mary), so together by
    λ·√d_eff·u·(|x| + |y|)², plus the rounding of their sum."""
    gram = _LAMBDA * math.sqrt(d_eff) * _U32 * (nq.sqrt() + nr.sqrt()).square()
    return gram + 16.0 * _U32 * (nq + nr)


def _pairs_by_points(src, ref, rows, cols, budget) -> torch.Tensor:
    """Exact squared distances of pairs (rows[p], cols[p]) from float64 difference vectors."""
    out = torch.empty(rows.numel(), dtype=torch.float64, device=rows.device)
    step = max(1, (budget // 2) // max(1, 16 * src.d))
    rows_np, cols_np = rows.cpu().numpy(), cols.cpu().numpy()
    for a, b in _blocks(rows.numel(), step):
        xc = ref.raw_take(cols_np[a:b], torch.float64)
        xc.sub_(src.raw_take(rows_np[a:b], src.dtype))  # float64 arithmetic: exact
        out[a:b] = torch.linalg.vecdot(xc, xc)
    return out


# ----------------------------------------------------------------------------------------
# search over chunks of features (long rows, small N; one sequential pass over a memmap)
# ----------------------------------------------------------------------------------------
def _col_chunk(n: int, d: int, budget: int) -> int:
    return max(64, min(d, (budget // 2) // max(1, 12 * n)))


def _search_by_features(src, kk, budget, progress):
    n, d = src.n, src.d
    chunk = _col_chunk(n, d, budget)
    dev = src.device
    gram = torch.zeros((n, n), dtype=torch.float64, device=dev)
    norms = torch.zeros(n, dtype=torch.float64, device=dev)
    # Four row blocks: only the 10 block pairs on or above the diagonal are multiplied.
    rb = _blocks(n, max(1, -(-n // 4)))
    chunks = _blocks(d, chunk)
    with _progress(len(chunks), progress, "neighbours") as bar:
        for c0, c1 in chunks:
            x32 = src.centred_cols(c0, c1)
            norms += torch.linalg.vecdot(x32, x32).double()
            for i, (a, b) in enumerate(rb):
                for c, e in rb[i:]:
                    gram[a:b, c:e] += (x32[a:b] @ x32[c:e].T).double()
            bar.update(1)
    for i, (a, b) in enumerate(rb):
        for c, e in rb[i + 1 :]:
            gram[c:e, a:b] = gram[a:b, c:e].T
    d2 = gram.mul_(-2.0).add_(norms[:, None]).add_(norms[None, :])
    d2.fill_diagonal_(math.inf)
    approx, cand = torch.topk(d2, kk, dim=1, largest=False)
    del d2, gram
    return approx.float(), cand, norms, norms, min(chunk, d)


def _pairs_by_features(src, ref, rows, cols, budget) -> torch.Tensor:
    """As :func:`_pairs_by_points`, accumulated over chunks of features (one pass)."""
    chunk = _col_chunk(src.n, src.d, budget)
    out = torch.zeros(rows.numel(), dtype=torch.float64, device=rows.device)
    step = max(1, (budget // 4) // max(1, 24 * chunk))
    for c0, c1 in _blocks(src.d, chunk):
        x = src.raw_cols(c0, c1, src.dtype)
        for a, b in _blocks(rows.numel(), step):
            diff = x[cols[a:b]].double().sub_(x[rows[a:b]])  # float64 arithmetic: exact
            out[a:b] += torch.linalg.vecdot(diff, diff)
    return out


# ----------------------------------------------------------------------------------------
# exhaustive float64 fallback for uncertified points
# ----------------------------------------------------------------------------------------
def _exhaustive(src, ref, symmetric, rows: np.ndarray, k: int, budget: int):
    d = src.d
    dev = src.device
    d2 = torch.empty((len(rows), ref.n), dtype=torch.float64, device=dev)
    step = max(1, (budget // 2) // max(1, 8 * d))
    for qi, r in enumerate(rows):
        xq = src.raw_take(np.array([r]), torch.float64)
        for a, b in _blocks(ref.n, step):
            x = ref.raw_rows(a, b, torch.float64, copy=True)
            x.sub_(xq)
            d2[qi, a:b] = x.square_().sum(1)
        if symmetric:
            d2[qi, r] = math.inf
    vals, idx = torch.sort(d2, dim=1, stable=True)
    return vals[:, :k], idx[:, :k]
