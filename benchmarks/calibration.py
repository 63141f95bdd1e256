"""Raw vs calibrated TwoNN and MLE on uniform balls and cubes (docs/science.md §4, §6).

For d in {5, 10, 20, 30, 50, 100} and N in {2 000, 20 000}: one seeded sample per cell (a
ball or cube in R^d, rotated into R^(d+10)), idscope's TwoNN (linear fit) and MLE (k = 20),
raw and with ``calibrate=True``; relative errors, whether the 95 % interval covers d, and the
seconds of the calibrated call (reference simulations included, cache cleared first). Writes
``benchmarks/results/calibration.csv`` and the markdown table
``benchmarks/results/calibration.md``::

    .venv/bin/python benchmarks/calibration.py [--n 2000 20000] [--dims 5 10 20 30 50 100]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def sample(shape: str, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    if shape == "ball":
        g = rng.standard_normal((n, d))
        Z = g / np.linalg.norm(g, axis=1, keepdims=True) * rng.uniform(size=(n, 1)) ** (1 / d)
    else:
        Z = rng.uniform(-1, 1, size=(n, d))
    D = d + 10
    Q, _ = np.linalg.qr(rng.standard_normal((D, D)))
    return np.hstack([Z, np.zeros((n, 10))]) @ Q


def _write(rows: list[dict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = ["| N | d | shape | estimator | raw (rel. err.) | calibrated (rel. err.) "
             "| calibrated 95 % CI | covers d | warning | seconds |",
             "|---:|---:|---|---|---:|---:|---|---|---|---:|"]
    for r in rows:
        lines.append(f"| {r['n']} | {r['d']} | {r['shape']} | {r['estimator']} | "
                     f"{r['raw']:.2f} ({r['raw_rel']:+.1%}) | {r['cal']:.2f} "
                     f"({r['cal_rel']:+.1%}) | {r['cal_low']:.1f}–{r['cal_high']:.1f} | "
                     f"{'yes' if r['cal_covers'] else 'no'} | "
                     f"{'saturation' if r['saturation_warning'] else ''} | "
                     f"{r['seconds']:.1f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[2000, 20000])
    p.add_argument("--dims", type=int, nargs="+", default=[5, 10, 20, 30, 50, 100])
    p.add_argument("--shapes", nargs="+", default=["ball", "cube"])
    p.add_argument("--out", type=Path, default=HERE / "results" / "calibration")
    args = p.parse_args(argv)
    # a fresh cache: the timings include the reference simulations
    os.environ["IDSCOPE_CACHE_DIR"] = tempfile.mkdtemp(prefix="idscope-cal-")
    import idscope
    from idscope.estimators import graph_neighbors
    from idscope.estimators.calibration import SaturationWarning

    rows = []
    for n in args.n:
        for d in args.dims:
            for shape in args.shapes:
                X = sample(shape, n, d, np.random.default_rng([n, d, len(shape)]))
                # what the graph intervals read (MLE k = 20: 4k; TwoNN: 6)
                knn = idscope.kneighbors(X, graph_neighbors("mle", 20))
                for est, fn in (("TwoNN", idscope.twonn), ("MLE", idscope.mle)):
                    raw = fn(knn)
                    t0 = time.perf_counter()
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", SaturationWarning)
                        cal = fn(knn, calibrate=True)
                    secs = time.perf_counter() - t0
                    rows.append({"n": n, "d": d, "shape": shape, "estimator": est,
                                 "raw": raw.dimension, "raw_rel": raw.dimension / d - 1,
                                 "raw_covers": raw.ci_low <= d <= raw.ci_high,
                                 "cal": cal.dimension, "cal_rel": cal.dimension / d - 1,
                                 "cal_low": cal.ci_low, "cal_high": cal.ci_high,
                                 "cal_covers": cal.ci_low <= d <= cal.ci_high,
                                 "saturation_warning": bool(caught), "seconds": secs})
                    print(rows[-1], flush=True)
                    _write(rows, args.out)  # after every row: a long run can be cut short
    return 0


if __name__ == "__main__":
    sys.exit(main())
