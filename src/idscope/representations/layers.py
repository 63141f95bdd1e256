"""Which layers to measure: a traced forward pass, layer selection, presets, relative depth.

A *layer* is the output of a module of the model (captured by a forward hook), the model's
input (``"input"``) or its output (``"output"``). Before capturing anything, one forward pass
on a single sample records the order in which modules finish, how many convolution / linear
layers have been applied at that point, and which module produces the model's output; the
presets and the relative depth are computed from that trace.

Relative depth (Ansuini et al., NeurIPS 2019): the number of convolutional and fully
connected layers applied before (and including) the layer, divided by the number applied
before the output. The input has depth 0 and the output depth 1.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from difflib import get_close_matches
from typing import Any

import torch
from torch import nn

from .._errors import InputError

__all__ = ["LayerInfo", "Trace", "trace_model", "select_layers", "normalize_spec", "PRESETS",
           "as_tensor", "is_depth_layer", "is_pooling"]

PRESETS = ("paper", "ansuini", "last_hidden", "all", "input", "output")

_OUTPUT_KEYS = ("logits", "last_hidden_state", "pooler_output", "prediction_logits")
_INPUT_KEYS = ("pixel_values", "input_values", "input_ids", "inputs_embeds")


def _pooling_types() -> tuple[type, ...]:
    from torch.nn.modules import pooling

    names = ("_MaxPoolNd", "_AvgPoolNd", "_AdaptiveAvgPoolNd", "_AdaptiveMaxPoolNd",
             "_LPPoolNd", "FractionalMaxPool2d", "FractionalMaxPool3d")
    return tuple(getattr(pooling, n) for n in names if hasattr(pooling, n))


_POOL = _pooling_types()


def is_pooling(module: nn.Module) -> bool:
    return isinstance(module, _POOL)


def is_depth_layer(module: nn.Module) -> bool:
    """Convolutions and fully connected layers: the layers that count towards depth
    (``Conv1D`` is the transposed linear layer of GPT-2 style transformers)."""
    return isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) or (
        type(module).__name__ == "Conv1D")


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    if is_depth_layer(module):
        return "linear"
    if is_pooling(module):
        return "pool"
    return "other"


def as_tensor(value: Any, where: str) -> torch.Tensor:
    """The tensor that represents a module's or model's output.

    Tensors pass; tuples and lists give their first element (transformers layers return
    ``(hidden_states, attentions, ...)``); dicts and ``ModelOutput`` objects give ``logits``,
    else ``last_hidden_state``, else their first tensor value.
    """
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, dict) or hasattr(value, "to_tuple"):
        for key in _OUTPUT_KEYS:
            item = value.get(key) if hasattr(value, "get") else getattr(value, key, None)
            if isinstance(item, torch.Tensor):
                return item
        items = value.values() if hasattr(value, "values") else value.to_tuple()
        for item in items:
            if isinstance(item, torch.Tensor):
                return item
    elif isinstance(value, (tuple, list)) and value:
        return as_tensor(value[0], where)
    raise InputError(f"activations: {where} returned {type(value).__name__}, which holds no "
                     f"tensor to capture")


def input_tensor(batch: Any) -> torch.Tensor:
    """The tensor that stands for the model's input: the tensor itself, or the usual input
    key of a dict of keyword arguments (``pixel_values``, ``input_ids``, ...)."""
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, dict):
        for key in _INPUT_KEYS:
            if isinstance(batch.get(key), torch.Tensor):
                return batch[key]
        for item in batch.values():
            if isinstance(item, torch.Tensor):
                return item
    raise InputError(f"activations: cannot find the input tensor in a {type(batch).__name__}")


@dataclass(frozen=True)
class LayerInfo:
    """One captured layer: its name, the module's class, its kind (input, output, conv,
    linear, pool, other), ``depth`` (convolution/linear layers applied up to it) and
    ``relative_depth`` (depth over the depth of the output)."""

    name: str
    module_type: str
    kind: str
    depth: int
    relative_depth: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Call:
    name: str
    module: nn.Module
    start: int
    end: int = -1
    depth: int = 0
    n_calls: int = 0
    output: Any = None
    first_input: Any = None
    leaf: bool = True


@dataclass
class Trace:
    """What one forward pass did: per module (by name) its first call, in finishing order."""

    calls: dict[str, _Call]
    total_depth: int
    output: torch.Tensor

    def finished(self) -> list[_Call]:
        return sorted((c for c in self.calls.values() if c.end >= 0), key=lambda c: c.end)

    def info(self, name: str) -> LayerInfo:
        total = max(self.total_depth, 1)
        if name == "input":
            return LayerInfo("input", "input", "input", 0, 0.0)
        if name == "output":
            return LayerInfo("output", "output", "output", self.total_depth,
                             1.0 if self.total_depth else 0.0)
        c = self.calls[name]
        position = getattr(c.module, "layer_position", None)
        if position is not None:  # a hidden state l of L (representations.hidden_states)
            return LayerInfo(name, type(c.module).__name__, "hidden", position[0],
                             position[0] / max(position[1], 1))
        return LayerInfo(name, type(c.module).__name__, _kind(c.module), c.depth,
                         c.depth / total if self.total_depth else 0.0)


def trace_model(model: nn.Module, call: Callable[[], Any]) -> Trace:
    """Run ``call()`` (one forward pass of ``model``) with hooks on every module.

    Hooks are removed afterwards, also when the forward pass raises.
    """
    calls: dict[str, _Call] = {}
    clock = [0]
    depth = [0]
    handles = []

    def pre(name: str, module: nn.Module):
        def hook(mod, args, kwargs):
            clock[0] += 1
            if name not in calls:
                first = args[0] if args else next(iter(kwargs.values()), None)
                calls[name] = _Call(name, mod, clock[0], first_input=first,
                                    leaf=not any(True for _ in mod.children()))
            calls[name].n_calls += 1
        return hook

    def post(name: str):
        def hook(mod, args, output):
            clock[0] += 1
            if is_depth_layer(mod):
                depth[0] += 1
            c = calls[name]
            if c.end < 0:
                c.end, c.depth = clock[0], depth[0]
                try:
                    c.output = as_tensor(output, f"module {name!r}")
                except InputError:
                    c.output = None
        return hook

    try:
        for name, module in model.named_modules():
            if not name:
                continue
            handles.append(module.register_forward_pre_hook(pre(name, module),
                                                            with_kwargs=True))
            handles.append(module.register_forward_hook(post(name)))
        out = call()
    finally:
        for h in handles:
            h.remove()
    return Trace(calls, depth[0], as_tensor(out, "the model"))


# ----------------------------------------------------------------------------------------
# selection
# ----------------------------------------------------------------------------------------
def normalize_spec(layers: Any) -> list[str | type]:
    """``layers`` as a list of strings (names, globs, presets) and module types."""
    if isinstance(layers, (str, type)):
        items = [layers]
    elif isinstance(layers, Sequence):
        items = list(layers)
    else:
        raise InputError(f"activations: layers must be a name, glob, preset, module type or a "
                         f"list of them, got {type(layers).__name__}")
    if not items:
        raise InputError("activations: layers is empty")
    for item in items:
        if isinstance(item, type):
            if not issubclass(item, nn.Module):
                raise InputError(f"activations: layer type {item.__name__} is not a "
                                 f"torch.nn.Module subclass")
        elif not isinstance(item, str) or not item:
            raise InputError(f"activations: bad layer selector {item!r}")
    return items


def spec_to_json(items: list[str | type]) -> list[str]:
    """A JSON form of a layer specification (module types by qualified name)."""
    return [f"type:{i.__module__}.{i.__qualname__}" if isinstance(i, type) else i
            for i in items]


def select_layers(model: nn.Module, layers: Any, trace: Trace) -> list[LayerInfo]:
    """Resolve a layer specification against a traced forward pass.

    Selectors (combine several in a list; the result follows execution order, input first
    and output last, without repeats):

    - a module name (``"features.3"``), ``"input"`` or ``"output"``;
    - a glob over module names (``"features.*"``; ``*`` also matches dots);
    - a module type (``torch.nn.Conv2d``): every module of that type;
    - ``"paper"``: input, every pooling layer, every fully connected layer and the output
      (Ansuini et al. 2019); a layer whose output *is* the model's output is reported once,
      as ``"output"``;
    - ``"ansuini"``: as ``"paper"``, but a hidden fully connected layer followed by an in-place
      activation is replaced by that activation, which is what Ansuini et al.'s code stored
      (its hook kept a reference that the in-place ReLU then overwrote);
    - ``"last_hidden"``: the last module to finish before the head (the last convolution or
      linear layer) starts: the representation the classifier reads;
    - ``"all"``: input, every leaf module that ran, output.

    For a model whose input is token ids (its first module is an embedding, or a
    transformers model whose main input is ``input_ids``) the presets leave out ``"input"``
    (raw ids are no representation), and they skip modules whose output is not one row per
    sample (GPT-2's position embeddings). For the hidden states of a
    :class:`~idscope.representations.hidden_states.HiddenStates` wrapper, ``"paper"``,
    ``"ansuini"`` and ``"all"`` select every hidden state and ``"last_hidden"`` the last.
    """
    items = normalize_spec(layers)
    names = {n for n, _ in model.named_modules() if n}
    ran = trace.calls
    out_names = {n for n, c in ran.items() if c.output is trace.output}
    chosen: set[str] = set()
    hidden = sorted((n for n, c in ran.items() if hasattr(c.module, "layer_position")),
                    key=lambda n: ran[n].end)
    batch = trace.output.shape[0] if trace.output.ndim else None
    per_sample = {n for n, c in ran.items() if c.output is not None and c.output.ndim
                  and c.output.shape[0] == batch}
    ends = {"output"} if _token_input(model, trace) else {"input", "output"}
    for item in items:
        if isinstance(item, type):
            hit = {n for n, c in ran.items() if isinstance(c.module, item)}
            if not hit:
                raise InputError(f"activations: no module of type {item.__name__} ran in the "
                                 f"forward pass")
            chosen |= hit
        elif item in ("input", "output"):
            chosen.add(item)
        elif hidden and item in ("paper", "ansuini", "all", "last_hidden"):
            chosen |= set(hidden) if item != "last_hidden" else {hidden[-1]}
        elif item in ("paper", "ansuini"):
            hit = {n for n, c in ran.items()
                   if c.leaf and (is_pooling(c.module) or _kind(c.module) == "linear")}
            hit -= out_names
            if item == "ansuini":
                hit = {_inplace_consumer(trace, n) for n in hit}
            chosen |= (hit & per_sample) | ends
        elif item == "last_hidden":
            chosen.add(_last_hidden(trace))
        elif item == "all":
            chosen |= {n for n, c in ran.items() if c.leaf} & per_sample | ends
        elif any(ch in item for ch in "*?["):
            hit = {n for n in ran if fnmatch.fnmatchcase(n, item)}
            if not hit:
                raise InputError(f"activations: pattern {item!r} matches no module that ran "
                                 f"in the forward pass")
            chosen |= hit
        elif item in names:
            if item not in ran:
                raise InputError(f"activations: module {item!r} was not called in the forward "
                                 f"pass")
            chosen.add(item)
        else:
            close = get_close_matches(item, sorted(names), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise InputError(f"activations: no module named {item!r} in "
                             f"{type(model).__name__} ({len(names)} modules){hint}")

    def order(name: str) -> float:
        if name == "input":
            return -1.0
        if name == "output":
            return float("inf")
        return float(ran[name].end)

    return [trace.info(n) for n in sorted(chosen, key=order)]


def _token_input(model: nn.Module, trace: Trace) -> bool:
    """Whether the model reads token ids: a transformers text model, or one whose first
    module to run is an embedding."""
    if getattr(model, "main_input_name", None) == "input_ids":
        return True
    leaves = [c for c in trace.calls.values() if c.leaf]
    return bool(leaves) and isinstance(min(leaves, key=lambda c: c.start).module,
                                       nn.Embedding)


def _inplace_consumer(trace: Trace, name: str) -> str:
    """The in-place activation that overwrites ``name``'s output, if there is one."""
    c = trace.calls[name]
    nxt = [d for d in trace.calls.values() if d.leaf and d.start > c.end]
    if not nxt:
        return name
    a = min(nxt, key=lambda d: d.start)
    if getattr(a.module, "inplace", False) and a.first_input is c.output:
        return a.name
    return name


def _last_hidden(trace: Trace) -> str:
    leaves = [c for c in trace.calls.values() if c.leaf and c.end >= 0]
    heads = [c for c in leaves if is_depth_layer(c.module)]
    if not heads:
        raise InputError("activations: 'last_hidden' needs a model whose head is a linear or "
                         "convolution layer; name the layer instead")
    head = max(heads, key=lambda c: c.start)
    before = [c for c in leaves if c.end < head.start]
    if not before:
        raise InputError(f"activations: no module runs before the head {head.name!r}; "
                         f"use 'input'")
    return max(before, key=lambda c: c.end).name
