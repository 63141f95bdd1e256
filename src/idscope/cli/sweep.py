"""``idscope sweep CONFIG`` (train and measure every run of a TOML sweep, resumable) and
``idscope analyze DIR`` (the analyses of its results table, as CSV tables and PNG plots)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ._format import table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="run a training sweep from a TOML config (resumable)",
        description="Train and measure every run of the sweep described by CONFIG (TOML), "
                    "skipping runs already in the output folder; each finished run is saved "
                    "at once, so an interrupted sweep resumes where it stopped.")
    p.add_argument("config", metavar="CONFIG", help="the sweep's TOML file")
    p.add_argument("--executor", choices=("local", "ray"), default=None,
                   help="where runs execute (default: the config's [executor], else local)")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (default: start a local Ray instance)")
    p.add_argument("--workers", type=int, default=None,
                   help="local: processes (1 = in this process); ray: CPUs of a local "
                        "instance")
    p.add_argument("--num-gpus", type=float, default=None, help="GPUs per Ray task")
    p.add_argument("--out", default=None,
                   help="results folder (default: ./sweep-NAME, NAME from the config)")
    p.add_argument("--keep-going", action="store_true",
                   help="record a failing run in OUT/failed/ and continue")
    p.add_argument("--dry-run", action="store_true",
                   help="check the config against the data and models and list the runs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run_sweep_command)

    a = sub.add_parser(
        "analyze", help="scaling-law fits and correlations over a sweep's results",
        description="Analyse the results of a sweep (a results folder, .parquet or .csv): "
                    "scaling exponents, the joint scaling-law fit, robustness vs label "
                    "sharpness, d_repr vs d_data, last-hidden ID vs test error. Writes CSV "
                    "tables and PNG plots into DIR/analysis/.")
    a.add_argument("results", metavar="DIR",
                   help="a sweep's output folder, or its results .parquet/.csv")
    a.add_argument("--out", default=None, help="output folder (default: DIR/analysis)")
    a.add_argument("--d-data", default="d_data_mle_pope",
                   help="d_data column: d_data_mle_pope (Konz & Mazurowski; default), "
                        "d_data_mle, d_data_twonn")
    a.add_argument("--domain", default=None,
                   help="column with a per-domain offset for the joint fit (default: "
                        "'domain' when it has more than one value)")
    a.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    a.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    a.add_argument("--no-plots", action="store_true", help="write the tables only")
    a.set_defaults(run=run_analyze_command)


def run_sweep_command(args: argparse.Namespace) -> int:
    from .._errors import InputError
    from ..sweeps.config import load_config
    from ..sweeps.executors import get_executor, run_sweep
    from ..sweeps.plan import make_plan
    from ..sweeps.results import ResultsStore

    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be >= 1, got {args.workers}")
    config = load_config(args.config)
    out = Path(args.out) if args.out else Path(f"sweep-{config.name}")
    ex = config.executor
    executor = get_executor(args.executor or ex.kind, workers=args.workers or ex.workers,
                            address=args.address if args.address is not None else ex.address,
                            num_gpus=args.num_gpus if args.num_gpus is not None
                            else ex.num_gpus)
    if args.dry_run:
        plan = make_plan(config)
        done = ResultsStore(out).done_keys() if out.is_dir() else frozenset()
        rows = [{"key": j.key, "dataset": j.dataset.name, "task": j.task_label,
                 "model": j.model.label, "N": j.n_train, "seed": j.seed,
                 "status": "done" if j.key in done else "pending"} for j in plan.jobs]
        print(table(rows))
        print(f"{len(plan)} run(s): {sum(r['status'] == 'done' for r in rows)} done, "
              f"{sum(r['status'] == 'pending' for r in rows)} pending; executor "
              f"{executor.name}; results folder {out}")
        return 0
    res = run_sweep(config, out, executor=executor, keep_going=args.keep_going,
                    progress=False if args.no_progress else None)
    print(f"sweep {config.name}: {res.n_planned} run(s) planned, {res.n_skipped} already "
          f"done, {res.n_run} run now, {res.n_failed} failed (executor {executor.name})")
    print("results: " + ", ".join(str(p) for p in res.tables))
    if res.failed:
        print(f"failed runs (tracebacks in {out / 'failed'}): {', '.join(res.failed)}")
        return 1
    return 0


def run_analyze_command(args: argparse.Namespace) -> int:
    from .._errors import InputError
    from ..report.sweep_plots import write_analysis
    from ..sweeps.results import load_results

    if args.bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    src = Path(args.results)
    df = load_results(src)
    if df.empty:
        raise InputError(f"analyze: {src} holds no finished runs")
    out = Path(args.out) if args.out else (src if src.is_dir() else src.parent) / "analysis"
    written = write_analysis(df, out, d_data=args.d_data, domain=args.domain,
                             n_bootstrap=args.bootstrap, seed=args.seed,
                             plots=not args.no_plots)
    import pandas as pd

    print(f"{len(df)} run(s) from {src}")
    if "scaling_exponents" in written:
        se = pd.read_csv(written["scaling_exponents"])
        cols = [c for c in ("dataset", "task", "model", "n_runs", "exponent", "ci_low",
                            "ci_high", "inv_d_data", "inv_d_repr") if c in se.columns]
        print("\nscaling exponents (L ∝ N^-α):")
        print(table(se[cols].to_dict("records")))
    if "joint_fit" in written:
        jf = pd.read_csv(written["joint_fit"])
        r2 = jf["r2"].iloc[0] if len(jf) else math.nan
        print(f"\njoint fit log L = a + c·log N/d_data + β·log K_F (R² = {r2:.3f}):")
        print(table(jf[["term", "estimate", "stderr", "ci_low", "ci_high"]]
                    .to_dict("records")))
    sk = pd.read_csv(written["skipped"])
    for _, r in sk.iterrows():
        print(f"skipped: {r['reason']}")
    print(f"\n{len(written)} file(s) written to {out}")
    return 0
