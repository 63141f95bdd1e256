"""FGSM / PGD attacks and the robustness sweep (idscope.training.attacks)."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from idscope import InputError
from idscope.data import load
from idscope.training import (
    as_model_input,
    attack,
    build_model,
    evaluate_robustness,
    train_classifier,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # The test machine's cores are shared: one thread avoids oversubscription stalls.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _softplus(t):
    return np.logaddexp(0.0, t)


@pytest.fixture
def linear2():
    """A 2-logit linear classifier in float64 and inputs well inside [0, 1]."""
    torch.manual_seed(0)
    model = nn.Linear(12, 2).double()
    X = 0.2 + 0.6 * torch.rand(40, 12, dtype=torch.float64)
    y = torch.arange(40) % 2
    return model, X, y


@pytest.fixture(scope="module")
def trained_mlp():
    ds = load("sklearn:digits")
    keep = np.isin(ds.y, [3, 8])
    X = as_model_input(ds.X[keep] / 16.0)
    y = torch.as_tensor((ds.y[keep] == 8).astype(np.int64))
    model = build_model("mlp", (1, 8, 8), 2, seed=0)
    res = train_classifier(model, (X[:250], y[:250]), (X[250:], y[250:]), epochs=5, lr=3e-3,
                           threads=1)
    return res.model, X[250:], y[250:]


# ---------------------------------------------------------------------------------------------
# FGSM against the analytic answer on linear classifiers

def test_fgsm_linear_two_logits_is_the_analytic_perturbation(linear2):
    model, X, y = linear2
    eps = 0.03
    adv = attack(model, X, y, method="fgsm", eps=eps)
    W = model.weight.detach().numpy()
    b = model.bias.detach().numpy()
    dw = W[1] - W[0]
    # ∇x CE = (p1 − 1[y=1])·(w1 − w0): its sign is +sign(dw) for y = 0, −sign(dw) for y = 1.
    s = np.where(y.numpy() == 0, 1.0, -1.0)[:, None]
    Xn = X.numpy()
    expected = np.clip(Xn + eps * s * np.sign(dw), 0.0, 1.0)
    np.testing.assert_allclose(adv.numpy(), expected, rtol=0, atol=1e-15)
    # Loss change: the margin m = logit_y − logit_other falls by ε·‖w1 − w0‖₁.
    logits = Xn @ W.T + b
    m = np.where(y.numpy() == 1, 1.0, -1.0) * (logits[:, 1] - logits[:, 0])
    clean = _softplus(-m)
    attacked = _softplus(-(m - eps * np.abs(dw).sum()))
    with torch.no_grad():
        got_clean = nn.functional.cross_entropy(model(X), y, reduction="none").numpy()
        got_adv = nn.functional.cross_entropy(model(adv), y, reduction="none").numpy()
    np.testing.assert_allclose(got_clean, clean, rtol=1e-12)
    np.testing.assert_allclose(got_adv, attacked, rtol=1e-12)
    res = evaluate_robustness(model, X, y, eps=[eps], methods=["fgsm"])
    np.testing.assert_allclose(res.rows[0]["loss_penalty"], (attacked - clean).mean(),
                               rtol=1e-10)


def test_fgsm_linear_single_logit_and_clamping():
    torch.manual_seed(1)
    model = nn.Linear(20, 1).double()
    X = torch.rand(30, 20, dtype=torch.float64)
    X[:, :5] = 0.0   # on the lower edge of the range
    X[:, 5:10] = 1.0  # on the upper edge
    y = torch.arange(30) % 2
    eps = 0.1
    adv = attack(model, X, y, method="fgsm", eps=eps)
    w = model.weight.detach().numpy()[0]
    # ∇x BCE = (σ(z) − y)·w: sign(w) for y = 0, −sign(w) for y = 1.
    s = np.where(y.numpy() == 0, 1.0, -1.0)[:, None]
    expected = np.clip(X.numpy() + eps * s * np.sign(w), 0.0, 1.0)
    np.testing.assert_allclose(adv.numpy(), expected, rtol=0, atol=1e-15)
    assert np.any(expected[:, :10] != X.numpy()[:, :10] + eps * s * np.sign(w)[:10])


def test_eps_is_a_fraction_of_the_intensity_range(linear2):
    model, X, y = linear2
    lo, hi = 0.0, 16.0
    adv = attack(model, X * 16, y, method="fgsm", eps=2 / 255, data_range=(lo, hi))
    ref = attack(model, X, y, method="fgsm", eps=2 / 255)
    np.testing.assert_allclose(adv.numpy(), ref.numpy() * 16, rtol=1e-12)
    np.testing.assert_allclose((adv - X * 16).abs().max().item(), 2 / 255 * 16, rtol=1e-12)


def test_fgm_l2_linear(linear2):
    model, X, y = linear2
    eps = 0.05
    adv = attack(model, X, y, method="fgsm", norm="l2", eps=eps)
    dw = (model.weight[1] - model.weight[0]).detach().numpy()
    s = np.where(y.numpy() == 0, 1.0, -1.0)[:, None]
    expected = np.clip(X.numpy() + eps * s * dw / np.linalg.norm(dw), 0, 1)
    np.testing.assert_allclose(adv.numpy(), expected, rtol=0, atol=1e-14)


def test_pgd_on_a_linear_model_reaches_the_fgsm_corner(linear2):
    # On a linear model the L∞ maximiser is the corner ε·s·sign(w1 − w0) that FGSM finds.
    model, X, y = linear2
    fgsm = attack(model, X, y, method="fgsm", eps=0.02)
    pgd = attack(model, X, y, method="pgd", eps=0.02, steps=10)
    np.testing.assert_allclose(pgd.numpy(), fgsm.numpy(), rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# PGD: feasibility and strength

@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("random_start", [False, True])
@pytest.mark.parametrize("keep_best", [True, False])
def test_pgd_stays_in_the_ball_and_the_range(trained_mlp, norm, random_start, keep_best):
    model, X, y = trained_mlp
    lo, hi = 0.0, 1.0
    eps = 8 / 255 if norm == "linf" else 0.5
    adv = attack(model, X, y, method="pgd", norm=norm, eps=eps, steps=7, step_size=eps / 2,
                 random_start=random_start, keep_best=keep_best, seed=3)
    assert adv.shape == X.shape
    assert float(adv.min()) >= lo and float(adv.max()) <= hi
    delta = (adv - X).reshape(len(X), -1)
    size = delta.abs().max(dim=1).values if norm == "linf" else delta.norm(dim=1)
    assert float(size.max()) <= eps * (hi - lo) * (1 + 1e-5)
    assert float(size.max()) > 0.5 * eps  # it did move


class _Recorder(nn.Module):
    """Wraps a model and records every input it is evaluated on (each PGD iterate) and
    whether it was in training mode at the time."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.inputs, self.modes = [], []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        self.modes.append(self.training or any(m.training for m in self.model.modules()))
        return self.model(x)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_every_pgd_iterate_is_feasible_and_seen_in_eval_mode(trained_mlp, norm):
    model, X, y = trained_mlp
    rec = _Recorder(model).train()
    eps = 6 / 255 if norm == "linf" else 0.4
    lo, hi = 0.0, 2.0  # a wider range than the data: the ball, not the box, binds
    attack(rec, X, y, method="pgd", norm=norm, eps=eps, steps=6, step_size=eps,
           random_start=True, data_range=(lo, hi))
    assert not any(rec.modes)
    assert rec.training  # restored
    iterates = [x for x in rec.inputs if x.shape == X.shape]  # (not the 1-sample shape check)
    assert len(iterates) == 7
    for x in iterates:
        assert float(x.min()) >= lo and float(x.max()) <= hi
        delta = (x - X).reshape(len(X), -1)
        size = delta.abs().max(dim=1).values if norm == "linf" else delta.norm(dim=1)
        assert float(size.max()) <= eps * (hi - lo) * (1 + 1e-5)


@pytest.mark.parametrize("norm,eps", [("linf", 2 / 255), ("linf", 8 / 255), ("l2", 0.3)])
def test_pgd_is_at_least_as_strong_as_fgsm(trained_mlp, norm, eps):
    model, X, y = trained_mlp
    with torch.no_grad():
        clean = nn.functional.cross_entropy(model(X), y).item()
        f = nn.functional.cross_entropy(
            model(attack(model, X, y, method="fgsm", norm=norm, eps=eps)), y).item()
        p = nn.functional.cross_entropy(
            model(attack(model, X, y, method="pgd", norm=norm, eps=eps, steps=10)), y).item()
    assert f > clean
    assert p >= f - 1e-6


def test_random_start_is_seeded(trained_mlp):
    model, X, y = trained_mlp
    kw = {"method": "pgd", "eps": 4 / 255, "steps": 3, "random_start": True}
    a = attack(model, X, y, seed=1, **kw)
    b = attack(model, X, y, seed=1, **kw)
    c = attack(model, X, y, seed=2, **kw)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_eps_zero_changes_nothing(trained_mlp):
    model, X, y = trained_mlp
    for method in ("fgsm", "pgd"):
        assert torch.equal(attack(model, X, y, method=method, eps=0.0), X)


# ---------------------------------------------------------------------------------------------
# The model is left as it was

def test_attacks_leave_parameters_and_modes_untouched():
    model = build_model("vgg_small", (1, 8, 8), 2, seed=0, dropout=0.5, widths=(4, 8),
                        fc_width=16)
    model.train()
    model.fc1.eval()  # mixed flags must come back exactly
    X = torch.rand(16, 1, 8, 8)
    y = torch.arange(16) % 2
    state = {k: v.clone() for k, v in model.state_dict().items()}  # incl. BN running stats
    flags = [m.training for m in model.modules()]
    requires = [p.requires_grad for p in model.parameters()]
    for method in ("fgsm", "pgd"):
        for norm in ("linf", "l2"):
            attack(model, X, y, method=method, norm=norm, eps=0.05, steps=3,
                   random_start=True)
    evaluate_robustness(model, X, y, eps=(1 / 255, 4 / 255), steps=2, batch_size=5)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert [m.training for m in model.modules()] == flags
    assert [p.requires_grad for p in model.parameters()] == requires
    assert all(p.grad is None for p in model.parameters())


def test_attack_is_deterministic_in_eval_mode_despite_dropout():
    # Eval mode during the attack: dropout is off, so two attacks agree.
    model = build_model("mlp", (10,), 2, dropout=0.5).train()
    X, y = torch.rand(8, 10), torch.arange(8) % 2
    a = attack(model, X, y, method="pgd", eps=0.05, steps=4)
    b = attack(model, X, y, method="pgd", eps=0.05, steps=4)
    assert torch.equal(a, b)


# ---------------------------------------------------------------------------------------------
# evaluate_robustness

def test_evaluate_robustness_rows(trained_mlp):
    model, X, y = trained_mlp
    eps = (0.0, 2 / 255, 8 / 255)
    res = evaluate_robustness(model, X, y, eps=eps, steps=5, batch_size=64)
    assert len(res.rows) == 6 and res.n_samples == len(X)
    assert [(r["method"], r["eps"]) for r in res.rows] == [(m, e) for m in ("fgsm", "pgd")
                                                           for e in eps]
    with torch.no_grad():
        logits = model(X)
        clean_loss = nn.functional.cross_entropy(logits, y).item()
        clean_acc = (logits.argmax(1) == y).double().mean().item()
    np.testing.assert_allclose(res.clean_loss, clean_loss, rtol=1e-5)
    np.testing.assert_allclose(res.clean_acc, clean_acc, rtol=1e-12)
    for r in res.rows:
        np.testing.assert_allclose(r["loss_penalty"], r["adv_loss"] - r["clean_loss"],
                                   rtol=1e-12)
        np.testing.assert_allclose(r["acc_drop"], r["clean_acc"] - r["adv_acc"], rtol=1e-12)
    np.testing.assert_allclose(res.row("fgsm", 0.0)["loss_penalty"], 0.0, atol=1e-12)
    # Batching does not change the numbers (FGSM rows are per-sample deterministic).
    one = evaluate_robustness(model, X, y, eps=(8 / 255,), methods="fgsm", batch_size=len(X))
    np.testing.assert_allclose(one.rows[0]["adv_loss"], res.row("fgsm", 8 / 255)["adv_loss"],
                               rtol=1e-5)
    assert res.row("pgd", 8 / 255)["adv_loss"] >= res.row("fgsm", 8 / 255)["adv_loss"] - 1e-6
    frame = res.to_frame()
    assert list(frame.columns[:3]) == ["method", "norm", "eps"] and len(frame) == 6
    json.dumps(res.to_dict())


class _Counting(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 2)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.lin(x)


@pytest.mark.parametrize("kwargs,match", [
    ({"eps": (1 / 255, 1.5)}, "outside \\[0, 1\\]"),
    ({"eps": -0.1}, "outside \\[0, 1\\]"),
    ({"eps": ()}, "empty"),
    ({"methods": ("fgsm", "cw")}, "method"),
    ({"norm": "l1"}, "norm"),
    ({"data_range": (1.0, 0.0)}, "lo < hi"),
    ({"data_range": (0.0, 0.5)}, "outside data_range"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_input_fails_before_any_work(kwargs, match):
    model = _Counting()
    X, y = torch.rand(6, 4), torch.tensor([0, 1, 0, 1, 0, 1])
    X[0, 0] = 0.9
    with pytest.raises(InputError, match=match):
        evaluate_robustness(model, X, y, **kwargs)
    assert model.calls == 0


def test_attack_bad_input():
    model = _Counting()
    X, y = torch.rand(6, 4), torch.zeros(6, dtype=torch.long)
    with pytest.raises(InputError, match="outside \\[0, 1\\]"):
        attack(model, X, y, eps=2.0)
    with pytest.raises(InputError, match="method"):
        attack(model, X, y, eps=0.1, method="deepfool")
    with pytest.raises(InputError, match="step_size"):
        attack(model, X, y, eps=0.1, method="pgd", step_size=0)
    with pytest.raises(InputError, match="lengths must match"):
        attack(model, X, y[:3], eps=0.1)
    assert model.calls == 0
    with pytest.raises(InputError, match="labels must be integers in 0..1"):
        attack(model, X, y + 2, eps=0.1)
    with pytest.raises(InputError, match="does not accept"):
        attack(model, torch.rand(6, 5), y, eps=0.1)
