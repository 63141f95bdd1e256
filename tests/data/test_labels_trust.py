"""Issue #12 point 5: every input pairing rows and labels checks their lengths (no rows
silently dropped, no IndexError)."""

import numpy as np
import pytest

from idscope import InputError, label_sharpness
from idscope.cli.main import main
from idscope.data import Dataset, load, select_classes


@pytest.fixture
def mismatched(tmp_path, rng):
    """``short.npz``: 200 rows, 150 labels; ``long.npz``: 200 rows, 260 labels."""
    X = rng.normal(size=(200, 5))
    for name, m in (("short", 150), ("long", 260)):
        np.savez(tmp_path / f"{name}.npz", X=X, y=np.arange(m) % 2)
    return tmp_path


@pytest.mark.parametrize("name, m", [("short", 150), ("long", 260)])
def test_loading_mismatched_labels_is_an_error(mismatched, name, m):
    with pytest.raises(InputError, match=rf"{m} labels for 200 points \(lengths must match\)"):
        load(mismatched / f"{name}.npz")


def test_api_functions_check_the_lengths(rng):
    X = rng.normal(size=(200, 5))
    with pytest.raises(InputError, match="150 labels for 200 points"):
        label_sharpness(X, np.arange(150) % 2)
    with pytest.raises(InputError, match="260 labels for 200 points"):
        label_sharpness(X, np.arange(260) % 2)
    with pytest.raises(InputError, match="150 labels for 200 points"):
        Dataset(X, np.arange(150) % 2, "mine")
    ds = Dataset(X, np.arange(200) % 2, "mine")
    # a correct pairing still selects every row of the two classes
    assert select_classes(ds, (0, 1)).n_samples == 200


@pytest.mark.parametrize("name, m", [("short", 150), ("long", 260)])
def test_dataset_classes_cli_is_one_line_exit_2(mismatched, capsys, name, m):
    assert main(["dataset", str(mismatched / f"{name}.npz"), "--classes", "0,1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"idscope dataset: error: dataset '{name}.npz': {m} labels for 200 points "
                   f"(lengths must match)"]


def test_sweep_data_loading_refuses_mismatched_labels(mismatched, tmp_path, capsys):
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(f"""
[[datasets]]
name = "bad"
source = "{mismatched / 'short.npz'}"
tasks = [[0, 1]]

[[models]]
name = "mlp"
kwargs = {{ depth = 1, width = 8 }}

[training]
sizes = [20]
test_size = 20
epochs = 1
""")
    out = tmp_path / "out"
    assert main(["sweep", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "150 labels for 200 points" in err[0]
    # refused while loading the data, before any run
    assert not [p for p in out.rglob("*") if p.is_file() and ".lock" not in p.name]
