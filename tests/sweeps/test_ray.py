"""The Ray executor: a local Ray instance gives the same table as the local executor.

Ray is installed in CI (the ``test`` extra), so this test runs there; it starts a local
instance with two CPUs and shuts it down afterwards.
"""

from __future__ import annotations

import pandas as pd
import pytest
import ray  # a test dependency: this test must run in CI, not skip

from idscope.sweeps.config import parse_config
from idscope.sweeps.executors import RayExecutor, run_sweep
from idscope.sweeps.results import TIMING_COLUMNS, load_results

# 2 tasks x 2 sizes x 1 model x 2 seeds on sklearn:digits, tiny MLP, 3 epochs.
DIGITS = {
    "name": "digits-ray",
    "datasets": [{"name": "digits", "source": "sklearn:digits", "tasks": [[0, 1], [3, 8]]}],
    "models": [{"name": "mlp", "kwargs": {"depth": 1, "width": 16}}],
    "training": {"sizes": [40, 80], "test_size": 60, "seeds": [0, 1], "epochs": 3,
                 "batch_size": 16, "lr": 0.01},
    "measure": {"robustness": {"eps": [2 / 255], "methods": ["fgsm", "pgd"]}},
}


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_ray_executor_matches_local(tmp_path, local_ray):
    cfg = parse_config(DIGITS)
    local = run_sweep(cfg, tmp_path / "local", executor="local")
    remote = run_sweep(cfg, tmp_path / "ray", executor=RayExecutor())
    assert (local.n_run, remote.n_run) == (8, 8)
    a, b = load_results(tmp_path / "local"), load_results(tmp_path / "ray")
    drop = [c for c in TIMING_COLUMNS if c in a.columns]
    # Seeded CPU runs with one torch thread each: bit-identical whatever the executor.
    pd.testing.assert_frame_equal(a.drop(columns=drop), b.drop(columns=drop), check_exact=True)
    # Resuming under Ray recomputes nothing.
    again = run_sweep(cfg, tmp_path / "ray", executor=RayExecutor())
    assert (again.n_skipped, again.n_run) == (8, 0)
