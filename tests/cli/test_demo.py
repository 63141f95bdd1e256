"""``idscope demo --data real|mnist|fashion-mnist`` and ``idscope study``: which settings and
studies the commands hand to the runner (the runner replaced by a recorder: no training)."""

from __future__ import annotations

from idscope.studies.base import Finding
from idscope.studies.settings import DEMO_DATA, KONZ_REAL, REAL_SOURCES


def test_demo_data_real_routes_both_studies(tmp_path, monkeypatch, capsys):
    import idscope.report.pages as pages
    from idscope.cli.main import main

    seen = {}

    from idscope.studies.demo import DEMO

    def fake_run_studies(out_dir, settings, studies=DEMO, **kw):
        seen.update(settings=settings, studies=[st.key for st in studies], resume=kw["resume"])
        return type("R", (), {"findings": (Finding("k", "t", "c", "r", value=1.0,
                                                   shown=True),)})()

    monkeypatch.setattr(pages, "run_studies", fake_run_studies)
    assert main(["demo", "--data", "real", "--out", str(tmp_path), "--resume",
                 "--no-progress"]) == 0
    s = seen["settings"]
    assert s.data == "mnist" and s.konz_sources == REAL_SOURCES and seen["resume"] is True
    assert seen["studies"] == ["ansuini", "konz"]
    assert main(["study", "konz", "--data", "fashion-mnist", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    assert seen["studies"] == ["konz"] and seen["settings"].data == "fashion-mnist"
    assert seen["settings"].pairs_per_class == KONZ_REAL["full"]["pairs_per_class"]
    assert main(["demo", "--out", str(tmp_path), "--no-progress"]) == 0
    assert seen["settings"].data == DEMO_DATA  # the default stays the bundled digits
    capsys.readouterr()
