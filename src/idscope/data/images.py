"""Image data: a folder with one sub-folder per class, and patches of scikit-learn's photos.

Label sharpness K_F scales as 1/c when the pixels are scaled by c, and depends on the size
and the colour mode of the images, so all three are explicit options here and are recorded
in ``Dataset.meta``.

Bit depth is kept, never clipped: 8-bit files give 0..255 and 16-bit grayscale files 0..65535
(``intensity`` unset), or both are divided by their own maximum (``intensity="0-1"``); a
request that would need a lossy conversion (16-bit data as 0..255 or as RGB, 16-bit colour
files, which Pillow itself reduces to 8 bits, 32-bit and float images) is an error asking for
an explicit conversion. Every image is checked against a pixel budget (``max_pixels``, by
default Pillow's decompression-bomb limit of 89 478 485 pixels) from its header, before any
decoding; a file that fails to decode (e.g. truncated) is one :class:`InputError`.

Large folders are not decoded into memory: the images are decoded one at a time into a
float32 ``np.memmap`` in a cache folder (written under a temporary name and renamed when
complete, so an interrupted run leaves no half file; a second load with the same files and
options reuses it). The neighbour engine then streams the rows from disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_file, check_free_space, reserve
from .._errors import InputError, MissingDependencyError, one_line
from ._dataset import Dataset

__all__ = ["IMAGE_EXTENSIONS", "load_image_folder", "sample_image_patches",
           "default_cache_dir"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                    ".ppm", ".pgm", ".pbm")
MODES = ("L", "RGB")
INTENSITIES = {"0-255": 1.0, "0-1": 1.0 / 255.0}
_RANGES = {"0-255": [0.0, 255.0], "0-1": [0.0, 1.0], "0-65535": [0.0, 65535.0]}
#: Pixels per image accepted by default: Pillow's own limit (``Image.MAX_IMAGE_PIXELS``, which
#: Pillow only warns about up to twice that size), about 256 MiB of 24-bit RGB.
DEFAULT_MAX_PIXELS = 89_478_485
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
_CACHE_VERSION = 2  # 2: 16-bit files keep their values (version 1 clipped them)


def _pil():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is in the io extra
        raise MissingDependencyError("image folders need Pillow: pip install Pillow") from None
    return Image


def default_cache_dir() -> Path:
    """``$IDSCOPE_CACHE_DIR``, else ``$XDG_CACHE_HOME/idscope``, else ``~/.cache/idscope``."""
    if os.environ.get("IDSCOPE_CACHE_DIR"):
        return Path(os.environ["IDSCOPE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "idscope"


def _check_options(caller: str, resize: Any, mode: str | None, intensity: str | None,
                   allowed: tuple[str, ...] = tuple(INTENSITIES)) -> tuple[int, int] | None:
    if mode is not None and mode not in MODES:
        raise InputError(f"{caller}: mode={mode!r} is not one of 'L', 'RGB'")
    if intensity is not None and intensity not in allowed:
        raise InputError(f"{caller}: intensity={intensity!r} is not one of "
                         f"{', '.join(map(repr, allowed))}")
    if resize is None:
        return None
    if isinstance(resize, (int, np.integer)) and not isinstance(resize, bool):
        resize = (resize, resize)
    try:
        h, w = (int(v) for v in resize)
    except (TypeError, ValueError):
        raise InputError(f"{caller}: resize must be (height, width), got {resize!r}") from None
    if h < 1 or w < 1:
        raise InputError(f"{caller}: resize={resize!r} must be positive")
    return h, w


def _scan(root: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """Image files in ``root/<class>/`` (sorted), their class indices and the class names."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[Path] = []
    labels: list[int] = []
    names: list[str] = []
    for name in classes:
        found = sorted(p for p in (root / name).rglob("*")
                       if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                       and not p.name.startswith("."))
        if not found:
            continue
        labels.extend([len(names)] * len(found))
        names.append(name)
        files.extend(found)
    if not files:
        raise InputError(f"load: no images in {root} (expected one sub-folder per class with "
                         f"{', '.join(IMAGE_EXTENSIONS[:4])}, ... files)")
    return files, np.asarray(labels, dtype=np.int64), names


def _bit_depth(im: Any) -> int:
    """Bits per sample as stored: 8, 16 (grayscale, kept by Pillow as ``I;16``), -16 (a
    16-bit colour or alpha file that Pillow decodes to 8 bits) or 32 (int32 or float)."""
    raw = ""
    for tile in getattr(im, "tile", None) or ():
        args = tile[3] if len(tile) > 3 else None
        raw = args if isinstance(args, str) else (
            args[0] if isinstance(args, tuple) and args and isinstance(args[0], str) else "")
        break
    if im.mode.startswith("I;16") or (im.mode == "I" and raw.startswith("I;16")):
        return 16
    if im.mode in ("I", "F"):
        return 32
    return -16 if ";16" in raw else 8


def _headers(files: list[Path], max_pixels: int
             ) -> tuple[list[tuple[int, int]], list[str], list[int]]:
    """Sizes (width, height), modes and bit depths, read from the headers only (no
    decoding); an image over ``max_pixels`` is refused here, before anything is decoded."""
    Image = _pil()
    sizes, modes, depths = [], [], []
    for f in files:
        try:
            with warnings.catch_warnings():
                # Pillow only warns between 1x and 2x its limit; the budget below decides
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im = Image.open(f)
            with im:
                sizes.append(im.size)
                modes.append(im.mode)
                depths.append(_bit_depth(im))
        except Image.DecompressionBombError as exc:
            raise InputError(f"load: {f} exceeds Pillow's decompression-bomb limit ({exc})"
                             ) from None
        except Exception as exc:
            raise InputError(f"load: could not read image {f}: {one_line(exc)}") from None
        w, h = sizes[-1]
        if w * h > max_pixels:
            raise InputError(f"load: {f} has {w}x{h} = {w * h} pixels, over the budget of "
                             f"{max_pixels} per image (max_pixels=, default Pillow's "
                             f"decompression-bomb limit)")
    return sizes, modes, depths


def _resolve_depth(caller: str, files: list[Path], depths: list[int], mode: str,
                   intensity: str | None) -> tuple[int, str]:
    """The folder's bit depth and intensity convention, or an error for any request that
    would clip or otherwise convert pixel values silently."""
    def first(pred) -> str:
        hits = [f for f, d in zip(files, depths) if pred(d)]
        return f"{len(hits)} of {len(files)} images, e.g. {hits[0]}"

    if any(d == -16 for d in depths):
        raise InputError(f"{caller}: 16-bit colour images ({first(lambda d: d == -16)}) are "
                         f"decoded by Pillow to 8 bits; convert them explicitly (to 8-bit, "
                         f"or to 16-bit grayscale)")
    if any(d == 32 for d in depths):
        raise InputError(f"{caller}: 32-bit integer or floating-point images "
                         f"({first(lambda d: d == 32)}) are not supported; convert them "
                         f"explicitly to 8 or 16 bits")
    depth = 16 if 16 in depths else 8
    if depth == 16:
        if mode != "L":
            raise InputError(f"{caller}: 16-bit grayscale images ({first(lambda d: d == 16)})"
                             f" load only with mode='L' (RGB would clip them to 8 bits)")
        if intensity == "0-255":
            raise InputError(f"{caller}: intensity='0-255' would clip 16-bit images "
                             f"({first(lambda d: d == 16)}); leave intensity unset to keep "
                             f"0..65535, or pass intensity='0-1'")
        if intensity is None and 8 in depths:
            raise InputError(f"{caller}: the folder mixes 8-bit and 16-bit images "
                             f"({first(lambda d: d == 16)} are 16-bit); pass intensity='0-1' "
                             f"to divide each by its own maximum, or convert them to one "
                             f"depth")
    elif intensity == "0-65535":
        raise InputError(f"{caller}: intensity='0-65535' needs 16-bit images; these are "
                         f"8-bit (leave intensity unset for 0..255)")
    if intensity is None:
        intensity = "0-65535" if depth == 16 else "0-255"
    return depth, intensity


def _decode(path: Path, mode: str, resize: tuple[int, int] | None, intensity: str
            ) -> np.ndarray:
    Image = _pil()
    try:
        with Image.open(path) as im:
            if _bit_depth(im) == 16:
                # 16-bit values go through float32 (exact up to 2**24): Pillow's own
                # conversion to "L" would clip them to 0..255
                scale = 1.0 / 65535.0 if intensity == "0-1" else 1.0
                arr = np.asarray(im).astype(np.float32)
                if resize is not None and im.size != (resize[1], resize[0]):
                    arr = np.asarray(Image.fromarray(arr, mode="F").resize(
                        (resize[1], resize[0]), resample=Image.Resampling.BILINEAR))
            else:
                scale = INTENSITIES[intensity]
                im = im.convert(mode)
                if resize is not None and im.size != (resize[1], resize[0]):
                    im = im.resize((resize[1], resize[0]), resample=Image.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.float32)
    except Image.DecompressionBombError as exc:
        raise InputError(f"load: {path} exceeds Pillow's decompression-bomb limit ({exc})"
                         ) from None
    except Exception as exc:  # truncated or corrupt data behind a valid header
        raise InputError(f"load: could not decode image {path}: {one_line(exc)}") from None
    if scale != 1.0:
        arr = arr * np.float32(scale)
    return arr


def _cache_key(root: Path, files: list[Path], mode: str, resize: Any, intensity: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([_CACHE_VERSION, str(root.resolve()), mode, resize, intensity]).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def load_image_folder(
    root: str | os.PathLike,
    *,
    resize: tuple[int, int] | int | None = None,
    mode: str | None = None,
    intensity: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    in_memory_limit: int = 256 << 20,
    progress: bool | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Dataset:
    """Images in ``root/<class name>/*.png|jpg|...`` as a :class:`Dataset`.

    Parameters
    ----------
    root : path
        A folder with one sub-folder per class (sorted by name: class index 0, 1, ...).
        Files are found recursively inside each class folder; hidden files are skipped.
    resize : (height, width) or int, optional
        Resize every image (bilinear) to this size. Without it all images must have the
        same size, else an :class:`InputError` names the sizes found.
    mode : {"L", "RGB"}, optional
        Grayscale or colour. Default: ``"L"`` when every image is grayscale, else ``"RGB"``.
    intensity : {"0-255", "0-1", "0-65535"}, optional
        Pixel range of the features. Default: the files' own, 0..255 for 8-bit and
        0..65535 for 16-bit grayscale (a folder mixing both needs ``"0-1"``, which divides
        each image by its own maximum, 255 or 65535). Requests that would clip are errors.
    cache_dir : path, optional
        Where the decoded float32 memmap of a large folder is kept (default
        :func:`default_cache_dir`).
    in_memory_limit : int
        Folders whose decoded features take at most this many bytes are decoded into memory;
        larger ones are decoded one image at a time into the memmap cache.
    progress : bool, optional
        Progress bar while decoding (default: only on a terminal).
    max_pixels : int
        Largest image accepted (width × height, checked from the headers before decoding).

    Returns
    -------
    Dataset
        ``X`` float32 of shape (N, H, W) for ``"L"`` or (N, H, W, 3) for ``"RGB"`` (a
        read-only ``np.memmap`` when cached), ``y`` int64 class indices, ``meta`` with
        ``source``, ``class_names``, ``image_shape``, ``mode``, ``bit_depth``,
        ``intensity``, ``intensity_range``, ``resize``, ``files`` (relative paths) and
        ``cache`` (the memmap file or None).
    """
    caller = "load"
    root = Path(root)
    size_hw = _check_options(caller, resize, mode, intensity, tuple(_RANGES))
    from .._validation import check_int

    max_pixels = check_int(max_pixels, "max_pixels", caller=caller, low=1)
    files, y, names = _scan(root)
    sizes, modes, depths = _headers(files, max_pixels)
    if size_hw is None:
        counts = Counter(sizes)
        if len(counts) > 1:
            first = {s: next(f for f, fs in zip(files, sizes) if fs == s) for s in counts}
            listed = "; ".join(f"{w}x{h} (WxH): {c} file(s), e.g. {first[(w, h)]}"
                               for (w, h), c in counts.most_common(4))
            raise InputError(f"{caller}: images in {root} have {len(counts)} different sizes "
                             f"({listed}); pass resize=(height, width)")
        w, h = sizes[0]
        size_hw = (h, w)
    if mode is None:
        mode = "L" if all(m in _GRAY_MODES for m in modes) else "RGB"
    depth, intensity = _resolve_depth(caller, files, depths, mode, intensity)
    shape = (len(files), *size_hw) + ((3,) if mode == "RGB" else ())
    nbytes = 4 * int(np.prod(shape))

    from tqdm.auto import tqdm

    bar = dict(total=len(files), desc="decoding images", unit="img", leave=False,
               disable=None if progress is None else not progress)
    cache_file = None
    if nbytes <= in_memory_limit:
        X = np.empty(shape, dtype=np.float32)
        for i, f in enumerate(tqdm(files, **bar)):
            X[i] = _decode(f, mode, size_hw if resize is not None else None, intensity)
    else:
        cdir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        key = _cache_key(root, files, mode, list(size_hw) if resize is not None else None,
                         intensity)
        cache_file = cdir / f"images-{key}-{'x'.join(map(str, shape))}.f32"
        if not (cache_file.exists() and cache_file.stat().st_size == nbytes):
            # Space checked and reserved first: a memory map into a sparse file dies of
            # SIGBUS on a full disk; the unnamed file vanishes if anything goes wrong.
            check_free_space(cdir, nbytes, f"{caller}: the decoded-image cache")
            with atomic_file(cache_file) as fh:
                reserve(fh.fileno(), nbytes, cache_file)
                mm = np.memmap(fh, dtype=np.float32, mode="w+", shape=shape)
                for i, f in enumerate(tqdm(files, **bar)):
                    mm[i] = _decode(f, mode, size_hw if resize is not None else None, intensity)
                mm.flush()
                del mm
        X = np.memmap(cache_file, dtype=np.float32, mode="r", shape=shape)
    meta = {
        "source": str(root),
        "kind": "image_folder",
        "class_names": names,
        "image_shape": list(shape[1:]),
        "mode": mode,
        "bit_depth": depth,
        "intensity": intensity,
        "intensity_range": list(_RANGES[intensity]),
        "resize": list(size_hw) if resize is not None else None,
        "resample": "bilinear" if resize is not None else None,
        "files": [str(f.relative_to(root)) for f in files],
        "cache": str(cache_file) if cache_file is not None else None,
    }
    return Dataset(X, y, root.name or str(root), meta)


def sample_image_patches(
    *,
    patch_size: int = 16,
    n_patches: int = 500,
    mode: str = "RGB",
    intensity: str = "0-255",
    seed: int = 0,
) -> Dataset:
    """``sklearn:sample_images``: square patches of scikit-learn's two bundled photos.

    ``n_patches`` patches of ``patch_size`` × ``patch_size`` pixels are cut from each photo at
    seeded uniformly random positions; the label is the photo (0 = china, 1 = flower), so
    this is a small binary natural-image task. Grayscale uses Pillow's ``convert("L")``, as
    the image-folder loader does.
    """
    caller = "load"
    from .._validation import check_int

    intensity = "0-255" if intensity is None else intensity
    p = check_int(patch_size, "patch_size", caller=caller, low=1, high=427)
    n = check_int(n_patches, "n_patches", caller=caller, low=1)
    _check_options(caller, None, mode, intensity)
    seed = check_int(seed, "seed", caller=caller, low=0)
    Image = _pil()
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    rng = np.random.default_rng(seed)
    scale = np.float32(INTENSITIES[intensity])
    blocks = []
    names = []
    for photo, fname in zip(bunch.images, bunch.filenames):
        img = np.asarray(Image.fromarray(photo).convert(mode), dtype=np.float32) * scale
        rows = rng.integers(0, img.shape[0] - p + 1, size=n)
        cols = rng.integers(0, img.shape[1] - p + 1, size=n)
        blocks.append(np.stack([img[r:r + p, c:c + p] for r, c in zip(rows, cols)]))
        names.append(Path(fname).stem)
    X = np.concatenate(blocks)
    y = np.repeat(np.arange(len(blocks), dtype=np.int64), n)
    meta = {"source": "sklearn:sample_images", "kind": "image_patches", "class_names": names,
            "image_shape": list(X.shape[1:]), "mode": mode, "intensity": intensity,
            "intensity_range": list(_RANGES[intensity]), "patch_size": p,
            "n_patches": n, "seed": seed}
    return Dataset(X, y, "sklearn:sample_images", meta)
