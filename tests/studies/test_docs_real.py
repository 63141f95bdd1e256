"""``docs/regenerate.py --real``: the "paper vs idscope on real data" table, written from a
real demo's recorded output (constructed here, no training)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from idscope.studies.base import Finding, detail
from idscope.studies.konz import KONZ_PAPER
from idscope.studies.paper import beside

ROOT = Path(__file__).resolve().parents[2]


def regenerate():
    spec = importlib.util.spec_from_file_location("regenerate", ROOT / "docs" / "regenerate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_run(out: Path) -> None:
    out.mkdir()
    shown = Finding("robustness", "Robustness vs K_F", "claim", "r is high.", value=0.81,
                    value_label="r", interval=(0.6, 0.9), shown=True,
                    criterion="interval above 0",
                    details=(detail("r", 0.81, 0.6, 0.9),
                             beside(KONZ_PAPER["robustness_r"], 0.81, 0.6, 0.9,
                                    data="20 binary tasks of fashion-mnist, mnist")))
    not_shown = Finding("domains", "Two data domains", "claim", "It does not appear.",
                        value=0.001, interval=(-0.01, 0.012), shown=False,
                        criterion="the K_F difference has a 95% interval above 0",
                        details=(beside(KONZ_PAPER["k_f_domains"], 0.02, -0.01, 0.05,
                                        data="fashion-mnist − mnist"),))
    report = {"findings": [shown.to_dict(), not_shown.to_dict()]}
    meta = {"settings": {"seed": 0, "quick": False}, "runtime_seconds": 1234.5,
            "command": "idscope demo --data real --out x --resume", "resumed": False,
            "load_average_start": 3.25, "load_average_end": 4.5,
            "timings": {"pairs": 60.0, "sweep": 500.0}}
    (out / "report.json").write_text(json.dumps(report), encoding="utf-8")
    (out / "demo.json").write_text(json.dumps(meta), encoding="utf-8")


def test_real_table_from_a_recorded_run(tmp_path):
    rg = regenerate()
    out = tmp_path / "run"
    write_run(out)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{rg.REAL_START}\nold\n{rg.REAL_END}\n\ntail\n", encoding="utf-8")
    docs = tmp_path / "docs"
    assert rg.main(["--real", "--reuse", str(out), "--docs-dir", str(docs),
                    "--readme", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert "old" not in text and text.endswith("\n\ntail\n")
    block = text.split(rg.REAL_START)[1].split(rg.REAL_END)[0]
    assert "**1234 s** (20.6 min)" in block and "load average 3.25 at the start" in block
    rows = [line for line in block.splitlines() if line.startswith("| ")]
    # the header, one row per paper number, then the pretrained networks' rows
    assert rows[1].startswith("| Pearson r, FGSM loss penalty") and "| 0.70 |" in rows[1]
    assert "0.81 [0.6, 0.9]" in rows[1] and rows[1].endswith("| Robustness vs K_F: shown |")
    assert rows[2].startswith("| K_F, sharper domain minus the other")
    assert "Two data domains: does not appear here (needed: the K_F difference" in rows[2]
    assert any("EfficientNet-Lite0" in r for r in rows) and any("MiniLM" in r for r in rows)
    page = (docs / "demo-real.md").read_text(encoding="utf-8")
    assert "| 3.25 → 4.5 |" in page and "pairs 60, sweep 500" in page
    assert rows[1] in page.splitlines()  # the same table in docs
