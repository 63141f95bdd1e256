"""scikit-dimension's BenchmarkManifolds (M1–M13) at N = 2 500: idscope vs every peer.

The standard benchmark of ID estimators (Hein & Audibert 2005; Campadelli et al. 2015, as
packaged by scikit-dimension's ``datasets.BenchmarkManifolds``). Three steps, each rerunnable:

1. ``generate`` (peers' venv): draw the manifolds with ``random_state=0``, ``n=2500`` and save
   each as ``.npy`` plus ``truth.json`` under ``--data`` (default
   ``benchmarks/results/manifolds_data``, not committed)::

       .venv-peers/bin/python benchmarks/manifolds.py generate

2. ``peers`` (peers' venv): every global estimator of scikit-dimension with its defaults,
   and DADApy's TwoNN, on each manifold; one JSON line per (manifold, estimator) appended to
   ``benchmarks/results/manifolds_peers.jsonl`` and skipped on a rerun (DANCo alone takes
   minutes; run it once in the background)::

       .venv-peers/bin/python benchmarks/manifolds.py peers

3. ``table`` (project venv): idscope's TwoNN, MLE (k = 20) and GRIDE(1, 2), raw and
   calibrated, timed, and the table of relative errors |d̂ − d|/d per manifold with their
   mean, written to ``benchmarks/results/manifolds.md`` (quoted in docs/science.md §7);
   idscope's rows are kept in ``manifolds_idscope.jsonl`` and ``--reuse`` only re-tabulates.
   The calibrated rows' seconds include the first simulation of the reference responses
   (cached afterwards in the user cache folder)::

       .venv/bin/python benchmarks/manifolds.py table [--reuse]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "results" / "manifolds_data"
PEERS = HERE / "results" / "manifolds_peers.jsonl"
OURS = HERE / "results" / "manifolds_idscope.jsonl"
TABLE = HERE / "results" / "manifolds.md"
N, SEED = 2500, 0
# the fast ones first; DANCo (minutes per manifold) last
PEER_ESTIMATORS = ("TwoNN", "MLE", "GRIDE", "MiND_ML", "lPCA", "MOM", "TLE", "MADA",
                   "CorrInt", "FisherS", "KNN", "ESS", "PH", "DANCo")


def _is_m1_m13(name: str) -> bool:
    """M1_Sphere … M13b_Spiral (the Campadelli/Hein set; not Mbeta, Mn*, Mp*)."""
    return name[0] == "M" and name[1].isdigit()


def generate(data: Path) -> None:
    import skdim

    bm = skdim.datasets.BenchmarkManifolds(random_state=SEED)
    sets = bm.generate(n=N)
    data.mkdir(parents=True, exist_ok=True)
    truth = {}
    for name, X in sets.items():
        if not _is_m1_m13(name):
            continue
        np.save(data / f"{name}.npy", np.asarray(X, dtype=np.float64))
        truth[name] = int(bm.truth.loc[name, "Intrinsic Dimension"])
    (data / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    print(f"saved {len(truth)} manifolds to {data}")


def _peer(name: str, X: np.ndarray) -> float:
    if name == "DADApy_TwoNN":
        import contextlib
        import io

        from dadapy import Data

        with contextlib.redirect_stdout(io.StringIO()):
            return float(Data(coordinates=X).compute_id_2NN()[0])
    import skdim

    return float(getattr(skdim.id, name)().fit(X).dimension_)


def peers(data: Path, out: Path, only: list[str] | None) -> None:
    truth = json.loads((data / "truth.json").read_text())
    done = set()
    if out.exists():
        done = {(r["manifold"], r["estimator"]) for r in map(json.loads, out.open())}
    names = only or [*PEER_ESTIMATORS, "DADApy_TwoNN"]
    for est in names:
        for m in truth:
            if (m, est) in done:
                continue
            X = np.load(data / f"{m}.npy")
            t0 = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    value = _peer(est, X)
            except Exception as exc:  # a peer failing on one manifold is a table entry
                value, err = float("nan"), f"{type(exc).__name__}: {exc}"[:200]
            else:
                err = ""
            row = {"manifold": m, "estimator": est, "dimension": value,
                   "seconds": time.perf_counter() - t0, "error": err}
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


def idscope_rows(data: Path) -> list[dict]:
    import idscope
    from idscope.estimators.calibration import SaturationWarning

    truth = json.loads((data / "truth.json").read_text())
    runs = {"TwoNN": lambda X, c: idscope.twonn(X, calibrate=c),
            "MLE": lambda X, c: idscope.mle(X, k=20, calibrate=c),
            "GRIDE": lambda X, c: idscope.gride(X, calibrate=c)}
    rows = []
    for m in truth:
        X = np.load(data / f"{m}.npy")
        for est, fn in runs.items():
            for cal in (False, True):
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", SaturationWarning)
                    res = fn(X, cal)
                rows.append({"manifold": m, "estimator": f"idscope {est}"
                             + (" calibrated" if cal else ""), "dimension": res.dimension,
                             "ci": [res.ci_low, res.ci_high],
                             "seconds": time.perf_counter() - t0, "error": ""})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def table(data: Path, peers_file: Path, out: Path, reuse: bool) -> None:
    truth = json.loads((data / "truth.json").read_text())
    if reuse and OURS.exists():
        rows = [json.loads(line) for line in OURS.open()]
    else:
        rows = idscope_rows(data)
        OURS.write_text("".join(json.dumps(r) + "\n" for r in rows))
    if peers_file.exists():
        rows += [json.loads(line) for line in peers_file.open()]
    ests = list(dict.fromkeys(r["estimator"] for r in rows))
    cell = {(r["manifold"], r["estimator"]): r for r in rows}
    lines = [f"# BenchmarkManifolds M1–M13, N = {N}, random_state = {SEED}", "",
             "Relative error |d̂ − d|/d per manifold (the estimates are in "
             "`manifolds_idscope.jsonl` and `manifolds_peers.jsonl`); its mean over the "
             "manifolds an estimator finished; total seconds (this 2-core machine, shared "
             "with other jobs; calibrated rows include the first simulation of the reference "
             "responses). Produced by `benchmarks/manifolds.py table`.", "",
             "| estimator | mean rel. error | seconds | " + " | ".join(
                 f"{m.split('_')[0]} (d={d})" for m, d in truth.items()) + " |",
             "|---|---:|---:|" + "---:|" * len(truth)]
    summary = []
    for e in ests:
        errs, secs, cells = [], 0.0, []
        for m, d in truth.items():
            r = cell.get((m, e))
            if r is None or not np.isfinite(r["dimension"]):
                cells.append("–")
                continue
            errs.append(abs(r["dimension"] - d) / d)
            secs += r["seconds"]
            cells.append(f"{errs[-1]:.2f}")
        mean = float(np.mean(errs)) if errs else float("nan")
        summary.append((mean, e, secs, cells, len(errs)))
    for mean, e, secs, cells, k in sorted(summary, key=lambda s: (np.isnan(s[0]), s[0])):
        note = "" if k == len(truth) else f" ({k} of {len(truth)})"
        lines.append(f"| {e}{note} | {mean:.3f} | {secs:.1f} | " + " | ".join(cells) + " |")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=["generate", "peers", "table"])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--peers-file", type=Path, default=PEERS)
    p.add_argument("--out", type=Path, default=TABLE)
    p.add_argument("--only", nargs="*", help="peer estimators to run (default: all)")
    p.add_argument("--reuse", action="store_true",
                   help="table: reuse idscope's rows from the last run (only re-tabulate)")
    args = p.parse_args(argv)
    if args.step == "generate":
        generate(args.data)
    elif args.step == "peers":
        peers(args.data, args.peers_file, args.only)
    else:
        table(args.data, args.peers_file, args.out, args.reuse)
    return 0


if __name__ == "__main__":
    sys.exit(main())
