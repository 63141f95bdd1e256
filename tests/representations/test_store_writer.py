"""StoreWriter: the one way to fill an activation store (open, write, mark done, close)."""

import copy

import numpy as np
import pytest
import torch

from idscope.representations import ActivationStore, StoreWriter, activations


@pytest.fixture
def captured(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    X = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32)
    return activations(model, X, layers=["0", "2"], batch_size=16, store=tmp_path / "a")


def test_writer_rebuilds_a_store_batch_by_batch(tmp_path, captured):
    manifest = copy.deepcopy(captured._manifest)
    size = manifest["batches"]["size"]
    with StoreWriter.create(tmp_path / "b", manifest) as w:
        assert not w.store.complete and w.store.done_batches == set()
        for b in range(captured.n_batches):
            for layer in captured.layers:
                rows = np.asarray(captured[layer][b * size:(b + 1) * size])
                w.write(layer, b * size, rows)
            w.mark_done(b)
    copy_ = ActivationStore.open(tmp_path / "b")
    assert copy_.complete and copy_.done_batches == set(range(captured.n_batches))
    for layer in captured.layers:
        np.testing.assert_array_equal(copy_[layer], captured[layer])


def test_unfinished_batches_are_not_recorded(tmp_path, captured):
    manifest = copy.deepcopy(captured._manifest)
    w = StoreWriter.create(tmp_path / "c", manifest).open()
    w.mark_done(0)
    w.close()
    w.close()  # closing twice is harmless
    st = ActivationStore.open(tmp_path / "c")
    assert st.done_batches == {0} and not st.complete
