"""What a new user hits with their own files: headerless CSV, the shared preprocessing
vocabulary, estimate's --label-column, CLI hints that name flags (issue 13, points 4, 10)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import idscope
from idscope.cli.main import main
from idscope.data import load
from idscope.data.preprocess import Preprocess, preprocess_dataset


def _write(path, rows, header=None):
    lines = ([",".join(header)] if header else []) + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_headerless_csv_keeps_every_row(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    ds = load(_write(tmp_path / "x.csv", X.round(6)))
    assert ds.X.shape == (50, 3)  # the first line is data, not a header
    np.testing.assert_allclose(ds.X, X.round(6))
    assert ds.meta["header"] is False


def test_csv_with_header_and_headerless_label_position(tmp_path):
    X = np.arange(12.0).reshape(4, 3)
    ds = load(_write(tmp_path / "h.csv", X, header=["a", "b", "c"]), label_column="c")
    assert ds.X.shape == (4, 2) and ds.meta["header"] is True
    np.testing.assert_array_equal(ds.y, X[:, 2])
    ds = load(_write(tmp_path / "n.csv", X), label_column="-1")
    assert ds.X.shape == (4, 2)
    np.testing.assert_array_equal(ds.y, X[:, 2])


def test_estimate_label_column_excludes_labels(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    y = (rng.random(300) * 1000).round()  # a wild label column would dominate the estimate
    rows = np.column_stack([X, y])
    path = _write(tmp_path / "t.csv", rows.round(6), header=["a", "b", "c", "d", "label"])
    assert main(["estimate", str(path), "--label-column", "label", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_features"] == 4 and out["n_samples"] == 300
    ref = idscope.twonn(rows.round(6)[:, :4])
    np.testing.assert_allclose(out["results"][0]["dimension"], ref.dimension, rtol=1e-9)


def test_preprocess_intensity_resize_channels_match_reference():
    ds = load("sklearn:digits")
    pre = Preprocess(intensity="0-1", resize=(4, 4), mode="RGB")
    out = preprocess_dataset(ds, pre)
    assert out.X.shape == (1797, 4, 4, 3) and out.meta["intensity_range"] == [0.0, 1.0]
    # the same resampling as image folders decode with: Pillow's bilinear filter
    from PIL import Image

    ref = np.stack([np.asarray(Image.fromarray((x / 16.0).astype(np.float32), mode="F")
                               .resize((4, 4), resample=Image.Resampling.BILINEAR))
                    for x in ds.X])
    np.testing.assert_allclose(out.X[..., 0], ref, atol=1e-6)
    np.testing.assert_array_equal(out.X[..., 0], out.X[..., 2])
    grey = preprocess_dataset(out, Preprocess(mode="L"))
    np.testing.assert_allclose(grey.X, ref, atol=1e-6)  # 0.299 + 0.587 + 0.114 = 1


def test_cli_estimate_preprocess_equals_api(capsys):
    assert main(["estimate", "sklearn:digits", "--intensity", "0-1", "--resize", "4x4",
                 "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["results"][0]["dimension"]
    X = preprocess_dataset(load("sklearn:digits"),
                           Preprocess(intensity="0-1", resize=(4, 4))).flat()
    assert X.shape == (1797, 16) and float(X.max()) <= 1.0
    assert got == idscope.twonn(X).dimension


def test_preprocess_errors_are_one_line(capsys):
    assert main(["estimate", "sklearn:iris", "--resize", "4x4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "apply to images" in err
    assert main(["estimate", "sklearn:digits", "--resize", "four"]) == 2
    assert "--resize expects HxW" in capsys.readouterr().err


def test_mixed_size_folder_profiles_with_resize(tmp_path, capsys):
    pytest.importorskip("PIL")
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(20):
            size = (8, 8) if i % 2 else (10, 12)
            arr = (rng.random(size) * 255).astype(np.uint8)
            Image.fromarray(arr).save(tmp_path / "imgs" / c / f"{i}.png")
    folder = str(tmp_path / "imgs")
    assert main(["estimate", folder]) == 2
    err = capsys.readouterr().err
    assert "--resize" in err and "resize=" not in err  # the hint names the flag
    assert main(["estimate", folder, "--resize", "8x8", "--intensity", "0-1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_samples"] == 40 and out["n_features"] == 64


def test_cli_messages_name_flags_not_api_arguments():
    from idscope.cli._format import cli_message

    assert cli_message("x; pass resize=(height, width)") == "x; pass --resize HxW"
    assert cli_message("name the label column (label_column=...) or drop them") == \
        "name the label column (--label-column NAME) or drop them"
    assert "resume=" not in cli_message("made with a different model; pass resume=False to "
                                        "overwrite it or choose another folder")
    assert cli_message("pass intensity='0-1'") == "pass --intensity 0-1"


def test_estimate_scale_kinds_match_the_library():
    from idscope.cli.estimate import SCALE_KINDS
    from idscope.estimators import SCALE_KINDS as LIB

    assert tuple(SCALE_KINDS) == tuple(LIB)


def test_dataset_intensity_scales_k_f_as_one_over_c(capsys):
    """One vocabulary: `dataset --intensity 0-1` on digits (0..16) multiplies K_F by 16."""
    base = ["dataset", "sklearn:digits", "--classes", "0,1", "--json"]
    assert main(base) == 0
    raw = json.loads(capsys.readouterr().out)
    assert main(base + ["--intensity", "0-1"]) == 0
    unit = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(unit["rows"][0]["K_F"], 16 * raw["rows"][0]["K_F"], rtol=1e-9)
    assert unit["intensity_range"] == [0.0, 1.0]


NET = """
import math
from torch import nn

def make(input_shape, n_classes, width=8):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width), nn.ReLU(),
                         nn.Linear(width, n_classes))
"""


def test_sweep_config_accepts_file_py_models(tmp_path, capsys):
    import torch

    from idscope.training import build_model

    (tmp_path / "net.py").write_text(NET)
    spec = f"{tmp_path / 'net.py'}:make"
    model = build_model(spec, (1, 8, 8), 2, width=4)
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 2)
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'name = "f"\n[[datasets]]\nsource = "sklearn:digits"\ntasks = [[0, 1]]\n'
                   f'[[models]]\nname = "{spec}"\nkwargs = {{ width = 4 }}\n[training]\n'
                   f'sizes = [40]\ntest_size = 60\nseeds = [0]\nepochs = 1\n')
    assert main(["sweep", str(cfg), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    assert "net.py:make" in capsys.readouterr().out
