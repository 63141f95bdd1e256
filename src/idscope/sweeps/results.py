"""The results of a sweep: one row per finished run, kept so that nothing is ever lost.

Layout of a sweep's output folder::

    OUT/
      runs/<key>.json      one file per finished run (the source of truth), written atomically
      results.parquet      the consolidated table (when pyarrow is installed)
      results.csv          the same table as CSV
      sweep.json           the configuration and the planned run keys

A run's file appears only once the run has finished (temporary file + fsync + rename,
:mod:`idscope._atomic`), so a sweep killed at any point leaves no partial row; the tables are
rewritten atomically from the run files after every run (and again when a sweep starts, in
case it was killed between the two writes). Resuming reads the run files, skips their keys and
recomputes nothing. The tables hold every run recorded in the folder, in a fixed order (dataset,
task, model, N, seed, key), so the same runs always give the same table.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

from .. import _atomic
from .._errors import InputError

__all__ = ["ResultsStore", "load_results", "SORT_COLUMNS", "TIMING_COLUMNS"]

SORT_COLUMNS = ("dataset", "task", "model", "n_train", "seed", "key")
# Columns that differ between two executions of the same run (wall-clock time).
TIMING_COLUMNS = ("seconds",)


def _clean(value: Any) -> Any:
    """JSON-safe scalars: NaN/inf become None (JSON has no NaN) and come back as NaN."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class ResultsStore:
    """The results folder of one sweep: finished keys, rows, and the consolidated tables.

    Parameters
    ----------
    out_dir : path
        Created if missing.
    """

    def __init__(self, out_dir: str | os.PathLike):
        self.out_dir = Path(out_dir)
        self.runs_dir = self.out_dir / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._rows: dict[str, dict[str, Any]] = {}
        for p in sorted(self.runs_dir.glob("*.json")):
            try:
                row = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                # Atomic writes make this unexpected (a disk error, a hand edit): rerun it.
                warnings.warn(f"ignoring unreadable run file {p} ({exc}); it will be rerun",
                              RuntimeWarning, stacklevel=2)
                continue
            if isinstance(row, dict) and row.get("key") == p.stem:
                self._rows[p.stem] = row

    @property
    def parquet_path(self) -> Path:
        return self.out_dir / "results.parquet"

    @property
    def csv_path(self) -> Path:
        return self.out_dir / "results.csv"

    def done_keys(self) -> frozenset[str]:
        return frozenset(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def rows(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._rows.values()]

    def add(self, row: dict[str, Any], *, write_tables: bool = True) -> None:
        """Record one finished run (atomically), then refresh the tables."""
        key = row.get("key")
        if not isinstance(key, str) or not key:
            raise InputError("ResultsStore.add: a row needs its run 'key'")
        clean = {k: _clean(v) for k, v in row.items()}
        _atomic.write_text(self.runs_dir / f"{key}.json",
                           json.dumps(clean, sort_keys=False, allow_nan=False) + "\n")
        self._rows[key] = clean
        if write_tables:
            self.write_tables()

    def table(self):
        """All recorded runs as a pandas DataFrame in the fixed order."""
        return _to_frame(list(self._rows.values()))

    def write_tables(self) -> list[Path]:
        """Rewrite ``results.parquet`` (if pyarrow is available) and ``results.csv``
        atomically; return the paths written."""
        df = self.table()
        written = []
        if _has_pyarrow():
            with _atomic.atomic_file(self.parquet_path) as fh:
                df.to_parquet(fh, index=False)
            written.append(self.parquet_path)
        _atomic.write_text(self.csv_path, df.to_csv(index=False))
        written.append(self.csv_path)
        return written

    def remove_temporaries(self) -> list[Path]:
        """Delete the hidden temporary files of atomic writes (``.NAME.*``) that a killed
        sweep left behind where the file system could not write unnamed files; call only
        while holding the folder's lock (no write is in progress)."""
        stale = [p for p in self.out_dir.glob(".*")
                 if p.name.startswith((".results.parquet.", ".results.csv.", ".sweep.json."))]
        for sub in (self.runs_dir, self.out_dir / "failed"):
            stale += sub.glob(".*") if sub.is_dir() else []
        removed = [p for p in stale if p.is_file()]
        for p in removed:
            p.unlink(missing_ok=True)
        return removed

    def write_manifest(self, info: dict[str, Any]) -> Path:
        path = self.out_dir / "sweep.json"
        _atomic.write_json(path, info)
        return path


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _to_frame(rows: list[dict[str, Any]]):
    import pandas as pd

    df = pd.DataFrame(rows)
    if df.empty:
        return df
    by = [c for c in SORT_COLUMNS if c in df.columns]
    return df.sort_values(by, kind="mergesort").reset_index(drop=True)


def load_results(path: str | os.PathLike):
    """A results table as a pandas DataFrame.

    ``path`` is a sweep's output folder (its run files are read, so a table is complete even
    if the sweep was killed between writing a run and refreshing the table), a ``.parquet``
    file or a ``.csv`` file.
    """
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        if (path / "runs").is_dir() and any((path / "runs").glob("*.json")):
            return ResultsStore(path).table()
        for name in ("results.parquet", "results.csv"):
            if (path / name).is_file():
                return load_results(path / name)
        raise InputError(f"load_results: {path} holds no results (no runs/*.json, "
                         f"results.parquet or results.csv)")
    if not path.is_file():
        raise InputError(f"load_results: no such file or folder: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        if not _has_pyarrow():
            from .._errors import MissingDependencyError

            raise MissingDependencyError("reading Parquet needs pyarrow (pip install pyarrow), "
                                         "or pass the CSV table")
        return _to_frame(pd.read_parquet(path).to_dict("records"))
    if suffix == ".csv":
        return _to_frame(pd.read_csv(path).to_dict("records"))
    raise InputError(f"load_results: {path} is not a results folder, .parquet or .csv")
