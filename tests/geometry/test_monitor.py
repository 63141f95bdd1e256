"""IDMonitor: its records equal separate profiles taken at the same steps."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

import idscope
from idscope.geometry import IDMonitor
from idscope.training.loop import train_classifier

LAYERS = ["1", "3"]


def rows(prof):
    return [r.to_dict() for r in prof.rows]


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(),
                         nn.Linear(16, 2))


@pytest.fixture
def data(rng):
    X = rng.normal(size=(160, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(np.int64)
    return X, y


def test_monitor_in_a_plain_pytorch_loop(data):
    X, y = data
    model = make_model()
    probe = X[:100]
    mon = IDMonitor(probe, layers=LAYERS, every=2, n_resamples=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    separate = {}
    for step in range(4):
        opt.zero_grad()
        nn.functional.cross_entropy(model(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        opt.step()
        recorded = mon.update(model, step)
        assert recorded == (step % 2 == 0)
        if recorded:
            separate[step] = idscope.profile(model, probe, layers=LAYERS, n_resamples=3,
                                             pca_threshold=None)
    res = mon.compute()
    assert res.steps == (0, 2) and res.layers == LAYERS
    for step, prof in zip(res.steps, res.profiles):
        np.testing.assert_equal(rows(prof), rows(separate[step]))
    steps, values = res.series("3")
    np.testing.assert_array_equal(steps, [0, 2])
    assert np.isfinite(values).all() and len(res.table()) == 4
    assert model.training  # the capture left the model's mode as it was
    mon.reset()
    assert mon.compute().steps == ()


def test_monitor_in_the_built_in_training_loop(data):
    X, y = data
    train, test = (X[:120], y[:120]), (X[120:], y[120:])
    probe = X[:100]
    initial = make_model()
    mon = IDMonitor(probe, layers=LAYERS)
    with_monitor = train_classifier(copy.deepcopy(initial), train, test, epochs=2, seed=3,
                                    batch_size=32, threads=1, callback=mon)
    plain = train_classifier(copy.deepcopy(initial), train, test, epochs=2, seed=3,
                             batch_size=32, threads=1)
    # the callback does not change the training
    assert with_monitor.history == plain.history
    one_epoch = train_classifier(copy.deepcopy(initial), train, test, epochs=1, seed=3,
                                 batch_size=32, threads=1).model
    res = mon.compute()
    assert res.steps == (1, 2)
    expected = [idscope.profile(m, probe, layers=LAYERS, n_resamples=0, pca_threshold=None)
                for m in (one_epoch, plain.model)]
    for prof, ref in zip(res.profiles, expected):
        np.testing.assert_equal(rows(prof), rows(ref))


def test_monitor_bad_input(data):
    X, _ = data
    with pytest.raises(idscope.InputError, match="every=0 is out of range"):
        IDMonitor(X, every=0)
    with pytest.raises(idscope.InputError, match=r"\['store'\] cannot be used"):
        IDMonitor(X, store="somewhere")
    mon = IDMonitor(X[:50], layers=LAYERS)
    mon.update(make_model(), 3)
    with pytest.raises(idscope.InputError, match="step 3 is not after"):
        mon.update(make_model(), 3)
