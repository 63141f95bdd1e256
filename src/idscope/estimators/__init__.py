"""Intrinsic-dimension estimators: a functional core wrapped by scikit-learn-style classes."""

from ._dependence import graph_neighbors
from ._neighbors import DUPLICATE_POLICIES, search_distinct
from ._result import IDResult
from .calibration import SaturationWarning
from .gride import GRIDE, gride, gride_from_ratios
from .mle import MLE, mle, mle_from_distances
from .pca import PCAID, pca_id, pca_spectrum
from .registry import ESTIMATORS
from .scale import SCALE_KINDS, Plateau, ScaleResult, find_plateau, scale_analysis
from .twonn import TwoNN, twonn, twonn_from_ratios

__all__ = [
    "IDResult", "ESTIMATORS", "DUPLICATE_POLICIES", "search_distinct", "SaturationWarning",
    "graph_neighbors",
    "twonn", "TwoNN", "twonn_from_ratios",
    "mle", "MLE", "mle_from_distances",
    "gride", "GRIDE", "gride_from_ratios",
    "pca_id", "PCAID", "pca_spectrum",
    "scale_analysis", "ScaleResult", "SCALE_KINDS", "find_plateau", "Plateau",
]
