"""Executors run a sweep's jobs; :func:`run_sweep` ties config, plan, executor and results.

* ``local`` — in this process (``workers=1``, the default) or a pool of ``workers`` spawned
  processes, which die with the sweep (:func:`idscope._processes.die_with_parent`: also
  after a SIGKILL of the sweep) and are stopped at once on Ctrl-C;
* ``ray`` — one Ray task per run on ``ray.init(address=...)``: an existing cluster when an
  address is given (``"auto"``, ``"ray://host:10001"``, ...), else a local Ray instance with
  ``workers`` CPUs, started and shut down by the sweep. A local instance listens on the
  loopback interface only (Ray's servers have no authentication of their own worth
  exposing), and its processes end with the sweep, also when the sweep is killed
  (:func:`idscope._processes.reap_descendants`). ``num_gpus`` is requested per task.
  Ray is an optional dependency (``pip install idscope[ray]``), imported only here; the
  workers of a cluster need idscope installed in the same version.

A sweep holds the lock of its output folder (:mod:`idscope._lock`): a second sweep into the
same folder fails with one line instead of interleaving its table writes with the first.

Each run is single-threaded by default (``training.threads = 1``), so a run gives the same
numbers in any executor; parallelism comes from the workers.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _atomic
from .._errors import IdscopeError, InputError, MissingDependencyError
from .._lock import folder_lock
from .._processes import pool_worker_init, reap_descendants
from .._runtime import progress_bar
from ..neighbors.ray import loopback_only
from .config import SweepConfig, load_config
from .plan import Job, SweepPlan, make_plan
from .results import ResultsStore
from .runner import Components, run_job

__all__ = ["LocalExecutor", "RayExecutor", "get_executor", "run_sweep", "SweepResult",
           "Outcome", "RunFailedError"]

RunFn = Callable[[Job, Any], dict]


class RunFailedError(RuntimeError):
    """A run raised something other than an idscope error (a bug, an out-of-memory, ...);
    the finished runs are saved and the sweep can be resumed."""


@dataclass(frozen=True)
class Outcome:
    """A finished job: its row, or the exception it raised (with its traceback text)."""

    job: Job
    row: dict[str, Any] | None
    error: BaseException | None = None
    traceback: str = ""


class LocalExecutor:
    """Runs jobs in this process (``workers=1``) or in a pool of spawned processes."""

    name = "local"

    def __init__(self, workers: int = 1):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InputError(f"LocalExecutor: workers must be an integer >= 1, got {workers!r}")
        self.workers = workers

    def map(self, fn: RunFn, jobs: Iterable[Job], components: Any = None
            ) -> Iterator[Outcome]:
        jobs = list(jobs)
        if self.workers == 1 or len(jobs) <= 1:
            for job in jobs:
                yield _call(fn, job, components)
            return
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        # spawn, not fork: forking a process that has started torch threads can deadlock.
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(jobs)),
                                   mp_context=mp.get_context("spawn"),
                                   initializer=pool_worker_init, initargs=(os.getpid(),))
        finished = False
        try:
            pending = {pool.submit(_call, fn, job, components) for job in jobs}
            while pending:
                # A timeout, so that this thread runs Python's signal handlers (Ctrl-C)
                # even when the kernel delivered the signal to another thread.
                done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        raise RunFailedError(
                            "a worker process of the local pool died (killed, out of memory, "
                            "or a script that starts a sweep with workers > 1 outside an "
                            "`if __name__ == '__main__':` block); finished runs are saved, "
                            "rerun to resume") from None
            finished = True
        finally:
            if not finished:
                # Ctrl-C, a failed run, or the caller stopped reading: the runs in flight
                # are lost anyway, so end the workers now instead of waiting for them.
                _kill_workers(pool)
            pool.shutdown(wait=True, cancel_futures=True)


def _kill_workers(pool: Any) -> None:
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.kill()
        except (OSError, ValueError):
            pass


def _import_ray():
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("--executor ray needs Ray, which is not installed "
                                     "(pip install 'idscope[ray]' or pip install ray)") from None
    return ray


class RayExecutor:
    """One Ray task per job.

    Parameters
    ----------
    address : str, optional
        A running cluster's address; None starts a local Ray instance (or joins the one this
        process already initialised).
    workers : int, optional
        CPUs of a local instance (default: all); ignored for an existing cluster.
    num_cpus, num_gpus : float
        Resources each task requests.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None,
                 num_cpus: float = 1, num_gpus: float = 0):
        _import_ray()  # fail now, before any run, when Ray is missing
        if num_gpus < 0 or num_cpus <= 0:
            raise InputError(f"RayExecutor: num_cpus must be > 0 and num_gpus >= 0, got "
                             f"{num_cpus}, {num_gpus}")
        self.address = address or None
        self.workers = workers
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus

    def map(self, fn: RunFn, jobs: Iterable[Job], components: Any = None
            ) -> Iterator[Outcome]:
        jobs = list(jobs)
        if not jobs:
            return
        ray = _import_ray()
        if ray.is_initialized():
            yield from self._map(ray, fn, jobs, components)
            return
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if self.address:
            ray.init(address=self.address, **kwargs)
            try:
                yield from self._map(ray, fn, jobs, components)
            finally:
                ray.shutdown()
            return
        if self.workers:
            kwargs["num_cpus"] = self.workers
        with reap_descendants():
            with loopback_only(ray):
                ray.init(_node_ip_address="127.0.0.1", **kwargs)
            try:
                yield from self._map(ray, fn, jobs, components)
            finally:
                ray.shutdown()

    def _map(self, ray: Any, fn: RunFn, jobs: list[Job], components: Any
             ) -> Iterator[Outcome]:
        remote = ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                            max_retries=0)(_call)
        pending: list[Any] = []
        try:
            comps_ref = ray.put(components)
            refs = {remote.remote(fn, job, comps_ref): job for job in jobs}
            pending = list(refs)
            while pending:
                # a timeout, so that Ctrl-C is handled while runs go on (as for the pool)
                ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
                for ref in ready:
                    yield ray.get(ref)
        finally:
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass


def _call(fn: RunFn, job: Job, components: Any) -> Outcome:
    """Run one job; capture an exception (not an interrupt) as the outcome."""
    try:
        return Outcome(job, fn(job, components))
    except Exception as exc:  # noqa: BLE001 - reported by run_sweep
        return Outcome(job, None, exc, traceback.format_exc())


def get_executor(kind: str = "local", *, workers: int | None = None,
                 address: str | None = None, num_gpus: float = 0) -> Any:
    """``"local"`` or ``"ray"``; a missing Ray installation raises
    :class:`~idscope.MissingDependencyError` here, before anything runs."""
    if kind == "local":
        if address:
            raise InputError("executor local: --address is for --executor ray")
        return LocalExecutor(workers or 1)
    if kind == "ray":
        return RayExecutor(address=address, workers=workers, num_gpus=num_gpus)
    raise InputError(f"unknown executor {kind!r}; choose 'local' or 'ray'")


@dataclass(frozen=True)
class SweepResult:
    """What a sweep did: counts, the output folder and its tables."""

    out_dir: Path
    n_planned: int
    n_skipped: int
    n_run: int
    n_failed: int
    tables: tuple[Path, ...]
    failed: tuple[str, ...] = ()

    def table(self):
        from .results import load_results

        return load_results(self.out_dir)

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "n_planned": self.n_planned,
                "n_skipped": self.n_skipped, "n_run": self.n_run, "n_failed": self.n_failed,
                "tables": [str(p) for p in self.tables], "failed": list(self.failed)}


def run_sweep(
    config: SweepConfig | str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    executor: str | Any | None = None,
    workers: int | None = None,
    address: str | None = None,
    num_gpus: float | None = None,
    components: Components | None = None,
    run_fn: RunFn = run_job,
    keep_going: bool = False,
    progress: bool | None = None,
) -> SweepResult:
    """Run every job of a sweep that is not already in ``out_dir``; resumable.

    Parameters
    ----------
    config : SweepConfig or path to a TOML file
    out_dir : path
        The results folder (:mod:`idscope.sweeps.results`).
    executor : "local", "ray", an executor object, or None (the config's ``[executor]``)
    workers, address, num_gpus
        Override the config's ``[executor]`` settings.
    components : Components, optional
        Replacement data/model/measurement functions (see :class:`Components`).
    run_fn : callable
        ``run_fn(job, components) -> row``; :func:`~idscope.sweeps.runner.run_job`.
    keep_going : bool
        Record a failing run in ``OUT/failed/<key>.txt`` and go on (default: stop at the
        first failure, keeping every finished run).
    progress : bool, optional
        A tqdm bar over runs; default: only when stderr is a terminal.

    Everything that can be checked is checked before the first run: the config, the Ray
    installation, the data (class labels, training sizes) and the models.
    """
    if not isinstance(config, SweepConfig):
        config = load_config(config)
    ex = config.executor
    if executor is None or isinstance(executor, str):
        kind = executor or ex.kind
        executor = get_executor(kind, workers=workers or ex.workers,
                                address=address if address is not None else ex.address,
                                num_gpus=num_gpus if num_gpus is not None else ex.num_gpus)
    plan: SweepPlan = make_plan(config, components)
    with folder_lock(out_dir, what=f"sweep {config.name}"):
        return _run_locked(config, plan, out_dir, executor, components, run_fn, keep_going,
                           progress)


def _run_locked(config: SweepConfig, plan: SweepPlan, out_dir: str | os.PathLike,
                executor: Any, components: Components | None, run_fn: RunFn,
                keep_going: bool, progress: bool | None) -> SweepResult:
    """The part of :func:`run_sweep` that writes ``out_dir`` (its lock held)."""
    store = ResultsStore(out_dir)
    store.remove_temporaries()  # left by a sweep killed mid-write on a file system without
    store.write_manifest({"config": config.to_dict(), "keys": list(plan.keys)})  # O_TMPFILE
    store.write_tables()  # consolidate runs of a sweep killed before its last table write
    done = store.done_keys()
    todo = plan.pending(done)
    skipped = len(plan) - len(todo)

    bar = progress_bar(len(plan), f"sweep {config.name}", progress, unit="run",
                       initial=skipped)
    n_run, failed = 0, []
    outcomes = executor.map(run_fn, todo, components)
    try:
        for outcome in outcomes:
            job, err = outcome.job, outcome.error
            failure_file = store.out_dir / "failed" / f"{job.key}.txt"
            if err is not None:
                failed.append(job.key)
                _atomic.write_text(failure_file, outcome.traceback)
                if not keep_going:
                    if isinstance(err, IdscopeError):
                        raise err
                    raise RunFailedError(
                        f"run {job.key} ({job.dataset.name}, task {job.task_label}, model "
                        f"{job.model.label}, N={job.n_train}, seed={job.seed}) failed: "
                        f"{type(err).__name__}: {err} (traceback in {failure_file}); "
                        f"{len(store)} finished run(s) are saved in {store.out_dir}, rerun "
                        f"to resume") from err
            else:
                store.add(outcome.row)
                failure_file.unlink(missing_ok=True)
                n_run += 1
            bar.update(1)
    finally:
        # Stop the executor now (its workers, a local Ray instance), not whenever the
        # generator is garbage-collected: on Ctrl-C or a failed run the sweep exits at once.
        close = getattr(outcomes, "close", None)
        if close is not None:
            close()
        bar.close()
    return SweepResult(store.out_dir, len(plan), skipped, n_run, len(failed),
                       (store.parquet_path, store.csv_path) if store.parquet_path.exists()
                       else (store.csv_path,), tuple(failed))
