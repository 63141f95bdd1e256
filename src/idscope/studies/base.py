"""What every study is made of: the finding it reports, the folder it writes, the run that
drives it, and the interval arithmetic its verdicts use.

A **study** reproduces one paper's findings on a model and data given as specs: its
experiments (resumable: each writes CSV tables, skipped when they exist with the same
settings) measure; its judges read those tables only and return one :class:`Finding` each,
whose verdict ("shown" / "not shown" / not testable) is decided from 95 % intervals against
a stated criterion, and ask for figures (:class:`Figure`) that :mod:`idscope.report` draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import atomic_path
from .._errors import InputError

__all__ = ["Finding", "Figure", "Workspace", "Run", "Experiment", "Study", "Z95",
           "diff_interval", "ratio_interval", "detail", "fmt", "fmt_interval", "as_float",
           "not_testable"]

# the two-sided 95 % normal quantile
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Finding:
    """One claim of a paper and what the data here say about it.

    ``shown`` is True when the effect appears, False when it does not (the page says so
    plainly), None when it could not be tested. ``criterion`` says how ``shown`` was decided
    from the numbers; ``details`` lists the sub-measurements behind it, each a dict with
    ``label``, ``value``, ``ci_low``, ``ci_high`` (optional), ``criterion`` and ``shown``.
    """

    key: str
    title: str
    claim: str
    reading: str
    value: float | None = None
    value_label: str = ""
    interval: tuple[float, float] | None = None
    shown: bool | None = None
    figures: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    criterion: str = ""
    details: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["figures"], d["tables"] = list(self.figures), list(self.tables)
        d["interval"] = list(self.interval) if self.interval is not None else None
        d["details"] = [dict(x) for x in self.details]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        d["figures"] = tuple(d.get("figures", ()))
        d["tables"] = tuple(d.get("tables", ()))
        d["details"] = tuple(dict(x) for x in d.get("details", ()))
        if d.get("interval") is not None:
            d["interval"] = tuple(d["interval"])
        return cls(**d)


@dataclass(frozen=True)
class Figure:
    """A figure a finding asks for: ``plot`` names a plotting function of
    :mod:`idscope.report` (``"plot_profiles"``), called with ``args`` and ``kwargs``; the
    report saves it at ``path`` (relative to the study's folder)."""

    path: str
    plot: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


class Workspace:
    """A study's folder: CSV tables under ``tables/`` and the figures its findings ask for.

    Studies measure and judge; they do not draw. :meth:`save_figure` records a
    :class:`Figure` request (the plot's name in :mod:`idscope.report` and its arguments),
    which the report draws into ``figures/`` when it renders the page.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.figures: list[Figure] = []

    def save_table(self, name: str, df: Any) -> str:
        rel = f"tables/{name}.csv"
        with atomic_path(self.root / rel, suffix=".csv") as tmp:
            df.to_csv(tmp, index=False)
        return rel

    def has_table(self, name: str) -> bool:
        return (self.root / "tables" / f"{name}.csv").is_file()

    def table(self, name: str) -> Any:
        import pandas as pd

        path = self.root / "tables" / f"{name}.csv"
        if not path.is_file():
            raise InputError(f"report: missing table {path} (rerun the demo)")
        return pd.read_csv(path)

    def save_figure(self, name: str, plot: str, *args: Any, **kwargs: Any) -> str:
        """Ask for ``figures/NAME.png`` drawn by the report's ``plot`` with these arguments;
        returns the path relative to the folder."""
        rel = f"figures/{name}.png"
        self.figures.append(Figure(rel, plot, args, kwargs))
        return rel


class Run:
    """One run of studies: settings, output folder and the progress over its steps (a bar
    on a terminal, one line per step otherwise: see :func:`idscope._runtime.step_progress`)."""

    def __init__(self, out: Workspace, settings: Any, progress: bool):
        self.out = out
        self.settings = settings
        self.progress = progress
        self.bar: Any = None
        self.name = "demo"

    def step(self, desc: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(f"{self.name}: {desc}")

    def done(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)


@dataclass(frozen=True)
class Experiment:
    """One resumable measurement of a study: ``run`` writes ``tables``; ``steps(settings)``
    is how many progress steps it reports."""

    name: str
    run: Callable[[Run], None]
    tables: tuple[str, ...]
    steps: Callable[[Any], int]


@dataclass(frozen=True)
class Study:
    """A paper's findings as a unit: experiments that measure, judges that decide.

    ``judges`` map (workspace, settings) to a :class:`Finding`, reading only the tables the
    experiments wrote, so a page can be rebuilt from disk.
    """

    key: str
    title: str
    reference: str
    experiments: tuple[Experiment, ...]
    judges: tuple[Callable[[Workspace, Any], Finding], ...]

    def steps(self, settings: Any) -> int:
        return sum(e.steps(settings) for e in self.experiments)

    def judge(self, out: Workspace, settings: Any) -> tuple[Finding, ...]:
        return tuple(fn(out, settings) for fn in self.judges)


# ---------------------------------------------------------------------------------------------
# Intervals and wording shared by the verdicts


def as_float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def diff_interval(a: float, se_a: float, b: float, se_b: float) -> tuple[float, float, float]:
    """a − b with a normal 95 % interval (independent estimates)."""
    d = a - b
    se = math.sqrt(se_a ** 2 + se_b ** 2)
    return d, d - Z95 * se, d + Z95 * se


def ratio_interval(a: float, se_a: float, b: float, se_b: float) -> tuple[float, float, float]:
    """a / b with a delta-method 95 % interval (independent estimates)."""
    r = a / b
    se = abs(r) * math.sqrt((se_a / a) ** 2 + (se_b / b) ** 2)
    return r, r - Z95 * se, r + Z95 * se


def detail(label: str, value: float, lo: float | None = None, hi: float | None = None, *,
            criterion: str = "", shown: bool | None = None) -> dict[str, Any]:
    return {"label": label, "value": as_float(value),
            "ci_low": None if lo is None else as_float(lo),
            "ci_high": None if hi is None else as_float(hi), "criterion": criterion,
            "shown": shown}


def fmt(x: float, digits: int = 3) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.{digits}g}"


def fmt_interval(lo: float, hi: float) -> str:
    return f"[{fmt(lo)}, {fmt(hi)}]"


def profile_row(df: Any, model: str, layer: str) -> Any:
    sel = df[(df["model"] == model) & (df["layer"] == layer)]
    if sel.empty:
        raise InputError(f"report: no profile row for model {model!r}, layer {layer!r}")
    return sel.iloc[0]


def profile_layers(df: Any, model: str) -> list[str]:
    return df[df["model"] == model].sort_values("relative_depth")["layer"].tolist()


def not_testable(key: str, title: str, claim: str, why: str) -> Finding:
    return Finding(key, title, claim, f"Not testable here: {why}", shown=None)
