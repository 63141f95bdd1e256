"""``idscope demo`` (both papers' findings on bundled data, with an HTML report),
``idscope study NAME --model SPEC --data SOURCE`` (one paper's study on any model and data) and
``idscope report DIR`` (rebuild the page of a demo or of any sweep from its saved results)."""

from __future__ import annotations

import argparse
import math
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
                    "plot; raw tables go to DIR/tables/. Its measured runtime is in "
                    "docs/demo.md (regenerated with `make docs`). `--data real` runs the "
                    "studies on real data instead: Ansuini's on MNIST, Konz's on MNIST and "
                    "Fashion-MNIST with the two datasets compared (`make demo-real` installs "
                    "the sources and runs it; docs/demo-real.md).")
    p.add_argument("--out", default="idscope-demo", metavar="DIR",
                   help="output folder (default: ./idscope-demo)")
    p.add_argument("--quick", action="store_true",
                   help="a smaller demo: fewer epochs, networks, class pairs and sizes")
    p.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes for the training sweep (default: 2, quick: 1)")
    p.add_argument("--resume", action="store_true",
                   help="keep experiments already finished in DIR with the same settings")
    p.add_argument("--data", default=None, metavar="SOURCE",
                   help="'real' (Ansuini's study on MNIST, Konz's on MNIST and Fashion-MNIST), "
                        "'mnist' or 'fashion-mnist' (the real-data budgets), or any labelled "
                        "source idscope.data.load reads (a .npz, an image folder) instead of "
                        "the bundled digits")
    p.add_argument("--model", default=None, metavar="SPEC",
                   help="a built-in model name or module:callable instead of the built-in "
                        "CNN (mnist_cnn)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run_demo_command)

    st = sub.add_parser(
        "study", help="one paper's findings on any model and data, with an HTML report",
        description="Run one study on a model and a labelled data source and write its page "
                    "(DIR/index.html): 'ansuini' (ID across depth, trained vs untrained, "
                    "the hunchback, shuffled labels, last-hidden ID vs error) or 'konz' "
                    "(d_data and K_F of class pairs, test loss vs N, robustness vs K_F, "
                    "d_repr vs d_data).")
    st.add_argument("name", choices=("ansuini", "konz"), help="the study")
    st.add_argument("--model", default=None, metavar="SPEC",
                    help="a built-in model name or module:callable (default: mnist_cnn)")
    st.add_argument("--data", default=None, metavar="SOURCE",
                    help="a labelled idscope.data.load source (default: sklearn:digits); "
                         "'real': MNIST (konz: MNIST and Fashion-MNIST)")
    st.add_argument("--out", default=None, metavar="DIR",
                    help="output folder (default: ./idscope-study-NAME)")
    st.add_argument("--quick", action="store_true", help="smaller budgets, as demo --quick")
    st.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    st.add_argument("--workers", type=int, default=None,
                    help="processes for the training sweep (konz; default: 2, quick: 1)")
    st.add_argument("--resume", action="store_true",
                    help="keep experiments already finished in DIR with the same settings")
    st.add_argument("--no-progress", action="store_true", help="no progress bars")
    st.set_defaults(run=run_study_command)

    r = sub.add_parser(
        "report", help="rebuild the HTML report of a demo or a sweep from its saved results",
        description="Rebuild DIR/index.html from saved results, recomputing nothing that "
                    "needs training: a folder written by `idscope demo` (findings recomputed "
                    "from its tables, figures redrawn), or a folder written by `idscope "
                    "sweep` (its analyses run on the results table, their plots drawn).")
    r.add_argument("dir", metavar="DIR",
                   help="a folder written by `idscope demo` or `idscope sweep`")
    r.add_argument("--bootstrap", type=int, default=1000,
                   help="bootstrap resamples for a sweep's intervals (default 1000)")
    r.add_argument("--seed", type=int, default=0, help="seed of a sweep's bootstrap")
    r.set_defaults(run=run_report_command)


def run_demo_command(args: argparse.Namespace) -> int:
    from .._errors import InputError
    from ..report.pages import run_demo

    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    command = "idscope demo " + " ".join(shlex.quote(a) for a in _argv_of(args))
    t0 = time.perf_counter()
    report = run_demo(args.out, quick=args.quick, seed=args.seed, workers=args.workers,
                      progress=False if args.no_progress else None, resume=args.resume,
                      command=command.strip(), data=args.data, model=args.model)
    return _print_findings(report, args.out, time.perf_counter() - t0)


def run_study_command(args: argparse.Namespace) -> int:
    from .._errors import InputError
    from ..report.pages import run_study

    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    out = args.out or f"idscope-study-{args.name}"
    command = f"idscope study {args.name} " + " ".join(shlex.quote(a) for a in _argv_of(
        argparse.Namespace(**{**vars(args), "out": out})))
    t0 = time.perf_counter()
    report = run_study(args.name, out, data=args.data, model=args.model, quick=args.quick,
                       seed=args.seed, workers=args.workers,
                       progress=False if args.no_progress else None, resume=args.resume,
                       command=command.strip())
    return _print_findings(report, out, time.perf_counter() - t0)


def _print_findings(report, out: str, seconds: float) -> int:
    width = max(len(f.title) for f in report.findings)
    for i, f in enumerate(report.findings, 1):
        verdict = {True: "shown", False: "NOT shown", None: "not testable"}[f.shown]
        num = "" if f.value is None else f"{f.value_label} = {f.value:.4g}"
        if f.interval is not None:
            lo, hi = f.interval
            num += f" [{lo:.4g}, {hi:.4g}]"
            finite = all(math.isfinite(v) for v in (lo, hi, f.value or math.nan))
            if finite and not lo <= f.value <= hi:
                num += " (the value lies outside its interval: the page says why)"
        print(f"{i}. {f.title:<{width}}  {verdict:<12}  {num}")
    print(f"\nreport: {out}/index.html  ({seconds:.0f} s)")
    return 0


def _argv_of(args: argparse.Namespace) -> list[str]:
    out = ["--out", args.out]
    if args.quick:
        out.append("--quick")
    if args.seed:
        out += ["--seed", str(args.seed)]
    if args.workers is not None:
        out += ["--workers", str(args.workers)]
    for flag in ("data", "model"):
        if getattr(args, flag, None) is not None:
            out += [f"--{flag}", getattr(args, flag)]
    return out


def run_report_command(args: argparse.Namespace) -> int:
    from .._errors import InputError
    from ..report.pages import rebuild

    if args.bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    page = rebuild(args.dir, n_bootstrap=args.bootstrap, seed=args.seed)
    print(f"report: {page}", file=sys.stdout)
    return 0
