"""Hidden states of every layer of a ``transformers`` model, pooled per sample, as layers the
capture measures.

``HiddenStates(model, pooling="mean")`` runs ``model(..., output_hidden_states=True)`` and
passes each of the L + 1 hidden states (the embeddings, then each block's output, as the
model reports them) through a named identity module ``hidden.0`` ... ``hidden.L`` after
pooling it over tokens. Those modules are what the presets select for such a wrapper, so
that ``activations`` / ``profile`` (and their store, resumption and comparisons) measure the
hidden states as Valeriani et al. (NeurIPS 2023) and Cheng et al. (2024) did: one pooled
vector per sample and layer, relative depth l / L.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._errors import InputError
from .._validation import check_choice, check_int

__all__ = ["HiddenStates", "HiddenState", "POOLINGS", "pool_tokens"]

POOLINGS = ("mean", "first", "last", "tokens")


def pool_tokens(h: torch.Tensor, mask: torch.Tensor, pooling: str, max_tokens: int = 32
                ) -> torch.Tensor:
    """One row per sample from hidden states ``h`` (B, T, H) and the attention mask (B, T).

    - ``"mean"``: average over the real tokens, ``sum_t m_t h_t / sum_t m_t``;
    - ``"first"``: the first position (BERT's [CLS]);
    - ``"last"``: the last real token (the one a causal model has read everything at),
      found from the mask, so right and left padding both work;
    - ``"tokens"``: every token of the first ``max_tokens`` positions, concatenated
      (B, max_tokens * H); padded positions are zeros, so give inputs of at least
      ``max_tokens`` real tokens for a meaningful geometry.
    """
    m = mask.to(h.dtype)
    if pooling == "mean":
        return (h * m[..., None]).sum(1) / m.sum(1, keepdim=True)
    if pooling == "first":
        return h[:, 0]
    if pooling == "last":
        positions = torch.arange(h.shape[1], device=h.device)
        last = (mask.long() * (positions + 1)).argmax(1)
        return h[torch.arange(h.shape[0], device=h.device), last]
    if pooling == "tokens":
        t = h[:, :max_tokens] * m[:, :max_tokens, None]
        if t.shape[1] < max_tokens:
            t = torch.nn.functional.pad(t, (0, 0, 0, max_tokens - t.shape[1]))
        return t.reshape(t.shape[0], -1)
    raise InputError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


class HiddenState(nn.Identity):
    """Marks hidden state ``index`` of ``n_layers``: the capture hooks it, and its relative
    depth is ``index / n_layers``."""

    def __init__(self, index: int, n_layers: int):
        super().__init__()
        self.layer_position = (int(index), int(n_layers))

    def extra_repr(self) -> str:
        return f"index={self.layer_position[0]}, n_layers={self.layer_position[1]}"


class HiddenStates(nn.Module):
    """A ``transformers`` model whose hidden states (``output_hidden_states``) are pooled
    and exposed as the layers ``hidden.0`` (embeddings) ... ``hidden.L`` (last block).

    Parameters
    ----------
    model : transformers.PreTrainedModel
        Any model that accepts ``output_hidden_states=True`` and returns ``hidden_states``.
    pooling : {"mean", "first", "last", "tokens"}
        See :func:`pool_tokens`; ``"mean"`` and ``"last"`` use the attention mask.
    max_tokens : int
        Positions kept by ``pooling="tokens"``.

    The forward pass takes the model's keyword arguments (``input_ids``, ``attention_mask``,
    ...; ``pixel_values`` for vision transformers, whose hidden states have no mask) and
    returns the pooled last hidden state.
    """

    def __init__(self, model: nn.Module, pooling: str = "mean", max_tokens: int = 32):
        super().__init__()
        check_choice(pooling, "pooling", POOLINGS, caller="HiddenStates")
        self.max_tokens = check_int(max_tokens, "max_tokens", caller="HiddenStates", low=1)
        config = getattr(model, "config", None)
        n = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
        if n is None:
            raise InputError(f"HiddenStates: {type(model).__name__} has no config with "
                             f"num_hidden_layers; pass a transformers model")
        self.model = model
        self.pooling = pooling
        self.hidden = nn.ModuleList(HiddenState(i, int(n)) for i in range(int(n) + 1))
        self.main_input_name = getattr(model, "main_input_name", "input_ids")
        self.config = config

    def _init_weights(self, module: nn.Module) -> None:
        """The wrapped model's own initialisation (used by ``reinitialized``)."""
        init = getattr(self.model, "_init_weights", None)
        if callable(init):
            init(module)

    def forward(self, input_ids: Any = None, attention_mask: Any = None, **kwargs: Any
                ) -> torch.Tensor:
        if input_ids is not None:  # positional: token ids, or images for a vision model
            key = "input_ids" if not input_ids.is_floating_point() else self.main_input_name
            kwargs[key] = input_ids
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask
        out = self.model(**kwargs, output_hidden_states=True, return_dict=True)
        states = getattr(out, "hidden_states", None)
        if states is None or len(states) != len(self.hidden):
            got = "none" if states is None else len(states)
            raise InputError(f"HiddenStates: the model returned {got} hidden states, expected "
                             f"{len(self.hidden)} (embeddings + {len(self.hidden) - 1} layers)")
        pooled = None
        for module, h in zip(self.hidden, states):
            mask = attention_mask if attention_mask is not None and h.ndim == 3 else None
            if h.ndim == 3:
                m = mask if mask is not None else torch.ones(h.shape[:2], device=h.device)
                h = pool_tokens(h, m, self.pooling, self.max_tokens)
            pooled = module(h)
        return pooled
