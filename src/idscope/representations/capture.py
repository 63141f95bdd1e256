"""Capture layer activations of a PyTorch model, streamed to an activation store on disk.

Convention: a module's activation is its **output at the moment it returns**. An in-place
operation that runs afterwards (an ``nn.ReLU(inplace=True)`` after a ``Linear``) cannot alter
what is stored, so a ``Linear`` layer's activation is its pre-activation output. Ansuini et
al.'s code stored a reference instead, which the in-place ReLU then overwrote: their "fully
connected" activations are post-ReLU. To measure those, select the ReLU module (or the
``"ansuini"`` preset, which does so).

How that holds without copying every output twice: a probe pass finds the layers whose
output is modified in place later; those are written (copied) inside their forward hook. The
other layers are written behind, from the live tensor, while the forward pass goes on; a
fingerprint of each batch's rows taken in the hook is compared after the write, and a batch
whose tensor changed meanwhile is computed again with the layer written in the hook.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._errors import InputError
from .._lock import locks_folder
from .._runtime import resolve_device
from .._validation import check_choice, check_int
from .activation_store import (
    DTYPES,
    FORMAT,
    MANIFEST,
    VERSION,
    ActivationStore,
    AsyncWriter,
    row_fingerprint,
)
from .activation_store import temporary_store_path as _tmp_path
from .forward import call_model
from .layers import as_tensor, input_tensor, normalize_spec, select_layers, spec_to_json
from .layers import trace_model as _trace
from .models import describe_model
from .sources import Source, make_source
from .store_writer import StoreWriter

__all__ = ["activations", "SEQUENCE_POLICIES"]

SEQUENCE_POLICIES = ("flatten", "mean", "first")
_SAVE_INTERVAL = 0.5  # seconds between manifest rewrites (each is an fsync'd atomic write)
CONVENTION = ("post-module output, copied when the module returns (an in-place activation "
              "that runs later does not alter it)")


@locks_folder("store", what="activations")  # one run at a time writes a store
def activations(
    model: nn.Module,
    data: Any,
    *,
    layers: Any = "paper",
    batch_size: int = 64,
    store: str | Path | None = None,
    dtype: str = "float32",
    device: Any = None,
    sequence: str = "flatten",
    progress: bool = False,
    resume: bool = True,
    index: Any = None,
    transform: Callable[[Any], Any] | None = None,
    fsync: bool = False,
    background: bool = True,
    seed: int | None = None,
    model_spec: str | None = None,
    data_name: str | None = None,
) -> ActivationStore:
    """Activations of ``layers`` of ``model`` on ``data``, one forward pass per batch.

    The model runs in ``eval()`` mode under ``torch.inference_mode()``; its state is left as
    it was (training flags restored, BatchNorm statistics untouched, hooks removed, also on
    error, and the model moved back if it was moved to ``device``).

    Parameters
    ----------
    model : nn.Module
    data : tensor, array, np.memmap, dict, Dataset or DataLoader
        Samples along the first axis; a dict of token tensors (``input_ids``,
        ``attention_mask``, ...) is :class:`~idscope.representations.text.TokenInputs`.
        A memmap is read batch by batch. Datasets and
        DataLoaders may yield inputs, ``(inputs, labels, ...)`` tuples (the first element is
        the input) or dicts of keyword arguments for the model (label keys dropped).
    layers : str, type or list
        Module names, globs (``"features.*"``), module types, ``"input"``, ``"output"`` and
        the presets ``"paper"``, ``"ansuini"``, ``"last_hidden"``, ``"all"``; see
        :func:`idscope.representations.layers.select_layers`.
    batch_size : int
        Samples per forward pass (for tensors, arrays and Datasets).
    store : path, optional
        Folder of the activation store; a temporary folder (deleted with the returned
        object) when None. An unfinished store made with the same model, data and settings
        is resumed (finished batches are not recomputed); a finished one is returned as is.
    dtype : {"float32", "float16"}
        Storage type.
    device : str or torch.device, optional
        Where the forward pass runs (default: where the model is). The model is moved there
        for the extraction and moved back afterwards.
    sequence : {"flatten", "mean", "first"}
        For 3-D outputs (batch, tokens, features): keep all tokens, average over tokens, or
        keep the first token (CLS). Other outputs are flattened per sample.
    resume : bool
        Resume an unfinished store; ``False`` deletes the store's files and starts again.
        Finished batches are recorded in the manifest (rewritten atomically at most every
        0.5 s during the run, and on every way out, errors and interrupts included), so a
        resumed run recomputes at most the last half second of a run that was killed.
    index : array of int, optional
        Use these samples of ``data`` (in this order) instead of all of them.
    transform : callable, optional
        Applied to each batch of inputs before the forward pass (e.g. a layout change).
    fsync : bool
        Force each batch to disk before recording it as finished (survives a power loss;
        without it a killed process still resumes correctly).
    background : bool
        Write behind: a layer's rows are written on a background thread from the live
        tensor (no copy) while the forward pass goes on. Layers whose output the model
        modifies in place later (found by a probe pass on two samples, and checked again
        after each write, the batch then being computed again) are written inside their
        hook instead. ``False`` writes every layer inside its hook (``os.pwrite``: one
        copy, no background thread). Off for shuffling DataLoaders.
    seed, model_spec, data_name : optional
        Recorded in the manifest.

    Returns
    -------
    ActivationStore
        ``store[layer]`` is the (N, D_layer) memmap of a layer.
    """
    caller = "activations"
    if not isinstance(model, nn.Module):
        raise InputError(f"{caller}: model must be a torch.nn.Module, got "
                         f"{type(model).__name__} (see idscope.representations.load_model)")
    batch_size = check_int(batch_size, "batch_size", caller=caller, low=1)
    check_choice(dtype, "dtype", DTYPES, caller=caller)
    check_choice(sequence, "sequence", SEQUENCE_POLICIES, caller=caller)
    spec = normalize_spec(layers)
    source = make_source(data, batch_size, index, transform, _float_dtype(model))
    dev = _model_device(model, device)
    description = describe_model(model, model_spec)
    data_desc = dict(source.describe(), name=data_name)
    wanted = {"layers_request": spec_to_json(spec), "dtype": dtype, "sequence": sequence,
              "n_samples": source.n, "batches": {"size": source.batch_size,
                                                 "total": source.n_batches}}

    temporary = store is None
    path = _tmp_path() if temporary else Path(store)
    existing = _existing(path, resume, wanted, description, data_desc, source)
    if existing is not None and existing.complete:
        return existing

    state = _ModelState(model)
    handles: list[Any] = []
    writer = None
    st: ActivationStore | None = existing
    try:
        state.prepare(model, dev)
        with torch.inference_mode():
            skip = st.done_batches if st is not None else set()
            batches = source.batches(skip)
            first = next(batches, None)
            if first is None:
                if st is None:
                    raise InputError(f"{caller}: the data yielded no batch")
            else:
                batches = itertools.chain([first], batches)
            # the probe runs before any pass in inference mode: state that a model creates
            # on its first call (an output buffer) must be an ordinary tensor
            write_behind = background and not source.shuffled and first is not None
            mutated = _mutated_layers(model, first[2], dev) if write_behind else None
            if st is None:
                assert first is not None
                infos, shapes, total = _plan(model, spec, first[2], dev, sequence, source.n)
                manifest = _manifest(description, data_desc, wanted, infos, shapes, total,
                                     seed, source)
                st = StoreWriter.create(path, manifest, temporary=temporary).store
            names = st.layers
            module_layers = set(names) - {"input", "output"}
            # Layers whose output the forward pass modifies in place are written inside the
            # hook (a copy at that moment); the others are written behind, from the live
            # tensor, while the forward pass goes on: no copy, and the writes overlap it.
            sync = set(names) if mutated is None else set(names) & mutated
            if write_behind:
                writer = AsyncWriter(st, fsync=fsync)
            modules = dict(model.named_modules())
            cursor: dict[str, Any] = {"batch": 0, "start": 0, "seen": set()}
            torch_dtype = torch.float16 if dtype == "float16" else torch.float32
            sink = StoreWriter(st).open()

            def put(name: str, value: Any, where: str) -> None:
                t = as_tensor(value, where)
                rows = _rows(t, sequence, torch_dtype)
                if writer is None or name in sync:  # pwrite copies the values now
                    sink.write(name, cursor["start"], rows)
                else:  # a view of a live tensor is checked again after it is written
                    check = row_fingerprint(rows) if _aliases(rows, t) else None
                    writer.write(name, cursor["start"], rows, cursor["batch"], check)

            def hook(name: str):
                def fn(mod, args, output):
                    if name in cursor["seen"]:  # a module called twice: keep the first call
                        return
                    cursor["seen"].add(name)
                    put(name, output, f"module {name!r}")
                return fn

            for name in module_layers:
                handles.append(modules[name].register_forward_hook(hook(name)))
            from tqdm.auto import tqdm

            with tqdm(total=st.n_batches, initial=len(skip), disable=not progress,
                      desc="activations", unit="batch", file=sys.stderr) as bar:
                for repair in (False, True):
                    if repair:  # batches whose live tensors changed before they were written
                        if writer is None:
                            break
                        writer, w = None, writer
                        w.close()
                        if not w.failures()[0]:
                            break
                        batches = source.batches(st.done_batches)
                    for b, start, inputs in batches:
                        if writer is not None:
                            sync |= writer.failures()[1]
                        cursor.update(batch=b, start=start, seen=set())
                        if "input" in st:
                            put("input", input_tensor(inputs), "the input")
                        out = _forward(model, _to_device(inputs, dev))
                        if "output" in st:
                            put("output", out, "the model")
                        missing = module_layers - cursor["seen"]
                        if missing:
                            raise InputError(f"{caller}: layer(s) {sorted(missing)[:5]} did "
                                             f"not run for batch {b}; cannot capture them")
                        if writer is None:
                            sink.mark_done(b, fsync=fsync, interval=_SAVE_INTERVAL)
                        else:
                            writer.done(b)
                        if not repair:
                            bar.update(1)
        if not st.complete:
            raise InputError(f"{caller}: the data yielded {len(st.done_batches)} batches, "
                             f"fewer than the {st.n_batches} its length announced")
        return st
    finally:
        for h in handles:
            h.remove()
        if writer is not None:  # an error: still record the batches already finished
            try:
                writer.close()
            except BaseException:
                pass
        if st is not None:
            StoreWriter(st).close()
        state.restore(model)
        if temporary and (st is None or not st.complete):
            import shutil

            shutil.rmtree(path, ignore_errors=True)


def _mutated_layers(model: nn.Module, inputs: Any, device: torch.device) -> set[str] | None:
    """The modules (and ``"input"``, ``"output"``) whose output is modified in place after
    it is returned: later in the same forward pass (an in-place ReLU, ``out += identity``)
    or by the next call (an output buffer the model reuses). Two forward passes on (at
    most) two samples, outside inference mode so that tensors count their in-place updates
    (``_version``). None (treat every layer as modified) if the probe fails."""
    seen: list[dict[str, tuple[torch.Tensor, int]]] = []
    handles = []

    def hook(name: str):
        def fn(mod, args, output):
            if name not in seen[-1]:
                try:
                    t = as_tensor(output, f"module {name!r}")
                except InputError:
                    return
                seen[-1][name] = (t, t._version)
        return fn

    try:
        with torch.inference_mode(False), torch.no_grad():
            for name, module in model.named_modules():
                if name:
                    handles.append(module.register_forward_hook(hook(name)))
            for _ in range(2):
                seen.append({})
                probe = _slice_inputs(inputs, 2)
                x = input_tensor(probe)
                seen[-1]["input"] = (x, x._version)
                out = as_tensor(_forward(model, _to_device(probe, device)), "the model")
                seen[-1]["output"] = (out, out._version)
            return {name for name, (t, v) in seen[0].items() if t._version != v}
    except Exception:  # the real forward pass reports real errors
        return None
    finally:
        for h in handles:
            h.remove()


# ----------------------------------------------------------------------------------------
# model state
# ----------------------------------------------------------------------------------------
class _ModelState:
    """Training flags and device of a model, restored after the extraction."""

    def __init__(self, model: nn.Module):
        self.training = [(m, m.training) for m in model.modules()]
        tensors = itertools.chain(model.parameters(), model.buffers())
        self.devices = {t.device for t in tensors}
        self.moved = False

    def prepare(self, model: nn.Module, device: torch.device) -> None:
        model.eval()
        if self.devices and self.devices != {device}:
            if len(self.devices) > 1:
                raise InputError(f"activations: the model's tensors are on several devices "
                                 f"({sorted(map(str, self.devices))}); pass device=None")
            model.to(device)
            self.moved = True

    def restore(self, model: nn.Module) -> None:
        for m, flag in self.training:
            m.training = flag
        if self.moved:
            model.to(next(iter(self.devices)))


def _model_device(model: nn.Module, device: Any) -> torch.device:
    """``device``, or where the model's first parameter or buffer is (CPU if none)."""
    return resolve_device(device, model)


def _float_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


# ----------------------------------------------------------------------------------------
# batches
# ----------------------------------------------------------------------------------------
def _forward(model: nn.Module, inputs: Any) -> Any:
    # shape and dtype mismatches between data and model become one line (forward.py)
    return call_model(model, inputs)


def _to_device(inputs: Any, device: torch.device) -> Any:
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device)
    if isinstance(inputs, dict):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v
                for k, v in inputs.items()}
    return inputs


def _rows(t: torch.Tensor, sequence: str, dtype: torch.dtype) -> np.ndarray:
    """One row per sample: 3-D outputs follow the sequence policy, others are flattened."""
    if t.ndim == 0:
        raise InputError("activations: a layer returned a scalar, not one value per sample")
    if t.is_complex():
        raise InputError("activations: complex activations are not supported")
    t = t.detach()
    if t.ndim == 1:
        t = t[:, None]
    elif t.ndim == 3 and sequence != "flatten":
        t = t.float().mean(1) if sequence == "mean" else t[:, 0]
    return t.reshape(t.shape[0], -1).to("cpu", dtype).numpy()


def _aliases(rows: np.ndarray, source: torch.Tensor) -> bool:
    """Whether ``rows`` share memory with the captured tensor (a view, not a copy)."""
    if source.device.type != "cpu":
        return False  # moving to the CPU made a copy
    storage = source.untyped_storage()
    lo = storage.data_ptr()
    ptr = rows.__array_interface__["data"][0]
    return lo <= ptr < lo + storage.nbytes()


def _slice_inputs(inputs: Any, stop: int) -> Any:
    """The first ``stop`` samples, copied (the model may modify its input in place)."""
    if isinstance(inputs, dict):
        return {k: v[:stop].clone() if isinstance(v, torch.Tensor) and v.ndim else v
                for k, v in inputs.items()}
    return inputs[:stop].clone()


def _plan(model, spec, inputs, device, sequence, n):
    """Trace one forward pass on (at most) two samples; resolve the layers and their
    per-sample shapes."""
    probe = _slice_inputs(inputs, 2)
    b = int(input_tensor(probe).shape[0])
    tr = _trace(model, lambda: _forward(model, _to_device(probe, device)))
    infos = select_layers(model, spec, tr)
    shapes = {}
    for info in infos:
        if info.name == "input":
            t = input_tensor(probe)
        elif info.name == "output":
            t = tr.output
        else:
            t = tr.calls[info.name].output
            if t is None:
                raise InputError(f"activations: module {info.name!r} returned no tensor")
        if t.ndim == 0 or int(t.shape[0]) != b:
            raise InputError(f"activations: layer {info.name!r} returned shape "
                             f"{tuple(t.shape)}, whose first axis is not the batch ({b})")
        d = int(_rows(t, sequence, torch.float32).shape[1])
        shapes[info.name] = (list(map(int, t.shape[1:])), d)
    return infos, shapes, tr.total_depth


def _manifest(model_desc, data_desc, wanted, infos, shapes, total_depth, seed, source):
    from .. import __version__

    layers = []
    for info in infos:
        raw, d = shapes[info.name]
        layers.append(dict(info.to_dict(), raw_shape=raw, shape=[source.n, d]))
    return {"format": FORMAT, "version": VERSION, "idscope_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": model_desc, "data": data_desc, **wanted,
            "batches": dict(wanted["batches"], done=[]),
            "layers": layers, "total_depth": int(total_depth), "seed": seed,
            "convention": CONVENTION, "complete": False}


def _existing(path: Path, resume: bool, wanted: dict, model_desc: dict, data_desc: dict,
              source: Source) -> ActivationStore | None:
    """The store to resume, or None to start a new one (after removing an old store's files
    when ``resume`` is False)."""
    if not (path / MANIFEST).exists():
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise InputError(f"activations: {path} exists and is not an activation store; "
                             f"choose an empty or new folder")
        return None
    st = ActivationStore.open(path)
    if not resume:
        st._remove_files()
        return None
    have = st._manifest
    checks = [("layers", have.get("layers_request"), wanted["layers_request"]),
              ("dtype", have.get("dtype"), wanted["dtype"]),
              ("sequence", have.get("sequence"), wanted["sequence"]),
              ("number of samples", have.get("n_samples"), wanted["n_samples"]),
              ("batches", {k: have["batches"].get(k) for k in ("size", "total")},
               wanted["batches"]),
              ("model (weights fingerprint)", have["model"].get("fingerprint"),
               model_desc["fingerprint"]),
              ("data (fingerprint)", have["data"].get("fingerprint"),
               data_desc.get("fingerprint"))]
    for what, old, new in checks:
        if old != new:
            raise InputError(f"activations: the store in {path} was made with a different "
                             f"{what} ({old!r}, now {new!r}); pass resume=False to overwrite "
                             f"it or choose another folder")
    if not st.complete and source.shuffled:
        raise InputError(f"activations: cannot resume {path}: the DataLoader shuffles, so "
                         f"its batches differ from the first run; pass resume=False")
    st.verify()  # files inside the store and as the manifest describes them
    return st
