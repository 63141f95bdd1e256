"""The intrinsic dimension of a dataset as Konz & Mazurowski (ICLR 2024) measure it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .._validation import check_array, check_choice, check_int
from ..estimators import (
    DUPLICATE_POLICIES,
    IDResult,
    graph_neighbors,
    mle,
    search_distinct,
    twonn,
)
from ..neighbors import kneighbors
from .sharpness import _flatten

__all__ = ["DataDimension", "data_dimension"]


@dataclass(frozen=True)
class DataDimension:
    """d_data by three estimators that share one exact neighbour search.

    Attributes
    ----------
    mle_k1 : IDResult
        Levina–Bickel MLE with MacKay–Ghahramani averaging, normalisation k − 1
        (d̂ = N(k−1)/Σ S_i; scikit-dimension's default).
    mle_pope : IDResult
        The same with normalisation k − 2 (Pope et al., ICLR 2021), the convention of Konz &
        Mazurowski's d_data: (k−2)/(k−1) times ``mle_k1`` (×0.947 at k = 20).
    twonn : IDResult
        TwoNN, linear fit on the 90 % smallest μ (Facco 2017; Ansuini 2019).
    k : int
        MLE neighbours.
    n_points : int
        Points that entered the estimates.
    n_duplicates : int
        Rows removed (``duplicates="remove"``) or dropped as duplicates.
    """

    mle_k1: IDResult
    mle_pope: IDResult
    twonn: IDResult
    k: int
    n_points: int
    n_duplicates: int

    def to_dict(self) -> dict[str, Any]:
        return {"mle_k1": self.mle_k1.to_dict(), "mle_pope": self.mle_pope.to_dict(),
                "twonn": self.twonn.to_dict(), "k": self.k, "n_points": self.n_points,
                "n_duplicates": self.n_duplicates}

    def __str__(self) -> str:
        # Pope's estimate reads (k−2)/(k−1)·d: say so, so it is not read as d itself
        return (f"d_data: MLE(k={self.k}, k-1) {self.mle_k1.dimension:.4g}, "
                f"MLE(k={self.k}, k-2, Pope) {self.mle_pope.dimension:.4g} "
                f"[estimates {self.mle_pope.estimate_of}], "
                f"TwoNN {self.twonn.dimension:.4g} (n={self.n_points})")


def data_dimension(
    X: Any, *, k: int = 20, duplicates: str = "remove", device: Any = None
) -> DataDimension:
    """Intrinsic dimension d_data of a dataset (MLE with k = 20, both normalisations, and
    TwoNN) from a single exact neighbour search.

    Konz & Mazurowski (ICLR 2024) measure d_data with Pope et al.'s MLE code: k = 20,
    inverse averaging, normalisation k − 2 (``mle_pope``). ``mle_k1`` is the
    MacKay–Ghahramani estimator with k − 1 (unbiased under the Poisson model, see
    :func:`idscope.mle`).

    Parameters
    ----------
    X : array (N, D) or (N, ...)
        Points; images (N, H, W[, C]) are flattened.
    k : int
        MLE neighbours (>= 3).
    duplicates : {"remove", "drop-ties", "error"}
        As in :func:`idscope.mle`; the default removes exact duplicate rows first and
        reports how many.
    device : str or torch.device, optional
    """
    caller = "data_dimension"
    check_choice(duplicates, "duplicates", DUPLICATE_POLICIES, caller=caller)
    X = check_array(_flatten(X), caller=caller, min_samples=2)
    n = int(X.shape[0])
    k = check_int(k, "k", caller=caller, low=3, high=max(3, n - 1))
    # one search serves both estimates and their graph intervals (MLE's reads 4k)
    k_graph = min(graph_neighbors("mle", k), n - 1)
    knn = kneighbors(X, k_graph, device=device, validate=False)
    n_removed = 0
    if duplicates == "remove":
        knn, n_removed = search_distinct(X, k, knn=knn, caller=caller, min_points=k + 1,
                                         graph_k=k_graph, device=device)
    results = [
        mle(knn, k=k, normalization="k-1", duplicates=duplicates),
        mle(knn, k=k, normalization="k-2", duplicates=duplicates),
        twonn(knn, duplicates=duplicates),
    ]
    if n_removed:
        results = [replace(r, n_duplicates=n_removed) for r in results]
    m1, m2, tw = results
    return DataDimension(m1, m2, tw, k, int(m1.n_points), int(n - m1.n_points))
