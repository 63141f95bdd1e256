"""run_studies: experiments write tables, resume keeps them, progress lines without a
terminal (no training: a fake study)."""

import pandas as pd

from idscope.studies.base import Experiment, Finding, Study, Workspace, detail
from idscope.studies.demo import read_meta, run_studies
from idscope.studies.settings import DemoSettings

CALLS = []


def write_table(run):
    CALLS.append(run.settings.seed)
    run.step("writing a table")
    run.out.save_table("t", pd.DataFrame({"x": [1.0, 2.0]}))
    run.done(2)


def judge(out, s):
    t = out.table("t")
    return Finding("k", "title", "claim", "reading", value=float(t["x"].mean()),
                   shown=bool(t["x"].mean() > 1), details=(detail("mean", t["x"].mean()),))


FAKE = Study("fake", "A fake study", "nobody", (Experiment("e", write_table, ("t",),
                                                           lambda s: 2),), (judge,))


def test_run_resume_and_lines(tmp_path, capsys):
    CALLS.clear()
    s = DemoSettings(seed=3)
    got = run_studies(tmp_path, s, [FAKE], progress=None,
                      finish=lambda root: FAKE.judge(Workspace(root), s))
    assert got[0].value == 1.5 and got[0].shown is True
    err = capsys.readouterr().err
    assert "[1/3] demo: writing a table" in err and "[3/3] demo: writing the report" in err
    meta = read_meta(tmp_path)
    assert meta["studies"] == ["fake"] and meta["status"] == "done"
    run_studies(tmp_path, s, [FAKE], progress=False, resume=True)
    assert CALLS == [3]  # resumed: the table exists with the same settings
    run_studies(tmp_path, DemoSettings(seed=4), [FAKE], progress=False, resume=True)
    assert CALLS == [3, 4]  # other settings: run again
