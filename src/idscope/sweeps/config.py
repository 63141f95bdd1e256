"""Sweep configuration: a TOML file parsed into validated, immutable specifications.

Parse → validate → plan (:mod:`idscope.sweeps.plan`): this module checks everything that
can be checked without data (types, names, ranges); the plan checks what needs the data
(class labels, training sizes against class counts) and the models (built once on the real
input shape). Every problem is one :class:`~idscope.InputError` naming the file and the
setting, raised before any run starts.

A configuration (all tables but ``datasets``, ``models`` and ``training.sizes`` optional)::

    name = "digits-pairs"                    # default: the file's stem

    [[datasets]]
    name = "digits"                          # label in the results (default: the source)
    source = "sklearn:digits"                # anything idscope.data.load accepts
    options = {}                             # keywords for idscope.data.load
    tasks = [[0, 1], [3, 8]]                 # class pairs (labels or names), or "all-pairs"
    scale = "unit"                           # map the intensity range onto [0, 1], or "none"
    intensity_range = [0, 16]                # default: the loader's, else the data's min/max
    domain = "natural"                       # optional group for the joint scaling fit

    [[datasets]]
    name = "synthetic-d4"
    synthetic = "manifold_images"            # a generator of idscope.data.synthetic
    params = { n = 2000, intrinsic_dim = 4, image_size = 8, margin = 0.1, seed = 0 }

    [[models]]
    name = "mlp"                             # a built-in architecture or "package.module:fn"
    kwargs = { depth = 2, width = 64 }
    label = "mlp-2x64"                       # default: the name

    [training]
    sizes = [100, 200]                       # training-set sizes N (class-balanced)
    test_size = 200                          # held-out, class-balanced, disjoint from training
    seeds = [0, 1]                           # training subset, initialisation and batch order
    split_seed = 0                           # the test split (shared by all runs of a task)
    epochs = 3
    batch_size = 64
    lr = 1e-3
    optimizer = "adam"                       # "adam", "adamw" or "sgd"
    weight_decay = 0.0
    checkpoint = "last"                      # "last" (the papers' choice) or "best"
    device = "cpu"
    threads = 1                              # torch threads per run (0: leave as is)

    [measure]
    d_data = true                            # MLE k=20 (both conventions) + TwoNN, training set
    label_sharpness = true                   # exact K_F of the training set
    d_repr = "train"                         # TwoNN of the last hidden layer: "train", "test"
                                             # or false
    [measure.robustness]                     # or robustness = false
    eps = [0.0078431, 0.0313725]             # fractions of the intensity range, in [0, 1]
    methods = ["fgsm", "pgd"]

    [executor]                               # defaults for ``idscope sweep``; flags override
    kind = "local"                           # "local" or "ray"
    workers = 1
    address = ""                             # Ray cluster address ("" = a local instance)
    num_gpus = 0                             # GPUs per Ray task
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._errors import InputError

__all__ = [
    "DatasetSpec", "ModelSpec", "TrainingSpec", "MeasureSpec", "ExecutorSpec", "SweepConfig",
    "load_config", "parse_config", "canonical_json",
    "SYNTHETIC_GENERATORS", "OPTIMIZERS", "ROBUSTNESS_METHODS",
]

SYNTHETIC_GENERATORS = ("manifold_images", "manifold_points")
# A sweep's name becomes its default output folder (``sweep-NAME``): a plain name, no path.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+ -]{0,99}")
# Size settings of the built-in architectures: positive integers (or lists of them).
_POSITIVE_KWARGS = ("width", "widths", "depth", "hidden_dim", "channels", "fc_width",
                    "convs_per_block", "blocks")
OPTIMIZERS = ("adam", "adamw", "sgd")
CHECKPOINTS = ("last", "best")
ROBUSTNESS_METHODS = ("fgsm", "pgd")
SCALES = ("unit", "none")
REPR_SPLITS = ("train", "test")
EXECUTORS = ("local", "ray")


def canonical_json(obj: Any) -> str:
    """The one serialisation that run keys hash: sorted keys, no spaces, ASCII, exact floats."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


# ---------------------------------------------------------------------------------------------
# Specifications (frozen; mappings are kept as canonical JSON so the objects hash and pickle)


@dataclass(frozen=True)
class DatasetSpec:
    """One data source: a loadable ``source`` or a ``synthetic`` generator with ``params``."""

    name: str
    source: str | None = None
    options_json: str = "{}"
    synthetic: str | None = None
    params_json: str = "{}"
    tasks: tuple[tuple[Any, Any], ...] | str = "all-pairs"
    scale: str = "unit"
    intensity_range: tuple[float, float] | None = None
    domain: str | None = None

    @property
    def options(self) -> dict[str, Any]:
        return json.loads(self.options_json)

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json)

    def identity(self) -> dict[str, Any]:
        """What defines the data (hashed into run keys); the tasks are keyed per run."""
        return {"name": self.name, "source": self.source, "options": self.options,
                "synthetic": self.synthetic, "params": self.params, "scale": self.scale,
                "intensity_range": (None if self.intensity_range is None
                                    else list(self.intensity_range)),
                "domain": self.domain}

    def to_dict(self) -> dict[str, Any]:
        out = self.identity()
        out["tasks"] = self.tasks if isinstance(self.tasks, str) else [list(t)
                                                                       for t in self.tasks]
        return out


@dataclass(frozen=True)
class ModelSpec:
    """A built-in architecture name or ``"package.module:callable"``, with keyword args."""

    name: str
    kwargs_json: str = "{}"
    label: str = ""

    @property
    def kwargs(self) -> dict[str, Any]:
        return json.loads(self.kwargs_json)

    @property
    def is_callable_path(self) -> bool:
        return ":" in self.name

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kwargs": self.kwargs, "label": self.label}


@dataclass(frozen=True)
class TrainingSpec:
    sizes: tuple[int, ...]
    test_size: int = 200
    seeds: tuple[int, ...] = (0,)
    split_seed: int = 0
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    checkpoint: str = "last"
    device: str = "cpu"
    threads: int = 1

    def optimisation(self) -> dict[str, Any]:
        """The settings that change a run's numbers (hashed into its key; not device or
        threads, which say where it runs)."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
                "optimizer": self.optimizer, "weight_decay": self.weight_decay,
                "checkpoint": self.checkpoint}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sizes"], out["seeds"] = list(self.sizes), list(self.seeds)
        return out


@dataclass(frozen=True)
class MeasureSpec:
    d_data: bool = True
    label_sharpness: bool = True
    d_repr: str | None = "train"
    robustness_eps: tuple[float, ...] = ()
    robustness_methods: tuple[str, ...] = ()

    @property
    def robustness(self) -> bool:
        return bool(self.robustness_eps)

    def to_dict(self) -> dict[str, Any]:
        return {"d_data": self.d_data, "label_sharpness": self.label_sharpness,
                "d_repr": self.d_repr, "robustness_eps": list(self.robustness_eps),
                "robustness_methods": list(self.robustness_methods)}


@dataclass(frozen=True)
class ExecutorSpec:
    kind: str = "local"
    workers: int = 1
    address: str | None = None
    num_gpus: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SweepConfig:
    """A parsed, validated sweep configuration (no data touched yet)."""

    name: str
    datasets: tuple[DatasetSpec, ...]
    models: tuple[ModelSpec, ...]
    training: TrainingSpec
    measure: MeasureSpec = field(default_factory=MeasureSpec)
    executor: ExecutorSpec = field(default_factory=ExecutorSpec)
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datasets": [d.to_dict() for d in self.datasets],
                "models": [m.to_dict() for m in self.models],
                "training": self.training.to_dict(), "measure": self.measure.to_dict(),
                "executor": self.executor.to_dict(), "path": self.path}


# ---------------------------------------------------------------------------------------------
# Parsing


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        try:
            import tomli as tomllib
        except ImportError:
            from .._errors import MissingDependencyError

            raise MissingDependencyError("reading a sweep config on Python 3.10 needs tomli "
                                         "(pip install tomli)") from None
    return tomllib


def load_config(path: str | os.PathLike) -> SweepConfig:
    """Read and validate a sweep configuration file (TOML)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"sweep config: no such file: {path}")
    tomllib = _toml()
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"sweep config {path}: invalid TOML ({exc})") from None
    return parse_config(raw, name=path.stem, where=str(path))


class _Ctx:
    """Error messages that name the file and the setting."""

    def __init__(self, where: str):
        self.where = where

    def error(self, key: str, msg: str) -> InputError:
        return InputError(f"sweep config {self.where}: {key}: {msg}")

    def table(self, raw: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.error(key, f"expected a table, got {type(raw).__name__}")
        unknown = sorted(set(raw) - set(allowed))
        if unknown:
            raise self.error(key, f"unknown setting(s) {unknown}; allowed: {list(allowed)}")
        return raw

    def integer(self, value: Any, key: str, low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, got {value!r}")
        if value < low:
            raise self.error(key, f"must be >= {low}, got {value}")
        return int(value)

    def number(self, value: Any, key: str, low: float, high: float | None = None,
               low_open: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise self.error(key, f"must be a finite number, got {value}")
        bad_low = value <= low if low_open else value < low
        if bad_low or (high is not None and value > high):
            lo = "(" if low_open else "["
            hi = f"{high}]" if high is not None else "inf)"
            raise self.error(key, f"{value} is outside {lo}{low}, {hi}")
        return value

    def string(self, value: Any, key: str, choices: tuple[str, ...] | None = None) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(key, f"must be a non-empty string, got {value!r}")
        if choices is not None and value not in choices:
            raise self.error(key, f"{value!r} is not one of {list(choices)}")
        return value

    def int_list(self, value: Any, key: str, low: int) -> tuple[int, ...]:
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.error(key, f"must be a non-empty list of integers, got {value!r}")
        out = tuple(self.integer(v, f"{key}[{i}]", low) for i, v in enumerate(value))
        if len(set(out)) != len(out):
            raise self.error(key, f"contains duplicates: {list(out)}")
        return out

    def json_table(self, value: Any, key: str) -> str:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table of keyword arguments, got {value!r}")
        try:
            return canonical_json(value)
        except (TypeError, ValueError) as exc:
            raise self.error(key, f"values must be plain numbers, strings, booleans, lists or "
                                  f"tables ({exc})") from None


def parse_config(raw: dict[str, Any], *, name: str = "sweep",
                 where: str = "<dict>") -> SweepConfig:
    """Validate a configuration already read into a dict (the TOML structure)."""
    c = _Ctx(where)
    raw = c.table(raw, "top level", ("name", "datasets", "models", "training", "measure",
                                     "executor"))
    sweep_name = c.string(raw.get("name", name), "name")
    if not _PLAIN_NAME.fullmatch(sweep_name) or ".." in sweep_name:
        raise c.error("name", f"{sweep_name!r} is not a plain name (letters, digits, '_', "
                              f"'-', '.', '+', spaces; no path): it names the default output "
                              f"folder sweep-NAME")
    datasets = _parse_datasets(c, raw.get("datasets"))
    models = _parse_models(c, raw.get("models"))
    if "training" not in raw:
        raise c.error("training", "missing (at least training.sizes is required)")
    training = _parse_training(c, raw["training"])
    measure = _parse_measure(c, raw.get("measure", {}))
    executor = _parse_executor(c, raw.get("executor", {}))
    return SweepConfig(sweep_name, datasets, models, training, measure, executor,
                       None if where == "<dict>" else where)


def _parse_datasets(c: _Ctx, raw: Any) -> tuple[DatasetSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise c.error("datasets", "at least one [[datasets]] table is required")
    out, names = [], set()
    for i, d in enumerate(raw):
        key = f"datasets[{i}]"
        d = c.table(d, key, ("name", "source", "options", "synthetic", "params", "tasks",
                             "scale", "intensity_range", "domain"))
        has_source, has_synth = "source" in d, "synthetic" in d
        if has_source == has_synth:
            raise c.error(key, "give exactly one of 'source' (a file or sklearn:NAME) and "
                               "'synthetic' (a generator name)")
        source = synthetic = None
        if has_source:
            source = c.string(d["source"], f"{key}.source")
            if "params" in d:
                raise c.error(f"{key}.params", "only for synthetic datasets (use 'options' "
                                               "for a source's loader keywords)")
        else:
            synthetic = c.string(d["synthetic"], f"{key}.synthetic", SYNTHETIC_GENERATORS)
            if "options" in d:
                raise c.error(f"{key}.options", "only for a 'source' (use 'params' for a "
                                                "synthetic generator)")
        options_json = c.json_table(d.get("options", {}), f"{key}.options")
        params_json = c.json_table(d.get("params", {}), f"{key}.params")
        label = d.get("name")
        if label is None:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(json.loads(params_json).items()))
            label = source or f"{synthetic}({shown})"
        label = c.string(label, f"{key}.name")
        if label in names:
            raise c.error(f"{key}.name", f"dataset name {label!r} is used twice; give each "
                                         f"dataset a distinct 'name'")
        names.add(label)
        tasks = _parse_tasks(c, d.get("tasks", [[0, 1]] if synthetic else "all-pairs"),
                             f"{key}.tasks")
        scale = c.string(d.get("scale", "unit"), f"{key}.scale", SCALES)
        rng = d.get("intensity_range")
        if rng is not None:
            if not isinstance(rng, list) or len(rng) != 2:
                raise c.error(f"{key}.intensity_range", f"must be [low, high], got {rng!r}")
            lo = c.number(rng[0], f"{key}.intensity_range[0]", -float("inf"))
            hi = c.number(rng[1], f"{key}.intensity_range[1]", -float("inf"))
            if not hi > lo:
                raise c.error(f"{key}.intensity_range", f"high must exceed low, got {rng!r}")
            rng = (lo, hi)
        domain = d.get("domain")
        if domain is not None:
            domain = c.string(domain, f"{key}.domain")
        out.append(DatasetSpec(label, source, options_json, synthetic, params_json, tasks,
                               scale, rng, domain))
    return tuple(out)


def _parse_tasks(c: _Ctx, raw: Any, key: str) -> tuple[tuple[Any, Any], ...] | str:
    if raw == "all-pairs":
        return "all-pairs"
    if not isinstance(raw, list) or not raw:
        raise c.error(key, f"must be \"all-pairs\" or a non-empty list of class pairs such as "
                           f"[[0, 1], [3, 8]], got {raw!r}")
    out = []
    for j, pair in enumerate(raw):
        if (not isinstance(pair, list) or len(pair) != 2
                or any(isinstance(v, bool) or not isinstance(v, (int, str)) for v in pair)):
            raise c.error(f"{key}[{j}]", f"a task is a pair of class labels (integers) or "
                                         f"class names (strings), got {pair!r}")
        if pair[0] == pair[1]:
            raise c.error(f"{key}[{j}]", f"a task needs two different classes, got {pair!r}")
        out.append((pair[0], pair[1]))
    if len(set(out)) != len(out):
        raise c.error(key, f"contains the same class pair twice: {raw!r}")
    return tuple(out)


def _parse_models(c: _Ctx, raw: Any) -> tuple[ModelSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise c.error("models", "at least one [[models]] table is required")
    out, labels = [], set()
    for i, m in enumerate(raw):
        key = f"models[{i}]"
        m = c.table(m, key, ("name", "kwargs", "label"))
        if "name" not in m:
            raise c.error(key, "missing 'name' (a built-in architecture or "
                               "'package.module:callable')")
        name = c.string(m["name"], f"{key}.name")
        if ":" in name:
            mod, _, fn = name.partition(":")
            if not mod or not fn:
                raise c.error(f"{key}.name", f"{name!r} is not of the form "
                                             f"'package.module:callable'")
        kwargs_json = c.json_table(m.get("kwargs", {}), f"{key}.kwargs")
        if ":" not in name:
            _check_builtin_kwargs(c, json.loads(kwargs_json), f"{key}.kwargs")
        label = c.string(m.get("label", name), f"{key}.label")
        if label in labels:
            raise c.error(f"{key}.label", f"model label {label!r} is used twice; give each "
                                          f"model a distinct 'label'")
        labels.add(label)
        out.append(ModelSpec(name, kwargs_json, label))
    return tuple(out)


def _check_builtin_kwargs(c: _Ctx, kwargs: dict[str, Any], key: str) -> None:
    """Sizes of a built-in architecture are positive integers; dropout is in [0, 1)."""
    for k in _POSITIVE_KWARGS:
        if k in kwargs:
            v = kwargs[k]
            for i, x in enumerate(v if isinstance(v, list) else [v]):
                c.integer(x, f"{key}.{k}" + (f"[{i}]" if isinstance(v, list) else ""), 1)
    if "dropout" in kwargs:
        p = c.number(kwargs["dropout"], f"{key}.dropout", 0.0)
        if p >= 1:
            raise c.error(f"{key}.dropout", f"must be in [0, 1), got {p}")


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _parse_training(c: _Ctx, raw: Any) -> TrainingSpec:
    t = c.table(raw, "training", tuple(TrainingSpec.__dataclass_fields__))
    if "sizes" not in t:
        raise c.error("training.sizes", "missing (the training-set sizes N)")
    return TrainingSpec(
        sizes=c.int_list(t["sizes"], "training.sizes", 2),
        test_size=c.integer(t.get("test_size", 200), "training.test_size", 2),
        seeds=c.int_list(t.get("seeds", [0]), "training.seeds", 0),
        split_seed=c.integer(t.get("split_seed", 0), "training.split_seed", 0),
        epochs=c.integer(t.get("epochs", 10), "training.epochs", 1),
        batch_size=c.integer(t.get("batch_size", 64), "training.batch_size", 1),
        lr=c.number(t.get("lr", 1e-3), "training.lr", 0.0, low_open=True),
        optimizer=c.string(t.get("optimizer", "adam"), "training.optimizer", OPTIMIZERS),
        weight_decay=c.number(t.get("weight_decay", 0.0), "training.weight_decay", 0.0),
        checkpoint=c.string(t.get("checkpoint", "last"), "training.checkpoint", CHECKPOINTS),
        device=c.string(t.get("device", "cpu"), "training.device"),
        threads=_threads(c, t.get("threads", 1)),
    )


def _threads(c: _Ctx, value: Any) -> int:
    n = c.integer(value, "training.threads", 0)
    cpus = _cpu_count()
    if n > cpus:  # torch aborts or crashes on absurd thread counts
        raise c.error("training.threads", f"{n} is more than the {cpus} CPU(s) this process "
                                          f"may use; set at most {cpus} (0 leaves torch's "
                                          f"default)")
    return n


def _parse_measure(c: _Ctx, raw: Any) -> MeasureSpec:
    m = c.table(raw, "measure", ("d_data", "label_sharpness", "d_repr", "robustness"))
    for k in ("d_data", "label_sharpness"):
        if not isinstance(m.get(k, True), bool):
            raise c.error(f"measure.{k}", f"must be true or false, got {m[k]!r}")
    d_repr = m.get("d_repr", "train")
    if d_repr is True:
        d_repr = "train"
    elif d_repr is False:
        d_repr = None
    else:
        d_repr = c.string(d_repr, "measure.d_repr", REPR_SPLITS)
    rob = m.get("robustness", False)
    eps: tuple[float, ...] = ()
    methods: tuple[str, ...] = ()
    if rob is True:
        rob = {}
    if isinstance(rob, dict):
        rob = c.table(rob, "measure.robustness", ("eps", "methods"))
        raw_eps = rob.get("eps", [2 / 255])
        if isinstance(raw_eps, (int, float)) and not isinstance(raw_eps, bool):
            raw_eps = [raw_eps]
        if not isinstance(raw_eps, list) or not raw_eps:
            raise c.error("measure.robustness.eps", f"must be a non-empty list of numbers in "
                                                    f"[0, 1], got {raw_eps!r}")
        bad = [e for e in raw_eps
               if isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 <= e <= 1]
        if bad:
            raise c.error("measure.robustness.eps",
                          f"{len(bad)} value(s) {bad} outside [0, 1]: ε is a fraction of the "
                          f"data's intensity range (2/255 ≈ 0.00784 is two grey levels of "
                          f"8-bit images)")
        eps = tuple(float(e) for e in raw_eps)
        raw_methods = rob.get("methods", ["fgsm"])
        if isinstance(raw_methods, str):
            raw_methods = [raw_methods]
        if not isinstance(raw_methods, list) or not raw_methods:
            raise c.error("measure.robustness.methods", f"must be a non-empty list, got "
                                                        f"{raw_methods!r}")
        methods = tuple(c.string(v, f"measure.robustness.methods[{i}]", ROBUSTNESS_METHODS)
                        for i, v in enumerate(raw_methods))
    elif rob is not False:
        raise c.error("measure.robustness", f"must be false, true or a table with 'eps' and "
                                            f"'methods', got {rob!r}")
    return MeasureSpec(m.get("d_data", True), m.get("label_sharpness", True), d_repr, eps,
                       methods)


def _parse_executor(c: _Ctx, raw: Any) -> ExecutorSpec:
    e = c.table(raw, "executor", ("kind", "workers", "address", "num_gpus"))
    address = e.get("address") or None
    if address is not None:
        address = c.string(address, "executor.address")
    return ExecutorSpec(
        kind=c.string(e.get("kind", "local"), "executor.kind", EXECUTORS),
        workers=c.integer(e.get("workers", 1), "executor.workers", 1),
        address=address,
        num_gpus=c.number(e.get("num_gpus", 0), "executor.num_gpus", 0.0),
    )
