"""``StoreWriter``: the one way to fill an :class:`ActivationStore`.

Capture (:func:`idscope.representations.activations`) writes through it: **open** a new store
(``create``) or an existing one to resume (``StoreWriter(store)``), **write** a batch's rows
of a layer at their row offset, **mark** the batch **done** once all its layers are written
(the manifest records finished batches, so a killed capture resumes with nothing lost), and
**close** (progress flushed, files closed) on every way out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .activation_store import ActivationStore

__all__ = ["StoreWriter"]


class StoreWriter:
    """Writes rows into ``store`` and records finished batches.

    Use as a context manager, or call :meth:`open` and :meth:`close`.
    """

    def __init__(self, store: ActivationStore):
        self.store = store

    @classmethod
    def create(cls, path: str | Path, manifest: dict[str, Any], *,
               temporary: bool = False) -> StoreWriter:
        """A new store at ``path`` laid out by ``manifest`` (one file per layer, allocated
        now; no batch done). ``temporary``: the folder goes when the store is collected."""
        store = ActivationStore._create(Path(path), manifest)
        if temporary:
            store._make_temporary()
        return cls(store)

    def open(self) -> StoreWriter:
        """Open the layer files for writing."""
        self.store._open_files()
        return self

    def write(self, layer: str, start: int, rows: np.ndarray) -> None:
        """Write ``rows`` (B, D) at row ``start`` of ``layer``."""
        self.store._write(layer, start, rows)

    def mark_done(self, batch: int, *, fsync: bool = False, interval: float = 0.0) -> None:
        """Record ``batch`` as finished (its rows are written); ``fsync`` forces them to disk
        first; the manifest is saved when ``interval`` seconds have passed since it last
        was."""
        self.store._mark_done(batch, fsync=fsync, interval=interval)

    def close(self) -> None:
        """Save the finished batches and close the files (safe to call twice)."""
        self.store._flush_progress()
        self.store._close_files()

    def __enter__(self) -> StoreWriter:
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()
