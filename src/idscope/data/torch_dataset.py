"""Any map-style dataset (``torch.utils.data.Dataset`` and the like) as a :class:`Dataset`."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError
from .._validation import check_int
from ._dataset import Dataset

__all__ = ["from_torch_dataset"]


def _to_numpy(value: Any, what: str, i: int) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)  # PIL images convert through __array_interface__
    except Exception as exc:
        raise InputError(f"from_torch_dataset: item {i}: could not convert the {what} "
                         f"({type(value).__name__}) to an array: {exc}") from None
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise InputError(f"from_torch_dataset: item {i}: the {what} is not numeric "
                         f"({type(value).__name__})")
    return arr


def from_torch_dataset(ds: Any, n: int | None = None, *, seed: int | None = None,
                       progress: bool | None = None) -> Dataset:
    """Features and labels of a map-style dataset, item by item.

    Parameters
    ----------
    ds : object with ``__len__`` and ``__getitem__``
        Each item is ``(x, y, ...)`` (extra entries ignored) or ``x`` alone; ``x`` may be a
        tensor, an array or a PIL image; ``y`` a number or a 0-d tensor. The features keep
        the items' shape (e.g. (N, C, H, W) for ``ToTensor()`` images) and are stacked as
        float32, so the dataset's transforms decide size, channels and intensity range.
    n : int, optional
        Number of items (default: all). The first ``n``, or with ``seed`` a seeded random
        choice of ``n`` items (sorted).
    seed : int, optional
        See ``n``.
    progress : bool, optional
        Progress bar (default: only on a terminal).

    Returns
    -------
    Dataset
        ``meta`` has ``source`` (the dataset's class name), ``item_shape``, ``indices`` and
        ``class_names`` when the dataset has a ``classes`` attribute.
    """
    caller = "from_torch_dataset"
    try:
        total = len(ds)
    except TypeError:
        raise InputError(f"{caller}: the dataset has no length (an IterableDataset?); "
                         f"pass a map-style dataset") from None
    if total == 0:
        raise InputError(f"{caller}: the dataset is empty")
    if n is None:
        index = np.arange(total)
    else:
        n = check_int(n, "n", caller=caller, low=1, high=total)
        if seed is None:
            index = np.arange(n)
        else:
            seed = check_int(seed, "seed", caller=caller, low=0)
            index = np.sort(np.random.default_rng(seed).choice(total, n, replace=False))
    from tqdm.auto import tqdm

    X: np.ndarray | None = None
    labels: list[Any] = []
    has_y = True
    for pos, i in enumerate(tqdm(index.tolist(), desc="reading dataset", unit="item",
                                 leave=False, disable=None if progress is None else not progress)):
        item = ds[i]
        if isinstance(item, (tuple, list)):
            x, y = item[0], (item[1] if len(item) > 1 else None)
        else:
            x, y = item, None
        xa = _to_numpy(x, "input", i)
        if X is None:
            X = np.empty((len(index), *xa.shape), dtype=np.float32)
            has_y = y is not None
        if xa.shape != X.shape[1:]:
            raise InputError(f"{caller}: item {i} has shape {xa.shape} but item {index[0]} has "
                             f"{X.shape[1:]}; resize in the dataset's transform")
        X[pos] = xa
        if has_y:
            if y is None:
                raise InputError(f"{caller}: item {i} has no label but earlier items do")
            ya = _to_numpy(y, "label", i)
            if ya.size != 1:
                raise InputError(f"{caller}: item {i}: label has shape {ya.shape}, expected a "
                                 f"scalar")
            labels.append(ya.reshape(()).item())
    y_arr = np.asarray(labels) if has_y else None
    meta: dict[str, Any] = {"source": type(ds).__name__, "kind": "torch",
                            "item_shape": list(X.shape[1:]), "indices": index}
    classes = getattr(ds, "classes", None)
    if classes is not None:
        meta["class_names"] = [str(c) for c in classes]
    return Dataset(X, y_arr, type(ds).__name__, meta)
