"""The result object every estimator returns."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class IDResult:
    """An intrinsic-dimension estimate.

    Attributes
    ----------
    method : str
        Estimator name (``"twonn"``, ``"mle"``, ``"gride"``, ``"pca"``).
    dimension : float
        The estimate.
    stderr : float
        Its standard error (how it is obtained is stated in ``params["interval"]``).
    ci_low, ci_high : float
        95 % confidence interval.
    n_points : int
        Points that entered the estimate.
    n_duplicates : int
        Rows removed (or dropped) because of duplicates / ties.
    params : dict
        The method's parameters and conventions; ``params["interval"]`` names how the
        interval was obtained and, for the kNN estimators, ``params["scale"]`` is the mean
        neighbour distance the estimate refers to (mean of r1 and r2 for TwoNN, of r_n1 and
        r_n2 for GRIDE, r_k for MLE).
    """

    method: str
    dimension: float
    stderr: float
    ci_low: float
    ci_high: float
    n_points: int
    n_duplicates: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ci(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["params"] = dict(self.params)
        return out

    def __float__(self) -> float:
        return float(self.dimension)

    def __str__(self) -> str:
        return (f"{self.method}: {self.dimension:.4g} ± {self.stderr:.2g} "
                f"(95% CI {self.ci_low:.4g}–{self.ci_high:.4g}, n={self.n_points})")


def normal_ci(estimate: float, stderr: float) -> tuple[float, float]:
    """Two-sided 95 % normal interval."""
    z = 1.959963984540054
    return (estimate - z * stderr, estimate + z * stderr)


def finite_or_nan(x: float) -> float:
    return float(x) if math.isfinite(x) else float("nan")
