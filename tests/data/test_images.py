"""Image folders written by the test with Pillow: shapes, ranges, caching, K_F."""

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.distance import cdist

from idscope import InputError, label_sharpness
from idscope.data import load


def write_folder(root, rng, n_per_class=(7, 5), size=(6, 5), mode="L"):
    """Two classes of random 8-bit images; returns the arrays in load order."""
    arrays, labels = [], []
    for c, (name, n) in enumerate(zip(("cats", "dogs"), n_per_class)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            shape = size + ((3,) if mode == "RGB" else ())
            a = rng.integers(0, 256, size=shape, dtype=np.uint8)
            Image.fromarray(a).save(root / name / f"img{i:02d}.png")
            arrays.append(a)
            labels.append(c)
    (root / "cats" / "notes.txt").write_text("not an image")
    return np.stack(arrays), np.array(labels)


def test_grayscale_folder_shapes_and_ranges(tmp_path, rng):
    A, y = write_folder(tmp_path / "d", rng)
    ds = load(tmp_path / "d")
    assert ds.X.shape == (12, 6, 5) and ds.X.dtype == np.float32
    np.testing.assert_array_equal(ds.X, A.astype(np.float32))
    np.testing.assert_array_equal(ds.y, y)
    m = ds.meta
    assert m["class_names"] == ["cats", "dogs"] and m["mode"] == "L"
    assert m["intensity_range"] == [0.0, 255.0] and m["image_shape"] == [6, 5]
    assert m["files"][0] == "cats/img00.png" and len(m["files"]) == 12
    unit = load(tmp_path / "d", intensity="0-1")
    np.testing.assert_allclose(unit.X, A / 255.0, rtol=1e-6)
    assert unit.meta["intensity_range"] == [0.0, 1.0]
    rgb = load(tmp_path / "d", mode="RGB")
    assert rgb.X.shape == (12, 6, 5, 3)
    np.testing.assert_array_equal(rgb.X[..., 1], A)
    small = load(tmp_path / "d", resize=(3, 4))
    assert small.X.shape == (12, 3, 4) and small.meta["resize"] == [3, 4]


def test_rgb_folder_and_grayscale_conversion(tmp_path, rng):
    A, _ = write_folder(tmp_path / "d", rng, mode="RGB")
    ds = load(tmp_path / "d")
    assert ds.meta["mode"] == "RGB" and ds.X.shape == (12, 6, 5, 3)
    np.testing.assert_array_equal(ds.X, A)
    gray = load(tmp_path / "d", mode="L")
    want = np.stack([np.asarray(Image.fromarray(a).convert("L")) for a in A])
    np.testing.assert_array_equal(gray.X, want)


def test_kf_of_folder_equals_array_computation(tmp_path, rng):
    A, y = write_folder(tmp_path / "d", rng, n_per_class=(9, 8))
    res = label_sharpness(load(tmp_path / "d"))
    flat = A.reshape(len(A), -1).astype(np.float64)
    D = cdist(flat[y == 0], flat[y == 1])
    np.testing.assert_allclose(res.value, 1.0 / D.min(), rtol=1e-9)
    np.testing.assert_allclose(label_sharpness(load(tmp_path / "d", intensity="0-1")).value,
                               255.0 / D.min(), rtol=1e-6)


def test_large_folder_is_decoded_into_a_reused_memmap(tmp_path, rng):
    A, y = write_folder(tmp_path / "d", rng)
    cache = tmp_path / "cache"
    ds = load(tmp_path / "d", in_memory_limit=0, cache_dir=cache)
    assert isinstance(ds.X, np.memmap) and not ds.X.flags.writeable
    np.testing.assert_array_equal(ds.X, A)
    files = list(cache.iterdir())
    assert len(files) == 1 and ds.meta["cache"] == str(files[0])
    mtime = files[0].stat().st_mtime_ns
    again = load(tmp_path / "d", in_memory_limit=0, cache_dir=cache)
    assert files[0].stat().st_mtime_ns == mtime and list(cache.iterdir()) == files
    # the memmap streams through K_F and gives the in-memory value
    np.testing.assert_allclose(label_sharpness(again).value,
                               label_sharpness(A.astype(np.float32), y).value, rtol=1e-12)


def test_bad_folders(tmp_path, rng):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "a" / "x.txt").write_text("x")
    with pytest.raises(InputError, match="no images"):
        load(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    write_folder(mixed, rng)
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(mixed / "dogs" / "big.png")
    with pytest.raises(InputError, match="2 different sizes.*resize"):
        load(mixed)
    assert load(mixed, resize=(6, 5)).X.shape == (13, 6, 5)
    with pytest.raises(InputError, match="mode='CMYK'"):
        load(mixed, resize=4, mode="CMYK")
    with pytest.raises(InputError, match="intensity='0-100'"):
        load(mixed, resize=4, intensity="0-100")
    (mixed / "cats" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="broken.png"):
        load(mixed, resize=4)
