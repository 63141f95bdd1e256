"""The plateau rule of the scale analysis: brute-force windows, tables and plots."""

import numpy as np
import pytest

import idscope
from idscope.estimators import find_plateau, scale_analysis


def sphere(n, d, seed):
    """Uniform on S^d, rotated into R^(d+4)."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, d + 1))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    Q, _ = np.linalg.qr(rng.normal(size=(d + 5, d + 5)))
    return np.pad(Z, ((0, 0), (0, 4))) @ Q


def brute_plateau(x, d, w):
    order = np.argsort(x, kind="stable")
    best = None
    for a in range(len(x) - w + 1):
        part = d[order[a:a + w]]
        if np.isfinite(part).all():
            flat = (part.max() - part.min()) / part.mean()
            if best is None or flat < best[0]:
                best = (flat, a)
    return best[0], tuple(int(i) for i in order[best[1]:best[1] + w])


def test_plateau_is_the_flattest_window():
    x = np.arange(1.0, 11.0)
    d = np.array([1, 2, 3, 4.0, 4.05, 4.02, 4.1, 6, 8, 10])
    p = find_plateau(x, d, window=3)
    assert p.rows == (3, 4, 5) and p.recommended == 4
    assert (p.x, p.dimension) == (5.0, 4.05)
    assert p.flatness == pytest.approx(0.05 / np.mean([4.0, 4.05, 4.02]))
    assert p.flat and p.mean == pytest.approx(np.mean([4.0, 4.05, 4.02]))
    assert not find_plateau(x, d, window=3, tolerance=0.01).flat


@pytest.mark.parametrize("seed", range(5))
def test_plateau_equals_brute_force_on_shuffled_rows(seed):
    rng = np.random.default_rng(seed)
    x = rng.permutation(20).astype(float)
    d = rng.uniform(1, 5, size=20)
    d[rng.integers(20)] = np.nan
    p = find_plateau(x, d)
    assert p.window == 5  # max(3, ceil(20 / 4))
    flat, rows = brute_plateau(x, d, 5)
    assert p.flatness == pytest.approx(flat) and p.rows == rows
    assert p.recommended == rows[2]


def test_no_plateau_without_enough_finite_rows():
    assert find_plateau([1.0, 2.0, 3.0], [1.0, np.nan, 2.0]) is None
    with pytest.raises(idscope.InputError, match="one length"):
        find_plateau([1.0, 2.0], [1.0])


def test_scale_analysis_recommends_the_dimension_of_a_sphere():
    X = sphere(1000, 3, seed=0)
    res = scale_analysis(X, "decimation", n_repeats=2, min_points=60)
    p = res.plateau
    assert p is not None and p.flat and abs(p.dimension - 3) < 0.3
    rec = [r for r in res.rows if r["recommended"]]
    assert len(rec) == 1 and rec[0]["n"] == p.x and rec[0]["dimension"] == p.dimension
    assert sum(r["plateau"] for r in res.rows) == p.window
    assert res.to_dict()["params"]["plateau"]["flatness"] == p.flatness
    df = res.to_frame()
    assert {"plateau", "recommended"} <= set(df.columns)


def test_plot_marks_the_recommended_scale():
    from idscope.report.scale import plot_scale

    res = scale_analysis(sphere(400, 2, seed=1), "mle-k", k_range=(5, 20))
    fig = plot_scale(res)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(t.startswith("recommended:") and "plateau" in t for t in texts)
