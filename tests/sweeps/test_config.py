"""Configs and inputs checked before anything runs (issue #12 point 12): names are plain
names, threads within the machine, finite numbers, positive sizes, non-empty plans; a bad
``.safetensors`` is one line; integer and Fortran-order ``.npy`` files are estimated like
float C-order ones; a bad ``--plot`` name is refused before the computation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from torch import nn

from idscope import InputError
from idscope.cli.main import main
from idscope.sweeps.config import parse_config
from idscope.sweeps.plan import make_plan

THIS = Path(__file__).resolve()


def raw(**over):
    base = {
        "name": "ok",
        "datasets": [{"name": "digits", "source": "sklearn:digits", "tasks": [[0, 1]]}],
        "models": [{"name": "mlp", "kwargs": {"depth": 1, "width": 8}}],
        "training": {"sizes": [40], "test_size": 40, "epochs": 1},
        "measure": {"d_data": False, "label_sharpness": False, "d_repr": False},
    }
    base.update(over)
    return base


@pytest.mark.parametrize("name", ["../../../X", "/etc/x", "a/b", "..", ".hidden", "a\\b",
                                  "x" * 101, "tab\there", ""])
def test_sweep_names_are_plain_names(name):
    with pytest.raises(InputError, match="name"):
        parse_config(raw(name=name))


def test_plain_names_are_accepted():
    for name in ("digits-pairs", "run_2", "v1.2", "my sweep", "a+b"):
        assert parse_config(raw(name=name)).name == name


def test_cli_sweep_with_a_path_as_name_writes_nothing(tmp_path, capsys, monkeypatch):
    work = tmp_path / "work" / "here"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    cfg = work / "evil.toml"
    cfg.write_text('name = "../../X"\n[[datasets]]\nsource = "sklearn:digits"\n'
                   '[[models]]\nname = "mlp"\n[training]\nsizes = [40]\n')
    assert main(["sweep", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a plain name" in err[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.toml", "here", "work"]


def test_threads_within_the_machine():
    cpus = len(os.sched_getaffinity(0))
    with pytest.raises(InputError, match=rf"training.threads: 100000 is more than the {cpus} "
                                         rf"CPU"):
        parse_config(raw(training={"sizes": [40], "threads": 100000}))
    assert parse_config(raw(training={"sizes": [40], "threads": cpus})).training.threads == cpus


@pytest.mark.parametrize("key, value", [("lr", float("inf")), ("lr", float("nan")),
                                        ("weight_decay", float("inf")),
                                        ("lr", -float("inf"))])
def test_numbers_must_be_finite(key, value):
    with pytest.raises(InputError, match=rf"training.{key}: (must be a finite number|.*outside)"):
        parse_config(raw(training={"sizes": [40], key: value}))


def test_intensity_range_must_be_finite():
    ds = [{"source": "sklearn:digits", "intensity_range": [0, float("inf")]}]
    with pytest.raises(InputError, match=r"intensity_range\[1\]: must be a finite number"):
        parse_config(raw(datasets=ds))


@pytest.mark.parametrize("kwargs, match", [
    ({"width": -3}, r"models\[0\].kwargs.width: must be >= 1, got -3"),
    ({"width": 0}, r"kwargs.width: must be >= 1"),
    ({"depth": 0}, r"kwargs.depth: must be >= 1"),
    ({"width": 2.5}, r"kwargs.width: must be an integer"),
    ({"widths": [8, -1]}, r"kwargs.widths\[1\]: must be >= 1"),
    ({"dropout": 1.5}, r"kwargs.dropout: must be in \[0, 1\)"),
])
def test_builtin_model_sizes_are_positive(kwargs, match):
    with pytest.raises(InputError, match=match):
        parse_config(raw(models=[{"name": "mlp", "kwargs": kwargs}]))


def test_one_class_with_all_pairs_is_an_error_not_an_empty_sweep(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "one.npz", X=rng.normal(size=(100, 4)), y=np.zeros(100, int))
    cfg = parse_config(raw(datasets=[{"name": "one", "source": str(tmp_path / "one.npz"),
                                      "tasks": "all-pairs"}]))
    with pytest.raises(InputError, match=r"dataset 'one' has 1 class\(es\); tasks = "
                                         r"\"all-pairs\" needs at least two"):
        make_plan(cfg)


def test_a_bad_safetensors_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......")
    code = main(["profile", "--model", f"{THIS}:flat_mlp", "--weights", str(bad),
                 "--data", "sklearn:iris", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "w.safetensors is not a valid .safetensors file" in err[0]


def flat_mlp(num_classes: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, num_classes))


def test_a_bad_plot_name_is_refused_before_anything_is_loaded(tmp_path, capsys):
    # the data file does not exist: had the computation started, that would be the error
    code = main(["profile", "--model", f"{THIS}:flat_mlp", "--data",
                 str(tmp_path / "missing.npy"), "--plot", str(tmp_path / "p.jpg")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["idscope profile: error: plot file must end in .png, .pdf "
                                 "or .svg, got 'p.jpg'"]


def test_estimate_refuses_a_bad_plot_name_before_estimating(tmp_path, capsys):
    code = main(["estimate", str(tmp_path / "missing.npy"), "--scale", "decimation",
                 "--plot", str(tmp_path / "s.gif")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["idscope estimate: error: plot file must end in .png, .pdf "
                                 "or .svg, got 's.gif'"]


def test_integer_and_fortran_order_npy_are_estimated_like_float_c_order(tmp_path, capsys):
    rng = np.random.default_rng(0)
    ints = rng.integers(0, 50, (300, 6))
    floats = ints.astype(np.float64)
    np.save(tmp_path / "int.npy", ints)
    np.save(tmp_path / "uint8.npy", ints.astype(np.uint8))
    np.save(tmp_path / "fortran.npy", np.asfortranarray(floats))
    np.save(tmp_path / "float.npy", floats)
    dims = {}
    for name in ("int", "uint8", "fortran", "float"):
        assert main(["estimate", str(tmp_path / f"{name}.npy"), "--method", "twonn",
                     "--json", "--no-progress"]) == 0, capsys.readouterr().err
        dims[name] = json.loads(capsys.readouterr().out)["results"][0]["dimension"]
    assert dims["int"] == dims["uint8"] == dims["fortran"] == dims["float"]
