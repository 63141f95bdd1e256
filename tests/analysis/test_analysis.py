"""Analyses over a results table: recovery of known laws, interval coverage, reference values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from idscope import InputError
from idscope.analysis import (
    correlation_ci,
    hidden_id_vs_error,
    joint_scaling_fit,
    loglog_exponent,
    repr_vs_data,
    robustness_vs_sharpness,
    run_analyses,
    scaling_exponents,
)

SIZES = (64, 128, 256, 512, 1024)


def law_table(rng, *, dims=(2, 4, 8, 16), seeds=3, a=0.5, c=-1.0, beta=1.0, noise=0.1,
              domains=None, kf_noise=0.2):
    """Runs whose test loss follows log L = a + c·log N/d + β·log K_F (+ domain offset)."""
    rows = []
    for i, d in enumerate(dims):
        k_f = rng.uniform(0.3, 3.0)
        dom, off = (domains[i % len(domains)] if domains else ("", 0.0))
        for n in SIZES:
            for s in range(seeds):
                kr = k_f * np.exp(kf_noise * rng.standard_normal())
                log_l = a + c * np.log(n) / d + beta * np.log(kr) + off
                rows.append({"dataset": f"d{d}", "task": "0-1", "model": "mlp", "n_train": n,
                             "seed": s, "d_data_mle_pope": float(d), "label_sharpness": kr,
                             "domain": dom,
                             "test_loss": float(np.exp(log_l + noise * rng.standard_normal()))})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Scaling exponents


def test_exponent_is_exact_without_noise():
    n = np.repeat(SIZES, 2).astype(float)
    fit = loglog_exponent(n, 3.0 * n ** -0.25, n_bootstrap=100)
    np.testing.assert_allclose(fit["exponent"], 0.25, rtol=1e-12)
    np.testing.assert_allclose(fit["intercept"], np.log(3.0), rtol=1e-12)
    np.testing.assert_allclose(fit["r2"], 1.0, rtol=1e-12)
    np.testing.assert_allclose([fit["ci_low"], fit["ci_high"]], 0.25, rtol=1e-9)
    assert (fit["n_runs"], fit["n_sizes"]) == (10, 5)


def test_exponent_interval_covers_the_truth_at_its_level():
    rng = np.random.default_rng(7)
    hits, reps = 0, 300
    for rep in range(reps):
        n = np.repeat(SIZES, 3).astype(float)
        loss = np.exp(1.0 - np.log(n) / 4 + 0.1 * rng.standard_normal(n.size))
        fit = loglog_exponent(n, loss, n_bootstrap=400, seed=rep)
        hits += fit["ci_low"] <= 0.25 <= fit["ci_high"]
    # Nominal 95 %: 300 replicates give a binomial sd of 1.3 %.
    assert 0.90 <= hits / reps <= 0.99, hits / reps


def test_scaling_exponents_recover_one_over_d_and_fall_with_d():
    df = law_table(np.random.default_rng(1), noise=0.05)
    # Hold K_F fixed within a dataset so the per-dataset slope is exactly -c/d.
    df["label_sharpness"] = df.groupby("dataset")["label_sharpness"].transform("first")
    d = df["d_data_mle_pope"]
    df["test_loss"] = np.exp(0.5 - np.log(df["n_train"]) / d + np.log(df["label_sharpness"])
                             + 0.05 * np.random.default_rng(2).standard_normal(len(df)))
    df.loc[df["n_train"] < 1024, "d_data_mle_pope"] *= 0.8  # only the largest N is reported
    ex = scaling_exponents(df, n_bootstrap=1000)
    assert list(ex["dataset"]) == ["d16", "d2", "d4", "d8"]
    ex = ex.set_index("dataset").loc[["d2", "d4", "d8", "d16"]]
    np.testing.assert_allclose(ex["inv_d_data"], [1 / 2, 1 / 4, 1 / 8, 1 / 16])
    # Within 3 bootstrap standard errors ((high − low)/3.92) of 1/d; CIs are narrow enough
    # to order the exponents.
    half = (ex["ci_high"] - ex["ci_low"]) / 3.92
    assert (np.abs(ex["exponent"] - ex["inv_d_data"]) < 3 * half).all(), ex
    assert (np.diff(ex["exponent"]) < 0).all()
    assert (ex["n_runs"] == 15).all() and (ex["n_sizes"] == 5).all()


def test_scaling_exponents_need_two_sizes_and_the_loss_column():
    df = pd.DataFrame({"dataset": "a", "n_train": [100, 100], "test_loss": [0.3, 0.4]})
    assert np.isnan(scaling_exponents(df, n_bootstrap=10)["exponent"].iloc[0])
    with pytest.raises(InputError, match="no column"):
        scaling_exponents(df.drop(columns="test_loss"))


# ---------------------------------------------------------------------------------------------
# Joint fit


def test_joint_fit_is_exact_without_noise():
    # Per-run K_F (measured on each training subset) ...
    df = law_table(np.random.default_rng(3), noise=0.0)
    fit = joint_scaling_fit(df, properties="run", n_bootstrap=50)
    np.testing.assert_allclose([fit["a"], fit["c"], fit["beta"]], [0.5, -1.0, 1.0],
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fit.r2, 1.0, rtol=1e-12)
    assert fit.terms == ("a", "c", "beta") and fit.n == 60
    # ... or dataset-level properties (the default): each run gets its dataset's values at
    # the largest N, so per-run noise in d_data and K_F at smaller N does not matter.
    df = law_table(np.random.default_rng(3), noise=0.0, kf_noise=0.0)
    df.loc[df["n_train"] < 1024, "d_data_mle_pope"] *= 0.8  # kNN estimates read low at small N
    fit = joint_scaling_fit(df, n_bootstrap=50)
    np.testing.assert_allclose([fit["a"], fit["c"], fit["beta"]], [0.5, -1.0, 1.0],
                               rtol=1e-9, atol=1e-9)
    assert fit.properties == "group"
    with pytest.raises(AssertionError):  # the biased per-run values do not give the law
        np.testing.assert_allclose(joint_scaling_fit(df, properties="run",
                                                     n_bootstrap=0)["c"], -1.0, rtol=1e-3)


def test_joint_fit_recovers_the_law_within_its_intervals():
    rng = np.random.default_rng(11)
    truth = {"a": 0.5, "c": -1.0, "beta": 1.0}
    hits = {t: 0 for t in truth}
    reps = 120
    for rep in range(reps):
        fit = joint_scaling_fit(law_table(rng, seeds=2), properties="run", n_bootstrap=300,
                                seed=rep)
        for t, v in truth.items():
            lo, hi = fit.interval(t)
            hits[t] += lo <= v <= hi
    # Nominal 95 % (binomial sd 2 % at 120 replicates).
    for t in truth:
        assert 0.87 <= hits[t] / reps <= 1.0, (t, hits[t] / reps)
    table = fit.table()
    assert list(table["term"]) == ["a", "c", "beta"]
    assert (table["ci_low"] < table["estimate"]).all() and (
        table["estimate"] < table["ci_high"]).all()


def test_joint_fit_domain_offset():
    df = law_table(np.random.default_rng(5), noise=0.02,
                   domains=[("medical", 0.0), ("natural", 0.7)])
    fit = joint_scaling_fit(df, domain="domain", properties="run", n_bootstrap=500)
    assert fit.terms == ("a", "c", "beta", "domain[natural]")
    lo, hi = fit.interval("domain[natural]")
    assert lo <= 0.7 <= hi
    np.testing.assert_allclose(fit["domain[natural]"], 0.7, atol=0.05)


def test_joint_fit_rejects_an_undetermined_design():
    df = law_table(np.random.default_rng(0), dims=(4,), seeds=1)
    df["label_sharpness"] = 1.0  # log K_F = 0 is collinear with nothing to fit
    with pytest.raises(InputError, match="cannot determine"):
        joint_scaling_fit(df)


# ---------------------------------------------------------------------------------------------
# Correlations


def test_correlation_matches_scipy_and_its_interval_contains_it():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(40)
    y = 0.6 * x + 0.8 * rng.standard_normal(40)
    for method, ref in (("pearson", stats.pearsonr(x, y)), ("spearman", stats.spearmanr(x, y))):
        r = correlation_ci(x, y, method=method, n_bootstrap=2000)
        np.testing.assert_allclose([r["r"], r["p_value"]], [ref[0], ref[1]], rtol=1e-10)
        assert r["ci_low"] < r["r"] < r["ci_high"] and r["n"] == 40
    mono = correlation_ci(x, np.exp(x), method="spearman", n_bootstrap=100)
    np.testing.assert_allclose([mono["r"], mono["ci_low"], mono["ci_high"]], 1.0)
    assert np.isnan(correlation_ci([1, 2], [3, 4])["r"])
    with pytest.raises(InputError, match="method"):
        correlation_ci(x, y, method="kendall")


def robustness_table(rng):
    rows = []
    for t in range(8):
        k_f = rng.uniform(0.2, 2.0)
        for s in range(2):
            r = {"dataset": "ds", "task": f"{t}-{t + 1}", "seed": s, "label_sharpness": k_f}
            for eps in (0.00784314, 0.05):
                for m, scale in (("fgsm", 1.0), ("pgd", 1.2)):
                    pen = scale * eps * k_f * (1 + 0.1 * rng.standard_normal())
                    r[f"{m}_eps{eps:.6g}_loss_penalty"] = pen
                    r[f"{m}_eps{eps:.6g}_acc_drop"] = pen / 3
            rows.append(r)
    return pd.DataFrame(rows)


def test_robustness_vs_sharpness_uses_fgsm_at_2_over_255_per_task():
    df = robustness_table(np.random.default_rng(4))
    out = robustness_vs_sharpness(df, n_bootstrap=500)
    assert set(out["method"]) == {"fgsm"}
    np.testing.assert_allclose(out["eps"], 0.00784314)
    assert (out["n"] == 8).all()  # one point per task (means over seeds)
    pts = df.groupby("task")[["label_sharpness", "fgsm_eps0.00784314_loss_penalty"]].mean()
    ref = stats.pearsonr(pts.iloc[:, 0], pts.iloc[:, 1])[0]
    row = out[(out["metric"] == "loss_penalty") & (out["correlation"] == "pearson")].iloc[0]
    np.testing.assert_allclose(row["r"], ref, rtol=1e-10)
    assert row["r"] > 0.9 and row["ci_low"] <= row["r"] <= row["ci_high"]
    per_run = robustness_vs_sharpness(df, method="pgd", eps=0.05, aggregate=None,
                                      n_bootstrap=0)
    assert (per_run["n"] == 16).all() and set(per_run["method"]) == {"pgd"}
    with pytest.raises(InputError, match="was not measured"):
        robustness_vs_sharpness(df, eps=0.1)
    with pytest.raises(InputError, match="no robustness columns"):
        robustness_vs_sharpness(df[["dataset", "task", "label_sharpness"]])


def test_repr_vs_data_fraction_ratio_and_wilson_interval():
    dd = np.full(10, 10.0)
    dr = np.array([2, 4, 5, 6, 7, 8, 9, 10, 12, 15], dtype=float)  # 8 of 10 at or below
    df = pd.DataFrame({"dataset": ["a"] * 5 + ["b"] * 5, "d_data_mle_pope": dd, "d_repr": dr})
    out = repr_vs_data(df).set_index("group")
    allr = out.loc["(all)"]
    assert (allr["n_runs"], allr["n_leq"]) == (10, 8)
    np.testing.assert_allclose(allr["fraction_leq"], 0.8)
    # Wilson score interval for 8/10 at 95 %: 0.4902 to 0.9433 (Newcombe 1998, method 3).
    np.testing.assert_allclose([allr["ci_low"], allr["ci_high"]], [0.4902, 0.9433], atol=1e-4)
    np.testing.assert_allclose(allr["ratio_median"], np.median(dr / dd))
    np.testing.assert_allclose([allr["ratio_min"], allr["ratio_max"]], [0.2, 1.5])
    assert out.loc["a", "n_leq"] == 5 and out.loc["b", "n_leq"] == 3


def test_hidden_id_vs_error_correlates_per_model_means():
    rows = []
    for m, (d_repr, err) in enumerate([(4, 0.05), (6, 0.08), (9, 0.12), (12, 0.2), (15, 0.22)]):
        for s in range(3):
            rows.append({"dataset": "x", "task": "0-1", "model": f"m{m}", "seed": s,
                         "d_repr": d_repr + 0.1 * s, "test_acc": 1 - err - 0.01 * s})
    df = pd.DataFrame(rows)
    out = hidden_id_vs_error(df, n_bootstrap=500)  # test_error derived from test_acc
    means = df.assign(err=1 - df["test_acc"]).groupby("model")[["d_repr", "err"]].mean()
    ref = stats.pearsonr(means["d_repr"], means["err"])[0]
    for group in ("(all)", "x/0-1"):
        row = out[(out["group"] == group) & (out["correlation"] == "pearson")].iloc[0]
        np.testing.assert_allclose(row["r"], ref, rtol=1e-10)
        assert row["n"] == 5
    sp = out[(out["group"] == "(all)") & (out["correlation"] == "spearman")].iloc[0]
    np.testing.assert_allclose(sp["r"], 1.0)


# ---------------------------------------------------------------------------------------------
# All analyses, files and plots


def test_run_analyses_reports_what_it_skips():
    df = law_table(np.random.default_rng(2))
    out = run_analyses(df, n_bootstrap=100)
    assert {"scaling_exponents", "joint_fit"} <= set(out)
    skipped = set(out["skipped"]["analysis"])
    assert skipped == {"robustness_vs_sharpness", "repr_vs_data", "hidden_id_vs_error"}
    assert out["skipped"]["reason"].str.contains("no column|no robustness").all()


def test_write_analysis_writes_tables_and_pngs(tmp_path):
    from idscope.report.sweep_plots import write_analysis

    df = law_table(np.random.default_rng(2), dims=(2, 4, 8))
    df["d_repr"] = df["d_data_mle_pope"] * 0.8
    df["test_error"] = 0.1
    rob = robustness_table(np.random.default_rng(1))
    df = pd.concat([df, rob.assign(n_train=100, test_loss=0.3, d_data_mle_pope=5.0,
                                   model="mlp")], ignore_index=True)
    written = write_analysis(df, tmp_path / "analysis", n_bootstrap=50)
    for name in ("scaling.png", "exponents.png", "joint_fit.png",
                 "robustness_vs_sharpness.png", "repr_vs_data.png", "hidden_id_vs_error.png"):
        assert written[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    table = pd.read_csv(written["scaling_exponents"])
    assert {"exponent", "ci_low", "ci_high", "inv_d_data", "inv_d_repr"} <= set(table.columns)


def test_level_is_the_coverage_and_ci_its_deprecated_name():
    from idscope.analysis import correlation_ci

    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    y = x + rng.normal(size=50)
    new = correlation_ci(x, y, level=0.9, n_bootstrap=200)
    with pytest.warns(DeprecationWarning, match="use level="):
        old = correlation_ci(x, y, ci=0.9, n_bootstrap=200)
    assert new == old
    wide = correlation_ci(x, y, level=0.99, n_bootstrap=200)
    assert wide["ci_low"] < new["ci_low"] < new["r"] < new["ci_high"] < wide["ci_high"]
