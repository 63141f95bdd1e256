"""One lock per output folder, so that two idscope runs never write the same folder at once.

The lock is ``flock(2)`` on the folder itself: no lock file is added to the folder. The
kernel releases it when the holding process ends, however it ends (SIGKILL, out of memory),
so a killed run never leaves a stale lock behind. The error names the holder's pid (read
from ``/proc/locks`` on Linux). Locks are per process and re-entrant: a demo that holds its
folder may run a sweep into the same folder. File systems without locks (some network file
systems) get a warning and no lock.
"""

from __future__ import annotations

import errno
import functools
import inspect
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ._errors import FolderBusyError, InputError

__all__ = ["folder_lock", "locks_folder"]

# realpath -> how many times this process holds it (re-entrancy)
_HELD: dict[str, int] = {}
_HELD_GUARD = threading.Lock()


def _holder_text(fd: int) -> str:
    """``pid N`` of the process holding the flock on ``fd``'s file, from ``/proc/locks``."""
    st = os.fstat(fd)
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as fh:
            for line in fh:
                parts = line.split()
                # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2146802 0 EOF"
                if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == dev:
                    return f"pid {parts[4]}"
    except OSError:
        pass
    return "holder unknown"


@contextmanager
def folder_lock(folder: str | os.PathLike, *, what: str = "idscope",
                timeout: float = 0.0) -> Iterator[Path]:
    """Hold the lock of ``folder`` (created if missing) for the ``with`` block.

    Parameters
    ----------
    folder : path
        The output folder to protect.
    what : str
        The caller, named in the error message (e.g. ``"sweep"``).
    timeout : float
        Seconds to wait for another run to release the folder; 0 (default) fails at once.

    Raises
    ------
    FolderBusyError
        Another process holds the folder after ``timeout`` seconds.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{what}: {folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(folder)
    with _HELD_GUARD:
        if key in _HELD:
            _HELD[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield folder
        finally:
            with _HELD_GUARD:
                _HELD[key] -= 1
        return

    import fcntl

    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise FolderBusyError(
                        f"{what}: {folder} is in use by another idscope run "
                        f"({_holder_text(fd)}); wait for it to finish or choose another "
                        f"output folder") from None
                time.sleep(0.1)
            except OSError as exc:
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS,
                                     errno.EINVAL, errno.EBADF):
                    raise
                # Some network file systems cannot lock a folder: run, but say that
                # nothing guards it against a second run.
                warnings.warn(f"{what}: cannot lock {folder} ({exc.strerror}); make sure no "
                              f"other run writes there", RuntimeWarning, stacklevel=3)
                break
        with _HELD_GUARD:
            _HELD[key] = 1
        try:
            yield folder
        finally:
            with _HELD_GUARD:
                del _HELD[key]
    finally:
        os.close(fd)  # releases the flock


def locks_folder(param: str, what: str) -> Callable[[Callable], Callable]:
    """Decorator: the call holds :func:`folder_lock` on its argument ``param`` (an output
    folder; None means no folder, no lock)."""

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            bound = sig.bind_partial(*args, **kwargs)
            folder = bound.arguments.get(param, sig.parameters[param].default)
            if folder is None or folder is inspect.Parameter.empty:
                return fn(*args, **kwargs)
            with folder_lock(folder, what=what):
                return fn(*args, **kwargs)

        return wrapper

    return decorate
