"""Built-in architectures and the training harness (idscope.training)."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from idscope import InputError
from idscope.data import load
from idscope.training import (
    as_model_input,
    build_model,
    evaluate,
    last_hidden_layer,
    list_models,
    train_classifier,
)


def make_linear(input_shape, n_classes, bias=True):
    """A ``module:callable`` model for the tests."""
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), n_classes, bias))


@pytest.fixture(scope="module")
def digits_3_vs_8():
    ds = load("sklearn:digits")
    keep = np.isin(ds.y, [3, 8])
    X = as_model_input(ds.X[keep] / 16.0)  # (N, 1, 8, 8) in [0, 1]
    y = (ds.y[keep] == 8).astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    tr, te = order[:200], order[200:]
    return (X[tr], torch.as_tensor(y[tr])), (X[te], torch.as_tensor(y[te]))


# ---------------------------------------------------------------------------------------------
# Architectures

SHAPES = [(1, 8, 8), (3, 16, 16), (1, 28, 28), (3, 5, 7), (1, 1, 1), (2, 20), (64,)]


@pytest.mark.parametrize("name", ["mlp", "mnist_cnn", "vgg_small", "resnet_small"])
@pytest.mark.parametrize("shape", SHAPES)
def test_builtins_accept_any_shape_and_expose_the_last_hidden_layer(name, shape):
    model = build_model(name, shape, 3, seed=0).eval()
    assert last_hidden_layer(model) == "hidden"
    seen = {}
    model.get_submodule("hidden").register_forward_hook(
        lambda m, i, o: seen.setdefault("out", o.detach().clone()))
    out = model(torch.rand(5, *shape))
    assert out.shape == (5, 3)
    hidden = seen["out"]
    assert hidden.shape[0] == 5
    # Post-ReLU representation, and the logits are a function of it only.
    assert float(hidden.min()) >= 0.0


def test_list_models():
    assert set(list_models()) == {"mlp", "mnist_cnn", "vgg_small", "resnet_small"}


def test_mnist_cnn_is_the_paper_network_on_28x28():
    model = build_model("mnist_cnn", (1, 28, 28), 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (1, 32, (3, 3), (0, 0)), (32, 64, (3, 3), (0, 0))]
    assert model.hidden[0].in_features == 1600 and model.hidden[0].out_features == 128
    assert model.classifier.out_features == 10


def test_mlp_depth_and_width():
    model = build_model("mlp", (10,), 2, depth=3, width=7)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(10, 7), (7, 7), (7, 7),
                                                                   (7, 2)]
    one = build_model("mlp", (10,), 2, depth=1, width=4)
    assert [m.out_features for m in one.modules() if isinstance(m, nn.Linear)] == [4, 2]


def test_resnet_hidden_is_the_map_before_pooling():
    model = build_model("resnet_small", (3, 16, 16), 2, widths=(8, 16, 32)).eval()
    seen = {}
    model.hidden.register_forward_hook(lambda m, i, o: seen.setdefault("o", o))
    model(torch.rand(2, 3, 16, 16))
    assert seen["o"].shape == (2, 32, 4, 4)


def test_build_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = build_model("vgg_small", (1, 8, 8), 2, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    b = build_model("vgg_small", (1, 8, 8), 2, seed=5)
    c = build_model("vgg_small", (1, 8, 8), 2, seed=6)
    for (ka, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), ka
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_module_callable():
    model = build_model("tests.training.test_loop:make_linear", (1, 4, 4), 3, bias=False)
    assert isinstance(model[1], nn.Linear) and model[1].bias is None
    assert model(torch.rand(2, 1, 4, 4)).shape == (2, 3)


@pytest.mark.parametrize("name,match", [
    ("alexnet", "unknown model"),
    ("no_such_module_xyz:f", "cannot import"),
    ("torch.nn:NoSuchThing", "no attribute"),
    ("json:__doc__", "not callable"),
])
def test_unknown_models(name, match):
    with pytest.raises(InputError, match=match):
        build_model(name, (4,), 2)


def test_bad_build_arguments():
    with pytest.raises(InputError, match="input_shape"):
        build_model("mlp", (1, 2, 3, 4), 2)
    with pytest.raises(InputError, match="input_shape"):
        build_model("mlp", (0, 4), 2)
    with pytest.raises(InputError, match="n_classes"):
        build_model("mlp", (4,), 0)
    with pytest.raises(InputError, match="bad options"):
        build_model("mlp", (4,), 2, no_such_option=1)


# ---------------------------------------------------------------------------------------------
# Inputs

def test_as_model_input_layouts():
    x = np.arange(2 * 4 * 5, dtype=np.float64).reshape(2, 4, 5)
    t = as_model_input(x)
    assert t.shape == (2, 1, 4, 5) and t.dtype == torch.float32
    rgb = np.random.default_rng(0).random((2, 6, 7, 3))
    t = as_model_input(rgb)
    assert t.shape == (2, 3, 6, 7)
    np.testing.assert_allclose(t[1, 2].numpy(), rgb[1, :, :, 2], rtol=1e-6)
    assert as_model_input(rgb.transpose(0, 3, 1, 2), channels_last=False).shape == (2, 3, 6, 7)
    assert as_model_input(np.zeros((3, 9))).shape == (3, 9)
    with pytest.raises(InputError):
        as_model_input(np.zeros(3))


# ---------------------------------------------------------------------------------------------
# Training

def _train(train, test, name="mnist_cnn", **kw):
    shape = tuple(train[0].shape[1:])
    model = build_model(name, shape, kw.pop("n_classes", 2), seed=kw.pop("model_seed", 0))
    kw.setdefault("threads", 1)
    return train_classifier(model, train, test, **kw)


def test_training_reaches_high_accuracy_and_records_every_epoch(digits_3_vs_8):
    train, test = digits_3_vs_8
    res = _train(train, test, epochs=10, batch_size=32, lr=3e-3, seed=0)
    assert res.epochs == 10 and len(res.history) == 10
    assert [r["epoch"] for r in res.history] == list(range(1, 11))
    for r in res.history:
        assert set(r) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc"}
        assert 0 <= r["train_acc"] <= 1 and 0 <= r["test_acc"] <= 1
    assert res.final == res.history[-1] and res.best_epoch == 10
    assert res.final["test_acc"] >= 0.95
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert not res.model.training
    # The recorded test row is the kept model's loss/accuracy on the test set.
    ev = evaluate(res.model, *test)
    np.testing.assert_allclose(ev["loss"], res.final["test_loss"], rtol=1e-6)
    np.testing.assert_allclose(ev["acc"], res.final["test_acc"], rtol=0)
    d = res.to_dict()
    assert "model" not in d and d["settings"]["n_train"] == 200
    json.dumps(d)


def test_training_is_deterministic_by_seed(digits_3_vs_8):
    train, test = digits_3_vs_8
    torch.manual_seed(99)
    state = torch.get_rng_state()
    a = _train(train, test, name="mlp", epochs=3, seed=4)
    assert torch.equal(torch.get_rng_state(), state)  # global RNG untouched
    b = _train(train, test, name="mlp", epochs=3, seed=4)
    c = _train(train, test, name="mlp", epochs=3, seed=5)
    assert a.history == b.history
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)
    assert a.history != c.history


def test_dropout_training_is_deterministic(digits_3_vs_8):
    train, test = digits_3_vs_8
    runs = [train_classifier(build_model("mlp", (1, 8, 8), 2, dropout=0.5), train, test,
                             epochs=2, seed=1, threads=1) for _ in range(2)]
    assert runs[0].history == runs[1].history


def test_checkpoint_best_keeps_the_lowest_test_loss(digits_3_vs_8):
    train, test = digits_3_vs_8
    # A large learning rate makes the test loss go up and down.
    res = _train(train, test, name="mlp", epochs=8, lr=0.01, optimizer="adam", seed=0,
                 checkpoint="best")
    losses = [r["test_loss"] for r in res.history]
    best = int(np.argmin(losses))
    assert best < len(losses) - 1  # the setting makes the last epoch not the best
    assert res.best_epoch == best + 1
    assert res.final == res.history[best]
    ev = evaluate(res.model, *test)
    np.testing.assert_allclose(ev["loss"], losses[best], rtol=1e-6)
    last = _train(train, test, name="mlp", epochs=8, lr=0.01, optimizer="adam", seed=0)
    assert last.history == res.history
    np.testing.assert_allclose(evaluate(last.model, *test)["loss"], losses[-1], rtol=1e-6)


def test_single_logit_models_use_the_logistic_loss(digits_3_vs_8):
    train, test = digits_3_vs_8
    res = _train(train, test, name="mlp", n_classes=1, epochs=5, lr=3e-3)
    assert res.final["test_acc"] >= 0.95
    with torch.no_grad():
        logits = res.model(test[0]).reshape(-1)
    expected = nn.functional.binary_cross_entropy_with_logits(logits, test[1].float())
    np.testing.assert_allclose(evaluate(res.model, *test)["loss"], float(expected), rtol=1e-5)


def test_numpy_inputs_and_optimizers(digits_3_vs_8):
    (Xtr, ytr), (Xte, yte) = digits_3_vs_8
    for opt in ("adam", "adamw", "sgd"):
        res = _train((Xtr.numpy().astype(np.float64), ytr.numpy()), (Xte.numpy(), yte.numpy()),
                     name="mlp", epochs=1, optimizer=opt, weight_decay=1e-4)
        assert res.settings["optimizer"] == opt and np.isfinite(res.final["test_loss"])


def test_evaluate_restores_each_module_mode():
    model = build_model("vgg_small", (1, 8, 8), 2, dropout=0.3)
    model.train()
    model.fc1.eval()
    flags = [m.training for m in model.modules()]
    evaluate(model, torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1]))
    assert [m.training for m in model.modules()] == flags


def test_bad_training_input(digits_3_vs_8):
    train, test = digits_3_vs_8
    model = build_model("mlp", (1, 8, 8), 2)
    with pytest.raises(InputError, match="labels must be integers in 0..1"):
        train_classifier(model, (train[0], train[1] + 3), test, epochs=1)
    with pytest.raises(InputError, match="lengths must match"):
        train_classifier(model, (train[0], train[1][:-1]), test, epochs=1)
    with pytest.raises(InputError, match="optimizer"):
        train_classifier(model, train, test, optimizer="lbfgs")
    with pytest.raises(InputError, match="checkpoint"):
        train_classifier(model, train, test, checkpoint="first")
    with pytest.raises(InputError, match="epochs"):
        train_classifier(model, train, test, epochs=0)
    with pytest.raises(InputError, match="lr"):
        train_classifier(model, train, test, lr=-1)
    with pytest.raises(InputError, match="does not accept"):
        train_classifier(model, (torch.rand(10, 3), torch.zeros(10)),
                         (torch.rand(4, 3), torch.zeros(4)), epochs=1)
    with pytest.raises(InputError, match="pair"):
        train_classifier(model, train[0], test)
    bad = train[0].clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        train_classifier(model, (bad, train[1]), test)
