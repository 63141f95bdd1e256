"""Representation geometry beyond one number: neighbourhood overlap, CKA, local ID, and the
ID profile during training.

Every neighbour computation uses the exact engine (:func:`idscope.kneighbors`); layer ×
layer matrices read an :class:`~idscope.ActivationStore` (or a dict of arrays) layer by
layer.
"""

from ._layers import LayerMatrix, layer_arrays
from .cka import cka, cka_from_statistics, cka_matrix
from .local import LocalID, local_id, local_id_from_neighbors
from .monitor import IDMonitor, MonitorResult
from .overlap import (
    label_overlap_from_indices,
    label_overlap_profile,
    neighborhood_overlap,
    overlap_from_indices,
    overlap_matrix,
)

__all__ = [
    "neighborhood_overlap", "overlap_from_indices", "label_overlap_from_indices",
    "overlap_matrix", "label_overlap_profile",
    "cka", "cka_from_statistics", "cka_matrix",
    "local_id", "local_id_from_neighbors", "LocalID",
    "IDMonitor", "MonitorResult",
    "LayerMatrix", "layer_arrays",
]
