"""Token inputs for sequence models: dicts of token ids and attention masks, files of ids, and
text files tokenized by the model's own tokenizer.

A batch of a sequence model is a dict of keyword arguments (``input_ids``,
``attention_mask``, ...); :class:`TokenInputs` holds such a dict for N samples and yields one
sample's dict at a time, so that the capture batches it like any dataset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .._errors import InputError, MissingDependencyError

__all__ = ["TokenInputs", "token_inputs", "read_text_lines", "load_tokenizer", "tokenize",
           "load_token_ids", "text_inputs", "is_text_model", "TEXT_SUFFIXES", "ID_SUFFIXES"]

TEXT_SUFFIXES = (".txt", ".text")
ID_SUFFIXES = (".npy", ".pt")


class TokenInputs(Dataset):
    """N samples of keyword arguments for a sequence model.

    Parameters
    ----------
    inputs : dict of str to tensor or array
        ``input_ids`` (N, T) integers, and optionally ``attention_mask`` (N, T) of 0/1 and any
        other per-sample tensors of the same first dimension (``token_type_ids``, ...). A
        missing ``attention_mask`` means every position is a real token.
    """

    def __init__(self, inputs: Mapping[str, Any]):
        if "input_ids" not in inputs:
            raise InputError(f"token inputs need 'input_ids'; got keys {sorted(inputs)}")
        tensors = {k: v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v))
                   for k, v in inputs.items()}
        ids = tensors["input_ids"]
        if ids.ndim != 2 or ids.is_floating_point() or ids.is_complex() or ids.numel() == 0:
            raise InputError(f"token inputs: input_ids must be a non-empty (N, T) array of "
                             f"integers, got {tuple(ids.shape)} {ids.dtype}")
        if int(ids.min()) < 0:
            raise InputError(f"token inputs: input_ids hold {int((ids < 0).sum())} negative "
                             f"id(s)")
        tensors["input_ids"] = ids.long()
        mask = tensors.setdefault("attention_mask", torch.ones_like(ids))
        if tuple(mask.shape) != tuple(ids.shape):
            raise InputError(f"token inputs: attention_mask has shape {tuple(mask.shape)}, "
                             f"input_ids {tuple(ids.shape)}")
        if bool(((mask != 0) & (mask != 1)).any()) or bool((mask.sum(1) == 0).any()):
            raise InputError("token inputs: attention_mask must be 0/1 with at least one "
                             "token per sample")
        tensors["attention_mask"] = mask.long()
        for k, v in tensors.items():
            if v.ndim == 0 or v.shape[0] != ids.shape[0]:
                raise InputError(f"token inputs: {k!r} has {tuple(v.shape)}, not one row per "
                                 f"sample ({ids.shape[0]})")
        self.tensors = tensors

    def __len__(self) -> int:
        return int(self.tensors["input_ids"].shape[0])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}

    def fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of every tensor: a store is resumed only for the same
        tokens."""
        import hashlib

        h = hashlib.sha256()
        for k in sorted(self.tensors):
            v = self.tensors[k].contiguous()
            h.update(f"{k}:{tuple(v.shape)}:{v.dtype};".encode())
            h.update(v.numpy().tobytes())
        return h.hexdigest()[:16]

    @property
    def max_id(self) -> int:
        return int(self.tensors["input_ids"].max())


def token_inputs(data: Any) -> Any:
    """``data`` as the capture iterates it: a dict of token tensors becomes
    :class:`TokenInputs`; anything else is returned as it is."""
    if isinstance(data, Mapping):
        return TokenInputs(data)
    return data


def read_text_lines(path: str | os.PathLike) -> list[str]:
    """The non-empty lines of a UTF-8 text file (one sample per line, ends stripped)."""
    path = Path(path)
    try:
        lines = [s.strip() for s in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read text file {path}: {type(exc).__name__}: {exc}") from None
    lines = [s for s in lines if s]
    if not lines:
        raise InputError(f"{path} holds no non-empty line (one sample per line)")
    return lines


def load_tokenizer(model: Any, path: str | os.PathLike | None = None) -> Any:
    """The model's own tokenizer, from ``path`` or from the folder the model was loaded from
    (``model.name_or_path``), local files only."""
    where = path if path is not None else getattr(model, "name_or_path", "") or None
    if where is None or not Path(str(where)).is_dir():
        raise InputError("text input needs the model's tokenizer: load the model from a local "
                         "folder that holds its tokenizer files (transformers:DIR) or pass "
                         "--tokenizer DIR")
    try:
        from transformers import AutoTokenizer
    except Exception as exc:  # pragma: no cover - transformers is in the models extra
        raise MissingDependencyError(f"text input needs transformers ({exc}): pip install "
                                     f"'idscope[models]'") from None
    try:
        tok = AutoTokenizer.from_pretrained(str(where), local_files_only=True)
    except Exception as exc:
        raise InputError(f"no tokenizer in {where} ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]})") from None
    if tok.pad_token is None:  # GPT-2 style tokenizers: pad with the end-of-text token
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    return tok


def tokenize(lines: list[str], tokenizer: Any, *, max_length: int = 128) -> TokenInputs:
    """One sample per line: padded to the longest line, truncated to ``max_length`` tokens,
    with the attention mask."""
    enc = tokenizer(list(lines), padding=True, truncation=True, max_length=int(max_length),
                    return_tensors="pt")
    return TokenInputs(dict(enc))


def load_token_ids(path: str | os.PathLike) -> TokenInputs:
    """``.npy`` (N, T) integer ids, or ``.pt`` holding such a tensor or a dict with
    ``input_ids`` (and ``attention_mask``, ...), read with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    if path.suffix.lower() == ".npy":
        obj: Any = np.load(path, allow_pickle=False)
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(f"cannot read {path.name} with torch.load(weights_only=True) "
                             f"({type(exc).__name__})") from None
    if not isinstance(obj, Mapping):
        obj = {"input_ids": obj}
    return TokenInputs(obj)


def is_text_model(model: Any) -> bool:
    """Whether ``model`` takes token ids (a transformers model whose main input is
    ``input_ids``)."""
    return getattr(model, "main_input_name", None) == "input_ids"


def text_inputs(model: Any, path: str | os.PathLike, *, tokenizer: str | os.PathLike | None
                = None, max_length: int = 128) -> TokenInputs:
    """The samples of ``path`` for a text model: a text file (one sample per line) through
    the model's own tokenizer, or token ids from ``.npy`` / ``.pt``; ids are checked against
    the model's vocabulary."""
    suffix = Path(path).suffix.lower()
    if suffix in TEXT_SUFFIXES:
        inputs = tokenize(read_text_lines(path), load_tokenizer(model, tokenizer),
                          max_length=max_length)
    elif suffix in ID_SUFFIXES:
        inputs = load_token_ids(path)
    else:
        raise InputError(f"a text model reads a text file ({', '.join(TEXT_SUFFIXES)}, one "
                         f"sample per line) or token ids ({', '.join(ID_SUFFIXES)}), got "
                         f"{Path(path).name}")
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if vocab is not None and inputs.max_id >= int(vocab):
        raise InputError(f"{Path(path).name}: token id {inputs.max_id} is outside the model's "
                         f"vocabulary of {vocab} (a different tokenizer?)")
    return inputs
