"""Exact k nearest neighbours split over Ray tasks (``kneighbors(..., executor="ray")``).

The reference points are put once in Ray's object store; each task searches the exact
neighbours of one block of query rows against them with the local engine (reference mode,
one extra neighbour to drop the point itself), so the result is the local engine's, bit for
bit: the same power-of-two frame, the same float64 verification and the same (distance,
index) order.

Cost model. Every task reads the reference from the object store (zero-copy on the node that
holds it; one transfer of M·D·itemsize bytes to each other node) and returns B·k distances
and indices for its B query rows; Ray adds a few seconds to start a local instance and a few
milliseconds per task. The search itself costs about N·M·D/(cores·rate) (float32 products)
or N·log M (trees, low D). On one machine the local engine already uses every core, so Ray
pays off only when a cluster adds machines: when the search time divided by the number of
machines saves more than the start-up plus one reference transfer per machine (for example
N = M = 10⁶ at D = 784: hours locally, 3 GB per transfer).

A local instance (no ``address``) binds to 127.0.0.1 only: Ray has no authentication.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .._errors import InputError, MissingDependencyError

__all__ = ["kneighbors_ray", "loopback_only", "ray_session"]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("executor='ray' needs Ray, which is not installed "
                                     "(pip install 'idscope[ray]' or pip install ray)") from None
    return ray


@contextmanager
def loopback_only(ray: Any) -> Iterator[None]:
    """Make a local Ray instance listen on 127.0.0.1 only (the kNN search and the sweeps).

    ``ray.init(_node_ip_address="127.0.0.1")`` alone is turned back into the machine's
    routable address; Ray keeps loopback only where it treats the node as a single-machine
    one (its ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` mode, read once at import). So that
    mode is set for the processes Ray starts (environment) and for this process's already
    imported Ray (its constant), and both are restored afterwards, so that a later
    connection to a real cluster is not affected. ``tests/sweeps/test_ray_cluster.py``
    checks every listening socket of a sweep's instance.
    """
    var = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
    old_env = os.environ.get(var)
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    old_const = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[var] = "0"
    if old_const is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = old_env
        if old_const is not None:
            constants.ENABLE_RAY_CLUSTER = old_const


@contextmanager
def ray_session(address: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """The ``ray`` module, initialised: an instance this process already joined, the cluster
    at ``address``, or a local instance on 127.0.0.1 with ``workers`` CPUs (shut down on
    exit when this function started it)."""
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address:
        ray.init(address=address, **kwargs)
    else:
        if workers:
            kwargs["num_cpus"] = int(workers)
        with loopback_only(ray):
            ray.init(_node_ip_address="127.0.0.1", **kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()


def _search_block(search: Callable[..., Any], Q: np.ndarray, R: np.ndarray, start: int, k: int,
                  symmetric: bool, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Exact neighbours of the rows ``Q`` (rows ``start...`` of the data) among ``R``, by
    ``search`` (the local engine's ``kneighbors``)."""
    if not symmetric:
        knn = search(Q, k, reference=R, validate=False, **options)
        return knn.distances, knn.indices
    knn = search(Q, k + 1, reference=R, validate=False, **options)
    d, i = knn.distances, knn.indices
    # drop the point itself (at distance 0, among its copies in index order); when more
    # than k copies come before it, it lies beyond the list: drop the last one instead
    own = i == np.arange(start, start + len(Q))[:, None]
    own[~own.any(axis=1), -1] = True
    return d[~own].reshape(len(Q), k), i[~own].reshape(len(Q), k)


def kneighbors_ray(X: np.ndarray, k: int, reference: np.ndarray | None, *,
                   search: Callable[..., Any], address: str | None = None,
                   workers: int | None = None, n_blocks: int | None = None,
                   options: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(distances, indices) of the exact k nearest neighbours, computed in Ray tasks.

    ``X`` and ``reference`` are validated in-memory arrays; ``n_blocks`` query blocks
    (default: two per CPU of the Ray instance); each task runs ``search`` (the local engine,
    :func:`~idscope.neighbors.kneighbors`, passed in by it: this module does not import the
    engine) with ``options``.
    """
    symmetric = reference is None
    R = X if symmetric else reference
    Q = np.asarray(X)
    if symmetric and k + 1 > len(R):
        raise InputError(f"kneighbors: k={k} needs at least {k + 1} points")
    options = dict(options or {})
    with ray_session(address, workers) as ray:
        if n_blocks is None:
            n_blocks = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        n_blocks = max(1, min(int(n_blocks), len(Q)))
        edges = np.linspace(0, len(Q), n_blocks + 1).astype(np.int64)
        task = ray.remote(num_cpus=1, max_retries=0)(_search_block)
        r_ref = ray.put(np.asarray(R))
        refs = [task.remote(search, Q[a:b], r_ref, int(a), k, symmetric, options)
                for a, b in zip(edges[:-1], edges[1:]) if b > a]
        parts = ray.get(refs)
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
