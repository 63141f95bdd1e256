"""The container every data source returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Dataset:
    """Features ``X`` (shape as stored: (N, D) tables, (N, H, W[, C]) images), labels ``y``
    (or None), a ``name`` and ``meta`` (source, intensity range, class names, ...)."""

    X: Any
    y: np.ndarray | None
    name: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    def flat(self) -> Any:
        """Features as a 2-D (N, D) array (a view when possible; memmaps stay memmaps)."""
        X = self.X
        return X if X.ndim == 2 else X.reshape(X.shape[0], -1)
