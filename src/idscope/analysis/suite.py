"""Every analysis a results table allows, at once."""

from __future__ import annotations

from typing import Any

from .._errors import InputError
from .representations import hidden_id_vs_error, repr_vs_data
from .robustness import robustness_vs_sharpness
from .scaling import joint_scaling_fit, scaling_exponents
from .tables import DEFAULT_D_DATA, default_domain, results_frame

__all__ = ["run_analyses"]


def run_analyses(results: Any, *, d_data: str = DEFAULT_D_DATA, domain: str | None = None,
                 n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Every analysis the table's columns allow.

    Returns a dict name → DataFrame (``scaling_exponents``, ``joint_fit``,
    ``robustness_vs_sharpness``, ``repr_vs_data``, ``hidden_id_vs_error``) plus
    ``"skipped"``: a DataFrame of (analysis, reason) for those that could not run.
    """
    import pandas as pd

    df = results_frame(results, "run_analyses")
    domain = default_domain(df, domain)
    out: dict[str, Any] = {}
    skipped = []
    calls = {
        "scaling_exponents": lambda: scaling_exponents(df, d_data=d_data,
                                                       n_bootstrap=n_bootstrap, seed=seed),
        "joint_fit": lambda: joint_scaling_fit(df, d_data=d_data, domain=domain,
                                               n_bootstrap=n_bootstrap, seed=seed).table(),
        "robustness_vs_sharpness": lambda: robustness_vs_sharpness(
            df, n_bootstrap=n_bootstrap, seed=seed),
        "repr_vs_data": lambda: repr_vs_data(df, d_data=d_data),
        "hidden_id_vs_error": lambda: hidden_id_vs_error(df, n_bootstrap=n_bootstrap,
                                                         seed=seed),
    }
    for name, fn in calls.items():
        try:
            out[name] = fn()
        except InputError as exc:
            skipped.append({"analysis": name, "reason": str(exc)})
    out["skipped"] = pd.DataFrame(skipped, columns=["analysis", "reason"])
    return out
