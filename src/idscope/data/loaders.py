"""Loaders for arrays on disk and scikit-learn's bundled datasets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import InputError
from ._dataset import Dataset

__all__ = ["load", "load_array", "BUNDLED"]

BUNDLED = ("digits", "breast_cancer", "iris", "wine")


def load_bundled(name: str) -> Dataset:
    """``sklearn:NAME`` for the datasets scikit-learn ships (no download)."""
    from sklearn import datasets

    loaders = {"digits": datasets.load_digits, "breast_cancer": datasets.load_breast_cancer,
               "iris": datasets.load_iris, "wine": datasets.load_wine}
    if name not in loaders:
        raise InputError(f"unknown bundled dataset 'sklearn:{name}'; available: "
                         + ", ".join(f"sklearn:{n}" for n in loaders))
    bunch = loaders[name]()
    meta: dict[str, Any] = {"source": f"sklearn:{name}",
                            "class_names": [str(c) for c in bunch.target_names]}
    X = bunch.data
    if name == "digits":
        X = bunch.images  # (N, 8, 8), intensities 0..16
        meta["intensity_range"] = [0.0, 16.0]
    return Dataset(np.asarray(X, dtype=np.float64), np.asarray(bunch.target), f"sklearn:{name}",
                   meta)


def load_array(path: str | os.PathLike, *, key: str | None = None, mmap: bool = True) -> Any:
    """A numeric array from ``.npy`` (memory-mapped), ``.npz``, ``.csv``/``.tsv`` (numeric
    columns) or ``.pt`` (a tensor saved with ``torch.save``, loaded with
    ``weights_only=True``)."""
    return load(path, x_key=key, mmap=mmap).X


def load(source: str | os.PathLike, *, x_key: str | None = None, y_key: str | None = None,
         label_column: str | None = None, mmap: bool = True) -> Dataset:
    """A :class:`Dataset` from a file path or ``sklearn:NAME``."""
    s = str(source)
    if s.startswith("sklearn:"):
        return load_bundled(s.split(":", 1)[1])
    path = Path(s)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            X = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
            return Dataset(X, None, path.name, {"source": str(path)})
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                names = list(z.files)
                xk = x_key or ("X" if "X" in names else names[0] if len(names) == 1 else None)
                if xk is None or xk not in names:
                    raise InputError(f"{path}: array {x_key or 'X'!r} not found; arrays: {names}")
                yk = y_key or ("y" if "y" in names else None)
                if y_key and y_key not in names:
                    raise InputError(f"{path}: array {y_key!r} not found; arrays: {names}")
                return Dataset(z[xk], z[yk] if yk else None, path.name, {"source": str(path)})
        if suffix in (".csv", ".tsv"):
            import pandas as pd

            df = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
            y = None
            if label_column is not None:
                if label_column not in df.columns:
                    raise InputError(f"{path}: label column {label_column!r} does not exist; "
                                     f"columns: {list(df.columns)[:20]}")
                y = df.pop(label_column).to_numpy()
            nonnum = [str(c) for c in df.columns if not np.issubdtype(df[c].dtype, np.number)]
            if nonnum:
                raise InputError(f"{path}: non-numeric column(s) {nonnum[:5]}; name the label "
                                 f"column or drop them")
            return Dataset(df.to_numpy(dtype=np.float64), y, path.name, {"source": str(path)})
        if suffix == ".pt":
            import torch

            obj = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(obj, dict):
                xk = x_key or "X"
                if xk not in obj:
                    raise InputError(f"{path}: key {xk!r} not found; keys: {list(obj)[:20]}")
                y = obj.get(y_key or "y")
                return Dataset(obj[xk].numpy(), None if y is None else np.asarray(y), path.name,
                               {"source": str(path)})
            return Dataset(obj.numpy(), None, path.name, {"source": str(path)})
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"could not read {path}: {type(exc).__name__}: {exc}") from None
    raise InputError(f"unsupported file type {suffix!r} for {path} "
                     f"(.npy, .npz, .csv, .tsv, .pt or sklearn:NAME)")
