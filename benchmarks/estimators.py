"""Benchmark: idscope's TwoNN and MLE against a same-process float32 GEMM and the peers.

Not a test. Usage (from the repository root)::

    .venv/bin/python benchmarks/estimators.py                 # all four cases
    .venv/bin/python benchmarks/estimators.py --quick         # small shapes, a smoke run
    .venv/bin/python benchmarks/estimators.py --cases d4096,memmap
    bash benchmarks/peers/setup.sh                            # optional: the peers' venv

Cases (float32, rows are points):

============  ======  ========  =================================================
name          N       D         storage
============  ======  ========  =================================================
``d4096``     20 000  4 096     in memory (328 MB)
``d256``      5 000   256       in memory (5 MB)
``d150528``   2 000   150 528   in memory (1.2 GB; 224×224×3 images)
``memmap``    2 000   802 816   ``np.memmap`` of a 6.4 GB file under /tmp (28×28×1024)
============  ======  ========  =================================================

The data lie near a 10-dimensional manifold: latents z ~ N(0, I₁₀), a random tanh layer of
width 64, then a random ReLU map to D features with a per-feature offset and Gaussian
noise before the ReLU, x = max(0, W·tanh(Az + c) + b + 0.05·ε). Like post-ReLU activations,
the result is uncentred, non-negative and sparse (about half the values are 0). Files are
written once in row blocks (atomically) under ``--data-dir`` and reused.

For each case and each idscope method a fresh subprocess loads the data, times the method
``--repeats`` times after a warm-up on a tiny array (as the peers), reads its peak resident
set size (``getrusage(RUSAGE_SELF).ru_maxrss``; the baseline after importing idscope and
torch is recorded separately), then times a float32 ``X @ X.T`` of the same shape in the
same process: the general product ``X @ Y.T`` (``Y`` a copy of ``X``) with numpy's BLAS
(``sgemm``) and with torch, and numpy's ``X @ X.T`` on one array (BLAS ``ssyrk``, the
symmetric product: half the multiplications); the reference, "the fastest GEMM", is the
faster general product (medians), since a user would pick it (on the issue's AMD CPU torch's
MKL ran at about half of OpenBLAS's speed); the ``ssyrk`` time is recorded beside it
(``runs_gemm_seconds``). For the memmap case the product is accumulated over column chunks
read from the file (the product itself cannot be held in memory together with X). When
``.venv-peers`` exists (``benchmarks/peers/setup.sh``), scikit-dimension's TwoNN and MLE and
DADApy's TwoNN run in subprocesses of that venv with a timeout; a peer is skipped when its
estimated memory exceeds the memory available, and the table says so. Each peer runs once
per case; its time is compared with both idscope methods of its estimator.

Methods: ``twonn`` and ``mle`` (k = 20) are the defaults, with their graph intervals (TwoNN
searches 6 neighbours and fits 200 bootstrap resamples, MLE searches 80);
``twonn_estimate`` = ``twonn(X, interval="independent", n_bootstrap=0)`` and
``mle_estimate`` = ``mle(X, k=20, interval="independent")`` are the estimate alone, what
the peers compute (the same definitions as ``benchmarks/neighbors.py``). Targets: the
default TwoNN within 1.0× the fastest GEMM at D ≥ 4 096, and TwoNN's estimate 3.5× faster
than every peer there (issue #14: like for like, since the peers compute no interval).

Results: a table on stdout, ``benchmarks/results/estimators.csv`` and ``estimators.md``
(``estimators-quick.*`` with ``--quick``), written atomically after each case; a run with
``--cases`` replaces only those cases' rows. Reported seconds are medians over repeats.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from readme import splice_table
from relu_manifold import SEED, relu_manifold

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
PEER_SCRIPT = ROOT / "benchmarks" / "peers" / "run_peer.py"
DATA_VERSION = 1  # bump when the generator changes: cached files are keyed on it
MLE_K = 20
COLUMNS = ["case", "N", "D", "method", "seconds", "gemm_seconds", "ratio_to_gemm", "peer",
           "peer_seconds", "speedup_vs_peer", "peer_status", "peak_rss_mib", "base_rss_mib",
           "data_mib", "dimension", "peer_dimension", "n_exhaustive", "runs_seconds",
           "runs_gemm_seconds", "runs_peer_seconds"]


@dataclass(frozen=True)
class Case:
    name: str
    n: int
    d: int
    memmap: bool
    quick_n: int
    quick_d: int

    def shape(self, quick: bool) -> tuple[int, int]:
        return (self.quick_n, self.quick_d) if quick else (self.n, self.d)


CASES = {
    "d4096": Case("d4096", 20_000, 4_096, False, 2_000, 1_024),
    "d256": Case("d256", 5_000, 256, False, 1_000, 64),
    "d150528": Case("d150528", 2_000, 150_528, False, 300, 20_000),
    "memmap": Case("memmap", 2_000, 802_816, True, 300, 100_000),
}
PEERS = {"twonn": ("skdim_twonn", "dadapy_twonn"), "mle": ("skdim_mle",)}
METHODS = ("twonn", "twonn_estimate", "mle", "mle_estimate")


def estimator(method: str) -> str:
    """The peers' estimator of a method (``twonn_estimate`` -> ``twonn``)."""
    return method.split("_")[0]


# ----------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------
def data_path(data_dir: Path, n: int, d: int) -> Path:
    return data_dir / f"relu-manifold-v{DATA_VERSION}-n{n}-d{d}-s{SEED}.npy"


def make_data(path: Path, n: int, d: int, *, progress: bool = True) -> Path:
    """Write the ReLU-manifold data set (n, d) float32 as ``.npy``, in row blocks of at
    most ~64 MB so that even the 6.4 GB case never holds more than a block in memory."""
    if path.exists():
        header = np.load(path, mmap_mode="r")
        if header.shape == (n, d) and header.dtype == np.float32:
            return path
    _, blocks = relu_manifold(n, d)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".npy.tmp")
    t0 = time.perf_counter()
    with open(tmp, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                 "fortran_order": False, "shape": (n, d)})
        for _, b, block in blocks:
            block.tofile(fh)
            if progress and sys.stderr.isatty():
                print(f"\r  writing {path.name}: {b}/{n} rows", end="", file=sys.stderr)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    if progress:
        print(f"  wrote {path} ({n * d * 4 / 2**20:.0f} MiB) in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return path


# ----------------------------------------------------------------------------------------
# one (case, method) measurement in a fresh process
# ----------------------------------------------------------------------------------------
def _maxrss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _streamed_gemm(X: np.memmap, lib: str) -> None:
    """X @ X.T accumulated over column chunks of ~64 MB read from the file (no mapping),
    with numpy's BLAS (``lib="numpy"``: sgemm on a copy of the block; ``"syrk"``: ssyrk)
    or torch."""
    import torch

    n, d = X.shape
    chunk = max(1, (64 << 20) // (4 * n))
    gram = torch.zeros((n, n), dtype=torch.float32)
    gram_np = gram.numpy()
    buf = np.empty((n, chunk), dtype=np.float32)
    row_bytes = d * 4
    with open(X.filename, "rb", buffering=0) as fh:
        fd = fh.fileno()
        for c in range(0, d, chunk):
            w = min(chunk, d - c)
            block = buf[:, :w] if w == chunk else np.empty((n, w), dtype=np.float32)
            for i in range(n):
                os.preadv(fd, [block[i]], X.offset + i * row_bytes + 4 * c)
            if lib == "numpy":
                gram_np += block @ block.copy().T
            elif lib == "syrk":
                gram_np += block @ block.T
            else:
                t = torch.from_numpy(block)
                gram.addmm_(t, t.T)


def worker(spec: dict) -> dict:
    """Time one idscope method, then the GEMM, on one data file; return the measurements."""
    import torch

    import idscope

    base = _maxrss_mib()
    X = np.load(spec["path"], mmap_mode="r" if spec["memmap"] else None)
    estimate = {
        "twonn": lambda A: idscope.twonn(A),
        "twonn_estimate": lambda A: idscope.twonn(A, interval="independent", n_bootstrap=0),
        "mle": lambda A: idscope.mle(A, k=MLE_K),
        "mle_estimate": lambda A: idscope.mle(A, k=MLE_K, interval="independent"),
    }[spec["method"]]
    # warm-up on a tiny array, as the peers get (run_peer.py): lazy imports and thread
    # start-up stay out of the timings
    estimate(np.random.default_rng(0).random((256, 32), dtype=np.float32))

    def run():
        return estimate(X)

    seconds, dim = [], float("nan")
    for _ in range(spec["repeats"]):
        t0 = time.perf_counter()
        dim = float(run().dimension)
        seconds.append(time.perf_counter() - t0)
    peak = _maxrss_mib()
    n_exhaustive = int(idscope.kneighbors(X, 2 if spec["method"].startswith("twonn")
                                         else MLE_K)
                       .n_exhaustive) if spec.get("diagnose") else -1
    runs: dict[str, list[float]] = {"numpy": [], "torch": [], "syrk": []}
    Y = None if spec["memmap"] else X.copy()  # another array: numpy calls sgemm, not ssyrk
    for _ in range(spec["gemm_repeats"]):
        for lib in runs:  # interleaved, so that all see the same load
            t0 = time.perf_counter()
            if spec["memmap"]:
                _streamed_gemm(X, lib)
            elif lib == "numpy":
                G = X @ Y.T
                del G
            elif lib == "syrk":
                G = X @ X.T
                del G
            else:
                Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
                G = Xt @ Yt.T
                del G
            runs[lib].append(time.perf_counter() - t0)
    # the reference is a general product; ssyrk does half the multiplications
    fastest = min(("numpy", "torch"), key=lambda lib: statistics.median(runs[lib]))
    return {"seconds": seconds, "gemm_seconds": runs[fastest], "gemm_runs": runs,
            "peak_rss_mib": peak,
            "base_rss_mib": base, "dimension": dim, "n_exhaustive": n_exhaustive,
            "threads": torch.get_num_threads()}


def run_worker(path: Path, memmap: bool, method: str, repeats: int, gemm_repeats: int,
               diagnose: bool) -> dict:
    spec = {"path": str(path), "memmap": memmap, "method": method, "repeats": repeats,
            "gemm_repeats": gemm_repeats, "diagnose": diagnose}
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep
               + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"worker for {method} on {path.name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------
# peers
# ----------------------------------------------------------------------------------------
def _mem_available() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30


def peer_memory_estimate(peer: str, n: int, d: int, memmap: bool) -> int:
    """Bytes a peer holds at its peak: the data (a memmap's pages become resident when a
    peer reads them all), DADApy's float64 copy, and scikit-learn's ~1 GiB of chunks."""
    data = 4 * n * d
    est = data + (1 << 30) + 8 * n * 100
    if peer.startswith("dadapy"):
        est += 8 * n * d
    return est


def run_peer(peer: str, path: Path, n: int, d: int, memmap: bool, repeats: int,
             timeout: float) -> dict:
    if not PEER_PYTHON.exists():
        return {"status": "not installed (bash benchmarks/peers/setup.sh)"}
    need, avail = peer_memory_estimate(peer, n, d, memmap), _mem_available()
    if need > 0.7 * avail:
        what = " (with its float64 copy)" if peer.startswith("dadapy") else ""
        return {"status": f"skipped: needs ~{need / 2**30:.1f} GiB{what}, more than 70 % of "
                          f"the {avail / 2**30:.1f} GiB available"}
    cmd = [str(PEER_PYTHON), str(PEER_SCRIPT), str(path), "--method", peer, "--k", str(MLE_K),
           "--repeats", str(repeats)] + (["--mmap"] if memmap else [])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"status": f"timeout > {timeout:.0f} s", "seconds": [timeout]}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"status": f"failed: {tail[:120]}"}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["status"] = "ok"
    return out


# ----------------------------------------------------------------------------------------
# tables
# ----------------------------------------------------------------------------------------
def _fmt(v, digits=2) -> str:
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _runs(values: list[float]) -> str:
    """Every repeat, space-separated (the tables show medians)."""
    return " ".join(f"{v:.4g}" for v in values)


def case_rows(case: str, n: int, d: int, method: str, res: dict, peers: dict) -> list[dict]:
    sec = statistics.median(res["seconds"])
    gemm = statistics.median(res["gemm_seconds"])
    base = {"case": case, "N": n, "D": d, "method": f"idscope_{method}", "seconds": sec,
            "gemm_seconds": gemm, "ratio_to_gemm": sec / gemm,
            "peak_rss_mib": res["peak_rss_mib"], "base_rss_mib": res["base_rss_mib"],
            "data_mib": n * d * 4 / 2**20, "dimension": res["dimension"],
            "n_exhaustive": res["n_exhaustive"], "runs_seconds": _runs(res["seconds"]),
            "runs_gemm_seconds": "; ".join(f"{lib}: {_runs(v)}" for lib, v in
                                           res.get("gemm_runs", {}).items())
            or _runs(res["gemm_seconds"]), "runs_peer_seconds": "",
            "peer": "", "peer_seconds": float("nan"),
            "speedup_vs_peer": float("nan"), "peer_status": "", "peer_dimension": float("nan")}
    rows = []
    for peer, pres in peers.items():
        row = dict(base, peer=peer, peer_status=pres["status"])
        if "seconds" in pres:
            psec = statistics.median(pres["seconds"])
            row.update(peer_seconds=psec, speedup_vs_peer=psec / sec,
                       runs_peer_seconds=_runs(pres["seconds"]),
                       peer_dimension=pres.get("dimension", float("nan")))
        rows.append(row)
    return rows or [base]


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in COLUMNS})
    return buf.getvalue()


def read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            row = {}
            for k in COLUMNS:
                v = r.get(k, "")
                if k in ("N", "D", "n_exhaustive"):
                    row[k] = int(v) if v not in ("", None) else -1
                elif k in ("case", "method", "peer", "peer_status") or k.startswith("runs_"):
                    row[k] = v or ""
                else:
                    row[k] = float(v) if v not in ("", None) else float("nan")
            out.append(row)
    return out


MD_COLUMNS = [("case", "case", 0), ("N", "N", 0), ("D", "D", 0), ("method", "method", 0),
              ("seconds", "s", 2), ("ratio_to_gemm", "÷ GEMM", 2), ("peer", "peer", 0),
              ("peer_seconds", "peer s", 1), ("speedup_vs_peer", "speed-up", 1),
              ("peak_rss_mib", "peak RSS MiB", 0), ("data_mib", "data MiB", 0)]


def targets(rows: list[dict]) -> list[str]:
    """The issue's targets, checked on the measured rows."""
    lines = []
    seen = set()
    for r in rows:
        key = (r["case"], r["method"])
        if key in seen:
            continue
        seen.add(key)
        extra = r["peak_rss_mib"] - r["base_rss_mib"]
        if r["case"] == "memmap":
            ok = r["peak_rss_mib"] <= 2048
            lines.append(f"{r['case']} {r['method']}: peak RSS {r['peak_rss_mib']:.0f} MiB "
                         f"<= 2048 MiB: {'met' if ok else 'MISSED'}")
        else:
            ok = extra <= r["data_mib"] + 256
            lines.append(f"{r['case']} {r['method']}: RSS above the import baseline "
                         f"{extra:.0f} MiB <= data {r['data_mib']:.0f} + 256 MiB: "
                         f"{'met' if ok else 'MISSED'}")
        if r["method"] == "idscope_twonn" and r["D"] >= 4096:
            ok = r["ratio_to_gemm"] <= 1.0  # issue #14 (the foundation asked for 1.3x)
            lines.append(f"{r['case']} {r['method']}: {r['ratio_to_gemm']:.2f}x GEMM <= 1.0x: "
                         f"{'met' if ok else 'MISSED'}")
        if r["method"] == "idscope_twonn_estimate" and r["D"] >= 4096:  # like for like
            for p in rows:
                if (p["case"], p["method"]) == key and p["peer"]:
                    if p["peer_status"] == "ok" or p["peer_status"].startswith("timeout"):
                        bound = "" if p["peer_status"] == "ok" else " (lower bound)"
                        ok = p["speedup_vs_peer"] >= 3.5
                        lines.append(f"{r['case']} {r['method']}: {p['speedup_vs_peer']:.1f}x "
                                     f"faster than {p['peer']}{bound} >= 3.5x: "
                                     f"{'met' if ok else 'MISSED'}")
                    else:
                        lines.append(f"{r['case']} {r['method']} vs {p['peer']}: "
                                     f"{p['peer_status']}")
    return lines


def to_markdown(rows: list[dict], command: str) -> str:
    head = "| " + " | ".join(h for _, h, _ in MD_COLUMNS) + " |"
    sep = "|" + "|".join("---:" if dg else "---" for _, _, dg in MD_COLUMNS) + "|"
    lines = [f"Command: `{command}`", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPU(s), "
             f"Python {platform.python_version()}; seconds are medians over repeats; peer "
             f"notes under the table.", "", head, sep]
    notes = []
    for r in rows:
        cells = []
        for key, _, dg in MD_COLUMNS:
            v = r[key]
            cells.append(f"{v:.{dg}f}" if isinstance(v, float) and not math.isnan(v) and dg
                         else (f"{v:.0f}" if isinstance(v, float) and not math.isnan(v)
                               else _fmt(v)))
        note = f"- {r['case']} {r['peer']}: {r['peer_status']}"
        if r["peer"] and r["peer_status"] != "ok" and note not in notes:  # once per peer
            notes.append(note)
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + notes + ["", "Targets:", ""] + [f"- {t}" for t in targets(rows)]
    return "\n".join(lines) + "\n"


README_HEADER = "| case | N × D | TwoNN | ÷ fastest GEMM | TwoNN estimate |"


def _peer_cell(rows: list[dict], case: str, method: str, peer: str) -> str:
    """A peer's seconds and how many times idscope's ``method`` it took, or why it has none."""
    r = next((r for r in rows if (r["case"], r["method"], r["peer"]) == (case, method, peer)),
             None)
    if r is None:
        return ""
    if r["peer_status"] != "ok":
        return r["peer_status"].split(":")[0]  # "skipped", "timeout > 600 s", "failed"
    return f"{r['peer_seconds']:.1f} s ({r['speedup_vs_peer']:.1f}×)"


def readme_table(rows: list[dict]) -> list[str]:
    """The README's summary of ``rows``: per case, TwoNN's default and its ratio to the fastest
    GEMM, then each estimate alone against the peers (their times and how many times
    idscope's estimate they took)."""
    out = [README_HEADER + " scikit-dimension | DADApy | MLE estimate | scikit-dimension MLE "
           "| peak RSS MiB (data) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, case in CASES.items():
        first = {r["method"]: r for r in reversed(rows) if r["case"] == name}
        tw, te, me = (first.get(f"idscope_{m}") for m in ("twonn", "twonn_estimate",
                                                          "mle_estimate"))
        if tw is None or te is None:
            continue
        out.append(" | ".join([
            f"| {'memmap' if case.memmap else 'in memory'}", f"{tw['N']:,} × {tw['D']:,}",
            f"{tw['seconds']:.2f} s", f"{tw['ratio_to_gemm']:.2f}", f"{te['seconds']:.2f} s",
            _peer_cell(rows, name, te["method"], "skdim_twonn"),
            _peer_cell(rows, name, te["method"], "dadapy_twonn"),
            f"{me['seconds']:.2f} s" if me else "not run",
            _peer_cell(rows, name, me["method"], "skdim_mle") if me else "",
            f"{tw['peak_rss_mib']:.0f} ({tw['data_mib']:.0f}) |"]).replace(",", " "))
    return out


def print_table(rows: list[dict]) -> None:
    cols = [("case", 10), ("N", 6), ("D", 7), ("method", 14), ("seconds", 8),
            ("ratio_to_gemm", 7), ("peer", 13), ("peer_seconds", 8), ("speedup_vs_peer", 8),
            ("peak_rss_mib", 8), ("data_mib", 8)]
    print("  ".join(f"{c[:w]:>{w}}" for c, w in cols))
    for r in rows:
        print("  ".join(f"{_fmt(r[c]):>{w}}" for c, w in cols))


# ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small shapes (smoke run)")
    p.add_argument("--cases", default=",".join(CASES),
                   help=f"comma-separated subset of {', '.join(CASES)}")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"comma-separated subset of {', '.join(METHODS)}")
    p.add_argument("--repeats", type=int, default=3, help="idscope and GEMM repeats")
    p.add_argument("--peer-repeats", type=int, default=1)
    p.add_argument("--peer-timeout", type=float, default=900.0, help="seconds per peer run")
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--data-dir", default="/tmp/idscope-bench")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--diagnose", action="store_true",
                   help="also record how many points needed the exhaustive fallback")
    p.add_argument("--readme", action="store_true",
                   help="copy the summary of estimators.csv into README.md and exit")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if args.readme:
        table = readme_table(read_csv(Path(args.out) / "estimators.csv"))
        print(f"README.md: {splice_table(README_HEADER, table)} rows from estimators.csv")
        return 0

    from idscope._atomic import write_text

    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        p.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not set(methods) <= set(METHODS):
        p.error(f"unknown method(s) {sorted(set(methods) - set(METHODS))}; choose from "
                f"{list(METHODS)}")
    stem = "estimators-quick" if args.quick else "estimators"
    out = Path(args.out)
    csv_path, md_path = out / f"{stem}.csv", out / f"{stem}.md"
    command = "python benchmarks/estimators.py " + " ".join(argv if argv is not None
                                                              else sys.argv[1:])
    rows = [r for r in read_csv(csv_path) if r["case"] not in names]
    order = {c: i for i, c in enumerate(CASES)}
    rank = {f"idscope_{m}": i for i, m in enumerate(METHODS)}
    for name in names:
        case = CASES[name]
        n, d = case.shape(args.quick)
        path = make_data(data_path(Path(args.data_dir), n, d), n, d)
        peer_runs: dict[str, dict] = {}  # each peer once per case
        for method in methods:
            print(f"[{name}] N={n} D={d} idscope {method} ...", file=sys.stderr, flush=True)
            res = run_worker(path, case.memmap, method, args.repeats, args.repeats,
                             args.diagnose)
            peers = {}
            if not args.no_peers:
                for peer in PEERS[estimator(method)]:
                    if peer not in peer_runs:
                        print(f"[{name}] {peer} ...", file=sys.stderr, flush=True)
                        peer_runs[peer] = run_peer(peer, path, n, d, case.memmap,
                                                   args.peer_repeats, args.peer_timeout)
                    peers[peer] = peer_runs[peer]
            rows.extend(case_rows(name, n, d, method, res, peers))
            rows.sort(key=lambda r: (order.get(r["case"], 99), rank.get(r["method"], 99)))
            write_text(csv_path, to_csv(rows))
            write_text(md_path, to_markdown(rows, command.strip()))
    print_table(rows)
    print()
    for line in targets(rows):
        print(line)
    print(f"\nwrote {csv_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
