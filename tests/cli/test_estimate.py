"""``idscope estimate``: estimators, file formats, JSON, scale analysis, plots, progress."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import idscope
from idscope.cli.main import main


def run_cli(argv, capsys):
    code = main(["estimate", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def strict_json(text):
    def reject(name):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=reject)


def sphere(n=300, d=3, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, d + 1))
    return Z / np.linalg.norm(Z, axis=1, keepdims=True) + 1.0


def table_rows(out):
    """Rows of the printed table as dicts (header on the line after the title)."""
    lines = out.strip().splitlines()
    header = lines[1].split()
    return [dict(zip(header, ln.split()[: len(header) - 1] + [ln.split()[-1]]))
            for ln in lines[3:]]


def test_digits_all_four_estimators_with_intervals(capsys):
    """Issue 2 "Done means": ``idscope estimate sklearn:digits --method all`` prints all four
    estimators with intervals."""
    out, _ = run_cli(["sklearn:digits", "--method", "all"], capsys)
    assert out.splitlines()[0] == "sklearn:digits: 1797 points x 64 features"
    rows = {r["method"]: r for r in table_rows(out)}
    assert set(rows) == {"twonn", "mle", "gride", "pca"}
    X = idscope.data.load("sklearn:digits").flat()
    for name, r in rows.items():
        lo, d, hi = float(r["ci95_low"]), float(r["dimension"]), float(r["ci95_high"])
        assert lo <= d <= hi and lo < hi or name == "pca", r
        assert np.isfinite([lo, d, hi]).all()
    # the printed numbers are the API's
    np.testing.assert_allclose(float(rows["mle"]["dimension"]), idscope.mle(X).dimension,
                               rtol=1e-3)
    np.testing.assert_allclose(float(rows["twonn"]["dimension"]), idscope.twonn(X).dimension,
                               rtol=1e-3)
    assert rows["mle"]["interval"] == "gamma-graph"  # the default: design effect of the kNN graph


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    X = sphere()
    np.save(d / "x.npy", X)
    np.savez(d / "x.npz", X=X, y=np.zeros(len(X)))
    np.savetxt(d / "x.csv", X, delimiter=",", header="a,b,c,d", comments="")
    np.savetxt(d / "x.tsv", X, delimiter="\t", header="a\tb\tc\td", comments="")
    torch.save(torch.from_numpy(X), d / "x.pt")
    torch.save({"X": torch.from_numpy(X)}, d / "dict.pt")
    return d, X


@pytest.mark.parametrize("name", ["x.npy", "x.npz", "x.csv", "x.tsv", "x.pt", "dict.pt"])
def test_file_formats_json(name, data_files, capsys):
    d, X = data_files
    out, _ = run_cli([str(d / name), "--method", "twonn", "--twonn-method", "mle", "--json"],
                     capsys)
    doc = strict_json(out)
    assert (doc["n_samples"], doc["n_features"]) == X.shape
    (res,) = doc["results"]
    ref = idscope.twonn(X, method="mle")
    np.testing.assert_allclose(res["dimension"], ref.dimension, rtol=1e-6)
    np.testing.assert_allclose([res["ci_low"], res["ci_high"]], ref.ci, rtol=1e-6)
    assert res["params"]["method"] == "mle"


def test_options_reach_the_estimators(data_files, capsys):
    d, X = data_files
    argv = [str(d / "x.npz"), "--method", "all", "--json", "--k", "10", "--normalization",
            "k-2", "--aggregate", "mean", "--n1", "2", "--n2", "4", "--threshold", "0.8",
            "--standardize", "--fraction", "0.8"]
    doc = strict_json(run_cli(argv, capsys)[0])
    got = {r["method"]: r for r in doc["results"]}
    expected = {
        "twonn": idscope.twonn(X, fraction=0.8),
        "mle": idscope.mle(X, k=10, normalization="k-2", aggregate="mean"),
        "gride": idscope.gride(X, n1=2, n2=4),
        "pca": idscope.pca_id(X, threshold=0.8, standardize=True),
    }
    for name, ref in expected.items():
        np.testing.assert_allclose(got[name]["dimension"], ref.dimension, rtol=1e-9)
        assert got[name]["params"]["interval"] == ref.params["interval"]
        assert got[name]["seconds"] >= 0


def test_duplicates_reported(tmp_path, capsys):
    X = sphere(200)
    np.savez(tmp_path / "dup.npz", X=np.concatenate([X, X[:7]]))
    doc = strict_json(run_cli([str(tmp_path / "dup.npz"), "--json"], capsys)[0])
    assert doc["results"][0]["n_duplicates"] == 7
    assert main(["estimate", str(tmp_path / "dup.npz"), "--duplicates", "error"]) == 2
    assert "7 duplicate row(s)" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["decimation", "blocks", "mle-k", "gride"])
def test_scale_table_and_plot(kind, data_files, tmp_path, capsys):
    d, X = data_files
    png = tmp_path / f"{kind}.png"
    argv = [str(d / "x.npz"), "--scale", kind, "--plot", str(png), "--max-blocks", "3",
            "--k-range", "5", "12", "--range-max", "16", "--repeats", "2", "--seed", "1",
            "--twonn-method", "mle"]
    out, _ = run_cli(argv, capsys)
    assert f"scale analysis '{kind}'" in out.splitlines()[0]
    assert png.read_bytes()[:4] == b"\x89PNG"
    rows = table_rows(out.rsplit("\nplot:", 1)[0])
    ref = idscope.scale_analysis(X, kind, estimator_params={"method": "mle"} if kind in (
        "decimation", "blocks") else None, max_blocks=3, k_range=(5, 12), range_max=16,
        n_repeats=2, seed=1)
    assert len(rows) == len(ref)
    np.testing.assert_allclose([float(r["dimension"]) for r in rows],
                               ref.column("dimension"), rtol=1e-3)


def test_scale_json(data_files, capsys):
    d, X = data_files
    out, _ = run_cli([str(d / "x.npz"), "--scale", "mle-k", "--k-range", "4", "9",
                      "--json"], capsys)
    doc = strict_json(out)
    assert doc["kind"] == "mle-k" and doc["estimator"] == "mle"
    assert [r["k"] for r in doc["rows"]] == list(range(4, 10))
    assert doc["rows"][0]["spread"] is None  # NaN is written as null


def test_progress_bar_only_on_a_terminal(data_files, capsys, monkeypatch):
    d, _ = data_files
    argv = [str(d / "x.npz"), "--method", "all"]
    _, err = run_cli(argv, capsys)
    assert err == ""  # stderr is not a terminal here
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    _, err = run_cli(argv, capsys)
    assert "estimators" in err  # the tqdm bar
    _, err = run_cli([*argv, "--no-progress"], capsys)
    assert err == ""


def test_memmapped_npy_end_to_end(tmp_path):
    """A .npy large enough to be streamed from disk, through the installed entry point in a
    child process (a crash in native code fails this test instead of the suite)."""
    rng = np.random.default_rng(2)
    X = (np.maximum(sphere(800, 4) @ rng.normal(size=(5, 96)), 0) * 100).astype(np.float32)
    np.save(tmp_path / "big.npy", X)
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-m", "idscope.cli.main",
                           "estimate", str(tmp_path / "big.npy"), "--method", "mle", "--json"],
                          capture_output=True, text=True, timeout=300)
    err = "\n".join(ln for ln in proc.stderr.splitlines() if not ln.startswith("Extension"))
    assert proc.returncode == 0, err[-3000:]
    (res,) = strict_json(proc.stdout)["results"]
    np.testing.assert_allclose(res["dimension"], idscope.mle(X).dimension, rtol=1e-12)


def test_help_lists_scale_kinds(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["estimate", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in ("--scale", "decimation", "blocks", "mle-k", "gride", "--plot", "--json",
                 "--no-progress", "sklearn:digits"):
        assert word in out
