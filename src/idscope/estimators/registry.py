"""The one registry of intrinsic-dimension estimators: name → functional estimator.

Every place that takes an estimator by name (``scale_analysis``, ``idscope estimate
--method``) reads it here.
"""

from .gride import gride
from .mle import mle
from .pca import pca_id
from .twonn import twonn

ESTIMATORS = {"twonn": twonn, "mle": mle, "gride": gride, "pca": pca_id}

__all__ = ["ESTIMATORS"]
