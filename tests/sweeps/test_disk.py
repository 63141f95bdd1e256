"""Full disks and file-size limits (issue #12 point 6): one clear line, no partial file, and
the next run starts cleanly.

A real file-size limit (``RLIMIT_FSIZE``, set in a subprocess: no root needed, and Python
turns the kernel's SIGXFSZ into an EFBIG error) reproduces the image cache that died of
SIGBUS and the sweep whose table could not be written. A full disk (ENOSPC) is simulated at
the write itself.
"""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from idscope import IdscopeError
from idscope._atomic import atomic_file, check_free_space, write_text
from idscope._errors import StorageError
from idscope.cli.main import main
from tests.sweeps.tiny import tiny_sweep


def _limited(nbytes: int):
    """preexec_fn: a file-size limit of ``nbytes`` for the child process."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))


def test_a_full_disk_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "results.csv"
    write_text(target, "old, complete table\n")
    with pytest.raises(StorageError, match=r"cannot write .*results\.csv: no space left"):
        with atomic_file(target) as fh:
            fh.write(b"new, half a ")
            raise OSError(errno.ENOSPC, "No space left on device")  # what write(2) says
    assert target.read_text() == "old, complete table\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]
    assert isinstance(StorageError("x"), IdscopeError) and isinstance(StorageError("x"), OSError)


def test_a_real_file_size_limit_names_the_file_and_leaves_nothing(tmp_path):
    # only the soft limit is lowered (and restored): the kernel answers EFBIG for real
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 10, hard))
    try:
        with pytest.raises(StorageError, match=rf"cannot write {tmp_path}/t\.bin: file too "
                                               rf"large"):
            write_text(tmp_path / "t.bin", "x" * (64 << 10))  # fails when the buffer flushes
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert list(tmp_path.iterdir()) == []


def test_free_space_is_checked_before_a_large_write(tmp_path):
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    with pytest.raises(StorageError, match="needs .* but its file system has only"):
        check_free_space(tmp_path / "not-yet", 2 * free + (1 << 40), "the cache")
    check_free_space(tmp_path, 1 << 10, "the cache")  # room for 1 KiB


IMAGE_CACHE = """
import sys
from idscope.data import load
try:
    ds = load({folder!r}, in_memory_limit=0, cache_dir={cache!r})
except Exception as exc:
    print(type(exc).__name__, exc, file=sys.stderr)
    sys.exit(2)
print(ds.X.shape, float(ds.X[-1].sum()))
"""


def test_image_cache_over_the_file_size_limit_is_one_error_and_no_partial_file(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(
                folder / c / f"{i}.png")
    cache = tmp_path / "cache"  # the cache: 8 x 64 x 64 float32 = 128 KiB
    script = IMAGE_CACHE.format(folder=str(folder), cache=str(cache))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, preexec_fn=_limited(64 << 10))
    assert proc.returncode == 2, proc.stderr  # not SIGBUS / SIGXFSZ
    assert proc.stderr.startswith("StorageError cannot write ") and "file too large" in \
        proc.stderr
    assert list(cache.iterdir()) == []  # no .part file
    ok = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                        timeout=300)
    assert ok.returncode == 0 and ok.stdout.startswith("(8, 64, 64)"), ok.stderr


SWEEP = tiny_sweep("disk")


@pytest.mark.slow
def test_sweep_that_cannot_write_its_table_says_so_in_one_line_and_resumes(tmp_path, capsys):
    cfg = tmp_path / "disk.toml"
    cfg.write_text(SWEEP)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "idscope.cli.main", "sweep", str(cfg), "--out", str(out),
           "--no-progress"]
    # 3 KiB: the config and a run's row fit, a results table with a row does not
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          preexec_fn=_limited(3 << 10))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"idscope sweep: error: cannot write {out}/results.parquet: "
                               f"file too large")
    assert not list(out.rglob(".*"))  # no partial or temporary file
    n_saved = len(list((out / "runs").glob("*.json")))
    assert n_saved == 1  # the run finished before its table failed: kept
    assert main(cmd[3:]) == 0  # room again: the next run (here in-process) starts cleanly
    out_text = capsys.readouterr().out
    assert "1 already done, 1 run now, 0 failed" in out_text


def test_cli_commands_print_one_line_on_a_full_disk(tmp_path, monkeypatch, capsys):
    def full(fd):  # the disk fills up as the data reach it
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    code = main(["dataset", "sklearn:iris", "--classes", "0,1", "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("idscope dataset: error: cannot write ") and \
        "no space left on the device" in err[0]
    assert not [p for p in (tmp_path / "d").rglob("*") if p.is_file()]


def test_cli_other_os_errors_are_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["dataset", "sklearn:iris", "--classes", "0,1", "--out",
                 str(blocker / "sub")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("idscope dataset: error: "), err
    assert "not a directory" in err[0] or "file exists" in err[0]


def test_atomic_writes_translate_enospc_from_any_writer(tmp_path):
    # e.g. matplotlib or pandas writing to atomic_path's temporary name
    from idscope._atomic import atomic_path

    with pytest.raises(StorageError, match="quota"):
        with atomic_path(tmp_path / "fig.png", suffix=".png") as tmp:
            Path(tmp).write_bytes(b"x")
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
    assert list(tmp_path.iterdir()) == []


def test_a_store_that_cannot_be_created_leaves_no_partial_file(tmp_path, monkeypatch):
    import torch

    from idscope import activations

    real = np.lib.format.open_memmap
    calls = []

    def second_layer_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the disk fills up at the second layer's file
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    X = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    store = tmp_path / "store"
    monkeypatch.setattr(np.lib.format, "open_memmap", second_layer_fails)
    with pytest.raises(StorageError, match=r"cannot write .*store/.*: no space left"):
        activations(model, X, store=store, layers=["0", "2"])
    assert list(store.iterdir()) == []  # nothing partial
    monkeypatch.setattr(np.lib.format, "open_memmap", real)
    st = activations(model, X, store=store, layers=["0", "2"])  # the next run starts cleanly
    np.testing.assert_allclose(np.asarray(st["2"]), model(torch.from_numpy(X)).detach(),
                               rtol=1e-6)


def _full_disk(monkeypatch):
    def full(fd):  # every file reaches the disk through fsync: the disk is full there
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)


def test_analyze_on_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    rows = "key,dataset,task,model,n_train,seed,test_loss\n" + "".join(
        f"k{i},d,0-1,mlp,{n},0,{1 / n}\n" for i, n in enumerate((20, 40, 80)))
    (tmp_path / "results.csv").write_text(rows)
    _full_disk(monkeypatch)
    code = main(["analyze", str(tmp_path / "results.csv"), "--out", str(tmp_path / "a"),
                 "--bootstrap", "0", "--no-plots"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(
        "idscope analyze: error: cannot write "), err
    assert "no space left on the device" in err[0]
    assert not [p for p in (tmp_path / "a").rglob("*") if p.is_file()]


def flat_mlp(num_classes: int = 3):
    from torch import nn

    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, num_classes))


def test_profile_on_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    _full_disk(monkeypatch)
    code = main(["profile", "--model", f"{Path(__file__).resolve()}:flat_mlp", "--data",
                 "sklearn:iris", "--store", str(tmp_path / "store"), "--resamples", "2",
                 "--no-progress"])
    err = [line for line in capsys.readouterr().err.strip().splitlines()
           if not line.startswith("warning: no --weights")]
    assert code == 2 and len(err) == 1 and err[0].startswith(
        "idscope profile: error: cannot write "), err
    assert "no space left on the device" in err[0]
    assert list((tmp_path / "store").iterdir()) == []  # no partial store to refuse later
    monkeypatch.undo()  # space again: the next run starts cleanly
    assert main(["profile", "--model", f"{Path(__file__).resolve()}:flat_mlp", "--data",
                 "sklearn:iris", "--store", str(tmp_path / "store"), "--resamples", "2",
                 "--no-progress"]) == 0
    assert (tmp_path / "store" / "manifest.json").is_file()


def test_unnamed_files_fall_back_to_a_copy_where_linking_fails(tmp_path, monkeypatch):
    import idscope._atomic as atomic

    def refuse(fd, path):  # a file system that cannot link an O_TMPFILE file into place
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(atomic, "_give_name", refuse)
    write_text(tmp_path / "a.json", "old")
    write_text(tmp_path / "a.json", "complete " * 100000)
    assert (tmp_path / "a.json").read_text() == "complete " * 100000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
