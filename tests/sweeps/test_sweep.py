"""Sweeps: config → plan → runs → resumable results; bad input fails before any run.

The sweeps train real (tiny) networks on scikit-learn's digits: 2 tasks × 2 sizes × 1 model
× 2 seeds, 3 epochs, about 0.1 s a run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from idscope import InputError, MissingDependencyError
from idscope.sweeps.config import load_config, parse_config
from idscope.sweeps.executors import LocalExecutor, run_sweep
from idscope.sweeps.plan import make_plan
from idscope.sweeps.results import TIMING_COLUMNS, ResultsStore, load_results
from idscope.sweeps.runner import Components, run_job, split_task


# 2 tasks x 2 sizes x 1 model x 2 seeds on sklearn:digits, tiny MLP, 3 epochs.
def digits_config(**over):
    raw = {
        "name": "digits",
        "datasets": [{"name": "digits", "source": "sklearn:digits", "tasks": [[0, 1], [3, 8]]}],
        "models": [{"name": "mlp", "kwargs": {"depth": 1, "width": 16}}],
        "training": {"sizes": [40, 80], "test_size": 60, "seeds": [0, 1], "epochs": 3,
                     "batch_size": 16, "lr": 0.01},
        "measure": {"robustness": {"eps": [2 / 255, 0.05], "methods": ["fgsm", "pgd"]}},
    }
    raw.update(over)
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


@pytest.fixture(scope="module")
def full_digits(tmp_path_factory):
    """The digits sweep run once, uninterrupted: the reference table."""
    out = tmp_path_factory.mktemp("full")
    res = run_sweep(digits_config(), out)
    assert (res.n_planned, res.n_run, res.n_skipped, res.n_failed) == (8, 8, 0, 0)
    return out


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
name = "mlp"
kwargs = { depth = 1, width = 8 }

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
    plan = make_plan(cfg)
    # (2 + 1 tasks) x 1 model x 2 sizes x 3 seeds
    assert len(plan) == 18 and len(set(plan.keys)) == 18
    job = plan.jobs[0]
    with pytest.raises(AttributeError):
        job.n_train = 5  # frozen
    assert all(len(k) == 16 and int(k, 16) >= 0 for k in plan.keys)


def test_run_keys_are_stable_and_depend_only_on_settings():
    tr = {"sizes": [40, 80], "test_size": 60, "seeds": [0, 1], "epochs": 3}
    a = make_plan(digits_config(training=tr)).keys
    assert make_plan(digits_config(training=tr)).keys == a
    # Where a run executes and the sweep's name are not settings of the run.
    b = make_plan(digits_config(name="renamed", training=dict(tr, device="cuda", threads=0)),
                  check_models=False).keys
    assert b == a
    c = make_plan(digits_config(training=dict(tr, lr=0.01))).keys
    assert not set(c) & set(a)
    # Adding a size adds runs and keeps the others' keys.
    d = make_plan(digits_config(training=dict(tr, sizes=[40, 80, 120]))).keys
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
    ({"datasets": [{"source": "sklearn:digits", "options": {"colour": 1}}]}, "do not apply"),
    ({"datasets": [{"source": "sklearn:digits", "tasks": [[0, 11]]}]}, "class 11 not found"),
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
        run_sweep(digits_config(**change), tmp_path / "out", run_fn=calls)
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
        run_sweep(digits_config(), tmp_path / "out", executor="ray", run_fn=calls)
    assert calls.calls == []
    from idscope.cli.main import main

    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG_TOML)
    assert main(["sweep", str(cfg), "--executor", "ray", "--out", str(tmp_path / "o")]) == 2


# ---------------------------------------------------------------------------------------------
# Resume: nothing lost, nothing recomputed


def test_interrupted_sweep_resumes_without_recomputing(tmp_path, full_digits):
    cfg = digits_config()

    first = Counting(interrupt_at=3)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, tmp_path / "resumed", run_fn=first)
    assert len(ResultsStore(tmp_path / "resumed")) == 2  # the 3rd run left nothing behind
    second = Counting()
    res = run_sweep(cfg, tmp_path / "resumed", run_fn=second)
    assert (res.n_skipped, res.n_run) == (2, 6)
    assert len(second.calls) == 6 and not set(second.calls) & set(first.calls[:2])
    assert set(first.calls[2:3]) <= set(second.calls)  # the interrupted run is redone
    third = Counting()
    assert run_sweep(cfg, tmp_path / "resumed", run_fn=third).n_run == 0
    assert third.calls == []

    import pandas as pd

    a, b = load_results(full_digits), load_results(tmp_path / "resumed")
    pd.testing.assert_frame_equal(_stable(a), _stable(b))
    # The Parquet and CSV tables hold the same rows as the run files.
    pd.testing.assert_frame_equal(_stable(load_results(tmp_path / "resumed" /
                                                       "results.parquet")), _stable(b))
    csv = load_results(tmp_path / "resumed" / "results.csv")
    for col in ("test_loss", "d_repr", "label_sharpness", "fgsm_eps0.00784314_loss_penalty"):
        np.testing.assert_allclose(csv[col], b[col], rtol=1e-15)
    assert list(csv["key"]) == list(b["key"])


def test_rows_hold_settings_and_measurements(full_digits):
    df = load_results(full_digits)
    assert len(df) == 8
    assert sorted(df["task"].unique()) == ["0-1", "3-8"]
    assert sorted(df["n_train"].unique()) == [40, 80]
    assert (df["test_acc"] > 0.8).all()  # digit pairs are easy even after 3 epochs
    for col in ("key", "dataset", "model", "seed", "lr", "train_loss", "test_loss", "test_acc",
                "d_data_mle", "d_data_mle_pope", "d_data_twonn", "label_sharpness", "d_repr",
                "fgsm_eps0.00784314_loss_penalty", "pgd_eps0.05_acc_drop", "history"):
        assert col in df.columns, col
        if col not in ("key", "dataset", "model", "history"):
            assert np.isfinite(df[col].astype(float)).all(), col
    # Pope's normalisation is (k-2)/(k-1) times MacKay-Ghahramani's (k = 20).
    np.testing.assert_allclose(df["d_data_mle_pope"], df["d_data_mle"] * 18 / 19, rtol=1e-12)
    # PGD is at least as strong as FGSM (it starts from the FGSM step and keeps the best).
    assert (df["pgd_eps0.05_loss_penalty"] >= df["fgsm_eps0.05_loss_penalty"] - 1e-6).all()
    assert (df["d_repr_split"] == "train").all() and (df["d_repr_layer"] == "hidden").all()
    assert (df["d_repr_features"] == 16).all()
    hist = json.loads(df["history"].iloc[0])
    assert len(hist) == 3 and hist[-1]["test_loss"] == pytest.approx(df["test_loss"].iloc[0])
    # K_F of the training subset, recomputed here by brute force.
    from idscope.data import load, select_classes

    ds = select_classes(load("sklearn:digits"), [3, 8])
    row = df[(df["task"] == "3-8") & (df["n_train"] == 40) & (df["seed"] == 1)].iloc[0]
    tr, _ = split_task(ds.y, 40, 60, split_seed=0, seed=1)
    X = ds.X[tr].reshape(40, -1) / 16.0
    y = ds.y[tr]
    dmin = min(np.linalg.norm(X[i] - X[j]) for i in range(40) for j in range(40)
               if y[i] != y[j])
    np.testing.assert_allclose(row["label_sharpness"], 1 / dmin, rtol=1e-10)


def test_process_pool_gives_the_same_table(tmp_path):
    import pandas as pd

    cfg = digits_config(training={"sizes": [40], "test_size": 60, "seeds": [0, 1],
                                  "epochs": 2})
    serial = run_sweep(cfg, tmp_path / "serial").table()
    pooled = run_sweep(cfg, tmp_path / "pool", executor=LocalExecutor(workers=2)).table()
    pd.testing.assert_frame_equal(_stable(serial), _stable(pooled))


def test_a_failing_run_keeps_finished_runs(tmp_path):
    def flaky(job, components):
        if job.seed == 1:
            raise RuntimeError("diverged")
        return run_job(job, components)

    from idscope.sweeps.executors import RunFailedError

    with pytest.raises(RunFailedError, match="diverged"):
        run_sweep(digits_config(), tmp_path / "a", run_fn=flaky)
    assert len(ResultsStore(tmp_path / "a")) >= 1
    res = run_sweep(digits_config(), tmp_path / "b", run_fn=flaky, keep_going=True)
    assert (res.n_run, res.n_failed) == (4, 4)
    assert len(list((tmp_path / "b" / "failed").glob("*.txt"))) == 4
    res = run_sweep(digits_config(), tmp_path / "b")  # failures are retried
    assert (res.n_skipped, res.n_run) == (4, 4)
    assert not list((tmp_path / "b" / "failed").glob("*.txt"))


KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from tests.sweeps.test_sweep import digits_config
from idscope.sweeps.executors import run_sweep
from idscope.sweeps.runner import run_job

calls = []
def killer(job, components):
    calls.append(job.key)
    if len(calls) == 4:
        os.kill(os.getpid(), signal.SIGKILL)  # dies mid-run, as under an OOM killer
    return run_job(job, components)

run_sweep(digits_config(), {out!r}, run_fn=killer)
"""


def test_sigkilled_sweep_resumes(tmp_path, full_digits):
    out = tmp_path / "killed"
    script = KILL_SCRIPT.format(tests=str(Path(__file__).parents[2]), out=str(out))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(list((out / "runs").glob("*.json"))) == 3
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no stray temp files
    calls = Counting()
    res = run_sweep(digits_config(), out, run_fn=calls)
    assert (res.n_skipped, res.n_run, len(calls.calls)) == (3, 5, 5)
    import pandas as pd

    pd.testing.assert_frame_equal(_stable(load_results(out)),
                                  _stable(load_results(full_digits)))


def test_components_replace_one_piece(tmp_path):
    """A custom piece (here a trainer that records its calls) changes nothing else."""
    from idscope.training.loop import train_classifier

    seen = []

    def trainer(model, train, test, **kw):
        seen.append((train[0].shape, kw["epochs"], kw["seed"]))
        return train_classifier(model, train, test, **kw)

    cfg = digits_config(training={"sizes": [40], "test_size": 60, "seeds": [0], "epochs": 2})
    res = run_sweep(cfg, tmp_path / "c", components=Components(train_classifier=trainer))
    ref = run_sweep(cfg, tmp_path / "r")
    assert res.n_run == 2 and seen == [((40, 1, 8, 8), 2, 0)] * 2
    import pandas as pd

    pd.testing.assert_frame_equal(_stable(res.table()), _stable(ref.table()))


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_sweep_and_analyze(tmp_path, capsys, monkeypatch):
    from idscope.cli.main import main

    cfg = tmp_path / "s.toml"
    cfg.write_text(textwrap.dedent("""
        name = "cli"
        [[datasets]]
        source = "sklearn:digits"
        tasks = [[0, 1], [3, 8]]
        [[models]]
        name = "mlp"
        kwargs = { depth = 1, width = 16 }
        [training]
        sizes = [40, 80]
        test_size = 60
        epochs = 2
        lr = 0.01
        batch_size = 16
        [measure.robustness]
        eps = [0.00784313725490196]
    """))
    bad = tmp_path / "bad.toml"
    bad.write_text(cfg.read_text().replace("epochs = 2", "epochs = 2\nfoo = 1"))
    assert main(["sweep", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "unknown setting(s) ['foo']" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(cfg), "--dry-run"]) == 0
    assert "4 run(s): 0 done, 4 pending" in capsys.readouterr().out
    assert main(["sweep", str(cfg), "--no-progress"]) == 0  # default folder ./sweep-cli
    assert "4 run(s) planned, 0 already done, 4 run now" in capsys.readouterr().out
    assert main(["sweep", str(cfg), "--out", "sweep-cli"]) == 0
    assert "4 already done, 0 run now" in capsys.readouterr().out
    assert main(["analyze", "sweep-cli", "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "scaling exponents" in out and "joint fit" in out
    written = {p.name for p in (tmp_path / "sweep-cli" / "analysis").iterdir()}
    for name in ("scaling_exponents.csv", "joint_fit.csv", "robustness_vs_sharpness.csv",
                 "repr_vs_data.csv", "hidden_id_vs_error.csv", "skipped.csv", "scaling.png",
                 "exponents.png", "joint_fit.png", "robustness_vs_sharpness.png",
                 "repr_vs_data.png"):
        assert name in written, name
