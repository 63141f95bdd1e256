"""Every bad input of issue 2 (point 6) gets one clear InputError naming the problem, through
the API and through the CLI (exit code 2, one line on stderr), never a NaN or a traceback."""

import subprocess
import sys

import numpy as np
import pytest
import torch

import idscope
from idscope import InputError
from idscope.cli.main import main

rng = np.random.default_rng(0)
GOOD = rng.normal(size=(60, 4))
ESTIMATORS = ["twonn", "mle", "gride", "pca_id"]


def with_nonfinite():
    X = GOOD.copy()
    X[3, 1] = np.nan
    X[7, 0] = np.inf
    X[9, 2] = -np.inf
    return X


# --------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------
API_CASES = {
    "nan/inf": (with_nonfinite(), r"input contains 3 NaN or inf value\(s\)"),
    "nan/inf torch": (torch.from_numpy(with_nonfinite()), r"contains 3 NaN or inf"),
    "nan/inf float32": (with_nonfinite().astype(np.float32), r"contains 3 NaN or inf"),
    "1-D": (np.arange(10.0), r"expected a 2-D array .*got 1-D array of shape \(10,\)"),
    "3-D": (np.zeros((4, 3, 2)), r"got 3-D array of shape \(4, 3, 2\)"),
    "scalar": (np.float64(1.0), r"got 0-D array"),
    "empty rows": (np.zeros((0, 4)), r"input is empty \(shape \(0, 4\)\)"),
    "empty columns": (np.zeros((5, 0)), r"input is empty \(shape \(5, 0\)\)"),
    "one point": (GOOD[:1], r"needs at least"),
    "strings": (np.array([["1", "2"], ["3", "x"]]), r"not numeric"),
    "objects": (np.array([[1.0, None], [2.0, 3.0]], dtype=object), r"not numeric"),
    "ragged": ([[1.0, 2.0], [3.0]], r"could not convert input"),
    "None": (None, r"got None"),
    "complex": (GOOD + 1j, r"complex input is not supported"),
}


@pytest.mark.parametrize("fn", ESTIMATORS)
@pytest.mark.parametrize("case", list(API_CASES))
def test_api_bad_data(fn, case):
    X, match = API_CASES[case]
    with pytest.raises(InputError, match=f"^{fn}: .*{match}"):
        getattr(idscope, fn)(X)


def test_api_nan_in_pandas_and_non_numeric_columns():
    import pandas as pd

    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": ["x", "y", "z", "w"],
                       "c": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(InputError, match=r"non-numeric column\(s\) \['b'\]"):
        idscope.twonn(df)
    df = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "c": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(InputError, match=r"1 NaN or inf"):
        idscope.mle(df, k=2)


@pytest.mark.parametrize(("fn", "kwargs", "n", "match"), [
    ("twonn", {}, 2, r"twonn: needs at least 3 points for k=2, got 2"),
    ("mle", {}, 20, r"mle: needs at least 21 points for k=20, got 20"),
    ("mle", {"k": 5}, 5, r"mle: needs at least 6 points for k=5, got 5"),
    ("gride", {"n1": 4, "n2": 8}, 8, r"gride: needs at least 9 points for k=8, got 8"),
    ("pca_id", {}, 1, r"pca_id: needs at least 2 points, got 1"),
])
def test_api_too_few_points(fn, kwargs, n, match):
    with pytest.raises(InputError, match=match):
        getattr(idscope, fn)(GOOD[:n], **kwargs)


def test_api_too_few_distinct_points():
    X = np.concatenate([np.ones((40, 4)), GOOD[:3]])
    with pytest.raises(InputError, match=r"mle: needs at least 21 distinct points, got 4 "
                                         r"after removing 39 duplicate\(s\)"):
        idscope.mle(X)


@pytest.mark.parametrize("fn", ESTIMATORS)
def test_api_all_points_identical(fn):
    X = np.full((50, 3), 7.0)
    with pytest.raises(InputError, match=f"{fn}: all.*identical"):
        getattr(idscope, fn)(X)


def test_api_all_points_identical_kneighbors_reports_duplicates():
    knn = idscope.kneighbors(np.full((10, 2), 1.0), 3)
    assert (knn.distances == 0).all()
    (group,) = idscope.neighbors.duplicate_groups(knn)
    assert len(group) == 10


def test_api_regular_grid_has_no_twonn():
    """Every point has r1 = r2: the TwoNN likelihood is degenerate (never return inf/NaN)."""
    g = np.stack(np.meshgrid(np.arange(8.0), np.arange(8.0)), -1).reshape(-1, 2)
    for method in ("linear", "mle"):
        with pytest.raises(InputError, match="all 64 points have r1 = r2"):
            idscope.twonn(g, method=method)
    with pytest.raises(InputError, match="every point has r_1 = r_2"):
        idscope.gride(g)
    with pytest.raises(InputError, match="dropping 64 point"):
        idscope.twonn(g, duplicates="drop-ties")


def test_api_degenerate_ratios():
    """Ties r1 = r2 in most points (integer data): a clear error, never NaN or inf."""
    from idscope.estimators import twonn_from_ratios

    mu = np.array([1.0] * 95 + [1.5] * 5)
    with pytest.raises(InputError, match="the 90 smallest ratios are all mu = 1"):
        twonn_from_ratios(mu)
    with pytest.raises(InputError, match="fraction=0.01 keeps 1 of 100 ratios"):
        twonn_from_ratios(mu, fraction=0.01)
    assert np.isfinite(twonn_from_ratios(mu, method="mle")).all()
    d, se, lo, hi = twonn_from_ratios(np.linspace(1.1, 3, 50), n_bootstrap=0)
    assert np.isfinite(d) and np.isnan([se, lo, hi]).all()  # no bootstrap, no interval
    # GRIDE keeps the ties r_1 = r_2 in its likelihood (the Pareto density at mu = 1 is d > 0,
    # docs/science.md): with most points tied, GRIDE(1, 2) still equals TwoNN-ML, finite.
    g = np.stack(np.meshgrid(np.arange(6.0), np.arange(6.0)), -1).reshape(-1, 2)
    g = np.concatenate([g, [[10.0, 10.3], [20.0, 20.7]]])
    gr, ml = idscope.gride(g), idscope.twonn(g, method="mle")
    assert np.isfinite(gr.dimension) and gr.dimension == pytest.approx(ml.dimension, rel=1e-6)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: idscope.mle(GOOD, k=1), r"mle: k=1 is out of range >= 2"),
    (lambda: idscope.mle(GOOD, k=0), r"mle: k=0 is out of range"),
    (lambda: idscope.mle(GOOD, k=-3), r"mle: k=-3 is out of range"),
    (lambda: idscope.mle(GOOD, k=60), r"mle: needs at least 61 points for k=60, got 60"),
    (lambda: idscope.mle(GOOD, k=2.5), r"mle: k must be an integer, got 2.5"),
    (lambda: idscope.mle(GOOD, k=True), r"mle: k must be an integer"),
    (lambda: idscope.mle(GOOD, k=2, normalization="k-2"), r"k=2 is out of range >= 3"),
    (lambda: idscope.mle(GOOD, k=2, aggregate="mean"), r"k=2 is out of range >= 3"),
    (lambda: idscope.mle(GOOD, k=(10, 5)), r"k2=5 is out of range >= 10"),
    (lambda: idscope.mle(GOOD, k=(1, 5, 9)), r"k range must be \(k1, k2\)"),
    (lambda: idscope.mle(GOOD, normalization="k"), r"normalization='k' is not one of"),
    (lambda: idscope.gride(GOOD, n1=0), r"gride: n1=0 is out of range"),
    (lambda: idscope.gride(GOOD, n1=3, n2=3), r"gride: n2=3 is out of range >= 4"),
    (lambda: idscope.gride(GOOD, n1=1, n2=60), r"needs at least 61 points for k=60"),
    (lambda: idscope.kneighbors(GOOD, 60), r"kneighbors: k=60 is out of range \[1, 59\]"),
    (lambda: idscope.kneighbors(GOOD, 0), r"kneighbors: k=0 is out of range"),
    (lambda: idscope.kneighbors(GOOD, 2.0), r"kneighbors: k must be an integer"),
    (lambda: idscope.kneighbors(GOOD, 3, reference=GOOD[:2]), r"k=3 is out of range \[1, 2\]"),
    (lambda: idscope.kneighbors(GOOD, 1, reference=GOOD[:, :2]), r"4 features but reference"),
    (lambda: idscope.mle(idscope.kneighbors(GOOD, 5), k=10), r"needs 10 neighbours"),
    (lambda: idscope.twonn(GOOD, method="ml"), r"method='ml' is not one of"),
    (lambda: idscope.twonn(GOOD, fraction=0.0), r"fraction=0.0 must be in \(0, 1\]"),
    (lambda: idscope.twonn(GOOD, duplicates="keep"), r"duplicates='keep' is not one of"),
    (lambda: idscope.pca_id(GOOD, threshold=1.5), r"threshold=1.5 must be in \(0, 1\]"),
])
def test_api_parameters_out_of_range(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)
    with pytest.raises(ValueError):
        idscope.twonn(np.arange(3.0))


# --------------------------------------------------------------------------------------
# CLI: exit code 2 and one line on stderr
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    np.save(d / "nan.npy", with_nonfinite())
    np.save(d / "oned.npy", np.arange(10.0))
    np.save(d / "empty.npy", np.zeros((0, 4)))
    np.save(d / "identical.npy", np.full((30, 3), 2.0))
    np.save(d / "two.npy", GOOD[:2])
    np.save(d / "good.npy", GOOD)
    (d / "garbage.npy").write_bytes(b"this is not an array")
    (d / "garbage.pt").write_bytes(b"this is not a tensor")
    (d / "text.csv").write_text("a,b,c\n1,2,x\n3,4,y\n5,6,z\n")
    (d / "nan.csv").write_text("a,b\n1,2\n3,\n5,6\n7,8\n")
    (d / "empty.csv").write_text("")
    (d / "data.xyz").write_text("1 2 3")
    np.savez(d / "two_arrays.npz", a=GOOD, b=GOOD)
    return d


CLI_CASES = [
    (["nan.npy"], r"3 NaN or inf value\(s\)"),
    (["nan.csv"], r"1 NaN or inf value\(s\)"),
    (["oned.npy"], r"expected a 2-D array .*1-D"),
    (["empty.npy"], r"input is empty"),
    (["identical.npy"], r"all 30 points are identical"),
    (["identical.npy", "--method", "pca"], r"all points are identical"),
    (["two.npy"], r"needs at least 3 points for k=2, got 2"),
    (["good.npy", "--method", "mle", "--k", "80"], r"needs at least 81 points for k=80"),
    (["good.npy", "--method", "mle", "--k", "1"], r"k=1 is out of range"),
    (["good.npy", "--method", "gride", "--n1", "2", "--n2", "2"], r"n2=2 is out of range"),
    (["good.npy", "--scale", "mle-k", "--k-range", "5", "90"], r"needs at least 91 points"),
    (["good.npy", "--scale", "gride", "--range-max", "64"], r"needs at least 65 points"),
    (["text.csv"], r"non-numeric column\(s\) \['c'\]"),
    (["empty.csv"], r"could not read"),
    (["garbage.npy"], r"could not read"),
    (["garbage.pt"], r"could not read"),
    (["missing.npy"], r"no such file"),
    (["data.xyz"], r"unsupported file type '.xyz'"),
    (["two_arrays.npz"], r"array 'X' not found"),
    (["sklearn:not_a_dataset"], r"unknown bundled dataset 'sklearn:not_a_dataset'"),
    (["good.npy", "--plot", "x.png"], r"--plot needs --scale"),
    (["good.npy", "--scale", "blocks", "--method", "all"], r"takes one --method"),
]


@pytest.mark.parametrize(("argv", "match"), CLI_CASES, ids=[" ".join(a) for a, _ in CLI_CASES])
def test_cli_bad_input(argv, match, files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    assert main(["estimate", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("idscope estimate: error: ")
    assert __import__("re").search(match, lines[0]), lines[0]


def test_cli_bad_input_real_entry_point(files):
    """The installed command: a user error exits 2 with one line and no traceback."""
    proc = subprocess.run([sys.executable, "-m", "idscope.cli.main", "estimate",
                           str(files / "nan.npy")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "idscope estimate: error: twonn: input contains 3 NaN or inf value(s)"]
