"""Execute one run of a sweep: data → task split → model → training → measurements → a row.

Protocol (Konz & Mazurowski 2024, §3–4 of the science brief):

1. the dataset is loaded (or generated) once per process and cached; with ``scale="unit"``
   its intensity range is mapped onto [0, 1] so that K_F, d_data and ε compare across
   datasets;
2. the task's two classes become labels 0 and 1 (:func:`idscope.data.select_classes`);
3. a class-balanced test set of ``test_size`` is drawn with ``split_seed`` — the same for every
   run of the task — and a class-balanced training subset of size N is drawn from the rest
   with the run's ``seed``; for one seed the subsets are nested (N₁ < N₂ ⇒ subset₁ ⊂ subset₂),
   which lowers the variance of the loss-vs-N slope;
4. the model is built and trained (:func:`idscope.experiments.training.train_classifier`);
   the final (``checkpoint="last"``) or best epoch is reported;
5. measured as the config asks: d_data on the training subset (MLE k=20 in both conventions —
   MacKay–Ghahramani ``k-1`` and Pope's ``k-2`` — and TwoNN), the exact label sharpness K_F of
   the training subset, d_repr = TwoNN of the last hidden layer's activations on the training
   (default) or test set (the layer is the model's declared ``last_hidden_layer``, the
   built-ins' ``hidden`` module: post-ReLU), and the FGSM/PGD ε sweep on the test set.

The result is one flat dict: the run key, every setting, and every number, so that a results
table is a list of such rows.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InputError
from ..data import Dataset
from .config import DatasetSpec, canonical_json
from .plan import Job

__all__ = ["Components", "resolve_components", "run_job", "prepare_dataset", "prepare_task",
           "PreparedData",
           "split_task", "model_input", "model_input_shape", "robustness_column"]

# Where each piece a run uses lives; a Components field left as None resolves to these.
_DEFAULTS: dict[str, tuple[str, str]] = {
    "load": ("idscope.data", "load"),
    "synthetic": ("idscope.data.synthetic", ""),
    "select_classes": ("idscope.data", "select_classes"),
    "class_pairs": ("idscope.data", "class_pairs"),
    "build_model": ("idscope.experiments.architectures", "build_model"),
    "train_classifier": ("idscope.experiments.training", "train_classifier"),
    "data_dimension": ("idscope.dataset", "data_dimension"),
    "label_sharpness": ("idscope.dataset", "label_sharpness"),
    "activations": ("idscope.representations", "activations"),
    "twonn": ("idscope.estimators", "twonn"),
    "evaluate_robustness": ("idscope.experiments.robustness", "evaluate_robustness"),
}


@dataclass(frozen=True)
class Components:
    """The functions a run calls; each left as None is the library's own.

    Replacing one (a custom loader, a different trainer, a fake in a test) changes nothing
    else. ``synthetic`` is a module or object whose attributes are the generators named by
    ``synthetic = "..."`` in a config. Fields must be picklable (module-level functions) for
    the process-pool and Ray executors.
    """

    load: Callable[..., Any] | None = None
    synthetic: Any = None
    select_classes: Callable[..., Any] | None = None
    class_pairs: Callable[..., Any] | None = None
    build_model: Callable[..., Any] | None = None
    train_classifier: Callable[..., Any] | None = None
    data_dimension: Callable[..., Any] | None = None
    label_sharpness: Callable[..., Any] | None = None
    activations: Callable[..., Any] | None = None
    twonn: Callable[..., Any] | None = None
    evaluate_robustness: Callable[..., Any] | None = None

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if value is None and name in _DEFAULTS:
            import importlib

            mod, attr = _DEFAULTS[name]
            module = importlib.import_module(mod)
            return getattr(module, attr) if attr else module
        return value

    def identity(self) -> str:
        """A string that changes when the data functions change (the dataset cache key)."""
        parts = []
        for f in ("load", "synthetic", "select_classes"):
            v = object.__getattribute__(self, f)
            parts.append("default" if v is None else
                         f"{getattr(v, '__module__', '')}.{getattr(v, '__qualname__', v)}")
        return "|".join(parts)


def resolve_components(components: Components | None) -> Components:
    if components is None:
        return Components()
    if not isinstance(components, Components):
        raise InputError(f"run_job: components must be a Components, got "
                         f"{type(components).__name__}")
    return components


# ---------------------------------------------------------------------------------------------
# Data


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
    from .training import as_model_input

    return as_model_input(X, channels_last=True)


def model_input_shape(X: np.ndarray) -> tuple[int, ...]:
    """The per-sample shape :func:`model_input` gives, without converting the data."""
    s = tuple(int(v) for v in np.shape(X)[1:])
    if len(s) == 2:
        return (1, *s)
    if len(s) == 3:
        return (s[2], s[0], s[1])
    return s


# ---------------------------------------------------------------------------------------------
# One run


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Fix torch's intra-op threads for the run: results then do not depend on how many
    threads the executor's worker would otherwise get."""
    if not n:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def robustness_column(method: str, eps: float, metric: str) -> str:
    """Column name of one robustness number, e.g. ``fgsm_eps0.00784314_loss_penalty``."""
    return f"{method}_eps{eps:.6g}_{metric}"


def _num(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def _json(obj: Any) -> str:
    def default(o: Any) -> Any:
        if hasattr(o, "tolist"):
            return o.tolist()
        if hasattr(o, "to_dict"):
            return o.to_dict()
        return str(o)

    return json.dumps(obj, default=default, sort_keys=True)


def _settings_columns(job: Job) -> dict[str, Any]:
    d, t, m = job.dataset, job.training, job.model
    return {
        "key": job.key, "sweep": job.sweep,
        "dataset": d.name, "source": d.source or f"synthetic:{d.synthetic}",
        "dataset_params": canonical_json(d.params if d.synthetic else d.options),
        "domain": d.domain or "", "scale": d.scale,
        "task": job.task_label, "class_0": str(job.task[0]), "class_1": str(job.task[1]),
        "model": m.label, "model_name": m.name, "model_kwargs": canonical_json(m.kwargs),
        "n_train": job.n_train, "n_test": job.test_size, "seed": job.seed,
        "split_seed": t.split_seed, "epochs": t.epochs, "batch_size": t.batch_size,
        "lr": t.lr, "optimizer": t.optimizer, "weight_decay": t.weight_decay,
        "checkpoint": t.checkpoint,
    }


def run_job(job: Job, components: Components | None = None) -> dict[str, Any]:
    """Train and measure one run; return its row (a flat dict of settings and numbers)."""
    comps = resolve_components(components)
    t0 = time.perf_counter()
    row = _settings_columns(job)
    with _torch_threads(job.training.threads):
        data = prepare_dataset(job.dataset, comps)
        X, y01 = prepare_task(job.dataset, job.task, comps)
        tr_idx, te_idx = split_task(y01, job.n_train, job.test_size,
                                    split_seed=job.training.split_seed, seed=job.seed,
                                    caller=f"run {job.key} ({job.dataset.name}, task "
                                           f"{job.task_label})")
        Xtr, ytr, Xte, yte = X[tr_idx], y01[tr_idx], X[te_idx], y01[te_idx]
        Mtr, Mte = model_input(Xtr), model_input(Xte)
        row["data_range_low"], row["data_range_high"] = data.data_range

        t = job.training
        model = comps.build_model(job.model.name, Mtr.shape[1:], 2, seed=job.seed,
                                  **job.model.kwargs)
        res = comps.train_classifier(model, (Mtr, ytr), (Mte, yte), epochs=t.epochs,
                                     batch_size=t.batch_size, lr=t.lr, optimizer=t.optimizer,
                                     weight_decay=t.weight_decay, seed=job.seed,
                                     device=t.device, checkpoint=t.checkpoint)
        final = dict(res.final)
        for k in ("train_loss", "train_acc", "test_loss", "test_acc"):
            row[k] = _num(final.get(k, float("nan")))
        row["test_error"] = 1.0 - row["test_acc"]
        row["history"] = _json(getattr(res, "history", []))
        trained = res.model

        ms = job.measure
        if ms.d_data:
            Ftr = Xtr.reshape(len(Xtr), -1)
            dd = comps.data_dimension(Ftr)
            row["d_data_mle"] = _num(dd.mle_k1.dimension)
            row["d_data_mle_pope"] = _num(dd.mle_pope.dimension)
            row["d_data_twonn"] = _num(dd.twonn.dimension)
        if ms.label_sharpness:
            row["label_sharpness"] = _num(comps.label_sharpness(Xtr.reshape(len(Xtr), -1),
                                                                ytr).value)
        if ms.d_repr:
            Min = Mtr if ms.d_repr == "train" else Mte
            store = comps.activations(trained, Min, layers=_hidden_layers(trained))
            layer = _only_layer(store)
            acts = np.asarray(store[layer], dtype=np.float64).reshape(len(Min), -1)
            row["d_repr"] = _num(comps.twonn(acts).dimension)
            row["d_repr_split"] = ms.d_repr
            row["d_repr_layer"] = str(layer)
            row["d_repr_features"] = int(acts.shape[1])
        if ms.robustness:
            rob = comps.evaluate_robustness(trained, Mte, yte, eps=ms.robustness_eps,
                                            methods=ms.robustness_methods,
                                            data_range=data.data_range)
            for r in rob.rows:
                row.setdefault("clean_loss", _num(r["clean_loss"]))
                row.setdefault("clean_acc", _num(r["clean_acc"]))
                for metric in ("adv_loss", "adv_acc", "loss_penalty", "acc_drop"):
                    row[robustness_column(r["method"], float(r["eps"]), metric)] = \
                        _num(r[metric])
    row["device"] = job.training.device
    row["seconds"] = time.perf_counter() - t0
    return row


def _hidden_layers(model: Any) -> Any:
    """The layer to capture: the model's declared last hidden layer (the built-ins'
    ``hidden``; a custom model may set ``model.last_hidden_layer``), else the capture's
    ``"last_hidden"`` preset (the last module before the head)."""
    from .architectures import last_hidden_layer

    name = last_hidden_layer(model) if hasattr(model, "named_modules") else None
    return [name] if name else "last_hidden"


def _only_layer(store: Any) -> str:
    """The one layer a ``layers="last_hidden"`` capture holds."""
    names = getattr(store, "layers", None)
    if names is None:
        names = list(store.keys()) if hasattr(store, "keys") else list(store)
    names = list(names)
    if len(names) != 1:
        raise InputError(f"run: expected one last hidden layer, the capture holds {names}")
    return names[0]
