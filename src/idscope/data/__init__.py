"""Data sources: arrays and tables on disk and the datasets bundled with scikit-learn.

``load(source)`` returns a :class:`Dataset` (features as stored, labels or None).
"""

from ._dataset import Dataset
from .loaders import load, load_array

__all__ = ["Dataset", "load", "load_array"]
