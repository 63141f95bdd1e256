"""Issue #12 point 10: ``profile`` refuses NaN input and 1-D data with one clear error (it
gave an all-NaN table with exit 0, and a model traceback)."""

import numpy as np
import pytest
import torch
from torch import nn

from idscope import InputError
from idscope.cli.main import main
from idscope.representations import profile


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


@pytest.fixture
def files(tmp_path, rng):
    X = rng.normal(size=(80, 4)).astype(np.float32)
    Xn = X.copy()
    Xn[[3, 40, 41], 1] = np.nan
    np.save(tmp_path / "nan.npy", Xn)
    np.save(tmp_path / "flat.npy", X[:, 0].copy())
    (tmp_path / "m.py").write_text(
        "import torch\nfrom torch import nn\n\ndef build():\n    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))\n")
    return tmp_path, X, Xn


def test_nan_input_is_an_error(files):
    _, X, Xn = files
    for data in (Xn, torch.from_numpy(Xn), np.load(files[0] / "nan.npy", mmap_mode="r")):
        with pytest.raises(InputError, match="profile: the data contain 3 NaN or inf"):
            profile(model(), data, n_resamples=2)
    Xi = X.copy()
    Xi[0, 0] = np.inf
    with pytest.raises(InputError, match="1 NaN or inf"):
        profile(model(), Xi, n_resamples=2)
    # finite data still profile, with finite IDs
    ok = profile(model(), X, n_resamples=2, pca_threshold=None)
    assert all(np.isfinite(r.twonn) for r in ok.rows)


def test_one_dimensional_data_is_an_error(files):
    _, X, _ = files
    for data in (X[:, 0], torch.from_numpy(X[:, 0].copy())):
        with pytest.raises(InputError, match=r"shape \(80,\); a model needs one sample per row"):
            profile(model(), data)


@pytest.mark.parametrize("name, message", [("nan.npy", "3 NaN or inf"),
                                           ("flat.npy", "one sample per row")])
def test_cli_profile_one_line_exit_2(files, capsys, name, message):
    root = files[0]
    code = main(["profile", "--model", f"{root / 'm.py'}:build", "--data", str(root / name),
                 "--resamples", "2", "--no-pca", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    # one error line (a warning about the model may precede it), no traceback
    errors = [line for line in err if "error" in line]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in "\n".join(err)
