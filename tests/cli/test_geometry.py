"""``idscope geometry`` and the geometry figures: files written, numbers equal the API's."""

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

import idscope
from idscope.cli.main import main
from idscope.geometry import cka_matrix, label_overlap_profile, overlap_matrix

THIS = Path(__file__).resolve()


def digits_mlp(num_classes: int = 10, input_shape=None) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 24), nn.ReLU(), nn.Linear(24, 12),
                         nn.ReLU(), nn.Linear(12, num_classes))


def read_matrix(path):
    lines = path.read_text().splitlines()
    return lines[0].split(",")[1:], np.array([[float(v) for v in ln.split(",")[1:]]
                                              for ln in lines[1:]])


def test_cli_geometry_from_model_and_data(tmp_path, capsys):
    out = tmp_path / "geo"
    args = ["geometry", "--model", f"{THIS}:digits_mlp", "--data", "sklearn:digits",
            "--n", "120", "--layers", "1", "3", "5", "--k", "8", "--resamples", "2",
            "--out", str(out), "--json", "--no-progress"]
    assert main(args) == 0
    got = json.loads(capsys.readouterr().out)
    for name in ("index.html", "profile.csv", "overlap.csv", "cka.csv", "geometry.png",
                 "overlap.png", "cka.png", "report.json"):
        assert (out / name).is_file(), name
    # the same numbers from the API on the same samples
    from idscope.data import load

    ds = load("sklearn:digits")
    index = np.sort(np.random.default_rng(0).choice(len(ds.X), 120, replace=False))
    store = idscope.activations(digits_mlp(), ds.X[index].astype(np.float32)[:, None],
                                layers=["1", "3", "5"])
    ref_overlap = overlap_matrix(store, k=8)
    np.testing.assert_allclose(got["overlap"]["values"], ref_overlap.values)
    np.testing.assert_allclose(got["cka"]["values"], cka_matrix(store).values, atol=1e-9)
    ref_labels = label_overlap_profile(store, ds.y[index], 8)
    assert got["label_overlap"] == ref_labels
    cols, values = read_matrix(out / "overlap.csv")
    assert cols == ["1", "3", "5"]
    np.testing.assert_allclose(values, ref_overlap.values, atol=1e-6)
    page = (out / "index.html").read_text()
    assert "geometry.png" in page and "overlap.csv" in page


def test_cli_geometry_from_stores_across_models(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 64)).astype(np.float32)
    idscope.activations(digits_mlp(), X, layers=["1", "3"], store=tmp_path / "a")
    torch.manual_seed(1)
    other = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.Tanh())
    idscope.activations(other, X, layers=["1", "2"], store=tmp_path / "b")
    np.save(tmp_path / "y.npy", (X[:, 0] > 0).astype(int))
    assert main(["geometry", "--store", str(tmp_path / "a"), "--other", str(tmp_path / "b"),
                 "--labels", str(tmp_path / "y.npy"), "--debiased", "--resamples", "0",
                 "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "overlap (model rows x other columns)" in text and "cka-debiased" in text
    cols, values = read_matrix(tmp_path / "o" / "cka_debiased.csv")
    assert cols == ["1", "2"] and values.shape == (2, 2)
    ref = cka_matrix(tmp_path / "a", tmp_path / "b", debiased=True)
    np.testing.assert_allclose(values, ref.values, atol=1e-6)


def test_cli_geometry_user_errors_exit_2(tmp_path, capsys):
    assert main(["geometry", "--out", str(tmp_path)]) == 2
    assert "either --store DIR or --model" in capsys.readouterr().err
    assert main(["geometry", "--store", str(tmp_path / "missing")]) == 2
    assert "not an activation store" in capsys.readouterr().err


def test_geometry_figures(tmp_path):
    from idscope.geometry import IDMonitor, local_id
    from idscope.report.geometry import plot_layer_matrix, plot_local_id, plot_monitor

    rng = np.random.default_rng(0)
    layers = {"a": rng.normal(size=(60, 4)), "b": rng.normal(size=(60, 6))}
    fig = plot_layer_matrix(cka_matrix(layers))
    assert fig.axes[0].get_title() == "linear CKA"
    X = rng.normal(size=(80, 64)).astype(np.float32)
    mon = IDMonitor(X, layers=["1", "3"])
    model = digits_mlp()
    for step in range(3):
        mon.update(model, step)
    fig = plot_monitor(mon.compute())
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["1", "3"]
    fig = plot_local_id({"clean": local_id(X, 10), "noisy": local_id(X + 0.5, 10)})
    assert "median" in fig.axes[0].get_legend().get_texts()[0].get_text()
