"""Neighbourhood overlap of two representations of the same samples, and of a
representation with the labels (Doimo et al., NeurIPS 2020; Valeriani et al., NeurIPS 2023;
DADApy's ``return_data_overlap`` / ``return_label_overlap``).

χ(A, B) = (1/N) Σ_i |N_k^A(i) ∩ N_k^B(i)| / k, where N_k^A(i) is the set of the k nearest
neighbours of sample i in representation A (self excluded). With labels y,
χ(A, y) = (1/N) Σ_i |{j ∈ N_k^A(i) : y_j = y_i}| / k.

Neighbours come from the exact engine (:func:`idscope.kneighbors`): ties break by index, so
the overlap is deterministic also on data with duplicates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError
from .._validation import check_array, check_int, check_labels
from ..neighbors import KNeighbors, kneighbors
from ._layers import LayerMatrix, layer_arrays

__all__ = ["neighborhood_overlap", "overlap_from_indices", "label_overlap_from_indices",
           "overlap_matrix", "label_overlap_profile"]

_BLOCK = 1 << 22  # elements of the (rows, k, k) comparison per block


def overlap_from_indices(idx_a: np.ndarray, idx_b: np.ndarray) -> np.ndarray:
    """Per-sample fraction of shared neighbours, |N^A(i) ∩ N^B(i)| / k, from two (N, k)
    index arrays (each row holds distinct indices)."""
    idx_a, idx_b = np.asarray(idx_a), np.asarray(idx_b)
    if idx_a.shape != idx_b.shape or idx_a.ndim != 2:
        raise InputError(f"overlap_from_indices: index arrays of shapes {idx_a.shape} and "
                         f"{idx_b.shape}; expected the same (N, k)")
    n, k = idx_a.shape
    out = np.empty(n, dtype=np.float64)
    step = max(1, _BLOCK // max(1, k * k))
    for a in range(0, n, step):
        # row i of A against row i of B: k × k comparisons per row, in blocks of rows
        hit = (idx_a[a:a + step, :, None] == idx_b[a:a + step, None, :]).any(axis=2)
        out[a:a + step] = hit.sum(axis=1) / k
    return out


def label_overlap_from_indices(idx: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-sample fraction of neighbours sharing the sample's label, from (N, k) indices."""
    idx = np.asarray(idx)
    labels = np.asarray(labels)
    return (labels[idx] == labels[:, None]).mean(axis=1)


def _knn(X: Any, k: int, caller: str, device: Any, progress: bool) -> KNeighbors:
    if isinstance(X, KNeighbors):
        if X.k < k:
            raise InputError(f"{caller}: needs {k} neighbours but the precomputed KNeighbors "
                             f"has {X.k}")
        return X.subset_k(k)
    X = check_array(X, caller=caller, min_samples=2)
    if k > X.shape[0] - 1:
        raise InputError(f"{caller}: k={k} needs at least {k + 1} samples, got {X.shape[0]}")
    return kneighbors(X, k, device=device, validate=False, progress=progress)


def neighborhood_overlap(
    A: Any,
    B: Any = None,
    k: int = 10,
    *,
    labels: Any = None,
    per_sample: bool = False,
    device: Any = None,
    progress: bool = False,
) -> float | np.ndarray:
    """Neighbourhood overlap of two representations, or of one with the labels.

    Parameters
    ----------
    A, B : array (N, D_A), (N, D_B) or KNeighbors
        Two representations of the same N samples (row i of A and of B is sample i), or
        their precomputed neighbours. Give ``B`` or ``labels``, not both.
    k : int
        Neighbours per sample, ``1 <= k <= N - 1``.
    labels : array (N,), optional
        Class labels: the label overlap χ(A, y) instead.
    per_sample : bool
        Return the (N,) per-sample fractions instead of their mean.

    Returns
    -------
    float or ndarray
        χ in [0, 1]: 1 when every sample has the same k neighbours in A and B (or only
        neighbours of its own class).
    """
    caller = "neighborhood_overlap"
    k = check_int(k, "k", caller=caller, low=1)
    if (B is None) == (labels is None):
        raise InputError(f"{caller}: give either a second representation B or labels")
    ka = _knn(A, k, caller, device, progress)
    if labels is not None:
        y = check_labels(labels, ka.n_points, caller=caller)
        per = label_overlap_from_indices(ka.indices, y)
    else:
        kb = _knn(B, k, caller, device, progress)
        if kb.n_points != ka.n_points:
            raise InputError(f"{caller}: A has {ka.n_points} samples and B {kb.n_points}; "
                             f"the rows must be the same samples")
        per = overlap_from_indices(ka.indices, kb.indices)
    return per if per_sample else float(per.mean())


def _all_knn(arrays: dict[str, Any], k: int, caller: str, device: Any, progress: bool
             ) -> dict[str, KNeighbors]:
    return {name: _knn(X, k, f"{caller} (layer {name!r})", device, progress)
            for name, X in arrays.items()}


def overlap_matrix(
    source: Any,
    other: Any = None,
    k: int = 10,
    *,
    layers: list[str] | None = None,
    other_layers: list[str] | None = None,
    labels: tuple[str, str] = ("model", "model"),
    device: Any = None,
    progress: bool = False,
) -> LayerMatrix:
    """Layer × layer neighbourhood overlap within one model (``other=None``) or between two.

    ``source`` and ``other`` are activation stores (or their folders) or dicts of arrays
    over the same samples in the same order; each layer's neighbours are searched once.
    ``labels`` names the two models in the result.
    """
    caller = "overlap_matrix"
    k = check_int(k, "k", caller=caller, low=1)
    left = _all_knn(layer_arrays(source, layers, caller=caller), k, caller, device, progress)
    right = left if other is None else _all_knn(
        layer_arrays(other, other_layers, caller=caller), k, caller, device, progress)
    na, nb = next(iter(left.values())).n_points, next(iter(right.values())).n_points
    if na != nb:
        raise InputError(f"{caller}: the models hold {na} and {nb} samples; the rows must be "
                         f"the same samples")
    lv, rv = list(left.values()), list(right.values())
    values = np.ones((len(lv), len(rv)))
    for i, a in enumerate(lv):
        # within one model the matrix is symmetric with a unit diagonal: the upper triangle
        for j in range(i + 1 if other is None else 0, len(rv)):
            values[i, j] = overlap_from_indices(a.indices, rv[j].indices).mean()
            if other is None:
                values[j, i] = values[i, j]
    return LayerMatrix("overlap", tuple(left), tuple(right), values, labels[0],
                       labels[0] if other is None else labels[1], {"k": k})


def label_overlap_profile(
    source: Any,
    labels: Any,
    k: int = 10,
    *,
    layers: list[str] | None = None,
    device: Any = None,
    progress: bool = False,
) -> dict[str, float]:
    """``{layer: χ(layer, labels)}``: the label overlap of every layer, in depth order."""
    caller = "label_overlap_profile"
    k = check_int(k, "k", caller=caller, low=1)
    knn = _all_knn(layer_arrays(source, layers, caller=caller), k, caller, device, progress)
    y = check_labels(labels, next(iter(knn.values())).n_points, caller=caller)
    return {name: float(label_overlap_from_indices(kn.indices, y).mean())
            for name, kn in knn.items()}
