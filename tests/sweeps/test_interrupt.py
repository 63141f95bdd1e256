"""Interrupted sweeps (issue #13 point 14): after SIGKILL of ``idscope sweep --workers 2`` no
worker survives and no temporary file stays; Ctrl-C ends the sweep and its workers at once.

The sweeps run in a subprocess (the CLI, as a user runs it). Their runs are made long (many
epochs on a tiny MLP) so that both workers are busy when the signal arrives; the bounded
windows asserted (5 s) start at the signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from idscope._processes import descendants, still_running
from tests.sweeps.tiny import tiny_sweep

# Two runs (two digit pairs), each long enough to be in flight when the signal comes.
LONG_SWEEP = tiny_sweep("long", epochs=100000)


def _start_sweep(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    cfg = tmp_path / "long.toml"
    cfg.write_text(LONG_SWEEP)
    out = tmp_path / "out"
    # Ctrl-C's default action, also when this test runs in the background (where a shell
    # starts commands with SIGINT ignored, and Python then keeps ignoring it)
    proc = subprocess.Popen([sys.executable, "-m", "idscope.cli.main", "sweep", str(cfg),
                             "--workers", "2", "--out", str(out), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return proc, out


def _workers(pid: int) -> dict[int, int]:
    """The sweep's pool workers (spawned interpreters running multiprocessing's entry)."""
    found = {}
    for p, start in descendants(pid).items():
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmd:
            found[p] = start
    return found


def _in_a_run(pid: int) -> bool:
    """The worker has torch loaded: it is past its start-up, in a run."""
    try:
        return b"libtorch" in Path(f"/proc/{pid}/maps").read_bytes()
    except OSError:
        return False


def _wait_for_workers(proc: subprocess.Popen, n: int = 2, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        found = _workers(proc.pid)
        if len(found) >= n and all(_in_a_run(p) for p in found):
            time.sleep(0.5)
            return found
        time.sleep(0.2)
    proc.kill()
    pytest.fail("the sweep's workers did not start")


def _wait_gone(pids: dict[int, int], within: float) -> list[int]:
    deadline = time.monotonic() + within
    while still_running(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return still_running(pids)


@pytest.mark.slow
def test_sigkill_of_a_two_worker_sweep_leaves_no_process_and_no_temporary_file(tmp_path):
    proc, out = _start_sweep(tmp_path)
    workers = _wait_for_workers(proc)
    assert len(workers) == 2
    everything = descendants(proc.pid)  # workers, multiprocessing's resource tracker, ...
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert _wait_gone(everything, within=5.0) == []
    assert not list(out.rglob(".*"))  # no hidden temporary file (.results.parquet.*)


@pytest.mark.slow
def test_ctrl_c_ends_a_two_worker_sweep_within_5_seconds(tmp_path):
    proc, out = _start_sweep(tmp_path)
    workers = _wait_for_workers(proc)
    assert len(workers) == 2
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends to the sweep
    try:
        _, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the sweep did not exit within 5 s of Ctrl-C")
    assert time.monotonic() - t0 < 5
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == \
        "idscope sweep: interrupted"
    assert _wait_gone(workers, within=1.0) == []
    assert not list((out / "runs").glob("*.json"))  # nothing finished, nothing half-written


# A sweep killed in the middle of writing its table (to_parquet stops half-way, as under an
# OOM kill): with the table written into an unnamed file, nothing of it is left behind, and
# the next sweep's store reads the finished runs.
MID_WRITE = """
import os, signal
import pandas as pd
from idscope.sweeps.results import ResultsStore

real = pd.DataFrame.to_parquet
def to_parquet(self, path, *args, **kwargs):
    if len(self) == 2:  # the table after the second run
        path.write(b"PAR1 half a table")
        path.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, path, *args, **kwargs)
pd.DataFrame.to_parquet = to_parquet
store = ResultsStore({out!r})
store.add({{"key": "a", "dataset": "d", "n_train": 10, "loss": 0.5}})
store.add({{"key": "b", "dataset": "d", "n_train": 20, "loss": 0.25}})
"""


def test_sweep_killed_mid_table_write_leaves_no_temporary_file(tmp_path):
    import pandas as pd

    from idscope.sweeps.results import ResultsStore, load_results

    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", MID_WRITE.format(out=str(out))],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert sorted(p.name for p in out.rglob("*")) == [
        "a.json", "b.json", "results.csv", "results.parquet", "runs"]  # nothing hidden
    assert len(pd.read_parquet(out / "results.parquet")) == 1  # the last complete table
    store = ResultsStore(out)
    store.write_tables()  # what a resumed sweep does first
    assert list(load_results(out / "results.parquet")["key"]) == ["a", "b"]
