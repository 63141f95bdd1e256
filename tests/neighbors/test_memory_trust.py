"""Issue #12 point 11: PCA-ID's bootstrap weights the streamed sums by resample counts
instead of copying the data for every resample (an 800 MB memmap went from 689 MiB to a
2.2 GiB peak with 3 resamples)."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from idscope import pca_id
from idscope.estimators.pca import components_for_variance, pca_spectrum


def reference_bootstrap(X, threshold, standardize, n_bootstrap, seed):
    """The definition: the spectrum of each resample X[idx], built as a copy."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_bootstrap):
        idx = np.sort(rng.integers(0, len(X), len(X)))
        out.append(components_for_variance(pca_spectrum(X[idx], standardize=standardize),
                                           threshold))
    return out


@pytest.mark.parametrize("shape", [(60, 12), (40, 90)])  # covariance and Gram paths
@pytest.mark.parametrize("standardize", [False, True])
def test_weighted_bootstrap_equals_the_copying_one(rng, shape, standardize):
    n, d = shape
    X = rng.normal(size=(n, d)) + 5.0
    # isotropic, a threshold between two steps of the spectrum: the resamples' counts vary,
    # so the comparison means something
    ev = pca_spectrum(X, standardize=standardize)
    threshold = float(np.cumsum(ev)[3:5].mean() / ev.sum())
    boot = reference_bootstrap(X, threshold, standardize, 25, 3)
    assert len(set(boot)) > 1
    res = pca_id(X, threshold=threshold, standardize=standardize, n_bootstrap=25, seed=3)
    np.testing.assert_allclose(res.stderr, np.std(boot, ddof=1), rtol=1e-12)
    np.testing.assert_allclose([res.ci_low, res.ci_high], np.percentile(boot, [2.5, 97.5]),
                               rtol=1e-12)


@pytest.mark.parametrize("k", [-1000, -500, 0, 500, 1000])
def test_pca_id_at_every_finite_scale(rng, k):
    # found by the fuzz suite: at 1e154 the covariance overflowed (LinAlgError)
    X = rng.normal(size=(50, 6)) * np.linspace(1, 4, 6)
    ref = pca_id(X, threshold=0.8, n_bootstrap=5)
    for standardize in (False, True):
        want = pca_id(X, threshold=0.8, standardize=standardize, n_bootstrap=5)
        got = pca_id(np.ldexp(X, k), threshold=0.8, standardize=standardize, n_bootstrap=5)
        assert (got.dimension, got.ci_low, got.ci_high) == (
            want.dimension, want.ci_low, want.ci_high)
    assert ref.dimension >= 3


SCRIPT = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import idscope.estimators.pca as pca
    from idscope import pca_id

    pca._BUDGET = 16 << 20  # small blocks, so that a copy of the data would stand out
    X = np.load(sys.argv[1], mmap_mode="r")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res = pca_id(X, threshold=0.9, n_bootstrap=3, seed=0)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_mib": (after - before) / 1024, "dimension": res.dimension}))
""")


@pytest.mark.slow  # writes a 256 MiB file (about 15 s on an idle 2-core machine)
def test_bootstrap_of_a_large_memmap_does_not_copy_it(tmp_path):
    n, d = 1 << 21, 32  # 256 MiB of float32
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32,
                                   shape=(n, d))
    block = np.random.default_rng(0).random((1 << 18, d), dtype=np.float32)
    for a in range(0, n, 1 << 18):  # (repeated rows do not matter to the memory use)
        mm[a:a + (1 << 18)] = block
    mm.flush()
    del mm
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "x.npy")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    # a single copy of the data (256 MiB) per resample would dominate; the streamed
    # passes hold a few float64 blocks of 16 MiB
    assert got["growth_mib"] < 64, got
    assert got["dimension"] >= 20  # isotropic: most of the 32 components are needed
