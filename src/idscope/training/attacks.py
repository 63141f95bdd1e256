"""Adversarial robustness: untargeted FGSM and PGD (L∞ or L2), written on torch alone.

Konz & Mazurowski (ICLR 2024) measure a dataset's adversarial vulnerability as the loss (or
accuracy) penalty of a trained model under an FGSM attack of ε = 2/255 of the intensity
range, and relate it to the label sharpness K_F (log R ≳ −log K_F + b).

Conventions
-----------
- ε is a *fraction of the data's intensity range* ``data_range = (lo, hi)``: the absolute
  radius is ε·(hi − lo), so ε = 2/255 means two grey levels of an 8-bit image whatever the
  stored scale. For L2 the radius bounds the Euclidean norm of the whole perturbation of one
  sample (all pixels and channels).
- Every iterate is clamped to [lo, hi]. For L∞ the clamp after projecting onto the ε-ball
  is the exact projection onto their intersection; for L2, clamping a point of the ball to
  the box only moves coordinates towards the clean point (which lies in the box), so the
  iterate stays in the ball.
- The model is put in eval mode during the attack (each submodule's own flag restored
  afterwards); gradients are taken with respect to the input only
  (``torch.autograd.grad``), so parameters and their ``.grad`` are untouched.
- The loss is the classification loss of training: cross-entropy, or the logistic loss for
  a single-logit model.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .._errors import InputError
from .._runtime import progress_bar, torch_threads
from .._validation import check_choice, check_int
from .torch_utils import (
    as_tensors,
    check_labels_fit,
    eval_mode,
    model_device,
    model_dtype,
    per_sample_loss,
    predict_labels,
)

__all__ = ["attack", "evaluate_robustness", "RobustnessResult", "METHODS", "NORMS",
           "attacked_local_id", "AttackedLocalID"]

METHODS = ("fgsm", "pgd")
NORMS = ("linf", "l2")


def _check_eps(eps: Any, caller: str) -> float:
    try:
        e = float(eps)
    except (TypeError, ValueError):
        raise InputError(f"{caller}: eps must be a number, got {eps!r}") from None
    if not (0.0 <= e <= 1.0):
        raise InputError(f"{caller}: eps={eps!r} is outside [0, 1]; eps is a fraction of the "
                         f"data's intensity range (the paper's FGSM uses 2/255 ≈ 0.00784)")
    return e


def _check_range(data_range: Any, caller: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in data_range)
    except (TypeError, ValueError):
        raise InputError(f"{caller}: data_range must be a pair (lo, hi), got "
                         f"{data_range!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InputError(f"{caller}: data_range=({lo}, {hi}) must be finite with lo < hi")
    return lo, hi


def _check_in_range(X: torch.Tensor, lo: float, hi: float, caller: str) -> None:
    tol = 1e-6 * (hi - lo)
    below = int((X < lo - tol).sum())
    above = int((X > hi + tol).sum())
    if below or above:
        raise InputError(f"{caller}: {below + above} input value(s) lie outside data_range "
                         f"[{lo}, {hi}] (min {float(X.min()):.4g}, max {float(X.max()):.4g}); "
                         f"pass the data's true intensity range")


def _flat_norm(t: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norm, shaped to broadcast against ``t``."""
    n = t.reshape(t.shape[0], -1).norm(dim=1)
    return n.reshape(-1, *([1] * (t.ndim - 1)))


def _step(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """Steepest-ascent direction of unit norm: sign(g) for L∞, g/‖g‖₂ for L2 (0 if g = 0)."""
    if norm == "linf":
        return grad.sign()
    g = _flat_norm(grad)
    return torch.where(g > 0, grad / g.clamp_min(torch.finfo(grad.dtype).tiny),
                       torch.zeros_like(grad))


def _project(x: torch.Tensor, x0: torch.Tensor, eps: float, norm: str, lo: float,
             hi: float) -> torch.Tensor:
    delta = x - x0
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        n = _flat_norm(delta)
        delta = delta * torch.where(n > eps, eps / n.clamp_min(torch.finfo(n.dtype).tiny),
                                    torch.ones_like(n))
    return (x0 + delta).clamp(lo, hi)


def _loss_and_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        losses = per_sample_loss(model(x), y)
        (grad,) = torch.autograd.grad(losses.sum(), x)
    return losses.detach(), grad.detach()


def _random_start(x0: torch.Tensor, eps: float, norm: str, gen: torch.Generator
                  ) -> torch.Tensor:
    if norm == "linf":
        u = torch.rand(x0.shape, generator=gen, device=x0.device, dtype=x0.dtype)
        return x0 + (2 * u - 1) * eps
    # Uniform in the L2 ball: a Gaussian direction, radius eps·U^(1/D).
    g = torch.randn(x0.shape, generator=gen, device=x0.device, dtype=x0.dtype)
    d = x0[0].numel()
    r = torch.rand((x0.shape[0],) + (1,) * (x0.ndim - 1), generator=gen, device=x0.device,
                   dtype=x0.dtype) ** (1.0 / d)
    return x0 + g / _flat_norm(g).clamp_min(torch.finfo(g.dtype).tiny) * r * eps


def _attack(model: nn.Module, x0: torch.Tensor, y: torch.Tensor, *, method: str, eps: float,
            norm: str, steps: int, alpha: float, lo: float, hi: float, random_start: bool,
            keep_best: bool, gen: torch.Generator | None) -> torch.Tensor:
    """Core attack on one batch; ``eps``/``alpha`` are absolute; model already in eval."""
    if eps == 0:
        return x0.clone()
    if method == "fgsm":
        _, grad = _loss_and_grad(model, x0, y)
        return _project(x0 + eps * _step(grad, norm), x0, eps, norm, lo, hi)
    x = x0.clone()
    if random_start:
        x = _project(_random_start(x0, eps, norm, gen), x0, eps, norm, lo, hi)
    best_x = x
    best_loss: torch.Tensor | None = None
    view = (-1,) + (1,) * (x0.ndim - 1)
    for i in range(steps + 1):
        if i < steps:
            loss, grad = _loss_and_grad(model, x, y)
        else:
            with torch.no_grad():
                loss = per_sample_loss(model(x), y)
        if keep_best and best_loss is None:
            best_loss, best_x = loss, x
        elif keep_best:
            better = loss > best_loss
            best_loss = torch.where(better, loss, best_loss)
            best_x = torch.where(better.reshape(view), x, best_x)
        if i < steps:
            x = _project(x + alpha * _step(grad, norm), x0, eps, norm, lo, hi)
    return best_x if keep_best else x


def attack(
    model: nn.Module,
    X: Any,
    y: Any,
    *,
    method: str = "fgsm",
    eps: float,
    norm: str = "linf",
    steps: int = 10,
    step_size: float | None = None,
    data_range: tuple[float, float] = (0.0, 1.0),
    random_start: bool = False,
    keep_best: bool = True,
    seed: int = 0,
) -> torch.Tensor:
    """Untargeted adversarial examples for ``model`` on (X, y).

    FGSM (Goodfellow et al. 2015): one step ``x' = clip(x + ε·sign(∇ₓL))`` (L∞) or
    ``clip(x + ε·∇ₓL/‖∇ₓL‖₂)`` (L2, the fast gradient method).
    PGD (Madry et al. 2018): ``steps`` steps ``x ← clip(Π_ε(x + α·sign(∇ₓL)))`` (or the
    normalised gradient for L2) from x (or a uniform random point of the ball when
    ``random_start``); ``α = step_size·(hi − lo)``, by default 2.5·ε/steps. With
    ``keep_best`` (default) each sample keeps the iterate of highest loss among all visited.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits; its parameters and train/eval flags are unchanged
        afterwards.
    X : tensor or array
        Inputs shaped for the model, inside ``data_range``.
    y : tensor or array
        Integer labels.
    method : {"fgsm", "pgd"}
    eps : float in [0, 1]
        Radius as a fraction of the intensity range: absolute radius ε·(hi − lo).
    norm : {"linf", "l2"}
    steps, step_size
        PGD only; ``step_size`` is a fraction of the range like ``eps``.
    data_range : (lo, hi)
        The valid intensity range; iterates are clamped to it.
    random_start, seed
        PGD's random start, drawn from a ``torch.Generator`` seeded with ``seed``.

    Returns
    -------
    torch.Tensor
        Adversarial inputs, same shape as X, on the model's device.
    """
    caller = "attack"
    check_choice(method, "method", METHODS, caller=caller)
    check_choice(norm, "norm", NORMS, caller=caller)
    e = _check_eps(eps, caller)
    lo, hi = _check_range(data_range, caller)
    steps = check_int(steps, "steps", caller=caller, low=1)
    alpha = _alpha(step_size, e, steps, caller)
    Xt, yt = as_tensors((X, y), "data", caller, model_dtype(model))
    _check_in_range(Xt, lo, hi, caller)
    dev = model_device(model)
    gen = _generator(seed, dev) if random_start and method == "pgd" else None
    with eval_mode(model):
        _check_outputs(model, Xt, yt, dev, caller)
        return _attack(model, Xt.to(dev), yt.to(dev), method=method, eps=e * (hi - lo),
                       norm=norm, steps=steps, alpha=alpha * (hi - lo), lo=lo, hi=hi,
                       random_start=random_start, keep_best=keep_best, gen=gen)


def _check_outputs(model: nn.Module, X: torch.Tensor, y: torch.Tensor, dev: torch.device,
                   caller: str) -> None:
    """One sample through the model: it must accept X and have a logit for every label."""
    try:
        with torch.no_grad():
            out = model(X[:1].to(dev))
    except RuntimeError as exc:
        raise InputError(f"{caller}: the model does not accept inputs of shape "
                         f"{tuple(X.shape[1:])}: {exc}") from None
    check_labels_fit(y, int(out.reshape(1, -1).shape[1]), "data", caller)


def _alpha(step_size: Any, eps: float, steps: int, caller: str) -> float:
    if step_size is None:
        return 2.5 * eps / steps
    try:
        a = float(step_size)
    except (TypeError, ValueError):
        raise InputError(f"{caller}: step_size must be a number, got {step_size!r}") from None
    if not (0.0 < a <= 1.0):
        raise InputError(f"{caller}: step_size={step_size!r} must be in (0, 1] (a fraction "
                         f"of the intensity range)")
    return a


def _generator(seed: int, device: torch.device) -> torch.Generator:
    seed = check_int(seed, "seed", caller="attack", low=0)
    return torch.Generator(device=device).manual_seed(seed)


@dataclass(frozen=True)
class RobustnessResult:
    """Clean and attacked loss/accuracy per (method, ε).

    Attributes
    ----------
    rows : tuple of dict
        One per (method, ε): ``method``, ``norm``, ``eps`` (fraction of the range),
        ``eps_abs``, ``steps`` (1 for FGSM), ``clean_loss``, ``clean_acc``, ``adv_loss``,
        ``adv_acc``, ``loss_penalty`` = adv_loss − clean_loss, ``acc_drop`` = clean_acc −
        adv_acc, ``n``.
    clean_loss, clean_acc : float
    n_samples : int
    settings : dict
    """

    rows: tuple[dict[str, Any], ...]
    clean_loss: float
    clean_acc: float
    n_samples: int
    settings: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(list(self.rows))

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows], "clean_loss": self.clean_loss,
                "clean_acc": self.clean_acc, "n_samples": self.n_samples,
                "settings": dict(self.settings)}

    def row(self, method: str, eps: float) -> dict[str, Any]:
        """The row of ``method`` at ``eps`` (closest ε within 1e-12)."""
        for r in self.rows:
            if r["method"] == method and abs(r["eps"] - eps) <= 1e-12:
                return r
        raise KeyError((method, eps))


def _run_batches(model: nn.Module, Xt: torch.Tensor, yt: torch.Tensor,
                 combos: list[tuple[str, float]], sums: dict[tuple[str, float], list[float]],
                 clean: list[float], *, batch_size: int, dev: torch.device, lo: float,
                 hi: float, norm: str, steps: int, alpha: dict[float, float],
                 random_start: bool, keep_best: bool, gen: torch.Generator | None,
                 bar: Any) -> None:
    """Accumulate summed clean and attacked loss / correct counts over batches (in place)."""
    with eval_mode(model):
        for start in range(0, Xt.shape[0], batch_size):
            xb = Xt[start:start + batch_size].to(dev)
            yb = yt[start:start + batch_size].to(dev)
            with torch.no_grad():
                logits = model(xb)
                clean[0] += float(per_sample_loss(logits, yb).double().sum())
                clean[1] += float((predict_labels(logits) == yb).sum())
            for m, e in combos:
                xa = _attack(model, xb, yb, method=m, eps=e * (hi - lo), norm=norm,
                             steps=steps, alpha=alpha[e] * (hi - lo), lo=lo, hi=hi,
                             random_start=random_start, keep_best=keep_best, gen=gen)
                with torch.no_grad():
                    la = model(xa)
                    sums[(m, e)][0] += float(per_sample_loss(la, yb).double().sum())
                    sums[(m, e)][1] += float((predict_labels(la) == yb).sum())
            if bar is not None:
                bar.update(xb.shape[0])


def evaluate_robustness(
    model: nn.Module,
    X: Any,
    y: Any,
    *,
    eps: float | Sequence[float] = (1 / 255, 2 / 255, 4 / 255, 8 / 255),
    methods: str | Iterable[str] = ("fgsm", "pgd"),
    norm: str = "linf",
    data_range: tuple[float, float] = (0.0, 1.0),
    batch_size: int = 256,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = False,
    keep_best: bool = True,
    seed: int = 0,
    threads: int | None = None,
    progress: bool = False,
) -> RobustnessResult:
    """Loss and accuracy of ``model`` on (X, y), clean and under attack, for each (method, ε).

    All inputs (every ε in [0, 1], methods, norm, range, labels, data inside the range) are
    checked before any attack runs. See :func:`attack` for the attacks and conventions; the
    loss penalty ``adv_loss − clean_loss`` at ε = 2/255 (FGSM, L∞) is Konz & Mazurowski's
    robustness measure. ``threads`` sets ``torch.set_num_threads`` for the duration (restored
    afterwards); ``progress`` shows a tqdm bar over samples on a terminal.
    """
    caller = "evaluate_robustness"
    eps_list = [eps] if np.ndim(eps) == 0 else list(np.ravel(eps))
    if not eps_list:
        raise InputError(f"{caller}: eps is empty")
    eps_list = [_check_eps(e, caller) for e in eps_list]
    method_list = [methods] if isinstance(methods, str) else list(methods)
    if not method_list:
        raise InputError(f"{caller}: methods is empty")
    for m in method_list:
        check_choice(m, "method", METHODS, caller=caller)
    check_choice(norm, "norm", NORMS, caller=caller)
    lo, hi = _check_range(data_range, caller)
    batch_size = check_int(batch_size, "batch_size", caller=caller, low=1)
    steps = check_int(steps, "steps", caller=caller, low=1)
    seed = check_int(seed, "seed", caller=caller, low=0)
    if threads is not None:
        threads = check_int(threads, "threads", caller=caller, low=1)
    alpha = {e: _alpha(step_size, e, steps, caller) for e in eps_list}
    Xt, yt = as_tensors((X, y), "data", caller, model_dtype(model))
    _check_in_range(Xt, lo, hi, caller)
    dev = model_device(model)
    with eval_mode(model):
        _check_outputs(model, Xt, yt, dev, caller)
    gen = _generator(seed, dev) if random_start else None
    combos = [(m, e) for m in method_list for e in eps_list]
    sums = {c: [0.0, 0.0] for c in combos}
    clean = [0.0, 0.0]
    n = Xt.shape[0]
    bar = None
    if progress and sys.stderr.isatty():  # per-sample bars only on a terminal
        bar = progress_bar(n, "attack", True, unit="sample", leave=False)
    try:
        with torch_threads(threads):
            _run_batches(model, Xt, yt, combos, sums, clean, batch_size=batch_size, dev=dev,
                         lo=lo, hi=hi, norm=norm, steps=steps, alpha=alpha,
                         random_start=random_start, keep_best=keep_best, gen=gen, bar=bar)
    finally:
        if bar is not None:
            bar.close()
    clean_loss, clean_acc = clean[0] / n, clean[1] / n
    rows = []
    for m, e in combos:
        adv_loss, adv_acc = sums[(m, e)][0] / n, sums[(m, e)][1] / n
        rows.append({"method": m, "norm": norm, "eps": e, "eps_abs": e * (hi - lo),
                     "steps": 1 if m == "fgsm" else steps, "clean_loss": clean_loss,
                     "clean_acc": clean_acc, "adv_loss": adv_loss, "adv_acc": adv_acc,
                     "loss_penalty": adv_loss - clean_loss, "acc_drop": clean_acc - adv_acc,
                     "n": n})
    settings = {"norm": norm, "data_range": [lo, hi], "steps": steps, "threads": threads,
                "step_size": step_size, "random_start": random_start, "keep_best": keep_best,
                "seed": seed, "batch_size": batch_size}
    return RobustnessResult(tuple(rows), clean_loss, clean_acc, n, settings)


@dataclass(frozen=True)
class AttackedLocalID:
    """Local ID (Levina–Bickel MLE, k neighbours) of clean inputs among the other clean
    inputs, ``clean`` (N,), and of their attacked versions among the clean inputs (each
    without its own source), ``attacked`` (N,): the LID signal of adversarial examples (Ma
    et al., ICLR 2018), in input space or in a layer's representation."""

    clean: np.ndarray
    attacked: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"median_clean": float(np.median(self.clean)),
                "median_attacked": float(np.median(self.attacked)),
                "clean": self.clean.tolist(), "attacked": self.attacked.tolist(),
                "settings": dict(self.settings)}


def attacked_local_id(model: nn.Module, X: Any, y: Any, *, eps: float = 2 / 255,
                      method: str = "fgsm", k: int = 20, layer: str | None = None,
                      data_range: tuple[float, float] = (0.0, 1.0), seed: int = 0,
                      **attack_options: Any) -> AttackedLocalID:
    """Local ID of clean vs attacked inputs (:func:`attack` with ``eps``, ``method``,
    ``data_range``, ``seed`` and ``attack_options``); ``layer`` measures it on that layer's
    activations (see :func:`idscope.activations`) instead of the flattened inputs."""
    from ..geometry import local_id

    adv = attack(model, X, y, method=method, eps=eps, data_range=data_range, seed=seed,
                 **attack_options).detach().cpu()
    Xt, _ = as_tensors((X, y), "data", "attacked_local_id", model_dtype(model))
    clean, attacked = (_representation(model, t, layer) for t in (Xt, adv))
    settings = {"eps": eps, "method": method, "k": k, "layer": layer,
                "data_range": list(data_range), "seed": seed, **attack_options}
    return AttackedLocalID(local_id(clean, k),
                           local_id(attacked, k, reference=clean, paired=True), settings)


def _representation(model: nn.Module, X: torch.Tensor, layer: str | None) -> np.ndarray:
    if layer is None:
        return X.reshape(X.shape[0], -1).double().numpy()
    from ..representations import activations

    store = activations(model, X, layers=[layer])
    return np.asarray(store[layer], dtype=np.float64)
