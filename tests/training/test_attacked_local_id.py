"""Local ID of clean vs attacked inputs (training.attacks.attacked_local_id)."""

import numpy as np
import pytest
import torch

import idscope
from idscope.data import load
from idscope.geometry import local_id
from idscope.training import as_model_input, attack, build_model, train_classifier
from idscope.training.attacks import attacked_local_id


@pytest.fixture(scope="module")
def trained():
    ds = load("sklearn:digits")
    X = as_model_input(ds.X / 16.0)
    y = torch.as_tensor(ds.y)
    model = build_model("mlp", (1, 8, 8), 10, seed=0)
    res = train_classifier(model, (X[:600], y[:600]), (X[1000:], y[1000:]), epochs=3,
                           lr=3e-3, threads=1)
    return res.model, X[1000:1400], y[1000:1400]


def test_attacked_local_id_equals_local_id_of_the_attack(trained):
    model, X, y = trained
    eps = 8 / 255
    r = attacked_local_id(model, X, y, eps=eps, k=15)
    clean = X.reshape(len(X), -1).double().numpy()
    adv = attack(model, X, y, eps=eps).reshape(len(X), -1).double().numpy()
    np.testing.assert_array_equal(r.clean, local_id(clean, 15))
    np.testing.assert_allclose(r.attacked, local_id(adv, 15, reference=clean, paired=True),
                               rtol=1e-12)
    # no perturbation: each attacked point is its clean source, so the values coincide
    r0 = attacked_local_id(model, X, y, eps=0.0, k=15)
    np.testing.assert_allclose(r0.attacked, r0.clean, rtol=1e-12)


def test_attacks_raise_the_local_id(trained):
    """Ma et al. (ICLR 2018): adversarial inputs leave the data manifold, so their local ID
    relative to clean data is higher, more so for a larger radius."""
    model, X, y = trained
    medians = [np.median(attacked_local_id(model, X, y, eps=e, k=20).attacked)
               for e in (0.0, 8 / 255, 16 / 255)]
    assert medians[0] < medians[1] < medians[2]


def test_attacked_local_id_in_a_layer(trained):
    model, X, y = trained
    r = attacked_local_id(model, X, y, eps=4 / 255, k=10, layer="hidden")
    ref = np.asarray(idscope.activations(model, X, layers=["hidden"])["hidden"], np.float64)
    np.testing.assert_array_equal(r.clean, local_id(ref, 10))
    assert r.attacked.shape == (400,) and np.isfinite(r.attacked).all()
    assert r.to_dict()["settings"]["layer"] == "hidden"
