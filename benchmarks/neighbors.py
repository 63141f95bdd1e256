"""Benchmark: every exact neighbour path of idscope against scikit-learn, the peers and GEMM.

Grid (issue #14): N ∈ {10⁴, 10⁵, 10⁶ (D ≤ 20 only)} × D ∈ {2, 3, 5, 8, 12, 20, 50, 128, 784,
4096} of points uniform in the unit cube (float64 for D ≤ 50, float32 above, like network
activations), plus the issue's two TwoNN cases (30 000 × 3 and 20 000 × 8) and MNIST's size
(70 000 × 784). ``--data uniform relu gaussian cosine`` adds, in the same run, the cells with
D ≥ 1 024 and 5 000 ≤ N ≤ 50 000 (the issue's high-dimension target) on post-ReLU activations
of a 10-dimensional manifold (``benchmarks/relu_manifold.py``, the estimator benchmark's
data), Gaussian points and a smooth 5-manifold embedded by cosines. Methods, each timed in
its own process after a warm-up on tiny data:

- ``idscope_twonn`` / ``idscope_mle``: ``idscope.twonn(X)`` / ``idscope.mle(X, k=20)`` with
  their defaults (the dispatch picks the path; the graph interval searches 6 and 80
  neighbours, and TwoNN fits 200 bootstrap resamples);
- ``twonn_estimate`` / ``mle_estimate``: what the peers compute, the estimate alone:
  ``twonn(X, interval="independent", n_bootstrap=0)`` (no interval) and ``mle(X, k=20,
  interval="independent")`` (its closed-form interval costs nothing); the comparison with
  the peers uses these;
- ``tree_k2`` / ``brute_k2``: ``idscope.kneighbors(X, 2, algorithm=...)``, each exact path
  (``tree_k6``, ``brute_k6``, ``tree_k20``, ``brute_k20``, for the dispatch's dependence on
  k, only when named in ``--methods``);
- ``ckdtree_k2`` (D ≤ 20): SciPy's raw ``cKDTree(X).query(X, k=3, workers=-1)``, the floor
  of the exact tree path (which adds the float64 verification and the ties);
- ``sklearn_twonn``: scikit-learn's ``NearestNeighbors(n_neighbors=2)`` search (what
  scikit-dimension and DADApy call) plus idscope's TwoNN arithmetic on its result (the
  estimate alone, as ``twonn_estimate``);
- ``skdim_twonn``, ``skdim_mle``, ``dadapy_twonn``: the peers (``benchmarks/peers``; DADApy
  has no Levina–Bickel MLE);
- ``gemm_numpy`` / ``gemm_torch`` (D ≥ 128): the general float32 product ``X @ Y.T`` (``Y`` a
  copy of ``X``) with numpy's BLAS (``sgemm``) and with torch; the reference, "the fastest
  GEMM", is the faster of the two. ``syrk_numpy``: numpy's ``X @ X.T`` on one array, which
  numpy hands to BLAS ``ssyrk`` (the symmetric product: half the multiplications; on this
  machine's OpenBLAS it is slower than the general product below D ≈ 800).

A method that does not finish within ``--limit`` seconds (plus a minute for start-up) is
killed and recorded as ``> limit`` (this machine has 2 shared cores); it is then not run on
the cells that are larger in both N and D (every method's cost grows with both), which are
recorded as ``> limit`` with the cell where it was killed. Where idscope also takes longer
than ``--limit``, ``--decide`` settles the comparison without waiting for every peer to
finish: each peer's limit is idscope's time for the same estimate at that cell, so a peer
killed then is slower than idscope (run it on those cells with ``--keep``, which keeps the
other rows and records every command). ``--side-limit`` gives the methods no peer is
compared with (the defaults, each path alone, scikit-learn, the products) a shorter limit
than the estimates, so that one run of the whole grid with ``--decide`` costs about idscope's
estimates plus as long again for each peer. A GEMM whose N × N float32
result would not fit in half the memory is not run (``n/a``). idscope's,
scikit-learn's and the GEMM timings of one cell run in one worker process, one after the
other; ``--repeats`` rounds are run of the timings shorter than ``--repeat-below`` seconds
(the fastest is kept: short timings are the noisy ones). Results:
``benchmarks/results/neighbors.csv`` and ``.md`` (``neighbors-KIND.*`` for the other data).
They are rewritten after each timing: an interrupted run keeps what it measured, and the same
command with ``--resume`` measures only what is missing.
Run ``python
benchmarks/neighbors.py --help`` for the options; the README records the commands of the
tables it shows, which ``--readme`` copies there from the results files: the uniform table,
the high-dimension cells of every data kind, and the count of targets met.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from readme import splice_table

from idscope._atomic import write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PEER_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
PEER_SCRIPT = ROOT / "benchmarks" / "peers" / "run_peer.py"
MLE_K = 20
NS = (10_000, 100_000, 1_000_000)
DS = (2, 3, 5, 8, 12, 20, 50, 128, 784, 4096)
EXTRA = ((30_000, 3), (20_000, 8), (70_000, 784))
HIGH_D = 1024  # the other data kinds run the cells with D >= HIGH_D and 5 000 <= N <= 50 000
OURS = ("idscope_twonn", "twonn_estimate", "idscope_mle", "mle_estimate", "tree_k2",
        "ckdtree_k2", "brute_k2")
ON_REQUEST = ("tree_k6", "brute_k6", "tree_k20", "brute_k20")  # only when named
GEMMS = ("gemm_numpy", "gemm_torch", "syrk_numpy")
PEERS = ("skdim_twonn", "skdim_mle", "dadapy_twonn")
COLUMNS = ["N", "D", "method", "seconds", "status", "dimension", "load"]


def grid() -> list[tuple[int, int]]:
    cells = [(n, d) for n in NS for d in DS if n < 1_000_000 or d <= 20]
    return cells + [c for c in EXTRA if c not in cells]


def cells_for(kind: str, cells: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Every cell for uniform points; the high-dimension cells for the other kinds."""
    if kind == "uniform":
        return cells
    return [(n, d) for n, d in cells if d >= HIGH_D and 5_000 <= n <= 50_000]


def methods_for(n: int, d: int, requested: list[str] | None = None) -> list[str]:
    """The methods timed at a cell: every one by default, else those ``requested``."""
    out = list(OURS) + [m for m in ON_REQUEST if requested and m in requested]
    out += ["sklearn_twonn"] + list(PEERS)
    if d > 20:
        out = [m for m in out if not m.startswith(("tree_", "ckdtree_"))]
    if d >= 128:
        out += list(GEMMS)
    return [m for m in out if not requested or m in requested]


DATA = {
    "uniform": "uniform points in the unit cube",
    "relu": "post-ReLU activations of a 10-dimensional manifold (benchmarks/relu_manifold.py: "
            "uncentred, non-negative, many exact zeros)",
    "gaussian": "standard Gaussian points",
    "cosine": "a smooth 5-manifold embedded by cosines, x_j = cos(w_j·z + b_j), z uniform in "
              "[0, 1]⁵, w_j ~ N(0, 4·I₅), b_j uniform in [0, 2π)",
}


def _points(kind: str, n: int, d: int, a: int, rows: int) -> np.ndarray:
    rng = np.random.default_rng([n, d, a])
    if kind == "uniform":
        return rng.random((rows, d))
    if kind == "gaussian":
        return rng.standard_normal((rows, d))
    emb = np.random.default_rng([n, d, 5])  # the same embedding for every block
    w, b = 2.0 * emb.standard_normal((5, d)), emb.uniform(0, 2 * np.pi, d)
    return np.cos(rng.random((rows, 5)) @ w + b)


def _blocks_of(kind: str, n: int, d: int):
    """(start, stop, rows) of the points of ``kind``, in blocks of about 64 MB."""
    if kind == "relu":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from relu_manifold import relu_manifold

        yield from relu_manifold(n, d)[1]
        return
    rows = max(1, (64 << 20) // (8 * d))
    for a in range(0, n, rows):
        yield a, min(n, a + rows), _points(kind, n, d, a, min(rows, n - a))


def data_file(data_dir: Path, n: int, d: int, kind: str = "uniform") -> Path:
    """Points of ``kind`` (:data:`DATA`), seeded by (N, D); written once (float32 for the
    ReLU data and above D = 50, float64 otherwise)."""
    path = data_dir / f"{kind}_{n}x{d}.npy"
    if not path.exists():
        dtype = np.float64 if d <= 50 and kind != "relu" else np.float32
        out = np.lib.format.open_memmap(path.with_suffix(".part"), mode="w+", dtype=dtype,
                                        shape=(n, d))
        for a, b, block in _blocks_of(kind, n, d):
            out[a:b] = block
        out.flush()
        del out
        os.replace(path.with_suffix(".part"), path)
    return path


# ----------------------------------------------------------------------------------------
# worker: one method on one file, in its own process
# ----------------------------------------------------------------------------------------
def _run_ours(method: str, X: np.ndarray) -> float:
    import idscope

    if method == "idscope_twonn":
        return idscope.twonn(X).dimension
    if method == "twonn_estimate":
        return idscope.twonn(X, interval="independent", n_bootstrap=0).dimension
    if method == "idscope_mle":
        return idscope.mle(X, k=MLE_K).dimension
    if method == "mle_estimate":
        return idscope.mle(X, k=MLE_K, interval="independent").dimension
    if method.startswith(("tree_k", "brute_k")):
        algorithm, k = method.split("_k")
        idscope.kneighbors(X, int(k), algorithm=algorithm)
        return float("nan")
    if method == "ckdtree_k2":
        from scipy.spatial import cKDTree

        cKDTree(X, balanced_tree=False).query(X, k=3, workers=-1)
        return float("nan")
    if method == "sklearn_twonn":
        from sklearn.neighbors import NearestNeighbors

        dist, idx = NearestNeighbors(n_neighbors=2).fit(X).kneighbors()
        return idscope.twonn(idscope.KNeighbors(dist, idx), interval="independent",
                             n_bootstrap=0).dimension
    if method == "gemm_numpy":
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        Y32 = X32.copy()  # another array: numpy calls the general sgemm, not ssyrk
        X32 @ Y32.T
        return float("nan")
    if method == "syrk_numpy":
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        X32 @ X32.T
        return float("nan")
    if method == "gemm_torch":
        import torch

        Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        Xt @ Xt.T
        return float("nan")
    raise SystemExit(f"unknown method {method}")


def worker(methods: str, path: str, repeats: str = "1", below: str = "inf") -> None:
    """Time each of the comma-separated ``methods`` in turn (one import of idscope and
    torch for all), ``repeats`` rounds interleaved so that all see the same load (a method
    whose first round took ``below`` seconds or more is not repeated), printing one JSON
    line as each finishes."""
    X = np.load(path)
    tiny = np.random.default_rng(0).random((64, X.shape[1])).astype(X.dtype)
    for method in methods.split(","):
        _run_ours(method, tiny)
    first: dict[str, float] = {}
    for _ in range(int(repeats)):
        for method in methods.split(","):
            if first.get(method, 0.0) >= float(below):
                continue
            t0 = time.perf_counter()
            dim = _run_ours(method, X)
            sec = time.perf_counter() - t0
            first.setdefault(method, sec)
            print(json.dumps({"method": method, "seconds": sec, "dimension": dim}),
                  flush=True)


def measure_ours(methods: list[str], path: Path, limits: dict[str, float], repeats: int = 1,
                 below: float = float("inf")) -> dict[str, dict]:
    """Run our methods in one worker; a method still running when its limit (``limits``,
    counted from the end of the previous one) expires is killed and recorded as
    ``> limit``, and the methods after it are run in a fresh worker."""
    out: dict[str, dict] = {}
    todo = list(methods)

    def limit() -> float:  # of the method running now (the repeated rounds: the longest)
        return limits[todo[0]] if todo else max(limits[m] for m in methods)

    while todo:
        cmd = [sys.executable, __file__, "--worker", ",".join(todo), str(path), str(repeats),
               str(below)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=ROOT)
        deadline = time.monotonic() + limit() + 60  # + start-up and warm-up
        lines = []
        os.set_blocking(proc.stdout.fileno(), False)
        while proc.poll() is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line:
                lines.append(line)
                r = json.loads(line)
                if r["method"] in todo:
                    todo.remove(r["method"])
                deadline = time.monotonic() + limit() + 5
            else:
                time.sleep(0.2)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        lines += [ln for ln in (proc.stdout.read() or "").splitlines(True) if ln]
        for line in lines:  # the fastest of the rounds
            r = json.loads(line)
            if r["method"] not in out or r["seconds"] < out[r["method"]]["seconds"]:
                out[r["method"]] = {"status": "ok", "seconds": r["seconds"],
                                    "dimension": r["dimension"]}
            if r["method"] in todo:
                todo.remove(r["method"])
        if todo:
            killed_at = limit()
            first = todo.pop(0)
            failed = proc.returncode not in (0, -9) and proc.stderr is not None
            tail = (proc.stderr.read().strip().splitlines() or ["?"])[-1] if failed else ""
            out[first] = {"status": f"failed: {tail[:100]}" if failed
                          else limit_text(killed_at)}
    return out


def over_limit_before(results: list[dict], n: int, d: int, method: str,
                      limit: float = float("inf")) -> str | None:
    """The status of ``method`` if it was killed, at a limit of ``limit`` seconds or more,
    at a cell no larger in N and D (then it cannot finish here within ``limit``), else
    None."""
    for r in results:
        rn, rd = int(r["N"]), int(r["D"])
        if (r["method"] == method and str(r["status"]).startswith(">") and rn <= n
                and rd <= d and (rn, rd) != (n, d)
                and float(str(r["status"]).split()[1]) >= limit):
            killed = str(r["status"]).split()[1]
            return f"> {killed} s (killed at {rn}x{rd})"
    return None


# --decide: the estimate of idscope that each peer is compared with
COMPARED_WITH = {"skdim_twonn": "twonn_estimate", "dadapy_twonn": "twonn_estimate",
                 "sklearn_twonn": "twonn_estimate", "skdim_mle": "mle_estimate"}


def limit_text(limit: float) -> str:
    """``> 60 s``, or ``> 290.42 s`` for a limit that is not a whole second."""
    return f"> {limit:.0f} s" if limit == round(limit) else f"> {limit:.2f} s"


def gemm_too_big(n: int) -> bool:
    """An N × N float32 product that would need more than half the memory."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return 4 * n * n > total // 2


def measure_peer(method: str, path: Path, limit: float, repeats: int = 1,
                 below: float = float("inf")) -> dict:
    """One peer in its own process: the fastest of ``repeats`` runs (no second run after
    one of ``below`` seconds or more), as for idscope."""
    if not PEER_PYTHON.exists():
        return {"status": "peers not installed (bash benchmarks/peers/setup.sh)"}
    cmd = [str(PEER_PYTHON), str(PEER_SCRIPT), str(path), "--method", method, "--k",
           str(MLE_K), "--repeats", str(repeats), "--repeat-below", str(below)]
    # killed once its first run must have passed the limit: a second run follows only a
    # first one under `below` seconds (60 s more for loading the data and the warm-up)
    timeout = limit + (repeats - 1) * min(below, limit) + 60
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"status": limit_text(limit)}
    if proc.returncode != 0:
        return {"status": "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:100]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    sec = out["seconds"]
    if min(sec) > limit:
        return {"status": limit_text(limit)}
    return {"status": "ok", "seconds": min(sec), "dimension": out.get("dimension")}


# ----------------------------------------------------------------------------------------
# tables
# ----------------------------------------------------------------------------------------
def _sec(rows: dict, m: str) -> float | None:
    r = rows.get(m)
    return r["seconds"] if r and r["status"] == "ok" else None


def _cell(rows: dict, m: str) -> str:
    r = rows.get(m)
    if r is None:
        return ""
    if r["status"] != "ok":
        return r["status"].split(" (")[0] if r["status"].startswith(">") else "n/a"
    return f"{r['seconds']:.2f}"


def by_cells(results: list[dict]) -> dict[tuple[int, int], dict]:
    """The rows of each cell (N, D), by method."""
    out: dict[tuple[int, int], dict] = {}
    for r in results:
        out.setdefault((int(r["N"]), int(r["D"])), {})[r["method"]] = r
    return out


def summarise(results: list[dict]) -> tuple[str, list[str]]:
    """The table (one row per cell) and the issue's targets, each met or MISSED: the
    estimate alone against every peer (which compute no interval), the issue's two TwoNN
    cases against scikit-learn's search plus the same arithmetic, and at D >= 1 024 the
    default TwoNN (with its interval) against the fastest general product."""
    by_cell = by_cells(results)
    timed = {r["method"] for r in results}
    cols = (list(OURS) + [m for m in ON_REQUEST if m in timed] + ["sklearn_twonn"]
            + list(PEERS) + list(GEMMS))
    head = (["N × D"] + cols + ["TwoNN ÷ fastest GEMM", "TwoNN ÷ syrk",
                                "fastest peer TwoNN ÷ estimate", "peer MLE ÷ estimate"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    checks = []
    for (n, d), rows in sorted(by_cell.items()):
        ours, gemm = _sec(rows, "idscope_twonn"), _fastest_gemm(rows)
        ratios = _gemm_ratios(rows)
        speeds = []
        for mine, theirs in ESTIMATES:
            t = _sec(rows, mine)
            done, floor = _peer_times(rows, theirs)
            speeds.append(_speedup(rows, mine, theirs))
            if t and done:
                checks.append(f"{n} x {d} {mine}: fastest peer {min(done):.2f} s, idscope "
                              f"{t:.2f} s: {'met' if t <= min(done) else 'MISSED'}")
            elif t and floor:
                # a peer killed at the limit is at least that slow; idscope beyond it is
                # not decided either way
                checks.append(f"{n} x {d} {mine}: every peer {limit_text(min(floor))}, idscope "
                              f"{t:.2f} s: " + ("met" if t <= min(floor) else
                                               "not decided (both beyond the limit)"))
            elif not t and done and mine in rows:
                checks.append(f"{n} x {d} {mine}: fastest peer {min(done):.2f} s, idscope "
                              f"{_cell(rows, mine)}: MISSED")
            elif not t and mine in rows:
                checks.append(f"{n} x {d} {mine}: idscope {_cell(rows, mine)}, every peer "
                              f"beyond the limit or not run: not decided")
        lines.append("| " + " | ".join([f"{n:,} × {d}"] + [_cell(rows, c) for c in cols]
                                       + ratios + speeds) + " |")
        est, sk = _sec(rows, "twonn_estimate"), _sec(rows, "sklearn_twonn")
        if (n, d) in ((30_000, 3), (20_000, 8)) and est and sk:
            checks.append(f"TwoNN {n} x {d}: {est:.2f} s vs scikit-learn search + the same "
                          f"arithmetic {sk:.2f} s: {'met' if est <= sk else 'MISSED'}")
        if d >= 1024 and ours and gemm:
            checks.append(f"{n} x {d}: TwoNN (default interval) {ours / gemm:.2f}x the "
                          f"fastest GEMM: {'met' if ours <= gemm else 'MISSED'}")
    return "\n".join(lines), checks


ESTIMATES = (("twonn_estimate", ("skdim_twonn", "dadapy_twonn")),
             ("mle_estimate", ("skdim_mle",)))


def _fastest_gemm(rows: dict) -> float | None:
    gemms = [s for s in (_sec(rows, "gemm_numpy"), _sec(rows, "gemm_torch")) if s]
    return min(gemms) if gemms else None


def _gemm_ratios(rows: dict) -> list[str]:
    """The default TwoNN's time over the fastest general product and over numpy's syrk."""
    ours, gemm, syrk = _sec(rows, "idscope_twonn"), _fastest_gemm(rows), _sec(rows, "syrk_numpy")
    return [f"{ours / gemm:.2f}" if ours and gemm else "",
            f"{ours / syrk:.2f}" if ours and syrk else ""]


def _peer_times(rows: dict, peers: tuple[str, ...]) -> tuple[list[float], list[float]]:
    """The peers' finished times, and the limits of those killed (at least that slow)."""
    done = [s for s in (_sec(rows, p) for p in peers) if s]
    floor = [float(rows[p]["status"].split()[1]) for p in peers
             if p in rows and rows[p]["status"].startswith(">")]
    return done, floor


def _speedup(rows: dict, mine: str, peers: tuple[str, ...]) -> str:
    """The fastest peer's time over idscope's estimate (``> x`` where every peer was killed)."""
    t = _sec(rows, mine)
    done, floor = _peer_times(rows, peers)
    return (f"{min(done) / t:.1f}" if t and done else
            f"> {min(floor) / t:.1f}" if t and floor else "")


def results_file(kind: str, ext: str) -> Path:
    """``neighbors.csv`` / ``.md`` for uniform data, ``neighbors-KIND.*`` for the others."""
    return RESULTS / (f"neighbors.{ext}" if kind == "uniform" else f"neighbors-{kind}.{ext}")


def recorded_commands(kind: str) -> list[str]:
    """The commands recorded in the results table of ``kind`` (none if there is none)."""
    path = results_file(kind, "md")
    lines = path.read_text().splitlines() if path.exists() else []
    line = next((ln for ln in lines if ln.startswith("Command")), "")
    return [c for c in line.split("`")[1::2]]


RESUMED = (" A command was interrupted and resumed (`--resume`): its rows were measured in "
           "more than one sitting.")


def was_resumed(kind: str) -> bool:
    """Whether the results file of ``kind`` records a command that was resumed."""
    path = results_file(kind, "md")
    return path.exists() and "interrupted and resumed" in path.read_text()


def write(results: list[dict], command: str, kind: str = "uniform",
          resumed: bool = False) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    for r in results:
        w.writerow({c: r.get(c, "") for c in COLUMNS})
    # atomically, both: a run stopped while writing leaves the previous files whole
    write_text(results_file(kind, "csv"), buf.getvalue())
    table, checks = summarise(results)
    loads = [float(r["load"]) for r in results if r.get("load") not in (None, "")]
    load = (f" 1-minute load average when the rows were recorded: {min(loads):.1f} to "
            f"{max(loads):.1f}." if loads else "")
    commands = "Commands" if ", then " in command else "Command"
    command = ", then ".join(f"`{c}`" for c in command.split(", then "))
    text = (f"# Neighbour paths: idscope vs scikit-learn, peers and GEMM\n\n{commands}: {command}"
            f"\n\nSeconds after a warm-up: the fastest of `--repeats` interleaved rounds for "
            f"idscope, scikit-learn and the products (one worker process per cell), and of "
            f"as many runs of each peer (one process per peer and cell), a timing of "
            f"`--repeat-below` seconds or more not being repeated; {DATA[kind]}; "
            f"`> N s`: killed at the per-cell limit (after being killed at a smaller cell, "
            f"the larger ones are not run; a peer's `> N s` with decimals comes from "
            f"`--decide`: killed at idscope's time for the same estimate, it was slower); "
            f"`n/a`: not run (a GEMM whose N × N result needs more than half the memory) "
            f"or failed. `idscope_twonn` / `idscope_mle`: the defaults, with the graph interval; "
            f"`twonn_estimate` / `mle_estimate`: the estimate alone, what the peers compute "
            f"(the peer columns divide by these). Fastest GEMM: the faster general product "
            f"`X @ Y.T` (numpy's sgemm, torch); syrk: numpy's symmetric `X @ X.T` (half the "
            f"multiplications). Machine: {os.cpu_count()} CPU core(s).{load}"
            + (RESUMED if resumed else "") + "\n\n"
            f"{table}\n\n## Targets\n\n"
            + "\n".join(f"- {c}" for c in checks) + "\n")
    write_text(results_file(kind, "md"), text)


TABLE_HEADER = "| N × D | idscope_twonn"
HIGH_HEADER = "| data | N × D | idscope_twonn | fastest GEMM |"
TARGETS_HEADER = "| data | targets | met | MISSED | not decided |"


def readme_table() -> list[str]:
    """The uniform table, as ``neighbors.md`` shows it (from ``neighbors.csv``)."""
    return summarise(read_results("uniform"))[0].splitlines()


def read_results(kind: str) -> list[dict]:
    """The rows of ``kind``'s results file (none if it does not exist), seconds as floats."""
    path = results_file(kind, "csv")
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [dict(r, seconds=float(r["seconds"]) if r["seconds"] else "")
                for r in csv.DictReader(f)]


def high_table() -> list[str]:
    """The issue's high-dimension cells (D >= 1 024, 5 000 <= N <= 50 000) of every data
    kind: the default TwoNN against the fastest general product and syrk, the estimates
    against the fastest peer."""
    head = (HIGH_HEADER + " TwoNN ÷ fastest GEMM | TwoNN ÷ syrk | fastest peer TwoNN ÷ "
            "estimate | peer MLE ÷ estimate |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for kind in DATA:
        for (n, d), rows in sorted(by_cells(read_results(kind)).items()):
            if d < HIGH_D or not 5_000 <= n <= 50_000:
                continue
            gemm = _fastest_gemm(rows)
            cells = [kind, f"{n:,} × {d}", _cell(rows, "idscope_twonn"),
                     f"{gemm:.2f}" if gemm else ""]
            cells += _gemm_ratios(rows) + [_speedup(rows, m, p) for m, p in ESTIMATES]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def targets_table() -> list[str]:
    """How many of each data kind's targets (``## Targets`` of its results file) were met,
    missed and not decided."""
    lines = [TARGETS_HEADER, "|---|---|---|---|---|"]
    for kind in DATA:
        results = read_results(kind)
        if not results:
            continue
        _, checks = summarise(results)
        ends = [c.rsplit(": ", 1)[1] for c in checks]
        counts = [sum(e == "met" for e in ends), sum(e == "MISSED" for e in ends),
                  sum(e.startswith("not decided") for e in ends)]
        lines.append("| " + " | ".join([kind, str(len(checks))] + [str(c) for c in counts])
                     + " |")
    return lines


def profile(n: int, d: int, k: int) -> None:
    """Where ``kneighbors(X, k)`` spends its time on uniform float32 data of shape (n, d),
    beside numpy's general product ``X @ Y.T`` (``sgemm``) in the same process: cProfile's
    top entries. (Not ``X @ X.T``: numpy's ``ssyrk`` of a large N segfaults in some OpenBLAS
    builds, numpy/numpy#19685; here N = 30 000 at D = 784.)"""
    import cProfile
    import pstats

    import idscope

    X = np.random.default_rng([n, d]).random((n, d), dtype=np.float32)
    idscope.kneighbors(X[:64], min(k, 63))
    Y = X.copy()
    t0 = time.perf_counter()
    X @ Y.T
    gemm = time.perf_counter() - t0
    del Y
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    idscope.kneighbors(X, k)
    prof.disable()
    knn = time.perf_counter() - t0
    print(f"{n} x {d}, k = {k}: numpy X @ Y.T {gemm:.2f} s, kneighbors {knn:.2f} s "
          f"({knn / gemm:.2f}x); load average {os.getloadavg()[0]:.1f}")
    pstats.Stats(prof).sort_stats("tottime").print_stats(12)


def run_kind(kind: str, cells: list[tuple[int, int]], args: argparse.Namespace,
             data_dir: Path, command: str) -> None:
    """Time every method at every cell on points of ``kind``, rewriting its results files
    after each timing (an interrupted run keeps what it measured)."""
    # with --keep, the rows this run does not measure stay in the table, and its command
    # is recorded after the earlier ones
    results, resumed = [], args.resume
    if args.resume and results_file(kind, "csv").exists():
        # the same command again: keep every row, measure only the missing ones
        recorded = recorded_commands(kind)
        if recorded[-1:] != [command]:
            raise SystemExit(f"--resume: {results_file(kind, 'md').name} records "
                             f"{recorded[-1:] or 'no command'}, not {command!r}")
        results = read_results(kind)
        command = ", then ".join(recorded)
    elif args.keep and results_file(kind, "csv").exists():
        results = [r for r in read_results(kind) if (int(r["N"]), int(r["D"])) not in cells
                   or (args.methods and r["method"] not in args.methods)]
        command = ", then ".join(recorded_commands(kind) + [command])
        resumed = was_resumed(kind)  # an earlier command's note stays with its rows
    side = args.limit if args.side_limit is None else args.side_limit

    def limit_of(m: str) -> float:  # the estimates the peers are compared with, and the rest
        return args.limit if m in COMPARED_WITH.values() else side

    measured = {(int(r["N"]), int(r["D"]), r["method"]) for r in results}
    for n, d in cells:
        methods = [m for m in methods_for(n, d, args.methods) if (n, d, m) not in measured]
        if not methods:
            continue
        skipped = {m: {"status": st} for m in methods if m not in PEERS
                   and (st := over_limit_before(results, n, d, m, limit_of(m))) is not None}
        if gemm_too_big(n):
            skipped.update({m: {"status": f"n/a: a {n}² float32 product needs "
                                          f"{4 * n * n / 2**30:.0f} GiB"}
                            for m in methods if m in GEMMS})
        ours = [m for m in methods if m not in PEERS and m not in skipped]
        if any(m not in skipped for m in methods):
            path = data_file(data_dir, n, d, kind)
        got = (measure_ours(ours, path, {m: limit_of(m) for m in ours}, args.repeats,
                            args.repeat_below) if ours else {})
        got.update(skipped)
        # a resumed run's earlier rows of this cell (the limits of --decide read them)
        earlier = {r["method"]: r for r in results if (int(r["N"]), int(r["D"])) == (n, d)}
        for m in methods:
            limit = args.limit
            mine = _sec({**earlier, **got}, COMPARED_WITH.get(m, ""))
            if args.decide and mine:
                # killed at idscope's own time (rounded up): then slower than idscope; with
                # --side-limit, never below it (a peer that finishes keeps its own time)
                limit = math.ceil(100 * mine) / 100
                if args.side_limit is not None:
                    limit = max(limit, args.side_limit)
            if m not in got and (st := over_limit_before(results, n, d, m, limit)):
                got[m] = {"status": st}
            res = got[m] if m in got else measure_peer(m, path, limit, args.repeats,
                                                       args.repeat_below)
            r = {"N": n, "D": d, "method": m, "seconds": "", **res,
                 "load": f"{os.getloadavg()[0]:.1f}"}
            results.append(r)
            print(f"{kind} {n} x {d} {m}: {r['status']} {r['seconds']}", flush=True)
            write(results, command, kind, resumed=resumed)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", nargs=4, metavar=("METHODS", "FILE", "REPEATS", "BELOW"),
                   help=argparse.SUPPRESS)
    p.add_argument("--repeats", type=int, default=1,
                   help="rounds of every timing per cell, the peers' too (fastest kept)")
    p.add_argument("--repeat-below", type=float, default=float("inf"), metavar="SECONDS",
                   help="repeat only the timings whose first round took less than this")
    p.add_argument("--limit", type=float, default=120.0, help="seconds per method and cell")
    p.add_argument("--cells", nargs="*", default=None,
                   help="cells as NxD (default: the whole grid and the extra cases)")
    p.add_argument("--methods", nargs="*", default=None, help="only these methods")
    p.add_argument("--profile", metavar="NxD",
                   help="profile kneighbors(X, --k) on uniform float32 data of this shape")
    p.add_argument("--k", type=int, default=6, help="neighbours for --profile (default 6, "
                   "what TwoNN's graph interval searches)")
    p.add_argument("--table-only", metavar="COMMAND",
                   help="rewrite neighbors.md from neighbors.csv, recording COMMAND")
    p.add_argument("--readme", action="store_true",
                   help="copy the table of neighbors.md into README.md (replacing the one "
                        "there) and exit")
    p.add_argument("--keep", action="store_true",
                   help="keep the rows of benchmarks/results/neighbors.csv that this run "
                        "does not measure (other cells, other --methods)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run of the same command: keep the rows it "
                        "measured, measure the missing ones")
    p.add_argument("--decide", action="store_true",
                   help="give each peer, as its limit, idscope's time for the same estimate "
                        "at that cell (rounded up to 0.01 s): a peer killed then is slower "
                        "than idscope, which decides the comparison where both take longer "
                        "than --limit (idscope's methods keep --limit)")
    p.add_argument("--side-limit", type=float, default=None, metavar="SECONDS",
                   help="seconds for the methods no peer is compared with (the defaults, "
                        "each path alone, scikit-learn, the products; default: --limit), so "
                        "that one run of the whole grid fits in hours; with --decide, a "
                        "peer's limit is then the longer of idscope's time and this")
    p.add_argument("--data", nargs="+", choices=sorted(DATA), default=["uniform"],
                   help="the points: uniform runs every cell, the others the cells with "
                        f"D >= {HIGH_D} and 5 000 <= N <= 50 000 (their results go to "
                        "neighbors-DATA.csv/.md)")
    p.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "idscope-neighbors"),
                   help="where the data files are written once (default: a temporary folder)")
    args = p.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0
    if args.profile:
        profile(*map(int, args.profile.lower().split("x")), args.k)
        return 0
    if args.readme:
        for header, table in ((TABLE_HEADER, readme_table()), (HIGH_HEADER, high_table()),
                              (TARGETS_HEADER, targets_table())):
            print(f"README.md: {splice_table(header, table)} rows of {header!r}")
        return 0
    command = "python benchmarks/neighbors.py " + " ".join(
        a for a in (argv or sys.argv[1:]) if a != "--resume")
    if args.table_only:
        for kind in args.data:
            write(read_results(kind), args.table_only, kind)
        return 0
    cells = grid() if args.cells is None else [tuple(map(int, c.lower().split("x")))
                                               for c in args.cells]
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    for kind in args.data:
        run_kind(kind, cells_for(kind, cells), args, data_dir, command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
