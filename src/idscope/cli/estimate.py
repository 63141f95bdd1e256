"""``idscope estimate PATH``: intrinsic dimension of a point cloud, or its scale analysis."""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

from .._errors import InputError
from ._format import fmt, interval_notes, table, to_json
from ._options import add_preprocess_arguments, add_source_arguments, load_source, preprocess_of

METHODS = ("twonn", "mle", "gride", "pca")
# idscope.estimators.SCALE_KINDS, spelled out so that `estimate --help` imports no numpy or
# torch (a test checks that the two agree)
SCALE_KINDS = ("decimation", "blocks", "mle-k", "gride")
# IDResult.params shown in their own columns or not at all
_HIDDEN = ("interval", "scale", "ties_dropped")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "estimate", help="intrinsic dimension of a data file or bundled dataset",
        description="Estimate the intrinsic dimension of the rows of PATH (.npy, .npz, .csv, "
                    ".tsv, .parquet, .h5, .pt, an image folder, or sklearn:NAME, e.g. "
                    "sklearn:digits). With --scale, show how the estimate changes with the "
                    "number of points or the scale.")
    p.add_argument("path", metavar="PATH", help="data file, image folder or sklearn:NAME")
    p.add_argument("--method", choices=(*METHODS, "all"), default="twonn",
                   help="estimator (default twonn); with --scale decimation/blocks, the "
                        "estimator applied to each subset")
    p.add_argument("--k", type=int, default=20, help="MLE neighbours (default 20)")
    p.add_argument("--normalization", choices=("k-1", "k-2"), default="k-1",
                   help="MLE normaliser; ('k-2', inverse) is Pope et al.'s convention")
    p.add_argument("--aggregate", choices=("inverse", "mean"), default="inverse",
                   help="MLE: average the per-point inverse estimates (MacKay-Ghahramani, "
                        "default) or the estimates themselves (Levina-Bickel)")
    p.add_argument("--twonn-method", choices=("linear", "mle"), default="linear",
                   help="TwoNN: linear fit of the empirical CDF (Facco et al., default) or the "
                        "closed-form maximum likelihood")
    p.add_argument("--fraction", type=float, default=0.9,
                   help="TwoNN: fraction of the smallest ratios kept (default 0.9)")
    p.add_argument("--n1", type=int, default=1, help="GRIDE: first neighbour rank (default 1)")
    p.add_argument("--n2", type=int, default=2, help="GRIDE: second neighbour rank (default 2)")
    p.add_argument("--threshold", type=float, default=0.9, help="PCA variance threshold")
    p.add_argument("--standardize", action="store_true", help="standardise features for PCA")
    p.add_argument("--duplicates", choices=("remove", "drop-ties", "error"), default="remove",
                   help="duplicate points: remove them first (default, counted), drop the "
                        "tied ratios (Ansuini et al.'s code) or fail")
    add_source_arguments(p)
    add_preprocess_arguments(p)
    p.add_argument("--device", default=None, help="cpu (default) or cuda")
    s = p.add_argument_group("scale analysis")
    s.add_argument("--scale", choices=SCALE_KINDS, default=None,
                   help="decimation: random subsets N, N/2, ...; blocks: b = 1..20 disjoint "
                        "blocks; mle-k: MLE over a k range; gride: rank doubling")
    s.add_argument("--repeats", type=int, default=5, help="subsets per decimation level")
    s.add_argument("--min-points", type=int, default=20, help="smallest subset or block")
    s.add_argument("--max-blocks", type=int, default=20,
                   help="largest number of blocks of --scale blocks (default 20)")
    s.add_argument("--k-range", type=int, nargs=2, default=(5, 50), metavar=("K1", "K2"),
                   help="k range of --scale mle-k (default 5 50)")
    s.add_argument("--range-max", type=int, default=64, help="largest rank of --scale gride")
    s.add_argument("--seed", type=int, default=0, help="seed of the subsets (default 0)")
    s.add_argument("--plot", default=None, metavar="FILE",
                   help="save the scale plot (.png, .pdf or .svg)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (it is shown only when stderr is a terminal)")
    p.set_defaults(run=run)


def _estimator_kwargs(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Keyword arguments of each estimator, from the command line."""
    common = {"duplicates": args.duplicates, "device": args.device}
    return {
        "twonn": dict(common, method=args.twonn_method, fraction=args.fraction),
        "mle": dict(common, k=args.k, normalization=args.normalization,
                    aggregate=args.aggregate),
        "gride": dict(common, n1=args.n1, n2=args.n2),
        "pca": {"threshold": args.threshold, "standardize": args.standardize},
    }


def _strict(obj: Any) -> Any:
    """NaN and inf as null, so that ``--json`` output is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


def _load_points(args: argparse.Namespace):
    ds = load_source(args, args.path, preprocess_of(args))
    if ds.X.ndim < 2:
        raise InputError(f"{ds.name}: expected a 2-D array (points x features), got "
                         f"{ds.X.ndim}-D array of shape {tuple(ds.X.shape)}")
    return ds, ds.flat()


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except InputError as exc:
        # user errors print as one line (some library messages span several)
        msg = str(exc)
        if "\n" in msg:
            raise type(exc)(" ".join(msg.split())) from None
        raise


def _run(args: argparse.Namespace) -> int:
    if args.plot and not args.scale:
        raise InputError("--plot needs --scale")
    if args.plot:  # a bad name is refused now, not after the whole computation
        from ..report.profile import plot_format

        plot_format(args.plot)
    from .. import estimators

    progress = not args.no_progress and sys.stderr.isatty()
    ds, X = _load_points(args)
    if args.scale:
        return _run_scale(args, ds, X, progress)
    methods = METHODS if args.method == "all" else (args.method,)
    kwargs = _estimator_kwargs(args)
    results = []
    bar = None
    if progress and len(methods) > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(methods), desc="estimators", unit="method", leave=False)
    try:
        for m in methods:
            kw = dict(kwargs[m])
            if m != "pca":
                kw["progress"] = progress
            t0 = time.perf_counter()
            res = estimators.ESTIMATORS[m](X, **kw)
            results.append((res, time.perf_counter() - t0))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(to_json(_strict({"source": ds.name, "n_samples": int(X.shape[0]),
                               "n_features": int(X.shape[1]),
                               "results": [dict(r.to_dict(), seconds=t) for r, t in results]})))
        return 0
    print(f"{ds.name}: {X.shape[0]} points x {X.shape[1]} features")
    # "estimates" says what `dimension` estimates (MLE with Pope's k-2 normalisation
    # estimates (k-2)/(k-1)·d); the interval is always for d itself (notes below the table)
    rows = [{"method": r.method, "dimension": r.dimension,
             "estimates": getattr(r, "estimate_of", "d"), "stderr": r.stderr,
             "ci95_low": r.ci_low, "ci95_high": r.ci_high,
             "interval": r.params.get("interval", ""), "points": r.n_points,
             "removed": r.n_duplicates,
             "settings": ", ".join(f"{k}={fmt(v)}" for k, v in r.params.items()
                                   if k not in _HIDDEN),
             "seconds": t} for r, t in results]
    if all(r["estimates"] == "d" for r in rows):
        for r in rows:
            del r["estimates"]
    print(table(rows))
    for note in interval_notes([r for r, _ in results]):
        print(f"note: {note}")
    return 0


def _run_scale(args: argparse.Namespace, ds: Any, X: Any, progress: bool) -> int:
    from .. import estimators

    if args.method == "all":
        raise InputError("--scale takes one --method (twonn, mle, gride or pca), not 'all'")
    kind = args.scale
    params: dict[str, Any] = {}
    if kind in ("decimation", "blocks"):
        params = {k: v for k, v in _estimator_kwargs(args)[args.method].items()
                  if k not in ("duplicates", "device")}
    elif kind == "mle-k":
        params = {"normalization": args.normalization, "aggregate": args.aggregate}
    t0 = time.perf_counter()
    res = estimators.scale_analysis(
        X, kind, estimator=args.method, estimator_params=params, n_repeats=args.repeats,
        min_points=args.min_points, max_blocks=args.max_blocks, k_range=tuple(args.k_range),
        range_max=args.range_max, duplicates=args.duplicates, seed=args.seed,
        device=args.device, progress=progress)
    seconds = time.perf_counter() - t0
    if args.plot:
        from ..report.profile import save_plot
        from ..report.scale import plot_scale

        fig = plot_scale(res)
        fig.axes[0].set_title(f"{ds.name}: {kind}", fontsize=9)
        save_plot(fig, args.plot)
    if args.json:
        print(to_json(_strict({"source": ds.name, "n_samples": int(X.shape[0]),
                               "n_features": int(X.shape[1]), **res.to_dict(),
                               "plot": args.plot, "seconds": seconds})))
        return 0
    print(f"{ds.name}: {X.shape[0]} points x {X.shape[1]} features; scale analysis "
          f"'{kind}' with {res.estimator}")
    print(table([{k: v for k, v in r.items() if k not in ("kind", "estimator")}
                 for r in res.rows]))
    if args.plot:
        print(f"plot: {args.plot}")
    return 0
