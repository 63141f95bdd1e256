"""One lock per output folder (issue #12 point 7): a second run into a folder in use fails
with one line; a killed holder leaves no stale lock; sweeps into one folder keep one row per
run file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from idscope._errors import FolderBusyError, InputError
from idscope._lock import folder_lock
from idscope.cli.main import main
from tests.sweeps.tiny import tiny_sweep

HOLDER = """
import sys, time
from idscope._lock import folder_lock
with folder_lock(sys.argv[1], what="holder"):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def held(tmp_path):
    """A folder whose lock another process holds; yields (folder, holder process)."""
    folder = tmp_path / "busy"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    try:
        yield folder, proc
    finally:
        proc.kill()
        proc.wait()


def test_a_second_holder_fails_with_the_first_ones_pid(held):
    folder, proc = held
    with pytest.raises(FolderBusyError, match=rf"in use by another idscope run \(pid "
                                              rf"{proc.pid}\)"):
        with folder_lock(folder, what="sweep x"):
            pass


def test_waiting_for_a_busy_folder_times_out(held):
    folder, _ = held
    with pytest.raises(FolderBusyError, match="sweep x"):
        with folder_lock(folder, what="sweep x", timeout=0.3):
            pass


def test_a_killed_holder_leaves_no_stale_lock(held):
    folder, proc = held
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with folder_lock(folder, what="next run"):  # the kernel released it with the process
        pass
    assert list(folder.iterdir()) == []  # and no lock file is left in the folder


def test_the_lock_is_reentrant_in_one_process(tmp_path):
    with folder_lock(tmp_path / "f"):
        with folder_lock(tmp_path / "f"):  # a demo holding its folder runs a sweep in it
            pass
        with folder_lock(tmp_path / "f" / ".." / "f"):  # the same folder, another spelling
            pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is not a folder"):
        with folder_lock(tmp_path / "file"):
            pass


def test_cli_sweep_into_a_busy_folder_is_one_line(held, tmp_path, capsys):
    folder, proc = held
    cfg = tmp_path / "s.toml"
    cfg.write_text(tiny_sweep("s", "[[0, 1]]"))
    code = main(["sweep", str(cfg), "--out", str(folder), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"idscope sweep: error: sweep s: {folder} is in use by another "
                             f"idscope run (pid {proc.pid})")
    assert not (folder / "runs").exists()  # nothing written


def test_a_store_in_use_is_refused_before_any_capture(held):
    import torch

    from idscope import activations

    folder, _ = held
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    with pytest.raises(FolderBusyError, match="activations: .* in use"):
        activations(model, np.zeros((4, 3), np.float32), store=folder)
    assert list(folder.iterdir()) == []


def test_a_demo_folder_in_use_is_refused(held):
    from idscope.report.pages import run_demo

    folder, _ = held
    with pytest.raises(FolderBusyError, match="demo: .* in use"):
        run_demo(folder, quick=True)


def test_a_locked_store_folder_is_usable_after_the_lock(tmp_path):
    import torch

    from idscope import activations

    store = tmp_path / "store"
    with folder_lock(store):  # a run that failed before creating the store leaves the folder
        pass
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    X = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    st = activations(model, X, store=store, layers=["0"])
    np.testing.assert_allclose(np.asarray(st["0"]), model(torch.from_numpy(X)).detach(),
                               rtol=1e-6)





@pytest.mark.slow
def test_two_sweeps_with_different_configs_keep_one_row_per_run(tmp_path, capsys):
    import pandas as pd

    out = tmp_path / "out"
    for i, tasks in enumerate(("[[0, 1], [3, 8]]", "[[1, 7], [2, 5], [4, 9]]")):
        cfg = tmp_path / f"c{i}.toml"
        cfg.write_text(tiny_sweep("s", tasks))
        assert main(["sweep", str(cfg), "--out", str(out), "--no-progress"]) == 0
    runs = sorted(p.stem for p in (out / "runs").glob("*.json"))
    table = pd.read_parquet(out / "results.parquet")
    assert len(runs) == 5 and sorted(table["key"]) == runs
    assert sorted(pd.read_csv(out / "results.csv")["key"]) == runs
    assert json.loads(Path(out / "sweep.json").read_text())["keys"]  # the last config
