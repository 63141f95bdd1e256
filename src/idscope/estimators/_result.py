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
        The estimate; it estimates ``convention_factor``·d (see below).
    stderr : float
        Its standard error (how it is obtained is stated in ``params["interval"]``).
    ci_low, ci_high : float
        95 % confidence interval **for d** (docs/science.md §3 says what each interval
        assumes).
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
    convention_factor: float = 1.0
    raw: IDResult | None = None

    @property
    def ci(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)

    @property
    def estimate_of(self) -> str:
        """What ``dimension`` estimates: ``"d"`` or e.g. ``"0.9474·d"``."""
        return "d" if self.convention_factor == 1 else f"{self.convention_factor:.4g}·d"

    @property
    def d(self) -> float:
        """The estimate of d itself (``dimension / convention_factor``)."""
        return float(self.dimension) / self.convention_factor

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["params"] = dict(self.params)
        out["raw"] = None if self.raw is None else self.raw.to_dict()
        # the labels that make a result whose estimate is not the interval's centre readable
        out["estimate_of"] = self.estimate_of
        out["ci_of"] = "d"
        return out

    def __float__(self) -> float:
        return float(self.dimension)

    def __str__(self) -> str:
        n = f"n={self.n_points}"
        if self.raw is not None:
            n += f"; calibrated, raw {self.raw.dimension:.4g}"
        if self.convention_factor == 1:
            return (f"{self.method}: {self.dimension:.4g} ± {self.stderr:.2g} "
                    f"(95% CI {self.ci_low:.4g}–{self.ci_high:.4g}, {n})")
        return (f"{self.method}: {self.dimension:.4g} ± {self.stderr:.2g} "
                f"[estimates {self.estimate_of}]; d = {self.d:.4g}, "
                f"95% CI for d {self.ci_low:.4g}–{self.ci_high:.4g} ({n})")


def normal_ci(estimate: float, stderr: float) -> tuple[float, float]:
    """Two-sided 95 % normal interval."""
    z = 1.959963984540054
    return (estimate - z * stderr, estimate + z * stderr)


def finite_or_nan(x: float) -> float:
    return float(x) if math.isfinite(x) else float("nan")
