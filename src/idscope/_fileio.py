"""Positional file I/O that finishes what it starts: ``pread``/``pwrite`` may move fewer
bytes than asked (a signal, Linux's 2 GiB cap per call), so both loop."""

from __future__ import annotations

import os

__all__ = ["pread_exact", "pwrite_all"]


def pread_exact(fd: int, buf, offset: int) -> None:
    """Fill the writable buffer ``buf`` from ``fd`` at byte ``offset``; OSError at end of
    file."""
    view = memoryview(buf).cast("B")
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got <= 0:
            raise OSError(f"unexpected end of file at byte {offset + done}")
        done += got


def pwrite_all(fd: int, buf, offset: int) -> None:
    """Write all of ``buf`` to ``fd`` at byte ``offset``."""
    view = memoryview(buf).cast("B")
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], offset + done)
