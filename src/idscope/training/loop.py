"""Training harness: train a classifier, evaluate it, record loss and accuracy per epoch.

The protocol of Konz & Mazurowski (ICLR 2024): a binary task, a class-balanced training
subset of size N (``idscope.data.select_classes`` and ``balanced_subsample`` make them), a
held-out test set, the *last* epoch's model kept (``checkpoint="last"``; ``"best"`` keeps the
epoch of lowest test loss instead).
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .._errors import InputError
from .._runtime import progress_bar, torch_threads
from .._validation import check_choice, check_int
from .torch_utils import (
    as_model_input,
    as_tensors,
    check_labels_fit,
    eval_mode,
    model_dtype,
    per_sample_loss,
    predict_labels,
    training_device,
)

__all__ = ["TrainResult", "train_classifier", "evaluate", "as_model_input", "OPTIMIZERS"]

OPTIMIZERS = ("adam", "adamw", "sgd")


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`train_classifier`.

    Attributes
    ----------
    model : torch.nn.Module
        The trained model (the kept checkpoint), in eval mode.
    history : list of dict
        One row per epoch: ``epoch`` (1-based), ``train_loss``, ``train_acc`` (running means
        over the epoch's mini-batches, in train mode), ``test_loss``, ``test_acc`` (the whole
        test set after the epoch, eval mode).
    final : dict
        The row of the kept checkpoint (the last epoch, or the best test loss).
    epochs : int
        Epochs run (fewer than asked only when the training loss became NaN or inf).
    seconds : float
        Wall-clock training time.
    best_epoch : int
        The epoch of the kept checkpoint.
    settings : dict
        The training settings (optimizer, lr, batch size, seed, sizes, ...).
    """

    model: nn.Module
    history: list[dict[str, float]]
    final: dict[str, float]
    epochs: int
    seconds: float
    best_epoch: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the model (JSON-serialisable)."""
        return {"history": [dict(r) for r in self.history], "final": dict(self.final),
                "epochs": self.epochs, "seconds": self.seconds, "best_epoch": self.best_epoch,
                "settings": dict(self.settings)}


# ---------------------------------------------------------------------------------------------
# Evaluation

@torch.no_grad()
def _evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int,
              device: torch.device) -> dict[str, float]:
    total = correct = 0.0
    for start in range(0, X.shape[0], batch_size):
        xb = X[start:start + batch_size].to(device)
        yb = y[start:start + batch_size].to(device)
        logits = model(xb)
        total += float(per_sample_loss(logits, yb).double().sum())
        correct += float((predict_labels(logits) == yb).sum())
    n = X.shape[0]
    return {"loss": total / n, "acc": correct / n}


def evaluate(model: nn.Module, X: Any, y: Any, batch_size: int = 256, *,
             device: Any = None) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` on (X, y), in eval mode and without gradients.

    The loss is the mean cross-entropy (or the logistic loss for a single-logit model). The
    model's train/eval flags are restored afterwards.
    """
    caller = "evaluate"
    batch_size = check_int(batch_size, "batch_size", caller=caller, low=1)
    Xt, yt = as_tensors((X, y), "data", caller, model_dtype(model))
    dev = training_device(device, model)
    with eval_mode(model):
        return _evaluate(model, Xt, yt, batch_size, dev)


# ---------------------------------------------------------------------------------------------
# Training

def _make_optimizer(name: str, params: Any, lr: float, weight_decay: float,
                    momentum: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def _check_positive(value: Any, name: str, caller: str, *, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{caller}: {name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise InputError(f"{caller}: {name}={value!r} must be "
                         f"{'>= 0' if allow_zero else '> 0'}")
    return v


def train_classifier(
    model: nn.Module,
    train: tuple[Any, Any],
    test: tuple[Any, Any],
    *,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    seed: int = 0,
    device: Any = "cpu",
    checkpoint: str = "last",
    eval_batch_size: int = 512,
    threads: int | None = None,
    progress: bool = False,
    callback: Callable[[nn.Module, int], Any] | None = None,
) -> TrainResult:
    """Train ``model`` by mini-batch gradient descent and evaluate it after every epoch.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place (moved to ``device``) and returned in eval mode.
    train, test : (X, y)
        Float tensors or arrays already shaped for the model (see :func:`as_model_input`),
        integer labels in 0..C−1 (C = the number of logits; {0, 1} for a single logit).
    epochs, batch_size, lr, optimizer, weight_decay, momentum
        Plain mini-batch training; ``optimizer`` in {"adam", "adamw", "sgd"} (``momentum``
        for SGD only). The loss is the cross-entropy (logistic for a single logit).
    seed : int
        Seeds the shuffling (a ``torch.Generator``) and any randomness in the model (dropout)
        inside ``torch.random.fork_rng``: the global RNG is left as it was. On CPU the same
        seed, data, model and thread count give bit-identical results.
    device : str or torch.device
        ``"cpu"`` (default), ``"cuda"``, ``"auto"`` (CUDA when available), None (where the
        model is).
    checkpoint : {"last", "best"}
        Keep the last epoch (the protocol of Konz & Mazurowski) or the epoch with the lowest
        test loss (the first such epoch on ties).
    threads : int, optional
        ``torch.set_num_threads`` during training (restored afterwards); set it for results
        that must match across machines/workers, since CPU kernels may sum in a different
        order with a different number of threads.
    progress : bool
        A tqdm bar over epochs (only on a terminal).
    callback : callable, optional
        ``callback(model, epoch)`` after each epoch's evaluation (model in eval mode), e.g.
        an :class:`idscope.geometry.IDMonitor`; it runs under its own forked RNG, so it
        cannot change the training.

    Returns
    -------
    TrainResult
    """
    caller = "train_classifier"
    if not isinstance(model, nn.Module):
        raise InputError(f"{caller}: model must be a torch.nn.Module, got "
                         f"{type(model).__name__}")
    epochs = check_int(epochs, "epochs", caller=caller, low=1)
    batch_size = check_int(batch_size, "batch_size", caller=caller, low=1)
    eval_batch_size = check_int(eval_batch_size, "eval_batch_size", caller=caller, low=1)
    lr = _check_positive(lr, "lr", caller)
    weight_decay = _check_positive(weight_decay, "weight_decay", caller, allow_zero=True)
    momentum = _check_positive(momentum, "momentum", caller, allow_zero=True)
    check_choice(optimizer, "optimizer", OPTIMIZERS, caller=caller)
    check_choice(checkpoint, "checkpoint", ("last", "best"), caller=caller)
    seed = check_int(seed, "seed", caller=caller, low=0)
    if threads is not None:
        threads = check_int(threads, "threads", caller=caller, low=1)
    Xtr, ytr = as_tensors(train, "train", caller, model_dtype(model))
    Xte, yte = as_tensors(test, "test", caller, model_dtype(model))
    if Xtr.shape[1:] != Xte.shape[1:]:
        raise InputError(f"{caller}: train samples have shape {tuple(Xtr.shape[1:])} but test "
                         f"samples {tuple(Xte.shape[1:])}")
    dev = training_device(device, model)
    model.to(dev)
    with eval_mode(model), torch.no_grad():
        try:
            n_out = model(Xtr[:2].to(dev)).reshape(min(2, Xtr.shape[0]), -1).shape[1]
        except RuntimeError as exc:
            raise InputError(f"{caller}: the model does not accept inputs of shape "
                             f"{tuple(Xtr.shape[1:])}: {exc}") from None
    check_labels_fit(ytr, n_out, "train", caller)
    check_labels_fit(yte, n_out, "test", caller)

    settings = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "optimizer": optimizer,
                "weight_decay": weight_decay, "momentum": momentum, "seed": seed,
                "device": str(dev), "checkpoint": checkpoint, "n_train": int(Xtr.shape[0]),
                "n_test": int(Xte.shape[0]),
                "n_parameters": int(sum(p.numel() for p in model.parameters()))}
    t0 = time.perf_counter()
    with torch_threads(threads):
        history, best_epoch, best_state = _train_loop(
            model, Xtr, ytr, Xte, yte, epochs=epochs, batch_size=batch_size, lr=lr,
            optimizer=optimizer, weight_decay=weight_decay, momentum=momentum, seed=seed,
            device=dev, checkpoint=checkpoint, eval_batch_size=eval_batch_size,
            progress=progress, callback=callback)
    seconds = time.perf_counter() - t0
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    final = dict(history[best_epoch - 1])
    return TrainResult(model, history, final, len(history), seconds, best_epoch, settings)


def _train_loop(model: nn.Module, Xtr: torch.Tensor, ytr: torch.Tensor, Xte: torch.Tensor,
                yte: torch.Tensor, *, epochs: int, batch_size: int, lr: float, optimizer: str,
                weight_decay: float, momentum: float, seed: int, device: torch.device,
                checkpoint: str, eval_batch_size: int, progress: bool,
                callback: Callable[[nn.Module, int], Any] | None = None
                ) -> tuple[list[dict[str, float]], int, dict[str, torch.Tensor] | None]:
    opt = _make_optimizer(optimizer, model.parameters(), lr, weight_decay, momentum)
    gen = torch.Generator().manual_seed(seed)
    n = Xtr.shape[0]
    history: list[dict[str, float]] = []
    best_loss, best_epoch, best_state = float("inf"), 0, None
    bar = None
    if progress and sys.stderr.isatty():  # epoch bars only on a terminal: runs are short
        bar = progress_bar(epochs, "train", True, unit="epoch", leave=False)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for epoch in range(1, epochs + 1):
            model.train()
            perm = torch.randperm(n, generator=gen)
            total = correct = 0.0
            for start in range(0, n, batch_size):
                idx = perm[start:start + batch_size]
                xb, yb = Xtr[idx].to(device), ytr[idx].to(device)
                opt.zero_grad(set_to_none=True)
                logits = model(xb)
                losses = per_sample_loss(logits, yb)
                losses.mean().backward()
                opt.step()
                total += float(losses.detach().double().sum())
                correct += float((predict_labels(logits.detach()) == yb).sum())
            model.eval()
            ev = _evaluate(model, Xte, yte, eval_batch_size, device)
            row = {"epoch": epoch, "train_loss": total / n, "train_acc": correct / n,
                   "test_loss": ev["loss"], "test_acc": ev["acc"]}
            history.append(row)
            if callback is not None:
                with torch.random.fork_rng(devices=devices):
                    callback(model, epoch)
            if not np.isfinite(row["train_loss"]):
                # Diverged: later epochs cannot recover; keep the rows we have.
                break
            if checkpoint == "best" and row["test_loss"] < best_loss:
                best_loss, best_epoch = row["test_loss"], epoch
                best_state = copy.deepcopy(model.state_dict())
            if bar is not None:
                bar.update(1)
                bar.set_postfix(test_loss=f"{row['test_loss']:.3g}",
                                test_acc=f"{row['test_acc']:.3f}")
    if bar is not None:
        bar.close()
    if checkpoint == "last" or best_state is None:
        return history, len(history), None
    return history, best_epoch, best_state
