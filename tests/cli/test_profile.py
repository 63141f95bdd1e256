"""``idscope profile`` on sklearn:digits with a model from this file, and the profile plot."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from idscope.cli.main import main

THIS = Path(__file__).resolve()


def digits_cnn(num_classes: int = 10) -> nn.Sequential:
    """A small CNN for 1×8×8 images (the model the CLI test loads as file:callable)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(inplace=True), nn.Linear(32, num_classes))


def rgb_mlp(input_shape=(3, 8, 8)) -> nn.Sequential:
    """An MLP sized from the sample shape the CLI passes (channels first)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), 12), nn.ReLU(),
                         nn.Linear(12, 4))


def test_cli_profile_channels_last_uint8_images(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "imgs.npy", rng.integers(0, 256, (40, 6, 5, 3), dtype=np.uint8))
    assert main(["profile", "--model", f"{THIS}:rgb_mlp", "--data", str(tmp_path / "imgs.npy"),
                 "--layers", "input", "1", "--resamples", "2", "--json", "--no-progress"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["embedding_dim"] for r in rows] == [90, 12]
    assert rows[0]["pca"] <= 39


def test_cli_profile_writes_table_plot_json_and_store(tmp_path, capsys):
    args = ["profile", "--model", f"{THIS}:digits_cnn", "--data", "sklearn:digits",
            "--n", "200", "--resamples", "3", "--compare", "untrained",
            "--store", str(tmp_path / "acts"), "--plot", str(tmp_path / "p.png"),
            "--save", str(tmp_path / "p.json"), "--csv", str(tmp_path / "p.csv"),
            "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for name in ("input", "2", "5", "7", "output", "untrained", "twonn", "pca"):
        assert name in out
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    prof = json.loads((tmp_path / "p.json").read_text())
    layers = [r["layer"] for r in prof["rows"] if r["model"] == "model"]
    assert layers == ["input", "2", "5", "7", "output"]
    assert prof["rows"][0]["embedding_dim"] == 64 and prof["meta"]["n_samples"] == 200
    assert [r["twonn"] for r in prof["rows"][:5]] != [r["twonn"] for r in prof["rows"][5:]]
    assert (tmp_path / "acts" / "manifest.json").is_file()
    assert (tmp_path / "acts-untrained" / "manifest.json").is_file()
    import pandas as pd

    table = pd.read_csv(tmp_path / "p.csv")
    assert len(table) == 10 and np.isfinite(table["twonn"]).all()

    # a second run reuses the finished store and prints JSON
    assert main(args[:9] + ["--store", str(tmp_path / "acts"), "--json", "--no-pca",
                            "--no-progress"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert [r["twonn"] for r in again["rows"]] == [r["twonn"] for r in prof["rows"][:5]]


def test_cli_profile_user_errors_exit_2(tmp_path, capsys):
    assert main(["profile", "--model", "nope", "--data", "sklearn:digits"]) == 2
    assert "not a model specification" in capsys.readouterr().err
    assert main(["profile", "--model", f"{THIS}:digits_cnn", "--data", "sklearn:digits",
                 "--input-shape", "3,5,5"]) == 2
    assert "--input-shape" in capsys.readouterr().err


def test_plot_profile_several_models(tmp_path):
    from idscope.report.profile import plot_profile, save_plot
    from idscope.representations import profile

    X = torch.rand(80, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    prof = profile(digits_cnn(), X, n_resamples=2, compare="untrained", seed=3)
    fig = plot_profile(prof)
    ax, ax2 = fig.axes
    assert len(ax.get_lines()) >= 2 and len(ax2.get_lines()) == 2
    assert ax.get_xlabel() == "relative depth"
    fig = plot_profile({"a": prof.select("model"), "b": prof.select("untrained")}, pca=False)
    assert len(fig.axes) == 1
    save_plot(fig, tmp_path / "f.svg")
    assert (tmp_path / "f.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(ValueError, match=".png, .pdf or .svg"):
        save_plot(fig, tmp_path / "f.gif")
