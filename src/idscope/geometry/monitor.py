"""The ID profile of chosen layers during training, in the ``update``/``compute`` shape of
torchmetrics.

``IDMonitor(data, layers=..., every=n)`` records :func:`idscope.profile` of the model on the
same fixed samples whenever ``update(model, step)`` is called with ``step`` a multiple of
``every``; it is also a callable ``monitor(model, step)``, so it can be passed as the
``callback`` of :func:`idscope.training.loop.train_classifier` (called once per epoch)
or called from any plain PyTorch loop (per step or per epoch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from .._errors import InputError
from .._validation import check_int
from ..representations import Profile, profile

__all__ = ["IDMonitor", "MonitorResult"]


@dataclass(frozen=True)
class MonitorResult:
    """The recorded profiles: ``profiles[i]`` was taken at training step ``steps[i]``."""

    steps: tuple[int, ...]
    profiles: tuple[Profile, ...]

    @property
    def layers(self) -> list[str]:
        return self.profiles[0].layers if self.profiles else []

    def series(self, layer: str, column: str = "twonn") -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one layer's ``column`` (``twonn``, ``twonn_std``, ``pca``,
        ``twonn_full``, ...) across the records."""
        values = [float(getattr(p.row(layer), column)) for p in self.profiles]
        return np.array(self.steps), np.array(values)

    def table(self) -> list[dict[str, Any]]:
        """One row per (step, layer): the step and the profile's table row."""
        return [{"step": s, **row} for s, p in zip(self.steps, self.profiles)
                for row in p.table()]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.table())

    def to_dict(self) -> dict[str, Any]:
        return {"steps": list(self.steps), "profiles": [p.to_dict() for p in self.profiles]}


class IDMonitor:
    """Record the ID profile of ``layers`` on ``data`` every ``every`` steps.

    Parameters
    ----------
    data : array, tensor or Dataset
        The samples profiled at every record (fixed, so records are comparable over time).
    layers : str, type or list
        As for :func:`idscope.profile` (default: the papers' preset ``"paper"``).
    every : int
        Record when ``step % every == 0``.
    **profile_options
        Passed to :func:`idscope.profile` (``n_resamples`` defaults to 0 and
        ``pca_threshold`` to None here: one TwoNN estimate per layer, which is what a
        training-time curve needs; pass them to get error bars and the PCA-ID).

    Attributes
    ----------
    records_ : list of (step, Profile)
    """

    def __init__(self, data: Any, *, layers: Any = "paper", every: int = 1,
                 **profile_options: Any):
        self.data = data
        self.layers = layers
        self.every = check_int(every, "every", caller="IDMonitor", low=1)
        forbidden = {"store", "compare", "resume"} & set(profile_options)
        if forbidden:
            raise InputError(f"IDMonitor: option(s) {sorted(forbidden)} cannot be used "
                             f"while training")
        self.profile_options = {"n_resamples": 0, "pca_threshold": None, **profile_options}
        self.records_: list[tuple[int, Profile]] = []

    def update(self, model: nn.Module, step: int) -> bool:
        """Profile ``model`` now if ``step`` is a multiple of ``every``; True if recorded.

        The model's training flags and parameters are left as they were (the capture runs
        in eval mode under inference mode and restores the flags).
        """
        step = check_int(step, "step", caller="IDMonitor.update", low=0)
        if step % self.every:
            return False
        if self.records_ and step <= self.records_[-1][0]:
            raise InputError(f"IDMonitor.update: step {step} is not after the last recorded "
                             f"step {self.records_[-1][0]}")
        self.records_.append((step, profile(model, self.data, layers=self.layers,
                                            **self.profile_options)))
        return True

    __call__ = update

    def compute(self) -> MonitorResult:
        """All records so far."""
        return MonitorResult(tuple(s for s, _ in self.records_),
                             tuple(p for _, p in self.records_))

    def reset(self) -> None:
        self.records_ = []

    def __repr__(self) -> str:
        return (f"IDMonitor(every={self.every}, layers={self.layers!r}, "
                f"{len(self.records_)} record(s))")
