"""idscope: intrinsic geometry of datasets and neural-network representations.

``import idscope`` loads numpy, scipy and torch only; plotting, pandas, Ray and transformers
are imported by the modules that need them.
"""

from ._errors import DuplicatePointsError, IdscopeError, InputError, MissingDependencyError
from .dataset import DataDimension, SharpnessResult, data_dimension, label_sharpness
from .estimators import (
    GRIDE,
    MLE,
    PCAID,
    IDResult,
    ScaleResult,
    TwoNN,
    gride,
    mle,
    pca_id,
    scale_analysis,
    twonn,
)
from .neighbors import KNeighbors, kneighbors
from .representations import ActivationStore, Profile, activations, load_model, profile

__version__ = "0.1.0"

__all__ = [
    "IdscopeError", "InputError", "DuplicatePointsError", "MissingDependencyError",
    "KNeighbors", "kneighbors",
    "IDResult", "twonn", "TwoNN", "mle", "MLE", "gride", "GRIDE", "pca_id", "PCAID",
    "scale_analysis", "ScaleResult",
    "label_sharpness", "SharpnessResult", "data_dimension", "DataDimension",
    "activations", "ActivationStore", "profile", "Profile", "load_model",
]
