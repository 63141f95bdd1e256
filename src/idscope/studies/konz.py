"""The findings of Konz & Mazurowski (ICLR 2024) as a study: the data's intrinsic dimension
d_data and label sharpness K_F govern how test loss scales with training-set size and how
vulnerable a network is to attack; the representation's ID stays below d_data.

Experiments (tables under ``DIR/tables/``): :func:`run_pairs` — d_data and K_F of every class
pair of each source (``DemoSettings.konz_sources``: MNIST and Fashion-MNIST with ``--data
real``); :func:`run_sweep_experiment` — binary tasks (class pairs and synthetic datasets of
known ID) at several training-set sizes through :func:`idscope.sweeps.run_sweep`: test loss,
d_data, K_F, d_repr, FGSM/PGD over an ε sweep.

The judges (:func:`judge_scaling_law`, :func:`judge_robustness`,
:func:`judge_repr_vs_data`, :func:`judge_domains`) take any sweep's results table, so
``idscope report`` uses them for a sweep folder too. :func:`judge_domains` compares the
sweep's data domains (two real datasets, or digits and synthetic images): the offline
analogue of the paper's natural vs medical comparison.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np

from .._errors import InputError
from .._runtime import StepLines
from .base import (
    Experiment,
    Finding,
    Run,
    Study,
    Workspace,
    detail,
    fmt,
    fmt_interval,
    not_testable,
)
from .inputs import load_split
from .konz_domains import judge_domains, pairs_sentence
from .konz_paper import PAPER as KONZ_PAPER
from .konz_paper import REFERENCE as KONZ_REFERENCE
from .konz_paper import runs_data as _runs_data
from .paper import beside
from .settings import DEMO_DATA, DemoSettings

__all__ = ["KONZ", "run_pairs", "run_sweep_experiment", "sweep_config", "pair_list",
           "finding_scaling_law", "finding_robustness", "finding_repr_vs_data",
           "finding_domains", "judge_scaling_law", "judge_robustness", "judge_repr_vs_data",
           "judge_domains", "data_name", "konz_sources", "pair_sample",
           "KONZ_PAPER", "KONZ_REFERENCE"]

BOUND_FRACTION = 0.80     # F8: lower Wilson bound of the fraction of runs with d_repr ≤ d_data

def data_name(source: str) -> str:
    """The dataset's name in the sweep's tables: ``digits`` for the demo's data, else the
    source's last component (``mnist``, ``my_images``)."""
    if source == DEMO_DATA:
        return "digits"
    tail = str(source).rstrip("/").replace("\\", "/").split("/")[-1]
    return tail.split(":")[-1].split(".")[0] or "data"


# ---------------------------------------------------------------------------------------------
# Experiments: each writes its tables


def konz_sources(s: DemoSettings) -> tuple[str, ...]:
    """The labelled sources of the Konz study: ``konz_sources``, else ``data``."""
    return tuple(s.konz_sources) or (s.data,)


def pair_sample(source: str, s: DemoSettings) -> tuple[np.ndarray, np.ndarray]:
    """``source`` scaled to [0, 1] as flat rows and its labels; with ``pairs_per_class`` the
    first that many images of each class in a seeded permutation (all of a smaller class)."""
    X, y, _, _ = load_split(source, s.seed, s.n_test)
    if s.pairs_per_class is not None:
        rng = np.random.default_rng(s.seed)
        keep = [rng.permutation(np.flatnonzero(y == c))[: s.pairs_per_class]
                for c in np.unique(y)]
        index = np.sort(np.concatenate(keep))
        X, y = X[index], y[index]
    return X.reshape(len(X), -1), y


def pair_list(s: DemoSettings, y: np.ndarray) -> list[tuple[int, int]]:
    if s.pairs == "all-pairs":
        labels = np.unique(y).tolist()
        return [(a, b) for i, a in enumerate(labels) for b in labels[i + 1:]]
    return [(int(a), int(b)) for a, b in s.pairs]


def run_pairs(run: Run) -> None:
    """d_data (MLE k = 20 in both conventions, TwoNN) and the exact K_F of every class pair
    of each source, on the images of the two classes (all, or ``pairs_per_class`` per
    class; table ``pairs``, one row per source and pair)."""
    import pandas as pd

    s = run.settings
    rows: list[dict[str, Any]] = []
    for source in konz_sources(s):
        run.step(f"d_data and K_F of all class pairs of {source}")
        rows += _pair_rows(source, s)
        run.done()
    run.out.save_table("pairs", pd.DataFrame(rows))


def _pair_rows(source: str, s: DemoSettings) -> list[dict[str, Any]]:
    from ..dataset import data_dimension, label_sharpness

    F, y = pair_sample(source, s)
    # one exact search gives the closest differently labelled images of every class pair
    ks = label_sharpness(F, y, per_class_pair=True)
    classes = list(ks.classes)
    rows = []
    for a, b in pair_list(replace(s, pairs="all-pairs"), y):
        sel = (y == a) | (y == b)
        dd = data_dimension(F[sel])
        i, j = classes.index(a), classes.index(b)
        rows.append({"dataset": data_name(source), "source": source,
                     "task": f"{a}-{b}", "class_0": a, "class_1": b, "n": int(sel.sum()),
                     "d_data_mle_pope": dd.mle_pope.dimension,
                     # Pope's k-2 estimates (k-2)/(k-1)·d; its interval is for d itself,
                     # whose estimate is the k-1 column: named after the value it brackets
                     "d_data_mle": dd.mle_k1.dimension,
                     "d_data_mle_ci_low": dd.mle_pope.ci_low,
                     "d_data_mle_ci_high": dd.mle_pope.ci_high,
                     "d_data_twonn": dd.twonn.dimension,
                     "n_duplicates": dd.n_duplicates,
                     "label_sharpness": float(ks.pair_matrix[i, j]),
                     "witness_distance": 1.0 / float(ks.pair_matrix[i, j])})
    return rows


def sweep_config(s: DemoSettings) -> dict[str, Any]:
    """The demo's sweep as a config dict (the TOML structure of ``idscope sweep``)."""
    tasks = s.pairs if s.pairs == "all-pairs" else [list(p) for p in s.pairs]
    datasets: list[dict[str, Any]] = [
        {"name": data_name(src), "source": src, "tasks": tasks, "scale": "unit",
         "domain": data_name(src)} for src in konz_sources(s)]
    for i, (d, margin) in enumerate(s.synthetic):
        datasets.append({"name": f"synthetic-d{d}-m{margin:g}", "synthetic": "manifold_images",
                         "params": {"n": s.synthetic_n, "intrinsic_dim": int(d),
                                    "image_size": 8, "margin": float(margin),
                                    "seed": s.seed + 10 + i},
                         "tasks": [[0, 1]], "domain": "synthetic"})
    return {
        "name": "idscope-demo-quick" if s.quick else "idscope-demo",
        "datasets": datasets,
        "models": [{"name": s.model, "kwargs": json.loads(s.sweep_model_kwargs),
                    "label": "cnn"}],
        "training": {"sizes": list(s.sizes), "test_size": s.sweep_test_size,
                     "seeds": [s.seed], "split_seed": s.seed, "epochs": s.sweep_epochs,
                     "batch_size": s.sweep_batch_size, "lr": s.lr, "threads": s.threads},
        "measure": {"d_data": True, "label_sharpness": True, "d_repr": "train",
                    "robustness": {"eps": list(s.eps), "methods": list(s.methods)}},
    }


def run_sweep_experiment(run: Run) -> None:
    """Binary tasks at several training-set sizes through :func:`idscope.sweeps.run_sweep`
    (resumable, in ``DIR/sweep``); the runs of this configuration become the table
    ``sweep_results``."""
    from ..sweeps.config import parse_config
    from ..sweeps.executors import run_sweep
    from ..sweeps.plan import make_plan

    s = run.settings
    config = parse_config(sweep_config(s), name="idscope-demo", where="<demo>")
    keys = set(make_plan(config).keys)
    run.step(f"sweep: {len(keys)} training runs (binary tasks)")
    # without a terminal the demo prints a line per step; the sweep then prints one per run
    # (progress=None), so that a long sweep is never silent in a log
    lines = isinstance(run.bar, StepLines)
    res = run_sweep(config, run.out.root / "sweep", executor="local", workers=s.workers,
                    progress=None if lines else run.progress)
    df = res.table()
    df = df[df["key"].isin(keys)].reset_index(drop=True)
    # the per-epoch history is in the sweep's run files; keep the table flat
    df = df.drop(columns=[c for c in ("history",) if c in df.columns])
    run.out.save_table("sweep_results", df)
    run.done()


# ---------------------------------------------------------------------------------------------
# Findings: tables in, one Finding (+ figure requests) out


def judge_scaling_law(out: Workspace, df: Any, *, seed: int, n_bootstrap: int,
                     pairs: Any = None, table: str) -> Finding:
    from ..analysis import default_domain, joint_scaling_fit, scaling_exponents

    key, title = "scaling_law", "Test loss vs training size, d_data and K_F"
    claim = ("log L ≲ −(1/d_data)·log N + log K_F + a: the loss falls more slowly with N on "
             "data of higher intrinsic dimension and is higher for sharper labels (Konz & "
             "Mazurowski 2024).")
    domain = default_domain(df, None)
    try:
        fit = joint_scaling_fit(df, domain=domain, n_bootstrap=n_bootstrap, seed=seed)
    except InputError as exc:
        return not_testable(key, title, claim, str(exc))
    exps = scaling_exponents(df, n_bootstrap=n_bootstrap, seed=seed)
    ex_name = out.save_table("scaling_exponents", exps)
    fit_name = out.save_table("joint_fit", fit.table())
    c, (clo, chi) = fit["c"], fit.interval("c")
    b, (blo, bhi) = fit["beta"], fit.interval("beta")
    c_ok, b_ok = bool(chi < 0), bool(blo > 0)
    alpha = exps["exponent"].to_numpy(float)
    inv = exps["inv_d_data"].to_numpy(float)
    ok = np.isfinite(alpha) & np.isfinite(inv)
    # L ≤ C·N^(−1/d_data) for all N needs the loss to fall at least that fast: α ≥ 1/d_data
    faster = float(np.mean(alpha[ok] >= inv[ok])) if ok.any() else math.nan
    figures = []
    if pairs is not None:
        figures.append(out.save_figure("pairs_d_data_k_f", "plot_pairs", pairs))
    if {"source", "d_data_mle_pope"} <= set(df.columns):
        figures.append(out.save_figure("learning_curves", "plot_learning_curves", df))
    figures.append(out.save_figure("joint_fit", "plot_joint_fit", df, fit))
    pair_txt = ""
    if pairs is not None:
        pair_txt = pairs_sentence(pairs) + " "
    reading = (
        pair_txt
        + "The joint fit log L = a + c·log N/d_data + β·log K_F"
        + (f" (+ an offset per {domain})" if domain else "")
        + f" over {fit.n} runs gives c = {fmt(c)} (95% interval {fmt_interval(clo, chi)}; theory: "
        f"−1 when the bound is tight) and β = {fmt(b)} ({fmt_interval(blo, bhi)}; theory: +1), "
        f"R² = {fmt(fit.r2)}. "
        + ("The loss falls with N/d_data as predicted" if c_ok else
           "The N/d_data dependence is not resolved")
        + (" and rises with K_F." if b_ok else
           "; the K_F term is not resolved (K_F varies little between tasks here).")
        + (f" The measured exponent α (L ∝ N^−α) is ≥ 1/d_data (the loss falls at least as fast "
           f"as the bound's N^(−1/d_data)) in {fmt(100 * faster, 3)}% of "
           f"the {int(ok.sum())} tasks." if ok.any() else ""))
    details = [
        detail("c (coefficient of log N / d_data)", c, clo, chi,
                criterion="interval below 0", shown=c_ok),
        detail("β (coefficient of log K_F)", b, blo, bhi, criterion="interval above 0",
                shown=b_ok),
        detail("R² of the joint fit", fit.r2),
        detail("fraction of tasks with α ≥ 1/d_data", faster),
        beside(KONZ_PAPER["scaling_c"], c, clo, chi, data=_runs_data(df)),
        beside(KONZ_PAPER["scaling_beta"], b, blo, bhi, data=_runs_data(df)),
    ]
    if domain is not None:
        within = []
        for dom, g in df.groupby(df[domain].astype(str), sort=True):
            try:
                fd = joint_scaling_fit(g, n_bootstrap=n_bootstrap, seed=seed)
            except InputError:
                continue
            for term, name in (("c", "c"), ("beta", "β")):
                lo_, hi_ = fd.interval(term)
                details.append(detail(f"within {dom} only: {name}", fd[term], lo_, hi_))
            within.append(f"{dom}: c = {fmt(fd['c'])} {fmt_interval(*fd.interval('c'))}, β = "
                          f"{fmt(fd['beta'])} {fmt_interval(*fd.interval('beta'))}, R² = "
                          f"{fmt(fd.r2)}")
        if within:
            reading += " Fitted within each domain separately: " + "; ".join(within) + "."
    details = tuple(details)
    tables = ((table,) + (("tables/pairs.csv",) if pairs is not None else ())
              + (fit_name, ex_name))
    return Finding(key, title, claim, reading, value=float(c),
                   value_label="c in log L = a + c·log N/d_data + β·log K_F",
                   interval=(clo, chi), shown=c_ok and b_ok, figures=tuple(figures),
                   tables=tables,
                   criterion="c's 95% bootstrap interval lies below 0 and β's above 0",
                   details=details)


def finding_scaling_law(out: Workspace, s: DemoSettings) -> Finding:
    """(6) d_data and K_F of all 45 digit class pairs; test loss vs N; the scaling-law fit."""
    return judge_scaling_law(out, out.table("sweep_results"), seed=s.seed,
                            n_bootstrap=s.n_bootstrap, pairs=out.table("pairs"),
                            table="tables/sweep_results.csv")


def judge_robustness(out: Workspace, df: Any, *, seed: int, n_bootstrap: int,
                        table: str) -> Finding:
    import pandas as pd

    from ..analysis import robustness_columns, robustness_vs_sharpness

    key, title = "robustness", "Adversarial vulnerability vs label sharpness K_F"
    claim = ("log R ≳ −log K_F + b: networks trained on sharper-labelled data lose more under "
             "attack (FGSM loss penalty at ε = 2/255 correlates with K_F, r = 0.70; Konz & "
             "Mazurowski 2024).")
    cols = robustness_columns(df)
    if not cols or "label_sharpness" not in df.columns:
        return not_testable(key, title, claim, "no robustness or K_F columns in the results")
    rows = []
    for i, (method, eps) in enumerate(sorted(cols)):
        t = robustness_vs_sharpness(df, method=method, eps=eps, n_bootstrap=n_bootstrap,
                                    seed=seed + 10 * i)
        rows.append(t)
    table_all = pd.concat(rows, ignore_index=True)
    corr_name = out.save_table("robustness_vs_sharpness", table_all)
    head = table_all[(table_all["metric"] == "loss_penalty")
                     & (table_all["correlation"] == "pearson")]
    methods = sorted({m for m, _ in cols})
    main_method = "fgsm" if "fgsm" in methods else methods[0]
    cand = head[head["method"] == main_method]
    main = cand.iloc[int(np.argmin(np.abs(cand["eps"].to_numpy(float) - 2 / 255)))]
    shown = bool(main["ci_low"] > 0)
    fig1 = out.save_figure("robustness_vs_sharpness", "plot_robustness",
        df, method=main_method, eps=float(main["eps"]))
    fig2 = out.save_figure("robustness_vs_eps", "plot_correlation_vs_eps", head)
    n_sig = int((head["ci_low"] > 0).sum())
    reading = (f"Per task (mean over its runs), the {main_method.upper()} loss penalty at "
               f"ε = {fmt(float(main['eps']) * 255)}/255 correlates with K_F at Pearson "
               f"r = {fmt(main['r'])} (95% bootstrap interval "
               f"{fmt_interval(main['ci_low'], main['ci_high'])}, {int(main['n'])} tasks). "
               f"Over the "
               f"whole sweep of attacks and radii, {n_sig} of {len(head)} correlations have an "
               f"interval above 0. "
               + ("The negative link between robustness and K_F is shown." if shown else
                  "At the paper's setting the correlation is not shown on these tasks."))
    details = [
        detail(f"{r['method'].upper()} ε = {fmt(r['eps'] * 255)}/255: Pearson r", r["r"],
                r["ci_low"], r["ci_high"], criterion="interval above 0",
                shown=bool(r["ci_low"] > 0))
        for _, r in head.sort_values(["method", "eps"]).iterrows()]
    main_eps = float(main["eps"])
    sp = table_all[(table_all["metric"] == "loss_penalty")
                   & (table_all["correlation"] == "spearman")
                   & (table_all["method"] == main_method)
                   & np.isclose(table_all["eps"].to_numpy(float), main_eps)]
    if len(sp):
        r = sp.iloc[0]
        details.append(detail(f"{main_method.upper()} ε = {fmt(main_eps * 255)}/255: "
                               f"Spearman ρ", r["r"], r["ci_low"], r["ci_high"]))
    details.append(beside(KONZ_PAPER["robustness_r"], main["r"], main["ci_low"],
                          main["ci_high"], data=_runs_data(df)
                          + f", {main_method.upper()} ε = {fmt(main_eps * 255)}/255"))
    if "domain" in df.columns and df["domain"].astype(str).nunique() > 1:
        within = []
        for dom, g in df.groupby(df["domain"].astype(str), sort=True):
            if g[["dataset", "task"]].drop_duplicates().shape[0] < 3:
                continue
            t = robustness_vs_sharpness(g, method=main_method, eps=main_eps,
                                        n_bootstrap=n_bootstrap, seed=seed)
            r = t[(t["metric"] == "loss_penalty") & (t["correlation"] == "pearson")].iloc[0]
            details.append(detail(f"within {dom} only: Pearson r ({int(r['n'])} tasks)",
                                   r["r"], r["ci_low"], r["ci_high"]))
            within.append(f"{dom} {fmt(r['r'])} {fmt_interval(r['ci_low'], r['ci_high'])}")
        if within:
            reading += (" Within each domain separately (Pearson r, 95% interval): "
                        + "; ".join(within) + ".")
    details = tuple(details)
    return Finding(key, title, claim, reading, value=float(main["r"]),
                   value_label=f"Pearson r ({main_method.upper()} loss penalty vs K_F)",
                   interval=(float(main["ci_low"]), float(main["ci_high"])), shown=shown,
                   figures=(fig1, fig2), tables=(corr_name, table),
                   criterion=f"the 95% bootstrap interval of r at {main_method.upper()} "
                             f"ε ≈ 2/255 lies above 0", details=details)


def finding_robustness(out: Workspace, s: DemoSettings) -> Finding:
    """(7) Adversarial loss penalty (FGSM and PGD over an ε sweep) vs K_F."""
    return judge_robustness(out, out.table("sweep_results"), seed=s.seed,
                               n_bootstrap=s.n_bootstrap, table="tables/sweep_results.csv")


def judge_repr_vs_data(out: Workspace, df: Any, *, table: str) -> Finding:
    from ..analysis import DEFAULT_D_DATA, repr_vs_data

    key, title = "repr_vs_data", "d_repr ≤ d_data"
    claim = ("The intrinsic dimension of the learned representation is bounded by the data's: "
             "d_repr ≲ d_data (Konz & Mazurowski 2024).")
    if "d_repr" not in df.columns or DEFAULT_D_DATA not in df.columns:
        return not_testable(key, title, claim, "d_repr or d_data was not measured")
    t = repr_vs_data(df)
    name = out.save_table("repr_vs_data", t)
    a = t[t["group"] == "(all)"].iloc[0]
    shown = bool(a["ci_low"] >= BOUND_FRACTION)
    fig = out.save_figure("repr_vs_data", "plot_repr_vs_data", df)
    reading = (f"d_repr (TwoNN, last hidden layer, training images) ≤ d_data (MLE k=20, "
               f"Pope's k−2, training set) in {int(a['n_leq'])} of {int(a['n_runs'])} runs "
               f"(fraction {fmt(a['fraction_leq'])}, 95% Wilson interval "
               f"{fmt_interval(a['ci_low'], a['ci_high'])}); the ratio d_repr/d_data has median "
               f"{fmt(a['ratio_median'])} (range {fmt(a['ratio_min'])}–"
               f"{fmt(a['ratio_max'])}).")
    details = [detail("fraction of runs with d_repr ≤ d_data", a["fraction_leq"], a["ci_low"],
                       a["ci_high"], criterion=f"lower bound ≥ {BOUND_FRACTION}", shown=shown),
               detail("median d_repr / d_data", a["ratio_median"]),
               beside(KONZ_PAPER["repr_vs_data"], a["fraction_leq"], a["ci_low"],
                      a["ci_high"], data=_runs_data(df))]
    if "d_data_twonn" in df.columns:
        # the same estimator on both sides: no difference of finite-sample bias
        b = repr_vs_data(df, d_data="d_data_twonn", by=None).iloc[0]
        details.append(detail("same estimator (TwoNN for both): fraction ≤", b["fraction_leq"],
                               b["ci_low"], b["ci_high"]))
        reading += (f" With TwoNN on both sides (the same estimator, hence the same "
                    f"finite-sample bias) the fraction is {fmt(b['fraction_leq'])} "
                    f"({fmt_interval(b['ci_low'], b['ci_high'])}).")
    for _, r in t[t["group"] != "(all)"].iterrows():
        details.append(detail(f"{r['group']}: fraction ≤", r["fraction_leq"], r["ci_low"],
                               r["ci_high"]))
    if "n_train" in df.columns:
        by_n = repr_vs_data(df, by=("n_train",))
        by_n = by_n[by_n["group"] != "(all)"]
        for _, r in by_n.iterrows():
            details.append(detail(f"N = {r['group']}: fraction ≤", r["fraction_leq"],
                                   r["ci_low"], r["ci_high"]))
        if len(by_n) > 1:
            reading += (" By training-set size N: " + ", ".join(
                f"{fmt(r['fraction_leq'])} at N = {r['group']}" for _, r in by_n.iterrows())
                + " (d_data is measured on the N training images: MLE with k = 20 reads "
                  "low on few points).")
    return Finding(key, title, claim, reading, value=float(a["fraction_leq"]),
                   value_label="fraction of runs with d_repr ≤ d_data",
                   interval=(float(a["ci_low"]), float(a["ci_high"])), shown=shown,
                   figures=(fig,), tables=(name, table),
                   criterion=f"the lower 95% Wilson bound of the fraction is ≥ "
                             f"{BOUND_FRACTION}", details=tuple(details))


def finding_repr_vs_data(out: Workspace, s: DemoSettings) -> Finding:
    """(8) d_repr ≤ d_data across runs."""
    return judge_repr_vs_data(out, out.table("sweep_results"), table="tables/sweep_results.csv")


def finding_domains(out: Workspace, s: DemoSettings) -> Finding:
    """(9) The data domains compared: d_data, K_F, robustness."""
    pairs = out.table("pairs")
    return judge_domains(out, out.table("sweep_results"), table="tables/sweep_results.csv",
                         pairs=pairs if "dataset" in pairs and pairs["dataset"].nunique() > 1
                         else None)


KONZ = Study(
    "konz", "Data geometry, scaling and robustness",
    "Konz & Mazurowski, ICLR 2024",
    experiments=(
        Experiment("pairs", run_pairs, ("pairs",), lambda s: len(konz_sources(s))),
        Experiment("sweep", run_sweep_experiment, ("sweep_results",), lambda s: 1),
    ),
    judges=(finding_scaling_law, finding_robustness, finding_repr_vs_data, finding_domains),
)
