"""Runtime choices with one meaning each: progress display and torch threads.

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

__all__ = ["show_bars", "step_progress", "StepLines", "torch_threads"]


def show_bars(progress: bool | None) -> bool:
    """Whether to draw tqdm bars: ``progress`` if given, else whether stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else bool(progress)


class StepLines:
    """Progress over a command's steps as plain lines on a stream: one line when a step
    starts (``[3/12] demo: training ...``) and one when all are done. The tqdm methods a
    step loop uses (``set_description_str``, ``update``, ``close``) are its interface."""

    def __init__(self, total: int, desc: str, file: Any = None):
        self.total, self.desc, self.n = int(total), desc, 0
        self.file = sys.stderr if file is None else file
        self.t0 = time.perf_counter()

    def _print(self, text: str) -> None:
        print(text, file=self.file, flush=True)

    def set_description_str(self, text: str) -> None:
        self._print(f"[{min(self.n + 1, self.total)}/{self.total}] {text}")

    def update(self, n: int = 1) -> None:
        self.n += int(n)

    def close(self) -> None:
        self._print(f"{self.desc}: {self.n}/{self.total} steps done in "
                    f"{time.perf_counter() - self.t0:.0f} s")

    def __enter__(self) -> StepLines:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.close()


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
