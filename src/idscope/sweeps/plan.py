"""A sweep plan: the immutable list of runs a configuration asks for, each with a stable key.

The key of a run is the first 16 hex digits of the SHA-256 of the canonical JSON of the
settings that determine its numbers (dataset identity, task, model and its keyword arguments,
N, test size, seeds, optimiser settings, measurements). Where a run executes (device, torch
threads, executor) is not part of the key, and neither is the sweep's name: renaming a sweep
or moving it to a GPU does not recompute finished runs. Resuming a sweep means skipping the
keys already in its results.

:func:`make_plan` is the second half of validation: it loads each dataset once (expanding
``"all-pairs"``), checks every task's classes and the class counts against the training and
test sizes, and builds every model once on its real input shape, so that a bad setting fails
before any run starts.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InputError
from .components import resolve_components
from .config import (
    DatasetSpec,
    MeasureSpec,
    ModelSpec,
    SweepConfig,
    TrainingSpec,
    canonical_json,
)
from .preflight import model_input_shape, prepare_dataset, prepare_task

__all__ = ["Job", "SweepPlan", "make_plan", "job_key", "KEY_VERSION"]

# Bumped when the meaning of a run's settings changes, so old results are not reused.
KEY_VERSION = 1

# MLE with k = 20 needs 21 distinct points.
_MIN_N_D_DATA = 21


@dataclass(frozen=True)
class Job:
    """One training run: what to train on, what to train, and what to measure."""

    key: str
    sweep: str
    dataset: DatasetSpec
    task: tuple[Any, Any]
    model: ModelSpec
    n_train: int
    test_size: int
    seed: int
    training: TrainingSpec
    measure: MeasureSpec

    @property
    def task_label(self) -> str:
        return f"{self.task[0]}-{self.task[1]}"

    def settings(self) -> dict[str, Any]:
        """The settings hashed into :attr:`key`."""
        return _settings(self.dataset, self.task, self.model, self.n_train, self.test_size,
                         self.seed, self.training, self.measure)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "sweep": self.sweep, **self.settings()}


@dataclass(frozen=True)
class SweepPlan:
    """The runs of a sweep, in a fixed order (datasets, tasks, models, sizes, seeds)."""

    config: SweepConfig
    jobs: tuple[Job, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(j.key for j in self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)

    def pending(self, done: set[str] | frozenset[str]) -> tuple[Job, ...]:
        """The jobs whose keys are not in ``done``."""
        return tuple(j for j in self.jobs if j.key not in done)

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "jobs": [j.to_dict() for j in self.jobs]}


def _jsonable_label(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _settings(dataset: DatasetSpec, task: tuple[Any, Any], model: ModelSpec, n_train: int,
              test_size: int, seed: int, training: TrainingSpec,
              measure: MeasureSpec) -> dict[str, Any]:
    return {"v": KEY_VERSION, "dataset": dataset.identity(),
            "task": [_jsonable_label(t) for t in task],
            "model": {"name": model.name, "kwargs": model.kwargs, "label": model.label},
            "n_train": n_train, "test_size": test_size, "seed": seed,
            "split_seed": training.split_seed, "training": training.optimisation(),
            "measure": measure.to_dict()}


def job_key(settings: dict[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of the canonical JSON of a run's settings."""
    return hashlib.sha256(canonical_json(settings).encode("ascii")).hexdigest()[:16]


def make_plan(config: SweepConfig, components: Any = None, *, check_models: bool = True
              ) -> SweepPlan:
    """Expand a configuration into its runs, after checking it against the data and models.

    Parameters
    ----------
    config : SweepConfig
    components : Components, optional
        The data, model and measurement functions (see
        :class:`idscope.sweeps.components.Components`); the library's own by default.
    check_models : bool
        Build each model once on its real input shape (cheap for the built-in models) so an
        unknown name or a bad keyword fails now rather than in the first run.
    """
    comps = resolve_components(components)
    tr, ms = config.training, config.measure
    jobs: list[Job] = []
    for spec in config.datasets:
        data = prepare_dataset(spec, comps)
        tasks = _expand_tasks(spec, data, comps)
        if not tasks:
            n_classes = len(np.unique(np.asarray(data.y)))
            raise InputError(f"{_where(config)}: dataset {spec.name!r} has {n_classes} "
                             f"class(es); tasks = \"all-pairs\" needs at least two, so the "
                             f"sweep would run nothing")
        for task in tasks:
            _check_task(config, spec, data, task, comps)
        if check_models:
            shape = model_input_shape(data.X)
            for mspec in config.models:
                _check_model(config, mspec, shape, comps)
        for task, mspec, n, seed in itertools.product(tasks, config.models, tr.sizes,
                                                      tr.seeds):
            s = _settings(spec, task, mspec, n, tr.test_size, seed, tr, ms)
            jobs.append(Job(job_key(s), config.name, spec, task, mspec, n, tr.test_size, seed,
                            tr, ms))
    if not jobs:  # pragma: no cover - every list above is checked non-empty
        raise InputError(f"{_where(config)}: the sweep plans no run")
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):  # pragma: no cover - only if two specs are identical
        raise InputError(f"sweep config {config.path or config.name}: two runs have the same "
                         f"settings; remove the repeated dataset or model")
    return SweepPlan(config, tuple(jobs))


def _where(config: SweepConfig) -> str:
    return f"sweep config {config.path or config.name}"


def _expand_tasks(spec: DatasetSpec, data: Any, comps: Any) -> tuple[tuple[Any, Any], ...]:
    if spec.tasks == "all-pairs":
        return tuple((_jsonable_label(a), _jsonable_label(b))
                     for a, b in comps.class_pairs(data.dataset))
    return tuple(spec.tasks)


def _check_task(config: SweepConfig, spec: DatasetSpec, data: Any, task: tuple[Any, Any],
                comps: Any) -> None:
    """The task's classes exist (label values or class names) and hold enough samples for a
    balanced training set of the largest N plus the balanced test set."""
    try:
        _, y01 = prepare_task(spec, task, comps)
    except InputError as exc:
        raise InputError(f"{_where(config)}: dataset {spec.name!r}, task {list(task)}: "
                         f"{exc}") from None
    tr = config.training
    counts = {task[0]: int((y01 == 0).sum()), task[1]: int((y01 == 1).sum())}
    have = min(counts.values())
    need_test = -(-tr.test_size // 2)
    n_max = max(tr.sizes)
    need = need_test + -(-n_max // 2)
    if need > have:
        # The largest balanced training set that still leaves the test split intact.
        room = 2 * max(0, have - need_test)
        raise InputError(
            f"{_where(config)}: training size N={n_max} is too large for dataset "
            f"{spec.name!r}, task {list(task)}: the classes have {counts} samples, a balanced "
            f"split needs {need} per class ({-(-n_max // 2)} for training + {need_test} for "
            f"the test set of {tr.test_size}); the largest N possible is {room}")
    if config.measure.d_data and min(tr.sizes) < _MIN_N_D_DATA:
        raise InputError(f"{_where(config)}: training size N={min(tr.sizes)} is too small to "
                         f"measure d_data (MLE with k=20 needs at least {_MIN_N_D_DATA} "
                         f"points); raise it or set measure.d_data = false")


def _check_model(config: SweepConfig, mspec: ModelSpec, shape: tuple[int, ...],
                 comps: Any) -> None:
    # "file.py:callable" is imported from its file by build_model below
    if mspec.is_callable_path and not mspec.name.rsplit(":", 1)[0].endswith(".py"):
        mod_name, _, attr = mspec.name.partition(":")
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as exc:
            raise InputError(f"{_where(config)}: model {mspec.name!r}: cannot import module "
                             f"{mod_name!r} ({exc})") from None
        fn = getattr(mod, attr, None)
        if not callable(fn):
            raise InputError(f"{_where(config)}: model {mspec.name!r}: {mod_name} has no "
                             f"callable {attr!r}")
    try:
        comps.build_model(mspec.name, shape, 2, seed=0, **mspec.kwargs)
    except InputError as exc:
        raise InputError(f"{_where(config)}: model {mspec.label!r}: {exc}") from None
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        # RuntimeError: torch refusing a size (a negative width in a custom model)
        raise InputError(f"{_where(config)}: model {mspec.label!r} cannot be built for input "
                         f"shape {shape} with kwargs {mspec.kwargs}: {exc}") from None
