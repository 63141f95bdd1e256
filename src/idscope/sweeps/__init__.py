"""Sweeps: a TOML config → a pure plan of runs → executors (local, Ray) → a results table.

``load_config``/``parse_config`` read and check a config, ``make_plan`` expands it into runs
with deterministic keys (after the data preflight), ``run_sweep`` executes the runs not yet
done and ``load_results`` reads the table. Statistics over that table are in
:mod:`idscope.analysis`.
"""

from .config import SweepConfig, load_config, parse_config
from .executors import LocalExecutor, RayExecutor, SweepResult, get_executor, run_sweep
from .plan import Job, SweepPlan, make_plan
from .results import ResultsStore, load_results
from .runner import Components, run_job

__all__ = [
    "SweepConfig", "load_config", "parse_config", "Job", "SweepPlan", "make_plan",
    "Components", "run_job", "LocalExecutor", "RayExecutor", "get_executor", "run_sweep",
    "SweepResult", "ResultsStore", "load_results",
]
