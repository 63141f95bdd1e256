"""The label-sharpness witness pair as a PNG: the two closest differently labelled images side
by side (Pillow; no matplotlib needed)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from .._errors import InputError

__all__ = ["as_image", "save_witness_png"]


def as_image(x: Any) -> np.ndarray | None:
    """``x`` as an (H, W) or (H, W, 3) array, or None when it is not image-shaped.

    Accepts (H, W), (H, W, C) and channel-first (C, H, W) with C in {1, 3}.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2:
        return a
    if a.ndim == 3:
        if a.shape[-1] in (1, 3):
            return a[..., 0] if a.shape[-1] == 1 else a
        if a.shape[0] in (1, 3):
            return a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)
    return None


def _to_uint8(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    span = hi - lo if hi > lo else 1.0
    return np.clip(np.round((a - lo) / span * 255.0), 0, 255).astype(np.uint8)


def save_witness_png(
    path: str | os.PathLike,
    first: Any,
    second: Any,
    *,
    intensity_range: Sequence[float] | None = None,
    captions: Sequence[str] | None = None,
    min_height: int = 160,
) -> Path:
    """Write the two images side by side to ``path`` (atomically).

    Intensities are mapped from ``intensity_range`` (default: the pair's min and max) to
    0..255; small images are enlarged by an integer factor (nearest neighbour) so that they
    are at least ``min_height`` pixels high. ``captions`` are printed under each image.
    """
    from PIL import Image, ImageDraw

    a, b = as_image(first), as_image(second)
    if a is None or b is None or a.shape != b.shape:
        raise InputError(f"save_witness_png: expected two images of the same shape, got "
                         f"{np.shape(first)} and {np.shape(second)}")
    if intensity_range is None:
        lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    else:
        lo, hi = (float(v) for v in intensity_range)
    h, w = a.shape[:2]
    f = max(1, math.ceil(min_height / h))
    tiles = [Image.fromarray(_to_uint8(t, lo, hi)).resize(
        (w * f, h * f), resample=Image.Resampling.NEAREST) for t in (a, b)]
    gap, text_h = 8, 16 if captions else 0
    canvas = Image.new("RGB", (2 * w * f + 3 * gap, h * f + 2 * gap + text_h), "white")
    for i, t in enumerate(tiles):
        canvas.paste(t.convert("RGB"), (gap + i * (w * f + gap), gap))
    if captions:
        draw = ImageDraw.Draw(canvas)
        for i, text in enumerate(captions[:2]):
            draw.text((gap + i * (w * f + gap), h * f + gap + 2), str(text), fill="black")
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        canvas.save(tmp, format="PNG")
    return path
