"""One wrapper around a model's forward pass: a shape or dtype mismatch between the data and
the model becomes one :class:`InputError` line that says what the model got and how to fix
it, instead of a traceback from deep inside ``forward``.

Only errors whose message is one of PyTorch's input-mismatch messages (matrix shapes, conv
input rank or channels, embedding index dtype, dtype mismatches, view/reshape sizes) are
translated; anything else (a bug in the model) keeps its traceback. The original exception
stays attached as ``__cause__``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .._errors import InputError

__all__ = ["call_model", "describe_inputs", "input_hint"]

# PyTorch's messages for inputs the model cannot take
_MISMATCH = re.compile(
    r"shapes cannot be multiplied|size mismatch|must match the size of tensor|"
    r"Expected \d+D .*input|but got input of size|expected input\[.*\] to have|"
    r"to have \d+ channels|Expected .*scalar type|expected scalar type|"
    r"should be the same|Expected tensor for argument|is invalid for input of size|"
    r"Calculated padded input size|Kernel size can't be greater|output size is too small|"
    r"Sizes of tensors must match|not enough values to unpack|too many values to unpack|"
    r"Expected input batch_size|dimension out of range|index out of range in self|"
    r"Input type \(.*\) and (weight|bias) type", re.IGNORECASE)


def describe_inputs(inputs: Any) -> str:
    """``"a float32 batch of shape (64, 1, 8, 8)"``, or the same per key of a dict."""
    if isinstance(inputs, dict):
        return "keyword inputs " + ", ".join(f"{k}: {describe_inputs(v)}"
                                             for k, v in inputs.items())
    shape = getattr(inputs, "shape", None)
    dtype = str(getattr(inputs, "dtype", type(inputs).__name__)).replace("torch.", "")
    if shape is None:
        return f"a {type(inputs).__name__}"
    return f"a {dtype} batch of shape {tuple(int(s) for s in shape)}"


def input_hint(inputs: Any, message: str) -> str:
    """How to fix the mismatch, naming the command-line flag (and what it does)."""
    shape = tuple(getattr(inputs, "shape", ()) or ())
    per_sample = shape[1:]
    size = math.prod(per_sample) if per_sample else 0
    m = message.lower()
    if "channels" in m:
        return ("the model expects another number of channels: convert the images with "
                "--mode L (grey) or --mode RGB")
    if "scalar type long" in m or "expected tensor for argument" in m or "indices" in m:
        return ("the model expects integer token ids: pass .npy/.pt ids or a text file "
                "to a text model")
    if "index out of range" in m:
        return "a token id is larger than the model's vocabulary: check the tokenizer"
    if len(per_sample) >= 2 and ("multiplied" in m or "size mismatch" in m):
        return (f"the model expects flat rows: pass --input-shape {size} to flatten each "
                f"{'x'.join(map(str, per_sample))} sample (or --resize HxW to change the "
                f"image size first)")
    if len(per_sample) == 1 and ("expected" in m and ("3d" in m or "4d" in m)):
        return ("the model expects images: pass --input-shape C,H,W (e.g. 1,8,8) to reshape "
                f"each row of {size} values")
    if "multiplied" in m or "size mismatch" in m or "must match" in m:
        return ("the model expects inputs of another size: reshape with --input-shape or "
                "resize images with --resize HxW")
    return ("check the data's shape and type against the model's: --input-shape reshapes "
            "each sample, --resize/--mode/--intensity convert images")


def call_model(model: Any, inputs: Any) -> Any:
    """``model(**inputs)`` for a dict, else ``model(inputs)``; input mismatches become one
    :class:`InputError` line."""
    try:
        return model(**inputs) if isinstance(inputs, dict) else model(inputs)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        text = " ".join(str(exc).split())
        if not _MISMATCH.search(text):
            raise
        name = type(model).__name__
        raise InputError(f"the model ({name}) cannot take its input: it got "
                         f"{describe_inputs(inputs)} and PyTorch says \"{text[:300]}\"; "
                         f"{input_hint(inputs, text)}") from exc
