"""The container every data source returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import check_lengths


@dataclass
class Dataset:
    """Features ``X`` (shape as stored: (N, D) tables, (N, H, W[, C]) images), labels ``y``
    (or None), a ``name`` and ``meta`` (source, intensity range, class names, ...)."""

    X: Any
    y: np.ndarray | None
    name: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # every source pairs rows and labels here: a mismatch must fail, not drop rows
        if self.y is not None and np.ndim(self.X) >= 1:
            y_shape = np.shape(self.y)
            check_lengths(int(np.shape(self.X)[0]), int(y_shape[0]) if y_shape else 1,
                          caller=f"dataset {self.name!r}")

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    def flat(self) -> Any:
        """Features as a 2-D (N, D) array (a view when possible; memmaps stay memmaps)."""
        X = self.X
        return X if X.ndim == 2 else X.reshape(X.shape[0], -1)


def slice_rows(X: Any, start: int, stop: int) -> Any:
    """Rows [start, stop) as a view. For a file-backed ``np.memmap`` the result is a fresh
    memmap with the right file offset (numpy's slices keep the parent's offset), so the
    neighbour engine can still stream it from disk."""
    part = X[start:stop]
    filename = getattr(X, "filename", None)
    if not isinstance(X, np.memmap) or filename is None or not X.flags.c_contiguous \
            or stop <= start:
        return part
    row_bytes = X.itemsize * int(np.prod(X.shape[1:], dtype=np.int64))
    try:
        mm = np.memmap(filename, dtype=X.dtype, mode="r", offset=X.offset + start * row_bytes,
                       shape=(stop - start, *X.shape[1:]))
    except (OSError, ValueError):
        return part
    # X.offset is stale when X is itself a slice: use the new map only if it agrees
    if np.array_equal(mm[:1], part[:1]) and np.array_equal(mm[-1:], part[-1:]):
        return mm
    return part
