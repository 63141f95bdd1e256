"""Intrinsic-dimension profiles across depth (Ansuini et al., NeurIPS 2019).

For every captured layer: the embedding dimension, the depth and relative depth, the TwoNN
ID with the paper's error bars and the PCA-ID; optionally other estimators. Comparisons
(the same architecture re-initialised, or any other models, e.g. one trained on shuffled
labels) are profiled on the same samples and returned in the same table.

Error bars (Ansuini et al.): TwoNN on ``n_resamples`` random subsets of ⌊fraction·N⌋ samples
drawn without replacement, reported as mean ± standard deviation (``np.std``, ddof = 0). The
same subsets of samples are used for every layer and every model (seeded). The neighbours of
a subset are read off one exact neighbour search of the whole layer: among a point's k
nearest neighbours in the full set, the first two that belong to the subset are its two
nearest in the subset (k is raised and the search repeated in the rare case a list holds
fewer than two).

PCA-ID: the number of principal components of the standardised activations that explain
``pca_threshold`` (90 %) of the variance, a count (Ansuini's code reports the count minus
one).
"""

from __future__ import annotations

import copy
import math
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._atomic import write_json
from .._errors import DuplicatePointsError, IdscopeError, InputError
from .._validation import check_choice, check_int, check_samples
from ..estimators.pca import components_for_variance, pca_spectrum
from .activation_store import ActivationStore
from .capture import activations
from .layer_estimates import OTHER_ESTIMATORS, neighbour_estimates
from .options import CaptureOptions, EstimateOptions, split_options
from .text import token_inputs

__all__ = ["profile", "profile_store", "Profile", "ProfileRow", "reinitialized"]

_IN_MEMORY = 256 << 20  # bytes: layers up to this size are read into memory
_PCA_BUDGET = 256 << 20  # bytes per block read from the store for a layer's PCA
_PCA_MAX = 2 << 30  # bytes for the (min(N, D))² matrix of a streamed PCA


@dataclass(frozen=True)
class ProfileRow:
    """One layer of one model.

    ``twonn`` is the mean over the resamples and ``twonn_std`` their standard deviation (the
    paper's error bar); ``twonn_full`` is TwoNN on all distinct samples. ``pca`` is the PCA-ID
    count (NaN when not computed). ``estimates`` holds the other estimators' results
    (``IDResult.to_dict()``), ``notes`` any layer-level problem (the estimate is then NaN).
    """

    model: str
    layer: str
    module_type: str
    kind: str
    depth: int
    relative_depth: float
    embedding_dim: int
    n_samples: int
    n_points: int
    n_duplicates: int
    twonn: float
    twonn_std: float
    twonn_full: float
    n_resamples: int
    pca: float
    estimates: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProfileRow:
        d = dict(d)
        d["notes"] = tuple(d.get("notes", ()))
        for key in ("relative_depth", "twonn", "twonn_std", "twonn_full", "pca"):
            d[key] = float("nan") if d.get(key) is None else float(d[key])
        return cls(**d)


@dataclass(frozen=True)
class Profile:
    """ID profiles of one or more models: ``rows`` (one per model and layer, in depth order)
    and ``meta`` (models, data, settings)."""

    rows: tuple[ProfileRow, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.rows:
            seen.setdefault(r.model, None)
        return list(seen)

    @property
    def layers(self) -> list[str]:
        return [r.layer for r in self.rows if r.model == self.models[0]] if self.rows else []

    def select(self, model: str) -> Profile:
        """The profile of one model."""
        if model not in self.models:
            raise InputError(f"Profile.select: no model {model!r}; models: {self.models}")
        return Profile(tuple(r for r in self.rows if r.model == model), self.meta)

    def split(self) -> dict[str, Profile]:
        return {m: self.select(m) for m in self.models}

    def row(self, layer: str, model: str | None = None) -> ProfileRow:
        model = self.models[0] if model is None else model
        for r in self.rows:
            if r.layer == layer and r.model == model:
                return r
        raise InputError(f"Profile.row: no layer {layer!r} for model {model!r}")

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[ProfileRow]:
        return iter(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"format": "idscope-profile", "version": 1, "meta": self.meta,
                "rows": [_json_safe(r.to_dict()) for r in self.rows]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Profile:
        if d.get("format") != "idscope-profile":
            raise InputError("Profile.from_dict: not an idscope profile")
        return cls(tuple(ProfileRow.from_dict(r) for r in d["rows"]), d.get("meta", {}))

    def save(self, path: str | os.PathLike) -> None:
        """Write the profile as JSON (atomically)."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Profile:
        import json

        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as exc:
            raise InputError(f"Profile.load: cannot read {path}: {exc}") from None

    def to_frame(self):
        """A tidy pandas DataFrame (one row per model and layer; other estimators as
        ``NAME``, ``NAME_stderr`` columns)."""
        import pandas as pd

        records = []
        for r in self.rows:
            rec = {k: v for k, v in r.to_dict().items() if k not in ("estimates", "notes")}
            for name, res in r.estimates.items():
                # TwoNN's own columns are the resample mean and std and the full-data value
                col = "twonn_full" if name == "twonn" else name
                rec[col] = res.get("dimension", float("nan"))
                rec[f"{col}_stderr"] = res.get("stderr", float("nan"))
            rec["notes"] = "; ".join(r.notes)
            records.append(rec)
        return pd.DataFrame.from_records(records)

    def table(self) -> list[dict[str, Any]]:
        """Rows as plain dicts for printing (the columns of :meth:`to_frame`)."""
        out = []
        for r in self.rows:
            rec = {"model": r.model, "layer": r.layer, "type": r.module_type,
                   "depth": r.depth, "rel_depth": r.relative_depth, "dim": r.embedding_dim,
                   "twonn": r.twonn, "twonn_std": r.twonn_std, "twonn_all": r.twonn_full,
                   "pca": r.pca}
            for name, res in r.estimates.items():
                if name != "twonn":  # already shown as twonn (mean), twonn_std, twonn_all
                    rec[name] = res.get("dimension", float("nan"))
            if r.n_duplicates:
                rec["dups"] = r.n_duplicates
            out.append(rec)
        return out


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------------------
# the public functions
# ----------------------------------------------------------------------------------------
def profile(
    model: nn.Module,
    data: Any,
    *,
    layers: Any = "paper",
    n: int | None = None,
    seed: int = 0,
    store: str | os.PathLike | None = None,
    compare: Any = None,
    progress: bool = False,
    label: str = "model",
    capture: CaptureOptions | None = None,
    estimate: EstimateOptions | None = None,
    model_spec: str | None = None,
    data_name: str | None = None,
    **options: Any,
) -> Profile:
    """Intrinsic dimension of ``model``'s representations across depth.

    ``profile`` is :func:`~idscope.representations.activations` (how: ``capture``, a
    :class:`CaptureOptions`) followed by :func:`profile_store` (how: ``estimate``, an
    :class:`EstimateOptions`), for ``model`` and each ``compare`` model. Every option field
    is also accepted as a keyword (``profile(model, X, n_resamples=5, batch_size=128)``).

    Parameters
    ----------
    model, data, layers
        As for :func:`idscope.representations.activations`; so are the ``capture`` fields
        ``batch_size``, ``device``, ``dtype``, ``sequence``, ``transform``, ``resume``.
    n : int, optional
        Profile a seeded random subset of ``n`` samples (Ansuini et al. use 2 000).
    n_resamples : int
        TwoNN repeats on random subsets for the error bars (0: none; ``twonn`` is then the
        estimate on all samples).
    fraction : float
        Size of each subset, as a fraction of the samples (0.9 in the paper).
    estimators : tuple of str
        ``"twonn"`` and any of ``"mle"``, ``"gride"``; ``"pca"`` is controlled by
        ``pca_threshold``.
    pca_threshold : float or None
        Variance fraction for the PCA-ID (None: skip PCA).
    seed : int
        Seeds the subset of ``n`` samples, the resamples and ``compare="untrained"``.
    store : path, optional
        Folder of the activation store (kept, and resumed if interrupted); comparison models
        use ``STORE-LABEL`` beside it. Temporary folders are used and deleted otherwise.
    compare : "untrained", dict or list, optional
        Extra models profiled on the same samples: ``"untrained"`` is the same architecture
        re-initialised (see :func:`reinitialized`); ``{"label": model}`` adds any model (e.g.
        one trained on shuffled labels: ``compare={"shuffled": model_shuffled}``).
    label : str
        The name of ``model`` in the table.
    duplicates : {"remove", "drop-ties", "error"}
        Duplicate policy of the estimators (default: remove duplicate rows per layer).
    twonn_method, fit_fraction : str, float
        TwoNN's fit (``"linear"``, keeping the ``fit_fraction`` smallest μ, as the paper;
        or ``"mle"``).
    estimator_options : dict, optional
        Options per estimator, e.g. ``{"mle": {"k": 20}, "gride": {"n2": 4}}``.

    Returns
    -------
    Profile
    """
    caller = "profile"
    cap, est = split_options(capture, estimate, options, caller)
    data = token_inputs(data)  # a dict of token tensors: its length is the samples, not keys
    check_samples(data, caller=caller)  # NaN input would give an all-NaN table, 1-D a model error
    if n is not None:
        n = check_int(n, "n", caller=caller, low=3)
    models = {label: model, **_comparisons(model, compare, seed, label)}
    index = _subset_index(data, n, seed, caller)
    rows: list[ProfileRow] = []
    meta_models: dict[str, Any] = {}
    for i, (name, m) in enumerate(models.items()):
        path = None if store is None else (
            Path(store) if i == 0 else Path(f"{store}-{_safe(name)}"))
        st = activations(m, data, layers=layers, batch_size=cap.batch_size, store=path,
                         dtype=cap.dtype, device=cap.device, sequence=cap.sequence,
                         progress=progress, resume=cap.resume, index=index,
                         transform=cap.transform, seed=seed,
                         model_spec=model_spec if i == 0 else None, data_name=data_name)
        try:
            prof = profile_store(st, label=name, seed=seed, device=cap.device,
                                 progress=progress, **est.as_kwargs())
        finally:
            if path is None:
                st._cleanup()
        rows.extend(prof.rows)
        meta_models[name] = dict(prof.meta["models"][name], store=None if path is None
                                 else str(path))
    meta = dict(prof.meta, models=meta_models, n=n, compare=list(models)[1:])
    return Profile(tuple(rows), meta)


def profile_store(
    store: ActivationStore | str | os.PathLike,
    *,
    label: str = "model",
    layers: list[str] | None = None,
    n_resamples: int = 20,
    fraction: float = 0.9,
    estimators: tuple[str, ...] = ("twonn",),
    pca_threshold: float | None = 0.9,
    seed: int = 0,
    duplicates: str = "remove",
    twonn_method: str = "linear",
    fit_fraction: float = 0.9,
    estimator_options: dict[str, dict[str, Any]] | None = None,
    device: Any = None,
    progress: bool = False,
) -> Profile:
    """The ID profile of the layers in an activation store (see :func:`profile`)."""
    caller = "profile"
    st = store if isinstance(store, ActivationStore) else ActivationStore.open(store)
    if not st.complete:
        raise InputError(f"{caller}: the activation store {st.path} is incomplete; resume the "
                         f"extraction first")
    n_resamples = check_int(n_resamples, "n_resamples", caller=caller, low=0)
    if not 0 < fraction <= 1:
        raise InputError(f"{caller}: fraction={fraction} must be in (0, 1]")
    if pca_threshold is not None and not 0 < pca_threshold <= 1:
        raise InputError(f"{caller}: pca_threshold={pca_threshold} must be in (0, 1]")
    check_choice(duplicates, "duplicates", ("remove", "drop-ties", "error"), caller=caller)
    names = _estimator_names(estimators, caller)
    if "pca" in names and pca_threshold is None:
        pca_threshold = 0.9
    options = {k: dict(v) for k, v in (estimator_options or {}).items()}
    unknown = set(options) - {"twonn", *OTHER_ESTIMATORS, "pca"}
    if unknown:
        raise InputError(f"{caller}: estimator_options for unknown estimator(s) "
                         f"{sorted(unknown)}")
    layers = st.layers if layers is None else list(layers)
    st.verify(layers)  # unknown layers, missing or altered files: one error, not a row note

    from tqdm.auto import tqdm

    rows = []
    with tqdm(layers, disable=not progress, desc=f"ID profile ({label})", unit="layer",
              file=sys.stderr) as bar:
        for name in bar:
            bar.set_postfix_str(name)
            rows.append(_layer_row(st, name, label, names, n_resamples, fraction,
                                   pca_threshold, seed, duplicates, twonn_method,
                                   fit_fraction, options, device, progress))
    man = st.manifest
    settings = {"n_resamples": n_resamples, "fraction": fraction, "estimators": list(names),
                "pca_threshold": pca_threshold, "pca_standardize": True, "seed": seed,
                "duplicates": duplicates, "twonn_method": twonn_method,
                "fit_fraction": fit_fraction, "estimator_options": options,
                "error_bars": "mean ± std (ddof=0) over resamples (Ansuini et al. 2019)"}
    meta = {"models": {label: {"model": man["model"], "store": str(st.path),
                               "layers_request": man.get("layers_request"),
                               "sequence": man.get("sequence"), "dtype": man.get("dtype"),
                               "convention": man.get("convention"),
                               "total_depth": man.get("total_depth")}},
            "data": man["data"], "n_samples": st.n_samples, "settings": settings,
            "idscope_version": man.get("idscope_version")}
    return Profile(tuple(rows), meta)


def _estimator_names(estimators: Any, caller: str) -> tuple[str, ...]:
    if isinstance(estimators, str):
        estimators = (estimators,)
    names = tuple(estimators)
    for e in names:
        check_choice(e, "estimator", ("twonn", *OTHER_ESTIMATORS, "pca"), caller=caller)
    return names


# ----------------------------------------------------------------------------------------
# one layer
# ----------------------------------------------------------------------------------------
def _layer_row(st, name, label, names, n_resamples, fraction, pca_threshold, seed,
               duplicates, twonn_method, fit_fraction, options, device, progress
               ) -> ProfileRow:
    info = st.info(name)
    n, d = (int(s) for s in info["shape"])
    notes: list[str] = []
    tw = tw_std = tw_full = float("nan")
    n_points, n_dup = n, 0
    estimates: dict[str, dict[str, Any]] = {}
    pca = float("nan")
    try:
        bad = _count_nonfinite(st, name)
        if bad:
            raise InputError(f"layer {name!r} holds {bad} NaN or inf value(s)"
                             + (" (float16 overflow?)" if st.dtype == np.float16 else ""))
        X = st[name]
        if n * d * 4 <= _IN_MEMORY:
            # small layers are searched in memory (faster than streaming from disk)
            X = st.read_rows(name, 0, n).astype(np.float32, copy=False)
        if "twonn" in names or any(e in names for e in OTHER_ESTIMATORS):
            tw, tw_std, tw_full, n_points, n_dup, estimates = neighbour_estimates(
                X, lambda rows: _take(st, name, X, rows), names, n_resamples, fraction, seed,
                duplicates, twonn_method, fit_fraction, options, device, progress)
        if pca_threshold is not None:
            pca = float(_pca_count(st, name, X, pca_threshold))
    except DuplicatePointsError:
        raise
    except IdscopeError as exc:
        notes.append(str(exc))
    return ProfileRow(label, name, info["module_type"], info["kind"], int(info["depth"]),
                      float(info["relative_depth"]), d, n, n_points, n_dup, tw, tw_std,
                      tw_full, n_resamples, pca, estimates, tuple(notes))


def _take(st: ActivationStore, name: str, X: Any, rows: np.ndarray) -> np.ndarray:
    """Rows of a layer as float32 (from disk with ``pread`` when X is the memmap)."""
    if not isinstance(X, np.memmap):
        return np.ascontiguousarray(X[rows], dtype=np.float32)
    return np.concatenate([st.read_rows(name, int(r), int(r) + 1) for r in rows]
                          ).astype(np.float32, copy=False)


def _count_nonfinite(st: ActivationStore, name: str, budget: int = 64 << 20) -> int:
    n, d = st.info(name)["shape"]
    step = max(1, budget // max(1, d * st.dtype.itemsize))
    bad = 0
    for a in range(0, n, step):
        block = st.read_rows(name, a, a + step)
        bad += int(block.size - np.count_nonzero(np.isfinite(block)))
    return bad


# ----------------------------------------------------------------------------------------
# PCA-ID
# ----------------------------------------------------------------------------------------
def _pca_count(st: ActivationStore, name: str, X: Any, threshold: float,
               budget: int = _PCA_BUDGET) -> int:
    """PCA-ID on standardised features (:func:`idscope.pca_id` without its bootstrap),
    streamed from the store in blocks of about ``budget`` bytes; refused when the
    min(N, D)² matrix itself would not fit."""
    m = min(int(s) for s in X.shape)
    if m * m * 8 > _PCA_MAX:
        raise InputError(f"PCA-ID of layer {name!r} needs a {m}x{m} matrix "
                         f"({m * m * 8 / 2**30:.1f} GiB); use fewer samples (n) or "
                         f"pca_threshold=None")
    spectrum = pca_spectrum(X, standardize=True, budget=budget)
    return components_for_variance(spectrum, threshold)


# ----------------------------------------------------------------------------------------
# comparisons
# ----------------------------------------------------------------------------------------
def reinitialized(model: nn.Module, seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` with fresh random weights (seeded by a seed derived from
    ``seed``; the global random state is left as it was): ``reset_parameters()`` on every
    module that has it (BatchNorm statistics are reset too) and, for transformers models,
    their own ``_init_weights``."""
    clone = copy.deepcopy(model)
    # derived from ``seed`` so that a model built right after torch.manual_seed(seed) is not
    # re-initialised to exactly the same weights
    derived = int(np.random.SeedSequence([seed, 0x1D5C0]).generate_state(1)[0])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived)
        for m in clone.modules():
            reset = getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()
        init = getattr(clone, "_init_weights", None)
        if callable(init):
            clone.apply(init)
    return clone


def _comparisons(model: nn.Module, compare: Any, seed: int, label: str) -> dict[str, nn.Module]:
    if compare is None:
        return {}
    items = [compare] if isinstance(compare, (str, dict)) else list(compare)
    out: dict[str, nn.Module] = {}
    for item in items:
        pairs = item.items() if isinstance(item, dict) else [(item, item)]
        for name, value in pairs:
            if value == "untrained":
                out[str(name)] = reinitialized(model, seed)
            elif value == "shuffled":
                raise InputError("profile: compare='shuffled' needs the model trained on "
                                 "shuffled labels: pass compare={'shuffled': that_model}")
            elif isinstance(value, nn.Module):
                out[str(name)] = value
            else:
                raise InputError(f"profile: compare entry {name!r} must be 'untrained' or a "
                                 f"torch.nn.Module, got {type(value).__name__}")
    if label in out:
        raise InputError(f"profile: comparison label {label!r} is also the model's label")
    return out


def _subset_index(data: Any, n: int | None, seed: int, caller: str) -> np.ndarray | None:
    if n is None:
        return None
    from torch.utils.data import DataLoader

    if isinstance(data, DataLoader):
        raise InputError(f"{caller}: n cannot subsample a DataLoader; pass its Dataset")
    try:
        total = len(data)
    except TypeError:
        raise InputError(f"{caller}: n needs data with a length") from None
    if n > total:
        raise InputError(f"{caller}: n={n} exceeds the {total} samples")
    if n == total:
        return None
    return np.sort(np.random.default_rng(seed).choice(total, n, replace=False))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "model"

