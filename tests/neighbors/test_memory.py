"""A memmap larger than the search's working memory streams with a bounded resident set.

The search runs in a child process that reports its peak resident set size
(``getrusage(RUSAGE_SELF).ru_maxrss``) after importing idscope and after the search. The
data are integers in [0, 255] stored as float32, so that the float64 brute force below
(a Gram matrix of integers below 2**53) is exact, exact ties occur, and the search must
break them by index.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np

N, D, K = 600, 100_000, 4  # 240 MB of float32
FILE_MIB = N * D * 4 / 2**20

CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    import idscope

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    path, out, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    base = peak()
    X = np.load(path, mmap_mode="r")
    # validation (a finite-value pass over the file) and the feature-chunked search
    knn = idscope.kneighbors(X, k, memory_budget=32 << 20)
    after_features = peak()
    # a budget too small for the N x N matrix: the search over tiles of points
    tiles = idscope.kneighbors(X, k, memory_budget=4 << 20, validate=False)
    np.savez(out, d=knn.distances, i=knn.indices, td=tiles.distances, ti=tiles.indices)
    print(json.dumps({"base": base, "features": after_features, "tiles": peak()}))
    """
)


def _data(path) -> np.memmap:
    """Write (N, D) integer-valued float32 rows in blocks: points on a 2-D curved manifold
    (like images of a smoothly moving pattern), rounded to integers, plus two exact
    duplicates and a near copy; then open the file as a memmap."""
    rng = np.random.default_rng(0)
    t = rng.random((N, 2))
    freq = rng.normal(size=(2, D))
    phase = rng.uniform(0, 2 * np.pi, size=D)
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f4", "fortran_order": False, "shape": (N, D)})
        for a in range(0, N, 50):
            wave = np.sin(2 * np.pi * t[a : a + 50] @ freq + phase)
            block = np.clip(np.round(128 + 60 * wave) + rng.integers(-2, 3, size=wave.shape),
                            0, 255).astype(np.float32)
            if a == 0:
                block[7] = block[3]  # exact duplicates: distance 0, ties broken by index
                block[11] = block[3]
                block[12] = block[3]
                block[12, :5] += 1  # squared distance 5 from rows 3, 7 and 11
            block.tofile(fh)
    return np.load(path, mmap_mode="r")


def _brute(X: np.memmap, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact float64 brute force, read in row blocks; ties broken by the smaller index."""
    n = X.shape[0]
    gram = np.zeros((n, n))
    for c in range(0, X.shape[1], 8192):
        block = np.asarray(X[:, c : c + 8192], dtype=np.float64)
        gram += block @ block.T
    sq = np.diag(gram).copy()
    d2 = sq[:, None] + sq[None, :] - 2.0 * gram  # exact: integers below 2**53
    np.fill_diagonal(d2, np.inf)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return np.sqrt(np.take_along_axis(d2, idx, axis=1)), idx


def test_memmap_streams_with_bounded_rss_and_is_exact(tmp_path):
    path, out = tmp_path / "x.npy", tmp_path / "knn.npz"
    X = _data(path)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(out), str(K)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rss = json.loads(proc.stdout.strip().splitlines()[-1])
    grown = rss["features"] - rss["base"]
    # reading the 240 MB file through a mapping would fault (nearly) all of it in;
    # the 32 MiB budget plus allocator slack is what streaming may use
    assert grown < 120, f"RSS grew by {grown:.0f} MiB on a {FILE_MIB:.0f} MiB memmap"
    assert rss["tiles"] - rss["base"] < 120, rss

    ref_d, ref_i = _brute(X, K)
    res = np.load(out)
    for d, i in ((res["d"], res["i"]), (res["td"], res["ti"])):
        np.testing.assert_array_equal(i, ref_i)
        np.testing.assert_allclose(d, ref_d, rtol=1e-12, atol=0)
    # duplicates found and ordered by index; the near copy next
    np.testing.assert_array_equal(res["i"][3, :3], [7, 11, 12])
    np.testing.assert_array_equal(res["d"][3, :3], np.sqrt([0.0, 0.0, 5.0]))
