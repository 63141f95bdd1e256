"""Atomic file writes: write to a temporary file in the same folder, fsync, then rename.

A reader (or a resumed run) sees either the old file or the complete new one, never half.
:func:`atomic_file` writes into an unnamed file (Linux ``O_TMPFILE``) that gets its name only
once complete, so a process killed mid-write (SIGKILL, SIGBUS) leaves no file at all; where
the file system cannot do that it falls back to a hidden temporary name, as
:func:`atomic_path` always does. A full disk, a quota or a file-size limit becomes one
:class:`~idscope.StorageError` naming the file, with the partial file removed.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ._errors import StorageError

__all__ = ["atomic_path", "atomic_file", "write_text", "write_bytes", "write_json",
           "json_default", "check_free_space", "reserve", "storage_error", "NO_SPACE_ERRNOS"]

# errno values that mean "no room for this file" rather than a bug
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_REASONS = {errno.ENOSPC: "no space left on the device",
            errno.EDQUOT: "disk quota exceeded",
            errno.EFBIG: "file too large for the file system or the file-size limit "
                         "(ulimit -f)"}


def storage_error(exc: OSError, path: str | os.PathLike) -> StorageError:
    """The one-line error for an OSError ``exc`` met while writing ``path``."""
    reason = _REASONS.get(exc.errno, exc.strerror or str(exc))
    err = StorageError(f"cannot write {path}: {reason}; the partial file was removed, free "
                       f"some space (or choose another folder) and rerun")
    err.errno = exc.errno
    return err


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**27 else f"{nbytes / 2**20:.1f} MiB"


def check_free_space(folder: str | os.PathLike, nbytes: int, what: str) -> None:
    """Raise :class:`~idscope.StorageError` before writing ``nbytes`` into ``folder`` when its
    file system has less free space than that."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:  # no statvfs here: the write itself will tell
        return
    if nbytes > free:
        err = StorageError(f"{what} needs {_gib(nbytes)} in {folder} but its file system has "
                           f"only {_gib(free)} free; free some space or choose another folder")
        err.errno = errno.ENOSPC
        raise err


def reserve(fd: int, nbytes: int, path: str | os.PathLike) -> None:
    """Allocate ``nbytes`` of the open file ``fd`` now (``posix_fallocate``).

    Writing through a memory map into a sparse file on a full disk kills the process with
    SIGBUS; with the blocks reserved first, a full disk is a clear error here instead.
    File systems without ``fallocate`` keep the sparse file.
    """
    if nbytes <= 0:
        return
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except OSError as exc:
        if exc.errno in NO_SPACE_ERRNOS:
            raise storage_error(exc, path) from None
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise


def _unnamed_file(folder: Path) -> int | None:
    """An ``O_TMPFILE`` descriptor in ``folder``, or None where that is not available."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(folder, flag | os.O_RDWR | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno in NO_SPACE_ERRNOS:
            raise
        return None  # EOPNOTSUPP, EISDIR (old kernels), ...: use a named temporary file


def _give_name(fd: int, path: Path) -> None:
    """Link the unnamed file ``fd`` into place as ``path`` (replacing any old file)."""
    src = f"/proc/self/fd/{fd}"
    # A directory fd makes CPython call linkat(AT_SYMLINK_FOLLOW), which follows the /proc
    # link to the file; plain link(2) would try to hard-link the symbolic link itself.
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            os.link(src, path.name, dst_dir_fd=dir_fd, follow_symlinks=True)
            return
        except FileExistsError:
            pass
        tmp = f".{path.name}.{secrets.token_hex(4)}.tmp"
        os.link(src, tmp, dst_dir_fd=dir_fd, follow_symlinks=True)
        try:
            os.replace(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            os.unlink(tmp, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Yield a binary file (open for reading and writing) that becomes ``path`` on success.

    Until then the file has no name (``O_TMPFILE``) or a hidden temporary one; on an error
    or a kill nothing is left, and ``path`` keeps its old content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = _unnamed_file(path.parent)
    except OSError as exc:
        raise storage_error(exc, path) from None
    tmp = None
    if fd is None:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        _ordinary_permissions(tmp)
    fh = os.fdopen(fd, "w+b")
    ok = False
    try:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
        if tmp is None:
            try:
                _give_name(fh.fileno(), path)
            except OSError as exc:
                if exc.errno in NO_SPACE_ERRNOS:
                    raise
                _copy_into_place(fh, path)  # /proc missing, a file system refusing linkat
        else:
            os.replace(tmp, path)
        ok = True
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS and not isinstance(
                exc, StorageError):
            raise storage_error(exc, path) from None
        raise
    finally:
        try:
            fh.close()
        except OSError:
            if ok:
                raise
            # a failed write: closing flushes the rest of the buffer, which fails the same
            # way; the error already on its way says it


def _copy_into_place(fh: IO[bytes], path: Path) -> None:
    """Fallback of :func:`atomic_file`: copy the unnamed file to a named temporary one and
    rename that into place."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        _ordinary_permissions(tmp)
        fh.seek(0)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(fh, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _ordinary_permissions(path: Path) -> None:
    # mkstemp creates 0600 files; give the result an ordinary new file's permissions
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp",
                               dir=path.parent)
    os.close(fd)
    _ordinary_permissions(Path(tmp))
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS and not isinstance(
                exc, StorageError):
            raise storage_error(exc, path) from None
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_file(path) as fh:
        fh.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any, default: Callable[[Any], Any] | None = None
               ) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=default or json_default)
               + "\n")


def json_default(obj: Any) -> Any:
    """JSON encoding of numpy scalars and arrays and paths (shared by every JSON writer)."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
