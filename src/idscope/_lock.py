"""One lock per output folder, so that two idscope runs never write the same folder at once.

The lock is ``flock(2)`` on ``FOLDER/idscope.lock``. The kernel releases it when the holding
process ends, however it ends (SIGKILL, out of memory), so a killed run never leaves a stale
lock behind; the file itself stays and only names the last holder. Locks are per process and
re-entrant: a demo that holds its folder may run a sweep into the same folder.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._errors import FolderBusyError

__all__ = ["folder_lock", "LOCK_NAME"]

LOCK_NAME = "idscope.lock"

# realpath -> how many times this process holds it (re-entrancy)
_HELD: dict[str, int] = {}
_HELD_GUARD = threading.Lock()


def _holder_text(fd: int) -> str:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "holder unknown"


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

    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        deadline = time.monotonic() + max(0.0, timeout)
        locked = True
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
                                     errno.EINVAL):
                    raise
                # Some network file systems have no locks: run, but say that nothing guards
                # the folder against a second run.
                warnings.warn(f"{what}: cannot lock {folder} ({exc.strerror}); make sure no "
                              f"other run writes there", RuntimeWarning, stacklevel=3)
                locked = False
                break
        if locked:
            info = (f"pid {os.getpid()} on {socket.gethostname()}, since "
                    f"{time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(sys.argv)[:300]}")
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, info.encode("utf-8", "replace") + b"\n", 0)
            except OSError:  # a full disk must not stop the run from reporting it later
                pass
        with _HELD_GUARD:
            _HELD[key] = 1
        try:
            yield folder
        finally:
            with _HELD_GUARD:
                del _HELD[key]
    finally:
        os.close(fd)  # releases the flock
