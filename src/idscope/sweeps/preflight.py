"""The data preflight of a sweep: load (or generate) each dataset once, scale it, select a
task's two classes and split it; and the network input built from those arrays.

:func:`~idscope.sweeps.plan.make_plan` calls it to check a config against the real data
before any run; :func:`~idscope.sweeps.runner.run_job` calls it for the run's arrays (cached in
the process, so a worker loads each dataset once).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InputError
from ..data import Dataset
from ..training import as_model_input
from .components import Components, resolve_components
from .config import DatasetSpec, canonical_json

__all__ = ["PreparedData", "prepare_dataset", "prepare_task", "split_task", "model_input",
           "model_input_shape"]


@dataclass(frozen=True)
class PreparedData:
    """A dataset ready for runs: features scaled as configured, labels, intensity range."""

    dataset: Any          # idscope.data.Dataset with the scaled features
    data_range: tuple[float, float]
    raw_range: tuple[float, float]

    @property
    def X(self) -> np.ndarray:
        return self.dataset.X

    @property
    def y(self) -> np.ndarray:
        return self.dataset.y


_CACHE: OrderedDict[str, PreparedData] = OrderedDict()
_CACHE_SIZE = 4


def prepare_dataset(spec: DatasetSpec, components: Components | None = None) -> PreparedData:
    """Load or generate ``spec``'s data, scale it, and cache it in this process."""
    comps = resolve_components(components)
    ck = canonical_json(spec.identity()) + "#" + comps.identity()
    if ck in _CACHE:
        _CACHE.move_to_end(ck)
        return _CACHE[ck]
    if spec.synthetic is not None:
        gen = getattr(comps.synthetic, spec.synthetic, None)
        if gen is None:
            raise InputError(f"dataset {spec.name!r}: unknown synthetic generator "
                             f"{spec.synthetic!r}")
        params = spec.params
        if params.get("layout", "NHWC") != "NHWC":
            raise InputError(f"dataset {spec.name!r}: params.layout must be NHWC (the Dataset "
                             f"convention; runs convert images to the model's layout)")
        n = params.pop("n", params.pop("n_samples", None))
        if n is None:
            raise InputError(f"dataset {spec.name!r}: params needs 'n', the number of images "
                             f"to generate")
        try:
            ds = gen(n, **params)
        except TypeError as exc:
            raise InputError(f"dataset {spec.name!r}: bad params for {spec.synthetic}: "
                             f"{exc}") from None
    else:
        try:
            ds = comps.load(spec.source, **spec.options)
        except TypeError as exc:
            raise InputError(f"dataset {spec.name!r}: bad options for loading "
                             f"{spec.source}: {exc}") from None
    if ds.y is None:
        raise InputError(f"dataset {spec.name!r}: {spec.source or spec.synthetic} has no labels "
                         f"(a training sweep needs them; for a table, name the label column)")
    # float32 sources stay float32 (memory); everything else becomes float64.
    X = np.asarray(ds.X)
    X = X.astype(X.dtype if X.dtype in (np.float32, np.float64) else np.float64, copy=False)
    if not np.isfinite(X).all():
        bad = int(X.size - np.count_nonzero(np.isfinite(X)))
        raise InputError(f"dataset {spec.name!r}: {bad} NaN or inf feature value(s)")
    if spec.intensity_range is not None:
        lo, hi = spec.intensity_range
    elif ds.meta.get("intensity_range") is not None:
        lo, hi = (float(v) for v in ds.meta["intensity_range"])
    else:
        lo, hi = float(X.min()), float(X.max())
    if not hi > lo:
        raise InputError(f"dataset {spec.name!r}: constant features (intensity range "
                         f"[{lo}, {hi}]); nothing to learn")
    xmin, xmax = float(X.min()), float(X.max())
    tol = 1e-6 * (hi - lo)
    if xmin < lo - tol or xmax > hi + tol:
        raise InputError(f"dataset {spec.name!r}: values span [{xmin:g}, {xmax:g}], outside "
                         f"its intensity range [{lo:g}, {hi:g}]; set intensity_range to the "
                         f"range the data can take")
    if spec.scale == "unit":
        X = ((X - lo) / (hi - lo)).astype(X.dtype, copy=False)
        data_range = (0.0, 1.0)
    else:
        data_range = (lo, hi)
    meta = dict(ds.meta, intensity_range=list(data_range), raw_intensity_range=[lo, hi])
    prepared = PreparedData(Dataset(X, np.asarray(ds.y), ds.name, meta), data_range, (lo, hi))
    _CACHE[ck] = prepared
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return prepared


_TASK_CACHE: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()


def prepare_task(spec: DatasetSpec, task: tuple[Any, Any], components: Components | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The features of a task's two classes and their labels 0/1 (``task[0]`` → 0), through
    :func:`idscope.data.select_classes`; cached in this process."""
    comps = resolve_components(components)
    ck = (canonical_json(spec.identity()) + "#" + comps.identity() + "#"
          + canonical_json([str(t) for t in task]))
    if ck in _TASK_CACHE:
        _TASK_CACHE.move_to_end(ck)
        return _TASK_CACHE[ck]
    data = prepare_dataset(spec, comps)
    sel = comps.select_classes(data.dataset, list(task))
    out = (np.asarray(sel.X), np.asarray(sel.y).astype(np.int64))
    _TASK_CACHE[ck] = out
    while len(_TASK_CACHE) > 2 * _CACHE_SIZE:
        _TASK_CACHE.popitem(last=False)
    return out


def _balanced_counts(n: int) -> tuple[int, int]:
    return (n + 1) // 2, n // 2


def split_task(y01: np.ndarray, n_train: int, test_size: int, *, split_seed: int, seed: int,
               caller: str = "split_task") -> tuple[np.ndarray, np.ndarray]:
    """Indices of a class-balanced training subset and a disjoint class-balanced test set.

    Class 0 gets ⌈n/2⌉ and class 1 ⌊n/2⌋ of each split. The test set depends only on
    ``split_seed``; the training subset is a prefix of a ``seed``-permutation of the rest, so
    subsets for growing N are nested.
    """
    y01 = np.asarray(y01)
    train, test = [], []
    for c, (n_tr, n_te) in enumerate(zip(_balanced_counts(n_train),
                                         _balanced_counts(test_size))):
        idx = np.flatnonzero(y01 == c)
        if idx.size < n_tr + n_te:
            raise InputError(f"{caller}: class {c} has {idx.size} samples, needs {n_tr} for "
                             f"training + {n_te} for testing")
        perm = np.random.default_rng([split_seed, c, 0x7E57]).permutation(idx)
        test.append(perm[:n_te])
        pool = perm[n_te:]
        train.append(np.random.default_rng([seed, c, 0x7A19]).permutation(pool)[:n_tr])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def model_input(X: np.ndarray) -> Any:
    """Features as a network takes them (a float32 tensor): (N, D) tables stay, images stored
    as (N, H, W) or channels-last (N, H, W, C) become (N, 1, H, W) / (N, C, H, W)."""
    return as_model_input(X, channels_last=True)


def model_input_shape(X: np.ndarray) -> tuple[int, ...]:
    """The per-sample shape :func:`model_input` gives, without converting the data."""
    s = tuple(int(v) for v in np.shape(X)[1:])
    if len(s) == 2:
        return (1, *s)
    if len(s) == 3:
        return (s[2], s[0], s[1])
    return s
