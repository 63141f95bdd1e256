"""Selections from a labelled :class:`Dataset`: binary tasks, class pairs, balanced subsets.

The selected rows' positions in the parent dataset are kept in ``meta["indices"]`` (composed
through repeated selections), so results such as a label-sharpness witness pair can be
traced back to the original files.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from .._errors import InputError
from .._validation import check_int
from ._dataset import Dataset, slice_rows

__all__ = ["select_classes", "class_pairs", "balanced_subsample", "take", "class_name"]


def _labels(ds: Dataset, caller: str) -> np.ndarray:
    if ds.y is None:
        raise InputError(f"{caller}: dataset {ds.name!r} has no labels")
    y = np.asarray(ds.y)
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise InputError(f"{caller}: labels contain {int((~np.isfinite(y)).sum())} NaN or inf "
                         f"value(s)")
    return y


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def class_name(ds: Dataset, value: Any) -> str:
    """The name of the class with label ``value`` (``meta["class_names"][value]`` for
    integer labels, else ``str(value)``)."""
    names = ds.meta.get("class_names")
    if names is not None and isinstance(_py(value), int) and 0 <= _py(value) < len(names):
        return str(names[_py(value)])
    return str(_py(value))


def _resolve(ds: Dataset, y: np.ndarray, c: Any, caller: str) -> Any:
    """A label value from a label value or a class name (as given on a command line)."""
    present = [_py(v) for v in np.unique(y)]
    c = _py(c)
    for v in present:
        if isinstance(v, str) == isinstance(c, str) and v == c:
            return v
    names = ds.meta.get("class_names")
    if names is not None and str(c) in [str(n) for n in names]:
        idx = [str(n) for n in names].index(str(c))
        if y.dtype.kind in "iu" and idx in present:
            return idx
    for v in present:  # "3" on a command line for integer label 3
        if str(_py(v)) == str(c):
            return _py(v)
    avail = [class_name(ds, v) for v in present]
    raise InputError(f"{caller}: class {c!r} not found in {ds.name!r}; classes: "
                     f"{avail[:30]}{' ...' if len(avail) > 30 else ''}")


def take(ds: Dataset, index: np.ndarray, *, y: np.ndarray | None = None, name: str | None = None,
         meta: dict[str, Any] | None = None) -> Dataset:
    """Rows ``index`` (sorted positions) of ``ds``; a contiguous range stays a view, so a
    memory-mapped dataset is not loaded (any other selection of a memmap is read into
    memory)."""
    index = np.asarray(index, dtype=np.int64)
    X = ds.X
    if index.size and index[-1] - index[0] + 1 == index.size and np.all(np.diff(index) == 1):
        Xs = slice_rows(X, int(index[0]), int(index[-1]) + 1)
    elif type(X).__module__.startswith("torch"):
        import torch

        Xs = X[torch.as_tensor(index, device=X.device)]
    else:
        Xs = X[index]
    parent = ds.meta.get("indices")
    new_meta = dict(ds.meta)
    new_meta["indices"] = np.asarray(parent)[index] if parent is not None else index
    new_meta["parent"] = ds.meta.get("parent", ds.name)
    if meta:
        new_meta.update(meta)
    y_new = y if y is not None else (None if ds.y is None else np.asarray(ds.y)[index])
    return Dataset(Xs, y_new, name or ds.name, new_meta)


def select_classes(ds: Dataset, classes: Sequence[Any] = (3, 8)) -> Dataset:
    """A binary task from two classes: rows of ``classes[0]`` get label 0, ``classes[1]``
    label 1.

    ``classes`` are label values or class names (``"3"`` works for integer label 3).
    ``meta["class_names"]`` becomes the two names, ``meta["original_classes"]`` the two
    original label values, ``meta["indices"]`` the rows' positions in the parent.
    """
    caller = "select_classes"
    y = _labels(ds, caller)
    if isinstance(classes, (str, bytes)) or len(classes) != 2:
        raise InputError(f"{caller}: expected two classes, got {classes!r}")
    a, b = (_resolve(ds, y, c, caller) for c in classes)
    if a == b:
        raise InputError(f"{caller}: the two classes are the same ({a!r})")
    ma, mb = y == a, y == b
    index = np.flatnonzero(ma | mb)
    new_y = mb[index].astype(np.int64)
    names = [class_name(ds, a), class_name(ds, b)]
    return take(ds, index, y=new_y, name=f"{ds.name}[{names[0]} vs {names[1]}]",
                meta={"class_names": names, "original_classes": [a, b],
                      "original_class_names": ds.meta.get("class_names")})


def class_pairs(ds: Dataset) -> list[tuple[Any, Any]]:
    """All unordered pairs of label values, sorted (45 for the ten digits)."""
    y = _labels(ds, "class_pairs")
    return [(_py(a), _py(b)) for a, b in combinations(np.unique(y).tolist(), 2)]


def balanced_subsample(ds: Dataset, n: int, seed: int = 0) -> Dataset:
    """A seeded, class-balanced subsample of ``n`` rows.

    Each of the C classes gives ⌊n/C⌋ rows and the remainder n mod C goes, one each, to
    classes drawn at random (seeded); rows are drawn without replacement and returned in
    their original order. Raises :class:`InputError` when a class has fewer rows than its
    share.
    """
    caller = "balanced_subsample"
    y = _labels(ds, caller)
    n = check_int(n, "n", caller=caller, low=1)
    seed = check_int(seed, "seed", caller=caller, low=0)
    if n > y.size:
        raise InputError(f"{caller}: n={n} exceeds the {y.size} rows of {ds.name!r}")
    classes, codes = np.unique(y, return_inverse=True)
    n_cls = classes.size
    rng = np.random.default_rng(seed)
    quota = np.full(n_cls, n // n_cls)
    quota[rng.permutation(n_cls)[: n % n_cls]] += 1
    counts = np.bincount(codes, minlength=n_cls)
    short = np.flatnonzero(counts < quota)
    if short.size:
        c = short[0]
        raise InputError(f"{caller}: n={n} over {n_cls} classes needs {quota[c]} rows of class "
                         f"{class_name(ds, classes[c])!r}, which has only {counts[c]}")
    chosen = [rng.choice(np.flatnonzero(codes == c), quota[c], replace=False)
              for c in range(n_cls)]
    index = np.sort(np.concatenate(chosen))
    return take(ds, index, meta={"subsample": {"n": n, "seed": seed}})
