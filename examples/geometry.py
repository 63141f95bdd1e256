"""Representation geometry beyond one number: neighbourhood overlap, CKA, local ID and the ID
during training, across the layers of a trained CNN and of a text transformer.

1. Ansuini et al.'s small CNN (``mnist_cnn``) trained on scikit-learn's digits (1 200 train,
   597 test images), with an :class:`idscope.IDMonitor` passed to the built-in training loop
   (the ID of every layer after each epoch). On the test images: the TwoNN profile, the label
   overlap, the layer × layer neighbourhood overlap (k = 10) and linear CKA; CKA between the
   trained and the untrained (re-initialised) network; the local ID of clean vs FGSM-attacked
   test images.
2. A tiny BERT (``transformers.BertConfig``: 4 layers, width 64, built locally, no download)
   trained by a plain PyTorch loop, with the monitor called every epoch, to classify
   synthetic 12-token sentences by topic (4 topics, a vocabulary of 120 topic words and 60
   shared words). Each layer's hidden states are averaged over the tokens.

Writes tables, figures and two static pages into ``--out`` (default ``examples/geometry``)
and the headline numbers into ``results.json``.

    python examples/geometry.py [--out DIR]

About 4 minutes on one CPU thread.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import idscope
from idscope.data import load
from idscope.geometry import IDMonitor, cka_matrix, label_overlap_profile, overlap_matrix
from idscope.report.geometry import (
    plot_layer_matrix,
    plot_local_id,
    plot_monitor,
    write_geometry_report,
)
from idscope.report.profile import save_plot
from idscope.representations import profile_store, reinitialized
from idscope.training import as_model_input, build_model, train_classifier
from idscope.training.attacks import attacked_local_id

K = 10  # neighbours of the overlaps
SEED = 0


def geometry(store, y, out: Path, title: str, t0: float) -> dict:
    """Profile, overlaps and CKA of every layer of a store; page and tables in ``out``."""
    prof = profile_store(store, n_resamples=10, seed=SEED)
    overlap = overlap_matrix(store, k=K)
    cka = cka_matrix(store)
    labels = label_overlap_profile(store, y, K)
    write_geometry_report(out, prof, overlap=overlap, cka=cka, label_overlap=labels,
                          title=title, settings={"k": K, "seed": SEED, "n": store.n_samples},
                          command="python examples/geometry.py",
                          runtime_seconds=time.perf_counter() - t0)
    layers = list(overlap.rows)
    nxt = {f"{a} -> {b}": round(overlap.value(a, b), 3) for a, b in zip(layers, layers[1:])}
    return {"layers": layers,
            "twonn": {r.layer: round(r.twonn, 2) for r in prof.rows},
            "label_overlap": {k: round(v, 3) for k, v in labels.items()},
            "overlap_with_next_layer": nxt,
            "cka_with_next_layer": {f"{a} -> {b}": round(cka.value(a, b), 3)
                                    for a, b in zip(layers, layers[1:])}}


def cnn_part(out: Path) -> dict:
    t0 = time.perf_counter()
    ds = load("sklearn:digits")
    X = as_model_input(ds.X / 16.0)
    y = torch.as_tensor(ds.y)
    Xtr, ytr, Xte, yte = X[:1200], y[:1200], X[1200:], y[1200:]
    model = build_model("mnist_cnn", (1, 8, 8), 10, seed=SEED)
    untrained = reinitialized(model, seed=SEED + 1)
    monitor = IDMonitor(Xte, layers="paper", n_resamples=0)
    monitor.update(model, 0)  # before training
    res = train_classifier(model, (Xtr, ytr), (Xte, yte), epochs=12, lr=2e-3, seed=SEED,
                           threads=1, callback=monitor)
    model = res.model
    save_plot(plot_monitor(monitor.compute(), xlabel="epoch",
                           title="mnist_cnn on digits: TwoNN ID of each layer (test images)"),
              out / "cnn_training.png")
    store = idscope.activations(model, Xte, layers="paper")
    summary = geometry(store, yte.numpy(), out / "cnn", "mnist_cnn on digits", t0)
    other = idscope.activations(untrained, Xte, layers="paper")
    cross = cka_matrix(store, other, labels=("trained", "untrained"))
    save_plot(plot_layer_matrix(cross, title="linear CKA: trained vs untrained mnist_cnn"),
              out / "cnn_trained_vs_untrained_cka.png")
    lid = attacked_local_id(model, Xte, yte, eps=8 / 255, k=20)
    save_plot(plot_local_id({"clean": lid.clean, "FGSM, eps = 8/255": lid.attacked},
                            title="local ID (MLE, k = 20) of test images, input space"),
              out / "cnn_local_id.png")
    return {"test_acc": round(res.final["test_acc"], 4), **summary,
            "cka_trained_vs_untrained_diagonal": {
                a: round(cross.value(a, a), 3) for a in cross.rows if a in cross.cols},
            "local_id_median_clean": round(float(np.median(lid.clean)), 3),
            "local_id_median_fgsm_8_255": round(float(np.median(lid.attacked)), 3),
            "twonn_by_epoch": _by_epoch(monitor),
            "seconds": round(time.perf_counter() - t0, 1)}


def _by_epoch(monitor: IDMonitor) -> dict[str, list[float]]:
    rec = monitor.compute()
    return {layer: [round(float(v), 2) for v in rec.series(layer)[1]] for layer in rec.layers}


# ---------------------------------------------------------------------------------------
# the text transformer
# ---------------------------------------------------------------------------------------
N_TOPICS, TOPIC_WORDS, SHARED_WORDS, LENGTH = 4, 30, 60, 12


def sentences(n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sentences of 12 token ids: each token a word of the sentence's topic with
    probability 0.35, else one of the shared words (ids: 0..59 shared, then 30 per topic)."""
    topic = rng.integers(N_TOPICS, size=n)
    own = SHARED_WORDS + topic[:, None] * TOPIC_WORDS + rng.integers(TOPIC_WORDS,
                                                                      size=(n, LENGTH))
    shared = rng.integers(SHARED_WORDS, size=(n, LENGTH))
    ids = np.where(rng.random((n, LENGTH)) < 0.35, own, shared)
    return torch.as_tensor(ids, dtype=torch.int64), torch.as_tensor(topic)


def tiny_bert() -> nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(SEED)
    config = BertConfig(vocab_size=SHARED_WORDS + N_TOPICS * TOPIC_WORDS, hidden_size=64,
                        num_hidden_layers=4, num_attention_heads=4, intermediate_size=128,
                        max_position_embeddings=LENGTH, num_labels=N_TOPICS,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForSequenceClassification(config)


def bert_part(out: Path) -> dict:
    t0 = time.perf_counter()
    rng = np.random.default_rng(SEED)
    Xtr, ytr = sentences(1200, rng)
    Xte, yte = sentences(500, rng)
    model = tiny_bert()
    layers = ["bert.embeddings", *(f"bert.encoder.layer.{i}" for i in range(4)),
              "bert.pooler", "classifier"]
    # hidden states (batch, tokens, 64) averaged over the 12 tokens (no padding)
    monitor = IDMonitor(Xte, layers=layers, sequence="mean", n_resamples=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(SEED)
    monitor.update(model, 0)
    for epoch in range(1, 9):  # a plain PyTorch loop
        model.train()
        for idx in torch.randperm(len(Xtr), generator=gen).split(32):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(input_ids=Xtr[idx]).logits, ytr[idx])
            loss.backward()
            opt.step()
        monitor.update(model, epoch)
    model.eval()
    with torch.no_grad():
        acc = float((model(input_ids=Xte).logits.argmax(1) == yte).float().mean())
    save_plot(plot_monitor(monitor.compute(), xlabel="epoch",
                           title="tiny BERT on topic sentences: TwoNN ID of each layer"),
              out / "bert_training.png")
    store = idscope.activations(model, Xte, layers=layers, sequence="mean")
    summary = geometry(store, yte.numpy(), out / "bert", "tiny BERT on topic sentences", t0)
    return {"test_acc": round(acc, 4), **summary, "twonn_by_epoch": _by_epoch(monitor),
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "geometry"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # one thread: the results do not depend on the machine's thread count, and on a shared
    # machine one thread per process avoids oversubscription stalls
    torch.set_num_threads(1)
    results = {"cnn": cnn_part(out), "bert": bert_part(out),
               "versions": {"idscope": idscope.__version__, "torch": torch.__version__}}
    from idscope._atomic import write_json

    write_json(out / "results.json", results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
