"""``load(source)``: one entry point for arrays, tables, HDF5, image folders, the datasets
bundled with scikit-learn and torch datasets.

Every loader returns a :class:`Dataset` whose features keep the stored shape ((N, D) for
tables, (N, H, W[, C]) for images) and whose ``meta`` records the source, and, where it
applies, the class names, the image shape and the intensity range.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import InputError, one_line
from ._dataset import Dataset
from .idx import IDX_SOURCES, load_idx

__all__ = ["load", "load_array", "load_bundled", "BUNDLED", "TABLE_SUFFIXES", "HDF5_SUFFIXES"]

BUNDLED = ("digits", "breast_cancer", "iris", "wine", "sample_images")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")

# Options each kind of source understands (None-valued options count as not given).
_OPTIONS = {
    "bundled": set(),
    "sample_images": {"patch_size", "n_patches", "mode", "intensity", "seed"},
    "npy": {"mmap"},
    "npz": {"x_key", "y_key"},
    "table": {"label_column"},
    "hdf5": {"x_key", "y_key", "mmap"},
    "pt": {"x_key", "y_key"},
    "image_folder": {"resize", "mode", "intensity", "cache_dir", "in_memory_limit", "max_pixels",
                     "progress"},
    "torch": {"n", "seed", "progress"},
    "idx": {"split"},
}


# Hints that are ignored where they do not apply.
_HINTS = {"mmap"}


def _check_options(kind: str, options: dict[str, Any], where: str) -> None:
    extra = sorted(set(options) - _OPTIONS[kind] - _HINTS)
    if extra:
        allowed = ", ".join(sorted(_OPTIONS[kind])) or "none"
        raise InputError(f"load: option(s) {', '.join(extra)} do not apply to {where} "
                         f"(options for this source: {allowed})")


def load_bundled(name: str, **options: Any) -> Dataset:
    """``sklearn:NAME`` for the datasets scikit-learn ships (no download).

    ``digits`` keeps its (N, 8, 8) images with intensities 0..16; ``sample_images`` is
    :func:`~idscope.data.images.sample_image_patches` (options ``patch_size``, ``n_patches``,
    ``mode``, ``intensity``, ``seed``).
    """
    if name not in BUNDLED:
        raise InputError(f"load: unknown bundled dataset 'sklearn:{name}'; available: "
                         + ", ".join(f"sklearn:{n}" for n in BUNDLED))
    if name == "sample_images":
        _check_options("sample_images", options, "sklearn:sample_images")
        from .images import sample_image_patches

        return sample_image_patches(**{k: v for k, v in options.items() if k not in _HINTS})
    _check_options("bundled", options, f"sklearn:{name}")
    from sklearn import datasets

    loaders = {"digits": datasets.load_digits, "breast_cancer": datasets.load_breast_cancer,
               "iris": datasets.load_iris, "wine": datasets.load_wine}
    bunch = loaders[name]()
    meta: dict[str, Any] = {"source": f"sklearn:{name}", "kind": "bundled",
                            "class_names": [str(c) for c in bunch.target_names]}
    X = bunch.data
    if name == "digits":
        X = bunch.images  # (N, 8, 8), intensities 0..16
        meta["intensity_range"] = [0.0, 16.0]
        meta["image_shape"] = [8, 8]
        meta["mode"] = "L"
    else:
        meta["feature_names"] = [str(c) for c in bunch.feature_names]
    return Dataset(np.asarray(X, dtype=np.float64), np.asarray(bunch.target), f"sklearn:{name}",
                   meta)


def load_array(path: str | os.PathLike, *, key: str | None = None, mmap: bool = True) -> Any:
    """A numeric array from ``.npy`` (memory-mapped), ``.npz``, ``.csv``/``.tsv``/Parquet
    (numeric columns), HDF5 or ``.pt`` (a tensor saved with ``torch.save``, loaded with
    ``weights_only=True``)."""
    suffix = Path(str(path)).suffix.lower()
    if suffix in (".npy", *HDF5_SUFFIXES):
        return load(path, x_key=key if suffix != ".npy" else None, mmap=mmap).X
    return load(path, x_key=key).X


def load(source: Any, **options: Any) -> Dataset:
    """A :class:`Dataset` from a file, a folder, ``sklearn:NAME`` or a torch dataset.

    Sources and their options (options set to None count as not given; an option that does
    not apply to the source raises :class:`InputError`):

    - ``mnist[:ROOT]``, ``fashion-mnist[:ROOT]``: IDX files (``split="train"|"test"``),
      searched in ROOT, ``$IDSCOPE_DATA`` and the system's copy, see
      :func:`~idscope.data.idx.load_idx`.
    - ``sklearn:digits``, ``sklearn:breast_cancer``, ``sklearn:iris``, ``sklearn:wine``;
      ``sklearn:sample_images`` (patches; ``patch_size``, ``n_patches``, ``mode``,
      ``intensity``, ``seed``).
    - ``.npy``: features only, memory-mapped unless ``mmap=False``.
    - ``.npz``: arrays ``X`` and ``y`` (or named by ``x_key`` / ``y_key``; a file holding a
      single array needs no name).
    - ``.csv``, ``.tsv``, ``.parquet``/``.pq``: numeric feature columns; ``label_column``
      names the label column (string labels become class indices into
      ``meta["class_names"]``). A CSV/TSV whose first line is all numbers has no header:
      every line is a row, the columns are named ``"0"``, ``"1"``, ... (``label_column``
      may then be a position such as ``"-1"``).
    - ``.h5``/``.hdf5``/``.hdf``: datasets ``X``/``y`` or the paths ``x_key``/``y_key``
      (e.g. ``"train/images"``); a contiguous, uncompressed float dataset is memory-mapped
      (``mmap=True``) instead of read.
    - ``.pt``: a tensor or a dict of tensors saved with ``torch.save`` (``x_key``/``y_key``),
      loaded with ``weights_only=True``.
    - a folder with one sub-folder per class: images, see
      :func:`~idscope.data.images.load_image_folder` (``resize``, ``mode``, ``intensity``,
      ``cache_dir``, ``in_memory_limit``, ``progress``, ``max_pixels``).
    - a :class:`Dataset` (returned as is) or any object with ``__len__`` and
      ``__getitem__`` returning ``(x, y)`` such as a ``torch.utils.data.Dataset``, see
      :func:`~idscope.data.from_torch_dataset` (``n``, ``seed``, ``progress``).
    """
    opts = {k: v for k, v in options.items() if v is not None}
    if isinstance(source, Dataset):
        _check_options("bundled", opts, "a Dataset")
        return source
    if not isinstance(source, (str, os.PathLike)):
        if hasattr(source, "__getitem__") and hasattr(source, "__len__"):
            _check_options("torch", opts, "a torch dataset")
            from .torch_dataset import from_torch_dataset

            return from_torch_dataset(source, **{k: v for k, v in opts.items()
                                                 if k not in _HINTS})
        raise InputError(f"load: cannot load a {type(source).__name__}; pass a path, "
                         f"'sklearn:NAME' or a torch dataset")
    s = str(source)
    if s.startswith("sklearn:"):
        return load_bundled(s.split(":", 1)[1], **opts)
    name, _, root = s.partition(":")
    if name in IDX_SOURCES:
        _check_options("idx", opts, name)
        return load_idx(name, root=root or None, split=opts.get("split", "train"))
    path = Path(s)
    if not path.exists():
        raise InputError(f"load: no such file or folder: {path}")
    if path.is_dir():
        _check_options("image_folder", opts, "an image folder")
        from .images import load_image_folder

        return load_image_folder(path, **{k: v for k, v in opts.items() if k not in _HINTS})
    suffix = path.suffix.lower()
    kinds = {".npy": "npy", ".npz": "npz", ".pt": "pt",
             **{s: "table" for s in TABLE_SUFFIXES}, **{s: "hdf5" for s in HDF5_SUFFIXES}}
    if suffix not in kinds:
        raise InputError(f"load: unsupported file type {suffix!r} for {path} (.npy, .npz, "
                         f".csv, .tsv, .parquet, .h5, .pt, an image folder or sklearn:NAME)")
    kind = kinds[suffix]
    _check_options(kind, opts, f"{suffix} files")
    try:
        if kind == "npy":
            X = np.load(path, mmap_mode="r" if opts.get("mmap", True) else None,
                        allow_pickle=False)
            return Dataset(X, None, path.name, {"source": str(path)})
        if kind == "npz":
            return _load_npz(path, opts.get("x_key"), opts.get("y_key"))
        if kind == "table":
            return _load_table(path, suffix, opts.get("label_column"))
        if kind == "hdf5":
            return _load_hdf5(path, opts.get("x_key"), opts.get("y_key"),
                              opts.get("mmap", True))
        return _load_pt(path, opts.get("x_key"), opts.get("y_key"))
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"load: could not read {path}: {one_line(exc)}") from None


def _load_npz(path: Path, x_key: str | None, y_key: str | None) -> Dataset:
    with np.load(path, allow_pickle=False) as z:
        names = list(z.files)
        xk = x_key or ("X" if "X" in names else names[0] if len(names) == 1 else None)
        if xk is None or xk not in names:
            raise InputError(f"load: {path}: array {x_key or 'X'!r} not found; arrays: {names}")
        if y_key and y_key not in names:
            raise InputError(f"load: {path}: array {y_key!r} not found; arrays: {names}")
        yk = y_key or ("y" if "y" in names and xk != "y" else None)
        return Dataset(z[xk], z[yk] if yk else None, path.name,
                       {"source": str(path), "x_key": xk, "y_key": yk})


def _encode_labels(y: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """String / object labels become int64 indices into ``meta["class_names"]``."""
    if y.dtype.kind in "biuf":
        return y
    if any(v is None or (isinstance(v, float) and v != v) for v in y):
        n = sum(1 for v in y if v is None or (isinstance(v, float) and v != v))
        raise InputError(f"load: the label column has {n} missing value(s)")
    names, codes = np.unique(y.astype(str), return_inverse=True)
    meta["class_names"] = [str(n) for n in names]
    return codes.astype(np.int64)


def _load_table(path: Path, suffix: str, label_column: str | None) -> Dataset:
    import pandas as pd

    header = True
    if suffix in (".parquet", ".pq"):
        df = pd.read_parquet(path)
    else:
        sep = "\t" if suffix == ".tsv" else ","
        header = _has_header(path, sep)
        df = pd.read_csv(path, sep=sep, header=0 if header else None)
        if not header:  # columns are named by position: "0", "1", ...
            df.columns = [str(c) for c in df.columns]
    meta: dict[str, Any] = {"source": str(path), "label_column": label_column,
                            "header": header}
    y = None
    if (label_column is not None and not header and label_column not in df.columns
            and label_column.lstrip("-").isdigit() and -df.shape[1] <= int(label_column)
            < df.shape[1]):
        label_column = str(df.columns[int(label_column)])  # e.g. "-1": the last column
    if label_column is not None:
        if label_column not in df.columns:
            raise InputError(f"load: {path}: label column {label_column!r} does not exist; "
                             f"columns: {[str(c) for c in df.columns][:20]}")
        y = _encode_labels(df.pop(label_column).to_numpy(), meta)
    nonnum = [str(c) for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if nonnum:
        raise InputError(f"load: {path}: non-numeric column(s) {nonnum[:5]}; name the label "
                         f"column (label_column=...) or drop them")
    meta["feature_names"] = [str(c) for c in df.columns]
    return Dataset(df.to_numpy(dtype=np.float64), y, path.name, meta)


def _has_header(path: Path, sep: str) -> bool:
    """False when every field of the first line is a number: that line is data, not column
    names (pandas would otherwise take it as the header and drop one row)."""
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        first = next(csv.reader(fh, delimiter=sep), [])

    def number(text: str) -> bool:
        try:
            float(text)
        except ValueError:
            return False
        return bool(text.strip())

    return not (first and all(number(c) for c in first))


def _h5_datasets(f: Any) -> list[str]:
    import h5py

    found: list[str] = []
    f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
    return found


def _load_hdf5(path: Path, x_key: str | None, y_key: str | None, mmap: bool) -> Dataset:
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is in the io extra
        from .._errors import MissingDependencyError

        raise MissingDependencyError("HDF5 files need h5py: pip install h5py") from None
    with h5py.File(path, "r") as f:
        names = _h5_datasets(f)
        xk = x_key or ("X" if "X" in names else names[0] if len(names) == 1 else None)
        if xk is None or xk.strip("/") not in names:
            raise InputError(f"load: {path}: dataset {x_key or 'X'!r} not found; datasets: "
                             f"{names[:20]}")
        xk = xk.strip("/")
        if y_key and y_key.strip("/") not in names:
            raise InputError(f"load: {path}: dataset {y_key!r} not found; datasets: "
                             f"{names[:20]}")
        yk = y_key.strip("/") if y_key else ("y" if "y" in names and xk != "y" else None)
        dset = f[xk]
        offset = dset.id.get_offset()
        X: Any
        if (mmap and dset.chunks is None and dset.compression is None and offset is not None
                and dset.dtype.kind == "f" and dset.dtype.isnative and dset.size > 0):
            # contiguous, uncompressed: read rows lazily straight from the file
            X = np.memmap(path, dtype=dset.dtype, mode="r", offset=offset, shape=dset.shape)
        else:
            X = dset[()]
        y = None if yk is None else np.asarray(f[yk][()])
    if y is not None and y.dtype.kind in "SO":
        y = y.astype(str)
    meta: dict[str, Any] = {"source": str(path), "x_key": xk, "y_key": yk}
    if y is not None:
        y = _encode_labels(y, meta)
    return Dataset(X, y, path.name, meta)


def _load_pt(path: Path, x_key: str | None, y_key: str | None) -> Dataset:
    import torch

    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict):
        xk = x_key or "X"
        if xk not in obj:
            raise InputError(f"load: {path}: key {xk!r} not found; keys: {list(obj)[:20]}")
        if y_key and y_key not in obj:
            raise InputError(f"load: {path}: key {y_key!r} not found; keys: {list(obj)[:20]}")
        y = obj.get(y_key or "y")
        if isinstance(y, torch.Tensor):
            y = y.numpy()
        return Dataset(obj[xk].numpy(), None if y is None else np.asarray(y), path.name,
                       {"source": str(path)})
    return Dataset(obj.numpy(), None, path.name, {"source": str(path)})
