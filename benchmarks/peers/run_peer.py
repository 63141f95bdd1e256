"""Time scikit-dimension's and DADApy's estimators on one ``.npy`` file; print JSON.

Runs inside ``.venv-peers`` (numpy<2; see ``setup.sh``), never in the project's venv::

    .venv-peers/bin/python benchmarks/peers/run_peer.py DATA.npy --method skdim_twonn

Methods (each the peer's documented default use):

- ``skdim_twonn``: ``skdim.id.TwoNN().fit(X)`` (linear fit, 10 % of μ discarded; for
  D > 25 it sorts full rows of ``pairwise_distances_chunked``).
- ``skdim_mle``: ``skdim.id.MLE().fit(X, n_neighbors=k)`` (Levina–Bickel, MacKay–Ghahramani
  averaging; scikit-learn's brute ``NearestNeighbors``).
- ``dadapy_twonn``: ``dadapy.Data(X).compute_id_2NN()`` (copies X to float64, then
  scikit-learn's ``NearestNeighbors`` up to ``maxk = min(100, N - 1)`` neighbours).

``--mmap`` opens the file memory-mapped instead of reading it (the peers then fault the
pages in themselves). Times cover the estimator call only, not reading the file. The JSON
line has ``seconds`` (one entry per repeat), ``dimension`` and ``peak_rss_mib``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings
from importlib import metadata


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run(method: str, X, k: int) -> float:
    if method == "skdim_twonn":
        import skdim

        return float(skdim.id.TwoNN().fit(X).dimension_)
    if method == "skdim_mle":
        import skdim

        return float(skdim.id.MLE().fit(X, n_neighbors=k).dimension_)
    if method == "dadapy_twonn":
        import contextlib
        import io

        from dadapy import Data

        with contextlib.redirect_stdout(io.StringIO()):  # DADApy prints progress
            return float(Data(coordinates=X).compute_id_2NN()[0])
    raise SystemExit(f"run_peer: unknown method {method!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help=".npy file (N, D)")
    parser.add_argument("--method", required=True,
                        choices=["skdim_twonn", "skdim_mle", "dadapy_twonn"])
    parser.add_argument("--k", type=int, default=20, help="neighbours for MLE (default 20)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--repeat-below", type=float, default=float("inf"),
                        help="no further run after one of this many seconds or more")
    parser.add_argument("--mmap", action="store_true", help="memory-map the file")
    args = parser.parse_args(argv)

    import numpy as np

    X = np.load(args.data, mmap_mode="r" if args.mmap else None)

    seconds, dim = [], float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # warm-up on a tiny array: lazy imports and JIT compilation stay out of the timings
        _run(args.method, np.random.default_rng(0).standard_normal((64, 32)), min(args.k, 10))
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            dim = _run(args.method, X, args.k)
            seconds.append(time.perf_counter() - t0)
            if seconds[-1] >= args.repeat_below:
                break
    versions = {}
    for name in ("numpy", "scikit-dimension", "dadapy", "scikit-learn"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    print(json.dumps({"method": args.method, "seconds": seconds, "dimension": dim,
                      "peak_rss_mib": _rss_mib(), "n": int(X.shape[0]), "d": int(X.shape[1]),
                      "versions": versions}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
