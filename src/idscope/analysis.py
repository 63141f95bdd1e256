"""``idscope.analysis``: the analyses over a sweep's results table.

The user-facing name of :mod:`idscope.experiments.analysis` (scaling exponents, the joint
scaling-law fit, robustness vs label sharpness, d_repr vs d_data, last-hidden ID vs test
error); their plots are in :mod:`idscope.report.analysis`. Importing it loads no pandas or
matplotlib until a function runs.
"""

from .experiments.analysis import (
    DEFAULT_D_DATA,
    JointFit,
    correlation_ci,
    default_domain,
    hidden_id_points,
    hidden_id_vs_error,
    joint_scaling_fit,
    loglog_exponent,
    repr_vs_data,
    robustness_columns,
    robustness_points,
    robustness_vs_sharpness,
    run_analyses,
    scaling_exponents,
)
from .experiments.results import load_results

__all__ = [
    "DEFAULT_D_DATA", "JointFit", "correlation_ci", "default_domain", "hidden_id_points",
    "hidden_id_vs_error", "joint_scaling_fit", "loglog_exponent", "repr_vs_data",
    "robustness_columns", "robustness_points", "robustness_vs_sharpness", "run_analyses",
    "scaling_exponents", "load_results",
]
