"""Weights from a local file into a model: ``.safetensors``, or a torch file read with
``weights_only=True`` (no arbitrary code). Nothing is downloaded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._errors import InputError, MissingDependencyError

__all__ = ["load_weights", "WEIGHT_SUFFIXES"]

WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def load_weights(model: nn.Module, path: str | os.PathLike, *, strict: bool = True) -> None:
    """Load a ``state_dict`` from ``.safetensors`` or a torch file into ``model``.

    Torch files are read with ``weights_only=True`` (no arbitrary code); checkpoints holding
    the state dict under ``state_dict``/``model``/``model_state_dict`` are unwrapped, and a
    ``module.`` prefix (DataParallel) is stripped.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"load_model: no such weights file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except Exception as exc:
            raise MissingDependencyError(f"load_model: reading {path.name} needs safetensors "
                                         f"({exc})") from None
        try:
            state = load_file(str(path), device="cpu")
        except Exception as exc:  # SafetensorError: a truncated or corrupt file
            raise InputError(f"load_model: {path.name} is not a valid .safetensors file "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
                             ) from None
    elif suffix in WEIGHT_SUFFIXES:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(f"load_model: {path.name} is not a plain state_dict that "
                             f"torch.load(weights_only=True) accepts "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
                             ) from None
    else:
        raise InputError(f"load_model: weights must be .safetensors, .pt, .pth, .bin or "
                         f".ckpt, got {path.name}")
    state = _unwrap(state, path)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches are raised even when not strict
        raise InputError(f"load_model: {path.name} does not fit {type(model).__name__}: "
                         f"{str(exc).strip().splitlines()[-1][:300]}") from None
    if missing and callable(getattr(model, "tie_weights", None)):
        # transformers leaves tied weights (GPT-2's lm_head = wte) out of its files
        model.tie_weights()
        params = model.state_dict()
        loaded = {params[k].data_ptr() for k in state if k in params}
        missing = [k for k in missing if params[k].data_ptr() not in loaded]
    # older files hold buffers that are no longer saved (BERT's position_ids): harmless
    buffers = dict(model.named_buffers())
    unexpected = [k for k in unexpected if k not in buffers]
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s) (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s) (e.g. "
                         f"{', '.join(unexpected[:3])})")
        raise InputError(f"load_model: {path.name} does not match {type(model).__name__}: "
                         + "; ".join(parts))


def _unwrap(state: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(state, dict) and not all(isinstance(v, torch.Tensor) for v in state.values()):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state:
        raise InputError(f"load_model: {path.name} holds no state_dict")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise InputError(f"load_model: {path.name}: {len(bad)} entrie(s) are not tensors "
                         f"(e.g. {bad[0]!r})")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


# ----------------------------------------------------------------------------------------
# descriptions
# ----------------------------------------------------------------------------------------
