"""Sweeps: config → plan → runs → resumable results; bad input fails before any run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from idscope import InputError, MissingDependencyError
from idscope.experiments.config import load_config, parse_config
from idscope.experiments.executors import LocalExecutor, run_sweep
from idscope.experiments.plan import make_plan
from idscope.experiments.results import TIMING_COLUMNS, ResultsStore, load_results
from idscope.experiments.runner import Components, run_job, split_task

# ---------------------------------------------------------------------------------------------
# Fakes for the training pieces: a fixed random-feature nearest-centroid "network". They keep
# the plan/resume/executor tests independent of training speed; the digits sweeps below use
# the real pieces.


def fake_build_model(name, input_shape, n_classes, *, seed=0, **kw):
    if name != "fake":
        raise InputError(f"build_model: unknown architecture {name!r}; available: ['fake']")
    rng = np.random.default_rng(seed)
    return {"W": rng.standard_normal((int(np.prod(input_shape)), kw.get("width", 8)))}


def _features(model, X):
    return np.tanh(np.asarray(X, dtype=np.float64).reshape(len(X), -1) @ model["W"])


def _loss_acc(model, X, y):
    f = _features(model, X)
    d = ((f[:, None, :] - model["centroids"][None]) ** 2).sum(-1)
    logits = -d
    logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    return float(-logp[np.arange(len(y)), y].mean()), float((d.argmin(1) == y).mean())


def fake_train(model, train, test, *, epochs, batch_size, lr, optimizer, weight_decay, seed,
               device, checkpoint):
    (Xtr, ytr), (Xte, yte) = train, test
    f = _features(model, Xtr)
    model = dict(model, centroids=np.stack([f[ytr == c].mean(0) for c in (0, 1)]))
    trl, tra = _loss_acc(model, Xtr, ytr)
    tel, tea = _loss_acc(model, Xte, yte)
    final = {"train_loss": trl, "train_acc": tra, "test_loss": tel, "test_acc": tea}
    return SimpleNamespace(model=model, history=[dict(final, epoch=e) for e in range(epochs)],
                           final=final)


def fake_activations(model, X, layers="last_hidden", store=None):
    return {"hidden": _features(model, X)}


def fake_robustness(model, X, y, *, eps, methods, data_range):
    cl, ca = _loss_acc(model, X, y)
    rows = [{"method": m, "eps": e, "clean_loss": cl, "clean_acc": ca, "adv_loss": cl + e,
             "adv_acc": ca - e / 2, "loss_penalty": e, "acc_drop": e / 2}
            for m in methods for e in eps]
    return SimpleNamespace(rows=rows)


FAKES = Components(build_model=fake_build_model, train_classifier=fake_train,
                   activations=fake_activations, evaluate_robustness=fake_robustness)


def fake_config(**over):
    raw = {
        "name": "fake",
        "datasets": [{"name": "digits", "source": "sklearn:digits", "tasks": [[0, 1], [3, 8]]}],
        "models": [{"name": "fake", "kwargs": {"width": 6}}],
        "training": {"sizes": [30, 60], "test_size": 40, "seeds": [0, 1], "epochs": 2},
        "measure": {"robustness": {"eps": [0.01, 0.03], "methods": ["fgsm"]}},
    }
    for k, v in over.items():
        raw[k] = v
    return parse_config(raw)


class Counting:
    """A run function that counts its calls and can interrupt the n-th one."""

    def __init__(self, interrupt_at=None):
        self.calls = []
        self.interrupt_at = interrupt_at

    def __call__(self, job, components):
        self.calls.append(job.key)
        if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        return run_job(job, components)


def _stable(df):
    return df.drop(columns=[c for c in TIMING_COLUMNS if c in df.columns])


# ---------------------------------------------------------------------------------------------
# Config and plan


CONFIG_TOML = """
name = "demo"

[[datasets]]
source = "sklearn:digits"
tasks = [[0, 1], [3, 8]]

[[datasets]]
name = "synth"
synthetic = "manifold_images"
params = { n = 200, intrinsic_dim = 3, image_size = 8, margin = 0.05, seed = 1 }

[[models]]
name = "fake"
kwargs = { width = 4 }

[training]
sizes = [40, 60]
test_size = 50
seeds = [0, 1, 2]
epochs = 2
lr = 0.01

[measure]
d_repr = "test"
[measure.robustness]
eps = [0.0, 0.5]
methods = ["fgsm", "pgd"]
"""


def test_config_parses_into_an_immutable_plan(tmp_path):
    path = tmp_path / "demo.toml"
    path.write_text(CONFIG_TOML)
    cfg = load_config(path)
    assert cfg.name == "demo"
    assert [d.name for d in cfg.datasets] == ["sklearn:digits", "synth"]
    assert cfg.datasets[1].tasks == ((0, 1),)  # synthetic default: its two classes
    assert cfg.training.sizes == (40, 60) and cfg.training.seeds == (0, 1, 2)
    assert cfg.measure.robustness_eps == (0.0, 0.5)
    assert cfg.measure.d_repr == "test"
    plan = make_plan(cfg, FAKES)
    # (2 + 1 tasks) x 1 model x 2 sizes x 3 seeds
    assert len(plan) == 18 and len(set(plan.keys)) == 18
    job = plan.jobs[0]
    with pytest.raises(AttributeError):
        job.n_train = 5  # frozen
    assert all(len(k) == 16 and int(k, 16) >= 0 for k in plan.keys)


def test_run_keys_are_stable_and_depend_only_on_settings(tmp_path):
    a = make_plan(fake_config(), FAKES).keys
    assert make_plan(fake_config(), FAKES).keys == a
    # Where a run executes and the sweep's name are not settings of the run.
    b = make_plan(fake_config(name="renamed", training={
        "sizes": [30, 60], "test_size": 40, "seeds": [0, 1], "epochs": 2, "device": "cuda",
        "threads": 4}), FAKES).keys
    assert b == a
    c = make_plan(fake_config(training={"sizes": [30, 60], "test_size": 40, "seeds": [0, 1],
                                        "epochs": 2, "lr": 0.01}), FAKES).keys
    assert not set(c) & set(a)
    # Adding a size adds runs and keeps the others' keys.
    d = make_plan(fake_config(training={"sizes": [30, 60, 90], "test_size": 40,
                                        "seeds": [0, 1], "epochs": 2}), FAKES).keys
    assert set(a) < set(d) and len(d) == len(a) + 4


def test_split_is_balanced_disjoint_nested_and_test_set_fixed():
    y = np.r_[np.zeros(70, int), np.ones(50, int)]
    tr_small, te = split_task(y, 20, 30, split_seed=0, seed=3)
    tr_big, te2 = split_task(y, 41, 30, split_seed=0, seed=3)
    tr_other, te3 = split_task(y, 41, 30, split_seed=0, seed=4)
    np.testing.assert_array_equal(te, te2)
    np.testing.assert_array_equal(te, te3)
    assert not set(tr_big) & set(te) and not set(tr_other) & set(te)
    assert set(tr_small) <= set(tr_big)
    assert np.bincount(y[tr_big]).tolist() == [21, 20]
    assert np.bincount(y[te]).tolist() == [15, 15]
    assert set(tr_other) != set(tr_big)


# ---------------------------------------------------------------------------------------------
# Bad input: one clear error before any run


@pytest.mark.parametrize("change, match", [
    ({"models": [{"name": "no_such_net"}]}, "no_such_net"),
    ({"models": [{"name": "no_such_module_xyz:build"}]}, "cannot import module"),
    ({"datasets": [{"source": "sklearn:no_such_set", "tasks": [[0, 1]]}]}, "no_such_set"),
    ({"datasets": [{"source": "/nonexistent/data.npz", "tasks": [[0, 1]]}]}, "no such file"),
    ({"datasets": [{"source": "sklearn:digits", "tasks": [[0, 11]]}]}, "do not occur"),
    ({"training": {"sizes": [30, 320], "test_size": 40}}, "N=320 is too large"),
    # 178 zeros in digits: 160/2 + 200/2 = 180 > 178, though 160 alone would fit.
    ({"training": {"sizes": [160], "test_size": 200}}, "largest N possible is 156"),
    ({"measure": {"robustness": {"eps": [0.01, 1.5]}}}, r"outside \[0, 1\]"),
    ({"measure": {"robustness": {"eps": [-0.1]}}}, r"outside \[0, 1\]"),
    ({"measure": {"robustness": {"methods": ["cw"]}}}, "not one of"),
    ({"training": {"sizes": [30], "epochs": 0}}, "epochs"),
    ({"training": {"sizes": [30], "learning_rate": 0.1}}, "unknown setting"),
    ({"datasets": [{"source": "sklearn:digits", "tasks": [[1, 1]]}]}, "two different classes"),
])
def test_bad_config_fails_before_any_run(tmp_path, change, match):
    calls = Counting()
    with pytest.raises(InputError, match=match):
        run_sweep(fake_config(**change), tmp_path / "out", components=FAKES, run_fn=calls)
    assert calls.calls == []
    assert not (tmp_path / "out" / "runs").exists() or not any(
        (tmp_path / "out" / "runs").iterdir())


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    p = tmp_path / "bad.toml"
    p.write_text("[training\nsizes = 3")
    with pytest.raises(InputError, match="invalid TOML"):
        load_config(p)


def test_missing_ray_is_a_clear_error_before_any_run(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    calls = Counting()
    with pytest.raises(MissingDependencyError, match="needs Ray"):
        run_sweep(fake_config(), tmp_path / "out", executor="ray", components=FAKES,
                  run_fn=calls)
    assert calls.calls == []
    from idscope.cli.main import main

    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG_TOML)
    assert main(["sweep", str(cfg), "--executor", "ray", "--out", str(tmp_path / "o")]) == 2


# ---------------------------------------------------------------------------------------------
# Resume: nothing lost, nothing recomputed


def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    cfg = fake_config()
    full = run_sweep(cfg, tmp_path / "full", components=FAKES)
    assert (full.n_planned, full.n_run, full.n_skipped) == (8, 8, 0)

    first = Counting(interrupt_at=3)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, tmp_path / "resumed", components=FAKES, run_fn=first)
    assert len(ResultsStore(tmp_path / "resumed")) == 2  # the 3rd run left nothing behind
    second = Counting()
    res = run_sweep(cfg, tmp_path / "resumed", components=FAKES, run_fn=second)
    assert (res.n_skipped, res.n_run) == (2, 6)
    assert len(second.calls) == 6 and not set(second.calls) & set(first.calls[:2])
    assert set(first.calls[2:3]) <= set(second.calls)  # the interrupted run is redone
    third = Counting()
    assert run_sweep(cfg, tmp_path / "resumed", components=FAKES, run_fn=third).n_run == 0
    assert third.calls == []

    import pandas as pd

    a, b = load_results(tmp_path / "full"), load_results(tmp_path / "resumed")
    pd.testing.assert_frame_equal(_stable(a), _stable(b))
    # The Parquet and CSV tables hold the same rows as the run files.
    pd.testing.assert_frame_equal(_stable(load_results(tmp_path / "resumed" /
                                                       "results.parquet")), _stable(b))
    csv = load_results(tmp_path / "resumed" / "results.csv")
    np.testing.assert_allclose(csv["test_loss"], b["test_loss"], rtol=1e-15)
    assert list(csv["key"]) == list(b["key"])


def test_rows_hold_settings_and_measurements(tmp_path):
    res = run_sweep(fake_config(), tmp_path / "out", components=FAKES)
    df = res.table()
    assert len(df) == 8
    assert sorted(df["task"].unique()) == ["0-1", "3-8"]
    assert sorted(df["n_train"].unique()) == [30, 60]
    for col in ("key", "dataset", "model", "seed", "lr", "train_loss", "test_loss", "test_acc",
                "d_data_mle", "d_data_mle_pope", "d_data_twonn", "label_sharpness", "d_repr",
                "fgsm_eps0.01_loss_penalty", "fgsm_eps0.03_acc_drop", "history"):
        assert col in df.columns, col
    # Pope's normalisation is (k-2)/(k-1) times MacKay-Ghahramani's (k = 20).
    np.testing.assert_allclose(df["d_data_mle_pope"], df["d_data_mle"] * 18 / 19, rtol=1e-12)
    np.testing.assert_allclose(df["fgsm_eps0.03_loss_penalty"], 0.03)
    assert (df["d_repr_split"] == "train").all()
    assert json.loads(df["history"].iloc[0])[0]["epoch"] == 0
    # K_F of the training subset, recomputed here by brute force.
    from idscope.data import load, select_classes

    ds = select_classes(load("sklearn:digits"), [3, 8])
    row = df[(df["task"] == "3-8") & (df["n_train"] == 30) & (df["seed"] == 1)].iloc[0]
    tr, _ = split_task(ds.y, 30, 40, split_seed=0, seed=1)
    X = ds.X[tr].reshape(30, -1) / 16.0
    y = ds.y[tr]
    dmin = min(np.linalg.norm(X[i] - X[j]) for i in range(30) for j in range(30)
               if y[i] != y[j])
    np.testing.assert_allclose(row["label_sharpness"], 1 / dmin, rtol=1e-10)


def test_process_pool_gives_the_same_table(tmp_path):
    import pandas as pd

    cfg = fake_config(training={"sizes": [30], "test_size": 40, "seeds": [0, 1]})
    serial = run_sweep(cfg, tmp_path / "serial", components=FAKES).table()
    pooled = run_sweep(cfg, tmp_path / "pool", executor=LocalExecutor(workers=2),
                       components=FAKES).table()
    pd.testing.assert_frame_equal(_stable(serial), _stable(pooled))


def test_a_failing_run_keeps_finished_runs(tmp_path):
    def flaky(job, components):
        if job.seed == 1:
            raise RuntimeError("diverged")
        return run_job(job, components)

    from idscope.experiments.executors import RunFailedError

    with pytest.raises(RunFailedError, match="diverged"):
        run_sweep(fake_config(), tmp_path / "a", components=FAKES, run_fn=flaky)
    assert len(ResultsStore(tmp_path / "a")) >= 1
    res = run_sweep(fake_config(), tmp_path / "b", components=FAKES, run_fn=flaky,
                    keep_going=True)
    assert (res.n_run, res.n_failed) == (4, 4)
    assert len(list((tmp_path / "b" / "failed").glob("*.txt"))) == 4
    res = run_sweep(fake_config(), tmp_path / "b", components=FAKES)  # failures are retried
    assert (res.n_skipped, res.n_run) == (4, 4)
    assert not list((tmp_path / "b" / "failed").glob("*.txt"))


KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from test_experiments_sweep import FAKES, fake_config
from idscope.experiments.executors import run_sweep
from idscope.experiments.runner import run_job

calls = []
def killer(job, components):
    calls.append(job.key)
    if len(calls) == 4:
        os.kill(os.getpid(), signal.SIGKILL)  # dies mid-run, as under an OOM killer
    return run_job(job, components)

run_sweep(fake_config(), {out!r}, components=FAKES, run_fn=killer)
"""


def test_sigkilled_sweep_resumes(tmp_path):
    out = tmp_path / "killed"
    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent), out=str(out))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(list((out / "runs").glob("*.json"))) == 3
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no stray temp files
    calls = Counting()
    res = run_sweep(fake_config(), out, components=FAKES, run_fn=calls)
    assert (res.n_skipped, res.n_run, len(calls.calls)) == (3, 5, 5)
    assert len(load_results(out)) == 8
