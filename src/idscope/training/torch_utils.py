"""The torch pieces the training loop and the attacks share: losses and predictions for one
logit or C logits, inputs and labels as tensors, a model's device and dtype, eval mode."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .._errors import InputError
from .._runtime import resolve_device

__all__ = ["is_single_logit", "per_sample_loss", "predict_labels", "as_model_input",
           "as_tensors", "check_labels_fit", "training_device", "model_device",
           "model_dtype", "eval_mode"]


# ---------------------------------------------------------------------------------------------
# Losses shared with the attacks: a (N, 1) or (N,) output is one logit (logistic loss), a
# (N, C) output with C >= 2 is C logits (cross-entropy).

def is_single_logit(logits: torch.Tensor) -> bool:
    return logits.ndim == 1 or (logits.ndim == 2 and logits.shape[1] == 1)


def per_sample_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample classification loss: logistic for one logit, cross-entropy otherwise."""
    if is_single_logit(logits):
        return nn.functional.binary_cross_entropy_with_logits(
            logits.reshape(-1), y.to(logits.dtype), reduction="none")
    return nn.functional.cross_entropy(logits, y, reduction="none")


def predict_labels(logits: torch.Tensor) -> torch.Tensor:
    if is_single_logit(logits):
        return (logits.reshape(-1) > 0).long()
    return logits.argmax(dim=1)


# ---------------------------------------------------------------------------------------------
# Inputs

def as_model_input(X: Any, *, channels_last: bool | None = None) -> torch.Tensor:
    """Data as a float32 tensor shaped for a model: (N, D), (N, C, L) or (N, C, H, W).

    Images stored as :class:`~idscope.data.Dataset` stores them, (N, H, W) or
    (N, H, W, C), become (N, 1, H, W) / (N, C, H, W). A 4-D array is read as channels-last
    when ``channels_last`` is True, or when None and its last axis is smaller than its
    second (e.g. (N, 32, 32, 3)); pass ``channels_last=False`` for data already (N, C, H, W).
    """
    t = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    t = t.float()
    if t.ndim == 3:
        return t.unsqueeze(1)
    if t.ndim == 4:
        if channels_last is None:
            channels_last = t.shape[-1] < t.shape[1]
        return t.permute(0, 3, 1, 2).contiguous() if channels_last else t
    if t.ndim == 2:
        return t
    raise InputError(f"as_model_input: expected a 2-, 3- or 4-D array, got shape "
                     f"{tuple(t.shape)}")


def as_tensors(data: Any, name: str, caller: str, dtype: torch.dtype | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(X, y) as tensors: X floating (``dtype``, default float32 for float64 input), y int64."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise InputError(f"{caller}: {name} must be a pair (X, y), got {type(data).__name__}")
    X, y = data
    Xt = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X))
    if dtype is not None:
        Xt = Xt.to(dtype)
    elif not Xt.is_floating_point() or Xt.dtype == torch.float64:
        Xt = Xt.float()
    yt = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    if yt.ndim != 1:
        yt = yt.reshape(-1)
    if Xt.ndim < 2 or Xt.shape[0] == 0:
        raise InputError(f"{caller}: {name} X must have a batch axis and at least one sample, "
                         f"got shape {tuple(Xt.shape)}")
    if yt.shape[0] != Xt.shape[0]:
        raise InputError(f"{caller}: {name} has {Xt.shape[0]} samples but {yt.shape[0]} "
                         f"labels (lengths must match)")
    if yt.is_floating_point():
        if not torch.equal(yt, yt.round()):
            raise InputError(f"{caller}: {name} labels must be integers 0..C-1")
    yt = yt.long()
    bad = int(torch.isfinite(Xt).logical_not().sum())
    if bad:
        raise InputError(f"{caller}: {name} X contains {bad} NaN or inf value(s)")
    return Xt, yt


def check_labels_fit(y: torch.Tensor, n_out: int, name: str, caller: str) -> None:
    n_classes = 2 if n_out == 1 else n_out
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= n_classes:
        vals = torch.unique(y)[:10].tolist()
        raise InputError(f"{caller}: {name} labels must be integers in 0..{n_classes - 1} for "
                         f"a model with {n_out} output(s); got values {vals}; remap them "
                         f"(e.g. np.unique(y, return_inverse=True))")


def training_device(device: Any, model: nn.Module | None = None) -> torch.device:
    """Where to train or evaluate: :func:`idscope._runtime.resolve_device` (None: where the
    model is; ``"auto"``: a GPU when there is one)."""
    return resolve_device(device, model)


def model_device(model: nn.Module) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    p = next((p for p in model.parameters() if p.is_floating_point()), None)
    return p.dtype if p is not None else torch.float32


class eval_mode:
    """Put every submodule in eval mode; restore each one's own flag on exit."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self) -> nn.Module:
        self.flags = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        return self.model

    def __exit__(self, *exc: Any) -> None:
        for m, flag in self.flags:
            m.training = flag
