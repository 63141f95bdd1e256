"""The functions a sweep run calls, as one replaceable record.

Every field defaults to the library's own function, imported here by name: a reader (and a
tool) sees that each run calls ``data``, ``dataset``, ``representations``, ``estimators`` and
``training``. Replacing one field (a custom loader, a different trainer, a fake in a test)
changes nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from types import ModuleType
from typing import Any

from .._errors import InputError
from ..data import class_pairs, load, select_classes, synthetic
from ..dataset import data_dimension, label_sharpness
from ..estimators import twonn
from ..representations import activations
from ..training import build_model, evaluate_robustness, train_classifier

__all__ = ["Components", "resolve_components"]


@dataclass(frozen=True)
class Components:
    """The functions a run calls; each defaults to the library's own.

    ``synthetic`` is a module or object whose attributes are the generators named by
    ``synthetic = "..."`` in a config. Fields must be picklable (module-level functions) for
    the process-pool and Ray executors.
    """

    load: Callable[..., Any] = load
    synthetic: ModuleType | Any = synthetic
    select_classes: Callable[..., Any] = select_classes
    class_pairs: Callable[..., Any] = class_pairs
    build_model: Callable[..., Any] = build_model
    train_classifier: Callable[..., Any] = train_classifier
    data_dimension: Callable[..., Any] = data_dimension
    label_sharpness: Callable[..., Any] = label_sharpness
    activations: Callable[..., Any] = activations
    twonn: Callable[..., Any] = twonn
    evaluate_robustness: Callable[..., Any] = evaluate_robustness

    def __post_init__(self) -> None:
        # ``None`` keeps its old meaning, "the library's own"
        for f in fields(self):
            if getattr(self, f.name) is None:
                object.__setattr__(self, f.name, f.default)

    def identity(self) -> str:
        """A string that changes when the data functions change (the dataset cache key)."""
        parts = []
        for f in fields(self):
            if f.name not in ("load", "synthetic", "select_classes"):
                continue
            v = getattr(self, f.name)
            parts.append("default" if v is f.default else
                         f"{getattr(v, '__module__', '')}.{getattr(v, '__qualname__', v)}")
        return "|".join(parts)


def resolve_components(components: Components | None) -> Components:
    """``components`` checked, or the library's own when None."""
    if components is None:
        return Components()
    if not isinstance(components, Components):
        raise InputError(f"run_job: components must be a Components, got "
                         f"{type(components).__name__}")
    return components
