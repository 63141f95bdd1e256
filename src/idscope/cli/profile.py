"""``idscope profile --model SPEC --data SOURCE``: intrinsic dimension across a network's
layers (Ansuini et al. 2019)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import InputError
from ._format import table, to_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile", help="ID of a model's representations across depth",
        description="Capture the activations of a model's layers on a dataset (streamed to "
                    "disk) and estimate each layer's intrinsic dimension (TwoNN with "
                    "mean ± std over random 90%% subsets, PCA-ID at 90%%).")
    p.add_argument("--model", required=True, metavar="SPEC",
                   help="module:callable, path/file.py:callable, transformers:TYPE or DIR, "
                        "torchvision:NAME, timm:NAME")
    p.add_argument("--weights", metavar="FILE", help="state_dict (.pt/.pth/.safetensors)")
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--model-config", action="append", metavar="KEY=VALUE", default=[],
                   help="keyword argument of the callable / transformers config override "
                        "(value parsed as JSON; repeatable)")
    p.add_argument("--data", required=True, metavar="SOURCE",
                   help="a data file (.npy, .npz, ...) or sklearn:NAME")
    p.add_argument("--input-shape", metavar="C,H,W", default=None,
                   help="reshape flat (N, D) rows to this per-sample shape")
    p.add_argument("--layers", nargs="+", default=["paper"],
                   help="names, globs, or presets paper, ansuini, last_hidden, all "
                        "(default: paper)")
    p.add_argument("--n", type=int, default=None, help="random subset of N samples")
    p.add_argument("--resamples", type=int, default=20,
                   help="TwoNN resamples for the error bars (default 20)")
    p.add_argument("--fraction", type=float, default=0.9,
                   help="size of each resample (default 0.9)")
    p.add_argument("--estimators", nargs="+", default=["twonn"],
                   choices=("twonn", "mle", "gride"))
    p.add_argument("--pca-threshold", type=float, default=0.9)
    p.add_argument("--no-pca", action="store_true", help="skip the PCA-ID")
    p.add_argument("--compare", action="append", default=[], metavar="untrained|LABEL=FILE",
                   help="also profile the architecture re-initialised ('untrained') or with "
                        "other weights, e.g. shuffled=shuffled.pt (repeatable)")
    p.add_argument("--label", default="model", help="name of the model in the table")
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
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    p.add_argument("--device", default=None, help="cpu or cuda (default: the model's)")
    p.add_argument("--seed", type=int, default=0)
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


def prepare_data(X: Any, input_shape: tuple[int, ...] | None):
    """Samples as the model expects them, and a per-batch conversion to float32 (values as
    stored, e.g. 0..255 pixels) with a layout change: flat rows reshaped to
    ``input_shape``; images (N, H, W) get a channel axis and (N, H, W, C) become NCHW."""
    if input_shape is not None:
        if X.ndim != 2 or X.shape[1] != int(np.prod(input_shape)):
            raise InputError(f"--input-shape {input_shape} needs rows of "
                             f"{int(np.prod(input_shape))} values, data have shape {X.shape}")
        return X.reshape((X.shape[0], *input_shape)), lambda t: t.float()
    if X.ndim == 3:
        return X, lambda t: t.float().unsqueeze(1)
    if X.ndim == 4 and X.shape[-1] in (1, 3, 4) and X.shape[1] not in (1, 3, 4):
        return X, lambda t: t.float().permute(0, 3, 1, 2).contiguous()
    return X, lambda t: t.float()


def _sample_shape(X: Any, shape, transform) -> tuple[int, ...]:
    """One sample's shape as the model sees it (after the layout change)."""
    if shape is not None:
        return shape
    if X.ndim == 3:
        return (1, int(X.shape[1]), int(X.shape[2]))
    if X.ndim == 4 and X.shape[-1] in (1, 3, 4) and X.shape[1] not in (1, 3, 4):
        return (int(X.shape[3]), int(X.shape[1]), int(X.shape[2]))
    return tuple(int(s) for s in X.shape[1:])


def _image_or_table(source: str, shape):
    """The data as a Dataset and the model's view of it; for a text file (or a ``.pt`` of
    token dicts), which only a text model reads, None and the error to raise otherwise."""
    from ..data import load
    from ..representations.text import TEXT_SUFFIXES

    if Path(source).suffix.lower() in TEXT_SUFFIXES:
        return None, None, shape, None, InputError(
            f"--data {source}: a text file needs a text model (transformers with input_ids)")
    try:
        ds = load(source)
    except InputError as exc:
        if Path(source).suffix.lower() != ".pt":
            raise
        return None, None, shape, None, exc
    X, transform = prepare_data(ds.X, shape)
    return ds, X, _sample_shape(X, shape, transform), transform, None


def run(args: argparse.Namespace) -> int:
    from ..representations import load_model, profile
    from ..representations.hidden_states import HiddenStates
    from ..representations.models import parse_config_items
    from ..representations.text import is_text_model, text_inputs

    shape = _shape(args.input_shape)
    config = parse_config_items(args.model_config)
    ds, X, sample_shape, transform, err = _image_or_table(args.data, shape)
    model = load_model(args.model, weights=args.weights, num_classes=args.num_classes,
                       input_shape=sample_shape, config=config)
    text = is_text_model(model)
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
        compare[label] = load_model(args.model, weights=path, num_classes=args.num_classes,
                                    input_shape=sample_shape, config=config)
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
