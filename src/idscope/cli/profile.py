"""``idscope profile --model SPEC --data SOURCE``: intrinsic dimension across a network's
layers (Ansuini et al. 2019)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from .._errors import InputError
from ._format import table, to_json
from ._options import add_preprocess_arguments, model_transform, preprocess_of, sample_shape


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile", help="ID of a model's representations across depth",
        description="Capture the activations of a model's layers on a dataset (streamed to "
                    "disk) and estimate each layer's intrinsic dimension (TwoNN with "
                    "mean ± std over random 90% subsets, PCA-ID at 90%). Images can be "
                    "rescaled, resized and converted to the model's channels and "
                    "normalisation (see the preprocessing options).")
    p.add_argument("--model", required=True, metavar="SPEC",
                   help="module:callable, path/file.py:callable, transformers:TYPE or DIR, "
                        "torchvision:NAME, timm:NAME")
    p.add_argument("--weights", metavar="FILE", help="state_dict (.pt/.pth/.safetensors)")
    p.add_argument("--num-classes", type=int, default=None,
                   help="outputs of a model built from a name (default: the data's classes)")
    p.add_argument("--model-config", action="append", metavar="KEY=VALUE", default=[],
                   help="keyword argument of the callable / transformers config override "
                        "(value parsed as JSON; repeatable)")
    p.add_argument("--data", required=True, metavar="SOURCE",
                   help="a data file (.npy, .npz, ...) or sklearn:NAME")
    p.add_argument("--input-shape", metavar="C,H,W", default=None,
                   help="reshape each sample to this shape after preprocessing: flat (N, D) "
                        "rows to images (e.g. 1,8,8), or images to flat rows (e.g. 64)")
    add_preprocess_arguments(p, normalize=True)
    p.add_argument("--layers", nargs="+", default=["paper"],
                   help="names, globs, or presets paper, ansuini, last_hidden, all "
                        "(default: paper)")
    p.add_argument("--n", type=int, default=None, help="random subset of N samples")
    p.add_argument("--resamples", type=int, default=20,
                   help="TwoNN resamples for the error bars (default 20)")
    p.add_argument("--fraction", type=float, default=0.9,
                   help="size of each resample (default 0.9)")
    p.add_argument("--estimators", nargs="+", default=["twonn"],
                   choices=("twonn", "mle", "gride"),
                   help="estimators per layer (default twonn; mle and gride are added "
                        "columns)")
    p.add_argument("--pca-threshold", type=float, default=0.9,
                   help="variance explained by the PCA-ID's components (default 0.9)")
    p.add_argument("--no-pca", action="store_true", help="skip the PCA-ID")
    p.add_argument("--compare", action="append", default=[], metavar="untrained|LABEL=FILE",
                   help="also profile the architecture re-initialised with random weights "
                        "('untrained', seeded by --seed: the papers' reference for a trained "
                        "model, so it needs --weights to compare anything) or with other "
                        "weights, e.g. shuffled=shuffled.pt (repeatable)")
    p.add_argument("--label", default="model",
                   help="name of the model in the table (default: model)")
    p.add_argument("--sequence", choices=("flatten", "mean", "first"), default="flatten",
                   help="3-D (batch, tokens, features) outputs: keep all tokens, average, or "
                        "the first")
    p.add_argument("--pooling", choices=("mean", "first", "last", "tokens"), default="mean",
                   help="text models: each layer's hidden state (output_hidden_states) per "
                        "sample: mean over real tokens, first token, last real token, or the "
                        "first --max-tokens tokens concatenated (default mean)")
    p.add_argument("--max-tokens", type=int, default=32,
                   help="text models: tokens kept by --pooling tokens (default 32)")
    p.add_argument("--max-length", type=int, default=128,
                   help="text files: truncate each line to this many tokens (default 128)")
    p.add_argument("--tokenizer", metavar="DIR", default=None,
                   help="text files: the tokenizer's folder (default: the model's folder)")
    p.add_argument("--batch-size", type=int, default=64,
                   help="samples per forward pass (default 64)")
    p.add_argument("--dtype", choices=("float32", "float16"), default="float32",
                   help="precision of the stored activations (default float32)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: the model's)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of --n, the resamples and an untrained model (default 0)")
    p.add_argument("--store", metavar="DIR", default=None,
                   help="keep the activations here (resumed if interrupted)")
    p.add_argument("--plot", metavar="FILE", default=None, help="write the plot (.png/.pdf/.svg)")
    p.add_argument("--save", metavar="FILE", default=None, help="write the profile as JSON")
    p.add_argument("--csv", metavar="FILE", default=None, help="write the table as CSV")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise InputError(f"--input-shape: expected integers like 1,8,8, got {text!r}") from None
    if not shape or any(s <= 0 for s in shape):
        raise InputError(f"--input-shape: bad shape {text!r}")
    return shape


def prepare_data(X: Any, input_shape: tuple[int, ...] | None, pre: Any = None,
                 intensity_range: Any = None):
    """The samples as stored and a per-batch conversion to what the model takes: float32,
    images (N, H, W) or (N, H, W, C) to NCHW, the preprocessing ``pre`` (intensity, channels,
    size, normalisation), then each sample reshaped to ``input_shape`` (which may also
    flatten images)."""
    if input_shape is not None:
        size = math.prod(int(v) for v in X.shape[1:])
        if pre is None and size != math.prod(input_shape):
            raise InputError(f"--input-shape {','.join(map(str, input_shape))} needs "
                             f"{math.prod(input_shape)} values per sample, the data have "
                             f"shape {tuple(X.shape)}")
    return X, model_transform(X, input_shape, pre, intensity_range)


def _sample_shape(X: Any, shape, transform) -> tuple[int, ...]:
    """One sample's shape as the model sees it (the conversion applied to the first row)."""
    return sample_shape(X, transform)


def _image_or_table(source: str, shape, pre: Any = None):
    """The data as a Dataset and the model's view of it; for a text file (or a ``.pt`` of
    token dicts), which only a text model reads, None and the error to raise otherwise.
    An image folder is decoded with ``pre``'s intensity, channels and size (so folders of
    mixed sizes load); other images get ``pre`` per batch."""
    from dataclasses import replace

    from ..data import load
    from ..data.preprocess import declared_range
    from ..representations.text import TEXT_SUFFIXES

    if Path(source).suffix.lower() in TEXT_SUFFIXES:
        return None, None, shape, None, InputError(
            f"--data {source}: a text file needs a text model (transformers with input_ids)")
    folder = pre is not None and Path(source).is_dir()
    try:
        ds = load(source, **pre.load_options()) if folder else load(source)
    except InputError as exc:
        if Path(source).suffix.lower() != ".pt":
            raise
        return None, None, shape, None, exc
    if folder:
        pre = replace(pre, intensity=None, mode=None, resize=None)
    X, transform = prepare_data(ds.X, shape, pre, declared_range(ds))
    return ds, X, _sample_shape(X, shape, transform), transform, None


def _seeded(seed: int, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with torch's CPU generator seeded (then restored): a model
    built without weights gets the same random parameters on every run, so its profile
    repeats and an interrupted ``--store`` run can resume."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return fn(*args, **kwargs)


def run(args: argparse.Namespace) -> int:
    from ..data.preprocess import model_normalization, parse_normalization
    from ..representations import load_model, profile
    from ..representations.hidden_states import HiddenStates
    from ..representations.models import parse_config_items
    from ..representations.text import is_text_model, text_inputs

    if args.plot:  # a bad name is refused now, not after the whole computation
        from ..report.profile import plot_format

        plot_format(args.plot)
    shape = _shape(args.input_shape)
    config = parse_config_items(args.model_config)
    norm = parse_normalization(args.normalize)
    pre = preprocess_of(args, None if isinstance(norm, str) else norm)
    ds, X, sample_shape, transform, err = _image_or_table(args.data, shape, pre)
    model = _seeded(args.seed, load_model, args.model, weights=args.weights,
                    num_classes=args.num_classes, input_shape=sample_shape, config=config)
    if args.weights is None:
        print(f"warning: no --weights: unless {args.model} loads trained weights itself, "
              f"its parameters are random (initialised with --seed {args.seed}, so the same "
              f"command gives the same numbers), and the profile describes an untrained "
              f"network" + ("; --compare untrained then compares two untrained networks"
                            if "untrained" in args.compare else ""), file=sys.stderr)
    text = is_text_model(model)
    if not text and ds is not None and norm in ("auto", "model"):
        declared = model_normalization(model, args.model)
        if declared is None and norm == "model":
            raise InputError(f"--normalize model: {args.model} declares no input "
                             f"normalisation; pass --normalize MEAN,../STD,.. or none")
        if declared is not None:  # the model's own statistics, on intensities in [0, 1]
            print(f"note: normalising inputs with the model's mean {list(declared[0])} and "
                  f"std {list(declared[1])} (after scaling intensities to "
                  f"{args.intensity or '0-1'}); --normalize none turns this off",
                  file=sys.stderr)
            ds, X, sample_shape, transform, err = _image_or_table(
                args.data, shape, preprocess_of(args, declared))
    if text:  # token ids or a text file through the model's tokenizer; hidden states pooled
        X = text_inputs(model, args.data, tokenizer=args.tokenizer, max_length=args.max_length)
        model, transform = HiddenStates(model, args.pooling, args.max_tokens), None
    elif err is not None:
        raise err
    compare: dict[str, Any] = {}
    for item in args.compare:
        if item == "untrained":
            compare["untrained"] = "untrained"
            continue
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise InputError(f"--compare: expected 'untrained' or LABEL=WEIGHTS, got {item!r}")
        compare[label] = _seeded(args.seed, load_model, args.model, weights=path,
                                 num_classes=args.num_classes, input_shape=sample_shape,
                                 config=config)
        if text:
            compare[label] = HiddenStates(compare[label], args.pooling, args.max_tokens)
    progress = not args.no_progress and sys.stderr.isatty()
    name = Path(args.data).name if ds is None or text else ds.name
    prof = profile(model, X, layers=args.layers, n=args.n, n_resamples=args.resamples,
                   fraction=args.fraction, estimators=tuple(args.estimators),
                   pca_threshold=None if args.no_pca else args.pca_threshold, seed=args.seed,
                   store=args.store, compare=compare or None, progress=progress,
                   label=args.label, batch_size=args.batch_size, device=args.device,
                   dtype=args.dtype, sequence=args.sequence, transform=transform,
                   model_spec=str(args.model), data_name=name)
    if args.save:
        prof.save(args.save)
    if args.csv:
        from .._atomic import atomic_path

        with atomic_path(args.csv, suffix=".csv") as tmp:
            prof.to_frame().to_csv(tmp, index=False)
    if args.plot:
        from ..report.profile import plot_profile, save_plot

        save_plot(plot_profile(prof, pca=not args.no_pca,
                               title=f"{args.model} on {name}"), args.plot)
    if args.json:
        print(to_json(prof.to_dict()))
        return 0
    print(f"{name}: {prof.meta['n_samples']} samples; model {args.model}; "
          f"TwoNN mean ± std over {args.resamples} resamples of {args.fraction:g}")
    print(table(prof.table()))
    for r in prof.rows:
        for note in r.notes:
            print(f"note: {r.model} {r.layer}: {note}", file=sys.stderr)
    return 0
