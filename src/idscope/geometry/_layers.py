"""Layers as arrays: an activation store, its folder, or a mapping of names to arrays.

Every layer × layer matrix of :mod:`idscope.geometry` reads its layers through
:func:`layer_arrays`, so a store from ``idscope.activations`` (or ``idscope profile
--store``) and a plain ``{"name": array}`` dict are interchangeable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import InputError
from .._validation import check_array
from ..representations import ActivationStore

__all__ = ["layer_arrays", "LayerMatrix"]

_IN_MEMORY = 256 << 20  # bytes: store layers up to this size are read into memory


def layer_arrays(source: Any, layers: list[str] | None = None, *, caller: str
                 ) -> dict[str, Any]:
    """``{layer: (N, D) array}`` in depth (or insertion) order, all with the same N.

    ``source`` is an :class:`~idscope.ActivationStore`, the folder of one, or a mapping of
    names to arrays (numpy, memmap, torch). Small store layers are read into memory; larger
    ones stay memory-mapped (the kNN engine and CKA stream them).
    """
    if isinstance(source, (str, os.PathLike)):
        source = ActivationStore.open(source)
    if isinstance(source, ActivationStore):
        if not source.complete:
            raise InputError(f"{caller}: the activation store {source.path} is incomplete; "
                             f"resume the extraction first")
        names = source.layers if layers is None else list(layers)
        out = {}
        for name in names:
            n, d = (int(s) for s in source.info(name)["shape"])
            out[name] = (source.read_rows(name, 0, n) if n * d * source.dtype.itemsize
                         <= _IN_MEMORY else source[name])
    elif isinstance(source, Mapping):
        names = list(source) if layers is None else list(layers)
        missing = [n for n in names if n not in source]
        if missing:
            raise InputError(f"{caller}: no layer(s) {missing}; layers: {list(source)}")
        out = {str(n): source[n] for n in names}
    else:
        raise InputError(f"{caller}: expected an ActivationStore, its folder or a dict of "
                         f"arrays, got {type(source).__name__}")
    if not out:
        raise InputError(f"{caller}: no layers to compare")
    checked = {name: check_array(X, caller=f"{caller} (layer {name!r})")
               for name, X in out.items()}
    sizes = {name: int(X.shape[0]) for name, X in checked.items()}
    if len(set(sizes.values())) > 1:
        raise InputError(f"{caller}: layers hold different numbers of samples: {sizes}")
    return checked


@dataclass(frozen=True)
class LayerMatrix:
    """A layer × layer table: ``values[i, j]`` compares row layer ``rows[i]`` (of model
    ``row_model``) with column layer ``cols[j]`` (of ``col_model``); ``metric`` names the
    comparison and ``params`` its settings."""

    metric: str
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    values: np.ndarray
    row_model: str = "model"
    col_model: str = "model"
    params: dict[str, Any] = field(default_factory=dict)

    def value(self, row: str, col: str) -> float:
        """The entry for layers ``row`` and ``col``."""
        try:
            return float(self.values[self.rows.index(row), self.cols.index(col)])
        except ValueError:
            raise InputError(f"LayerMatrix: no entry ({row!r}, {col!r}); rows {self.rows}, "
                             f"columns {self.cols}") from None

    def records(self) -> list[dict[str, Any]]:
        """One dict per entry (a long table)."""
        return [{"metric": self.metric, "row_model": self.row_model, "row_layer": r,
                 "col_model": self.col_model, "col_layer": c,
                 "value": float(self.values[i, j])}
                for i, r in enumerate(self.rows) for j, c in enumerate(self.cols)]

    def to_frame(self):
        """The matrix as a pandas DataFrame (rows × columns, named by layer)."""
        import pandas as pd

        return pd.DataFrame(self.values, index=list(self.rows), columns=list(self.cols))

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "rows": list(self.rows), "cols": list(self.cols),
                "values": self.values.tolist(), "row_model": self.row_model,
                "col_model": self.col_model, "params": dict(self.params)}
