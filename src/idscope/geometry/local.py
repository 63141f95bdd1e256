"""Local (per-point) intrinsic dimension over each point's k-neighbourhood.

- ``"mle"`` (Levina & Bickel, NIPS 2004; the "LID" of Amsaleg et al., KDD 2015 and of Ma et
  al., ICLR 2018 on adversarial examples): d_i = c / S_i, S_i = Σ_{j=1}^{k−1} log(r_k(i) /
  r_j(i)), with c = k − 1 (``"k-1"``, Levina & Bickel's per-point estimate, the default:
  under a local Poisson process S_i ~ Gamma(k − 1, rate d), so its median is close to d)
  or c = k − 2 (``"k-2"``: its mean is d).
- ``"twonn"`` (Facco et al., Sci. Rep. 2017, applied to a neighbourhood as DADApy's local
  estimates): the TwoNN maximum-likelihood estimate on the k + 1 points of the
  neighbourhood (the point and its k neighbours), d_i = k / Σ_{j ∈ N(i)} log(r_2(j) /
  r_1(j)), with r_1, r_2 each point's own nearest-neighbour distances in the whole data.

Optional smoothing averages each point's value with those of its ``smooth`` nearest
neighbours (a per-point estimate from k neighbours has relative spread ≈ 1/√k).

Neighbours come from the exact engine; exact duplicate rows are searched once (the first
copy) and every copy gets its value, so one value is returned per input row. With a
``reference`` set (MLE only), each row's neighbours are taken among the reference rows
instead: the LID of a test or attacked point relative to clean data (Ma et al. 2018).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError
from .._validation import check_array, check_choice, check_int
from ..neighbors import KNeighbors, duplicate_groups, first_occurrence_mask, kneighbors

__all__ = ["local_id", "local_id_from_neighbors", "LocalID", "LOCAL_METHODS"]

LOCAL_METHODS = ("mle", "twonn")
NORMALIZATIONS = ("k-1", "k-2")


def local_id_from_neighbors(
    distances: np.ndarray,
    indices: np.ndarray,
    k: int,
    *,
    method: str = "mle",
    normalization: str = "k-1",
    smooth: int = 0,
) -> np.ndarray:
    """Per-point ID from an exact neighbour search of distinct points: ``distances`` and
    ``indices`` (N, ≥ max(k, smooth, 2)), self excluded, ascending. See the module
    docstring for the formulas."""
    dist = np.asarray(distances, dtype=np.float64)
    if method == "mle":
        logr = np.log(dist[:, :k])
        s = (k - 1) * logr[:, k - 1] - logr[:, : k - 1].sum(axis=1)
        c = k - 2 if normalization == "k-2" else k - 1
        with np.errstate(divide="ignore"):
            values = c / s
    else:
        log_mu = np.log(dist[:, 1] / dist[:, 0])
        # the point itself and its k neighbours: k + 1 ratios, d̂ = (m − 1)/Σ log μ
        total = log_mu + log_mu[indices[:, :k]].sum(axis=1)
        with np.errstate(divide="ignore"):
            values = k / total
    if smooth:
        values = (values + values[indices[:, :smooth]].sum(axis=1)) / (smooth + 1)
    return values


def local_id(
    X: Any,
    k: int = 20,
    *,
    method: str = "mle",
    normalization: str = "k-1",
    smooth: int = 0,
    reference: Any = None,
    paired: bool = False,
    device: Any = None,
    progress: bool = False,
    executor: str = "local",
    address: str | None = None,
) -> np.ndarray:
    """Local intrinsic dimension of every row of ``X``.

    Parameters
    ----------
    X : array (N, D) or KNeighbors
        Points (numpy array, memmap or torch tensor), or an exact neighbour search of
        distinct points with at least ``max(k, smooth, 2)`` neighbours.
    k : int
        Neighbourhood size (MLE: k >= 3; TwoNN: k >= 1).
    method : {"mle", "twonn"}
    normalization : {"k-1", "k-2"}
        MLE's constant c (``"k-1"``: Levina & Bickel, median ≈ d; ``"k-2"``: mean = d).
    smooth : int
        Average each value with those of the point's ``smooth`` nearest neighbours (0: no
        smoothing).
    reference : array (M, D), optional
        Take each row's k neighbours among these rows (MLE, no smoothing); no row of ``X``
        may coincide with a reference row it may take as a neighbour.
    paired : bool
        With ``reference``: row i of ``X`` is a version of reference row i (e.g. an attacked
        input and its clean source), which is then not one of its neighbours.
    executor, address : optional
        ``executor="ray"`` runs the neighbour search over Ray tasks (a local instance, or the
        cluster at ``address``) with exactly the local result (:func:`idscope.kneighbors`).

    Returns
    -------
    ndarray (N,)
        One value per row, float64; ``inf`` only where a neighbourhood has all its
        distances equal (e.g. a regular grid).
    """
    caller = "local_id"
    check_choice(method, "method", LOCAL_METHODS, caller=caller)
    check_choice(normalization, "normalization", NORMALIZATIONS, caller=caller)
    k = check_int(k, "k", caller=caller, low=3 if method == "mle" else 1)
    smooth = check_int(smooth, "smooth", caller=caller, low=0)
    need = max(k, smooth, 2)
    search = {"device": device, "progress": progress, "executor": executor,
              "address": address}
    if reference is not None:
        return _local_id_against(X, reference, k, method, normalization, smooth, paired,
                                 search)
    if isinstance(X, KNeighbors):
        if X.k < need:
            raise InputError(f"{caller}: needs {need} neighbours but the precomputed "
                             f"KNeighbors has {X.k}")
        if (X.distances[:, 0] == 0).any():
            raise InputError(f"{caller}: the precomputed KNeighbors has duplicate points; "
                             f"pass the data (duplicates are then handled)")
        return local_id_from_neighbors(X.distances, X.indices, k, method=method,
                                       normalization=normalization, smooth=smooth)
    X = check_array(X, caller=caller, min_samples=2)
    n = int(X.shape[0])
    if n - 1 < need:
        raise InputError(f"{caller}: needs at least {need + 1} points for k={k}"
                         f"{f', smooth={smooth}' if smooth else ''}, got {n}")
    knn = kneighbors(X, need, validate=False, **search)
    if not (knn.distances[:, 0] == 0).any():
        return local_id_from_neighbors(knn.distances, knn.indices, k, method=method,
                                       normalization=normalization, smooth=smooth)
    # duplicates: estimate on the distinct rows, then give every copy its first row's value
    groups = duplicate_groups(knn)
    keep = first_occurrence_mask(n, groups)
    distinct = np.flatnonzero(keep)
    if distinct.size - 1 < need:
        raise InputError(f"{caller}: needs at least {need + 1} distinct points, got "
                         f"{distinct.size} ({n - distinct.size} duplicate row(s))")
    knn = kneighbors(_take(X, distinct), need, validate=False, **search)
    values = local_id_from_neighbors(knn.distances, knn.indices, k, method=method,
                                     normalization=normalization, smooth=smooth)
    first = np.arange(n)
    for g in groups:
        first[g] = g[0]
    position = np.cumsum(keep) - 1  # row index → position among the distinct rows
    return values[position[first]]


def _local_id_against(X, reference, k, method, normalization, smooth, paired, search):
    caller = "local_id"
    if method != "mle" or smooth:
        raise InputError(f"{caller}: a reference set needs method='mle' and smooth=0 (the "
                         f"neighbours' own values are not defined)")
    X = check_array(X, caller=caller, min_samples=1)
    reference = check_array(reference, caller=f"{caller} (reference)",
                            min_samples=k + int(paired))
    if X.shape[1] != reference.shape[1]:
        raise InputError(f"{caller}: X has {X.shape[1]} features and the reference "
                         f"{reference.shape[1]}")
    if paired and X.shape[0] != reference.shape[0]:
        raise InputError(f"{caller}: paired=True needs as many rows as the reference, got "
                         f"{X.shape[0]} and {reference.shape[0]}")
    knn = kneighbors(X, k + int(paired), reference=reference, validate=False, **search)
    dist, idx = knn.distances, knn.indices
    if paired:
        # drop each row's own reference row where it is among the k + 1 found, else the last
        own = idx == np.arange(idx.shape[0])[:, None]
        drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
        keep = np.arange(k + 1)[None, :] != drop[:, None]
        dist = dist[keep].reshape(-1, k)
        idx = idx[keep].reshape(-1, k)
    same = int((dist[:, 0] == 0).sum())
    if same:
        raise InputError(f"{caller}: {same} row(s) of X coincide with reference rows; "
                         f"estimate the reference's own rows with reference=None")
    return local_id_from_neighbors(dist, idx, k, method=method, normalization=normalization)


def _take(X: Any, rows: np.ndarray) -> Any:
    if isinstance(X, np.ndarray):
        return X[rows]
    import torch

    return X[torch.as_tensor(rows, device=X.device)]


class LocalID:
    """Scikit-learn-style wrapper of :func:`local_id`: ``fit(X)`` stores the per-point values
    in ``local_id_`` (N,) and their median in ``dimension_``."""

    def __init__(self, *, k: int = 20, method: str = "mle", normalization: str = "k-1",
                 smooth: int = 0, device: Any = None):
        self.k = k
        self.method = method
        self.normalization = normalization
        self.smooth = smooth
        self.device = device

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"k": self.k, "method": self.method, "normalization": self.normalization,
                "smooth": self.smooth, "device": self.device}

    def fit(self, X: Any, y: Any = None) -> LocalID:
        self.local_id_ = local_id(X, **self.get_params())
        self.dimension_ = float(np.median(self.local_id_))
        return self

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X).local_id_

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"LocalID({args})"
