"""Verdict logic of the studies on small synthetic tables (no training)."""

import math

import numpy as np
import pandas as pd
import pytest

from idscope.studies.ansuini import FAR_BELOW, finding_id_below_embedding
from idscope.studies.base import Workspace, diff_interval, ratio_interval
from idscope.studies.konz import BOUND_FRACTION, judge_repr_vs_data
from idscope.studies.settings import DemoSettings


def profile_table(ids, highs, dims):
    rows = []
    for i, (layer, d, hi, D) in enumerate(zip(("input", "features.2", "hidden", "output"),
                                              ids, highs, dims)):
        rows.append({"model": "trained", "layer": layer, "relative_depth": i / 3,
                     "embedding_dim": D, "twonn_full": d, "twonn_ci_low": d - 0.5,
                     "twonn_ci_high": hi, "twonn_stderr": 0.2, "pca": 3 * d})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("highs", "shown"), [((10.0, 20.0, 6.0, 5.0), True),
                                              ((10.0, 20.0, 9.0, 5.0), False)])
def test_id_below_embedding_decided_by_upper_bounds(tmp_path, highs, shown):
    # hidden layer of width 32: its upper bound 6 / 32 < 0.25 passes, 9 / 32 > 0.25 fails;
    # the output (width 10, upper bound 0.5) is reported, never judged
    out = Workspace(tmp_path)
    out.save_table("profile_digits", profile_table((9.0, 18.0, 5.0, 4.0), highs,
                                                   (64, 256, 32, 10)))
    f = finding_id_below_embedding(out, DemoSettings())
    assert f.shown is shown
    assert f.interval[1] == pytest.approx(max(h / D for h, D in zip(highs[:3], (64, 256, 32))))
    judged = [d for d in f.details if d["shown"] is not None]
    assert [d["shown"] for d in judged] == [h / D <= FAR_BELOW for h, D in
                                            zip(highs[:3], (64, 256, 32))]
    assert [fig.plot for fig in out.figures] == ["plot_id_vs_embedding"]


def test_repr_vs_data_verdict_from_the_wilson_bound(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    d_data = rng.uniform(8, 12, n)
    df = pd.DataFrame({"d_repr": d_data * 0.5, "d_data_mle_pope": d_data,
                       "dataset": "a", "n_train": 100})
    f = judge_repr_vs_data(Workspace(tmp_path), df, table="t.csv")
    assert f.shown is True and f.value == 1.0 and f.interval[0] >= BOUND_FRACTION
    df.loc[: n // 2, "d_repr"] = df.loc[: n // 2, "d_data_mle_pope"] * 2  # 21 of 40 above
    f = judge_repr_vs_data(Workspace(tmp_path), df, table="t.csv")
    assert f.shown is False and f.value == pytest.approx(19 / 40)


def test_interval_arithmetic():
    d, lo, hi = diff_interval(5.0, 0.3, 2.0, 0.4)
    assert d == 3.0 and hi - d == pytest.approx(1.959963984540054 * 0.5)
    r, lo, hi = ratio_interval(4.0, 0.4, 2.0, 0.0)
    assert r == 2.0 and (hi - lo) / 2 == pytest.approx(1.959963984540054 * 0.2)
    assert math.isclose(lo + hi, 2 * r)
