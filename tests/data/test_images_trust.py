"""Issue #12 points 1 and 9: image folders never clip silently, truncated files and images
over the pixel budget give one clear error."""

import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from idscope import InputError
from idscope.cli.main import main
from idscope.data import load
from idscope.data.images import DEFAULT_MAX_PIXELS


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_bytes(w: int, h: int, bit_depth: int, color_type: int, rows) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit colour): ``rows`` yields each row's
    raw bytes (filter byte 0 is prepended)."""
    comp = zlib.compressobj()
    idat = b"".join(comp.compress(b"\0" + r) for r in rows) + comp.flush()
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0))
            + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


def gray16_folder(root, rng, high=65535, n=(4, 3), size=(5, 6)):
    """Two classes of 16-bit grayscale PNGs (``high=4095``: 12-bit data stored in 16)."""
    arrays = []
    for name, count in zip(("a", "b"), n):
        (root / name).mkdir(parents=True)
        for i in range(count):
            a = rng.integers(0, high + 1, size=size).astype(np.uint16)
            a[0, 0] = high  # the full range occurs
            Image.fromarray(a).save(root / name / f"{i}.png")
            arrays.append(a)
    return np.stack(arrays)


@pytest.mark.parametrize("high", [65535, 4095])
def test_16bit_images_keep_their_values(tmp_path, rng, high):
    A = gray16_folder(tmp_path / "d", rng, high=high)
    assert Image.open(tmp_path / "d" / "a" / "0.png").mode == "I;16"
    ds = load(tmp_path / "d")
    # exact: every 16-bit value is representable in float32
    np.testing.assert_array_equal(ds.X, A.astype(np.float32))
    assert ds.X.max() == high and (ds.X > 255).mean() > 0.9
    assert ds.meta["bit_depth"] == 16 and ds.meta["intensity"] == "0-65535"
    assert ds.meta["intensity_range"] == [0.0, 65535.0]
    unit = load(tmp_path / "d", intensity="0-1")
    np.testing.assert_allclose(unit.X, A / 65535.0, rtol=1e-6)
    assert unit.meta["intensity_range"] == [0.0, 1.0]
    # the memory-mapped cache holds the same values
    cached = load(tmp_path / "d", in_memory_limit=0, cache_dir=tmp_path / "cache")
    assert isinstance(cached.X, np.memmap)
    np.testing.assert_array_equal(cached.X, A.astype(np.float32))


def test_16bit_resize_interpolates_without_clipping(tmp_path, rng):
    A = gray16_folder(tmp_path / "d", rng, size=(8, 8))
    ds = load(tmp_path / "d", resize=(4, 4))
    # bilinear on the float image: values stay within the originals' range, far above 255
    ref = np.stack([np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize(
        (4, 4), resample=Image.Resampling.BILINEAR)) for a in A])
    np.testing.assert_array_equal(ds.X, ref)
    assert ds.X.max() > 255 and ds.X.max() <= 65535


def test_requests_that_would_clip_16bit_images_are_errors(tmp_path, rng):
    gray16_folder(tmp_path / "d", rng)
    with pytest.raises(InputError, match=r"intensity='0-255' would clip 16-bit.*7 of 7"):
        load(tmp_path / "d", intensity="0-255")
    with pytest.raises(InputError, match="load only with mode='L'"):
        load(tmp_path / "d", mode="RGB")


def test_mixed_depths_need_unit_intensity(tmp_path, rng):
    gray16_folder(tmp_path / "d", rng)
    a8 = rng.integers(0, 256, size=(5, 6), dtype=np.uint8)
    Image.fromarray(a8).save(tmp_path / "d" / "b" / "z8.png")
    with pytest.raises(InputError, match="mixes 8-bit and 16-bit"):
        load(tmp_path / "d")
    ds = load(tmp_path / "d", intensity="0-1")
    last = ds.meta["files"].index("b/z8.png")
    np.testing.assert_allclose(ds.X[last], a8 / 255.0, rtol=1e-6)
    assert ds.X.max() <= 1.0
    with pytest.raises(InputError, match="needs 16-bit images"):
        load(_eight_bit(tmp_path / "e", rng), intensity="0-65535")


def _eight_bit(root, rng):
    (root / "x").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (4, 4), dtype=np.uint8)).save(root / "x" / "0.png")
    return root


def test_16bit_colour_files_are_refused_not_reduced(tmp_path):
    # Pillow opens 16-bit RGB as 8-bit "RGB" (high bytes only): refused with a clear message
    (tmp_path / "d" / "c").mkdir(parents=True)
    row = np.full((4, 3), 1000, dtype=">u2").tobytes()
    (tmp_path / "d" / "c" / "rgb16.png").write_bytes(png_bytes(4, 3, 16, 2, [row] * 3))
    assert Image.open(tmp_path / "d" / "c" / "rgb16.png").mode == "RGB"
    with pytest.raises(InputError, match="16-bit colour images .* decoded by Pillow to 8"):
        load(tmp_path / "d")


def test_truncated_png_is_one_clear_error(tmp_path, rng, capsys):
    root = _eight_bit(tmp_path / "d", rng)
    big = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(big).save(root / "x" / "1.png")
    data = (root / "x" / "1.png").read_bytes()
    (root / "x" / "1.png").write_bytes(data[: len(data) // 2])  # valid header, half the data
    with pytest.raises(InputError, match=r"could not decode image .*1\.png"):
        load(root, resize=(4, 4))
    assert main(["dataset", str(root), "--resize", "4x4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not decode image" in err[0]


def test_images_over_the_pixel_budget_are_refused_before_decoding(tmp_path):
    # 9500 x 9500 = 90.25 M pixels: between 1x and 2x Pillow's limit, where Pillow only warns;
    # a 97 KB file that would decode into 361 MB of float32
    side = 9500
    assert DEFAULT_MAX_PIXELS < side * side < 2 * DEFAULT_MAX_PIXELS
    root = tmp_path / "d"
    (root / "x").mkdir(parents=True)
    row = bytes(side)
    (root / "x" / "big.png").write_bytes(png_bytes(side, side, 8, 0, (row for _ in range(side))))
    assert (root / "x" / "big.png").stat().st_size < 200_000
    cache = tmp_path / "cache"
    with pytest.raises(InputError, match=r"9500x9500 = 90250000 pixels, over the budget"):
        load(root, cache_dir=cache, resize=(8, 8))
    assert not cache.exists()  # nothing was decoded or cached
    # the budget is a parameter; small images pass a small budget, larger ones do not
    small = _eight_bit(tmp_path / "e", np.random.default_rng(0))
    assert load(small, max_pixels=16).X.shape == (1, 4, 4)
    with pytest.raises(InputError, match="over the budget of 15"):
        load(small, max_pixels=15)


def test_dataset_cli_reports_the_16bit_range(tmp_path, rng, capsys):
    gray16_folder(tmp_path / "d", rng, n=(5, 5))
    assert main(["dataset", str(tmp_path / "d"), "--json", "--k", "4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["intensity_range"] == [0.0, 65535.0]
    assert main(["dataset", str(tmp_path / "d"), "--intensity", "0-255"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "would clip 16-bit" in err[0]
