"""Deprecated alias of :mod:`idscope.training.architectures` (the README's 0.1 import path);
removed in the next release."""

from ..training.architectures import build_model, last_hidden_layer, list_models

__all__ = ["build_model", "list_models", "last_hidden_layer"]
