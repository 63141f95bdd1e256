"""Experiments: built-in architectures, the training harness and adversarial robustness.

``build_model`` makes a classifier (a small built-in or any ``module:callable``),
``train_classifier`` trains and evaluates it epoch by epoch, and ``attack`` /
``evaluate_robustness`` measure its loss and accuracy under FGSM and PGD.
"""

from .analysis import (
    JointFit,
    hidden_id_vs_error,
    joint_scaling_fit,
    repr_vs_data,
    robustness_vs_sharpness,
    run_analyses,
    scaling_exponents,
)
from .architectures import build_model, last_hidden_layer, list_models
from .config import SweepConfig, load_config, parse_config
from .executors import LocalExecutor, RayExecutor, SweepResult, get_executor, run_sweep
from .plan import Job, SweepPlan, make_plan
from .results import ResultsStore, load_results
from .robustness import RobustnessResult, attack, evaluate_robustness
from .runner import Components, run_job
from .training import (
    TrainResult,
    as_model_input,
    evaluate,
    train_classifier,
)

__all__ = [
    "build_model", "list_models", "last_hidden_layer",
    "TrainResult", "train_classifier", "evaluate", "as_model_input",
    "RobustnessResult", "attack", "evaluate_robustness",
    # sweeps: config -> plan -> runs -> results, and the analyses over a results table
    "SweepConfig", "load_config", "parse_config", "Job", "SweepPlan", "make_plan",
    "Components", "run_job", "LocalExecutor", "RayExecutor", "get_executor", "run_sweep",
    "SweepResult", "ResultsStore", "load_results",
    "scaling_exponents", "joint_scaling_fit", "JointFit", "robustness_vs_sharpness",
    "repr_vs_data", "hidden_id_vs_error", "run_analyses",
]
