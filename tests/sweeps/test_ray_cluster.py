"""A local Ray instance started by a sweep (issue #12 point 8) listens on loopback only, and
none of its processes outlives a killed sweep.

One subprocess runs a Ray sweep whose runs wait; while they wait, every listening TCP socket
of the sweep's process tree is read from ``/proc`` and must be bound to 127.0.0.1 (or ::1);
then the sweep is SIGKILLed and every process of the tree must be gone within 10 s.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray  # noqa: F401 - a test dependency (the `test` extra): this test must run in CI

from idscope._processes import descendants, still_running

SCRIPT = """
import sys, time
from pathlib import Path
from idscope.sweeps.config import parse_config
from idscope.sweeps.executors import RayExecutor, run_sweep

marker = Path(sys.argv[1])

def waiting_run(job, components):
    (marker / job.key).write_text("running")
    time.sleep(600)

cfg = parse_config({
    "name": "ray-kill",
    "datasets": [{"name": "digits", "source": "sklearn:digits", "tasks": [[0, 1], [3, 8]]}],
    "models": [{"name": "mlp", "kwargs": {"depth": 1, "width": 8}}],
    "training": {"sizes": [40], "test_size": 40, "epochs": 1},
    "measure": {"d_data": False, "label_sharpness": False, "d_repr": False},
})
run_sweep(cfg, sys.argv[2], executor=RayExecutor(workers=2), run_fn=waiting_run)
"""


def _addr(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def _listening() -> dict[str, str]:
    """socket inode -> local address of every listening TCP socket (``/proc/net``)."""
    out = {}
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A":  # TCP_LISTEN
                out[f[9]] = _addr(f[1].split(":")[0])
    return out


def _sockets(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _is_loopback(addr: str) -> bool:
    ip = ipaddress.ip_address(addr)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


@pytest.mark.slow
def test_local_ray_listens_on_loopback_and_dies_with_a_killed_sweep(tmp_path):
    marker = tmp_path / "running"
    marker.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(marker), str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while len(list(marker.iterdir())) < 2:  # both runs are executing in Ray workers
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the Ray sweep did not start its runs"
            time.sleep(0.5)
        time.sleep(2.0)  # Ray's agents start next to the workers
        tree = descendants(proc.pid)
        listening = _listening()
        bound = {listening[i] for pid in [proc.pid, *tree] for i in _sockets(pid)
                 if i in listening}
        assert bound, "found no listening socket of the Ray instance"
        assert [a for a in bound if not _is_loopback(a)] == []
        tree = descendants(proc.pid)  # everything started so far
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while still_running(tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = still_running(tree)
        names = [Path(f"/proc/{p}/cmdline").read_bytes()[:60] for p in left]
        assert left == [], names
    finally:
        if proc.poll() is None:
            proc.kill()
