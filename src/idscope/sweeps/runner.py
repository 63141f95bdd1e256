"""Execute one run of a sweep: data → task split → model → training → measurements → a row.

Protocol (Konz & Mazurowski 2024, §3–4; docs/science.md):

1. the dataset is loaded (or generated) once per process and cached; with ``scale="unit"``
   its intensity range is mapped onto [0, 1] so that K_F, d_data and ε compare across
   datasets;
2. the task's two classes become labels 0 and 1 (:func:`idscope.data.select_classes`);
3. a class-balanced test set of ``test_size`` is drawn with ``split_seed`` — the same for every
   run of the task — and a class-balanced training subset of size N is drawn from the rest
   with the run's ``seed``; for one seed the subsets are nested (N₁ < N₂ ⇒ subset₁ ⊂ subset₂),
   which lowers the variance of the loss-vs-N slope;
4. the model is built and trained (:func:`idscope.training.loop.train_classifier`);
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
from typing import Any

import numpy as np

from .._errors import InputError
from .._runtime import torch_threads
from ..training import last_hidden_layer
from .components import Components, resolve_components
from .config import canonical_json
from .plan import Job
from .preflight import (
    PreparedData,
    model_input,
    model_input_shape,
    prepare_dataset,
    prepare_task,
    split_task,
)

__all__ = ["Components", "resolve_components", "run_job", "prepare_dataset", "prepare_task",
           "PreparedData",
           "split_task", "model_input", "model_input_shape", "robustness_column"]


# ---------------------------------------------------------------------------------------------
# One run


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
    with torch_threads(job.training.threads):
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
