"""``idscope profile`` without ``--weights`` (issue #13 point 6): a clear warning that the
model is random, and a seeded initialisation, so identical commands give identical numbers
(and an interrupted ``--store`` run of such a model can resume)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from idscope.cli.main import main

THIS = Path(__file__).resolve()


def unseeded_cnn(num_classes: int = 10) -> nn.Sequential:
    """A model built from torch's global generator, as most model code is."""
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(96, 24), nn.ReLU(), nn.Linear(24, num_classes))


ARGS = ["profile", "--model", f"{THIS}:unseeded_cnn", "--data", "sklearn:digits", "--n", "300",
        "--layers", "1", "5", "--resamples", "3", "--no-pca", "--json", "--no-progress"]


def _run(capsys, *extra):
    assert main([*ARGS, *extra]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)["rows"]
    return [(r["model"], r["layer"], r["twonn"]) for r in rows], captured.err


def test_unweighted_profile_warns_and_repeats_exactly(capsys):
    first, err = _run(capsys)
    assert "warning: no --weights" in err and "parameters are random" in err
    assert "--seed 0" in err
    torch.rand(1000)  # the global generator moves on between the two commands
    again, _ = _run(capsys)
    assert again == first  # bit-identical, not merely close
    other, err1 = _run(capsys, "--seed", "1")
    assert "--seed 1" in err1
    assert [t for *_, t in other] != [t for *_, t in first]  # the seed is the model's


def test_compare_untrained_without_weights_says_both_are_untrained(capsys):
    rows, err = _run(capsys, "--compare", "untrained")
    assert "--compare untrained then compares two untrained networks" in err
    assert {m for m, *_ in rows} == {"model", "untrained"}


def test_no_warning_with_weights(tmp_path, capsys):
    torch.manual_seed(3)
    weights = tmp_path / "w.pt"
    torch.save(unseeded_cnn().state_dict(), weights)
    rows, err = _run(capsys, "--weights", str(weights))
    assert "warning: no --weights" not in err and len(rows) == 2
