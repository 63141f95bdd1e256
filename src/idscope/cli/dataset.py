"""``idscope dataset SOURCE``: size, duplicates, d_data and label sharpness K_F of a dataset."""

from __future__ import annotations

import argparse
import csv
import io
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the data and estimator modules load when the command runs, not for --help
    from ..data import Dataset

from .._atomic import write_text
from .._errors import InputError
from ._format import table, to_json
from ._options import add_preprocess_arguments, add_source_arguments, load_source, preprocess_of

COLUMNS = ("task", "n", "duplicates", "mle_k1", "mle_pope", "twonn", "K_F",
           "witness_i", "witness_j", "witness_labels", "witness_distance", "conflicts",
           "seconds")


EPILOG = """\
columns:
  task              "all", or "A vs B" for a binary task (--classes, --all-pairs)
  n                 points measured; duplicates: exact duplicate rows removed for d_data
  mle_k1, mle_pope  MLE with k=20: MacKay-Ghahramani (k-1) and Pope et al.'s (k-2)
                    normalisation, the convention of Konz & Mazurowski's d_data
                    (mle_pope = (k-2)/(k-1) mle_k1); twonn: TwoNN linear fit (90 %)
  K_F               label sharpness = 1 / witness_distance, the smallest distance between
                    two differently labelled samples (exact over all pairs unless --sample;
                    for real-valued labels max |y_i - y_j| / distance)
  witness_i/j       row indices in SOURCE of that pair (witness_files for image folders,
                    witness_*.png with --out); conflicts: identical samples with different
                    labels (K_F = inf; --conflicts drop removes them)
  A larger K_F means a sharper, less robust task; a larger d_data a slower learning curve.
  K_F scales as 1/c when the inputs are scaled by c: compare datasets only at the same
  resolution, channels and intensity range (--resize, --mode, --intensity).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dataset", help="d_data and label sharpness K_F of a labelled dataset",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Size, duplicates, intrinsic dimension d_data (MLE k=20 with the k-1 and "
                    "Pope k-2 normalisations, TwoNN) and label sharpness K_F with its witness "
                    "pair (Konz & Mazurowski, ICLR 2024). SOURCE: sklearn:NAME, .npy/.npz, "
                    ".csv/.tsv/.parquet, .h5, .pt or an image folder (one sub-folder per "
                    "class).")
    p.add_argument("source", metavar="SOURCE",
                   help="sklearn:NAME, a data file or an image folder (one sub-folder per "
                        "class)")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--classes", default=None, metavar="A,B",
                     help="binary task from two classes (label values or class names)")
    sel.add_argument("--all-pairs", action="store_true",
                     help="one row per pair of classes (45 rows for ten classes)")
    p.add_argument("--n", type=int, default=None,
                   help="seeded class-balanced subsample of N points (per task)")
    p.add_argument("--sample", type=int, default=None, metavar="M",
                   help="K_F on a seeded random sample of M points (the paper: M=1000); "
                        "default: exact over all pairs")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of --n and --sample (default 0)")
    p.add_argument("--k", type=int, default=20, help="MLE neighbours (default 20)")
    p.add_argument("--conflicts", choices=("report", "drop"), default="report",
                   help="identical samples with different labels: report (K_F = inf) or "
                        "drop them first")
    add_source_arguments(p)
    add_preprocess_arguments(p)
    p.add_argument("--device", default=None, help="cpu (default) or cuda")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write dataset.csv, dataset.json and, for images, witness PNGs")
    p.set_defaults(run=run)


def _is_image(ds: Dataset) -> bool:
    return ds.X.ndim >= 3 or "image_shape" in ds.meta


def _tasks(ds: Dataset, args: argparse.Namespace) -> list[Dataset]:
    if args.classes:
        names = [c.strip() for c in args.classes.split(",")]
        from ..data import select_classes

        return [select_classes(ds, names)]
    if args.all_pairs:
        from ..data import class_pairs, select_classes

        return [select_classes(ds, pair) for pair in class_pairs(ds)]
    return [ds]


def _task_label(ds: Dataset, task: Dataset, args: argparse.Namespace) -> str:
    if task is ds:
        return "all"
    a, b = task.meta["class_names"]
    return f"{a} vs {b}"


def _measure(ds: Dataset, task: Dataset, args: argparse.Namespace, out: Path | None
             ) -> dict[str, Any]:
    import numpy as np

    from ..data import balanced_subsample, class_name
    from ..dataset import data_dimension, label_sharpness

    t0 = time.perf_counter()
    if args.n is not None:
        task = balanced_subsample(task, args.n, seed=args.seed)
    dd = data_dimension(task.X, k=args.k, device=args.device)
    ks = label_sharpness(task, sample=args.sample, seed=args.seed, conflicts=args.conflicts,
                         device=args.device)
    parent_idx = task.meta.get("indices")
    i, j = ks.witness
    gi, gj = ((int(parent_idx[i]), int(parent_idx[j])) if parent_idx is not None and
              task is not ds else (i, j))
    labels = [class_name(task, v) for v in ks.witness_labels]
    row: dict[str, Any] = {
        "task": _task_label(ds, task, args), "n": task.n_samples,
        "duplicates": dd.n_duplicates, "mle_k1": dd.mle_k1.dimension,
        "mle_pope": dd.mle_pope.dimension, "twonn": dd.twonn.dimension, "K_F": ks.value,
        "witness_i": gi, "witness_j": gj, "witness_labels": " / ".join(labels),
        "witness_distance": ks.witness_distance, "conflicts": ks.n_conflicting_duplicates,
        "label_kind": ks.label_kind,
    }
    files = ds.meta.get("files")
    if files is not None:
        row["witness_files"] = f"{files[gi]} | {files[gj]}"
    if out is not None and _is_image(ds):
        from ..report.witness import save_witness_png

        slug = "all" if task is ds else "_".join(
            "".join(ch if ch.isalnum() else "-" for ch in name)
            for name in task.meta["class_names"])
        png = out / f"witness_{slug}.png"
        save_witness_png(png, np.asarray(ds.X[gi]), np.asarray(ds.X[gj]),
                         intensity_range=ds.meta.get("intensity_range"),
                         captions=[f"#{gi} {labels[0]}", f"#{gj} {labels[1]}"])
        row["witness_png"] = png.name
    row["seconds"] = time.perf_counter() - t0
    return row


def _csv(rows: list[dict[str, Any]]) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: repr(v) if isinstance(v, float) else v for k, v in r.items()})
    return buf.getvalue()


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..data import class_name

    ds = load_source(args, args.source, preprocess_of(args))
    if ds.y is None:
        raise InputError(f"dataset: {ds.name} has no labels; name them with --label-column "
                         f"(tables) or --y-key (.npz/.h5/.pt)")
    out = Path(args.out) if args.out else None
    rows = [_measure(ds, task, args, out) for task in _tasks(ds, args)]
    classes, counts = np.unique(np.asarray(ds.y), return_counts=True)
    summary = {
        "source": ds.meta.get("source", ds.name), "n_samples": ds.n_samples,
        "feature_shape": list(ds.X.shape[1:]),
        "classes": {class_name(ds, c): int(m) for c, m in zip(classes.tolist(), counts)},
        "intensity_range": ds.meta.get("intensity_range"),
        "k": args.k, "sample": args.sample, "seed": args.seed, "n": args.n,
        "rows": rows,
    }
    if out is not None:
        write_text(out / "dataset.csv", _csv(rows))
        write_text(out / "dataset.json", to_json(summary) + "\n")
    if args.json:
        print(to_json(summary))
        return 0
    shape = "x".join(map(str, ds.X.shape[1:]))
    cls = ", ".join(f"{k}: {v}" for k, v in list(summary["classes"].items())[:12])
    print(f"{summary['source']}: {ds.n_samples} samples, features {shape}, "
          f"{len(classes)} classes ({cls}{', ...' if len(classes) > 12 else ''})")
    if summary["intensity_range"] is not None:
        lo, hi = summary["intensity_range"]
        print(f"intensity range {lo:g}-{hi:g} (K_F scales as 1/c with the inputs: compare "
              f"datasets at the same resolution, channels and range)")
    kf = ("max |y_i - y_j| / distance (real-valued labels)" if rows[0]["label_kind"] == "real"
          else "1/(smallest distance between differently labelled samples)")
    print(f"d_data: MLE k={args.k} (k-1 and Pope's k-2 normalisation), TwoNN; K_F = {kf}"
          + (f", sampled M={args.sample}" if args.sample else ", exact over all pairs"))
    cols = [c for c in COLUMNS if c != "seconds" or len(rows) == 1]
    cols += [c for c in ("witness_files", "witness_png") if any(c in r for r in rows)]
    print(table(rows, cols))
    if out is not None:
        print(f"wrote {out / 'dataset.csv'} and {out / 'dataset.json'}")
    return 0
