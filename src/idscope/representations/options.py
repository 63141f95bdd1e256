"""The option objects of :func:`idscope.profile`: how activations are captured and how each
layer's intrinsic dimension is estimated. ``profile(model, data, capture=CaptureOptions(
batch_size=128), estimate=EstimateOptions(n_resamples=5))``; the same fields are accepted
as keyword arguments (``profile(model, data, n_resamples=5)``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from .._errors import InputError

__all__ = ["CaptureOptions", "EstimateOptions", "split_options"]


@dataclass(frozen=True)
class CaptureOptions:
    """How :func:`idscope.representations.activations` captures the layers (see it for
    each field)."""

    batch_size: int = 64
    device: Any = None
    dtype: str = "float32"
    sequence: str = "flatten"
    transform: Callable[[Any], Any] | None = None
    resume: bool = True


@dataclass(frozen=True)
class EstimateOptions:
    """How :func:`idscope.representations.profile_store` estimates each layer's ID.

    ``n_resamples`` TwoNN repeats on random subsets of ``fraction`` of the samples (the error
    bars; 0: none); ``estimators`` among ``"twonn"``, ``"mle"``, ``"gride"``; PCA-ID at
    ``pca_threshold`` of the variance (None: skip); the ``duplicates`` policy; TwoNN's fit
    (``twonn_method``, ``fit_fraction``); ``estimator_options`` per estimator, e.g.
    ``{"mle": {"k": 20}}``.
    """

    n_resamples: int = 20
    fraction: float = 0.9
    estimators: tuple[str, ...] = ("twonn",)
    pca_threshold: float | None = 0.9
    duplicates: str = "remove"
    twonn_method: str = "linear"
    fit_fraction: float = 0.9
    estimator_options: dict[str, dict[str, Any]] | None = None

    def as_kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def split_options(capture: CaptureOptions | None, estimate: EstimateOptions | None,
                  options: Mapping[str, Any], caller: str
                  ) -> tuple[CaptureOptions, EstimateOptions]:
    """The two option objects, with keyword ``options`` filled into the one that has each
    field; an unknown keyword is an error."""
    capture = CaptureOptions() if capture is None else capture
    estimate = EstimateOptions() if estimate is None else estimate
    if not isinstance(capture, CaptureOptions):
        raise InputError(f"{caller}: capture must be a CaptureOptions, got "
                         f"{type(capture).__name__}")
    if not isinstance(estimate, EstimateOptions):
        raise InputError(f"{caller}: estimate must be an EstimateOptions, got "
                         f"{type(estimate).__name__}")
    cap_names = {f.name for f in fields(CaptureOptions)}
    est_names = {f.name for f in fields(EstimateOptions)}
    unknown = sorted(set(options) - cap_names - est_names)
    if unknown:
        raise InputError(f"{caller}: unknown option(s) {unknown}; capture options are "
                         f"{sorted(cap_names)}, estimate options {sorted(est_names)}")
    capture = replace(capture, **{k: v for k, v in options.items() if k in cap_names})
    estimate = replace(estimate, **{k: v for k, v in options.items() if k in est_names})
    return capture, estimate
