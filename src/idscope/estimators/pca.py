"""PCA-ID: the number of principal components needed for a fraction of the variance."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._errors import InputError
from .._validation import check_array
from ..neighbors import PointSource
from ..neighbors.frame import frame_exponent, max_abs
from ._base import BaseEstimator
from ._result import IDResult

__all__ = ["pca_id", "PCAID", "pca_spectrum", "components_for_variance"]


_BUDGET = 256 << 20  # bytes of float64 blocks read at a time


def pca_spectrum(X: Any, *, standardize: bool = False, budget: int = _BUDGET) -> np.ndarray:
    """Eigenvalues (descending) of the sample covariance of ``X``, in float64.

    Uses the D×D covariance when D ≤ N and the N×N Gram matrix otherwise (same non-zero
    spectrum), accumulated in float64 over row blocks (covariance) or feature chunks (Gram)
    of about ``budget`` bytes, so a memmap streams from disk (``pread``, nothing stays
    mapped) whatever its size. Zero-variance features stay zero under ``standardize``.
    Data far from 1 are summed in a power-of-two frame (exact); eigenvalues outside the
    float64 range are then ``inf`` or 0 (PCA-ID itself uses the frame's spectrum).
    """
    src = PointSource(X, torch.device("cpu"))
    e = _frame(src, budget)
    ev = _spectrum(src, None, standardize, budget, e)
    if e and not standardize:
        with np.errstate(over="ignore"):
            ev = np.ldexp(ev, 2 * e)
    return ev


def _frame(src: PointSource, budget: int) -> int:
    """The power-of-two exponent e of the kNN engine's frame (``neighbors.frame``): sums of
    squares of ``x·2^-e`` neither overflow (data near 1e154) nor underflow (near 1e-300)."""
    step = max(1, budget // (16 * src.d))
    m = 0.0
    for a in range(0, src.n, step):
        block = src.rows_np(a, min(a + step, src.n))
        m = max(m, max_abs(block.detach().cpu().numpy() if isinstance(block, torch.Tensor)
                           else block, caller="pca_id"))
    return frame_exponent(m)


def _spectrum(src: PointSource, counts: np.ndarray | None, standardize: bool, budget: int,
              e: int = 0) -> np.ndarray:
    """The spectrum of the rows of ``src``, row i taken ``counts[i]`` times (a bootstrap
    resample, never built: every sum is weighted by the counts; None: each row once).

    Weighted covariance Σᵢ wᵢ zᵢ zᵢᵀ = Σᵢ (√wᵢ zᵢ)(√wᵢ zᵢ)ᵀ with zᵢ = (xᵢ - m)/s and
    m = Σ wᵢ xᵢ / Σ wᵢ; the Gram form uses the same √wᵢ-scaled rows (same non-zero
    spectrum), keeping only rows with wᵢ > 0.
    """
    n, d = src.n, src.d
    w = None if counts is None else counts.astype(np.float64)
    total = n if w is None else int(counts.sum())
    step = max(1, budget // (16 * d))

    def rows(a: int) -> np.ndarray:
        block = src.rows_np(a, min(a + step, n))
        block = block.detach().cpu().numpy() if isinstance(block, torch.Tensor) else block
        return np.ldexp(block, -e, dtype=np.float64) if e else block.astype(np.float64)

    def centred(a: int) -> np.ndarray:  # in place: one float64 block at a time in memory
        z = rows(a)
        z -= mean
        return z

    # weighted sums as products with the count vector: no weighted copy of a block
    mean = sum(rows(a).sum(0) if w is None else w[a:a + step] @ rows(a)
               for a in range(0, n, step)) / total
    scale = np.ones(d)
    if standardize:
        sq = np.zeros(d)
        for a in range(0, n, step):
            z = centred(a)
            z *= z
            sq += z.sum(0) if w is None else w[a:a + step] @ z
        std = np.sqrt(sq / max(total - 1, 1))
        scale = np.where(std > 0, std, 1.0)
    if d <= n:
        cov = np.zeros((d, d))
        root = None if w is None else np.sqrt(w)
        for a in range(0, n, step):
            z = centred(a)
            z /= scale
            if root is not None:
                z *= root[a:a + len(z), None]
            cov += z.T @ z  # one operand twice: numpy's symmetric product, ~10x a general one
        ev = np.linalg.eigvalsh(cov)
    else:
        keep = None if w is None else np.flatnonzero(w)
        root = None if w is None else np.sqrt(w[keep])[:, None]
        m = n if keep is None else keep.size
        gram = np.zeros((m, m))
        for c, e_, block in src.col_chunks(max(1, budget // (16 * n))):
            block = block.detach().cpu().numpy() if isinstance(block, torch.Tensor) else block
            if keep is not None:
                block = block[keep]
            z = np.ldexp(block, -e, dtype=np.float64) if e else block.astype(np.float64)
            z -= mean[c:e_]
            z /= scale[c:e_]
            if root is not None:
                z *= root
            gram += z @ z.T
        ev = np.linalg.eigvalsh(gram)
    return np.clip(ev[::-1], 0.0, None) / max(total - 1, 1)


def components_for_variance(eigenvalues: np.ndarray, threshold: float) -> int:
    """Smallest m with Σ_{i≤m} λ_i ≥ threshold · Σ λ_i (a count, not Ansuini's 0-based index,
    which is one less)."""
    total = eigenvalues.sum()
    if not total > 0:
        raise InputError("pca_id: all points are identical (zero variance)")
    frac = np.cumsum(eigenvalues) / total
    return int(np.searchsorted(frac, threshold - 1e-12) + 1)


def pca_id(
    X: Any, *, threshold: float = 0.9, standardize: bool = False, n_bootstrap: int = 20,
    seed: int = 0,
) -> IDResult:
    """Linear ID: principal components explaining ``threshold`` of the variance.

    Ansuini et al. (2019) standardise features and use 90 %; their code reports the count
    minus one (a 0-based index); this returns the count itself. The standard error and the
    percentile interval come from a seeded bootstrap over points (``n_bootstrap=0``
    disables it: NaN); a resample is a vector of counts weighting the streamed sums, never
    a copy of the data (a memmap stays on disk).
    """
    caller = "pca_id"
    if not 0 < threshold <= 1:
        raise InputError(f"{caller}: threshold={threshold} must be in (0, 1]")
    X = check_array(X, caller=caller, min_samples=2)
    src = PointSource(X, torch.device("cpu"))
    e = _frame(src, _BUDGET)  # the count depends only on ratios: the frame's spectrum serves
    m = components_for_variance(_spectrum(src, None, standardize, _BUDGET, e), threshold)
    boot = []
    if n_bootstrap:
        rng = np.random.default_rng(seed)
        n = int(X.shape[0])
        for _ in range(n_bootstrap):
            # the same draws as indexing X[sort(idx)]: row i appears counts[i] times
            counts = np.bincount(rng.integers(0, n, n), minlength=n)
            ev = _spectrum(src, counts, standardize, _BUDGET, e)
            boot.append(components_for_variance(ev, threshold) if ev.sum() > 0 else m)
    if boot:
        se = float(np.std(boot, ddof=1))
        lo, hi = (float(v) for v in np.percentile(boot, [2.5, 97.5]))
    else:
        se = lo = hi = float("nan")
    return IDResult("pca", float(m), se, lo, hi, int(X.shape[0]), 0,
                    {"threshold": threshold, "standardize": standardize,
                     "interval": f"bootstrap({n_bootstrap})"})


class PCAID(BaseEstimator):
    """Scikit-learn-style wrapper of :func:`pca_id`; the estimate is ``dimension_``."""

    _function = staticmethod(pca_id)

    def __init__(self, *, threshold: float = 0.9, standardize: bool = False,
                 n_bootstrap: int = 20, seed: int = 0):
        self.threshold = threshold
        self.standardize = standardize
        self.n_bootstrap = n_bootstrap
        self.seed = seed
