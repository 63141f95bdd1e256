"""The static HTML report: escaping, round trips, and the sweep page on a results table
whose effects are known by construction."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from idscope.cli.main import main
from idscope.report.html import Finding, Report, load_report, render_html, write_report

EVIL = "<script>alert('x')</script>"


def _report(text: str) -> Report:
    f = Finding("k1", f"title {text}", f"claim {text}", f"reading {text}", value=1.5,
                value_label=f"label {text}", interval=(1.0, 2.0), shown=False,
                figures=(f"figures/{text}.png",), tables=(), criterion=f"crit {text}",
                details=({"label": f"detail {text}", "value": 0.5, "ci_low": 0.1,
                          "ci_high": 0.9, "criterion": text, "shown": True},))
    return Report(f"page {text}", f"intro {text}", (f,), settings={"name": text},
                  versions={"lib": text}, runtime_seconds=1.25, command=f"idscope {text}",
                  notes=(f"note {text}",))


def test_text_from_data_and_config_is_escaped(tmp_path: Path):
    page = render_html(_report(EVIL), tmp_path)
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    # nothing the report says can open an attribute either
    assert "alert('x')" not in page


def test_csv_cells_are_escaped(tmp_path: Path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "t.csv").write_text(f"class,value\n\"{EVIL}\",1.0\n",
                                               encoding="utf-8")
    rep = Report("t", "i", (Finding("k", "t", "c", "r", tables=("tables/t.csv",)),))
    page = render_html(rep, tmp_path)
    assert "<script" not in page and "&lt;script&gt;" in page


def test_report_round_trip(tmp_path: Path):
    rep = _report("plain")
    write_report(rep, tmp_path)
    assert load_report(tmp_path) == rep
    again = Report.from_dict(json.loads(json.dumps(rep.to_dict())))
    assert again == rep
    # records written by an older page builder (no criterion/details) still load
    d = rep.findings[0].to_dict()
    del d["criterion"], d["details"]
    assert Finding.from_dict(d).details == ()


def test_verdicts_are_stated(tmp_path: Path):
    rep = Report("t", "i", (Finding("a", "A", "c", "r", value=1.0, shown=True),
                            Finding("b", "B", "c", "r", value=2.0, shown=False),
                            Finding("c", "C", "c", "r", shown=None)))
    page = render_html(rep, tmp_path)
    assert page.count("effect NOT shown on this data") == 2  # summary table + section
    assert page.count("effect shown") == 2
    assert page.count("not testable here") == 2


# ---------------------------------------------------------------------------------------------
# A sweep page on a table that obeys the scaling law exactly (up to small noise)


def _synthetic_results(rng: np.random.Generator) -> list[dict]:
    """log L = log K_F − (log N)/d_data + noise; penalty ∝ K_F; d_repr = 0.6 d_data."""
    rows = []
    eps = f"{2 / 255:.6g}"
    for t in range(12):
        d = float(rng.uniform(2, 12))
        kf = float(np.exp(rng.uniform(np.log(0.3), np.log(3.0))))
        dataset = EVIL if t == 0 else f"set{t}"
        for model, slope in (("m1", 0.01), ("m2", 0.02), ("m3", 0.03)):
            for n in (50, 100, 200, 400):
                loss = kf * n ** (-1 / d) * math.exp(rng.normal(0, 0.05))
                err = min(0.9, slope * 0.6 * d * math.exp(rng.normal(0, 0.05)))
                pen = 0.02 * kf * math.exp(rng.normal(0, 0.1))
                rows.append({
                    "key": f"{t}-{model}-{n}", "dataset": dataset, "task": "0-1",
                    "source": "sklearn:x", "model": model, "n_train": n, "seed": 0,
                    "test_loss": loss, "test_acc": 1 - err, "d_data_mle_pope": d,
                    "d_data_twonn": d * 1.05, "label_sharpness": kf, "d_repr": 0.6 * d,
                    f"fgsm_eps{eps}_loss_penalty": pen, f"fgsm_eps{eps}_acc_drop": pen / 2,
                    f"fgsm_eps{eps}_adv_loss": loss + pen, f"fgsm_eps{eps}_adv_acc": 0.5,
                    "seconds": 1.0})
    return rows


@pytest.fixture(scope="module")
def sweep_page(tmp_path_factory) -> Path:
    import pandas as pd

    root = tmp_path_factory.mktemp("sweep")
    pd.DataFrame(_synthetic_results(np.random.default_rng(0))).to_csv(root / "results.csv",
                                                                     index=False)
    assert main(["report", str(root), "--bootstrap", "300"]) == 0
    return root


def test_sweep_page_recovers_the_law(sweep_page: Path):
    rep = load_report(sweep_page)
    f = {x.key: x for x in rep.findings}
    law = f["scaling_law"]
    assert law.shown is True
    # c = −1 and β = +1 by construction; with 144 runs and 5 % noise their standard errors
    # are ≈ 0.012 and ≈ 0.006, so 0.05 is a > 4σ tolerance
    np.testing.assert_allclose(law.value, -1.0, atol=0.05)
    assert law.interval[1] < 0
    beta = next(d for d in law.details if d["label"].startswith("β"))
    np.testing.assert_allclose(beta["value"], 1.0, atol=0.05)
    assert beta["ci_low"] > 0
    assert f["robustness"].shown is True and f["robustness"].value > 0.8
    assert f["repr_vs_data"].value == 1.0 and f["repr_vs_data"].shown is True
    assert f["hidden_id_vs_error"].shown is True


def test_sweep_page_escapes_dataset_names_and_references_exist(sweep_page: Path):
    page = (sweep_page / "index.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;" in page  # the dataset name is shown, escaped
    for ref in re.findall(r"""(?:src|href)='([^'#][^']*)'""", page):
        assert (sweep_page / ref).is_file(), ref


def test_sweep_page_rebuild_is_identical(sweep_page: Path):
    page = (sweep_page / "index.html").read_bytes()
    assert main(["report", str(sweep_page), "--bootstrap", "300"]) == 0
    assert (sweep_page / "index.html").read_bytes() == page


def test_written_files_are_readable_by_others(tmp_path: Path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        page = write_report(_report("plain"), tmp_path)
    finally:
        os.umask(old)
    for path in (page, tmp_path / "report.json"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o644, oct(mode)
