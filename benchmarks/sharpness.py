"""Benchmark: exact label sharpness K_F against a same-process float32 GEMM.

Not a test. Usage (from the repository root)::

    .venv/bin/python benchmarks/sharpness.py            # N = 20 000, D = 3 072 (about a minute)
    .venv/bin/python benchmarks/sharpness.py --quick    # N = 4 000, D = 768, a smoke run
    .venv/bin/python benchmarks/sharpness.py --verify   # also a float64 brute-force check

Data: N points, D features, float32, in memory, two classes. Like image pixels or post-ReLU
activations they are uncentred and non-negative: latents z ~ N(0, I₁₀), a random tanh layer
of width 64, a random ReLU map to D features with per-feature offsets and Gaussian noise,
x = 255·max(0, W·tanh(Az + c) + b + 0.05·ε)/4; the label is 1(z₁ > 0), with classes
interleaved in row order (as in a shuffled dataset).

Timed: ``idscope.label_sharpness(X, y)`` (exact over all N²/4 cross-class pairs, through
the kNN engine: one query/reference search of one class against the other) and
``X @ X.T`` in torch float32 (the full N×N Gram product, 2·N²·D flops), alternately,
``--repeats`` times each; the reported ratio is median(K_F) / median(GEMM). Target: ≤ 1.5.

Results: printed, and appended to ``benchmarks/results/sharpness.csv`` (rewritten
atomically).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from relu_manifold import relu_manifold

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sharpness.csv"
TARGET = 1.5
COLUMNS = ["date", "N", "D", "repeats", "threads", "device", "kf_seconds", "gemm_seconds",
           "ratio_to_gemm", "target", "meets_target", "kf_seconds_all", "gemm_seconds_all",
           "value", "witness_i", "witness_j", "witness_distance", "verified", "loadavg_1m",
           "machine"]


def make_data(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """The uncentred, non-negative two-class data described in the module docstring."""
    z, blocks = relu_manifold(n, d)
    X = np.empty((n, d), dtype=np.float32)
    for a, b, block in blocks:
        X[a:b] = block * np.float32(255.0 / 4.0)
    return X, (z[:, 0] > 0).astype(np.int64)


def brute_force_min(X: np.ndarray, y: np.ndarray, block: int = 512) -> float:
    """Smallest cross-class distance from float64 difference-free blocks: ‖a−b‖² computed as
    Σ(a−b)² in float64 for every pair (slow: only with --verify)."""
    A, B = X[y == 0].astype(np.float64), X[y == 1].astype(np.float64)
    best = math.inf
    for a in range(0, len(A), block):
        Ab = A[a : a + block]
        for b in range(0, len(B), block):
            diff = Ab[:, None, :] - B[None, b : b + block, :]
            best = min(best, float(np.einsum("ijk,ijk->ij", diff, diff).min()))
    return math.sqrt(best)


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--d", type=int, default=3_072)
    p.add_argument("--quick", action="store_true", help="N = 4 000, D = 768")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default=None)
    p.add_argument("--verify", action="store_true",
                   help="check the value against a float64 brute force (slow)")
    p.add_argument("--no-save", action="store_true", help="do not write the CSV")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.d = 4_000, 768

    import torch

    sys.path.insert(0, str(ROOT / "src"))
    import idscope
    from idscope._atomic import write_text

    t0 = time.perf_counter()
    X, y = make_data(args.n, args.d)
    print(f"data: N={args.n} D={args.d} float32 ({X.nbytes / 2**20:.0f} MiB), classes "
          f"{np.bincount(y).tolist()}, made in {time.perf_counter() - t0:.1f} s; "
          f"torch threads {torch.get_num_threads()}", flush=True)

    Xt = torch.from_numpy(X)
    if args.device:
        Xt = Xt.to(args.device)

    def sync() -> None:
        if args.device and str(args.device).startswith("cuda"):
            torch.cuda.synchronize()

    def gemm() -> float:
        sync()
        t = time.perf_counter()
        G = Xt @ Xt.T
        sync()
        t = time.perf_counter() - t
        del G
        return t

    def sharpness() -> tuple[float, object]:
        t = time.perf_counter()
        res = idscope.label_sharpness(X if not args.device else Xt, y, device=args.device)
        return time.perf_counter() - t, res

    warm = Xt[: min(len(Xt), 1024)]
    _ = warm @ warm.T  # warm-up of the BLAS threads, small enough to cost nothing
    kf_times, gemm_times = [], []
    res = None
    for r in range(args.repeats):
        g = gemm()
        k, res = sharpness()
        gemm_times.append(g)
        kf_times.append(k)
        print(f"  repeat {r + 1}: K_F {k:.2f} s, GEMM {g:.2f} s, ratio {k / g:.3f}",
              flush=True)
    kf, gm = statistics.median(kf_times), statistics.median(gemm_times)
    ratio = kf / gm
    verified = ""
    if args.verify:
        dmin = brute_force_min(X, y)
        rel = abs(res.witness_distance - dmin) / dmin
        verified = f"{rel:.1e}"
        print(f"float64 brute force: min distance {dmin:.10g}, relative difference {rel:.1e}")
    print(f"K_F = {res.value:.6g} (witness {res.witness}, distance {res.witness_distance:.6g})")
    print(f"exact K_F {kf:.2f} s vs float32 GEMM X @ X.T {gm:.2f} s: ratio {ratio:.3f} "
          f"(target <= {TARGET}: {'met' if ratio <= TARGET else 'NOT met'})")
    row = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "N": args.n,
        "D": args.d, "repeats": args.repeats, "threads": torch.get_num_threads(),
        "device": args.device or "cpu", "kf_seconds": f"{kf:.4f}", "gemm_seconds": f"{gm:.4f}",
        "ratio_to_gemm": f"{ratio:.4f}", "target": TARGET, "meets_target": ratio <= TARGET,
        "kf_seconds_all": " ".join(f"{t:.3f}" for t in kf_times),
        "gemm_seconds_all": " ".join(f"{t:.3f}" for t in gemm_times),
        "value": repr(res.value), "witness_i": res.witness[0], "witness_j": res.witness[1],
        "witness_distance": repr(res.witness_distance), "verified": verified,
        "loadavg_1m": f"{os.getloadavg()[0]:.2f}",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), "
                   f"Python {platform.python_version()}, torch {torch.__version__}",
    }
    if not args.no_save:
        write_text(RESULTS, to_csv(read_rows(RESULTS) + [row]))
        print(f"appended to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
