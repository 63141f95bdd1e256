"""Statistics over a sweep's results table (:mod:`idscope.analysis`).

Each function takes the table (a pandas DataFrame, a results folder, or a .parquet/.csv
file) and returns a table; the plots are in :mod:`idscope.report.sweep_plots`.

* :func:`scaling_exponents` — per dataset/task/model, the empirical exponent α of the test
  loss, L ∝ N^(−α), as minus the least-squares slope of log L on log N, with a bootstrap CI
  (runs resampled within each N), beside 1/d_data and 1/d_repr, the exponents that Konz &
  Mazurowski (ICLR 2024) bound it by (log L ≲ −(1/d)·log N + log K_F + a).
* :func:`joint_scaling_fit` — the joint law over all runs,
  log L = a + c·(log N)/d_data + β·log K_F (+ a per-domain offset), by ordinary least
  squares with classical standard errors, bootstrap CIs (runs resampled) and R²; the theory
  reads c ≈ −1, β ≈ 1.
* :func:`robustness_vs_sharpness` — Pearson and Spearman correlation of the adversarial loss
  penalty and accuracy drop with K_F (Konz & Mazurowski: r = 0.70 across datasets for the
  FGSM loss penalty at ε = 2/255), bootstrap CIs.
* :func:`repr_vs_data` — the fraction of runs with d_repr ≤ d_data (with a Wilson interval)
  and the distribution of d_repr / d_data.
* :func:`hidden_id_vs_error` — correlation across models of the last-hidden-layer ID and the
  test error (Ansuini et al., NeurIPS 2019: Pearson r = 0.94 over 14 ImageNet CNNs).

Bootstrap intervals are percentile intervals; ``seed`` fixes them. Regression fits use the
residual bootstrap with leverage-adjusted residuals (the design is fixed by the sweep);
correlations resample the points.
"""

from ..sweeps.results import load_results
from .representations import hidden_id_points, hidden_id_vs_error, repr_vs_data
from .robustness import robustness_columns, robustness_points, robustness_vs_sharpness
from .scaling import JointFit, joint_scaling_fit, loglog_exponent, scaling_exponents
from .suite import run_analyses
from .tables import (
    DEFAULT_D_DATA,
    correlation_ci,
    default_domain,
    require_columns,
    results_frame,
    wilson_interval,
)

__all__ = [
    "DEFAULT_D_DATA", "JointFit", "correlation_ci", "default_domain", "hidden_id_points",
    "hidden_id_vs_error", "joint_scaling_fit", "loglog_exponent", "repr_vs_data",
    "robustness_columns", "robustness_points", "robustness_vs_sharpness", "run_analyses",
    "scaling_exponents", "load_results", "results_frame", "require_columns", "wilson_interval",
]
