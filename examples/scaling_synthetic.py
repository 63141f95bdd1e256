"""Scaling law on synthetic images of known intrinsic dimension d ∈ {2, 4, 8, 16}.

Runs the sweep of ``scaling_synthetic.toml`` (resumable: rerun to finish an interrupted
sweep), then fits the exponent α of L ∝ N^(−α) per dataset and the joint law
log L = a + c·(log N)/d_data + β·log K_F, and writes tables and plots.

    python examples/scaling_synthetic.py [--out DIR] [--workers N]

About 4 minutes on two CPU cores (100 runs of a small CNN).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from idscope.analysis import joint_scaling_fit, scaling_exponents
from idscope.report.sweep_plots import write_analysis
from idscope.sweeps import load_config, run_sweep

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="scaling-synthetic", help="results folder")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: 2)")
    args = parser.parse_args()

    config = load_config(HERE / "scaling_synthetic.toml")
    t0 = time.perf_counter()
    res = run_sweep(config, args.out, workers=args.workers)
    print(f"{res.n_planned} runs ({res.n_skipped} already done, {res.n_run} run now) in "
          f"{time.perf_counter() - t0:.0f} s -> {args.out}")

    df = res.table()
    ex = scaling_exponents(df, n_bootstrap=2000)
    ex["d"] = ex["dataset"].str[1:].astype(int)
    ex = ex.sort_values("d")
    print("\nexponent α of L ∝ N^-α (test loss, last epoch; 95% residual-bootstrap CI)")
    print(f"{'d':>3} {'α':>6} {'95% CI':>15} {'1/d':>6} {'d_data':>7} {'1/d_data':>8} "
          f"{'d_repr':>7} {'R²':>5}")
    for _, r in ex.iterrows():
        print(f"{r['d']:>3} {r['exponent']:6.3f} [{r['ci_low']:6.3f}, {r['ci_high']:6.3f}] "
              f"{1 / r['d']:6.3f} {r['d_data']:7.2f} {r['inv_d_data']:8.3f} "
              f"{r['d_repr']:7.2f} {r['r2']:5.2f}")
    falls = (ex["exponent"].diff().dropna() < 0).all()
    print(f"α falls as d grows: {'yes' if falls else 'no'}")

    fit = joint_scaling_fit(df, n_bootstrap=2000)
    print(f"\njoint fit log L = a + c·log N/d_data + β·log K_F   (R² = {fit.r2:.3f}, "
          f"{fit.n} runs)")
    for term in fit.terms:
        lo, hi = fit.interval(term)
        print(f"  {term:>5} = {fit[term]:7.3f}   95% CI [{lo:.3f}, {hi:.3f}]")

    written = write_analysis(df, Path(args.out) / "analysis", n_bootstrap=2000)
    print(f"\n{len(written)} tables and plots in {Path(args.out) / 'analysis'}")


if __name__ == "__main__":  # required: the local executor's worker processes are spawned
    main()
