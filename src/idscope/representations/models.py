"""Model sources: Python objects, ``module:callable`` specs, torchvision / timm names,
transformers configurations, and weights from local files. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._errors import InputError, MissingDependencyError
from .weights import load_weights

__all__ = ["load_model", "load_weights", "describe_model", "model_fingerprint",
           "parse_config_items"]



def load_model(
    spec: Any,
    *,
    weights: str | os.PathLike | None = None,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    config: dict[str, Any] | None = None,
    strict: bool = True,
) -> nn.Module:
    """A ``torch.nn.Module`` from a specification.

    Parameters
    ----------
    spec : nn.Module, callable or str
        - an ``nn.Module``: returned as it is;
        - a callable returning a module (called with the keyword arguments below that it
          accepts);
        - ``"package.module:callable"`` or ``"path/to/file.py:callable"`` (this runs the code
          of that module or file);
        - ``"torchvision:NAME"`` / ``"timm:NAME"``: an architecture with random weights, only
          when those packages import;
        - ``"efficientnet-lite0"`` (ImageNet weights) and ``"all-MiniLM-L6-v2"`` (alias
          ``"minilm"``; also ``"transformers:all-MiniLM-L6-v2"``): pretrained networks from
          installed packages, see :mod:`idscope.representations.pretrained`;
        - ``"transformers:TYPE"`` (``resnet``, ``vit``, ``convnext``, ... any model type of
          ``transformers.AutoConfig.for_model``) or ``"transformers:DIR"`` (a local folder with
          ``config.json``, and ``model.safetensors`` if weights are wanted): built from the
          configuration (as the class its ``architectures`` names) with random
          initialisation, then the folder's weights; hub names are refused (no download).
    weights : path, optional
        A ``state_dict`` in ``.pt``/``.pth``/``.bin``/``.ckpt`` (read with
        ``torch.load(weights_only=True)``) or ``.safetensors``.
    num_classes : int, optional
        Output classes (``num_classes`` of the callable, ``num_labels`` of a transformers
        configuration).
    input_shape : (C, H, W), optional
        Passed to callables that accept it; sets ``num_channels`` and ``image_size`` of a
        transformers configuration.
    config : dict, optional
        Keyword arguments of the callable, or configuration overrides for transformers
        (e.g. ``{"hidden_sizes": [8, 16], "depths": [1, 1]}``).
    strict : bool
        Require the weights' keys to match the model's exactly.
    """
    config = dict(config or {})
    if isinstance(spec, nn.Module):
        if config or num_classes is not None:
            raise InputError("load_model: config and num_classes apply to specifications, not "
                             "to a model object")
        model = spec
    elif callable(spec) and not isinstance(spec, str):
        model = _call(spec, getattr(spec, "__name__", repr(spec)), config, num_classes,
                      input_shape)
    elif isinstance(spec, (str, os.PathLike)):
        model, weights = _from_string(str(spec), weights, config, num_classes, input_shape)
    else:
        raise InputError(f"load_model: cannot make a model from {type(spec).__name__}")
    if weights is not None:
        load_weights(model, weights, strict=strict)
    return model


def _from_string(spec: str, weights, config, num_classes, input_shape):
    from .pretrained import PRETRAINED, pretrained_source

    prefix, _, rest = spec.partition(":")
    if spec.lower() in PRETRAINED or (prefix == "transformers" and rest.lower() in PRETRAINED):
        kind, found = pretrained_source(rest if prefix == "transformers" else spec)
        if kind == "transformers":
            return _transformers(str(found), weights, config, num_classes, input_shape)
        if config or num_classes is not None:
            raise InputError(f"load_model: {spec!r} is a fixed pretrained network; "
                             f"config and num_classes do not apply")
        return found, weights
    if prefix == "torchvision":
        return _torchvision(rest, config, num_classes), weights
    if prefix == "timm":
        return _timm(rest, config, num_classes), weights
    if prefix == "transformers":
        return _transformers(rest, weights, config, num_classes, input_shape)
    if ":" not in spec:
        raise InputError(f"load_model: {spec!r} is not a model specification; use "
                         f"'module:callable', 'file.py:callable', 'torchvision:NAME', "
                         f"'timm:NAME' or 'transformers:TYPE'")
    where, attr = spec.rsplit(":", 1)
    obj = _import_attr(where, attr)
    if isinstance(obj, nn.Module):
        return obj, weights
    if not callable(obj):
        raise InputError(f"load_model: {spec!r} is neither a module nor a callable")
    return _call(obj, spec, config, num_classes, input_shape), weights


def import_callable(spec: str) -> Any:
    """The object named by ``"package.module:attr"`` or ``"path/to/file.py:attr"`` (the
    file's code runs, as for a model given to :func:`load_model`); sweep configs name their
    own models this way."""
    if not isinstance(spec, str) or ":" not in spec:
        raise InputError(f"expected 'package.module:callable' or 'file.py:callable', got "
                         f"{spec!r}")
    where, attr = spec.rsplit(":", 1)
    return _import_attr(where, attr)


def _import_attr(where: str, attr: str) -> Any:
    path = Path(where)
    if where.endswith(".py") or path.is_file():
        if not path.is_file():
            raise InputError(f"load_model: no such file: {path}")
        name = "_idscope_model_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise InputError(f"load_model: cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as exc:
            raise InputError(f"load_model: cannot import module {where!r} ({exc})") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InputError(f"load_model: {where!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _call(fn: Any, label: str, config: dict, num_classes, input_shape) -> nn.Module:
    kwargs = dict(config)
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key, value in (("num_classes", num_classes), ("input_shape", input_shape)):
        if value is None:
            continue
        if key in params or accepts_any:
            kwargs[key] = tuple(value) if key == "input_shape" else value
        elif key == "num_classes":
            raise InputError(f"load_model: {label} does not accept num_classes")
    model = fn(**kwargs)
    if not isinstance(model, nn.Module):
        raise InputError(f"load_model: {label} returned {type(model).__name__}, not a "
                         f"torch.nn.Module")
    return model


def _import_for(package: str, spec: str, hint: str = "") -> Any:
    """``package`` imported for the model source ``spec``, or one clear error (an
    ImportError, or a broken install raising anything else)."""
    try:
        return importlib.import_module(package)
    except Exception as exc:
        raise MissingDependencyError(
            f"load_model: {spec!r} needs {package.split('.')[0]}, which cannot be imported "
            f"here ({type(exc).__name__}: {exc}){hint}; pass the model object or a "
            f"'module:callable' instead") from None


def _with_classes(config: dict, num_classes, key: str = "num_classes") -> dict:
    return dict(config) if num_classes is None else {**config, key: int(num_classes)}


def _torchvision(name: str, config: dict, num_classes) -> nn.Module:
    models = _import_for("torchvision.models", f"torchvision:{name}")
    try:
        return models.get_model(name, weights=None, **_with_classes(config, num_classes))
    except ValueError as exc:
        raise InputError(f"load_model: torchvision has no model {name!r} ({exc})") from None


def _timm(name: str, config: dict, num_classes) -> nn.Module:
    timm = _import_for("timm", f"timm:{name}")
    try:
        return timm.create_model(name, pretrained=False, **_with_classes(config, num_classes))
    except RuntimeError as exc:
        raise InputError(f"load_model: timm has no model {name!r} ({exc})") from None


def _transformers(name: str, weights, config: dict, num_classes, input_shape):
    transformers = _import_for("transformers", f"transformers:{name}",
                               " (pip install 'idscope[models]')")
    overrides = _with_classes(config, num_classes, "num_labels")
    path = Path(name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InputError(f"load_model: {path} has no config.json")
        cfg = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True,
                                                      **overrides)
        if weights is None and (path / "model.safetensors").is_file():
            weights = path / "model.safetensors"
    else:
        try:
            cfg = transformers.AutoConfig.for_model(name, **overrides)
        except ValueError:
            raise InputError(f"load_model: 'transformers:{name}' is neither a model type "
                             f"(resnet, vit, convnext, ...) nor a local folder with "
                             f"config.json; models are never downloaded") from None
    if input_shape is not None:
        shape = tuple(int(s) for s in input_shape)
        if len(shape) == 3:
            if hasattr(cfg, "num_channels"):
                cfg.num_channels = shape[0]
            if hasattr(cfg, "image_size"):
                cfg.image_size = shape[1]
    model = None
    # a local folder names the class its weights belong to (GPT2LMHeadModel, BertModel, ...)
    for arch in (getattr(cfg, "architectures", None) or [])[:1] if path.is_dir() else []:
        cls = getattr(transformers, str(arch), None)
        if isinstance(cls, type) and issubclass(cls, nn.Module):
            model = cls(cfg)
    for auto in ("AutoModelForImageClassification", "AutoModel") if model is None else ():
        try:
            model = getattr(transformers, auto).from_config(cfg)
            break
        except (ValueError, KeyError):
            continue
    if model is None:
        raise InputError(f"load_model: transformers cannot build a model from config type "
                         f"{type(cfg).__name__}")
    return model, weights


# ----------------------------------------------------------------------------------------
# weights
# ----------------------------------------------------------------------------------------
def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 (16 hex digits) of the architecture's parameter/buffer names, shapes, dtypes
    and values: two models with the same fingerprint compute the same function."""
    h = hashlib.sha256(type(model).__qualname__.encode())
    for key, value in model.state_dict().items():
        t = value.detach().cpu().contiguous()
        h.update(f"{key}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def describe_model(model: nn.Module, spec: str | None = None) -> dict[str, Any]:
    return {"class": f"{type(model).__module__}.{type(model).__qualname__}",
            "spec": spec, "n_parameters": int(sum(p.numel() for p in model.parameters())),
            "fingerprint": model_fingerprint(model)}


def parse_config_items(items: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` strings (values parsed as JSON where they parse, else text)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--model-config: expected KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
