"""An activation store: one ``.npy`` file per layer (N × D_layer, float32 or float16) and a
``manifest.json``, in one folder.

Rows are written with ``os.pwrite`` into files allocated at creation (disk space is reserved
up front, so a full disk fails at once, not hours later), never through a long-lived memory
map: pages written or read do not accumulate in the process's resident set, so capture and
estimation stay within a few hundred MiB whatever the layer size. The manifest is rewritten
atomically after every batch and lists the finished batches, so an interrupted extraction
resumes where it stopped. Reading a layer back (``store[name]``) gives a read-only
``np.memmap``: nothing is recomputed.

A manifest is data, not instructions: :meth:`ActivationStore.open` checks it against the
schema below (:func:`validate_manifest`), every layer file must be a plain name made by the
store (``NNN_name.npy``) that resolves inside the folder (no ``..``, absolute paths or
symlinks out), of a float dtype, and its ``.npy`` header must agree with the manifest before
any byte is read or written; anything else is one :class:`InputError`.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import NO_SPACE_ERRNOS, check_free_space, storage_error, write_json
from .._errors import InputError, StorageError
from .._fileio import pread_exact, pwrite_all

__all__ = ["ActivationStore", "MANIFEST", "FORMAT", "validate_manifest"]

MANIFEST = "manifest.json"
FORMAT = "idscope-activations"
VERSION = 1
DTYPES = ("float32", "float16")
# the names _file_name makes: never a path, never "..", never absolute
_FILE_RE = re.compile(r"[0-9]{3,}_[A-Za-z0-9_.-]{1,80}\.npy")


def _file_name(index: int, layer: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", layer)[:80] or "layer"
    return f"{index:03d}_{safe}.npy"


def _filesystem_type(path: Path) -> str:
    """The type of the file system holding ``path`` (from /proc/mounts; "" if unknown)."""
    try:
        target = str(path.resolve())
        best, fstype = "", ""
        with open("/proc/mounts") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1]
                inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= len(best):
                    best, fstype = mnt, parts[2]
        return fstype
    except OSError:
        return ""


def _is_int(v: Any, low: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def validate_manifest(manifest: Any, where: str) -> dict[str, Any]:
    """Check a manifest read from disk against the store's schema; returns it unchanged.

    Required: ``format``, ``version`` (≤ this version), ``n_samples`` ≥ 1, ``dtype`` in
    float32/float16, ``complete``, ``model`` and ``data`` objects, ``batches`` (``total`` ≥
    1, ``size``, ``done`` as ``[first, last + 1]`` runs within ``total``) and ``layers``:
    objects with a unique ``name``, a unique ``file`` made by the store, ``shape``
    ``[n_samples, D ≥ 1]``, ``offset``, ``raw_shape``, ``module_type``, ``kind``, ``depth``
    and ``relative_depth``.
    """
    def bad(msg: str) -> InputError:
        return InputError(f"ActivationStore.open: {where} is not a valid idscope activation "
                          f"manifest: {msg}")

    if not isinstance(manifest, dict):
        raise bad(f"expected a JSON object, got a {type(manifest).__name__}")
    if manifest.get("format") != FORMAT:
        raise bad(f"format is {manifest.get('format')!r}, not {FORMAT!r}")
    missing = [k for k in ("version", "n_samples", "dtype", "complete", "model", "data",
                           "batches", "layers") if k not in manifest]
    if missing:
        raise bad(f"missing key(s) {missing}")
    if not _is_int(manifest["version"], 1) or manifest["version"] > VERSION:
        raise bad(f"version {manifest['version']!r} is not 1..{VERSION}")
    n = manifest["n_samples"]
    if not _is_int(n, 1):
        raise bad(f"n_samples={n!r} is not a positive integer")
    if manifest["dtype"] not in DTYPES:
        raise bad(f"dtype={manifest['dtype']!r} is not one of {', '.join(DTYPES)}")
    if not isinstance(manifest["complete"], bool):
        raise bad("complete must be true or false")
    for key in ("model", "data"):
        if not isinstance(manifest[key], dict):
            raise bad(f"{key} must be an object")
    b = manifest["batches"]
    if not isinstance(b, dict) or not _is_int(b.get("total"), 1) or not (
            b.get("size") is None or _is_int(b.get("size"), 1)) or not isinstance(
            b.get("done"), list):
        raise bad("batches must hold total (>= 1), size and done")
    for run in b["done"]:
        if not (isinstance(run, list) and len(run) == 2 and _is_int(run[0])
                and _is_int(run[1]) and run[0] < run[1] <= b["total"]):
            raise bad(f"batches.done holds {run!r}, not a run [first, last + 1] within "
                      f"{b['total']} batches")
    layers = manifest["layers"]
    if not isinstance(layers, list) or not layers:
        raise bad("layers must be a non-empty list")
    names, files = set(), set()
    for i, e in enumerate(layers):
        if not isinstance(e, dict):
            raise bad(f"layers[{i}] is not an object")
        lack = [k for k in ("name", "file", "shape", "offset", "raw_shape", "module_type",
                            "kind", "depth", "relative_depth") if k not in e]
        if lack:
            raise bad(f"layers[{i}] lacks {lack}")
        name, file, shape = e["name"], e["file"], e["shape"]
        if not isinstance(name, str) or not name or name in names:
            raise bad(f"layers[{i}].name {name!r} is empty, not a string or repeated")
        if not isinstance(file, str) or not _FILE_RE.fullmatch(file) or file in files:
            raise bad(f"layer {name!r}: file {file!r} is not a file name made by the store "
                      f"(NNN_name.npy, inside the store folder) or is repeated")
        if not (isinstance(shape, list) and len(shape) == 2 and shape[0] == n
                and _is_int(shape[1], 1)):
            raise bad(f"layer {name!r}: shape {shape!r} is not [{n}, D >= 1]")
        if not _is_int(e["offset"]):
            raise bad(f"layer {name!r}: offset {e['offset']!r} is not an integer >= 0")
        if not (isinstance(e["raw_shape"], list) and all(_is_int(v) for v in e["raw_shape"])):
            raise bad(f"layer {name!r}: raw_shape {e['raw_shape']!r} is not a list of sizes")
        if not (isinstance(e["module_type"], str) and isinstance(e["kind"], str)
                and _is_int(e["depth"]) and isinstance(e["relative_depth"], (int, float))
                and not isinstance(e["relative_depth"], bool)):
            raise bad(f"layer {name!r}: module_type, kind, depth or relative_depth has the "
                      f"wrong type")
        names.add(name)
        files.add(file)
    return manifest


def _runs(done: set[int]) -> list[list[int]]:
    """Sorted batch indices as ``[first, last + 1]`` runs (a short manifest)."""
    out: list[list[int]] = []
    for i in sorted(done):
        if out and out[-1][1] == i:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return out


def _from_runs(runs: list[list[int]]) -> set[int]:
    return {i for a, b in runs for i in range(a, b)}


class ActivationStore:
    """Layer activations on disk.

    ``store[layer]`` is the (N, D) read-only ``np.memmap`` of a layer; ``store.layers`` the
    names in depth order; ``store.info(layer)`` its shape before flattening, module type and
    depth; ``store.manifest`` everything recorded (model, data, settings, finished batches).
    Open an existing store with :meth:`ActivationStore.open`.
    """

    def __init__(self, path: str | os.PathLike, manifest: dict[str, Any]):
        self.path = Path(path)
        self._manifest = manifest
        self._fds: dict[str, int] = {}
        self._temporary = False
        self._done: set[int] | None = None
        self._dirty = False
        self._last_save = time.monotonic()
        self._verified: set[str] = set()

    # -- reading -----------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike) -> ActivationStore:
        """Open the store in folder ``path`` (no recomputation)."""
        import json

        path = Path(path)
        mpath = path / MANIFEST
        if not mpath.is_file():
            raise InputError(f"ActivationStore.open: {path} is not an activation store (no "
                             f"{MANIFEST})")
        try:
            manifest = json.loads(mpath.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"ActivationStore.open: cannot read {mpath}: {exc}") from None
        return cls(path, validate_manifest(manifest, str(mpath)))

    @property
    def manifest(self) -> dict[str, Any]:
        return copy.deepcopy(self._manifest)

    @property
    def layers(self) -> list[str]:
        return [entry["name"] for entry in self._manifest["layers"]]

    @property
    def n_samples(self) -> int:
        return int(self._manifest["n_samples"])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._manifest["dtype"])

    @property
    def complete(self) -> bool:
        return bool(self._manifest.get("complete"))

    @property
    def n_batches(self) -> int:
        return int(self._manifest["batches"]["total"])

    @property
    def done_batches(self) -> set[int]:
        return _from_runs(self._manifest["batches"]["done"])

    def info(self, layer: str) -> dict[str, Any]:
        """The manifest entry of ``layer`` (name, file, shape, raw_shape, depth, ...)."""
        for entry in self._manifest["layers"]:
            if entry["name"] == layer:
                return dict(entry)
        raise InputError(f"ActivationStore: no layer {layer!r}; layers: {self.layers}")

    def file(self, layer: str) -> Path:
        return self._inside(self.info(layer)["file"])

    def _inside(self, file: str) -> Path:
        """``self.path / file``, refused unless it resolves to a file directly in the store
        (a symlink out of the folder, or a name that is not one the store makes)."""
        if not _FILE_RE.fullmatch(file):
            raise InputError(f"ActivationStore: {file!r} is not a layer file name of the store")
        f = self.path / file
        real = f.resolve()
        if real.parent != self.path.resolve():
            raise InputError(f"ActivationStore: {f} resolves to {real}, outside the store "
                             f"{self.path}")
        return f

    def verify(self, layers: list[str] | None = None) -> None:
        """Check that each layer's file (default: all) exists inside the store and that its
        ``.npy`` header agrees with the manifest; :class:`InputError` otherwise."""
        for layer in self.layers if layers is None else layers:
            self._layer_file(layer)

    def _layer_file(self, layer: str) -> tuple[dict[str, Any], Path]:
        """The manifest entry and path of ``layer``, after checking (once) that its file
        exists inside the store and that its ``.npy`` header matches the manifest."""
        entry = self.info(layer)
        f = self._inside(entry["file"])
        if layer in self._verified:
            return entry, f
        n, d = entry["shape"]
        try:
            with open(f, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read(fh)
                offset = fh.tell()
                size = os.fstat(fh.fileno()).st_size
        except FileNotFoundError:
            raise InputError(f"ActivationStore: the file {entry['file']} of layer {layer!r} "
                             f"is missing from {self.path}; rebuild the store (resume=False) "
                             f"or delete the folder") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"ActivationStore: {f} is not a readable .npy file ({exc})"
                             ) from None
        if (tuple(shape) != (n, d) or fortran or dtype != self.dtype
                or offset != entry["offset"] or size < offset + n * d * self.dtype.itemsize):
            raise InputError(f"ActivationStore: {entry['file']} holds {tuple(shape)} {dtype} "
                             f"at byte {offset} in {size} bytes; the manifest says ({n}, {d}) "
                             f"{self.dtype} at byte {entry['offset']}")
        self._verified.add(layer)
        return entry, f

    def __getitem__(self, layer: str) -> np.memmap:
        if not self.complete:
            raise InputError(f"ActivationStore: {self.path} is incomplete "
                             f"({len(self.done_batches)} of {self.n_batches} batches); "
                             f"resume the extraction first")
        return self._memmap(layer)

    def _memmap(self, layer: str) -> np.memmap:
        entry, f = self._layer_file(layer)
        arr = np.load(f, mmap_mode="r", allow_pickle=False)
        if tuple(arr.shape) != tuple(entry["shape"]) or arr.dtype != self.dtype:
            raise InputError(f"ActivationStore: {entry['file']} has shape {arr.shape} and "
                             f"dtype {arr.dtype}; the manifest says {tuple(entry['shape'])} "
                             f"{self.dtype}")
        return arr

    def __contains__(self, layer: object) -> bool:
        return layer in self.layers

    def __iter__(self) -> Iterator[str]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self._manifest["layers"])

    def keys(self) -> list[str]:
        return self.layers

    def read_rows(self, layer: str, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` of ``layer`` as a new array (read with ``pread``, so the
        pages do not stay mapped in this process)."""
        entry, f = self._layer_file(layer)
        n, d = entry["shape"]
        start, stop = max(0, start), min(n, stop)
        out = np.empty((max(0, stop - start), d), dtype=self.dtype)
        if out.size == 0:
            return out
        offset = int(entry["offset"]) + start * d * self.dtype.itemsize
        fd = os.open(f, os.O_RDONLY)
        try:
            pread_exact(fd, out, offset)
        except OSError as exc:
            raise InputError(f"ActivationStore: cannot read {entry['file']}: {exc}") from None
        finally:
            os.close(fd)
        return out

    def read_cols(self, layer: str, start: int, stop: int) -> np.ndarray:
        """Columns ``[start, stop)`` of every row as a new C-ordered array (a fresh mapping,
        closed before returning)."""
        entry, f = self._layer_file(layer)
        mm = np.memmap(f, dtype=self.dtype, mode="r",
                       offset=int(entry["offset"]), shape=tuple(entry["shape"]))
        try:
            return np.array(mm[:, start:stop], order="C")
        finally:
            mm._mmap.close()  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), **self.manifest}

    def __repr__(self) -> str:
        state = "complete" if self.complete else (
            f"{len(self.done_batches)}/{self.n_batches} batches")
        return (f"ActivationStore({str(self.path)!r}, {self.n_samples} samples, "
                f"{len(self)} layers, {self._manifest['dtype']}, {state})")

    # -- writing (used by idscope.representations.activations) -------------------------
    @classmethod
    def _create(cls, path: Path, manifest: dict[str, Any]) -> ActivationStore:
        """Allocate one file per layer and write the manifest (no batch done yet)."""
        path.mkdir(parents=True, exist_ok=True)
        # tmpfs pages are memory: reserving them only zeroes memory that pwrite overwrites
        in_memory = _filesystem_type(path) in ("tmpfs", "ramfs")
        dtype = np.dtype(manifest["dtype"])
        n = int(manifest["n_samples"])
        total = sum(n * int(e["shape"][1]) for e in manifest["layers"]) * dtype.itemsize
        check_free_space(path, total, f"activations: the {len(manifest['layers'])} layer "
                                      f"file(s) of the store")
        created: list[Path] = []
        try:
            for i, entry in enumerate(manifest["layers"]):
                entry["file"] = _file_name(i, entry["name"])
                d = int(entry["shape"][1])
                fpath = path / entry["file"]
                created.append(fpath)
                mm = np.lib.format.open_memmap(fpath, mode="w+", dtype=dtype, shape=(n, d))
                entry["offset"] = int(mm.offset)
                del mm
                nbytes = n * d * dtype.itemsize
                if nbytes and not in_memory:
                    fd = os.open(fpath, os.O_RDWR)
                    try:
                        # Reserve the blocks now: writing into allocated blocks is ~10x
                        # faster than extending a sparse file, and a full disk fails here.
                        os.posix_fallocate(fd, int(entry["offset"]), nbytes)
                    except OSError as exc:  # unsupported file systems keep the sparse file
                        if exc.errno in NO_SPACE_ERRNOS:
                            raise storage_error(exc, fpath) from None
                    finally:
                        os.close(fd)
            manifest["batches"]["done"] = []
            manifest["complete"] = False
            store = cls(path, manifest)
            store._save()
        except BaseException as exc:
            # No partial store: the next run finds the folder as it was and starts cleanly.
            for f in created:
                f.unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS and not isinstance(
                    exc, StorageError):
                raise storage_error(exc, created[-1] if created else path) from None
            raise
        return store

    def _save(self) -> None:
        write_json(self.path / MANIFEST, self._manifest)

    def _open_files(self) -> None:
        for entry in self._manifest["layers"]:
            if entry["name"] not in self._fds:
                _, f = self._layer_file(entry["name"])
                self._fds[entry["name"]] = os.open(f, os.O_RDWR)

    def _close_files(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def _write(self, layer: str, start: int, rows: np.ndarray) -> None:
        """Write ``rows`` (B, D) of the store's dtype at row ``start`` of ``layer``."""
        entry = self.info(layer)
        d = int(entry["shape"][1])
        if rows.ndim != 2 or rows.shape[1] != d:
            raise InputError(f"activations: layer {layer!r} gave {rows.shape[1:]} values per "
                             f"sample in this batch but {d} in the first; variable-size "
                             f"outputs cannot be stacked (use sequence='mean' or 'first')")
        if start + rows.shape[0] > self.n_samples:
            raise InputError(f"activations: the data yielded more than the {self.n_samples} "
                             f"samples announced by its length")
        offset = int(entry["offset"]) + start * d * self.dtype.itemsize
        pwrite_all(self._fds[layer], np.ascontiguousarray(rows, dtype=self.dtype), offset)

    def _mark_done(self, batch: int, *, fsync: bool = False, interval: float = 0.0) -> None:
        """Record batch ``batch`` as finished; its rows are already written (with ``fsync``
        also forced to disk, surviving a power loss, not only a killed process). The
        manifest is rewritten when ``interval`` seconds have passed since it last was (and
        by :meth:`_flush_progress`, which the extraction calls on every way out)."""
        if fsync:
            for fd in self._fds.values():
                os.fdatasync(fd)
        if self._done is None:
            self._done = self.done_batches
        self._done.add(batch)
        self._manifest["complete"] = len(self._done) == self.n_batches
        self._dirty = True
        if fsync or self._manifest["complete"] or (
                time.monotonic() - self._last_save >= interval):
            self._flush_progress()

    def _flush_progress(self) -> None:
        if self._dirty and self._done is not None:
            self._manifest["batches"]["done"] = _runs(self._done)
            self._save()
            self._dirty = False
            self._last_save = time.monotonic()

    def _remove_files(self) -> None:
        """Delete this store's own files (layer files and manifest), nothing else: only
        names the store makes, directly in its folder; a symlink is removed, never what it
        points to."""
        for entry in self._manifest.get("layers", []):
            file = entry.get("file") if isinstance(entry, dict) else None
            if isinstance(file, str) and _FILE_RE.fullmatch(file):
                (self.path / file).unlink(missing_ok=True)  # unlink does not follow links
        (self.path / MANIFEST).unlink(missing_ok=True)

    def _cleanup(self) -> None:
        """Delete a temporary store now (memmaps already handed out stay readable)."""
        if self._temporary:
            self._close_files()
            shutil.rmtree(self.path, ignore_errors=True)

    def _make_temporary(self) -> None:
        """Delete the folder when this object is garbage collected (``store=None``)."""
        self._temporary = True
        weakref.finalize(self, shutil.rmtree, str(self.path), True)


class AsyncWriter:
    """Writes rows and "batch finished" marks of a store on a background thread, in the
    order given, so that writing to disk overlaps the forward pass.

    Rows may be views of live tensors (no copy): give ``check=row_fingerprint(rows)`` taken
    when they were captured, and the thread compares it again after writing. A mismatch
    means something modified the tensor in the meantime; the batch is then not marked as
    finished (it is listed in :attr:`failed_batches`, the layer in :attr:`failed_layers`)
    and the caller computes it again. At most ``max_bytes`` of rows wait in line (one
    batch at least), bounding memory. An error in the thread is raised again by the next
    call or by :meth:`close`.
    """

    def __init__(self, store: ActivationStore, *, max_bytes: int = 256 << 20,
                 fsync: bool = False):
        self.store, self.max_bytes, self.fsync = store, max_bytes, fsync
        self._items: deque = deque()
        self._pending = 0
        self._error: BaseException | None = None
        self._closing = False
        self.failed_batches: set[int] = set()
        self.failed_layers: set[str] = set()
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="idscope-activation-writer",
                                        daemon=True)
        self._thread.start()

    def _put(self, item: tuple, nbytes: int) -> None:
        with self._cv:
            while (self._pending and self._pending + nbytes > self.max_bytes
                   and self._error is None):
                self._cv.wait()
            if self._error is not None:
                raise self._error
            self._items.append(item)
            self._pending += nbytes
            self._cv.notify_all()

    def write(self, layer: str, start: int, rows: np.ndarray, batch: int,
              check: bytes | None = None) -> None:
        self._put(("rows", layer, start, rows, batch, check), rows.nbytes)

    def failures(self) -> tuple[set[int], set[str]]:
        """Copies of (:attr:`failed_batches`, :attr:`failed_layers`)."""
        with self._cv:
            return set(self.failed_batches), set(self.failed_layers)

    def done(self, batch: int) -> None:
        self._put(("done", batch), 0)

    def close(self) -> None:
        """Finish what is queued, stop the thread, and raise its error if there was one."""
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._items and not self._closing:
                    self._cv.wait()
                if not self._items:
                    return
                item = self._items[0]
            try:
                if item[0] == "rows":
                    _, layer, start, rows, batch, check = item
                    self.store._write(layer, start, rows)
                    if check is not None and row_fingerprint(rows) != check:
                        with self._cv:
                            self.failed_batches.add(batch)
                            self.failed_layers.add(layer)
                elif item[1] not in self.failed_batches:
                    self.store._mark_done(item[1], fsync=self.fsync, interval=0.5)
            except BaseException as exc:  # handed to the caller's thread
                with self._cv:
                    self._error = exc
                    self._items.clear()
                    self._pending = 0
                    self._cv.notify_all()
                return
            with self._cv:
                self._items.popleft()
                if item[0] == "rows":
                    self._pending -= item[3].nbytes
                self._cv.notify_all()


def row_fingerprint(rows: np.ndarray, n_cols: int = 256) -> bytes:
    """The bytes of ``n_cols`` evenly spaced columns of every row: a cheap check that rows
    still hold what they held when captured (bitwise, so NaNs compare equal)."""
    d = rows.shape[1]
    cols = np.unique(np.linspace(0, d - 1, min(d, n_cols)).astype(np.intp))
    return np.ascontiguousarray(rows[:, cols]).tobytes()


def temporary_store_path() -> Path:
    return Path(tempfile.mkdtemp(prefix="idscope-activations-"))
