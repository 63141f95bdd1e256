"""Benchmark: capture a layer of 802 816 values per image for 2 000 images and profile it.

Not a test. Usage (from the repository root)::

    .venv/bin/python benchmarks/activations.py            # N = 2 000, 224×224×3 (minutes)
    .venv/bin/python benchmarks/activations.py --quick    # N = 300, a smoke run

Model: ``Conv2d(3, 16, 3, padding=1)`` on 224×224×3 images: 16·224·224 = 802 816 values per
image, 6.4 GB for 2 000 images in float32 (the size of VGG-16's pool1). Data: smooth
synthetic images with 8 latent factors (each image a random combination of 8 smooth random
fields plus a mean image and 1 % pixel noise), written once to a ``.npy`` file and read
batch by batch (the input, 1.2 GB, is never held in memory).

Each stage runs in its own process, which reports its peak resident set (``ru_maxrss``):

1. ``forward``: a plain forward pass over the data (same batches, same reading), timed;
2. ``capture``: ``idscope.activations`` of the conv layer to an activation store (timed;
   rows written behind on a background thread, or inside the hook with ``--write-in-hook``);
   in the last repeat the same process then runs ``idscope.representations.profile_store``
   with TwoNN (the paper's 20 resamples of 90 %; PCA off) on the stored 6.4 GB layer;
3. steps 1–2 alternate ``--repeats`` times and a last forward pass closes the series; the
   overhead is median(capture) / median(forward), which is robust to a shared machine's
   load changing during the run.

Targets: capture time ≤ 1.2 × the forward pass; peak RSS of stage 2 ≤ 2 GiB. Results are
printed and appended to ``benchmarks/results/activations.csv`` (rewritten atomically).

Storage matters: the capture writes 6.4 GB while a bare convolution computes it in seconds,
so on a disk slower than ~1 GB/s the kernel's dirty-page limits throttle the writes to disk
speed. ``--store-dir /dev/shm`` (RAM-backed; its pages are not in the process's RSS unless
mapped) measures the capture itself; the default measures the disk too. The
``store_fs`` column records which. ``--no-profile`` times the capture alone.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "activations.csv"
SEED = 20240611
LATENT = 8
RSS_LIMIT = 2 << 30
OVERHEAD_LIMIT = 1.2
COLUMNS = ["date", "store_fs", "write", "N", "values_per_image", "layer_bytes", "batch_size",
           "resamples", "forward_seconds", "forward_seconds_all", "capture_seconds",
           "capture_seconds_all", "capture_overhead", "overhead_limit", "profile_seconds",
           "capture_rss_gib", "peak_rss_bytes", "peak_rss_gib", "vmhwm_gib", "rss_limit_gib",
           "twonn", "twonn_std", "meets_targets", "threads", "loadavg_1m", "machine"]


def model():
    import torch
    from torch import nn

    torch.manual_seed(SEED % (2**31))
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1))


def make_data(path: Path, n: int, size: int) -> None:
    """Smooth synthetic images with LATENT factors, written in chunks to a .npy file."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(SEED)
    coarse = torch.from_numpy(rng.standard_normal((LATENT + 1, 3, 7, 7), dtype=np.float32))
    fields = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    fields = fields.reshape(LATENT + 1, -1).numpy()
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                    shape=(n, 3, size, size))
    step = 64
    for a in range(0, n, step):
        b = min(n, a + step)
        z = rng.standard_normal((b - a, LATENT)).astype(np.float32)
        imgs = fields[0] + z @ fields[1:] + 0.01 * rng.standard_normal(
            (b - a, fields.shape[1]), dtype=np.float32)
        out[a:b] = imgs.reshape(b - a, 3, size, size)
    out.flush()
    del out


def _rss() -> int:
    """Peak resident set of this process (``ru_maxrss``, KiB on Linux). Linux carries the
    peak of the image before ``exec`` over into it, so the parent process that launches the
    stages stays small (it makes no data and imports no torch before they finish)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _hwm() -> int:
    """``VmHWM`` of this program image (/proc/self/status; -1 elsewhere): a cross-check."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return -1


def stage_forward(data: Path, batch_size: int) -> dict:
    """Plain forward pass, reading the batches exactly as the capture does."""
    import torch

    X = np.load(data, mmap_mode="r")
    net = model().eval()
    n = X.shape[0]
    t0 = time.perf_counter()
    with torch.inference_mode():
        for a in range(0, n, batch_size):
            mm = np.memmap(X.filename, dtype=X.dtype, mode="r", offset=X.offset,
                           shape=X.shape)
            try:
                block = np.array(mm[a:a + batch_size])
            finally:
                mm._mmap.close()
            out = net(torch.from_numpy(block))
            del out
    return {"seconds": time.perf_counter() - t0, "peak_rss_bytes": _rss(), "hwm": _hwm()}


def stage_capture(data: Path, store: Path, batch_size: int, resamples: int,
                  do_profile: bool, background: bool) -> dict:
    import idscope
    from idscope.representations import profile_store

    X = np.load(data, mmap_mode="r")
    net = model()
    shutil.rmtree(store, ignore_errors=True)  # the previous repeat's store, outside the timing
    t0 = time.perf_counter()
    st = idscope.activations(net, X, layers=["0"], batch_size=batch_size, store=store,
                             resume=False, background=background)
    t_capture = time.perf_counter() - t0
    out = {"capture_seconds": t_capture, "rss_after_capture": _rss(),
           "values_per_image": st.info("0")["shape"][1], "profile_seconds": float("nan"),
           "twonn": float("nan"), "twonn_std": float("nan")}
    if do_profile:
        t0 = time.perf_counter()
        prof = profile_store(st, n_resamples=resamples, pca_threshold=None)
        row = prof.row("0")
        out.update(profile_seconds=time.perf_counter() - t0, twonn=row.twonn,
                   twonn_std=row.twonn_std, twonn_full=row.twonn_full, notes=row.notes)
    out["peak_rss_bytes"] = _rss()
    out["hwm"] = _hwm()
    return out


def _filesystem(path: Path) -> str:
    """The file-system type holding ``path`` (from /proc/mounts; '?' elsewhere)."""
    best, fs = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and str(path.resolve()).startswith(parts[1]) and len(
                    parts[1]) > len(best):
                best, fs = parts[1], f"{parts[2]} ({parts[1]})"
    except OSError:
        pass
    return fs


def run_stage(args: list[str]) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"stage {args[:2]} failed ({proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_results(row: dict) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from idscope._atomic import write_text

    rows = []
    if RESULTS.exists():
        with open(RESULTS, newline="") as fh:
            rows = [r for r in csv.DictReader(fh)]
    for r in rows:  # rows recorded before write-behind existed were written in the hook
        r.setdefault("write", "in hook")
    rows.append({k: row.get(k, "") for k in COLUMNS})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    write_text(RESULTS, buf.getvalue())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--resamples", type=int, default=20)
    p.add_argument("--workdir", default=None, help="folder for the input and the store "
                   "(default: a temporary folder, deleted afterwards)")
    p.add_argument("--store-dir", default=None,
                   help="folder for the activation store (default: the work folder); e.g. "
                        "/dev/shm to keep a slow disk out of the capture timing")
    p.add_argument("--no-profile", action="store_true", help="capture only")
    p.add_argument("--write-in-hook", action="store_true",
                   help="background=False: write each layer inside its hook (no write-behind)")
    p.add_argument("--repeats", type=int, default=3,
                   help="forward and capture runs, alternating (medians are reported)")
    p.add_argument("--quick", action="store_true", help="N = 300: a smoke run")
    p.add_argument("--no-record", action="store_true", help="do not write the CSV")
    p.add_argument("--stage", choices=("make", "forward", "capture"), help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--store", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.stage == "make":
        make_data(Path(args.data), args.n, args.size)
        print(json.dumps({"peak_rss_bytes": _rss()}))
        return 0
    if args.stage == "forward":
        print(json.dumps(stage_forward(Path(args.data), args.batch_size)))
        return 0
    if args.stage == "capture":
        print(json.dumps(stage_capture(Path(args.data), Path(args.store), args.batch_size,
                                       args.resamples, not args.no_profile,
                                       not args.write_in_hook)))
        return 0

    n = 300 if args.quick else args.n
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(
        prefix="idscope-bench-act-", dir=os.environ.get("IDSCOPE_BENCH_TMP")))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "input.npy"
    store_root = Path(tempfile.mkdtemp(prefix="idscope-bench-store-", dir=args.store_dir)
                      ) if args.store_dir else work
    store = store_root / "store"
    try:
        print(f"writing {n} synthetic {args.size}x{args.size}x3 images to {data} ...",
              flush=True)
        run_stage(["--stage", "make", "--data", str(data), "--n", str(n), "--size",
                   str(args.size)])
        common = ["--data", str(data), "--batch-size", str(args.batch_size)]
        fwds, caps = [], []
        for r in range(args.repeats):
            fwds.append(run_stage(["--stage", "forward", *common])["seconds"])
            print(f"forward pass: {fwds[-1]:.2f} s", flush=True)
            last = r == args.repeats - 1
            cap = run_stage(["--stage", "capture", *common, "--store", str(store),
                             "--resamples", str(args.resamples)]
                            + (["--no-profile"] if args.no_profile or not last else [])
                            + (["--write-in-hook"] if args.write_in_hook else []))
            caps.append(cap["capture_seconds"])
            print(f"capture: {caps[-1]:.2f} s", flush=True)
        fwds.append(run_stage(["--stage", "forward", *common])["seconds"])
        print(f"forward pass: {fwds[-1]:.2f} s", flush=True)
        if not args.no_profile:
            print(f"profile (TwoNN, {args.resamples} resamples, last capture's process): "
                  f"{cap['profile_seconds']:.2f} s", flush=True)
        store_fs = _filesystem(store_root)
    finally:
        if args.store_dir:
            shutil.rmtree(store_root, ignore_errors=True)
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    forward = statistics.median(fwds)
    capture = statistics.median(caps)
    overhead = capture / forward
    peak = cap["peak_rss_bytes"]
    ok = overhead <= OVERHEAD_LIMIT and peak <= RSS_LIMIT and not args.no_profile
    import torch

    row = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "store_fs": store_fs, "N": n,
           "write": "in hook" if args.write_in_hook else "behind",
           "values_per_image": cap["values_per_image"],
           "layer_bytes": n * cap["values_per_image"] * 4, "batch_size": args.batch_size,
           "resamples": args.resamples, "forward_seconds": round(forward, 3),
           "forward_seconds_all": ";".join(f"{t:.3f}" for t in fwds),
           "capture_seconds": round(capture, 3),
           "capture_seconds_all": ";".join(f"{t:.3f}" for t in caps),
           "capture_overhead": round(overhead, 3), "overhead_limit": OVERHEAD_LIMIT,
           "profile_seconds": round(cap["profile_seconds"], 2),
           "capture_rss_gib": round(cap["rss_after_capture"] / 2**30, 3),
           "vmhwm_gib": round(cap["hwm"] / 2**30, 3),
           "peak_rss_bytes": peak,
           "peak_rss_gib": round(peak / 2**30, 3), "rss_limit_gib": RSS_LIMIT / 2**30,
           "twonn": round(cap["twonn"], 3), "twonn_std": round(cap["twonn_std"], 3),
           "meets_targets": ok, "threads": torch.get_num_threads(),
           "loadavg_1m": round(os.getloadavg()[0], 2),
           "machine": f"{platform.machine()} {os.cpu_count()} cpus"}
    print(f"\nlayer: {n} x {cap['values_per_image']} float32 "
          f"({row['layer_bytes'] / 2**30:.2f} GiB)")
    print(f"capture overhead: {overhead:.3f} x plain forward (limit {OVERHEAD_LIMIT})")
    print(f"peak RSS (capture + profile): {peak / 2**30:.3f} GiB (limit 2 GiB; after the "
          f"capture: {cap['rss_after_capture'] / 2**30:.3f} GiB; VmHWM "
          f"{cap['hwm'] / 2**30:.3f} GiB)")
    print(f"activation store on: {store_fs}; rows written "
          f"{'inside the hook' if args.write_in_hook else 'behind (background thread)'}")
    if not args.no_profile:
        print(f"TwoNN ID of the layer: {cap['twonn']:.2f} ± {cap['twonn_std']:.2f} "
              f"(latent factors: {LATENT})")
    if not args.no_record:
        write_results(row)
        print(f"recorded in {RESULTS.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
