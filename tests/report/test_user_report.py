"""``idscope report`` renders whatever a sweep holds: 1, 2 or 3 tasks, with and without
robustness, titles from the data (issue 13, points 1 and 12)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from idscope.cli.main import main

EPS = 2 / 255


def sweep_table(n_tasks: int, robustness: bool, *, source: str = "mydata.csv",
                seed: int = 0) -> pd.DataFrame:
    """A results table shaped like ``idscope sweep``'s: tasks x sizes x seeds, losses that
    follow L = K_F·N^(-1/d), one model."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_tasks):
        d, kf = 3.0 + 2 * t, 0.5 + 0.4 * t
        for n in (40, 80, 160):
            for s in (0, 1):
                loss = kf * n ** (-1 / d) * np.exp(rng.normal(0, 0.02))
                row = {"key": f"{t}-{n}-{s}", "sweep": "mine", "dataset": source,
                       "source": source, "domain": np.nan, "task": f"{2 * t}-{2 * t + 1}",
                       "model": "mlp", "n_train": n, "n_test": 60, "seed": s,
                       "test_loss": loss, "test_acc": 1 - loss / 4, "test_error": loss / 4,
                       "train_loss": loss / 2, "d_data_mle": d * 1.05, "d_data_mle_pope": d,
                       "d_data_twonn": d * 1.1, "label_sharpness": kf,
                       "d_repr": d * 0.8 + rng.normal(0, 0.1), "seconds": 1.0}
                if robustness:
                    for m in ("fgsm", "pgd"):
                        pen = 0.01 * kf * (1 + rng.normal(0, 0.05))
                        row[f"{m}_eps{EPS:.8f}_loss_penalty"] = pen
                        row[f"{m}_eps{EPS:.8f}_acc_drop"] = pen / 2
                        row[f"{m}_eps{EPS:.8f}_adv_loss"] = loss + pen
                        row[f"{m}_eps{EPS:.8f}_adv_acc"] = 1 - loss / 4 - pen / 2
                rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("n_tasks", [1, 2, 3])
@pytest.mark.parametrize("robustness", [False, True])
def test_report_renders_any_small_sweep(tmp_path, capsys, n_tasks, robustness):
    out = tmp_path / "sweep"
    out.mkdir()
    sweep_table(n_tasks, robustness).to_csv(out / "results.csv", index=False)
    assert main(["report", str(out), "--bootstrap", "20"]) == 0
    assert "report:" in capsys.readouterr().out
    page = (out / "index.html").read_text(encoding="utf-8")
    images = re.findall(r"<img src='([^']+)'", page)
    assert images, "the page shows the plots its data allow"
    for src in images:
        assert (out / src).is_file() and (out / src).stat().st_size > 1000, src
    # titles come from the data, not from the demo
    assert "digit pairs" not in page and "synthetic" not in page
    assert ("robustness_vs_sharpness" in page) == robustness


def test_learning_curve_panels_follow_the_domains():
    from idscope.report.figures import plot_learning_curves

    one = sweep_table(2, False)
    fig = plot_learning_curves(one)
    assert len(fig.axes) == 1 and "mydata.csv" in fig.axes[0].get_title()
    two = pd.concat([one, sweep_table(1, False, source="synthetic:manifold")])
    two["domain"] = np.where(two["source"].str.startswith("synthetic"), "synthetic", "mine")
    fig = plot_learning_curves(two)
    titles = sorted(ax.get_title().split(" (")[0] for ax in fig.axes)
    assert titles == ["mine", "synthetic"]
    assert all(ax.get_legend() is not None for ax in fig.axes)


def test_log_axes_survive_non_positive_and_single_values():
    from matplotlib.figure import Figure

    from idscope.report._axes import log_axis

    ax = Figure().add_subplot()
    assert not log_axis(ax, "x", [0.0, -1.0, np.nan])  # stays linear instead of raising
    assert ax.get_xscale() == "linear"
    assert log_axis(ax, "y", [0.3])
    lo, hi = ax.get_ylim()
    assert lo < 0.3 < hi
    ax.figure.canvas.draw() if hasattr(ax.figure.canvas, "draw") else None


def test_page_marks_values_outside_their_interval_and_nan_verdicts(tmp_path):
    from idscope.report.html import Finding, Report, render_html

    f1 = Finding("k2", "MLE k-2", "claim", "reading", value=5.31, value_label="MLE (k-2)",
                 interval=(5.45, 5.77), shown=True,
                 details=({"label": "pca", "value": 66.0, "ci_low": 46.5, "ci_high": 51.0},))
    f2 = Finding("nan", "Correlation", "claim", "reading", value=float("nan"),
                 value_label="r", interval=(float("nan"), float("nan")), shown=False)
    page = render_html(Report("t", "intro", (f1, f2)), tmp_path)
    assert page.count("5.31 †") == 1 and "66 †" in page
    assert "lies outside its 95% interval" in page
    assert "not testable here" in page and "NOT shown" not in page
    # every table sits in a box that scrolls on its own
    assert page.count("<table") == page.count("<div class='scroll'><table")


@pytest.mark.slow
def test_demo_pairs_csv_intervals_bracket_the_value_they_name(quick_demo_dir):
    """The interval columns of pairs.csv are named after the estimate they are for (d, the
    k-1 column), so no row reads as an interval excluding its own estimate."""
    pairs = pd.read_csv(quick_demo_dir / "tables" / "pairs.csv")
    assert len(pairs) == 45
    assert ((pairs["d_data_mle_ci_low"] <= pairs["d_data_mle"])
            & (pairs["d_data_mle"] <= pairs["d_data_mle_ci_high"])).all()
    assert not any(c.startswith("d_data_mle_pope_ci") for c in pairs.columns)


@pytest.mark.parametrize("n_tasks", [1, 2])
def test_analyze_writes_every_plot_on_tiny_sweeps(tmp_path, n_tasks):
    path = tmp_path / "results.csv"
    sweep_table(n_tasks, True).to_csv(path, index=False)
    assert main(["analyze", str(path), "--bootstrap", "20", "--out", str(tmp_path / "a")]) == 0
    pngs = sorted(p.name for p in (tmp_path / "a").glob("*.png"))
    assert {"scaling.png", "robustness_vs_sharpness.png", "repr_vs_data.png"} <= set(pngs)
