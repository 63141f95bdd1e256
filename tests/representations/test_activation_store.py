"""Activation store: round trip, reopening without recomputation, resuming a killed run."""

import gc
import json

import numpy as np
import pytest
import torch
from torch import nn

from idscope import InputError
from idscope.representations import ActivationStore, activations


class Counted(nn.Module):
    """A small MLP that counts its forward passes on full batches (not the set-up passes on
    two samples) and can fail on a chosen one."""

    def __init__(self, fail_on: int | None = None):
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = nn.Linear(6, 10)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(10, 3)
        self.calls = 0
        self.fail_on = fail_on

    def forward(self, x):
        self.calls += x.shape[0] > 2
        if self.fail_on is not None and self.calls == self.fail_on:
            raise KeyboardInterrupt  # a kill: not an Exception subclass
        return self.fc2(self.act(self.fc1(x)))


@pytest.fixture
def X():
    return torch.randn(103, 6, generator=torch.Generator().manual_seed(3))


def test_round_trip_and_reopen(X, tmp_path):
    model = Counted()
    st = activations(model, X, layers=["input", "fc1", "act", "output"], batch_size=10,
                     store=tmp_path / "acts", seed=7, data_name="toy")
    assert st.complete and st.n_samples == 103 and st.n_batches == 11
    again = ActivationStore.open(tmp_path / "acts")
    assert again.layers == ["input", "fc1", "act", "output"]
    for name in again.layers:
        m = again[name]
        assert isinstance(m, np.memmap) and m.dtype == np.float32
        np.testing.assert_array_equal(m, np.asarray(st[name]))
        np.testing.assert_array_equal(again.read_rows(name, 5, 17), np.asarray(m[5:17]))
        np.testing.assert_array_equal(again.read_cols(name, 1, 3), np.asarray(m[:, 1:3]))
    np.testing.assert_array_equal(again["input"], X.numpy())
    man = json.loads((tmp_path / "acts" / "manifest.json").read_text())
    assert man["seed"] == 7 and man["data"]["name"] == "toy"
    assert man["model"]["class"].endswith("Counted") and man["model"]["n_parameters"] == 103
    assert again.info("fc1")["shape"] == [103, 10] and again.info("fc1")["raw_shape"] == [10]
    # a finished store is returned as is: no forward pass at all
    calls = model.calls
    st2 = activations(model, X, layers=["input", "fc1", "act", "output"], batch_size=10,
                      store=tmp_path / "acts")
    assert model.calls == calls and st2.complete


def test_killed_extraction_resumes_without_redoing_batches(X, tmp_path):
    path = tmp_path / "acts"
    layers = ["fc1", "act", "output"]
    # batches 0..3 finish; the 5th full batch (batch 4) is killed
    model = Counted(fail_on=5)
    with pytest.raises(KeyboardInterrupt):
        activations(model, X, layers=layers, batch_size=10, store=path)
    part = ActivationStore.open(path)
    assert not part.complete and part.done_batches == {0, 1, 2, 3}
    with pytest.raises(InputError, match="incomplete"):
        part["fc1"]

    model.fail_on = None
    model.calls = 0
    st = activations(model, X, layers=layers, batch_size=10, store=path)
    assert model.calls == 11 - 4  # only the unfinished batches
    assert st.complete
    ref = activations(Counted(), X, layers=layers, batch_size=10)
    for name in layers:
        np.testing.assert_array_equal(np.asarray(st[name]), np.asarray(ref[name]))


def test_resume_refuses_different_settings_and_overwrites_on_request(X, tmp_path):
    path = tmp_path / "acts"
    activations(Counted(), X, layers=["fc1"], batch_size=10, store=path)
    with pytest.raises(InputError, match="different layers"):
        activations(Counted(), X, layers=["fc2"], batch_size=10, store=path)
    other = Counted()
    with torch.no_grad():
        other.fc1.weight.add_(1.0)
    with pytest.raises(InputError, match="different model"):
        activations(other, X, layers=["fc1"], batch_size=10, store=path)
    with pytest.raises(InputError, match="different data"):
        activations(Counted(), X + 1, layers=["fc1"], batch_size=10, store=path)
    st = activations(other, X, layers=["fc2"], batch_size=10, store=path, resume=False)
    assert st.layers == ["fc2"]
    assert sorted(p.name for p in path.iterdir()) == ["000_fc2.npy", "manifest.json"]


def test_refuses_a_foreign_folder_and_cleans_temporary_stores(X, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not an activation store"):
        activations(Counted(), X, layers=["fc1"], store=tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    with pytest.raises(InputError, match="not an activation store"):
        ActivationStore.open(tmp_path / "busy")

    st = activations(Counted(), X, layers=["fc1"])
    folder = st.path
    assert folder.is_dir()
    del st
    gc.collect()
    assert not folder.exists()
