"""The one input gate: every public function validates its data here.

Messages say what is wrong, how many and who needs it (``caller``).
"""

from __future__ import annotations

import mmap
import warnings
from typing import Any

import numpy as np

from ._errors import InputError, InputTypeError, SmallSampleWarning

__all__ = ["check_array", "check_int", "check_labels", "check_lengths", "check_samples",
           "check_sample_size", "is_memmap", "check_choice", "SMALL_SAMPLE"]

#: Fewest distinct points for an intrinsic-dimension estimate without a warning. TwoNN's
#: ratio μ has a Pareto law with shape d: from n ratios the estimate's relative error is
#: about 1/√n, and its interval rests on large-n approximations (and ≥ 20 points).
SMALL_SAMPLE = 20


def is_memmap(X: Any) -> bool:
    """True for a file-backed ``np.memmap`` whose rows can be streamed from disk."""
    return isinstance(X, np.memmap) and getattr(X, "filename", None) is not None


def _finite_count(X: Any, block_rows: int) -> int:
    """Number of non-finite values, counted in row blocks so memmaps are never loaded whole."""
    bad = 0
    # Pages read through a shared mapping stay in the resident set until it is closed:
    # drop them after each block (they are re-read from the page cache if touched again).
    mm = getattr(X, "_mmap", None) if is_memmap(X) and getattr(X, "mode", "c") != "c" else None
    for start in range(0, X.shape[0], block_rows):
        block = np.asarray(X[start : start + block_rows])
        bad += int(block.size - np.count_nonzero(np.isfinite(block)))
        if mm is not None and hasattr(mm, "madvise"):
            del block
            mm.madvise(mmap.MADV_DONTNEED)
    return bad


def check_array(
    X: Any,
    *,
    caller: str,
    min_samples: int = 2,
    allow_torch: bool = True,
    allow_memmap: bool = True,
    check_finite: bool = True,
) -> Any:
    """Validate a 2-D numeric point cloud (rows are points).

    Returns a numpy array (float32 or float64), the original ``np.memmap``, or a torch tensor
    (when ``allow_torch``); never a silent copy of a memmap.
    """
    if X is None:
        raise InputError(f"{caller}: expected a 2-D array of points, got None")
    if allow_torch and type(X).__module__.startswith("torch"):
        import torch

        if isinstance(X, torch.Tensor):
            if X.ndim != 2:
                raise InputError(f"{caller}: expected a 2-D array (points x features), got "
                                 f"{X.ndim}-D tensor of shape {tuple(X.shape)}")
            if not (X.is_floating_point() or X.dtype in (torch.int32, torch.int64, torch.uint8)):
                raise InputError(f"{caller}: tensor dtype {X.dtype} is not numeric")
            if not X.is_floating_point():
                X = X.double()
            _check_shape(tuple(X.shape), caller, min_samples)
            if check_finite:
                bad = int((~torch.isfinite(X)).sum())
                if bad:
                    raise InputError(f"{caller}: input contains {bad} NaN or inf value(s)")
            return X
    if is_memmap(X) and X.dtype.kind in "biu" or (is_memmap(X) and X.dtype.kind == "f"
                                                 and not X.flags.c_contiguous):
        # Streamed from disk are float, row-major memmaps; integer or column-major (Fortran
        # order) ones are read into memory as float, row-major arrays, like any array.
        X = np.ascontiguousarray(X, dtype=X.dtype if X.dtype.kind == "f" else np.float64)
    if is_memmap(X) and allow_memmap:
        if X.ndim != 2:
            raise InputError(f"{caller}: expected a 2-D memmap, got shape {X.shape}")
        if X.dtype.kind != "f":
            raise InputError(f"{caller}: memmap dtype {X.dtype} is not numeric")
        _check_shape(X.shape, caller, min_samples)
        if check_finite:
            # One streamed pass in blocks of ~64 MiB.
            bad = _finite_count(X, max(1, (64 << 20) // max(1, X.shape[1] * X.itemsize)))
            if bad:
                raise InputError(f"{caller}: input contains {bad} NaN or inf value(s)")
        return X
    if hasattr(X, "to_numpy") and hasattr(X, "dtypes"):  # pandas DataFrame
        X = _numpy_dtype_frame(X, caller)
        nonnum = [str(c) for c, t in zip(X.columns, X.dtypes) if not np.issubdtype(t, np.number)]
        if nonnum:
            raise InputError(f"{caller}: non-numeric column(s) {nonnum[:5]}"
                             f"{' ...' if len(nonnum) > 5 else ''}")
        X = X.to_numpy()
    if type(X).__module__.startswith("scipy.sparse"):
        raise InputError(f"{caller}: sparse input is not supported (distances need dense "
                         f"rows); pass X.toarray()")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise InputError(f"{caller}: could not convert input to an array ({exc})") from None
    if arr.dtype == object:
        # numbers held in an object array are numbers (scikit-learn's convention)
        try:
            if any(v is None for v in arr.flat):  # astype would make None a NaN
                raise TypeError("None is not a number")
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InputTypeError(f"{caller}: input is not numeric (dtype object: {exc})"
                                 ) from None
    if arr.dtype.kind in "USV":
        raise InputError(f"{caller}: input is not numeric (dtype {arr.dtype})")
    if arr.dtype.kind == "b" or arr.dtype.kind in "iu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind == "c":
        raise InputError(f"{caller}: complex input is not supported (Complex data not "
                         f"supported: pass its real part or its magnitude)")
    elif arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.ndim != 2:
        raise InputError(f"{caller}: expected a 2-D array (points x features), got "
                         f"{arr.ndim}-D array of shape {arr.shape}")
    _check_shape(arr.shape, caller, min_samples)
    if check_finite:
        # in blocks of ~64 MiB: a whole-array np.isfinite mask would cost N·D bytes
        bad = _finite_count(arr, max(1, (64 << 20) // max(1, arr.shape[1] * arr.itemsize)))
        if bad:
            raise InputError(f"{caller}: input contains {bad} NaN or inf value(s)")
    return arr


def check_samples(data: Any, *, caller: str) -> None:
    """Arrays and tensors fed to a model: one sample per row (at least 2-D) and only finite
    values (counted in ~64 MiB row blocks, so memmaps stream). Other data (datasets,
    loaders, dicts of tensors) are checked as their batches are read."""
    is_torch = type(data).__module__.startswith("torch") and hasattr(data, "is_floating_point")
    if not (isinstance(data, np.ndarray) or is_torch):
        return
    if data.ndim < 2:
        raise InputError(f"{caller}: the data have shape {tuple(data.shape)}; a model needs "
                         f"one sample per row, (N, features...) (for one feature per sample: "
                         f"X.reshape(-1, 1))")
    if is_torch:
        bad = int((~data.isfinite()).sum()) if data.is_floating_point() else 0
    elif data.dtype.kind in "fc":
        row = max(1, int(np.prod(data.shape[1:], dtype=np.int64)) * data.itemsize)
        bad = _finite_count(data, max(1, (64 << 20) // row))
    else:
        bad = 0
    if bad:
        raise InputError(f"{caller}: the data contain {bad} NaN or inf value(s)")


def _numpy_dtype_frame(df: Any, caller: str) -> Any:
    """A DataFrame whose pandas extension-dtype columns (strings, categories, nullable
    integers; not numpy dtypes, so ``np.issubdtype`` cannot test them) are checked and made
    float64 (missing values become NaN)."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    ext = [c for c, t in zip(df.columns, df.dtypes) if not isinstance(t, np.dtype)]
    if not ext:
        return df
    nonnum = [str(c) for c in ext
              if not (is_numeric_dtype(df[c].dtype) or is_bool_dtype(df[c].dtype))]
    if nonnum:
        raise InputError(f"{caller}: non-numeric column(s) {nonnum[:5]}"
                         f"{' ...' if len(nonnum) > 5 else ''}")
    df = df.copy()
    for c in ext:
        df[c] = df[c].to_numpy(dtype=np.float64, na_value=np.nan)
    return df


def _check_shape(shape: tuple[int, ...], caller: str, min_samples: int) -> None:
    n, d = shape
    if n == 0 or d == 0:
        what = "feature(s)" if d == 0 else "sample(s)"
        raise InputError(f"{caller}: input is empty (shape {tuple(shape)}): 0 {what} "
                         f"(shape={tuple(shape)}) while a minimum of "
                         f"{1 if d == 0 else min_samples} is required.")
    if n < min_samples:
        raise InputError(f"{caller}: needs at least {min_samples} points, got {n} "
                         f"(n_samples={n})")


def check_sample_size(n: int, *, minimum: int, caller: str, note: str = "") -> None:
    """The minimum-N rule of the estimators: fewer than ``minimum`` distinct points is an
    error; fewer than :data:`SMALL_SAMPLE` gives a :class:`SmallSampleWarning` (an estimate
    from a handful of points, e.g. TwoNN on 3, is mostly chance)."""
    if n < minimum:
        raise InputError(f"{caller}: needs at least {minimum} distinct points, got {n}{note}")
    if n < SMALL_SAMPLE:
        warnings.warn(f"{caller}: an estimate from only {n} distinct points{note} is not "
                      f"reliable (its value and interval need at least {SMALL_SAMPLE})",
                      SmallSampleWarning, stacklevel=4)


def check_int(value: Any, name: str, *, caller: str, low: int, high: int | None = None) -> int:
    """An integer in ``[low, high]`` (inclusive)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{caller}: {name} must be an integer, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        rng = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise InputError(f"{caller}: {name}={value} is out of range {rng}")
    return value


def check_choice(value: Any, name: str, choices: tuple[str, ...], *, caller: str) -> str:
    if value not in choices:
        allowed = ", ".join(map(repr, choices))
        raise InputError(f"{caller}: {name}={value!r} is not one of {allowed}")
    return value


def check_lengths(n_rows: int, n_labels: int, *, caller: str) -> None:
    """Rows and labels pair one to one: a length mismatch is an error, never a silent
    truncation (which would drop rows) or an index error."""
    if n_labels != n_rows:
        raise InputError(f"{caller}: {n_labels} labels for {n_rows} points (lengths must "
                         f"match)")


def check_labels(y: Any, n: int, *, caller: str) -> np.ndarray:
    """Labels: 1-D, length ``n``, no NaN."""
    y = np.asarray(y)
    if y.ndim != 1:
        y = y.reshape(-1) if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1:
        raise InputError(f"{caller}: labels must be 1-D, got shape {y.shape}")
    check_lengths(n, y.shape[0], caller=caller)
    if y.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(y)))
        if bad:
            raise InputError(f"{caller}: labels contain {bad} NaN or inf value(s)")
    if y.dtype == object:
        if any(v is None or (isinstance(v, float) and not np.isfinite(v)) for v in y):
            raise InputError(f"{caller}: labels contain missing values")
    return y
