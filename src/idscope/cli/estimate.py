"""``idscope estimate PATH``: intrinsic dimension of a point cloud."""

from __future__ import annotations

import argparse
import time

from .. import estimators
from ..data import load
from ._format import table, to_json

METHODS = ("twonn", "mle", "gride", "pca")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("estimate", help="intrinsic dimension of a data file or bundled dataset",
                       description="Estimate the intrinsic dimension of the rows of PATH "
                                   "(.npy, .npz, .csv, .tsv, .pt, or sklearn:NAME).")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--method", choices=(*METHODS, "all"), default="twonn")
    p.add_argument("--k", type=int, default=20, help="MLE neighbours (default 20)")
    p.add_argument("--normalization", choices=("k-1", "k-2"), default="k-1")
    p.add_argument("--aggregate", choices=("inverse", "mean"), default="inverse")
    p.add_argument("--twonn-method", choices=("linear", "mle"), default="linear")
    p.add_argument("--fraction", type=float, default=0.9, help="TwoNN fraction kept")
    p.add_argument("--n1", type=int, default=1)
    p.add_argument("--n2", type=int, default=2)
    p.add_argument("--threshold", type=float, default=0.9, help="PCA variance threshold")
    p.add_argument("--standardize", action="store_true", help="standardise features for PCA")
    p.add_argument("--duplicates", choices=("remove", "drop-ties", "error"), default="remove")
    p.add_argument("--key", default=None, help="array name inside .npz/.pt")
    p.add_argument("--device", default=None, help="cpu (default) or cuda")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ds = load(args.path, x_key=args.key)
    X = ds.flat()
    methods = METHODS if args.method == "all" else (args.method,)
    calls = {
        "twonn": lambda: estimators.twonn(X, method=args.twonn_method, fraction=args.fraction,
                                          duplicates=args.duplicates, device=args.device),
        "mle": lambda: estimators.mle(X, k=args.k, normalization=args.normalization,
                                      aggregate=args.aggregate, duplicates=args.duplicates,
                                      device=args.device),
        "gride": lambda: estimators.gride(X, n1=args.n1, n2=args.n2,
                                          duplicates=args.duplicates, device=args.device),
        "pca": lambda: estimators.pca_id(X, threshold=args.threshold,
                                         standardize=args.standardize),
    }
    results = []
    for m in methods:
        t0 = time.perf_counter()
        res = calls[m]()
        results.append((res, time.perf_counter() - t0))
    if args.json:
        print(to_json({"source": ds.name, "n_samples": int(X.shape[0]),
                       "n_features": int(X.shape[1]),
                       "results": [dict(r.to_dict(), seconds=t) for r, t in results]}))
        return 0
    print(f"{ds.name}: {X.shape[0]} points x {X.shape[1]} features")
    rows = [{"method": r.method, "dimension": r.dimension, "stderr": r.stderr,
             "ci95_low": r.ci_low, "ci95_high": r.ci_high, "points": r.n_points,
             "removed": r.n_duplicates,
             "settings": ", ".join(f"{k}={v}" for k, v in r.params.items()),
             "seconds": t} for r, t in results]
    print(table(rows))
    return 0
