"""Command-line options shared by several commands: loading a source with its label column
and keys, and the preprocessing vocabulary of :mod:`idscope.data.preprocess`.

Kept free of heavy imports at module level: ``idscope COMMAND --help`` must stay instant.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .._errors import InputError

PREPROCESS_HELP = (
    "preprocessing (images: image folders, sklearn:digits, (N, H, W[, C]) arrays; the same "
    "steps in dataset, estimate and profile)")


def add_source_arguments(p: argparse.ArgumentParser, *, keys: bool = True) -> None:
    """``--label-column`` and, with ``keys``, ``--x-key``/``--y-key``."""
    p.add_argument("--label-column", default=None, metavar="NAME",
                   help="label column of a .csv/.tsv/.parquet table (excluded from the "
                        "features); a table without a header names its columns 0, 1, ...")
    if keys:
        p.add_argument("--x-key", "--key", dest="x_key", default=None, metavar="NAME",
                       help="features array/dataset inside a .npz/.h5/.pt file")
        p.add_argument("--y-key", default=None, metavar="NAME",
                       help="labels array/dataset inside a .npz/.h5/.pt file")


def add_preprocess_arguments(p: argparse.ArgumentParser, *, normalize: bool = False) -> None:
    """``--intensity``, ``--mode``, ``--resize`` and, for models, ``--normalize``."""
    g = p.add_argument_group(PREPROCESS_HELP)
    g.add_argument("--intensity", choices=("0-1", "0-255", "0-65535"), default=None,
                   help="rescale intensities from the source's declared range (default: as "
                        "stored, e.g. 0..255 for 8-bit and 0..65535 for 16-bit images, 0..16 "
                        "for sklearn:digits)")
    g.add_argument("--mode", choices=("L", "RGB"), default=None,
                   help="channels: L = grey (ITU-R 601 luminance), RGB = colour")
    g.add_argument("--resize", default=None, metavar="HxW",
                   help="resize images (bilinear, antialiased), e.g. 32x32; needed for image "
                        "folders whose images differ in size")
    if normalize:
        g.add_argument("--normalize", default="auto", metavar="auto|model|none|MEAN/STD",
                       help="per-channel (x - mean) / std after the steps above: auto (the "
                            "default) applies the normalisation a model declares (timm "
                            "pretrained_cfg, a transformers folder's preprocessor_config.json, "
                            "model.idscope_normalization) and rescales intensities to 0-1 "
                            "first; model requires one; none; or explicit values, e.g. "
                            "0.485,0.456,0.406/0.229,0.224,0.225")


def preprocess_of(args: argparse.Namespace, normalization: Any = None) -> Any:
    """The :class:`~idscope.data.preprocess.Preprocess` the flags ask for."""
    from ..data.preprocess import Preprocess, parse_resize

    intensity = getattr(args, "intensity", None)
    if normalization is not None and intensity is None:
        intensity = "0-1"  # published normalisation statistics are for [0, 1] intensities
    return Preprocess(intensity=intensity, mode=getattr(args, "mode", None),
                      resize=parse_resize(getattr(args, "resize", None)),
                      normalization=normalization)


def load_source(args: argparse.Namespace, source: str, pre: Any = None) -> Any:
    """``data.load(source)`` with the label column / keys of ``args``; image folders decode
    with the intensity, mode and size of ``pre`` (so folders of mixed sizes load), other
    sources are converted after loading (see :func:`~idscope.data.preprocess.
    preprocess_dataset`). The normalisation of ``pre`` is applied too unless the caller
    does it per batch (pass ``pre`` without it)."""
    from dataclasses import replace

    from ..data import load
    from ..data.preprocess import preprocess_dataset

    opts: dict[str, Any] = {"label_column": getattr(args, "label_column", None),
                            "x_key": getattr(args, "x_key", None),
                            "y_key": getattr(args, "y_key", None)}
    if pre is not None and Path(source).is_dir():
        ds = load(source, **opts, **pre.load_options())
        pre = replace(pre, intensity=None, mode=None, resize=None)
    else:
        ds = load(source, **opts)  # options set to None count as not given
    return ds if pre is None else preprocess_dataset(ds, pre)


def model_transform(X: Any, input_shape: tuple[int, ...] | None, pre: Any = None,
                    intensity_range: Any = None) -> Any:
    """The per-batch conversion from stored samples to what a model takes: float32, images
    to (B, C, H, W), the preprocessing steps of ``pre``, then each sample reshaped to
    ``input_shape`` (which may flatten images: ``--input-shape 64`` for 1x8x8)."""
    from ..data.preprocess import image_layout

    layout = None if X.ndim == 2 and input_shape is not None else image_layout(X)
    if pre is not None and not pre.empty and layout is None:
        raise InputError("--intensity/--mode/--resize/--normalize apply to images; the data "
                         f"have shape {tuple(X.shape)}")
    size = None
    if input_shape is not None:
        size = 1
        for s in input_shape:
            size *= int(s)

    def transform(t: Any) -> Any:
        t = t.float()
        if layout is not None:
            t = layout[1](t)
            if pre is not None and not pre.empty:
                t = pre.batch(t, intensity_range)
        if input_shape is not None:
            per = 1
            for s in t.shape[1:]:
                per *= int(s)
            if per != size:
                raise InputError(f"--input-shape {','.join(map(str, input_shape))} needs "
                                 f"{size} values per sample, the data have "
                                 f"{'x'.join(map(str, t.shape[1:]))} = {per}")
            t = t.reshape(t.shape[0], *input_shape)
        return t.contiguous()

    return transform


def sample_shape(X: Any, transform: Any) -> tuple[int, ...]:
    """One sample's shape as the model sees it: the transform applied to the first row."""
    import numpy as np
    import torch

    return tuple(int(s) for s in transform(torch.as_tensor(np.asarray(X[:1]))).shape[1:])
