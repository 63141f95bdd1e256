"""Helper processes that end with the process that started them, however it ends.

* :func:`die_with_parent`, called first thing in a worker process idscope spawns (the local
  pool's initializer): on Linux the kernel sends the worker SIGKILL when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``), and a watchdog thread checks the parent's pid twice a second
  (other systems, and a parent that died before the call).
* :func:`reap_descendants`, around code that makes a library start processes of its own (a
  local Ray instance: raylet, GCS, agents). A watcher process records this process's new
  descendants twice a second; when this process dies without leaving the ``with``
  block (SIGKILL, out of memory), or leaves it while some are still alive, the watcher kills
  the recorded ones that still run (pid and start time must both match, so a reused pid is
  never hit). Ray's own agents outlive a killed driver otherwise.

This file is also the watcher's script: it runs with only the standard library.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["die_with_parent", "pool_worker_init", "reap_descendants", "descendants",
           "still_running"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, *, interval: float = 0.5) -> None:
    """End this process as soon as ``parent_pid`` is no longer its parent."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watchdog below still works
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="idscope-parent-watchdog", daemon=True).start()


def pool_worker_init(parent_pid: int) -> None:
    """Initializer of a process-pool worker: die with the parent, and leave Ctrl-C to the
    parent (which stops the workers) instead of a traceback in every worker. It lives in
    this light module because a spawned worker imports the initializer's module before
    calling it: the sooner it runs, the shorter a killed parent's workers live on."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of a live process, from ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2:].split()  # the name may hold spaces and ')'
    if not fields or fields[0] == b"Z":  # a zombie is already dead
        return None
    return int(fields[1]), int(fields[19])


def descendants(pid: int) -> dict[int, int]:
    """The live descendants of ``pid`` as {pid: start time} (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                children.setdefault(st[0], []).append(int(name))
                starts[int(name)] = st[1]
    out: dict[int, int] = {}
    todo = list(children.get(pid, []))
    while todo:
        p = todo.pop()
        if p not in out and p in starts:
            out[p] = starts[p]
            todo.extend(children.get(p, []))
    return out


def still_running(known: dict[int, int]) -> list[int]:
    """The recorded processes ({pid: start time}) that still run: same pid and start time
    (a reused pid is another process), not a zombie."""
    return [pid for pid, start in known.items()
            if (st := _stat(pid)) is not None and st[1] == start]


def _kill(known: dict[int, int], sig: int) -> int:
    """Send ``sig`` to the recorded processes that still run; return how many."""
    n = 0
    for pid in still_running(known):
        try:
            os.kill(pid, sig)
            n += 1
        except OSError:
            pass
    return n


def _watch(driver: int, period: float = 0.5) -> None:
    """The watcher's loop: stdin is a pipe from the driver; EOF means the driver is gone
    (killed) or done (``b"done"`` came first)."""
    import select

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    me = os.getpid()
    before = set(descendants(driver))  # the driver's older children are not ours to kill
    os.write(1, b"ready\n")
    os.close(1)
    known: dict[int, int] = {}
    done = False
    while True:
        ready, _, _ = select.select([0], [], [], period)
        if ready:
            data = os.read(0, 64)
            done = done or b"done" in data
            if not data:
                break
        for pid, start in descendants(driver).items():
            if pid != me and pid not in before:
                known[pid] = start
    if done:  # a clean exit: the library shut down what it started; end what it left
        if _kill(known, signal.SIGTERM):
            time.sleep(1.0)
    _kill(known, signal.SIGKILL)


@contextmanager
def reap_descendants() -> Iterator[None]:
    """Processes this process starts inside the block (and their children) do not outlive
    it, nor the block (Linux; elsewhere a no-op)."""
    if not os.path.isdir("/proc/self"):
        yield
        return
    read_end, write_end = os.pipe()  # not inherited by other children (PEP 446)
    try:
        watcher = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__),
                                    str(os.getpid())], stdin=read_end,
                                   stdout=subprocess.PIPE, start_new_session=True)
    finally:
        os.close(read_end)
    try:
        watcher.stdout.readline()  # its snapshot of the processes not ours to kill is taken
        watcher.stdout.close()
        yield
    finally:
        try:
            os.write(write_end, b"done")
        except OSError:
            pass
        os.close(write_end)
        try:
            watcher.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


if __name__ == "__main__":
    _watch(int(sys.argv[1]))
