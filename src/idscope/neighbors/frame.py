"""Power-of-two rescaling: the engine's arithmetic in a frame where no square overflows.

Squared distances of data near 1e±154 overflow or underflow float64 (and near 1e±19 float32):
the points then look identical, or the search breaks. Multiplying by a power of two is exact
in binary floating point (barring underflow), and every step of the engine — float32
products, error bounds, float64 difference vectors, square roots, sorting — commutes with it
while all numbers stay normal. So the engine works on ``X·2^-e`` with ``e`` chosen from the
largest |x|, and multiplies the distances back by ``2^e`` (exactly):

- ``e = 0`` when ``2^-40 <= max|x| < 2^40``: no float32 or float64 square there can
  overflow, and nothing is rescaled (the common case costs nothing);
- otherwise ``e`` is the binary exponent of ``max|x|`` (``max|x| = m·2^e``, ``m ∈ [0.5, 1)``),
  so the rescaled data lie in (−1, 1).

Data ``X`` and ``X·2^k`` are then computed in frames that differ by a power of two inside
the window, so their neighbours are the same and their distances differ by exactly ``2^k``.
Distances below ``2^-500`` times the largest |x| have subnormal squares and lose precision;
such data span a range no float64 computation resolves.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .._errors import InputError

__all__ = ["frame_exponent", "max_abs", "ldexp", "unscale_distances"]

_WINDOW = 40
_STEP = 100  # 2**±100 is a normal float32: torch scales in steps of at most this


def frame_exponent(m: float) -> int:
    """The exponent ``e`` of the frame for data whose largest |x| is ``m`` (see module)."""
    if m == 0.0 or 2.0**-_WINDOW <= m < 2.0**_WINDOW:
        return 0
    return math.frexp(m)[1]


def max_abs(block: Any, caller: str = "kneighbors") -> float:
    """Largest |x| of a numpy array or tensor (no temporary copy); NaN or inf is an error."""
    if block.size == 0 if isinstance(block, np.ndarray) else block.numel() == 0:
        return 0.0
    if isinstance(block, torch.Tensor):
        lo, hi = torch.aminmax(block)
        m = max(float(hi), -float(lo))
    else:
        m = max(float(np.max(block)), -float(np.min(block)))
    if not math.isfinite(m):
        raise InputError(f"{caller}: input contains NaN or inf value(s)")
    return m


def ldexp(x: Any, e: int, dtype: Any = None) -> Any:
    """``x·2^e`` exactly (rounded only where the result is subnormal) as a new array or
    tensor, except a tensor with ``e == 0`` (returned as is, converted to ``dtype``)."""
    if isinstance(x, torch.Tensor):
        t = x if dtype is None else x.to(dtype)
        if e == 0:
            return t
        first = True
        while e:
            step = max(-_STEP, min(_STEP, e))
            t = t * 2.0**step if first else t.mul_(2.0**step)
            first, e = False, e - step
        return t
    if dtype is None:
        return np.ldexp(x, e)
    return np.ldexp(np.asarray(x, dtype=dtype), e)


def unscale_distances(dist: np.ndarray, e: int, caller: str = "kneighbors") -> np.ndarray:
    """Distances of the frame back in the data's units (in place, exact)."""
    if e:
        with np.errstate(over="ignore"):
            np.ldexp(dist, e, out=dist)
        if not np.isfinite(dist).all():
            raise InputError(f"{caller}: distances exceed the float64 range (|x| up to about "
                             f"2^{e}); rescale the data")
    return dist
