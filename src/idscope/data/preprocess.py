"""One preprocessing vocabulary for images, shared by ``dataset``, ``estimate`` and
``profile``: intensity range, size, channels and a model's own normalisation.

Label sharpness K_F scales as 1/c when the inputs are scaled by c, and every ID estimate
depends on the resolution and channels, so each step is explicit and recorded (see
:meth:`Preprocess.describe`). The steps run in a fixed order on (B, C, H, W) float tensors:

1. intensity: ``x' = (x - lo) / (hi - lo)`` for ``"0-1"`` (times 255 for ``"0-255"``), with
   ``[lo, hi]`` the source's declared range (``meta["intensity_range"]``, else its integer
   dtype's range);
2. channels: ``"L"`` = 0.299 R + 0.587 G + 0.114 B (ITU-R 601, as Pillow), ``"RGB"`` repeats
   a grey channel three times;
3. resize: bilinear with antialiasing to (height, width);
4. normalisation: ``(x - mean_c) / std_c`` per channel, e.g. the ImageNet statistics a
   pretrained model declares; it expects intensities in [0, 1].

Image folders apply steps 1-3 while decoding (so folders of mixed sizes load); arrays are
processed in blocks of rows, so a memory-mapped source is never loaded whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import InputError
from ._dataset import Dataset

__all__ = ["Preprocess", "parse_resize", "parse_normalization", "model_normalization",
           "preprocess_dataset", "INTENSITIES", "MODES"]

INTENSITIES = ("0-1", "0-255", "0-65535")
MODES = ("L", "RGB")
_RANGES = {"0-1": (0.0, 1.0), "0-255": (0.0, 255.0), "0-65535": (0.0, 65535.0)}
_LUMA = (0.299, 0.587, 0.114)
_BLOCK_BYTES = 64 << 20  # rows processed at a time when a whole array is converted


def parse_resize(text: str | Sequence[int] | int | None, *, flag: str = "--resize"
                 ) -> tuple[int, int] | None:
    """``"32x32"``, ``"32"``, ``"28,28"``, an int or a pair as (height, width)."""
    if text is None:
        return None
    if isinstance(text, str):
        try:
            parts = [int(v) for v in text.lower().replace(",", "x").split("x")]
        except ValueError:
            parts = []
    elif isinstance(text, (int, np.integer)):
        parts = [int(text)]
    else:
        parts = [int(v) for v in text]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) <= 0:
        raise InputError(f"{flag} expects HxW with positive sizes (e.g. 32x32), got {text!r}")
    return parts[0], parts[1]


def parse_normalization(text: str | None, *, flag: str = "--normalize"
                        ) -> str | tuple[tuple[float, ...], tuple[float, ...]] | None:
    """``"auto"``, ``"model"``, ``"none"`` or ``"MEAN[,MEAN..]/STD[,STD..]"`` (e.g.
    ``0.485,0.456,0.406/0.229,0.224,0.225``)."""
    if text is None or text in ("auto", "model", "none"):
        return text
    mean, sep, std = text.partition("/")
    try:
        m = tuple(float(v) for v in mean.split(","))
        s = tuple(float(v) for v in std.split(","))
    except ValueError:
        m = s = ()
    if not sep or not m or len(m) != len(s) or not all(math.isfinite(v) for v in m + s) \
            or min(s) <= 0:
        raise InputError(f"{flag}: expected auto, model, none or MEAN,../STD,.. with positive "
                         f"STD values, got {text!r}")
    return m, s


def model_normalization(model: Any, spec: str | None = None
                        ) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The input normalisation a model declares, as (mean, std) per channel, or None.

    Looked for in this order: ``model.idscope_normalization`` (set it on your own models),
    timm's ``pretrained_cfg``/``default_cfg`` ``mean``/``std``, and ``image_mean``/
    ``image_std`` in the ``preprocessor_config.json`` of a local transformers folder.
    """
    declared = getattr(model, "idscope_normalization", None)
    if declared is not None:
        mean, std = declared
        return tuple(map(float, mean)), tuple(map(float, std))
    for attr in ("pretrained_cfg", "default_cfg"):
        cfg = getattr(model, attr, None)
        if isinstance(cfg, dict) and cfg.get("mean") is not None and cfg.get("std") is not None:
            return tuple(map(float, cfg["mean"])), tuple(map(float, cfg["std"]))
    if spec:
        folder = Path(str(spec).removeprefix("transformers:"))
        pre = folder / "preprocessor_config.json"
        if pre.is_file():
            import json

            try:
                cfg = json.loads(pre.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            if cfg.get("image_mean") is not None and cfg.get("image_std") is not None:
                return (tuple(map(float, cfg["image_mean"])),
                        tuple(map(float, cfg["image_std"])))
    return None


@dataclass(frozen=True)
class Preprocess:
    """Steps applied to image inputs; every field None means "as stored".

    Parameters
    ----------
    intensity : {"0-1", "0-255"}, optional
        Rescale from the source's declared intensity range.
    mode : {"L", "RGB"}, optional
        Channels: grey or colour.
    resize : (height, width), optional
        Bilinear, antialiased.
    normalization : (mean, std), optional
        Per-channel ``(x - mean) / std`` after the steps above (intensities in [0, 1]).
    """

    intensity: str | None = None
    mode: str | None = None
    resize: tuple[int, int] | None = None
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def __post_init__(self) -> None:
        if self.intensity is not None and self.intensity not in INTENSITIES:
            raise InputError(f"--intensity must be one of {', '.join(INTENSITIES)}, got "
                             f"{self.intensity!r}")
        if self.mode is not None and self.mode not in MODES:
            raise InputError(f"--mode must be L or RGB, got {self.mode!r}")

    @property
    def empty(self) -> bool:
        return (self.intensity is None and self.mode is None and self.resize is None
                and self.normalization is None)

    def describe(self) -> dict[str, Any]:
        """The steps as plain values (for tables, JSON and reports)."""
        norm = None
        if self.normalization is not None:
            norm = {"mean": list(self.normalization[0]), "std": list(self.normalization[1])}
        return {"intensity": self.intensity, "mode": self.mode,
                "resize": None if self.resize is None else list(self.resize),
                "normalization": norm}

    def load_options(self) -> dict[str, Any]:
        """The steps an image folder applies while decoding (options of ``data.load``)."""
        return {"intensity": self.intensity, "mode": self.mode, "resize": self.resize}

    # -- tensors -------------------------------------------------------------------------

    def batch(self, t: Any, intensity_range: Sequence[float] | None) -> Any:
        """Apply the steps to a float (B, C, H, W) tensor whose values lie in
        ``intensity_range`` (needed only when ``intensity`` is set)."""
        import torch

        if self.intensity is not None:
            lo, hi = _range_or_error(intensity_range)
            new_lo, new_hi = _RANGES[self.intensity]
            if (lo, hi) != (new_lo, new_hi):
                t = (t - lo) * ((new_hi - new_lo) / (hi - lo)) + new_lo
        if self.mode is not None:
            c = t.shape[1]
            if self.mode == "L" and c == 3:
                w = torch.tensor(_LUMA, dtype=t.dtype, device=t.device).view(1, 3, 1, 1)
                t = (t * w).sum(dim=1, keepdim=True)
            elif self.mode == "RGB" and c == 1:
                t = t.expand(-1, 3, -1, -1)
            elif c != (1 if self.mode == "L" else 3):
                raise InputError(f"--mode {self.mode}: cannot convert images with {c} "
                                 f"channels")
        if self.resize is not None and tuple(t.shape[-2:]) != tuple(self.resize):
            import torch.nn.functional as F

            t = F.interpolate(t, size=tuple(self.resize), mode="bilinear", align_corners=False,
                              antialias=True)
        if self.normalization is not None:
            mean, std = self.normalization
            c = t.shape[1]
            if len(mean) not in (1, c):
                raise InputError(f"normalisation has {len(mean)} channel value(s), the images "
                                 f"have {c} channel(s); pass --mode RGB or --mode L")
            m = torch.tensor(mean, dtype=t.dtype, device=t.device).view(1, -1, 1, 1)
            s = torch.tensor(std, dtype=t.dtype, device=t.device).view(1, -1, 1, 1)
            t = (t - m) / s
        return t.contiguous()

    def output_range(self, intensity_range: Sequence[float] | None
                     ) -> list[float] | None:
        """The intensity range after the steps (None after a normalisation)."""
        if self.normalization is not None:
            return None
        if self.intensity is not None:
            return list(_RANGES[self.intensity])
        return None if intensity_range is None else [float(v) for v in intensity_range]

    def sample_shape(self, shape_chw: Sequence[int]) -> tuple[int, int, int]:
        """A (C, H, W) sample's shape after the steps."""
        c, h, w = (int(v) for v in shape_chw)
        if self.mode is not None:
            c = 1 if self.mode == "L" else 3
        if self.resize is not None:
            h, w = self.resize
        return c, h, w


def _range_or_error(intensity_range: Sequence[float] | None) -> tuple[float, float]:
    if intensity_range is None:
        raise InputError("--intensity: the source does not declare its intensity range "
                         "(image folders, sklearn:digits and integer arrays do); scale the "
                         "array yourself or save it as uint8/uint16")
    lo, hi = (float(v) for v in intensity_range)
    if not hi > lo:
        raise InputError(f"--intensity: bad intensity range [{lo}, {hi}]")
    return lo, hi


def declared_range(ds: Dataset) -> list[float] | None:
    """The dataset's intensity range: declared in its meta, else its integer dtype's."""
    rng = ds.meta.get("intensity_range")
    if rng is not None:
        return [float(v) for v in rng]
    dtype = np.dtype(getattr(ds.X, "dtype", np.float64))
    if dtype.kind in "u":
        return [0.0, float(np.iinfo(dtype).max)]
    return None


def image_layout(X: Any, image_shape: Sequence[int] | None = None
                 ) -> tuple[str, Callable[[Any], Any], Callable[[Any], Any]] | None:
    """How (N, ...) image arrays become (N, C, H, W) and back: ``("NHW" | "NHWC" | "NCHW",
    to_nchw, from_nchw)`` for tensors; None for tables (N, D). ``image_shape`` (H, W), when
    a source declares it, settles small images such as (N, 4, 4, 3)."""
    def back(t: Any) -> Any:  # grey is stored (N, H, W), colour (N, H, W, C)
        return t[:, 0] if t.shape[1] == 1 else t.permute(0, 2, 3, 1)

    if X.ndim == 4 and image_shape is not None and len(image_shape) >= 2:
        if tuple(X.shape[1:3]) == tuple(image_shape[:2]):
            return "NHWC", lambda t: t.permute(0, 3, 1, 2), back
        if tuple(X.shape[2:4]) == tuple(image_shape[:2]):
            return "NCHW", lambda t: t, lambda t: t
    if X.ndim == 3:
        return "NHW", lambda t: t.unsqueeze(1), back
    if X.ndim == 4 and X.shape[-1] in (1, 3, 4) and X.shape[1] not in (1, 3, 4):
        return "NHWC", lambda t: t.permute(0, 3, 1, 2), back
    if X.ndim == 4:
        return "NCHW", lambda t: t, lambda t: t
    return None


def preprocess_dataset(ds: Dataset, pre: Preprocess) -> Dataset:
    """``ds`` with ``pre`` applied to its images (float32, the stored layout kept: (N, H, W)
    grey or (N, H, W, C)); ``meta`` records the steps and the new intensity range.

    Tables (N, D) accept only ``intensity`` (a linear rescale of every value); resize and
    channels need images.
    """
    if pre.empty:
        return ds
    import torch

    layout = image_layout(ds.X, ds.meta.get("image_shape"))
    if layout is None:
        if pre.mode is not None or pre.resize is not None or pre.normalization is not None:
            raise InputError(f"{ds.name}: --resize, --mode and normalisation apply to images; "
                             f"the data are a table of shape {tuple(ds.X.shape)}")
        lo, hi = _range_or_error(declared_range(ds))
        new_lo, new_hi = _RANGES[pre.intensity]  # type: ignore[index]
        X = (np.asarray(ds.X, dtype=np.float64) - lo) * ((new_hi - new_lo) / (hi - lo)) + new_lo
        meta = dict(ds.meta, intensity_range=[new_lo, new_hi], preprocess=pre.describe())
        return Dataset(X.astype(np.float32), ds.y, ds.name, meta)
    name, to_nchw, from_nchw = layout
    rng = declared_range(ds)
    n = ds.X.shape[0]
    row_bytes = max(1, int(np.prod(ds.X.shape[1:])) * 4)
    step = max(1, _BLOCK_BYTES // row_bytes)
    blocks = []
    for a in range(0, n, step):
        t = torch.as_tensor(np.asarray(ds.X[a:a + step], dtype=np.float32))
        blocks.append(from_nchw(pre.batch(to_nchw(t), rng)).numpy())
    X = np.concatenate(blocks) if blocks else np.empty((0,), np.float32)
    meta = dict(ds.meta, preprocess=pre.describe(), intensity_range=pre.output_range(rng))
    if X.ndim >= 3:
        meta["image_shape"] = list(X.shape[1:3])
    if pre.mode is not None:
        meta["mode"] = pre.mode
    return Dataset(X, ds.y, ds.name, meta)
