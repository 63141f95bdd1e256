"""Coverage of the 95 % intervals on the flat torus (docs/science.md §3).

Uniform points on [0, 1)^d with periodic distances (scipy's cKDTree ``boxsize=1``), passed to
idscope as precomputed ``KNeighbors``: the marginal laws are exact, only the sharing of
neighbours between points is left. For d in {2, 5} and N in {1 000, 2 000}, ``--draws``
seeded draws (the seeds and draws of ``tests/estimators/test_uncertainty.py``), the fraction
of intervals that contain d, for the default ``interval="graph"`` and for ``"independent"``,
and the ratio of the estimates' spread to the mean reported standard error. Writes
``benchmarks/results/uncertainty.md``::

    .venv/bin/python benchmarks/uncertainty.py [--draws 300]

``--ranges`` instead measures how MLE's graph design effect (k = 20) depends on the taper's
range m (Bartlett over the first m neighbours, m in {60, 80, 100, 120}) against the design
effect simulated from the estimates' spread, on independent draws (seeds 21–24, not the
test's), with each m's coverage. Writes ``benchmarks/results/uncertainty_ranges.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

import idscope
from idscope import KNeighbors
from idscope.estimators._dependence import design_effect
from idscope.estimators.mle import _per_point, mle_from_distances

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
    p.add_argument("--draws", type=int, default=300)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--ranges", action="store_true",
                   help="MLE's design effect against the taper's range (see above)")
    args = p.parse_args(argv)
    if args.ranges:
        return ranges(args.out or HERE / "results" / "uncertainty_ranges.md")
    args.out = args.out or HERE / "results" / "uncertainty.md"
    lines = ["| d | N | estimator | coverage, graph | coverage, independent | "
             "spread / mean se (graph) | spread / mean se (independent) |",
             "|---:|---:|---|---:|---:|---:|---:|"]
    for d in (2, 5):
        for n in (1000, 2000):
            rng = np.random.default_rng(1000 * d + n)  # the test's seeds
            rows: dict[tuple[str, str], list] = {}
            for _ in range(args.draws):
                X = rng.uniform(size=(n, d))
                # 4k neighbours: what the graph interval of MLE (k = 20) reads
                dist, idx = cKDTree(X, boxsize=1.0).query(X, 4 * K + 1)
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


RANGES = (60, 80, 100, 120)
RANGE_CELLS = ((2, 1000, 1000, 21), (5, 1000, 400, 22), (2, 2000, 400, 23), (5, 2000, 300, 24))


def ranges(out: Path) -> int:
    """MLE (k = 20): simulated design effect vs the graph's for each taper range."""
    lines = ["| d | N | draws | simulated deff | " + " | ".join(
        f"graph deff, m = {m}" for m in RANGES) + " | " + " | ".join(
        f"coverage, m = {m}" for m in RANGES) + " |",
        "|---:|---:|---:|---:|" + "---:|" * (2 * len(RANGES))]
    for d, n, draws, seed in RANGE_CELLS:
        rng = np.random.default_rng(seed)
        est, deffs, cover = [], [], []
        for _ in range(draws):
            X = rng.uniform(size=(n, d))
            dist, idx = cKDTree(X, boxsize=1.0).query(X, max(RANGES) + 1)
            dist, idx = dist[:, 1:], idx[:, 1:]
            h = _per_point(dist, K, K, "inverse")
            row, crow = [], []
            for m in RANGES:
                de = design_effect(h, idx, m)
                dd, _, lo, hi = mle_from_distances(dist, K, design_effect=de)
                row.append(de)
                crow.append(lo <= d <= hi)
            est.append(dd)
            deffs.append(row)
            cover.append(crow)
        # Var(d̂) over its independent-points value d²/(N(k−1) − 2)
        sim = float(np.var(est, ddof=1) / (d * d / (n * (K - 1) - 2)))
        lines.append(f"| {d} | {n} | {draws} | {sim:.3f} ± {sim * np.sqrt(2 / (draws - 1)):.2f} | "
                     + " | ".join(f"{v:.3f}" for v in np.mean(deffs, axis=0)) + " | "
                     + " | ".join(f"{v:.3f}" for v in np.mean(cover, axis=0)) + " |")
        print(lines[-1], flush=True)
    out.write_text("MLE k = 20 on the flat torus: design effect simulated from the estimates' "
                   "spread vs the graph estimate's mean for each Bartlett range m "
                   "(`benchmarks/uncertainty.py --ranges`)\n\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
