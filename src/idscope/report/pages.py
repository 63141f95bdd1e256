"""Pages: the demo's and a study's page from the tables its studies wrote, and a sweep
folder's page from its results table. The report only renders: the studies
(:mod:`idscope.studies`) measure and judge, and ask for figures that :func:`draw_figures`
draws here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._errors import InputError
from ..analysis import hidden_id_points
from ..studies.ansuini import judge_hidden_id_vs_error
from ..studies.base import Finding, Workspace, not_testable
from ..studies.demo import DEMO_FILE, read_meta, run_studies, studies_of
from ..studies.konz import (
    judge_repr_vs_data,
    judge_robustness,
    judge_scaling_law,
    sweep_config,
)
from ..studies.settings import DEMO_DATA, DemoSettings
from ..sweeps.results import load_results
from . import figures, sweep_plots
from .html import Report, versions, write_report

__all__ = ["PLOTS", "draw_figures", "build_report", "run_demo", "run_study",
           "build_sweep_report", "rebuild"]

# every plot a study may ask for (:class:`idscope.studies.base.Figure`), by name
PLOTS = {
    "plot_profiles": figures.plot_profiles,
    "plot_id_vs_embedding": figures.plot_id_vs_embedding,
    "plot_last_hidden": figures.plot_last_hidden,
    "plot_id_vs_error": figures.plot_id_vs_error,
    "plot_pairs": figures.plot_pairs,
    "plot_learning_curves": figures.plot_learning_curves,
    "plot_correlation_vs_eps": figures.plot_correlation_vs_eps,
    "plot_joint_fit": sweep_plots.plot_joint_fit,
    "plot_robustness": sweep_plots.plot_robustness,
    "plot_repr_vs_data": sweep_plots.plot_repr_vs_data,
}


def draw_figures(out: Workspace) -> None:
    """Draw and save every figure the judged findings asked for (then forget the requests)."""
    for fig in out.figures:
        sweep_plots.save_figure(PLOTS[fig.plot](*fig.args, **fig.kwargs), out.root / fig.path,
                                dpi=100)
    out.figures.clear()


_INTRO = (
    "idscope reproduces the findings of Ansuini et al. (NeurIPS 2019, intrinsic dimension of "
    "representations across depth) and Konz & Mazurowski (ICLR 2024, d_data, label sharpness "
    "K_F, scaling and robustness) on scikit-learn's 1 797 handwritten digits (8x8, "
    "intensities scaled to [0, 1]) and on synthetic 8x8 images of known intrinsic dimension. "
    "Each finding states the paper's claim, the number measured here with its 95% interval, "
    "and a verdict decided from that interval by the stated criterion; where this small "
    "data does not show an effect, the page says so. IDs are TwoNN (linear fit on 90% of "
    "the ratios) with 95% bootstrap intervals over points unless stated otherwise."
)



def build_report(out_dir: str | Path) -> Report:
    """The page of a demo or study folder from its tables (figures are redrawn)."""
    root = Path(out_dir)
    meta = read_meta(root)
    s = DemoSettings.from_dict(meta["settings"])
    studies = studies_of(meta.get("studies"))
    out = Workspace(root)
    findings: tuple[Finding, ...] = tuple(f for st in studies for f in st.judge(out, s))
    draw_figures(out)
    mode = "quick" if s.quick else "full"
    notes = [f"This is the {mode} demo (seed {s.seed}). Raw results: tables/*.csv and the "
             f"sweep's run files in sweep/; rebuild this page with `idscope report "
             f"{meta.get('out_arg', 'DIR')}`."]
    if meta.get("timings"):
        notes.append("Wall time per experiment (s): " + ", ".join(
            f"{k} {v:g}" for k, v in meta["timings"].items())
            + (" (experiments done earlier were reused)" if meta.get("resumed") else "") + ".")
    title = f"idscope demo: intrinsic dimension and label sharpness ({mode})"
    intro = _INTRO
    if s.data != DEMO_DATA or s.model != DemoSettings.model or len(studies) < 2:
        data = s.data
        konz = [st for st in studies if st.key == "konz"]
        if konz and s.konz_sources and tuple(s.konz_sources) != (s.data,):
            # --data real: Konz & Mazurowski's study runs on several sources
            data = f"{s.data} ({konz[0].reference}: {' and '.join(s.konz_sources)})"
        title = ("idscope study: " + "; ".join(st.title for st in studies)
                 + f" ({data}, {s.model}, {mode})")
        intro = (f"The findings of {' and '.join(st.reference for st in studies)} measured on "
                 f"{data} with the model {s.model}. Each finding states the paper's claim, "
                 f"the number measured here with its 95% interval, and a verdict decided from "
                 f"that interval by the stated criterion.")
    extra = tuple(f"tables/{t}.csv" for t in ("training_digits", "training_gradient")
                  if (root / "tables" / f"{t}.csv").is_file())
    return Report(title, intro, findings,
                  settings={"demo": s.to_dict(), "sweep_config": sweep_config(s)},
                  versions=meta.get("versions", {}),
                  runtime_seconds=meta.get("runtime_seconds"), command=meta.get("command", ""),
                  notes=tuple(notes), extra_tables=extra)


def _write_page(root: Path) -> Report:
    report = build_report(root)
    write_report(report, root)
    return report


def run_demo(out_dir: str | Path = "idscope-demo", *, quick: bool = False, seed: int = 0,
             workers: int | None = None, progress: bool | None = None, resume: bool = False,
             command: str = "", data: str | None = None, model: str | None = None) -> Report:
    """Run the demo's studies, save the raw tables and write ``out_dir/index.html``.

    Parameters
    ----------
    out_dir : path
        Output folder (created): ``index.html``, ``report.json``, ``demo.json``,
        ``tables/*.csv``, ``figures/*.png``, ``sweep/``.
    quick : bool
        The quick demo (about a minute on two cores) instead of the full one (about ten).
    seed : int
        Seeds the data splits, the offsets, the label shuffling, every model's initialisation
        and batch order, the resamples and the bootstrap intervals.
    workers : int, optional
        Processes for the sweep (default 2 for the full demo, 1 for the quick one).
    progress : bool, optional
        Bars on stderr; None: bars on a terminal, one line per step otherwise.
    resume : bool
        Keep the tables of experiments already done with the same settings.
    command : str
        The command line, recorded on the page.
    data, model : str, optional
        Any labelled :func:`idscope.data.load` source and any ``build_model`` name or
        ``module:callable`` instead of the bundled digits and the built-in CNN.
    """
    s = DemoSettings.preset(quick=quick, seed=seed, workers=workers, data=data, model=model)
    return run_studies(out_dir, s, progress=progress, resume=resume, command=command,
                       versions=versions(), finish=_write_page)


def run_study(key: str, out_dir: str | Path, *, data: str | None = None,
              model: str | None = None, quick: bool = False, seed: int = 0,
              workers: int | None = None, progress: bool | None = None, resume: bool = False,
              command: str = "") -> Report:
    """Run one study (``"ansuini"`` or ``"konz"``) on ``model`` and ``data`` and write its
    page in ``out_dir`` (the same settings as :func:`run_demo`)."""
    studies = studies_of([key])
    s = DemoSettings.preset(quick=quick, seed=seed, workers=workers, data=data, model=model)
    return run_studies(out_dir, s, studies, progress=progress, resume=resume,
                       command=command, versions=versions(), finish=_write_page)


# ---------------------------------------------------------------------------------------------
# Pages for sweeps written by ``idscope sweep``


def build_sweep_report(sweep_dir: str | Path, *, n_bootstrap: int = 1000, seed: int = 0
                       ) -> Report:
    """A page for a sweep folder: the analyses its results table allows (scaling law,
    robustness vs K_F, d_repr vs d_data, last-hidden ID vs test error), with tables under
    ``tables/`` and figures under ``figures/`` of that folder."""
    root = Path(sweep_dir)
    df = load_results(root)
    if df.empty:
        raise InputError(f"report: {root} holds no finished runs")
    df = df.drop(columns=[c for c in ("history",) if c in df.columns])
    out = Workspace(root)
    table = out.save_table("results", df)
    findings: list[Finding] = []
    if {"d_repr", "test_acc"} <= set(df.columns) or {"d_repr", "test_error"} <= set(df.columns):
        pts = hidden_id_points(df)
        n_models = pts["model"].nunique() if "model" in pts.columns else 0
        if n_models >= 3:
            findings.append(judge_hidden_id_vs_error(
                out, pts.assign(label=pts["model"].astype(str)), seed=seed,
                n_bootstrap=n_bootstrap, label="label", where="models (means per task)",
                table=table))
        else:
            findings.append(not_testable(
                "hidden_id_vs_error", "Last-hidden-layer ID vs test error",
                "Across networks, a lower ID in the last hidden layer goes with a lower test "
                "error (Ansuini et al. 2019).",
                f"the sweep trains {n_models} model(s); a correlation across architectures "
                f"needs at least 3"))
    findings.append(judge_scaling_law(out, df, seed=seed, n_bootstrap=n_bootstrap,
                                     table=table))
    findings.append(judge_robustness(out, df, seed=seed, n_bootstrap=n_bootstrap,
                                        table=table))
    findings.append(judge_repr_vs_data(out, df, table=table))
    draw_figures(out)
    config: dict[str, Any] = {}
    manifest = root / "sweep.json"
    if manifest.is_file():
        try:
            config = json.loads(manifest.read_text(encoding="utf-8")).get("config", {})
        except ValueError:
            config = {}
    seconds = float(df["seconds"].sum()) if "seconds" in df.columns else None
    intro = (f"Analyses of the sweep in {root.name}: {len(df)} finished run(s). Each finding "
             f"states the number measured with its 95% interval and a verdict decided from "
             f"that interval; runtime below is the sum of the runs' training and measuring "
             f"times.")
    return Report(f"idscope sweep report: {config.get('name', root.name)}", intro,
                  tuple(findings), settings={"sweep_config": config,
                                             "analysis": {"n_bootstrap": n_bootstrap,
                                                          "seed": seed}},
                  versions=versions(), runtime_seconds=seconds,
                  command=f"idscope report {root}")


def rebuild(out_dir: str | Path, *, n_bootstrap: int = 1000, seed: int = 0) -> Path:
    """Rebuild ``out_dir/index.html`` from saved results: a demo folder (``demo.json``) or a
    sweep folder (``runs/``, ``results.parquet`` or ``results.csv``). Returns the page."""
    root = Path(out_dir)
    if not root.is_dir():
        raise InputError(f"report: no such folder: {root}")
    if (root / DEMO_FILE).is_file():
        report = build_report(root)
    elif (root / "runs").is_dir() or any((root / n).is_file()
                                          for n in ("results.parquet", "results.csv")):
        report = build_sweep_report(root, n_bootstrap=n_bootstrap, seed=seed)
    else:
        raise InputError(f"report: {root} holds neither a demo ({DEMO_FILE}) nor a sweep's "
                         f"results (runs/, results.parquet, results.csv)")
    return write_report(report, root)
