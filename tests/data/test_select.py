"""Selections: binary tasks, class pairs, balanced subsamples."""

import numpy as np
import pytest

from idscope import InputError
from idscope.data import Dataset, balanced_subsample, class_pairs, load, select_classes
from idscope.data._dataset import slice_rows


@pytest.fixture(scope="module")
def digits():
    return load("sklearn:digits")


def test_select_classes_binary_task(digits):
    b = select_classes(digits, classes=(3, 8))
    keep = np.flatnonzero((digits.y == 3) | (digits.y == 8))
    np.testing.assert_array_equal(b.meta["indices"], keep)
    np.testing.assert_array_equal(b.y, (digits.y[keep] == 8).astype(int))
    np.testing.assert_array_equal(b.X, digits.X[keep])
    assert b.meta["class_names"] == ["3", "8"] and b.meta["original_classes"] == [3, 8]
    assert b.meta["original_class_names"] == digits.meta["class_names"]
    assert b.meta["intensity_range"] == [0.0, 16.0]  # parent meta is kept
    by_name = select_classes(digits, ("8", "3"))  # names from a command line, order matters
    np.testing.assert_array_equal(by_name.y, 1 - b.y)
    with pytest.raises(InputError, match="class 'eleven' not found"):
        select_classes(digits, (3, "eleven"))
    with pytest.raises(InputError, match="the same"):
        select_classes(digits, (3, 3))
    with pytest.raises(InputError, match="two classes"):
        select_classes(digits, (1, 2, 3))
    with pytest.raises(InputError, match="no labels"):
        select_classes(Dataset(digits.X, None, "x"), (1, 2))


def test_named_classes_and_class_pairs():
    ds = load("sklearn:iris")
    b = select_classes(ds, ("versicolor", "virginica"))
    assert b.n_samples == 100 and b.meta["class_names"] == ["versicolor", "virginica"]
    assert class_pairs(ds) == [(0, 1), (0, 2), (1, 2)]
    assert len(class_pairs(load("sklearn:digits"))) == 45


def test_balanced_subsample_seeded(digits):
    s = balanced_subsample(digits, 105, seed=1)
    counts = np.bincount(s.y, minlength=10)
    assert counts.sum() == 105 and set(counts) == {10, 11}
    again = balanced_subsample(digits, 105, seed=1)
    np.testing.assert_array_equal(s.meta["indices"], again.meta["indices"])
    other = balanced_subsample(digits, 105, seed=2)
    assert not np.array_equal(s.meta["indices"], other.meta["indices"])
    np.testing.assert_array_equal(s.X, digits.X[s.meta["indices"]])
    # composed selections keep indices into the original dataset
    b = balanced_subsample(select_classes(digits, (3, 8)), 40, seed=0)
    assert set(digits.y[b.meta["indices"]]) == {3, 8}
    np.testing.assert_array_equal(b.X, digits.X[b.meta["indices"]])
    with pytest.raises(InputError, match="exceeds the 1797 rows"):
        balanced_subsample(digits, 5000)
    with pytest.raises(InputError, match="needs 175 rows of class '8', which has only 174"):
        balanced_subsample(select_classes(digits, (3, 8)), 350)


def test_slice_rows_of_memmap_keeps_streaming(tmp_path, rng):
    X = rng.normal(size=(20, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    part = slice_rows(mm, 5, 12)
    assert isinstance(part, np.memmap)
    np.testing.assert_array_equal(part, X[5:12])
    nested = slice_rows(mm[2:], 3, 6)  # a slice of a slice: offset is checked
    np.testing.assert_array_equal(nested, X[5:8])
