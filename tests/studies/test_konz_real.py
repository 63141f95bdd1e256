"""The Konz study on several sources (``--data real``: MNIST and Fashion-MNIST): the real-data
presets, the pairs table of each source on data the test writes, the cross-domain verdict on
constructed tables, and resume on a tiny case (the CLI's routing: tests/cli/test_demo.py)."""

from __future__ import annotations

import json
from dataclasses import fields, replace

import numpy as np
import pandas as pd
import pytest

from idscope.studies.base import Run, Workspace
from idscope.studies.konz import (
    KONZ,
    judge_domains,
    konz_sources,
    pair_sample,
    run_pairs,
    sweep_config,
)
from idscope.studies.settings import (
    ANSUINI_REAL,
    DEMO_DATA,
    KONZ_REAL,
    REAL_SOURCES,
    DemoSettings,
    is_real,
)


def test_real_presets_route_the_sources():
    s = DemoSettings.preset(data="real")
    assert s.data == "mnist" and konz_sources(s) == REAL_SOURCES
    for key, value in {**ANSUINI_REAL["full"], **KONZ_REAL["full"]}.items():
        assert getattr(s, key) == value, key
    q = DemoSettings.preset(data="fashion-mnist:/data/fm", quick=True)
    assert q.data == "fashion-mnist:/data/fm" and konz_sources(q) == ("fashion-mnist:/data/fm",)
    assert q.pairs_per_class == KONZ_REAL["quick"]["pairs_per_class"] and q.quick
    # the bundled digits and any other source keep the plain presets
    for data in (None, DEMO_DATA, "my_mnist_copy.npz"):
        assert not is_real(data)
        plain = DemoSettings.preset(data=data)
        assert plain.pairs_per_class is None and plain.konz_sources == ()
    # the two studies' overrides never set the same field, and only existing ones
    names = {f.name for f in fields(DemoSettings)}
    for which in ("full", "quick"):
        assert not set(ANSUINI_REAL[which]) & set(KONZ_REAL[which])
        assert set(ANSUINI_REAL[which]) | set(KONZ_REAL[which]) <= names
    assert DemoSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def write_source(path, seed, n_per_class=30, classes=3, spread=1.0):
    """Labelled 6x6 images as .npz: class c is a noisy blob around its own mean image."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(0, 200, (classes, 6, 6))
    X = np.concatenate([means[c] + spread * rng.normal(0, 20, (n_per_class, 6, 6))
                        for c in range(classes)])
    X = np.clip(X, 0, 255)
    y = np.repeat(np.arange(classes), n_per_class)
    np.savez(path, X=X, y=y)
    return str(path)


def test_pairs_table_of_two_sources_matches_brute_force(tmp_path):
    a = write_source(tmp_path / "a.npz", 0)
    b = write_source(tmp_path / "b.npz", 1, spread=0.3)
    s = replace(DemoSettings(), konz_sources=(a, b), pairs_per_class=20, n_test=15)
    run_pairs(Run(Workspace(tmp_path / "out"), s, False))
    t = pd.read_csv(tmp_path / "out" / "tables" / "pairs.csv")
    assert t.groupby("dataset").size().to_dict() == {"a": 3, "b": 3}  # every pair of each
    assert (t["n"] == 40).all()  # pairs_per_class images of each class
    for source, name in ((a, "a"), (b, "b")):
        F, y = pair_sample(source, s)
        assert np.bincount(y).tolist() == [20, 20, 20] and F.min() >= 0 and F.max() <= 1
        for _, r in t[t["dataset"] == name].iterrows():
            P, Q = F[y == r["class_0"]], F[y == r["class_1"]]
            closest = np.sqrt(((P[:, None, :] - Q[None, :, :]) ** 2).sum(-1)).min()
            assert r["witness_distance"] == pytest.approx(closest, rel=1e-9)
            assert r["label_sharpness"] == pytest.approx(1 / closest, rel=1e-9)
    cfg = sweep_config(s)
    assert [(d["name"], d["domain"]) for d in cfg["datasets"]] == [
        ("a", "a"), ("b", "b")] + [(d["name"], "synthetic") for d in cfg["datasets"][2:]]


def domain_table(kf_sharp, pen_sharp, kf_blunt=0.2, pen_blunt=0.01, n_tasks=8, seed=0):
    """A sweep results table of two domains, two sizes per task, with FGSM at 2/255."""
    rng = np.random.default_rng(seed)
    rows = []
    for dom, kf, pen in (("sharp", kf_sharp, pen_sharp), ("blunt", kf_blunt, pen_blunt)):
        for t in range(n_tasks):
            k = kf * (1 + 0.05 * rng.normal())
            p = pen * (1 + 0.05 * rng.normal())
            for n in (100, 400):
                rows.append({"domain": dom, "dataset": dom, "task": f"{t}-{t + 1}",
                             "n_train": n, "label_sharpness": k,
                             "d_data_mle_pope": 10.0 + rng.normal(),
                             "d_data_twonn": 12.0 + rng.normal(),
                             "fgsm_eps0.00784314_loss_penalty": p,
                             "fgsm_eps0.00784314_acc_drop": p / 2})
    return pd.DataFrame(rows)


def test_domains_shown_when_the_sharper_domain_loses_more(tmp_path):
    out = Workspace(tmp_path)
    f = judge_domains(out, domain_table(0.4, 0.05), table="t.csv")
    assert f.shown is True and f.key == "domains"
    assert "sharp − blunt" in f.value_label and f.interval[0] > 0
    t = pd.read_csv(tmp_path / "tables" / "domains.csv")
    row = t[t["quantity"] == "loss_penalty"].iloc[0]
    assert row["difference"] == pytest.approx(row["mean_sharp"] - row["mean_blunt"])
    assert row["mean_sharp"] == pytest.approx(0.05, rel=0.1)
    assert [fig.plot for fig in out.figures] == ["plot_pairs"]


def test_domains_not_shown_says_so(tmp_path):
    # sharper labels but no larger penalty: the effect does not appear
    f = judge_domains(Workspace(tmp_path), domain_table(0.4, 0.01), table="t.csv")
    assert f.shown is False and "does not appear" in f.reading
    # the same K_F in both domains: nothing to compare, said plainly
    f = judge_domains(Workspace(tmp_path), domain_table(0.2, 0.05), table="t.csv")
    assert f.shown is False and "does not differ resolvably" in f.reading
    # one domain: not testable
    one = domain_table(0.4, 0.05)
    f = judge_domains(Workspace(tmp_path), one[one["domain"] == "sharp"], table="t.csv")
    assert f.shown is None and "one data domain" in f.reading


def test_konz_on_two_sources_resumes_without_recomputing(tmp_path, capsys):
    from idscope.studies.demo import read_meta, run_studies

    a = write_source(tmp_path / "a.npz", 0)
    b = write_source(tmp_path / "b.npz", 1, spread=0.3)
    s = replace(DemoSettings(), konz_sources=(a, b), pairs_per_class=20, n_test=15,
                pairs=((0, 1), (1, 2)), sizes=(22, 26), sweep_test_size=4, sweep_epochs=1,
                synthetic=(), eps=(2 / 255,), methods=("fgsm",), workers=1, n_bootstrap=50)
    out = tmp_path / "out"
    run_studies(out, s, [KONZ], progress=None)  # no terminal: progress as lines
    err = capsys.readouterr().err
    assert "demo: d_data and K_F of all class pairs of" in err
    assert "sweep idscope-demo: 8/8 runs" in err  # a line per training run, never silent
    first = read_meta(out)
    assert set(first["timings"]) == {"pairs", "sweep"}
    sweep = pd.read_csv(out / "tables" / "sweep_results.csv")
    assert len(sweep) == 2 * 2 * 2 and set(sweep["domain"]) == {"a", "b"}
    before = {p.name: p.read_bytes() for p in (out / "tables").glob("*.csv")}
    findings = KONZ.judge(Workspace(out), s)
    assert [f.key for f in findings][-1] == "domains" and findings[-1].shown is not None
    run_studies(out, s, [KONZ], progress=False, resume=True)
    meta = read_meta(out)
    assert meta["resumed"] is True and meta["timings"] == {}  # nothing ran again
    after = {p.name: p.read_bytes() for p in (out / "tables").glob("*.csv")}
    assert {k: after[k] for k in before} == before
    # the page names every source the study ran on, not only ``data``
    from idscope.report.pages import build_report

    page = build_report(out)
    assert f"{a} and {b}" in page.intro and f"{a} and {b}" in page.title
