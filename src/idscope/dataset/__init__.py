"""Dataset properties of Konz & Mazurowski (ICLR 2024): label sharpness K̂_F and the intrinsic
dimension d_data, both exact over all points through the neighbour engine."""

from .dimension import DataDimension, data_dimension
from .sharpness import CONFLICT_POLICIES, LABEL_KINDS, SharpnessResult, label_sharpness

__all__ = ["label_sharpness", "SharpnessResult", "data_dimension", "DataDimension",
           "LABEL_KINDS", "CONFLICT_POLICIES"]
