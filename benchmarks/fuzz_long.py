"""The long run of the fuzz suite (``tests/test_fuzz.py``): the same properties as in CI, on
fresh random cases (a recorded seed), at least 20 000 cases in all.

Each hypothesis test of the suite runs in its own pytest process with
``IDSCOPE_FUZZ_SCALE`` set so that it draws its share of the cases (cheap tests draw more);
the counts come from hypothesis' own statistics. Writes ``benchmarks/results/fuzz_long.md``
(``--out``) with the command, the seed, every test's cases, time and outcome.

    nice python benchmarks/fuzz_long.py                 # about 20 400 cases
    python benchmarks/fuzz_long.py --fraction 0.05      # a quick look (about 1 000)
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# test name -> (its CI budget in tests/test_fuzz.py, cases in the long run)
PLAN = {
    "test_fuzz_estimators": (60, 5000),
    "test_fuzz_kneighbors_against_brute_force": (40, 5000),
    "test_fuzz_label_sharpness": (40, 4500),
    "test_fuzz_configs": (40, 4500),
    "test_fuzz_files_through_load_and_the_cli": (40, 700),
    "test_fuzz_manifests": (40, 700),
}
STATS = re.compile(r"- (\d+) passing, (\d+) failing, and (\d+) invalid")


def run(name: str, ci: int, cases: int, seed: int) -> dict:
    env = dict(os.environ, IDSCOPE_FUZZ_SCALE=repr(cases / ci))
    cmd = [sys.executable, "-m", "pytest", f"tests/test_fuzz.py::{name}", "-q",
           "-p", "no:cacheprovider", "--hypothesis-show-statistics",
           f"--hypothesis-seed={seed}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    found = [tuple(map(int, m)) for m in STATS.findall(proc.stdout)]
    passing = sum(f[0] for f in found)
    failing = sum(f[1] for f in found)
    invalid = sum(f[2] for f in found)
    tail = "\n".join(proc.stdout.strip().splitlines()[-40:])
    return {"name": name, "planned": cases, "passing": passing, "failing": failing,
            "invalid": invalid, "seconds": seconds, "rc": proc.returncode,
            "log": tail if proc.returncode else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20261202, help="hypothesis seed")
    ap.add_argument("--fraction", type=float, default=1.0,
                    help="run this fraction of the planned cases (1.0: >= 20 000)")
    ap.add_argument("--jobs", type=int, default=2, help="tests run at the same time")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fuzz_long.md"))
    args = ap.parse_args()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def one(item: tuple[str, tuple[int, int]]) -> dict:
        name, (ci, cases) = item
        row = run(name, ci, max(1, int(cases * args.fraction)), args.seed)
        print(f"{name}: {row['passing']} passing, {row['failing']} failing, "
              f"{row['invalid']} invalid, {row['seconds']:.0f} s, exit {row['rc']}",
              flush=True)
        return row

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        rows = list(pool.map(one, PLAN.items()))
    total = sum(r["passing"] + r["failing"] for r in rows)
    ok = all(r["rc"] == 0 and r["failing"] == 0 for r in rows)
    cmd = " ".join(["python", "benchmarks/fuzz_long.py", *sys.argv[1:]])
    lines = [
        "# Long fuzz run",
        "",
        f"Command: `{cmd}` (from the repository root; written by that command).",
        f"Started {started}, hypothesis seed {args.seed}, Python {platform.python_version()}"
        f", {os.cpu_count()} CPUs (shared).",
        "",
        "Property (see `tests/test_fuzz.py`): a correct result (brute-force or invariant "
        "checks where they exist) or one `IdscopeError` / CLI exit 2 with one error line; "
        "never another exception, a crash, a NaN without an error, or a write outside the "
        "output folder.",
        "",
        "| test | cases run | failing | invalid (filtered) | seconds | pytest exit |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| `{r['name']}` | {r['passing'] + r['failing']} | {r['failing']} | "
          f"{r['invalid']} | {r['seconds']:.0f} | {r['rc']} |" for r in rows],
        f"| **total** | **{total}** | {sum(r['failing'] for r in rows)} | "
        f"{sum(r['invalid'] for r in rows)} | {sum(r['seconds'] for r in rows):.0f} | |",
        "",
        f"Result: {'nothing found' if ok else 'FAILURES (logs below)'}.",
    ]
    for r in rows:
        if r["log"]:
            lines += ["", f"## {r['name']}", "", "```", r["log"], "```"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"{total} cases; {'ok' if ok else 'FAILURES'}; wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
