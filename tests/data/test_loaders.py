"""Loaders: npy/npz, CSV/TSV/Parquet, HDF5, .pt, bundled sets and torch datasets."""

import numpy as np
import pytest
import torch

from idscope import InputError
from idscope.data import BUNDLED, Dataset, from_torch_dataset, load, load_array


@pytest.fixture
def table(rng):
    X = rng.normal(size=(25, 3))
    y = rng.integers(0, 3, size=25)
    return X, y


def test_npy_is_memory_mapped_and_npz_keys(tmp_path, table):
    X, y = table
    np.save(tmp_path / "x.npy", X)
    ds = load(tmp_path / "x.npy")
    assert isinstance(ds.X, np.memmap) and ds.y is None
    np.testing.assert_array_equal(ds.X, X)
    assert not isinstance(load(tmp_path / "x.npy", mmap=False).X, np.memmap)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    ds = load(tmp_path / "d.npz")
    np.testing.assert_array_equal(ds.X, X)
    np.testing.assert_array_equal(ds.y, y)
    np.savez(tmp_path / "named.npz", feats=X, labels=y)
    ds = load(tmp_path / "named.npz", x_key="feats", y_key="labels")
    np.testing.assert_array_equal(ds.y, y)
    with pytest.raises(InputError, match="'lab' not found"):
        load(tmp_path / "named.npz", x_key="feats", y_key="lab")
    with pytest.raises(InputError, match="'X' not found"):
        load(tmp_path / "named.npz")
    np.testing.assert_array_equal(load_array(tmp_path / "named.npz", key="feats"), X)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_tables_with_label_column(tmp_path, table, suffix):
    import pandas as pd

    X, y = table
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["label"] = y
    df["name"] = np.array(["cat", "dog", "emu"])[y]
    path = tmp_path / f"t{suffix}"
    if suffix == ".parquet":
        df.to_parquet(path)
    else:
        df.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    ds = load(path, label_column="name")  # string labels -> class indices + names
    assert ds.meta["class_names"] == ["cat", "dog", "emu"]
    np.testing.assert_array_equal(ds.y, y)
    np.testing.assert_allclose(ds.X[:, :3], X, rtol=1e-15)
    assert ds.meta["feature_names"] == ["a", "b", "c", "label"]
    with pytest.raises(InputError, match="label column 'nope' does not exist"):
        load(path, label_column="nope")
    with pytest.raises(InputError, match="non-numeric column"):
        load(path, label_column="label")  # the string column remains


def test_hdf5_paths_memmap_and_compressed(tmp_path, table):
    import h5py

    X, y = table
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f["X"] = X
        f["y"] = y
        f.create_dataset("train/images", data=X.astype(np.float32), compression="gzip")
        f["train/labels"] = np.array([b"a", b"b"])[y % 2]
    ds = load(path)
    assert isinstance(ds.X, np.memmap)  # contiguous float dataset: read lazily
    np.testing.assert_array_equal(ds.X, X)
    np.testing.assert_array_equal(ds.y, y)
    ds2 = load(path, x_key="train/images", y_key="/train/labels")
    assert not isinstance(ds2.X, np.memmap) and ds2.X.dtype == np.float32
    np.testing.assert_array_equal(ds2.y, y % 2)
    assert ds2.meta["class_names"] == ["a", "b"]
    with pytest.raises(InputError, match="'missing' not found"):
        load(path, x_key="missing")


def test_pt_file(tmp_path, table):
    X, y = table
    torch.save({"X": torch.from_numpy(X), "y": torch.from_numpy(y)}, tmp_path / "d.pt")
    ds = load(tmp_path / "d.pt")
    np.testing.assert_array_equal(ds.X, X)
    np.testing.assert_array_equal(ds.y, y)


def test_bundled_sets():
    shapes = {"digits": (1797, 8, 8), "breast_cancer": (569, 30), "iris": (150, 4),
              "wine": (178, 13)}
    for name, shape in shapes.items():
        ds = load(f"sklearn:{name}")
        assert ds.X.shape == shape and ds.y.shape == (shape[0],)
        assert ds.meta["source"] == f"sklearn:{name}" and ds.meta["class_names"]
    assert load("sklearn:digits").meta["intensity_range"] == [0.0, 16.0]
    assert "sample_images" in BUNDLED
    with pytest.raises(InputError, match="unknown bundled dataset 'sklearn:mnist'"):
        load("sklearn:mnist")


def test_sample_image_patches_seeded():
    ds = load("sklearn:sample_images", patch_size=8, n_patches=50, seed=3)
    assert ds.X.shape == (100, 8, 8, 3) and ds.X.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(ds.y), [50, 50])
    assert ds.meta["class_names"] == ["china", "flower"]
    assert 0 <= ds.X.min() and ds.X.max() <= 255 and ds.meta["intensity_range"] == [0, 255]
    again = load("sklearn:sample_images", patch_size=8, n_patches=50, seed=3)
    np.testing.assert_array_equal(ds.X, again.X)
    other = load("sklearn:sample_images", patch_size=8, n_patches=50, seed=4)
    assert not np.array_equal(ds.X, other.X)
    gray = load("sklearn:sample_images", patch_size=8, n_patches=50, seed=3, mode="L",
                intensity="0-1")
    assert gray.X.shape == (100, 8, 8) and gray.X.max() <= 1.0
    assert gray.meta["intensity_range"] == [0.0, 1.0]


class _Toy(torch.utils.data.Dataset):
    classes = ["zero", "one"]

    def __init__(self, n=30, ragged=False):
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, 1, 4, 4, generator=g)
        self.ragged = ragged

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        x = self.x[i] if not (self.ragged and i == 3) else self.x[i, :, :2]
        return x, torch.tensor(i % 2)


def test_from_torch_dataset():
    toy = _Toy()
    ds = from_torch_dataset(toy)
    assert ds.X.shape == (30, 1, 4, 4) and ds.meta["class_names"] == ["zero", "one"]
    np.testing.assert_array_equal(ds.X, toy.x.numpy())
    np.testing.assert_array_equal(ds.y, np.arange(30) % 2)
    first = load(toy, n=10)
    np.testing.assert_array_equal(first.X, toy.x[:10].numpy())
    a, b = from_torch_dataset(toy, 10, seed=1), from_torch_dataset(toy, 10, seed=1)
    np.testing.assert_array_equal(a.meta["indices"], b.meta["indices"])
    assert list(a.meta["indices"]) == sorted(a.meta["indices"])
    with pytest.raises(InputError, match="item 3 has shape"):
        from_torch_dataset(_Toy(ragged=True))


def test_bad_sources_and_options(tmp_path, table):
    X, _ = table
    with pytest.raises(InputError, match="no such file"):
        load(tmp_path / "missing.npy")
    (tmp_path / "x.xyz").write_text("1")
    with pytest.raises(InputError, match="unsupported file type"):
        load(tmp_path / "x.xyz")
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(InputError, match="resize do not apply"):
        load(tmp_path / "x.npy", resize=(4, 4))
    ds = Dataset(X, None, "given")
    assert load(ds) is ds
