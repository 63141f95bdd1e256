"""``idscope demo`` (both papers' findings on bundled data, with an HTML report) and
``idscope report DIR`` (rebuild the page of a demo or of any sweep from its saved results)."""

from __future__ import annotations

import argparse
import shlex
import sys
import time


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="reproduce the papers' findings on bundled data, with an HTML report",
        description="Train small networks on scikit-learn's digits and on synthetic images of "
                    "known intrinsic dimension, measure what Ansuini et al. (NeurIPS 2019) "
                    "and Konz & Mazurowski (ICLR 2024) measured, and write a static report "
                    "(DIR/index.html) with every finding's number, interval, verdict and "
                    "plot; raw tables go to DIR/tables/. About 10 minutes on two CPU cores "
                    "(--quick: 1-2 minutes).")
    p.add_argument("--out", default="idscope-demo", metavar="DIR",
                   help="output folder (default: ./idscope-demo)")
    p.add_argument("--quick", action="store_true",
                   help="a smaller demo: fewer epochs, networks, class pairs and sizes")
    p.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes for the training sweep (default: 2, quick: 1)")
    p.add_argument("--resume", action="store_true",
                   help="keep experiments already finished in DIR with the same settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run_demo_command)

    r = sub.add_parser(
        "report", help="rebuild the HTML report of a demo or a sweep from its saved results",
        description="Rebuild DIR/index.html from saved results, recomputing nothing that "
                    "needs training: a folder written by `idscope demo` (findings recomputed "
                    "from its tables, figures redrawn), or a folder written by `idscope "
                    "sweep` (its analyses run on the results table, their plots drawn).")
    r.add_argument("dir", metavar="DIR")
    r.add_argument("--bootstrap", type=int, default=1000,
                   help="bootstrap resamples for a sweep's intervals (default 1000)")
    r.add_argument("--seed", type=int, default=0, help="seed of a sweep's bootstrap")
    r.set_defaults(run=run_report_command)


def run_demo_command(args: argparse.Namespace) -> int:
    from .._errors import InputError
    from ..studies.demo import run_demo

    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    command = "idscope demo " + " ".join(shlex.quote(a) for a in _argv_of(args))
    t0 = time.perf_counter()
    report = run_demo(args.out, quick=args.quick, seed=args.seed, workers=args.workers,
                      progress=False if args.no_progress else None, resume=args.resume,
                      command=command.strip())
    seconds = time.perf_counter() - t0
    width = max(len(f.title) for f in report.findings)
    for i, f in enumerate(report.findings, 1):
        verdict = {True: "shown", False: "NOT shown", None: "not testable"}[f.shown]
        num = "" if f.value is None else f"{f.value_label} = {f.value:.4g}"
        if f.interval is not None:
            num += f" [{f.interval[0]:.4g}, {f.interval[1]:.4g}]"
        print(f"{i}. {f.title:<{width}}  {verdict:<12}  {num}")
    print(f"\nreport: {args.out}/index.html  ({seconds:.0f} s)")
    return 0


def _argv_of(args: argparse.Namespace) -> list[str]:
    out = ["--out", args.out]
    if args.quick:
        out.append("--quick")
    if args.seed:
        out += ["--seed", str(args.seed)]
    if args.workers is not None:
        out += ["--workers", str(args.workers)]
    return out


def run_report_command(args: argparse.Namespace) -> int:
    from .._errors import InputError
    from ..studies.demo import rebuild

    if args.bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    page = rebuild(args.dir, n_bootstrap=args.bootstrap, seed=args.seed)
    print(f"report: {page}", file=sys.stdout)
    return 0
