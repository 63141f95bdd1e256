"""Centred kernel alignment (CKA) between representations of the same samples.

Linear CKA (Kornblith et al., ICML 2019), with A and B centred column-wise:

    CKA(A, B) = ‖BᵀA‖²_F / (‖AᵀA‖_F ‖BᵀB‖_F) = HSIC(K, L) / √(HSIC(K, K) HSIC(L, L)),

K = AAᵀ, L = BBᵀ. The debiased variant (Nguyen, Raghu & Kornblith, ICLR 2021) replaces HSIC
by the unbiased estimator of Song et al. (JMLR 2012), with K̃, L̃ the kernels with zeroed
diagonals:

    HSIC₁(K, L) = [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1 / ((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3)).

On centred data every term follows from t_AB = ‖AᵀB‖²_F and the row norms a_i = ‖A_i‖²:
tr(K̃L̃) = t_AB − Σ a_i b_i, 1ᵀK̃1 = −Σ a_i, 1ᵀK̃L̃1 = Σ a_i b_i. t_AB is accumulated in
float64 within a memory budget, after one pass for the column means, in one of three ways:

- feature space (narrow layers): Σ over blocks of samples of A_bᵀB_b, a D_A × D_B matrix;
- sample space (wide layers): each layer's centred N × N Gram K_c accumulated over chunks of
  features (one pass over the layer, read ahead from disk for memmaps), t_AB = ⟨K_c, L_c⟩_F;
  a layer × layer matrix keeps the Grams while they fit the budget together;
- sample space by blocks (when even N × N does not fit): Σ over pairs of row blocks of
  ⟨A_I A_Jᵀ, B_I B_Jᵀ⟩_F, so only blocks of the kernels are ever held.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._errors import InputError
from .._validation import check_array, check_choice, check_int
from ..neighbors import PointSource
from ._layers import LayerMatrix, layer_arrays

__all__ = ["cka", "cka_from_statistics", "cka_matrix", "CKA_METHODS"]

CKA_METHODS = ("auto", "features", "samples")
_DEFAULT_BUDGET = 256 << 20  # bytes of working memory (Gram matrices and row blocks)


@dataclass(frozen=True)
class _Layer:
    """One representation: its rows, column mean, ‖AᵀA‖²_F and squared row norms (centred),
    and its centred N × N Gram matrix when it is kept for the sample-space path."""

    src: PointSource
    mean: np.ndarray
    self_term: float
    row_norms: np.ndarray
    gram: np.ndarray | None = None


def cka_from_statistics(t_ab: float, t_aa: float, t_bb: float, a: np.ndarray, b: np.ndarray,
                        *, debiased: bool = False) -> float:
    """CKA from t_XY = ‖XᵀY‖²_F of the centred data and the squared row norms ``a``, ``b``
    (see the module docstring for the formulas)."""
    if not debiased:
        den = math.sqrt(t_aa * t_bb)
        return float(t_ab / den) if den > 0 else float("nan")
    n = a.size
    if n < 4:
        raise InputError(f"cka: the debiased estimator needs at least 4 samples, got {n}")
    h_aa, h_bb = _hsic1(t_aa, a, a), _hsic1(t_bb, b, b)
    if not (h_aa > 0 and h_bb > 0):
        return float("nan")
    return float(_hsic1(t_ab, a, b) / math.sqrt(h_aa * h_bb))


def _hsic1(t: float, a: np.ndarray, b: np.ndarray) -> float:
    n = a.size
    ab = float(a @ b)
    return (t - ab + a.sum() * b.sum() / ((n - 1) * (n - 2)) - 2.0 * ab / (n - 2)) / (
        n * (n - 3))


def cka(
    A: Any,
    B: Any,
    *,
    debiased: bool = False,
    method: str = "auto",
    memory_budget: int = _DEFAULT_BUDGET,
) -> float:
    """Linear CKA between two representations of the same N samples.

    Parameters
    ----------
    A, B : array (N, D_A), (N, D_B)
        numpy arrays, memmaps (streamed in row blocks) or torch tensors; row i of each is
        sample i.
    debiased : bool
        Use the unbiased HSIC estimator (Song et al. 2012; needs N >= 4).
    method : {"auto", "features", "samples"}
        Accumulate ‖AᵀB‖²_F in feature space (D_A × D_B Gram) or in sample space (N × N
        kernels, or pairs of their row blocks when N × N does not fit); ``"auto"`` takes the
        cheaper one that fits ``memory_budget``.
    memory_budget : int
        Bytes of working memory for Gram matrices and row blocks.

    Returns
    -------
    float
        CKA in [0, 1] (the debiased value can be slightly negative); invariant to orthogonal
        transforms and isotropic scaling of either representation.
    """
    caller = "cka"
    check_choice(method, "method", CKA_METHODS, caller=caller)
    budget = check_int(memory_budget, "memory_budget", caller=caller, low=1 << 16)
    A = check_array(A, caller=caller, min_samples=2)
    B = check_array(B, caller=caller, min_samples=2)
    if A.shape[0] != B.shape[0]:
        raise InputError(f"{caller}: A has {A.shape[0]} samples and B {B.shape[0]}; the rows "
                         f"must be the same samples")
    la, lb = _layer(A, method, budget), _layer(B, method, budget)
    return cka_from_statistics(_cross(la, lb, method, budget), la.self_term, lb.self_term,
                               la.row_norms, lb.row_norms, debiased=debiased)


def cka_matrix(
    source: Any,
    other: Any = None,
    *,
    debiased: bool = False,
    layers: list[str] | None = None,
    other_layers: list[str] | None = None,
    labels: tuple[str, str] = ("model", "model"),
    method: str = "auto",
    memory_budget: int = _DEFAULT_BUDGET,
    progress: bool = False,
) -> LayerMatrix:
    """Layer × layer CKA within one model (``other=None``) or between two models.

    ``source``/``other``: activation stores (or their folders) or dicts of arrays over the
    same samples. Each layer's mean, ‖AᵀA‖²_F and row norms are computed once; within one
    model only the upper triangle is computed (CKA is symmetric).
    """
    caller = "cka_matrix"
    check_choice(method, "method", CKA_METHODS, caller=caller)
    budget = check_int(memory_budget, "memory_budget", caller=caller, low=1 << 16)
    left_arrays = layer_arrays(source, layers, caller=caller)
    right_arrays = left_arrays if other is None else layer_arrays(other, other_layers,
                                                                   caller=caller)
    na = next(iter(left_arrays.values())).shape[0]
    nb = next(iter(right_arrays.values())).shape[0]
    if na != nb:
        raise InputError(f"{caller}: the models hold {na} and {nb} samples; the rows must be "
                         f"the same samples")
    # each layer's N × N Gram (sample-space path) is kept while they fit the budget together
    kept = [0]
    left = {n: _layer(X, method, budget, kept) for n, X in left_arrays.items()}
    right = left if other is None else {n: _layer(X, method, budget, kept)
                                        for n, X in right_arrays.items()}
    pairs = [(i, j) for i in range(len(left)) for j in range(len(right))
             if other is not None or j >= i]
    from tqdm.auto import tqdm

    values = np.full((len(left), len(right)), np.nan)
    lv, rv = list(left.values()), list(right.values())
    for i, j in tqdm(pairs, disable=not progress, desc="CKA", unit="pair", leave=False):
        a, b = lv[i], rv[j]
        t_ab = a.self_term if other is None and i == j else _cross(a, b, method, budget)
        values[i, j] = cka_from_statistics(t_ab, a.self_term, b.self_term, a.row_norms,
                                           b.row_norms, debiased=debiased)
        if other is None:
            values[j, i] = values[i, j]
    metric = "cka-debiased" if debiased else "cka"
    return LayerMatrix(metric, tuple(left), tuple(right), values, labels[0],
                       labels[0] if other is None else labels[1],
                       {"debiased": debiased, "kernel": "linear"})


# ----------------------------------------------------------------------------------------
# streaming
# ----------------------------------------------------------------------------------------
def _rows(src: PointSource, start: int, stop: int, mean: np.ndarray | None = None
          ) -> np.ndarray:
    """Rows [start, stop) in float64, centred when ``mean`` is given."""
    if src.is_torch:
        block = src.raw_rows(start, stop, torch.float64).cpu().numpy()
    else:
        block = np.asarray(src.rows_np(start, stop), dtype=np.float64)
    return block - mean if mean is not None else block


def _block_rows(n: int, width: int, budget: int) -> int:
    """Rows per block so that a few float64 blocks of ``width`` columns fit the budget."""
    return int(max(1, min(n, budget // (4 * 8 * max(1, width)))))


def _features(width_a: int, width_b: int, n: int, method: str, budget: int) -> bool:
    """Whether ‖AᵀB‖²_F is accumulated in feature space: D_A·D_B floats fit the budget and
    (for "auto") cost N·D_A·D_B ≤ the sample-space N²·(D_A + D_B)/2."""
    if method != "auto":
        return method == "features"
    fits = 8 * width_a * width_b <= budget // 2
    return fits and width_a * width_b <= n * (width_a + width_b) / 2


def _gram_fits(n: int, budget: int) -> bool:
    """Two float64 N × N Gram matrices and a block of columns fit the budget."""
    return 3 * 8 * n * n <= budget


def _gram(src: PointSource, mean: np.ndarray, budget: int) -> np.ndarray:
    """The centred N × N Gram matrix A_c A_cᵀ in float64: one pass over chunks of features
    (read ahead from files), so a wide layer is read once."""
    n, d = src.n, src.d
    chunk = max(1, min(d, (budget // 3) // (8 * n)))
    K = np.zeros((n, n))
    for a, b, block in src.col_chunks(chunk):
        if isinstance(block, torch.Tensor):
            block = block.to(torch.float64).cpu().numpy()
        c = np.asarray(block, dtype=np.float64) - mean[a:b]
        K += c @ c.T
    return K


def _layer(X: Any, method: str, budget: int, kept: list[int] | None = None) -> _Layer:
    src = PointSource(X, torch.device("cpu"))
    n, d = src.n, src.d
    if not _features(d, d, n, method, budget) and _gram_fits(n, budget):
        mean = src.mean(_block_rows(n, d, budget)).cpu().numpy()
        K = _gram(src, mean, budget)
        keep = kept is None or kept[0] + K.nbytes <= budget
        if kept is not None and keep:
            kept[0] += K.nbytes
        return _Layer(src, mean, float(np.einsum("ij,ij->", K, K)), np.diag(K).copy(),
                      K if keep else None)
    step = _block_rows(n, d, budget)
    total = np.zeros(d)
    for a in range(0, n, step):
        total += _rows(src, a, min(n, a + step)).sum(axis=0)
    mean = total / n
    norms = np.empty(n)
    for a in range(0, n, step):
        block = _rows(src, a, min(n, a + step), mean)
        norms[a:a + block.shape[0]] = np.einsum("ij,ij->i", block, block)
    layer = _Layer(src, mean, 0.0, norms)
    return _Layer(src, mean, _cross(layer, layer, method, budget), norms)


def _cross(la: _Layer, lb: _Layer, method: str, budget: int) -> float:
    """t_AB = ‖AᵀB‖²_F of the centred data, streamed over blocks of samples."""
    n, da, db = la.src.n, la.src.d, lb.src.d
    if _features(da, db, n, method, budget):
        gram = np.zeros((da, db))
        step = _block_rows(n, da + db, budget)
        for a in range(0, n, step):
            b = min(n, a + step)
            block = _rows(la.src, a, b, la.mean)
            gram += block.T @ (block if la is lb else _rows(lb.src, a, b, lb.mean))
        return float(np.einsum("ij,ij->", gram, gram))
    if _gram_fits(n, budget):
        # sample space, whole kernels: ⟨K_c, L_c⟩_F
        ka = la.gram if la.gram is not None else _gram(la.src, la.mean, budget)
        kb = ka if la is lb else lb.gram if lb.gram is not None else _gram(lb.src, lb.mean,
                                                                          budget)
        return float(np.einsum("ij,ij->", ka, kb))
    # sample space by blocks: Σ_IJ ⟨A_I A_Jᵀ, B_I B_Jᵀ⟩_F over pairs of row blocks (J ≥ I
    # counted twice), when even one N × N kernel does not fit
    step = _block_rows(n, da + db, budget)
    # two blocks of kernels (step² each) and four blocks of rows must fit
    step = min(step, max(1, int(math.isqrt(max(1, budget // (4 * 8))))))
    same = la is lb
    total = 0.0
    for a in range(0, n, step):
        ai = _rows(la.src, a, min(n, a + step), la.mean)
        bi = ai if same else _rows(lb.src, a, min(n, a + step), lb.mean)
        for c in range(a, n, step):
            aj = _rows(la.src, c, min(n, c + step), la.mean)
            bj = aj if same else _rows(lb.src, c, min(n, c + step), lb.mean)
            k = ai @ aj.T
            term = float(np.einsum("ij,ij->", k, k if same else bi @ bj.T))
            total += term if c == a else 2.0 * term
    return total
