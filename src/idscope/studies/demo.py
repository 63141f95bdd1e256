"""The demo: the studies of both papers on data that ships with the install.

:data:`DEMO` lists the studies (:data:`~idscope.studies.ansuini.ANSUINI`,
:data:`~idscope.studies.konz.KONZ`); the default inputs are scikit-learn's 1 797 handwritten
digits (8x8, intensities 0..16 scaled to [0, 1]) and the built-in CNN, plus synthetic images
of known intrinsic dimension and label sharpness
(:func:`idscope.data.synthetic.manifold_images`). The same studies run on any labelled
source and model (:class:`~idscope.studies.settings.DemoSettings` ``data`` and ``model``).

:func:`run_studies` runs the experiments of the chosen studies (each writes CSV tables under
``DIR/tables/``; with ``resume`` the tables of experiments already done with the same settings
are kept) and records the settings, versions and runtime in ``DIR/demo.json``; the page is
rendered by :mod:`idscope.report.pages`, which ``idscope report DIR`` calls again. Everything
is seeded from one ``seed``; networks are trained single-threaded (``threads=1``) so that the
numbers do not depend on the machine's core count.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._atomic import write_json
from .._errors import InputError
from .._lock import locks_folder
from .._runtime import show_bars, step_progress
from .ansuini import ANSUINI
from .base import Run, Study, Workspace
from .konz import KONZ
from .settings import DemoSettings

__all__ = ["DEMO", "STUDIES", "DEMO_FILE", "FORMAT", "run_studies", "read_meta",
           "studies_of"]

DEMO_FILE = "demo.json"
FORMAT = "idscope-demo"

DEMO: tuple[Study, ...] = (ANSUINI, KONZ)
STUDIES: dict[str, Study] = {s.key: s for s in DEMO}


def studies_of(keys: Sequence[str] | None) -> tuple[Study, ...]:
    """The studies named by ``keys`` (all of :data:`DEMO` when None), in the demo's order."""
    if keys is None:
        return DEMO
    unknown = [k for k in keys if k not in STUDIES]
    if unknown:
        raise InputError(f"study: unknown study {unknown[0]!r}; known: {sorted(STUDIES)}")
    return tuple(s for s in DEMO if s.key in keys)


def read_meta(root: Path) -> dict[str, Any]:
    """The run record ``root/demo.json``."""
    path = Path(root) / DEMO_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"report: cannot read {path}: {exc}") from None
    if meta.get("format") != FORMAT:
        raise InputError(f"report: {path} is not an idscope demo record")
    return meta


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):  # not on every platform
        return None


@locks_folder("out_dir", what="demo")  # a second run into the folder fails with one line
def run_studies(out_dir: str | Path, settings: DemoSettings,
                studies: Sequence[Study] = DEMO, *, progress: bool | None = None,
                resume: bool = False, command: str = "", versions: dict[str, str] | None = None,
                finish: Callable[[Path], Any] | None = None) -> Any:
    """Run the experiments of ``studies`` into ``out_dir`` and record the run.

    Parameters
    ----------
    out_dir : path
        Output folder (created): ``demo.json``, ``tables/*.csv``, ``sweep/``.
    settings : DemoSettings
    studies : sequence of Study
    progress : bool, optional
        Bars on stderr; None: bars on a terminal, one line per step otherwise.
    resume : bool
        Keep the tables of experiments already done with the same settings (the sweep always
        skips runs already in ``out_dir/sweep``).
    command : str
        The command line, recorded on the page.
    versions : dict, optional
        Package versions to record.
    finish : callable, optional
        ``finish(root)`` runs as the last progress step (the report writes its page there);
        its return value is returned.
    """
    s = settings
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    out = Workspace(root)
    previous = None
    if resume and (root / DEMO_FILE).is_file():
        previous = read_meta(root).get("settings")
    same = previous is not None and previous == s.to_dict()
    meta = {"format": FORMAT, "version": 1, "settings": s.to_dict(),
            "studies": [st.key for st in studies], "versions": versions or {},
            "command": command, "out_arg": str(out_dir), "runtime_seconds": None,
            "status": "running", "cpu_count": os.cpu_count(),
            # other work on the machine slows a run: its 1-minute load average, recorded
            "load_average_start": _load_average()}
    write_json(root / DEMO_FILE, meta)
    run = Run(out, s, show_bars(progress))
    t0 = time.perf_counter()
    result = None
    total = sum(st.steps(s) for st in studies) + 1
    with step_progress(total, "demo", progress) as bar:
        run.bar = bar
        timings: dict[str, float] = {}
        for study in studies:
            for exp in study.experiments:
                if same and all(out.has_table(t) for t in exp.tables):
                    bar.update(exp.steps(s))
                    continue
                t1 = time.perf_counter()
                exp.run(run)
                timings[exp.name] = round(time.perf_counter() - t1, 1)
        run.step("writing the report")
        meta.update(runtime_seconds=time.perf_counter() - t0, status="done", timings=timings,
                    resumed=bool(same), load_average_end=_load_average())
        write_json(root / DEMO_FILE, meta)
        if finish is not None:
            result = finish(root)
        bar.update(1)
    return result
