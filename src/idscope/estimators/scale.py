"""Scale analysis: how an intrinsic-dimension estimate changes with the number of points or
the size of the neighbourhood.

A kNN estimate measures the dimension at the scale of the neighbour distances; noise inflates
it at small scales and curvature deflates it at large ones. Four views, one API:

- ``"decimation"`` (Facco et al. 2017; Ansuini et al. 2019): estimates on random subsets of
  N, N/2, N/4, ... points (fewer points, larger distances), mean and spread over repeats;
- ``"blocks"`` (Ansuini et al.'s block analysis): the data split into b = 1..20 disjoint
  random blocks, mean ± std of the b estimates against the block size N/b;
- ``"mle-k"`` (Levina & Bickel 2004): MLE for each k in a range;
- ``"gride"`` (Denti et al. 2022): GRIDE with rank doubling n1 = 2^i, n2 = 2^(i+1) up to
  ``range_max``, against the scale (mean of r_{n1} and r_{n2}), as DADApy's
  ``return_id_scaling_gride``.

The choice of scale (:func:`find_plateau`): the ID is read where it does not depend on the
scale (Facco et al. 2017; Denti et al. 2022; Valeriani et al. 2023). The plateau rule: sort
the rows by their x (N, k or the length scale), slide a window of w consecutive rows (w =
max(3, ⌈rows/4⌉) unless given), measure each window's flatness (max − min)/mean of its
dimensions, and take the flattest window (the first in x order on ties); the recommended
scale is the window's middle row, and the plateau counts as flat when the flatness is at
most the tolerance (10 %). Every result carries it: ``result.plateau``, and the table's
``plateau`` / ``recommended`` columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import InputError
from .._validation import check_array, check_choice, check_int
from ._dependence import graph_neighbors
from ._neighbors import neighbor_distances, take_rows
from ._result import IDResult
from .gride import gride_from_distances
from .mle import AGGREGATES, NORMALIZATIONS, _mle_result

__all__ = ["scale_analysis", "ScaleResult", "SCALE_KINDS", "Plateau", "find_plateau"]

SCALE_KINDS = ("decimation", "blocks", "mle-k", "gride")
COLUMNS = ("kind", "estimator", "n", "scale", "dimension", "stderr", "spread", "ci_low",
           "ci_high", "repeats")
_X_COLUMN = {"decimation": "n", "blocks": "n", "mle-k": "k", "gride": "scale"}
PLATEAU_TOLERANCE = 0.1


@dataclass(frozen=True)
class Plateau:
    """The flattest run of ``window`` consecutive scales (see :func:`find_plateau`).

    ``rows``: positions (in the table's row order) of the window's rows; ``x`` and
    ``dimension``: the recommended row's x value and estimate; ``mean``: the window's mean
    dimension; ``flatness``: (max − min)/mean over the window; ``flat``: flatness <=
    ``tolerance``.
    """

    rows: tuple[int, ...]
    recommended: int
    x: float
    dimension: float
    mean: float
    flatness: float
    flat: bool
    window: int
    tolerance: float

    def to_dict(self) -> dict[str, Any]:
        return {"rows": list(self.rows), "recommended": self.recommended, "x": self.x,
                "dimension": self.dimension, "mean": self.mean, "flatness": self.flatness,
                "flat": self.flat, "window": self.window, "tolerance": self.tolerance}


def find_plateau(x: Any, dimension: Any, *, window: int | None = None,
                 tolerance: float = PLATEAU_TOLERANCE) -> Plateau | None:
    """The plateau rule (module docstring) on one curve; None when fewer than ``window``
    (at least 3) consecutive finite estimates exist.

    Parameters
    ----------
    x, dimension : arrays (R,)
        The scale of each row (any order) and its estimate (NaN rows are skipped: no window
        spans them).
    window : int, optional
        Rows per window (default max(3, ⌈R/4⌉)).
    tolerance : float
        Largest flatness (max − min)/mean of a window that counts as a plateau.
    """
    x = np.asarray(x, dtype=np.float64)
    dims = np.asarray(dimension, dtype=np.float64)
    if x.shape != dims.shape or x.ndim != 1:
        raise InputError(f"find_plateau: x and dimension must be 1-D of one length, got "
                         f"{x.shape} and {dims.shape}")
    w = max(3, math.ceil(x.size / 4)) if window is None else check_int(
        window, "window", caller="find_plateau", low=2)
    if not tolerance >= 0:
        raise InputError(f"find_plateau: tolerance={tolerance} must be >= 0")
    order = np.argsort(x, kind="stable")
    d = dims[order]
    best: tuple[float, int] | None = None
    for a in range(0, x.size - w + 1):
        part = d[a:a + w]
        if not np.isfinite(part).all() or part.mean() <= 0:
            continue
        flat = float((part.max() - part.min()) / part.mean())
        if best is None or flat < best[0] - 1e-12:
            best = (flat, a)
    if best is None:
        return None
    flat, a = best
    rows = tuple(int(i) for i in order[a:a + w])
    mid = rows[(w - 1) // 2]
    return Plateau(rows, mid, float(x[mid]), float(dims[mid]), float(d[a:a + w].mean()),
                   flat, bool(flat <= tolerance), w, float(tolerance))


@dataclass(frozen=True)
class ScaleResult:
    """A tidy table: one row per scale.

    Every row has the columns :data:`COLUMNS`:

    - ``n``: points per estimate; ``scale``: mean neighbour distance of the estimate
      (``params["scale"]`` of the results, NaN for PCA);
    - ``dimension``: the estimate, averaged over ``repeats`` estimates (random subsets or
      blocks); ``spread``: their standard deviation (NaN for a single estimate);
      ``stderr``, ``ci_low``, ``ci_high``: the estimator's own standard error and 95 %
      interval of one estimate, averaged over the repeats;

    and kind-specific ones: ``fraction`` (decimation), ``blocks``, ``k`` (mle-k), ``n1``,
    ``n2`` (gride). ``x`` names the column to plot the dimension against.
    """

    kind: str
    estimator: str
    rows: tuple[dict[str, Any], ...]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def x(self) -> str:
        return _X_COLUMN[self.kind]

    @property
    def plateau(self) -> Plateau | None:
        """The recommended scale by the plateau rule (:func:`find_plateau`), if any."""
        p = self.params.get("plateau")
        return None if p is None else Plateau(**{**p, "rows": tuple(p["rows"])})

    @property
    def columns(self) -> list[str]:
        extra = [c for r in self.rows for c in r if c not in COLUMNS]
        return list(COLUMNS) + list(dict.fromkeys(extra))

    def column(self, name: str) -> np.ndarray:
        """One column as a float array (NaN where a row has no value)."""
        return np.array([_float(r.get(name)) for r in self.rows])

    def to_frame(self):
        """The table as a pandas DataFrame (pandas is imported here, not with idscope)."""
        import pandas as pd

        return pd.DataFrame([dict(r) for r in self.rows], columns=self.columns)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "estimator": self.estimator,
                "rows": [dict(r) for r in self.rows], "params": dict(self.params)}

    def __len__(self) -> int:
        return len(self.rows)


def _float(v: Any) -> float:
    return float("nan") if v is None else float(v)


def scale_analysis(
    X: Any,
    kind: str,
    *,
    estimator: str = "twonn",
    estimator_params: dict[str, Any] | None = None,
    n_repeats: int = 5,
    min_points: int = 20,
    max_blocks: int = 20,
    k_range: tuple[int, int] = (5, 50),
    range_max: int = 64,
    duplicates: str = "remove",
    seed: int = 0,
    device: Any = None,
    progress: bool = False,
    plateau_window: int | None = None,
    plateau_tolerance: float = PLATEAU_TOLERANCE,
) -> ScaleResult:
    """Intrinsic dimension across scales, and the scale recommended by the plateau rule.

    Parameters
    ----------
    X : array (N, D)
        Points (numpy array, memmap or torch tensor).
    kind : {"decimation", "blocks", "mle-k", "gride"}
        See the module docstring.
    estimator : {"twonn", "mle", "gride", "pca"}
        The estimator of ``"decimation"`` and ``"blocks"``, called with ``estimator_params``.
        ``"mle-k"`` uses MLE (``estimator_params`` may set ``normalization`` and
        ``aggregate``), ``"gride"`` uses GRIDE.
    n_repeats : int
        Random subsets per decimation level (the full set is estimated once).
    min_points : int
        Smallest subset or block size.
    max_blocks : int
        Largest number of blocks (Ansuini et al.: 20).
    k_range : (k1, k2)
        The k of ``"mle-k"``, inclusive; needs N > k2.
    range_max : int
        Largest rank n2 of ``"gride"`` (DADApy's default 64); needs N > range_max.
    duplicates : {"remove", "drop-ties", "error"}
        Duplicate policy (see :func:`idscope.twonn`), unless ``estimator_params`` sets one.
    seed : int
        Seeds the random subsets and blocks.
    progress : bool
        Show a progress bar (stderr) over the estimates.
    plateau_window, plateau_tolerance : int, float
        The plateau rule's window (default max(3, ⌈rows/4⌉)) and tolerance on its flatness
        (see :func:`find_plateau`).

    Returns
    -------
    ScaleResult
        A tidy table; ``to_frame()`` gives a DataFrame and
        :func:`idscope.report.scale.plot_scale` plots it. ``result.plateau`` is the
        recommended scale; the rows' ``plateau`` column marks the flattest window and
        ``recommended`` the recommended row.
    """
    caller = "scale_analysis"
    check_choice(kind, "kind", SCALE_KINDS, caller=caller)
    from .registry import ESTIMATORS

    check_choice(estimator, "estimator", tuple(ESTIMATORS), caller=caller)
    if estimator_params is not None and not isinstance(estimator_params, dict):
        raise InputError(f"{caller}: estimator_params must be a dict, got "
                         f"{estimator_params!r}")
    params = dict(estimator_params or {})
    seed = check_int(seed, "seed", caller=caller, low=0)
    X = check_array(X, caller=caller, min_samples=3)
    common = {"seed": seed, "duplicates": duplicates}
    if kind in ("decimation", "blocks"):
        if estimator != "pca":
            params.setdefault("duplicates", duplicates)
            params.setdefault("device", device)
        n_repeats = check_int(n_repeats, "n_repeats", caller=caller, low=1)
        min_points = check_int(min_points, "min_points", caller=caller, low=3)
        if kind == "decimation":
            rows = _decimation(X, ESTIMATORS[estimator], params, n_repeats, min_points,
                               seed, progress)
            extra = {"n_repeats": n_repeats, "min_points": min_points}
        else:
            max_blocks = check_int(max_blocks, "max_blocks", caller=caller, low=1)
            rows = _blocks(X, ESTIMATORS[estimator], params, max_blocks, min_points, seed,
                           progress)
            extra = {"max_blocks": max_blocks, "min_points": min_points}
        rows = [dict(r, kind=kind, estimator=estimator) for r in rows]
        shown = {k: v for k, v in params.items() if k != "device"}
        return _with_plateau(ScaleResult(kind, estimator, tuple(_ordered(r) for r in rows),
                                         {**common, **extra, "estimator_params": shown}),
                             plateau_window, plateau_tolerance)
    if kind == "mle-k":
        normalization = check_choice(params.pop("normalization", "k-1"), "normalization",
                                     NORMALIZATIONS, caller=caller)
        aggregate = check_choice(params.pop("aggregate", "inverse"), "aggregate", AGGREGATES,
                                 caller=caller)
        if params:
            raise InputError(f"{caller}: kind='mle-k' takes only normalization and aggregate "
                             f"in estimator_params, got {sorted(params)}")
        if not (isinstance(k_range, (tuple, list)) and len(k_range) == 2):
            raise InputError(f"{caller}: k_range must be (k1, k2), got {k_range!r}")
        low = 3 if normalization == "k-2" or aggregate == "mean" else 2
        k1 = check_int(k_range[0], "k1", caller=caller, low=low)
        k2 = check_int(k_range[1], "k2", caller=caller, low=k1)
        rows = _mle_k(X, k1, k2, normalization, aggregate, duplicates, device, progress)
        return _with_plateau(ScaleResult(kind, "mle", tuple(_ordered(r) for r in rows),
                                         {**common, "k_range": (k1, k2),
                                          "normalization": normalization,
                                          "aggregate": aggregate}),
                             plateau_window, plateau_tolerance)
    range_max = check_int(range_max, "range_max", caller=caller, low=2)
    if params:
        raise InputError(f"{caller}: kind='gride' takes no estimator_params, got "
                         f"{sorted(params)}")
    rows = _gride_doubling(X, range_max, duplicates, device, progress)
    return _with_plateau(ScaleResult(kind, "gride", tuple(_ordered(r) for r in rows),
                                     {**common, "range_max": range_max}),
                         plateau_window, plateau_tolerance)


def _with_plateau(result: ScaleResult, window: int | None, tolerance: float) -> ScaleResult:
    """The result with the plateau rule applied: ``params["plateau"]`` and the rows'
    ``plateau`` and ``recommended`` columns."""
    p = find_plateau(result.column(result.x), result.column("dimension"), window=window,
                     tolerance=tolerance)
    inside = set(p.rows) if p is not None else set()
    rows = tuple(dict(r, plateau=i in inside, recommended=p is not None and i == p.recommended)
                 for i, r in enumerate(result.rows))
    return ScaleResult(result.kind, result.estimator, rows,
                       {**result.params, "plateau": None if p is None else p.to_dict()})


def _ordered(row: dict[str, Any]) -> dict[str, Any]:
    out = {c: row.get(c) for c in COLUMNS}
    out.update({k: v for k, v in row.items() if k not in COLUMNS})
    return out


def _summary(results: list[IDResult]) -> dict[str, Any]:
    dims = np.array([r.dimension for r in results])
    return {
        "n": int(round(np.mean([r.n_points + r.n_duplicates for r in results]))),
        "scale": float(np.mean([r.params.get("scale", np.nan) for r in results])),
        "dimension": float(dims.mean()),
        "stderr": float(np.mean([r.stderr for r in results])),
        "spread": float(dims.std(ddof=1)) if dims.size > 1 else float("nan"),
        "ci_low": float(np.mean([r.ci_low for r in results])),
        "ci_high": float(np.mean([r.ci_high for r in results])),
        "repeats": int(dims.size),
    }


Thunk = Callable[[], IDResult]


def _run(jobs: list[tuple[dict[str, Any], list[Thunk]]], progress: bool, desc: str
         ) -> list[dict[str, Any]]:
    """Run every estimate (with a progress bar on stderr when asked) and summarise each
    job's estimates into one row."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(t) for _, t in jobs), desc=desc, unit="estimate",
                   leave=False)
    rows = []
    try:
        for info, thunks in jobs:
            results = []
            for thunk in thunks:
                results.append(thunk())
                if bar is not None:
                    bar.update(1)
            rows.append(dict(_summary(results), **info))
    finally:
        if bar is not None:
            bar.close()
    return rows


def _on_rows(fn: Callable[..., IDResult], X: Any, index: np.ndarray, params: dict[str, Any]
             ) -> Thunk:
    return lambda: fn(take_rows(X, np.sort(index)), **params)


def _decimation(X, fn, params, n_repeats, min_points, seed, progress):
    n = int(X.shape[0])
    rng = np.random.default_rng(seed)
    levels = []
    size = n
    while size >= min_points:
        levels.append(size)
        size //= 2
    if not levels:
        raise InputError(f"scale_analysis: decimation needs at least min_points="
                         f"{min_points} points, got {n}")
    jobs = []
    for size in levels:
        reps = 1 if size == n else n_repeats
        subsets = [rng.choice(n, size, replace=False) for _ in range(reps)]
        jobs.append(({"fraction": size / n}, [_on_rows(fn, X, s, params) for s in subsets]))
    return _run(jobs, progress, "decimation")


def _blocks(X, fn, params, max_blocks, min_points, seed, progress):
    n = int(X.shape[0])
    perm = np.random.default_rng(seed).permutation(n)
    counts = [b for b in range(1, max_blocks + 1) if n // b >= min_points]
    if not counts:
        raise InputError(f"scale_analysis: blocks need at least min_points={min_points} "
                         f"points, got {n}")
    jobs = [({"blocks": b}, [_on_rows(fn, X, part, params)
                             for part in np.array_split(perm, b)]) for b in counts]
    return _run(jobs, progress, "blocks")


def _mle_k(X, k1, k2, normalization, aggregate, duplicates, device, progress):
    nd = neighbor_distances(X, k2, caller="scale_analysis", duplicates=duplicates,
                            tie_columns=(0, 0), min_points=max(3, k2 + 1),
                            graph_k=graph_neighbors("mle", k2), device=device, progress=progress)
    # each row is the estimator at that k with its default (graph) interval
    jobs = [({"k": k}, [lambda k=k: _mle_result(
        nd.distances, k, k, normalization=normalization, aggregate=aggregate,
        n_removed=nd.n_removed, duplicates=duplicates, indices=nd.indices)])
        for k in range(k1, k2 + 1)]
    return _run(jobs, progress, "mle-k")


def _gride_doubling(X, range_max, duplicates, device, progress):
    pairs = []
    n1 = 1
    while 2 * n1 <= range_max:
        pairs.append((n1, 2 * n1))
        n1 *= 2
    nd = neighbor_distances(X, pairs[-1][1], caller="scale_analysis", duplicates=duplicates,
                            tie_columns=(0, 0), min_points=pairs[-1][1] + 1,
                            graph_k=graph_neighbors("gride", pairs[-1][1]), device=device,
                            progress=progress)
    jobs = [({"n1": a, "n2": b}, [lambda a=a, b=b: gride_from_distances(
        nd.distances, a, b, n_removed=nd.n_removed, duplicates=duplicates,
        indices=nd.indices)])
        for a, b in pairs]
    return _run(jobs, progress, "gride")
