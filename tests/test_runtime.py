"""The _runtime leaf: one meaning for progress, device and torch threads."""

import io

import pytest
import torch

from idscope import InputError
from idscope._runtime import StepLines, progress_bar, resolve_device, step_progress, torch_threads


def test_without_a_terminal_long_commands_print_a_line_per_step(capsys):
    with step_progress(3, "demo", None) as bar:  # pytest's stderr is not a terminal
        assert isinstance(bar, StepLines)
        for what in ("train", "profile", "report"):
            bar.set_description_str(f"demo: {what}")
            bar.update(1)
    lines = capsys.readouterr().err.splitlines()
    assert lines[:3] == ["[1/3] demo: train", "[2/3] demo: profile", "[3/3] demo: report"]
    assert lines[3].startswith("demo: 3/3 steps done in")
    with step_progress(3, "demo", False) as bar:
        bar.set_description_str("quiet")
        bar.update(3)
    assert capsys.readouterr().err == ""


def test_progress_bar_lines_per_update():
    out = io.StringIO()
    bar = StepLines(4, "sweep x", out, unit="run", per_update=True, initial=1)
    bar.update(1)
    bar.close()
    assert out.getvalue().startswith("sweep x: 2/4 runs (")
    assert isinstance(progress_bar(2, "x", None, unit="run"), StepLines)


def test_device_has_one_meaning():
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device(None, torch.zeros(1)) == torch.device("cpu")
    assert resolve_device(None, torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("no-such-device")


def test_torch_threads_restored():
    old = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == old
    with torch_threads(None):
        assert torch.get_num_threads() == old
