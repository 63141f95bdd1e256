"""Coverage of the 95 % intervals on the flat torus (docs/science.md §3).

Uniform points on [0, 1)^d with periodic distances (scipy's cKDTree ``boxsize=1``), passed to
idscope as precomputed ``KNeighbors``: the marginal laws are exact, only the sharing of
neighbours between points is left. For d in {2, 5} and N in {1 000, 2 000}, ``--draws``
seeded draws (the seeds of ``tests/test_uncertainty.py``), the fraction of intervals that
contain d, for the default ``interval="graph"`` and for ``"independent"``, and the ratio of
the estimates' spread to the mean reported standard error. Writes
``benchmarks/results/uncertainty.md``::

    .venv/bin/python benchmarks/uncertainty.py [--draws 150]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

import idscope
from idscope import KNeighbors

HERE = Path(__file__).resolve().parent
K = 20

ESTIMATORS = {
    "TwoNN (linear)": lambda knn, iv: idscope.twonn(knn, interval=iv),
    "TwoNN-ML": lambda knn, iv: idscope.twonn(knn, method="mle", interval=iv),
    "MLE k=20": lambda knn, iv: idscope.mle(knn, k=K, interval=iv),
    "GRIDE(8,16)": lambda knn, iv: idscope.gride(knn, n1=8, n2=16, interval=iv),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--draws", type=int, default=150)
    p.add_argument("--out", type=Path, default=HERE / "results" / "uncertainty.md")
    args = p.parse_args(argv)
    lines = ["| d | N | estimator | coverage, graph | coverage, independent | "
             "spread / mean se (graph) | spread / mean se (independent) |",
             "|---:|---:|---|---:|---:|---:|---:|"]
    for d in (2, 5):
        for n in (1000, 2000):
            rng = np.random.default_rng(1000 * d + n)  # the test's seeds
            rows: dict[tuple[str, str], list] = {}
            for _ in range(args.draws):
                X = rng.uniform(size=(n, d))
                # 3k neighbours: what the graph interval of MLE (k = 20) reads
                dist, idx = cKDTree(X, boxsize=1.0).query(X, 3 * K + 1)
                knn = KNeighbors(np.ascontiguousarray(dist[:, 1:]),
                                 np.ascontiguousarray(idx[:, 1:]))
                for name, fn in ESTIMATORS.items():
                    for iv in ("graph", "independent"):
                        r = fn(knn, iv)
                        rows.setdefault((name, iv), []).append(
                            (r.dimension, r.stderr, r.ci_low, r.ci_high))
            for name in ESTIMATORS:
                cells = []
                for iv in ("graph", "independent"):
                    a = np.array(rows[(name, iv)])
                    cells.append(float(np.mean((a[:, 2] <= d) & (d <= a[:, 3]))))
                    cells.append(float(a[:, 0].std(ddof=1) / a[:, 1].mean()))
                lines.append(f"| {d} | {n} | {name} | {cells[0]:.3f} | {cells[2]:.3f} | "
                             f"{cells[1]:.2f} | {cells[3]:.2f} |")
                print(lines[-1], flush=True)
    args.out.write_text(f"Flat torus, {args.draws} draws per row "
                        f"(`benchmarks/uncertainty.py`)\n\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
