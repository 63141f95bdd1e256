"""Runtime choices with one meaning each: the compute device, progress display and torch
threads.

``device``, everywhere in idscope: ``None`` is where the input already lives (a tensor's
device, a model's parameters), else the CPU; ``"auto"`` is a CUDA GPU when there is one, else
the CPU; anything else is a ``torch.device`` spec (asking for CUDA where there is none is an
error).

``progress``, everywhere in idscope: ``True`` shows a bar, ``False`` shows nothing, ``None``
(the default of long commands) shows a bar when stderr is a terminal and, when it is not (CI,
a log file, ``nohup``), one line per step, so a long run is never silent.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["resolve_device", "show_bars", "progress_bar", "step_progress", "StepLines",
           "torch_threads"]


def resolve_device(device: Any = None, where: Any = None) -> Any:
    """``device`` as a ``torch.device`` (see the module docstring); ``where`` is the tensor or
    module whose device ``None`` means."""
    import torch

    from ._errors import InputError

    if device is None:
        if isinstance(where, torch.Tensor):
            return where.device
        if isinstance(where, torch.nn.Module):
            t = next(iter(list(where.parameters()) + list(where.buffers())), None)
            return t.device if t is not None else torch.device("cpu")
        return torch.device("cpu")
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {str(device)!r} requested but CUDA is not available")
    return dev


def show_bars(progress: bool | None) -> bool:
    """Whether to draw tqdm bars: ``progress`` if given, else whether stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else bool(progress)


class StepLines:
    """Progress over a command's steps as plain lines on a stream: one line when a step
    starts (``[3/12] demo: training ...``) and one when all are done. The tqdm methods a
    step loop uses (``set_description_str``, ``update``, ``close``) are its interface."""

    def __init__(self, total: int, desc: str, file: Any = None, *, unit: str = "step",
                 per_update: bool = False, initial: int = 0):
        self.total, self.desc, self.n = int(total), desc, int(initial)
        self.unit, self.per_update = unit, per_update
        self.file = sys.stderr if file is None else file
        self.t0 = time.perf_counter()

    def _print(self, text: str) -> None:
        print(text, file=self.file, flush=True)

    def set_description_str(self, text: str) -> None:
        self._print(f"[{min(self.n + 1, self.total)}/{self.total}] {text}")

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        if self.per_update and n:
            self._print(f"{self.desc}: {self.n}/{self.total} {self.unit}s "
                        f"({time.perf_counter() - self.t0:.0f} s)")

    def close(self) -> None:
        if not self.per_update:
            self._print(f"{self.desc}: {self.n}/{self.total} {self.unit}s done in "
                        f"{time.perf_counter() - self.t0:.0f} s")

    def __enter__(self) -> StepLines:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.close()


def progress_bar(total: int, desc: str, progress: bool | None, *, unit: str = "it",
                 initial: int = 0, leave: bool = True) -> Any:
    """The one progress bar of idscope: tqdm on stderr when ``progress`` is True (or None on
    a terminal), one line per update when ``progress`` is None without a terminal, a disabled
    bar when ``progress`` is False."""
    if progress is None and not sys.stderr.isatty():
        return StepLines(total, desc, unit=unit, per_update=True, initial=initial)
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=leave,
                disable=not show_bars(progress), file=sys.stderr)


def step_progress(total: int, desc: str, progress: bool | None) -> Any:
    """A progress object over ``total`` steps: a tqdm bar (``show_bars``), lines
    (:class:`StepLines`) when ``progress`` is None and stderr is not a terminal, or a
    disabled bar when ``progress`` is False."""
    if progress is None and not sys.stderr.isatty():
        return StepLines(total, desc)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not show_bars(progress),
                file=sys.stderr)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Fix torch's intra-op threads inside the block (restored after): results then do not
    depend on how many threads a worker would otherwise get. ``None`` or 0 changes nothing."""
    if not n:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)
