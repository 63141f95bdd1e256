"""Scale analysis (decimation, blocks, MLE over k, GRIDE rank doubling) and its plot."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import idscope
from idscope import InputError, ScaleResult, scale_analysis
from idscope.estimators import SCALE_KINDS

DATA = Path(__file__).parents[1] / "fixtures"


def sphere(n, d, seed):
    """Uniform on S^d, rotated into R^(d+4) and translated."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, d + 1))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    Q, _ = np.linalg.qr(rng.normal(size=(d + 5, d + 5)))
    return np.pad(Z, ((0, 0), (0, 4))) @ Q + 2.0


@pytest.fixture(scope="module")
def dadapy():
    return np.load(DATA / "2gaussians_in_2d.npy")


@pytest.fixture(scope="module")
def sphere3():
    return sphere(2000, 3, seed=0)


def test_gride_rank_doubling_reproduces_dadapy(dadapy):
    """DADApy's ``return_id_scaling_gride(range_max=64)`` on its fixture (docs/science.md §5)."""
    res = scale_analysis(dadapy, "gride", range_max=64)
    assert isinstance(res, ScaleResult) and res.kind == "gride" and res.x == "scale"
    np.testing.assert_allclose(res.column("dimension"),
                               [2.00076, 2.03214, 1.91183, 2.00056, 1.67472, 0.72082],
                               atol=5e-6)
    np.testing.assert_array_equal(res.column("n1"), [1, 2, 4, 8, 16, 32])
    np.testing.assert_array_equal(res.column("n2"), [2, 4, 8, 16, 32, 64])
    # every row is exactly the estimator at that rank pair
    for row in res.rows:
        ref = idscope.gride(dadapy, n1=row["n1"], n2=row["n2"])
        assert row["dimension"] == ref.dimension
        assert row["stderr"] == ref.stderr
        assert row["scale"] == ref.params["scale"]
    # the scale is the mean of r_n1 and r_n2, so it grows with the rank
    assert np.all(np.diff(res.column("scale")) > 0)
    assert np.isnan(res.column("spread")).all()


def test_gride_range_max_not_a_power_of_two(dadapy):
    res = scale_analysis(dadapy, "gride", range_max=40)
    np.testing.assert_array_equal(res.column("n2"), [2, 4, 8, 16, 32])


def test_decimation_is_flat_on_a_sphere(sphere3):
    """On S^3 with N = 2 000 the estimate does not depend on N: every level's mean over
    5 random subsets lies within max(0.3, 3·d/√(n·repeats)) of d = 3 (TwoNN's sampling sd
    is d/√n per estimate)."""
    res = scale_analysis(sphere3, "decimation", estimator_params={"method": "mle"},
                         n_repeats=5, min_points=125, seed=1)
    n = res.column("n")
    np.testing.assert_array_equal(n, [2000, 1000, 500, 250, 125])
    np.testing.assert_array_equal(res.column("repeats"), [1, 5, 5, 5, 5])
    np.testing.assert_allclose(res.column("fraction"), n / 2000)
    tol = np.maximum(0.3, 3 * 3 / np.sqrt(n * res.column("repeats")))
    assert np.all(np.abs(res.column("dimension") - 3) <= tol), res.to_frame()
    # the full-size level is the plain estimate; the spread exists only with repeats
    assert res.rows[0]["dimension"] == idscope.twonn(sphere3, method="mle").dimension
    assert np.isnan(res.rows[0]["spread"]) and np.all(res.column("spread")[1:] > 0)
    # fewer points, larger neighbour distances
    assert np.all(np.diff(res.column("scale")) > 0)


def test_decimation_seeded(sphere3):
    X = sphere3[:400]
    kw = {"estimator_params": {"method": "mle"}, "min_points": 50}
    a = scale_analysis(X, "decimation", seed=3, **kw)
    b = scale_analysis(X, "decimation", seed=3, **kw)
    c = scale_analysis(X, "decimation", seed=4, **kw)
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())  # NaN-safe comparison
    assert not np.array_equal(a.column("dimension")[1:], c.column("dimension")[1:])


def test_blocks_are_ansuinis_block_analysis(sphere3):
    """b = 1..max_blocks disjoint random blocks; mean ± std of the b estimates against N/b."""
    X = sphere3[:1000]
    res = scale_analysis(X, "blocks", estimator="mle", estimator_params={"k": 10},
                         max_blocks=8, min_points=50, seed=2)
    b = res.column("blocks")
    np.testing.assert_array_equal(b, np.arange(1, 9))
    np.testing.assert_array_equal(res.column("repeats"), b)
    np.testing.assert_array_equal(res.column("n"), np.round(1000 / b))
    # one block is the whole set (row order does not change the estimate)
    np.testing.assert_allclose(res.rows[0]["dimension"], idscope.mle(X, k=10).dimension,
                               rtol=1e-12)
    assert np.all(np.abs(res.column("dimension") - 3) < 0.45), res.to_frame()
    # the blocks of one row are disjoint and cover the data: check on one row by hand
    perm = np.random.default_rng(2).permutation(1000)
    parts = np.array_split(perm, 3)
    dims = [idscope.mle(X[np.sort(p)], k=10).dimension for p in parts]
    np.testing.assert_allclose(res.rows[2]["dimension"], np.mean(dims), rtol=1e-12)
    np.testing.assert_allclose(res.rows[2]["spread"], np.std(dims, ddof=1), rtol=1e-12)


def test_blocks_stop_at_min_points():
    X = sphere(100, 2, seed=5)
    res = scale_analysis(X, "blocks", estimator_params={"method": "mle"}, min_points=30)
    np.testing.assert_array_equal(res.column("blocks"), [1, 2, 3])


def test_mle_over_k(sphere3):
    X = sphere3[:800]
    res = scale_analysis(X, "mle-k", k_range=(5, 25))
    assert res.x == "k"
    np.testing.assert_array_equal(res.column("k"), np.arange(5, 26))
    for row in res.rows[::5]:
        ref = idscope.mle(X, k=row["k"])
        assert row["dimension"] == ref.dimension
        assert (row["ci_low"], row["ci_high"]) == ref.ci
    assert np.all(np.diff(res.column("scale")) > 0)
    assert np.all(np.abs(res.column("dimension") - 3) < 0.3)
    pope = scale_analysis(X, "mle-k", k_range=(5, 25),
                          estimator_params={"normalization": "k-2"})
    k = pope.column("k")
    np.testing.assert_allclose(pope.column("dimension"),
                               res.column("dimension") * (k - 2) / (k - 1), rtol=1e-12)


def test_pca_decimation_and_torch_input(sphere3):
    res = scale_analysis(torch.from_numpy(sphere3[:400]), "decimation", estimator="pca",
                         estimator_params={"n_bootstrap": 0}, min_points=100, n_repeats=2)
    # S^3 spans 4 linear dimensions with variance 1/4 each: 90 % needs all 4
    np.testing.assert_array_equal(res.column("dimension"), [4, 4, 4])
    assert np.isnan(res.column("scale")).all()


def test_duplicates_handled_once(dadapy):
    X = np.concatenate([dadapy, dadapy[:10]])
    res = scale_analysis(X, "gride", range_max=32)
    ref = scale_analysis(dadapy, "gride", range_max=32)
    np.testing.assert_allclose(res.column("dimension"), ref.column("dimension"), rtol=1e-12)
    with pytest.raises(InputError, match="10 duplicate row"):
        scale_analysis(X, "mle-k", k_range=(5, 10), duplicates="error")


def test_result_table(dadapy):
    res = scale_analysis(dadapy, "decimation", min_points=20,
                         estimator_params={"n_bootstrap": 20})
    df = res.to_frame()
    assert list(df.columns[:10]) == ["kind", "estimator", "n", "scale", "dimension", "stderr",
                                     "spread", "ci_low", "ci_high", "repeats"]
    assert "fraction" in df.columns
    assert len(df) == len(res) == 3
    assert (df["kind"] == "decimation").all() and (df["estimator"] == "twonn").all()
    d = res.to_dict()
    json.dumps(d)
    assert d["params"]["estimator_params"]["n_bootstrap"] == 20
    with pytest.raises(AttributeError):
        res.kind = "blocks"  # frozen


def test_progress_bar_runs(dadapy, capsys):
    res = scale_analysis(dadapy, "mle-k", k_range=(5, 8), progress=True)
    assert len(res) == 4


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"kind": "pyramid"}, "kind='pyramid' is not one of"),
    ({"kind": "decimation", "estimator": "lpca"}, "estimator='lpca' is not one of"),
    ({"kind": "mle-k", "k_range": (5, 100)}, "needs at least 101 points for k=100"),
    ({"kind": "mle-k", "k_range": (1, 10)}, "k1=1 is out of range"),
    ({"kind": "mle-k", "k_range": (10, 5)}, "k2=5 is out of range"),
    ({"kind": "mle-k", "k_range": 7}, "k_range must be"),
    ({"kind": "mle-k", "estimator_params": {"k": 3}}, "takes only normalization"),
    ({"kind": "gride", "range_max": 128}, "needs at least 129 points"),
    ({"kind": "gride", "range_max": 1}, "range_max=1 is out of range"),
    ({"kind": "gride", "estimator_params": {"n1": 2}}, "takes no estimator_params"),
    ({"kind": "decimation", "min_points": 500}, "needs at least min_points=500"),
    ({"kind": "blocks", "min_points": 500}, "need at least min_points=500"),
    ({"kind": "decimation", "n_repeats": 0}, "n_repeats=0 is out of range"),
    ({"kind": "blocks", "estimator_params": [1]}, "estimator_params must be a dict"),
    ({"kind": "decimation", "seed": -1}, "seed=-1 is out of range"),
])
def test_bad_arguments(dadapy, kwargs, match):
    with pytest.raises(InputError, match=match):
        scale_analysis(dadapy, **kwargs)


def test_bad_data():
    with pytest.raises(InputError, match="2 NaN or inf"):
        scale_analysis(np.array([[1.0, np.nan], [np.inf, 0]] + [[0.0, 1.0]] * 5), "gride")
    with pytest.raises(InputError, match="expected a 2-D array"):
        scale_analysis(np.arange(10.0), "decimation")


# --------------------------------------------------------------------------------------
# plotting (report layer)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", SCALE_KINDS)
def test_plot_scale(kind, dadapy, tmp_path):
    from matplotlib.figure import Figure

    from idscope.report.profile import save_plot
    from idscope.report.scale import plot_scale

    kw = {"k_range": (5, 20)} if kind == "mle-k" else {"max_blocks": 4} if kind == "blocks" \
        else {}
    res = scale_analysis(dadapy, kind, **kw)
    fig = plot_scale(res)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    line = ax.lines[0]
    np.testing.assert_allclose(np.sort(line.get_xdata()), np.sort(res.column(res.x)))
    assert ax.get_ylabel() == "intrinsic dimension"
    assert ax.get_xscale() == ("linear" if kind == "mle-k" else "log")
    out = save_plot(fig, tmp_path / f"{kind}.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # several results on one axes
    assert plot_scale(res, ax=ax, label="again") is fig
    assert len(ax.lines) >= 2


def test_plot_scale_rejects_other_objects():
    from idscope.report.scale import plot_scale

    with pytest.raises(InputError, match="expected a ScaleResult"):
        plot_scale({"rows": []})
