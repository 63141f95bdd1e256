"""Data sources: arrays, tables, HDF5, image folders, IDX files (MNIST, Fashion-MNIST),
scikit-learn's bundled datasets and torch datasets, plus selections (binary tasks, class
pairs, balanced subsamples).

``load(source)`` returns a :class:`Dataset` (features as stored, labels or None, ``meta``).
"""

from ._dataset import Dataset, slice_rows
from .idx import load_idx, read_idx
from .images import load_image_folder, sample_image_patches
from .loaders import BUNDLED, load, load_array
from .select import balanced_subsample, class_name, class_pairs, select_classes
from .torch_dataset import from_torch_dataset

__all__ = [
    "Dataset", "load", "load_array", "BUNDLED",
    "load_image_folder", "sample_image_patches", "from_torch_dataset", "load_idx", "read_idx",
    "select_classes", "class_pairs", "balanced_subsample", "class_name", "slice_rows",
]
