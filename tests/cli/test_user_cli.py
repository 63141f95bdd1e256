"""The command line as a new user meets it: instant --version, quiet pipes, one-line errors
for a model that cannot take the data, preprocessing and help texts (issue 13, points 3, 5,
10, 11)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from idscope.cli.main import main

OURS = ("estimate", "dataset", "profile", "sweep", "analyze", "demo", "report")

FLAT_MODEL = textwrap.dedent("""
    from torch import nn

    def make(**kw):
        return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def normalised(**kw):
        model = make()
        model.idscope_normalization = ((0.5,), (0.25,))
        return model
""")


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "idscope.cli.main", *args],
                          capture_output=True, text=True, timeout=300, **kw)


def test_version_and_help_are_instant():
    for args in (["--version"], ["--help"]):
        best = min(_timed(args) for _ in range(3))
        assert best < 1.0, f"idscope {' '.join(args)} took {best:.2f} s"
    # --help lists every command without importing them
    out = _cli("--help").stdout
    for name in ("estimate", "dataset", "profile", "sweep", "analyze", "demo", "report"):
        assert f"    {name}" in out


def _timed(args: list[str]) -> float:
    t0 = time.perf_counter()
    proc = _cli(*args)
    assert proc.returncode == 0, proc.stderr
    return time.perf_counter() - t0


def test_commands_import_only_what_they_need():
    """Building a command's parser (all that --help needs) imports no heavy library; the
    command imports them when it runs."""
    code = ("import sys; from idscope.cli.main import build_parser; "
            "build_parser([sys.argv[1]]); "
            "print(sorted(m for m in ('torch', 'numpy', 'matplotlib', 'pandas', 'ray', "
            "'transformers', 'sklearn', 'scipy') if m in sys.modules))")
    for command in OURS:
        proc = subprocess.run([sys.executable, "-c", code, command], capture_output=True,
                              text=True, timeout=120)
        assert proc.stdout.strip() == "[]", (command, proc.stdout + proc.stderr)


def test_json_into_a_closed_pipe_exits_quietly():
    shell = (f"{sys.executable} -m idscope.cli.main estimate sklearn:iris --method all --json "
             f"| head -c 10")
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True,
                          text=True, timeout=300)
    assert proc.stdout == '{\n  "sourc'
    assert proc.stderr == "", proc.stderr  # no BrokenPipeError traceback
    assert proc.returncode == 0


def test_help_texts_everywhere():
    import argparse

    from idscope.cli.main import COMMANDS, build_parser

    sub = next(a for a in build_parser()._actions
               if isinstance(a, argparse._SubParsersAction))
    assert set(COMMANDS) <= set(sub.choices)
    missing = [f"{name} {a.option_strings[0] if a.option_strings else a.dest}"
               for name, parser in sub.choices.items() if name in OURS
               for a in parser._actions
               if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()]
    assert missing == []
    out = _cli("profile", "--help").stdout
    assert "%%" not in out and "90% subsets" in out


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "flat.py"
    path.write_text(FLAT_MODEL)
    return path


def test_flat_model_on_images_is_one_line_and_input_shape_flattens(model_file, capsys):
    base = ["profile", "--model", f"{model_file}:make", "--data", "sklearn:digits",
            "--n", "100", "--resamples", "2", "--no-pca", "--no-progress"]
    assert main(base) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    # other lines are warnings (e.g. the model is random without --weights); the error is one
    errors = [ln for ln in err.splitlines() if not ln.startswith(("warning:", "note:"))]
    assert len(errors) == 1 and errors[0].startswith("idscope profile: error:"), err
    err = errors[0]
    assert "(1, 8, 8)" in err or "1, 8, 8" in err  # what the model got
    assert "--input-shape 64" in err  # how to fix it
    assert main(base + ["--input-shape", "64", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"layer": "output"' in out.replace("'", '"') or "output" in out


def test_preprocessing_reaches_the_model(model_file):
    """--intensity 0-1 and a declared normalisation: the model sees (x/16 - 0.5)/0.25."""
    from idscope.cli._options import model_transform
    from idscope.data import load
    from idscope.data.preprocess import Preprocess

    ds = load("sklearn:digits")
    pre = Preprocess(intensity="0-1", normalization=((0.5,), (0.25,)))
    t = model_transform(ds.X, (64,), pre, [0.0, 16.0])
    import torch

    got = t(torch.as_tensor(ds.X[:5])).numpy()
    np.testing.assert_allclose(got, (ds.X[:5].reshape(5, 64) / 16 - 0.5) / 0.25, atol=1e-6)


def test_declared_normalisation_is_applied_and_announced(model_file, capsys):
    args = ["profile", "--model", f"{model_file}:normalised", "--data", "sklearn:digits",
            "--input-shape", "64", "--n", "100", "--resamples", "2", "--no-pca",
            "--no-progress", "--layers", "input", "--json"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "normalising inputs with the model's mean [0.5]" in captured.err
    assert main(args[:-1] + ["--normalize", "none", "--json"]) == 0
    assert "normalising" not in capsys.readouterr().err
    assert main(args[:2] + [f"{model_file}:make"] + args[3:] + ["--normalize", "model"]) == 2
    assert "declares no input normalisation" in capsys.readouterr().err


def test_forward_wrapper_translates_input_mismatches_only():
    import torch
    from torch import nn

    from idscope import InputError
    from idscope.representations.forward import call_model

    conv = nn.Conv2d(1, 4, 3)
    with pytest.raises(InputError, match=r"got a float32 batch of shape \(2, 64\).*"
                                         r"--input-shape C,H,W"):
        call_model(conv, torch.zeros(2, 64))
    with pytest.raises(InputError, match="--mode"):
        call_model(conv, torch.zeros(2, 3, 8, 8))
    with pytest.raises(InputError, match="integer token ids"):
        call_model(nn.Embedding(10, 4), torch.zeros(2, 5))

    class Buggy(nn.Module):
        def forward(self, x):
            raise RuntimeError("a bug inside the model")

    with pytest.raises(RuntimeError, match="a bug inside the model"):  # not an input error
        call_model(Buggy(), torch.zeros(2, 3))


def test_profile_a_folder_of_mixed_sizes(model_file, tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(25):
            size = (8, 8) if i % 2 else (12, 10)
            Image.fromarray((rng.random(size) * 255).astype(np.uint8)).save(
                tmp_path / "imgs" / c / f"{i}.png")
    base = ["profile", "--model", f"{model_file}:make", "--data", str(tmp_path / "imgs"),
            "--input-shape", "64", "--resamples", "2", "--no-pca", "--no-progress"]
    assert main(base) == 2
    assert "--resize HxW" in capsys.readouterr().err
    assert main(base + ["--resize", "8x8", "--intensity", "0-1", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"n_samples": 50' in out
