"""``idscope demo``: both papers' findings, reproduced on data that ships with the install.

Ansuini et al. (NeurIPS 2019) and Konz & Mazurowski (ICLR 2024), on scikit-learn's 1 797
handwritten digits (8x8, intensities 0..16 scaled to [0, 1]) and on synthetic images of known
intrinsic dimension and label sharpness (:func:`idscope.data.synthetic.manifold_images`).

Two phases, so that the page can always be rebuilt from what is on disk:

1. **Experiments** write raw results as CSV tables under ``DIR/tables/`` (and the sweep's
   run files under ``DIR/sweep/``):

   - :func:`run_digits` — a small CNN trained on the ten digits, the same network trained on
     shuffled labels, and the ID profile across depth of both and of an untrained copy;
   - :func:`run_gradient` — the luminance-offset variant of the digits (one random brightness
     offset per image, Ansuini et al.'s MNIST experiment), trained and profiled;
   - :func:`run_architectures` — a family of networks trained on the digits: last-hidden ID
     and test error;
   - :func:`run_pairs` — d_data and K_F of all 45 digit class pairs;
   - :func:`run_sweep_experiment` — binary tasks (digit pairs and synthetic datasets) at
     several training-set sizes through the sweep runner: test loss, d_data, K_F, d_repr,
     FGSM/PGD over an ε sweep.

2. **Findings** (one function each, ``finding_*``) read those tables only, draw their
   figures under ``DIR/figures/`` and return a :class:`~idscope.report.html.Finding` whose
   verdict ("shown" / "not shown") is decided by the confidence intervals against a stated
   criterion. :func:`build_report` assembles them; ``idscope report DIR`` calls it again.

Everything is seeded from one ``seed``; ``DIR/demo.json`` records the settings, versions and
runtime. Networks are trained single-threaded (``threads=1``) so that the numbers do not
depend on the machine's core count.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path, write_json
from .._errors import InputError
from ..report.html import Finding, Report, versions, write_report

__all__ = [
    "DemoSettings", "run_demo", "build_report", "build_sweep_report", "rebuild",
    "luminance_offsets", "run_digits", "run_gradient", "run_architectures", "run_pairs",
    "run_sweep_experiment", "FINDINGS",
]

DEMO_FILE = "demo.json"
FORMAT = "idscope-demo"

# Decision criteria (stated on the page next to each verdict).
FAR_BELOW = 0.25          # F1: ID / embedding dimension at most this (upper 95 % bound)
FLAT_TOLERANCE = 0.20     # F2: untrained layers within ±20 % of the input ID
PCA_GAP = 2.0             # F2: PCA-ID at least twice the TwoNN ID (median over layers)
PCA_SIMILAR = 0.25        # F2: PCA-ID trained vs untrained within 25 % (median over layers)
BOUND_FRACTION = 0.80     # F8: lower Wilson bound of the fraction of runs with d_repr ≤ d_data
_Z = 1.959963984540054

# (label, architecture, keyword arguments as JSON)
FULL_ARCHITECTURES: tuple[tuple[str, str, str], ...] = (
    ("mlp-1x32", "mlp", '{"depth": 1, "width": 32}'),
    ("mlp-2x128", "mlp", '{"depth": 2, "width": 128}'),
    ("mlp-3x256", "mlp", '{"depth": 3, "width": 256}'),
    ("cnn-8-16", "mnist_cnn", '{"channels": [8, 16], "hidden_dim": 32}'),
    ("cnn-32-64", "mnist_cnn", '{}'),
    ("vgg-8-16", "vgg_small", '{"widths": [8, 16], "convs_per_block": 1, "fc_width": 64}'),
    ("vgg-16-32-64", "vgg_small", '{"fc_width": 128}'),
    ("resnet-8-16", "resnet_small", '{"widths": [8, 16]}'),
    ("resnet-16-32-64", "resnet_small", '{}'),
)
QUICK_ARCHITECTURES = (FULL_ARCHITECTURES[0], FULL_ARCHITECTURES[3], FULL_ARCHITECTURES[5],
                       FULL_ARCHITECTURES[7])


@dataclass(frozen=True)
class DemoSettings:
    """Every setting of a demo run (all recorded on the page and in ``demo.json``).

    Use :meth:`preset` for the full and the quick demo.
    """

    quick: bool = False
    seed: int = 0
    # ten-class digits experiments (Ansuini et al.)
    n_test: int = 450
    model: str = "mnist_cnn"
    epochs: int = 40
    shuffled_epochs: int = 100
    lr: float = 3e-3
    batch_size: int = 64
    n_resamples: int = 20
    gradient_strength: float = 10.0
    gradient_epochs: int = 60
    architectures: tuple[tuple[str, str, str], ...] = FULL_ARCHITECTURES
    arch_epochs: int = 30
    # binary tasks through the sweep runner (Konz & Mazurowski)
    pairs: str | tuple[tuple[int, int], ...] = "all-pairs"
    sizes: tuple[int, ...] = (60, 120, 240)
    sweep_test_size: int = 100
    sweep_epochs: int = 30
    sweep_batch_size: int = 32
    sweep_model_kwargs: str = '{"channels": [16, 32], "hidden_dim": 64}'
    synthetic: tuple[tuple[int, float], ...] = ((2, 0.1), (4, 0.1), (8, 0.1), (16, 0.1),
                                                (4, 0.02), (4, 0.3))
    synthetic_n: int = 500
    eps: tuple[float, ...] = (1 / 255, 2 / 255, 4 / 255, 8 / 255)
    methods: tuple[str, ...] = ("fgsm", "pgd")
    workers: int = 2
    threads: int = 1
    n_bootstrap: int = 1000

    @classmethod
    def preset(cls, *, quick: bool = False, seed: int = 0, workers: int | None = None
               ) -> DemoSettings:
        """The full demo (≈ 10 minutes on two CPU cores) or the quick one (≈ 1–2 minutes:
        fewer epochs, resamples, architectures, pairs and sizes)."""
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"demo: seed must be a non-negative integer, got {seed!r}")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                    or workers < 1):
            raise InputError(f"demo: workers must be a positive integer, got {workers!r}")
        if not quick:
            s = cls(seed=seed)
        else:
            s = cls(quick=True, seed=seed, epochs=15, shuffled_epochs=40, n_resamples=5,
                    gradient_epochs=25, architectures=QUICK_ARCHITECTURES, arch_epochs=8,
                    pairs=((0, 1), (3, 8), (1, 7), (4, 9)), sizes=(40, 120),
                    sweep_epochs=12, synthetic=((2, 0.1), (8, 0.1)), synthetic_n=340,
                    eps=(2 / 255, 8 / 255), workers=1, n_bootstrap=300)
        return s if workers is None else replace(s, workers=workers)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return json.loads(json.dumps(d))  # tuples → lists: the JSON form

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DemoSettings:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}

        def tup(v: Any) -> Any:
            return tuple(tup(x) for x in v) if isinstance(v, list) else v

        return cls(**{k: tup(v) for k, v in kw.items()})


# ---------------------------------------------------------------------------------------------
# Output folder: tables, figures, progress


class _Out:
    """A page's folder: CSV tables under ``tables/``, PNG figures under ``figures/``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def save_table(self, name: str, df: Any) -> str:
        rel = f"tables/{name}.csv"
        with atomic_path(self.root / rel, suffix=".csv") as tmp:
            df.to_csv(tmp, index=False)
        return rel

    def has_table(self, name: str) -> bool:
        return (self.root / "tables" / f"{name}.csv").is_file()

    def table(self, name: str) -> Any:
        import pandas as pd

        path = self.root / "tables" / f"{name}.csv"
        if not path.is_file():
            raise InputError(f"report: missing table {path} (rerun the demo)")
        return pd.read_csv(path)

    def save_figure(self, name: str, fig: Any) -> str:
        from ..report.sweep_plots import save_figure

        rel = f"figures/{name}.png"
        save_figure(fig, self.root / rel, dpi=100)
        return rel


class _Run:
    """One demo run: settings, output folder and the progress bar over its steps."""

    def __init__(self, out: _Out, settings: DemoSettings, progress: bool):
        self.out = out
        self.settings = settings
        self.progress = progress
        self.bar: Any = None

    def step(self, desc: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(f"demo: {desc}")

    def done(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)


# ---------------------------------------------------------------------------------------------
# Data


def _digits(seed: int, n_test: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits scaled to [0, 1] and a stratified, seeded train/test split (sorted indices)."""
    from sklearn.model_selection import train_test_split

    from ..data import load

    ds = load("sklearn:digits")
    lo, hi = ds.meta["intensity_range"]
    X = (np.asarray(ds.X, dtype=np.float64) - lo) / (hi - lo)
    y = np.asarray(ds.y, dtype=np.int64)
    tr, te = train_test_split(np.arange(len(y)), test_size=n_test, stratify=y,
                              random_state=seed)
    return X, y, np.sort(tr), np.sort(te)


def luminance_offsets(X: Any, strength: float, *, seed: int = 0) -> np.ndarray:
    """Add one random brightness offset per image: x_i + λ_i·1, λ_i ~ U(0, strength).

    The perturbation of Ansuini et al. (NeurIPS 2019, their MNIST "gradient" experiment: a
    constant offset along the all-ones direction, λ ~ U(0, 300) on MNIST in [0, 1]). The
    data then stretch along one line, so nearest-neighbour estimators read a lower ID;
    ``strength`` is in units of the intensity range.
    """
    X = np.asarray(X, dtype=np.float64)
    if not (isinstance(strength, (int, float)) and math.isfinite(strength) and strength > 0):
        raise InputError(f"luminance_offsets: strength must be a positive number, got "
                         f"{strength!r}")
    lam = np.random.default_rng(seed).uniform(0.0, float(strength), X.shape[0])
    return X + lam.reshape((-1,) + (1,) * (X.ndim - 1))


def _model_input(X: np.ndarray) -> np.ndarray:
    from ..sweeps.runner import model_input

    return model_input(X)


def _train(run: _Run, name: str, kwargs: dict[str, Any], train: tuple, test: tuple, *,
           epochs: int, n_classes: int = 10):
    from ..training import build_model, train_classifier

    s = run.settings
    model = build_model(name, train[0].shape[1:], n_classes, seed=s.seed, **kwargs)
    return train_classifier(model, train, test, epochs=epochs, batch_size=s.batch_size,
                            lr=s.lr, seed=s.seed, threads=s.threads, progress=run.progress)


def _profile_layers() -> list[Any]:
    """Ansuini et al.'s layers: the input, every pooling layer, the last hidden layer (the
    built-in networks' ``hidden`` block, post-ReLU) and the output logits."""
    import torch

    return ["input", torch.nn.MaxPool2d, "hidden", "output"]


def _profile_frame(prof: Any) -> Any:
    """One row per model and layer: TwoNN on all points with its bootstrap interval, the
    mean ± sd over resamples (Ansuini's error bars) and the PCA-ID."""
    import pandas as pd

    rows = []
    for r in prof.rows:
        tw = r.estimates.get("twonn", {})
        rows.append({"model": r.model, "layer": r.layer, "module_type": r.module_type,
                     "depth": r.depth, "relative_depth": r.relative_depth,
                     "embedding_dim": r.embedding_dim, "n_points": r.n_points,
                     "n_duplicates": r.n_duplicates, "twonn_full": r.twonn_full,
                     "twonn_stderr": tw.get("stderr", math.nan),
                     "twonn_ci_low": tw.get("ci_low", math.nan),
                     "twonn_ci_high": tw.get("ci_high", math.nan),
                     "twonn_resample_mean": r.twonn, "twonn_resample_std": r.twonn_std,
                     "n_resamples": r.n_resamples, "pca": r.pca, "notes": "; ".join(r.notes)})
    return pd.DataFrame(rows)


def _history_frame(results: dict[str, Any]) -> Any:
    import pandas as pd

    rows = [dict(h, model=label) for label, res in results.items() for h in res.history]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Experiments (phase 1): each writes its tables


def run_digits(run: _Run) -> None:
    """A CNN on the ten digits, the same CNN on shuffled training labels, and the ID profile
    of both and of an untrained copy, on the training images (tables ``profile_digits``,
    ``training_digits``)."""
    from ..representations import profile

    s = run.settings
    X, y, tr, te = _digits(s.seed, s.n_test)
    M = _model_input(X)
    run.step("training the CNN on the digits")
    base = _train(run, s.model, {}, (M[tr], y[tr]), (M[te], y[te]), epochs=s.epochs)
    run.done()
    run.step("training the CNN on shuffled labels")
    y_shuffled = np.random.default_rng(s.seed + 1).permutation(y[tr])
    shuffled = _train(run, s.model, {}, (M[tr], y_shuffled), (M[te], y[te]),
                      epochs=s.shuffled_epochs)
    run.done()
    run.step("ID profiles (trained, untrained, shuffled)")
    prof = profile(base.model, M[tr], layers=_profile_layers(), n_resamples=s.n_resamples,
                   seed=s.seed, label="trained", progress=run.progress,
                   compare={"untrained": "untrained", "shuffled": shuffled.model})
    run.out.save_table("profile_digits", _profile_frame(prof))
    run.out.save_table("training_digits", _history_frame({"trained": base,
                                                          "shuffled": shuffled}))
    run.done()


def run_gradient(run: _Run) -> None:
    """The luminance-offset digits: trained CNN and untrained copy profiled on the training
    images (tables ``profile_gradient``, ``training_gradient``).

    The offset data are standardised (one global mean and standard deviation, as Ansuini
    et al. did before training), which leaves every distance ratio, hence the ID, unchanged.
    """
    from ..representations import profile

    s = run.settings
    X, y, tr, te = _digits(s.seed, s.n_test)
    Xg = luminance_offsets(X, s.gradient_strength, seed=s.seed + 2)
    Z = (Xg - Xg[tr].mean()) / Xg[tr].std()
    M = _model_input(Z)
    run.step("training the CNN on luminance-offset digits")
    res = _train(run, s.model, {}, (M[tr], y[tr]), (M[te], y[te]), epochs=s.gradient_epochs)
    run.done()
    run.step("ID profiles of the luminance-offset digits")
    prof = profile(res.model, M[tr], layers=_profile_layers(), n_resamples=s.n_resamples,
                   seed=s.seed, label="trained", compare="untrained", progress=run.progress)
    run.out.save_table("profile_gradient", _profile_frame(prof))
    run.out.save_table("training_gradient", _history_frame({"trained": res}))
    run.done()


def run_architectures(run: _Run) -> None:
    """A family of networks trained on the digits: test error and the TwoNN ID of the last
    hidden layer (the representation the classifier reads, ``layers="last_hidden"``) on the
    training images (table ``architectures``)."""
    import pandas as pd

    from ..estimators import twonn
    from ..representations import activations

    s = run.settings
    X, y, tr, te = _digits(s.seed, s.n_test)
    M = _model_input(X)
    rows = []
    for label, name, kwargs in s.architectures:
        run.step(f"architecture {label}")
        t0 = time.perf_counter()
        res = _train(run, name, json.loads(kwargs), (M[tr], y[tr]), (M[te], y[te]),
                     epochs=s.arch_epochs)
        # Ansuini et al.'s last hidden layer: what the classifier reads (post-ReLU for the
        # fully connected nets, the pooled features for the ResNet)
        store = activations(res.model, M[tr], layers="last_hidden")
        layer = store.layers[0]
        acts = np.array(store[layer], dtype=np.float64).reshape(len(tr), -1)
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


def _pair_list(s: DemoSettings, y: np.ndarray) -> list[tuple[int, int]]:
    if s.pairs == "all-pairs":
        labels = np.unique(y).tolist()
        return [(a, b) for i, a in enumerate(labels) for b in labels[i + 1:]]
    return [(int(a), int(b)) for a, b in s.pairs]


def run_pairs(run: _Run) -> None:
    """d_data (MLE k = 20 in both conventions, TwoNN) and the exact K_F of every digit
    class pair, on all images of the two classes (table ``pairs``)."""
    import pandas as pd

    from ..dataset import data_dimension, label_sharpness

    s = run.settings
    run.step("d_data and K_F of all digit class pairs")
    X, y, _, _ = _digits(s.seed, s.n_test)
    F = X.reshape(len(X), -1)
    ks = label_sharpness(F, y, per_class_pair=True)
    classes = list(ks.classes)
    rows = []
    for a, b in _pair_list(replace(s, pairs="all-pairs"), y):
        sel = (y == a) | (y == b)
        dd = data_dimension(F[sel])
        i, j = classes.index(a), classes.index(b)
        rows.append({"task": f"{a}-{b}", "class_0": a, "class_1": b, "n": int(sel.sum()),
                     "d_data_mle_pope": dd.mle_pope.dimension,
                     "d_data_mle_pope_ci_low": dd.mle_pope.ci_low,
                     "d_data_mle_pope_ci_high": dd.mle_pope.ci_high,
                     "d_data_mle": dd.mle_k1.dimension, "d_data_twonn": dd.twonn.dimension,
                     "n_duplicates": dd.n_duplicates,
                     "label_sharpness": float(ks.pair_matrix[i, j]),
                     "witness_distance": 1.0 / float(ks.pair_matrix[i, j])})
    run.out.save_table("pairs", pd.DataFrame(rows))
    run.done()


def sweep_config(s: DemoSettings) -> dict[str, Any]:
    """The demo's sweep as a config dict (the TOML structure of ``idscope sweep``)."""
    tasks = s.pairs if s.pairs == "all-pairs" else [list(p) for p in s.pairs]
    datasets: list[dict[str, Any]] = [{"name": "digits", "source": "sklearn:digits",
                                       "tasks": tasks, "scale": "unit", "domain": "digits"}]
    for i, (d, margin) in enumerate(s.synthetic):
        datasets.append({"name": f"synthetic-d{d}-m{margin:g}", "synthetic": "manifold_images",
                         "params": {"n": s.synthetic_n, "intrinsic_dim": int(d),
                                    "image_size": 8, "margin": float(margin),
                                    "seed": s.seed + 10 + i},
                         "tasks": [[0, 1]], "domain": "synthetic"})
    return {
        "name": "idscope-demo-quick" if s.quick else "idscope-demo",
        "datasets": datasets,
        "models": [{"name": s.model, "kwargs": json.loads(s.sweep_model_kwargs),
                    "label": "cnn"}],
        "training": {"sizes": list(s.sizes), "test_size": s.sweep_test_size,
                     "seeds": [s.seed], "split_seed": s.seed, "epochs": s.sweep_epochs,
                     "batch_size": s.sweep_batch_size, "lr": s.lr, "threads": s.threads},
        "measure": {"d_data": True, "label_sharpness": True, "d_repr": "train",
                    "robustness": {"eps": list(s.eps), "methods": list(s.methods)}},
    }


def run_sweep_experiment(run: _Run) -> None:
    """Binary tasks at several training-set sizes through :func:`idscope.experiments.
    executors.run_sweep` (resumable, in ``DIR/sweep``); the runs of this configuration
    become the table ``sweep_results``."""
    from ..sweeps.config import parse_config
    from ..sweeps.executors import run_sweep
    from ..sweeps.plan import make_plan

    s = run.settings
    config = parse_config(sweep_config(s), name="idscope-demo", where="<demo>")
    keys = set(make_plan(config).keys)
    run.step(f"sweep: {len(keys)} training runs (binary tasks)")
    res = run_sweep(config, run.out.root / "sweep", executor="local", workers=s.workers,
                    progress=run.progress)
    df = res.table()
    df = df[df["key"].isin(keys)].reset_index(drop=True)
    # the per-epoch history is in the sweep's run files; keep the table flat
    df = df.drop(columns=[c for c in ("history",) if c in df.columns])
    run.out.save_table("sweep_results", df)
    run.done()


_EXPERIMENTS: tuple[tuple[str, Callable[[_Run], None], tuple[str, ...]], ...] = (
    ("digits", run_digits, ("profile_digits", "training_digits")),
    ("gradient", run_gradient, ("profile_gradient", "training_gradient")),
    ("architectures", run_architectures, ("architectures",)),
    ("pairs", run_pairs, ("pairs",)),
    ("sweep", run_sweep_experiment, ("sweep_results",)),
)


def _n_steps(s: DemoSettings) -> int:
    return 3 + 2 + len(s.architectures) + 1 + 1 + 1


# ---------------------------------------------------------------------------------------------
# Small statistics helpers


def _f(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _diff_ci(a: float, se_a: float, b: float, se_b: float) -> tuple[float, float, float]:
    """a − b with a normal 95 % interval (independent estimates)."""
    d = a - b
    se = math.sqrt(se_a ** 2 + se_b ** 2)
    return d, d - _Z * se, d + _Z * se


def _ratio_ci(a: float, se_a: float, b: float, se_b: float) -> tuple[float, float, float]:
    """a / b with a delta-method 95 % interval (independent estimates)."""
    r = a / b
    se = abs(r) * math.sqrt((se_a / a) ** 2 + (se_b / b) ** 2)
    return r, r - _Z * se, r + _Z * se


def _detail(label: str, value: float, lo: float | None = None, hi: float | None = None, *,
            criterion: str = "", shown: bool | None = None) -> dict[str, Any]:
    return {"label": label, "value": _f(value), "ci_low": None if lo is None else _f(lo),
            "ci_high": None if hi is None else _f(hi), "criterion": criterion,
            "shown": shown}


def _fmt(x: float, digits: int = 3) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.{digits}g}"


def _ci(lo: float, hi: float) -> str:
    return f"[{_fmt(lo)}, {_fmt(hi)}]"


def _row(df: Any, model: str, layer: str) -> Any:
    sel = df[(df["model"] == model) & (df["layer"] == layer)]
    if sel.empty:
        raise InputError(f"report: no profile row for model {model!r}, layer {layer!r}")
    return sel.iloc[0]


def _layers(df: Any, model: str) -> list[str]:
    return df[df["model"] == model].sort_values("relative_depth")["layer"].tolist()


def _not_testable(key: str, title: str, claim: str, why: str) -> Finding:
    return Finding(key, title, claim, f"Not testable here: {why}", shown=None)


# ---------------------------------------------------------------------------------------------
# Findings (phase 2): tables in, one Finding (+ figures) out


def finding_id_below_embedding(out: _Out, s: DemoSettings) -> Finding:
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
        details.append(_detail(
            f"{r['layer']}: ID / D = {_fmt(r['twonn_full'])} / {int(r['embedding_dim'])}",
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
                   f"classes ({int(o['embedding_dim'])}), and its ID is {_fmt(o['twonn_full'])} "
                   f"(ratio {_fmt(o['twonn_full'] / o['embedding_dim'])}).")
    reading = (f"On the trained CNN, the largest ID / embedding-dimension ratio among the input "
               f"and hidden layers is {_fmt(ratio.iloc[worst])} at layer {wr['layer']} "
               f"(ID {_fmt(wr['twonn_full'])} in {int(wr['embedding_dim'])} dimensions); every "
               f"such layer's upper 95% bound is "
               f"{'at most' if shown else 'NOT everywhere below'} {FAR_BELOW} of its "
               f"dimension.{out_txt}")
    fig = out.save_figure("id_vs_embedding", _figs().plot_id_vs_embedding(df, "trained"))
    return Finding(
        "id_below_embedding", "Every layer's ID is far below its embedding dimension",
        "In each layer of a trained network the intrinsic dimension is much smaller than the "
        "number of units (Ansuini et al. 2019).", reading,
        value=float(ratio.iloc[worst]), value_label="max ID / D (input and hidden layers)",
        interval=(float(wr["twonn_ci_low"] / wr["embedding_dim"]), float(hi.iloc[worst])),
        shown=shown, figures=(fig,), tables=("tables/profile_digits.csv",),
        criterion=f"the upper 95% bootstrap bound of TwoNN ID / D is ≤ {FAR_BELOW} for the "
                  f"input and every hidden layer", details=tuple(details))


def finding_trained_vs_untrained(out: _Out, s: DemoSettings) -> Finding:
    """(2) Untrained networks have a flat ID profile; PCA-ID ≫ TwoNN and similar trained vs
    untrained (Ansuini et al.)."""
    df = out.table("profile_digits")
    layers = _layers(df, "trained")
    after = [ly for ly in layers if ly != "input"]
    inp = _row(df, "untrained", "input")
    # flatness is an equivalence claim: every layer's ratio to the input ID, with its
    # interval, must lie inside 1 ± FLAT_TOLERANCE
    ratios = []
    for ly in after:
        r = _row(df, "untrained", ly)
        q, qlo, qhi = _ratio_ci(r["twonn_full"], r["twonn_stderr"], inp["twonn_full"],
                                inp["twonn_stderr"])
        dev_hi = max(abs(qlo - 1), abs(qhi - 1))
        dev_lo = 0.0 if qlo <= 1 <= qhi else min(abs(qlo - 1), abs(qhi - 1))
        ratios.append((dev_hi, ly, q, qlo, qhi, abs(q - 1), dev_lo))
    _, flat_layer, _, _, _, flat_dev, flat_dev_lo = max(ratios)
    flat_dev_hi = max(x[0] for x in ratios)
    flat = bool(flat_dev_hi <= FLAT_TOLERANCE)
    last = "hidden" if "hidden" in layers else after[-2]
    t, u = _row(df, "trained", last), _row(df, "untrained", last)
    diff, dlo, dhi = _diff_ci(t["twonn_full"], t["twonn_stderr"], u["twonn_full"],
                              u["twonn_stderr"])
    changed = bool(dhi < 0)
    gaps = {m: float(np.median([_row(df, m, ly)["pca"] / _row(df, m, ly)["twonn_full"]
                                for ly in layers])) for m in ("trained", "untrained")}
    pca_rel = float(np.median([abs(_row(df, "trained", ly)["pca"] / _row(df, "untrained", ly)
                                   ["pca"] - 1) for ly in after]))
    flat_rows = [_detail(f"untrained: ID({ly}) / ID(input)", q, qlo, qhi,
                         criterion=f"interval within 1 ± {FLAT_TOLERANCE}",
                         shown=bool(dev_hi <= FLAT_TOLERANCE))
                 for dev_hi, ly, q, qlo, qhi, _, _ in ratios]
    details = (
        *flat_rows,
        _detail(f"ID({last}) trained − untrained", diff, dlo, dhi,
                criterion="interval below 0 (training reshapes the profile)", shown=changed),
        _detail("trained: median PCA-ID / TwoNN over layers", gaps["trained"],
                criterion=f"≥ {PCA_GAP}", shown=bool(gaps["trained"] >= PCA_GAP)),
        _detail("untrained: median PCA-ID / TwoNN over layers", gaps["untrained"],
                criterion=f"≥ {PCA_GAP}", shown=bool(gaps["untrained"] >= PCA_GAP)),
        _detail("median |PCA-ID trained / untrained − 1| over layers", pca_rel,
                criterion=f"≤ {PCA_SIMILAR}", shown=bool(pca_rel <= PCA_SIMILAR)),
    )
    shown = all(x["shown"] for x in details)
    parts = [
        f"The untrained network's TwoNN profile stays within {_fmt(100 * flat_dev, 2)}% of the "
        f"input ID ({_fmt(inp['twonn_full'])}) at every layer; with the 95% intervals the "
        f"largest possible deviation is {_fmt(100 * flat_dev_hi, 2)}% (at {flat_layer}), so "
        f"the profile is {'flat' if flat else 'not shown to be flat'} by the "
        f"±{int(100 * FLAT_TOLERANCE)}% criterion.",
        f"Training changes the profile: at the last hidden layer the trained network reads "
        f"{_fmt(t['twonn_full'])} against {_fmt(u['twonn_full'])} untrained (difference "
        f"{_fmt(diff)}, 95% interval {_ci(dlo, dhi)}).",
        f"PCA-ID is {_fmt(gaps['trained'])}× (trained) and {_fmt(gaps['untrained'])}× "
        f"(untrained) the TwoNN ID in the median layer"
        + (" — much larger, as in the paper." if min(gaps.values()) >= PCA_GAP else
           f"; the paper's large gap does not appear in every network here (at the {last} "
           f"layer the trained network's PCA-ID is {_fmt(t['pca'])} against a TwoNN ID of "
           f"{_fmt(t['twonn_full'])}: its variance is concentrated in a few directions)."),
        f"PCA-ID differs between trained and untrained by {_fmt(100 * pca_rel, 2)}% in the "
        f"median layer ({'similar' if pca_rel <= PCA_SIMILAR else 'not similar'} by the "
        f"{int(100 * PCA_SIMILAR)}% criterion).",
    ]
    fig = out.save_figure("profile_trained_untrained", _figs().plot_profiles(
        df, ["trained", "untrained"], title="Digits CNN: ID across depth, trained vs untrained"))
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


def finding_hunchback(out: _Out, s: DemoSettings) -> Finding:
    """(3) Luminance offsets collapse the input ID; the trained network re-expands it."""
    clean = _row(out.table("profile_digits"), "trained", "input")
    df = out.table("profile_gradient")
    layers = _layers(df, "trained")
    g_in = _row(df, "trained", "input")
    ratio, rlo, rhi = _ratio_ci(g_in["twonn_full"], g_in["twonn_stderr"], clean["twonn_full"],
                                clean["twonn_stderr"])
    collapsed = bool(rhi < 1)
    hidden = [ly for ly in layers if ly not in ("input", "output")]
    peak_layer = max(hidden, key=lambda ly: _row(df, "trained", ly)["twonn_full"])
    pk = _row(df, "trained", peak_layer)
    rise, lo, hi = _diff_ci(pk["twonn_full"], pk["twonn_stderr"], g_in["twonn_full"],
                            g_in["twonn_stderr"])
    expanded = bool(lo > 0)
    lastl = layers[-1]
    la = _row(df, "trained", lastl)
    drop, dlo, dhi = _diff_ci(la["twonn_full"], la["twonn_stderr"], pk["twonn_full"],
                              pk["twonn_stderr"])
    falls = bool(dhi < 0)
    u_peak = max(_row(df, "untrained", ly)["twonn_full"] for ly in hidden)
    details = (
        _detail("input ID with offsets / clean input ID", ratio, rlo, rhi,
                criterion="interval below 1 (the input ID collapses)", shown=collapsed),
        _detail(f"trained: peak hidden ID ({peak_layer}) − input ID", rise, lo, hi,
                criterion="interval above 0 (re-expansion)", shown=expanded),
        _detail(f"trained: ID({lastl}) − peak ID", drop, dlo, dhi,
                criterion="interval below 0 (then compression: a hunchback)", shown=falls),
        _detail("untrained: peak hidden ID − input ID", u_peak - g_in["twonn_full"],
                criterion="reported for comparison"),
    )
    shown = collapsed and expanded and falls
    reading = (
        f"One random brightness offset per image (λ ~ U(0, {s.gradient_strength:g}) times the "
        f"intensity range, added to every pixel) lowers the input ID from "
        f"{_fmt(clean['twonn_full'])} to {_fmt(g_in['twonn_full'])} (ratio {_fmt(ratio)}, "
        f"95% interval {_ci(rlo, rhi)}). The trained CNN "
        + (f"re-expands it to {_fmt(pk['twonn_full'])} at {peak_layer} (+{_fmt(rise)}, "
           f"interval {_ci(lo, hi)})" if expanded else
           f"does not significantly re-expand it (peak {_fmt(pk['twonn_full'])} at "
           f"{peak_layer}, change {_fmt(rise)}, interval {_ci(lo, hi)})")
        + f", then compresses to {_fmt(la['twonn_full'])} at the {lastl}"
        + (" — the hunchback." if shown else "; the full hunchback is not shown here.")
        + f" The untrained copy peaks at {_fmt(u_peak)}. Ansuini et al. used offsets up to "
          f"300× the range on MNIST and trained for 3 000 epochs; on a CPU budget the offsets "
          f"here are milder, so the collapse is smaller than their ≈3.")
    fig = out.save_figure("profile_gradient", _figs().plot_profiles(
        df, ["trained", "untrained"], pca=False,
        title="Digits with one random brightness offset per image",
        mark={"clean digits input ID": float(clean["twonn_full"])}))
    return Finding(
        "hunchback", "Luminance offsets: the input ID collapses, the network re-expands it",
        "Adding one random brightness offset per image makes MNIST's input ID ≈ 3; the trained "
        "network re-expands it in its first layers, then compresses it — the hunchback "
        "(Ansuini et al. 2019).", reading, value=float(rise),
        value_label=f"peak hidden ID − input ID ({peak_layer})", interval=(lo, hi),
        shown=shown, figures=(fig,), tables=("tables/profile_gradient.csv",),
        criterion="input ID collapses, a hidden layer rises above the input and the last "
                  "layer falls below the peak, each by its 95% interval",
        details=details)


def finding_shuffled_labels(out: _Out, s: DemoSettings) -> Finding:
    """(4) Training on shuffled labels raises the last-hidden-layer ID (Ansuini et al.)."""
    df = out.table("profile_digits")
    hist = out.table("training_digits")
    layer = "hidden" if "hidden" in set(df["layer"]) else _layers(df, "trained")[-2]
    t, sh, u = (_row(df, m, layer) for m in ("trained", "shuffled", "untrained"))
    diff, lo, hi = _diff_ci(sh["twonn_full"], sh["twonn_stderr"], t["twonn_full"],
                            t["twonn_stderr"])
    shown = bool(lo > 0)

    def acc(model: str) -> float:
        h = hist[hist["model"] == model]
        return float(h.sort_values("epoch")["train_acc"].iloc[-1])

    rows = [{"label": f"{m} labels" if m != "untrained" else "untrained", "value":
             r["twonn_full"], "ci_low": r["twonn_ci_low"], "ci_high": r["twonn_ci_high"]}
            for m, r in (("trained", t), ("shuffled", sh), ("untrained", u))]
    rows[0]["label"] = "trained (true labels)"
    rows[1]["label"] = "shuffled labels"
    fig = out.save_figure("shuffled_labels", _figs().plot_last_hidden(
        rows, title="Last hidden layer: true vs shuffled labels"))
    reading = (f"On the training images, the last hidden layer of the network trained on true "
               f"labels has ID {_fmt(t['twonn_full'])} (training accuracy "
               f"{_fmt(acc('trained'))}); trained on shuffled labels (training accuracy "
               f"{_fmt(acc('shuffled'))}) it has {_fmt(sh['twonn_full'])}: "
               f"{'higher' if shown else 'not significantly higher'} by {_fmt(diff)} "
               f"(95% interval {_ci(lo, hi)}). Untrained: {_fmt(u['twonn_full'])}.")
    return Finding(
        "shuffled_labels", "Shuffled labels raise the last-hidden-layer ID",
        "A network trained on randomly shuffled labels has a much higher ID in its last hidden "
        "layer (MNIST: 21.4 vs 7.8; Ansuini et al. 2019).", reading, value=float(diff),
        value_label="ID shuffled − ID true labels", interval=(lo, hi), shown=shown,
        figures=(fig,), tables=("tables/profile_digits.csv", "tables/training_digits.csv"),
        criterion="the 95% interval of the difference lies above 0",
        details=(_detail("trained (true labels)", t["twonn_full"], t["twonn_ci_low"],
                         t["twonn_ci_high"]),
                 _detail("shuffled labels", sh["twonn_full"], sh["twonn_ci_low"],
                         sh["twonn_ci_high"]),
                 _detail("training accuracy, shuffled labels", acc("shuffled"))))


def _hidden_id_finding(out: _Out, points: Any, *, seed: int, n_bootstrap: int,
                       label: str, where: str, table: str) -> Finding:
    from ..analysis import correlation_ci

    key, title = "hidden_id_vs_error", "Last-hidden-layer ID vs test error"
    claim = ("Across networks, a lower ID in the last hidden layer goes with a lower test "
             "error (Pearson r = 0.94 over 14 ImageNet CNNs; Ansuini et al. 2019).")
    if len(points) < 3:
        return _not_testable(key, title, claim, f"{len(points)} network(s) measured (need 3)")
    pr = correlation_ci(points["d_repr"], points["test_error"], method="pearson",
                        n_bootstrap=n_bootstrap, seed=seed)
    sp = correlation_ci(points["d_repr"], points["test_error"], method="spearman",
                        n_bootstrap=n_bootstrap, seed=seed + 1)
    if not math.isfinite(pr["r"]):
        return _not_testable(key, title, claim, "the IDs or the errors do not vary")
    shown = bool(pr["ci_low"] > 0)
    fig = out.save_figure("hidden_id_vs_error", _figs().plot_id_vs_error(
        points, label=label, r=pr["r"]))
    reading = (f"Over {pr['n']} {where}, Pearson r = {_fmt(pr['r'])} (95% bootstrap interval "
               f"{_ci(pr['ci_low'], pr['ci_high'])}), Spearman ρ = {_fmt(sp['r'])}. "
               + ("The positive correlation is shown." if shown else
                  "The interval includes 0 or lies below it: the correlation is not shown on "
                  "this small family of small networks."))
    return Finding(key, title, claim, reading, value=pr["r"], value_label="Pearson r",
                   interval=(pr["ci_low"], pr["ci_high"]), shown=shown, figures=(fig,),
                   tables=(table,),
                   criterion="the 95% bootstrap interval of Pearson r lies above 0",
                   details=(_detail("Pearson r", pr["r"], pr["ci_low"], pr["ci_high"],
                                    criterion="interval above 0", shown=shown),
                            _detail("Spearman ρ", sp["r"], sp["ci_low"], sp["ci_high"])))


def finding_hidden_id_vs_error(out: _Out, s: DemoSettings) -> Finding:
    """(5) Last-hidden-layer ID vs test error across a family of architectures."""
    pts = out.table("architectures")
    return _hidden_id_finding(out, pts, seed=s.seed, n_bootstrap=s.n_bootstrap, label="label",
                              where="networks of four architecture families trained on the "
                                    "ten digits", table="tables/architectures.csv")


def _scaling_finding(out: _Out, df: Any, *, seed: int, n_bootstrap: int,
                     pairs: Any = None, table: str) -> Finding:
    from ..analysis import default_domain, joint_scaling_fit, scaling_exponents
    from ..report.sweep_plots import plot_joint_fit

    key, title = "scaling_law", "Test loss vs training size, d_data and K_F"
    claim = ("log L ≲ −(1/d_data)·log N + log K_F + a: the loss falls more slowly with N on "
             "data of higher intrinsic dimension and is higher for sharper labels (Konz & "
             "Mazurowski 2024).")
    domain = default_domain(df, None)
    try:
        fit = joint_scaling_fit(df, domain=domain, n_bootstrap=n_bootstrap, seed=seed)
    except InputError as exc:
        return _not_testable(key, title, claim, str(exc))
    exps = scaling_exponents(df, n_bootstrap=n_bootstrap, seed=seed)
    ex_name = out.save_table("scaling_exponents", exps)
    fit_name = out.save_table("joint_fit", fit.table())
    c, (clo, chi) = fit["c"], fit.interval("c")
    b, (blo, bhi) = fit["beta"], fit.interval("beta")
    c_ok, b_ok = bool(chi < 0), bool(blo > 0)
    alpha = exps["exponent"].to_numpy(float)
    inv = exps["inv_d_data"].to_numpy(float)
    ok = np.isfinite(alpha) & np.isfinite(inv)
    # L ≤ C·N^(−1/d_data) for all N needs the loss to fall at least that fast: α ≥ 1/d_data
    faster = float(np.mean(alpha[ok] >= inv[ok])) if ok.any() else math.nan
    figures = []
    if pairs is not None:
        figures.append(out.save_figure("pairs_d_data_k_f", _figs().plot_pairs(pairs)))
    if {"source", "d_data_mle_pope"} <= set(df.columns):
        figures.append(out.save_figure("learning_curves", _figs().plot_learning_curves(df)))
    figures.append(out.save_figure("joint_fit", plot_joint_fit(df, fit)))
    pair_txt = ""
    if pairs is not None:
        pair_txt = (f"Over the {len(pairs)} digit class pairs, d_data (MLE k=20, Pope's k−2) "
                    f"ranges {_fmt(pairs['d_data_mle_pope'].min())}–"
                    f"{_fmt(pairs['d_data_mle_pope'].max())} and K_F "
                    f"{_fmt(pairs['label_sharpness'].min())}–"
                    f"{_fmt(pairs['label_sharpness'].max())} (intensities in [0, 1]). ")
    reading = (
        pair_txt
        + "The joint fit log L = a + c·log N/d_data + β·log K_F"
        + (f" (+ an offset per {domain})" if domain else "")
        + f" over {fit.n} runs gives c = {_fmt(c)} (95% interval {_ci(clo, chi)}; theory: "
        f"−1 when the bound is tight) and β = {_fmt(b)} ({_ci(blo, bhi)}; theory: +1), "
        f"R² = {_fmt(fit.r2)}. "
        + ("The loss falls with N/d_data as predicted" if c_ok else
           "The N/d_data dependence is not resolved")
        + (" and rises with K_F." if b_ok else
           "; the K_F term is not resolved (K_F varies little between tasks here).")
        + (f" The measured exponent α (L ∝ N^−α) is ≥ 1/d_data (the loss falls at least as fast "
           f"as the bound's N^(−1/d_data)) in {_fmt(100 * faster, 3)}% of "
           f"the {int(ok.sum())} tasks." if ok.any() else ""))
    details = [
        _detail("c (coefficient of log N / d_data)", c, clo, chi,
                criterion="interval below 0", shown=c_ok),
        _detail("β (coefficient of log K_F)", b, blo, bhi, criterion="interval above 0",
                shown=b_ok),
        _detail("R² of the joint fit", fit.r2),
        _detail("fraction of tasks with α ≥ 1/d_data", faster),
    ]
    if domain is not None:
        within = []
        for dom, g in df.groupby(df[domain].astype(str), sort=True):
            try:
                fd = joint_scaling_fit(g, n_bootstrap=n_bootstrap, seed=seed)
            except InputError:
                continue
            for term, name in (("c", "c"), ("beta", "β")):
                lo_, hi_ = fd.interval(term)
                details.append(_detail(f"within {dom} only: {name}", fd[term], lo_, hi_))
            within.append(f"{dom}: c = {_fmt(fd['c'])} {_ci(*fd.interval('c'))}, β = "
                          f"{_fmt(fd['beta'])} {_ci(*fd.interval('beta'))}, R² = "
                          f"{_fmt(fd.r2)}")
        if within:
            reading += " Fitted within each domain separately: " + "; ".join(within) + "."
    details = tuple(details)
    tables = ((table,) + (("tables/pairs.csv",) if pairs is not None else ())
              + (fit_name, ex_name))
    return Finding(key, title, claim, reading, value=float(c),
                   value_label="c in log L = a + c·log N/d_data + β·log K_F",
                   interval=(clo, chi), shown=c_ok and b_ok, figures=tuple(figures),
                   tables=tables,
                   criterion="c's 95% bootstrap interval lies below 0 and β's above 0",
                   details=details)


def finding_scaling_law(out: _Out, s: DemoSettings) -> Finding:
    """(6) d_data and K_F of all 45 digit class pairs; test loss vs N; the scaling-law fit."""
    return _scaling_finding(out, out.table("sweep_results"), seed=s.seed,
                            n_bootstrap=s.n_bootstrap, pairs=out.table("pairs"),
                            table="tables/sweep_results.csv")


def _robustness_finding(out: _Out, df: Any, *, seed: int, n_bootstrap: int,
                        table: str) -> Finding:
    import pandas as pd

    from ..analysis import robustness_columns, robustness_vs_sharpness
    from ..report.sweep_plots import plot_robustness

    key, title = "robustness", "Adversarial vulnerability vs label sharpness K_F"
    claim = ("log R ≳ −log K_F + b: networks trained on sharper-labelled data lose more under "
             "attack (FGSM loss penalty at ε = 2/255 correlates with K_F, r = 0.70; Konz & "
             "Mazurowski 2024).")
    cols = robustness_columns(df)
    if not cols or "label_sharpness" not in df.columns:
        return _not_testable(key, title, claim, "no robustness or K_F columns in the results")
    rows = []
    for i, (method, eps) in enumerate(sorted(cols)):
        t = robustness_vs_sharpness(df, method=method, eps=eps, n_bootstrap=n_bootstrap,
                                    seed=seed + 10 * i)
        rows.append(t)
    table_all = pd.concat(rows, ignore_index=True)
    corr_name = out.save_table("robustness_vs_sharpness", table_all)
    head = table_all[(table_all["metric"] == "loss_penalty")
                     & (table_all["correlation"] == "pearson")]
    methods = sorted({m for m, _ in cols})
    main_method = "fgsm" if "fgsm" in methods else methods[0]
    cand = head[head["method"] == main_method]
    main = cand.iloc[int(np.argmin(np.abs(cand["eps"].to_numpy(float) - 2 / 255)))]
    shown = bool(main["ci_low"] > 0)
    fig1 = out.save_figure("robustness_vs_sharpness", plot_robustness(
        df, method=main_method, eps=float(main["eps"])))
    fig2 = out.save_figure("robustness_vs_eps", _figs().plot_correlation_vs_eps(head))
    n_sig = int((head["ci_low"] > 0).sum())
    reading = (f"Per task (mean over its runs), the {main_method.upper()} loss penalty at "
               f"ε = {_fmt(float(main['eps']) * 255)}/255 correlates with K_F at Pearson "
               f"r = {_fmt(main['r'])} (95% bootstrap interval "
               f"{_ci(main['ci_low'], main['ci_high'])}, {int(main['n'])} tasks). Over the "
               f"whole sweep of attacks and radii, {n_sig} of {len(head)} correlations have an "
               f"interval above 0. "
               + ("The negative link between robustness and K_F is shown." if shown else
                  "At the paper's setting the correlation is not shown on these tasks."))
    details = [
        _detail(f"{r['method'].upper()} ε = {_fmt(r['eps'] * 255)}/255: Pearson r", r["r"],
                r["ci_low"], r["ci_high"], criterion="interval above 0",
                shown=bool(r["ci_low"] > 0))
        for _, r in head.sort_values(["method", "eps"]).iterrows()]
    main_eps = float(main["eps"])
    sp = table_all[(table_all["metric"] == "loss_penalty")
                   & (table_all["correlation"] == "spearman")
                   & (table_all["method"] == main_method)
                   & np.isclose(table_all["eps"].to_numpy(float), main_eps)]
    if len(sp):
        r = sp.iloc[0]
        details.append(_detail(f"{main_method.upper()} ε = {_fmt(main_eps * 255)}/255: "
                               f"Spearman ρ", r["r"], r["ci_low"], r["ci_high"]))
    if "domain" in df.columns and df["domain"].astype(str).nunique() > 1:
        within = []
        for dom, g in df.groupby(df["domain"].astype(str), sort=True):
            if g[["dataset", "task"]].drop_duplicates().shape[0] < 3:
                continue
            t = robustness_vs_sharpness(g, method=main_method, eps=main_eps,
                                        n_bootstrap=n_bootstrap, seed=seed)
            r = t[(t["metric"] == "loss_penalty") & (t["correlation"] == "pearson")].iloc[0]
            details.append(_detail(f"within {dom} only: Pearson r ({int(r['n'])} tasks)",
                                   r["r"], r["ci_low"], r["ci_high"]))
            within.append(f"{dom} {_fmt(r['r'])} {_ci(r['ci_low'], r['ci_high'])}")
        if within:
            reading += (" Within each domain separately (Pearson r, 95% interval): "
                        + "; ".join(within) + ".")
    details = tuple(details)
    return Finding(key, title, claim, reading, value=float(main["r"]),
                   value_label=f"Pearson r ({main_method.upper()} loss penalty vs K_F)",
                   interval=(float(main["ci_low"]), float(main["ci_high"])), shown=shown,
                   figures=(fig1, fig2), tables=(corr_name, table),
                   criterion=f"the 95% bootstrap interval of r at {main_method.upper()} "
                             f"ε ≈ 2/255 lies above 0", details=details)


def finding_robustness(out: _Out, s: DemoSettings) -> Finding:
    """(7) Adversarial loss penalty (FGSM and PGD over an ε sweep) vs K_F."""
    return _robustness_finding(out, out.table("sweep_results"), seed=s.seed,
                               n_bootstrap=s.n_bootstrap, table="tables/sweep_results.csv")


def _repr_finding(out: _Out, df: Any, *, table: str) -> Finding:
    from ..analysis import DEFAULT_D_DATA, repr_vs_data
    from ..report.sweep_plots import plot_repr_vs_data

    key, title = "repr_vs_data", "d_repr ≤ d_data"
    claim = ("The intrinsic dimension of the learned representation is bounded by the data's: "
             "d_repr ≲ d_data (Konz & Mazurowski 2024).")
    if "d_repr" not in df.columns or DEFAULT_D_DATA not in df.columns:
        return _not_testable(key, title, claim, "d_repr or d_data was not measured")
    t = repr_vs_data(df)
    name = out.save_table("repr_vs_data", t)
    a = t[t["group"] == "(all)"].iloc[0]
    shown = bool(a["ci_low"] >= BOUND_FRACTION)
    fig = out.save_figure("repr_vs_data", plot_repr_vs_data(df))
    reading = (f"d_repr (TwoNN, last hidden layer, training images) ≤ d_data (MLE k=20, "
               f"Pope's k−2, training set) in {int(a['n_leq'])} of {int(a['n_runs'])} runs "
               f"(fraction {_fmt(a['fraction_leq'])}, 95% Wilson interval "
               f"{_ci(a['ci_low'], a['ci_high'])}); the ratio d_repr/d_data has median "
               f"{_fmt(a['ratio_median'])} (range {_fmt(a['ratio_min'])}–"
               f"{_fmt(a['ratio_max'])}).")
    details = [_detail("fraction of runs with d_repr ≤ d_data", a["fraction_leq"], a["ci_low"],
                       a["ci_high"], criterion=f"lower bound ≥ {BOUND_FRACTION}", shown=shown),
               _detail("median d_repr / d_data", a["ratio_median"])]
    if "d_data_twonn" in df.columns:
        # the same estimator on both sides: no difference of finite-sample bias
        b = repr_vs_data(df, d_data="d_data_twonn", by=None).iloc[0]
        details.append(_detail("same estimator (TwoNN for both): fraction ≤", b["fraction_leq"],
                               b["ci_low"], b["ci_high"]))
        reading += (f" With TwoNN on both sides (the same estimator, hence the same "
                    f"finite-sample bias) the fraction is {_fmt(b['fraction_leq'])} "
                    f"({_ci(b['ci_low'], b['ci_high'])}).")
    for _, r in t[t["group"] != "(all)"].iterrows():
        details.append(_detail(f"{r['group']}: fraction ≤", r["fraction_leq"], r["ci_low"],
                               r["ci_high"]))
    if "n_train" in df.columns:
        by_n = repr_vs_data(df, by=("n_train",))
        by_n = by_n[by_n["group"] != "(all)"]
        for _, r in by_n.iterrows():
            details.append(_detail(f"N = {r['group']}: fraction ≤", r["fraction_leq"],
                                   r["ci_low"], r["ci_high"]))
        if len(by_n) > 1:
            reading += (" By training-set size N: " + ", ".join(
                f"{_fmt(r['fraction_leq'])} at N = {r['group']}" for _, r in by_n.iterrows())
                + " (d_data is measured on the N training images: MLE with k = 20 reads "
                  "low on few points).")
    return Finding(key, title, claim, reading, value=float(a["fraction_leq"]),
                   value_label="fraction of runs with d_repr ≤ d_data",
                   interval=(float(a["ci_low"]), float(a["ci_high"])), shown=shown,
                   figures=(fig,), tables=(name, table),
                   criterion=f"the lower 95% Wilson bound of the fraction is ≥ "
                             f"{BOUND_FRACTION}", details=tuple(details))


def finding_repr_vs_data(out: _Out, s: DemoSettings) -> Finding:
    """(8) d_repr ≤ d_data across runs."""
    return _repr_finding(out, out.table("sweep_results"), table="tables/sweep_results.csv")


FINDINGS: tuple[Callable[[_Out, DemoSettings], Finding], ...] = (
    finding_id_below_embedding, finding_trained_vs_untrained, finding_hunchback,
    finding_shuffled_labels, finding_hidden_id_vs_error, finding_scaling_law,
    finding_robustness, finding_repr_vs_data,
)


def _figs():
    from ..report import figures

    return figures


# ---------------------------------------------------------------------------------------------
# Pages


_INTRO = (
    "idscope reproduces the findings of Ansuini et al. (NeurIPS 2019, intrinsic dimension of "
    "representations across depth) and Konz & Mazurowski (ICLR 2024, d_data, label sharpness "
    "K_F, scaling and robustness) on scikit-learn's 1 797 handwritten digits (8x8, "
    "intensities scaled to [0, 1]) and on synthetic 8x8 images of known intrinsic dimension. "
    "Each finding states the paper's claim, the number measured here with its 95% interval, "
    "and a verdict decided from that interval by the stated criterion; where this small "
    "data does not show an effect, the page says so. IDs are TwoNN (linear fit on 90% of "
    "the ratios) with 95% bootstrap intervals over points unless stated otherwise."
)


def _read_meta(root: Path) -> dict[str, Any]:
    path = root / DEMO_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"report: cannot read {path}: {exc}") from None
    if meta.get("format") != FORMAT:
        raise InputError(f"report: {path} is not an idscope demo record")
    return meta


def build_report(out_dir: str | Path) -> Report:
    """The demo's page from the tables in ``out_dir`` (figures are redrawn)."""
    root = Path(out_dir)
    meta = _read_meta(root)
    s = DemoSettings.from_dict(meta["settings"])
    out = _Out(root)
    findings = tuple(fn(out, s) for fn in FINDINGS)
    mode = "quick" if s.quick else "full"
    notes = [f"This is the {mode} demo (seed {s.seed}). Raw results: tables/*.csv and the "
             f"sweep's run files in sweep/; rebuild this page with `idscope report "
             f"{meta.get('out_arg', 'DIR')}`."]
    if meta.get("timings"):
        notes.append("Wall time per experiment (s): " + ", ".join(
            f"{k} {v:g}" for k, v in meta["timings"].items())
            + (" (experiments done earlier were reused)" if meta.get("resumed") else "") + ".")
    return Report(f"idscope demo: intrinsic dimension and label sharpness ({mode})", _INTRO,
                  findings, settings={"demo": s.to_dict(), "sweep_config": sweep_config(s)},
                  versions=meta.get("versions", {}),
                  runtime_seconds=meta.get("runtime_seconds"), command=meta.get("command", ""),
                  notes=tuple(notes),
                  extra_tables=("tables/training_digits.csv", "tables/training_gradient.csv"))


def run_demo(out_dir: str | Path = "idscope-demo", *, quick: bool = False, seed: int = 0,
             workers: int | None = None, progress: bool | None = None, resume: bool = False,
             command: str = "") -> Report:
    """Run every experiment, save the raw tables and write ``out_dir/index.html``.

    Parameters
    ----------
    out_dir : path
        Output folder (created): ``index.html``, ``report.json``, ``demo.json``,
        ``tables/*.csv``, ``figures/*.png``, ``sweep/``.
    quick : bool
        The quick demo (about a minute on two cores) instead of the full one (about ten).
    seed : int
        Seeds the data splits, the offsets, the label shuffling, every model's initialisation
        and batch order, the resamples and the bootstrap intervals.
    workers : int, optional
        Processes for the sweep (default 2 for the full demo, 1 for the quick one).
    progress : bool, optional
        tqdm bars on stderr; default: when stderr is a terminal.
    resume : bool
        Keep the tables of experiments already done with the same settings (the sweep always
        skips runs already in ``out_dir/sweep``).
    command : str
        The command line, recorded on the page.

    Returns
    -------
    Report
    """
    from tqdm.auto import tqdm

    s = DemoSettings.preset(quick=quick, seed=seed, workers=workers)
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    out = _Out(root)
    previous = None
    if resume and (root / DEMO_FILE).is_file():
        previous = _read_meta(root).get("settings")
    same = previous is not None and previous == s.to_dict()
    meta = {"format": FORMAT, "version": 1, "settings": s.to_dict(), "versions": versions(),
            "command": command, "out_arg": str(out_dir), "runtime_seconds": None,
            "status": "running"}
    write_json(root / DEMO_FILE, meta)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    run = _Run(out, s, show)
    t0 = time.perf_counter()
    with tqdm(total=_n_steps(s), desc="demo", unit="step", disable=not show,
              file=sys.stderr) as bar:
        run.bar = bar
        timings: dict[str, float] = {}
        for name, fn, tables in _EXPERIMENTS:
            if same and all(out.has_table(t) for t in tables):
                bar.update(_steps_of(name, s))
                continue
            t1 = time.perf_counter()
            fn(run)
            timings[name] = round(time.perf_counter() - t1, 1)
        run.step("writing the report")
        meta.update(runtime_seconds=time.perf_counter() - t0, status="done", timings=timings,
                    resumed=bool(same))
        write_json(root / DEMO_FILE, meta)
        report = build_report(root)
        write_report(report, root)
        bar.update(1)
    return report


def _steps_of(name: str, s: DemoSettings) -> int:
    return {"digits": 3, "gradient": 2, "architectures": len(s.architectures), "pairs": 1,
            "sweep": 1}[name]


# ---------------------------------------------------------------------------------------------
# Pages for sweeps written by ``idscope sweep``


def build_sweep_report(sweep_dir: str | Path, *, n_bootstrap: int = 1000, seed: int = 0
                       ) -> Report:
    """A page for a sweep folder: the analyses its results table allows (scaling law,
    robustness vs K_F, d_repr vs d_data, last-hidden ID vs test error), with tables under
    ``tables/`` and figures under ``figures/`` of that folder."""
    from ..analysis import hidden_id_points
    from ..sweeps.results import load_results

    root = Path(sweep_dir)
    df = load_results(root)
    if df.empty:
        raise InputError(f"report: {root} holds no finished runs")
    df = df.drop(columns=[c for c in ("history",) if c in df.columns])
    out = _Out(root)
    table = out.save_table("results", df)
    findings: list[Finding] = []
    if {"d_repr", "test_acc"} <= set(df.columns) or {"d_repr", "test_error"} <= set(df.columns):
        pts = hidden_id_points(df)
        n_models = pts["model"].nunique() if "model" in pts.columns else 0
        if n_models >= 3:
            findings.append(_hidden_id_finding(
                out, pts.assign(label=pts["model"].astype(str)), seed=seed,
                n_bootstrap=n_bootstrap, label="label", where="models (means per task)",
                table=table))
        else:
            findings.append(_not_testable(
                "hidden_id_vs_error", "Last-hidden-layer ID vs test error",
                "Across networks, a lower ID in the last hidden layer goes with a lower test "
                "error (Ansuini et al. 2019).",
                f"the sweep trains {n_models} model(s); a correlation across architectures "
                f"needs at least 3"))
    findings.append(_scaling_finding(out, df, seed=seed, n_bootstrap=n_bootstrap,
                                     table=table))
    findings.append(_robustness_finding(out, df, seed=seed, n_bootstrap=n_bootstrap,
                                        table=table))
    findings.append(_repr_finding(out, df, table=table))
    config: dict[str, Any] = {}
    manifest = root / "sweep.json"
    if manifest.is_file():
        try:
            config = json.loads(manifest.read_text(encoding="utf-8")).get("config", {})
        except ValueError:
            config = {}
    seconds = float(df["seconds"].sum()) if "seconds" in df.columns else None
    intro = (f"Analyses of the sweep in {root.name}: {len(df)} finished run(s). Each finding "
             f"states the number measured with its 95% interval and a verdict decided from "
             f"that interval; runtime below is the sum of the runs' training and measuring "
             f"times.")
    return Report(f"idscope sweep report: {config.get('name', root.name)}", intro,
                  tuple(findings), settings={"sweep_config": config,
                                             "analysis": {"n_bootstrap": n_bootstrap,
                                                          "seed": seed}},
                  versions=versions(), runtime_seconds=seconds,
                  command=f"idscope report {root}")


def rebuild(out_dir: str | Path, *, n_bootstrap: int = 1000, seed: int = 0) -> Path:
    """Rebuild ``out_dir/index.html`` from saved results: a demo folder (``demo.json``) or a
    sweep folder (``runs/``, ``results.parquet`` or ``results.csv``). Returns the page."""
    root = Path(out_dir)
    if not root.is_dir():
        raise InputError(f"report: no such folder: {root}")
    if (root / DEMO_FILE).is_file():
        report = build_report(root)
    elif (root / "runs").is_dir() or any((root / n).is_file()
                                          for n in ("results.parquet", "results.csv")):
        report = build_sweep_report(root, n_bootstrap=n_bootstrap, seed=seed)
    else:
        raise InputError(f"report: {root} holds neither a demo ({DEMO_FILE}) nor a sweep's "
                         f"results (runs/, results.parquet, results.csv)")
    return write_report(report, root)
