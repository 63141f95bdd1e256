"""Benchmark: which k-d tree proposes the candidates of idscope's exact tree path.

Not a test. Usage (from the repository root)::

    .venv/bin/python benchmarks/trees.py               # 30 000 × 3 and 20 000 × 8, k = 2
    .venv/bin/python benchmarks/trees.py --cells 100000x5 --k 21

The candidates of ``idscope.kneighbors(..., algorithm="tree")`` come from a tree query of
k + 1 neighbours per point (the point itself and k others); the float64 verification and the
ties come after, the same whichever tree proposed them. Timed, one after the other in one
process on the same uniform points in the unit cube, after a warm-up on 1 000 of them, the
fastest of ``--repeats`` rounds (build and query of every point): SciPy's
``cKDTree(X, balanced_tree=False).query(X, k + 1, workers=-1)`` (the one idscope uses) and
scikit-learn's ``KDTree(X).query(X, k + 1)`` and ``BallTree(X).query(X, k + 1)`` (one thread:
scikit-learn's trees have no ``workers``; ``NearestNeighbors(n_jobs=-1)`` adds joblib's
processes, which scikit-dimension and DADApy do not use). Each query's distances are checked
against the others' (the same k + 1 distances for every point).

Results: printed, and written to ``benchmarks/results/trees.csv`` and ``trees.md``
(atomically).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
COLUMNS = ["N", "D", "k", "method", "seconds", "ratio_to_ckdtree", "load"]
METHODS = ("ckdtree", "sklearn_kdtree", "sklearn_balltree")


def query(method: str, X: np.ndarray, k: int) -> np.ndarray:
    """Distances of the k + 1 nearest points (the point itself first) of every row of X."""
    if method == "ckdtree":
        from scipy.spatial import cKDTree

        return cKDTree(X, balanced_tree=False).query(X, k + 1, workers=-1)[0]
    from sklearn.neighbors import BallTree, KDTree

    tree = (KDTree if method == "sklearn_kdtree" else BallTree)(X)
    return tree.query(X, k + 1)[0]


def time_cell(n: int, d: int, k: int, repeats: int) -> list[dict]:
    X = np.random.default_rng([n, d]).random((n, d))
    best: dict[str, float] = {}
    dists: dict[str, np.ndarray] = {}
    for m in METHODS:
        query(m, X[:1000], k)  # warm-up: imports, first-call costs
    for _ in range(repeats):
        for m in METHODS:  # interleaved rounds: drift of the machine's speed hits all
            t = time.perf_counter()
            dists[m] = query(m, X, k)
            best[m] = min(best.get(m, np.inf), time.perf_counter() - t)
    for m in METHODS[1:]:
        if not np.allclose(dists[m], dists["ckdtree"], rtol=1e-12, atol=0):
            raise SystemExit(f"{n} x {d}: {m} and cKDTree disagree on the distances")
    load = f"{os.getloadavg()[0]:.1f}"
    return [{"N": n, "D": d, "k": k, "method": m, "seconds": f"{best[m]:.3f}",
             "ratio_to_ckdtree": f"{best[m] / best['ckdtree']:.2f}", "load": load}
            for m in METHODS]


def markdown(rows: list[dict], command: str) -> str:
    head = "| N × D | k | " + " | ".join(METHODS) + " |"
    lines = [head, "|" + "---|" * (len(METHODS) + 2)]
    cells = sorted({(int(r["N"]), int(r["D"]), int(r["k"])) for r in rows})
    for n, d, k in cells:
        got = {r["method"]: r for r in rows if (int(r["N"]), int(r["D"]), int(r["k"]))
               == (n, d, k)}
        lines.append(f"| {n:,} × {d} | {k} | " + " | ".join(
            f"{got[m]['seconds']} s ({got[m]['ratio_to_ckdtree']}×)" for m in METHODS) + " |")
    return (f"# Tree candidates: SciPy's cKDTree against scikit-learn's trees\n\nCommand: "
            f"`{command}`\n\nSeconds to build the tree and query the k + 1 nearest of every "
            f"point (the fastest of the rounds; in parentheses, the time over cKDTree's), "
            f"uniform points in the unit cube, {os.cpu_count()} CPU core(s), 1-minute load "
            f"average {min(float(r['load']) for r in rows):.1f} to "
            f"{max(float(r['load']) for r in rows):.1f}.\n\n" + "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cells", nargs="+", default=["30000x3", "20000x8"], metavar="NxD")
    p.add_argument("--k", type=int, default=2, help="neighbours besides the point (default "
                   "2, TwoNN's; the query asks k + 1)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    from idscope._atomic import write_text

    command = "python benchmarks/trees.py " + " ".join(argv if argv is not None
                                                        else sys.argv[1:])
    rows = []
    for cell in args.cells:
        n, d = map(int, cell.lower().split("x"))
        rows += time_cell(n, d, args.k, args.repeats)
        for r in rows[-len(METHODS):]:
            print(f"{n} x {d}, k = {args.k}: {r['method']} {r['seconds']} s "
                  f"({r['ratio_to_ckdtree']}x cKDTree)", flush=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_text(RESULTS / "trees.csv", buf.getvalue())
    write_text(RESULTS / "trees.md", markdown(rows, command.strip()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
