"""Deprecated: ``idscope.experiments`` was split by concept in 0.2 and goes in the next release.

Its names now live in :mod:`idscope.training` (architectures, the training loop, attacks),
:mod:`idscope.sweeps` (config → plan → executors → results) and :mod:`idscope.analysis`
(statistics over a results table). This package re-exports them, with a
``DeprecationWarning``, for one release.
"""

import warnings

from ..analysis import (
    JointFit,
    hidden_id_vs_error,
    joint_scaling_fit,
    repr_vs_data,
    robustness_vs_sharpness,
    run_analyses,
    scaling_exponents,
)
from ..sweeps import (
    Components,
    Job,
    LocalExecutor,
    RayExecutor,
    ResultsStore,
    SweepConfig,
    SweepPlan,
    SweepResult,
    get_executor,
    load_config,
    load_results,
    make_plan,
    parse_config,
    run_job,
    run_sweep,
)
from ..training import (
    RobustnessResult,
    TrainResult,
    as_model_input,
    attack,
    build_model,
    evaluate,
    evaluate_robustness,
    last_hidden_layer,
    list_models,
    train_classifier,
)

warnings.warn("idscope.experiments is deprecated: import from idscope.training, "
              "idscope.sweeps or idscope.analysis", DeprecationWarning, stacklevel=2)

__all__ = [
    "build_model", "list_models", "last_hidden_layer",
    "TrainResult", "train_classifier", "evaluate", "as_model_input",
    "RobustnessResult", "attack", "evaluate_robustness",
    "SweepConfig", "load_config", "parse_config", "Job", "SweepPlan", "make_plan",
    "Components", "run_job", "LocalExecutor", "RayExecutor", "get_executor", "run_sweep",
    "SweepResult", "ResultsStore", "load_results",
    "scaling_exponents", "joint_scaling_fit", "JointFit", "robustness_vs_sharpness",
    "repr_vs_data", "hidden_id_vs_error", "run_analyses",
]
