"""``idscope demo --quick`` end to end, and ``idscope report`` rebuilding its page."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from idscope.cli.main import main

pytestmark = pytest.mark.slow

N_FINDINGS = 9


@pytest.fixture(scope="module")
def demo_dir(quick_demo_dir) -> Path:
    return quick_demo_dir  # one quick demo per session (conftest.py), shared with test_pages


def _references(page: str) -> list[str]:
    refs = re.findall(r"""(?:src|href)='([^'#][^']*)'""", page)
    return [r for r in refs if not r.startswith("#")]


def test_page_references_exist(demo_dir: Path):
    page = (demo_dir / "index.html").read_text(encoding="utf-8")
    refs = _references(page)
    figures = [r for r in refs if r.startswith("figures/")]
    tables = [r for r in refs if r.startswith("tables/")]
    assert len(figures) >= N_FINDINGS  # at least one plot per finding
    assert {"tables/profile_digits.csv", "tables/profile_gradient.csv",
            "tables/architectures.csv", "tables/pairs.csv",
            "tables/sweep_results.csv"} <= set(tables)
    for ref in refs:
        assert not ref.startswith(("http:", "https:", "//")), ref  # offline page
        path = demo_dir / ref
        assert path.is_file() and path.stat().st_size > 0, ref
    for fig in figures:
        assert (demo_dir / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_finding_has_a_finite_number_and_verdict(demo_dir: Path):
    report = json.loads((demo_dir / "report.json").read_text(encoding="utf-8"))
    findings = report["findings"]
    assert len(findings) == N_FINDINGS
    page = (demo_dir / "index.html").read_text(encoding="utf-8")
    for f in findings:
        assert f["value"] is not None and math.isfinite(f["value"]), f["key"]
        assert f["shown"] in (True, False), f["key"]  # every finding is testable here
        assert f["figures"], f["key"]
        if f["interval"] is not None:
            lo, hi = f["interval"]
            assert math.isfinite(lo) and math.isfinite(hi) and lo <= hi, f["key"]
        # the page states the number and, when not shown, says so
        assert f"id='{f['key']}'" in page
    assert page.count("effect NOT shown on this data") >= sum(
        not f["shown"] for f in findings)
    # settings, seeds, versions and runtime are on the page
    assert report["settings"]["demo"]["seed"] == 0
    assert report["versions"]["torch"]
    assert report["runtime_seconds"] > 0
    assert "Runtime:" in page and "Command: <code>idscope demo" in page


def test_raw_tables_hold_the_numbers(demo_dir: Path):
    import pandas as pd

    prof = pd.read_csv(demo_dir / "tables" / "profile_digits.csv")
    assert set(prof["model"]) == {"trained", "untrained", "shuffled"}
    assert (prof["twonn_ci_low"] <= prof["twonn_full"]).all()
    assert (prof["twonn_full"] <= prof["twonn_ci_high"]).all()
    # the input layer is the same data for every model: the same ID
    inputs = prof[prof["layer"] == "input"]["twonn_full"].to_numpy()
    assert inputs.max() == inputs.min()
    pairs = pd.read_csv(demo_dir / "tables" / "pairs.csv")
    assert len(pairs) == 45  # all digit class pairs, even in the quick demo
    # K_F of a pair is one over its closest differently labelled pair of images
    assert ((pairs["label_sharpness"] * pairs["witness_distance"] - 1).abs() < 1e-9).all()
    sweep = pd.read_csv(demo_dir / "tables" / "sweep_results.csv")
    assert {"test_loss", "d_data_mle_pope", "label_sharpness", "d_repr"} <= set(sweep.columns)


def test_report_rebuilds_the_same_page(demo_dir: Path):
    page = (demo_dir / "index.html").read_bytes()
    record = (demo_dir / "report.json").read_bytes()
    assert main(["report", str(demo_dir)]) == 0
    assert (demo_dir / "index.html").read_bytes() == page
    assert (demo_dir / "report.json").read_bytes() == record


def test_report_on_the_sweep_folder(demo_dir: Path):
    sweep = demo_dir / "sweep"
    assert main(["report", str(sweep), "--bootstrap", "200"]) == 0
    page = (sweep / "index.html").read_text(encoding="utf-8")
    for ref in _references(page):
        assert (sweep / ref).is_file(), ref
    keys = [f["key"] for f in json.loads((sweep / "report.json").read_text())["findings"]]
    assert {"scaling_law", "robustness", "repr_vs_data"} <= set(keys)


def test_report_rejects_a_folder_without_results(tmp_path: Path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "neither a demo" in capsys.readouterr().err


def test_resume_reuses_finished_experiments(demo_dir: Path):
    before = {p.name: p.read_bytes() for p in (demo_dir / "tables").glob("*.csv")}
    findings = json.loads((demo_dir / "report.json").read_text())["findings"]
    assert main(["demo", "--quick", "--out", str(demo_dir), "--resume", "--no-progress"]) == 0
    after = {p.name: p.read_bytes() for p in (demo_dir / "tables").glob("*.csv")}
    assert after == before  # nothing recomputed, the same numbers
    again = json.loads((demo_dir / "report.json").read_text())["findings"]
    assert [f["value"] for f in again] == [f["value"] for f in findings]
    meta = json.loads((demo_dir / "demo.json").read_text())
    assert meta["resumed"] is True and meta["timings"] == {}
