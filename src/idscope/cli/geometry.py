"""``idscope geometry``: the ID profile of a model's layers beside their layer × layer
neighbourhood overlap and CKA, as tables, figures and a static page.

Either capture the activations (``--model SPEC --data SOURCE``, as ``idscope profile``) or
read an existing activation store (``--store DIR``, e.g. from ``idscope profile --store``);
``--other DIR`` adds a second model's store (same samples) for the cross-model matrices.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import InputError
from ._format import table, to_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "geometry", help="ID profile beside layer x layer neighbourhood overlap and CKA",
        description="Neighbourhood overlap (shared k nearest neighbours) and linear CKA "
                    "between every two layers, the label overlap of each layer and its "
                    "TwoNN ID, written as CSV tables, PNG heatmaps and an HTML page.")
    src = p.add_argument_group("input (either --store, or --model and --data)")
    src.add_argument("--store", metavar="DIR", default=None,
                     help="an activation store (idscope profile --store DIR)")
    src.add_argument("--other", metavar="DIR", default=None,
                     help="a second model's store over the same samples: cross-model "
                          "matrices")
    src.add_argument("--model", metavar="SPEC", default=None,
                     help="module:callable, path/file.py:callable, transformers:TYPE or DIR")
    src.add_argument("--weights", metavar="FILE", help="state_dict (.pt/.pth/.safetensors)")
    src.add_argument("--num-classes", type=int, default=None)
    src.add_argument("--data", metavar="SOURCE", default=None,
                     help="a data file (.npy, .npz, ...) or sklearn:NAME; its labels give "
                          "the label overlap")
    src.add_argument("--input-shape", metavar="C,H,W", default=None,
                     help="reshape flat (N, D) rows to this per-sample shape")
    src.add_argument("--layers", nargs="+", default=["paper"],
                     help="names, globs or presets (default: paper)")
    src.add_argument("--n", type=int, default=None, help="random subset of N samples")
    src.add_argument("--labels", metavar="FILE", default=None,
                     help="with --store: a .npy of one label per stored sample")
    p.add_argument("--k", type=int, default=10, help="neighbours of the overlap (default 10)")
    p.add_argument("--debiased", action="store_true",
                   help="debiased CKA (unbiased HSIC, Song et al. 2012)")
    p.add_argument("--no-overlap", action="store_true", help="skip the overlap matrix")
    p.add_argument("--no-cka", action="store_true", help="skip the CKA matrix")
    p.add_argument("--resamples", type=int, default=20,
                   help="TwoNN resamples for the error bars (default 20)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default=None, help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="DIR", default="idscope-geometry",
                   help="output folder (default idscope-geometry)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def _capture(args: argparse.Namespace, progress: bool) -> tuple[Any, np.ndarray | None, str]:
    """Capture the layers of ``--model`` on ``--data``: (store, labels, data name)."""
    from ..data import load
    from ..representations import activations, load_model
    from .profile import _sample_shape, _shape, prepare_data

    shape = _shape(args.input_shape)
    ds = load(args.data)
    X, transform = prepare_data(ds.X, shape)
    model = load_model(args.model, weights=args.weights, num_classes=args.num_classes,
                       input_shape=_sample_shape(X, shape, transform))
    y = ds.y
    if args.n is not None:
        if not 3 <= args.n <= X.shape[0]:
            raise InputError(f"--n {args.n} must be in [3, {X.shape[0]}]")
        index = np.sort(np.random.default_rng(args.seed).choice(X.shape[0], args.n,
                                                                replace=False))
        X = X[index]
        y = None if y is None else np.asarray(y)[index]
    store = activations(model, X, layers=args.layers, batch_size=args.batch_size,
                        device=args.device, progress=progress, transform=transform,
                        seed=args.seed, model_spec=str(args.model), data_name=ds.name)
    return store, y, ds.name


def _labels(path: str, n: int) -> np.ndarray:
    if not path.endswith(".npy"):
        raise InputError(f"--labels: expected a .npy file of labels, got {path!r}")
    try:
        y = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"--labels: cannot read {path}: {exc}") from None
    if y.ndim != 1 or y.shape[0] != n:
        raise InputError(f"--labels: {path} holds shape {y.shape}; the store has {n} samples")
    return y


def run(args: argparse.Namespace) -> int:
    from ..geometry import cka_matrix, label_overlap_profile, overlap_matrix
    from ..report.geometry import write_geometry_report
    from ..representations import ActivationStore, profile_store

    if (args.store is None) == (args.model is None):
        raise InputError("give either --store DIR or --model SPEC with --data SOURCE")
    if args.model is not None and args.data is None:
        raise InputError("--model needs --data")
    if args.store is not None and (args.data or args.n):
        raise InputError("--data and --n are for --model; with --store the samples are fixed")
    if args.k < 1:
        raise InputError(f"--k {args.k} must be >= 1")
    progress = not args.no_progress and sys.stderr.isatty()
    t0 = time.perf_counter()
    if args.store is not None:
        store = ActivationStore.open(args.store)
        y = None if args.labels is None else _labels(args.labels, store.n_samples)
        name = str(store.manifest.get("data", {}).get("name", args.store))
        layers = None if args.layers == ["paper"] else args.layers
    else:
        store, y, name = _capture(args, progress)
        layers = None
    other = None if args.other is None else ActivationStore.open(args.other)
    prof = profile_store(store, layers=layers, n_resamples=args.resamples, seed=args.seed,
                         device=args.device, progress=progress)
    labels = ("model", "other")
    overlap = None if args.no_overlap else overlap_matrix(
        store, other, args.k, layers=layers, labels=labels, device=args.device,
        progress=progress)
    cka = None if args.no_cka else cka_matrix(store, other, debiased=args.debiased,
                                              layers=layers, labels=labels,
                                              progress=progress)
    label_overlap = None if y is None else label_overlap_profile(
        store, y, args.k, layers=layers, device=args.device)
    seconds = time.perf_counter() - t0
    settings = {"source": name, "n_samples": store.n_samples, "k": args.k,
                "debiased": args.debiased, "resamples": args.resamples, "seed": args.seed,
                "store": args.store, "other": args.other, "model": args.model}
    page = write_geometry_report(Path(args.out), prof, overlap=overlap, cka=cka,
                                 label_overlap=label_overlap, settings=settings,
                                 command="idscope " + " ".join(sys.argv[1:]),
                                 runtime_seconds=seconds)
    if args.json:
        print(to_json({"profile": prof.table(), "label_overlap": label_overlap,
                       "overlap": None if overlap is None else overlap.to_dict(),
                       "cka": None if cka is None else cka.to_dict(), "page": str(page)}))
        return 0
    rows = prof.table()
    if label_overlap:
        rows = [dict(r, label_overlap=label_overlap[r["layer"]]) for r in rows]
    print(f"{name}: {store.n_samples} samples")
    print(table(rows, [c for c in ("layer", "dim", "twonn", "twonn_std", "pca",
                                   "label_overlap") if c in rows[0]]))
    for m in (overlap, cka):
        if m is not None:
            print(f"\n{m.metric} ({m.row_model} rows x {m.col_model} columns)")
            print(table([{"layer": r, **{c: float(v) for c, v in zip(m.cols, vals)}}
                         for r, vals in zip(m.rows, m.values)]))
    print(f"\npage: {page}")
    return 0
