"""``kneighbors(..., executor="ray")`` equals the local engine, bit for bit.

Ray is a test dependency (it runs in CI); one local instance with two CPUs is started by
idscope itself (bound to 127.0.0.1) and shut down after the searches.
"""

import numpy as np
import pytest
import ray  # a test dependency: this test must run in CI, not skip

from idscope import kneighbors
from idscope.neighbors.ray import kneighbors_ray, ray_session


def test_ray_equals_local():
    assert not ray.is_initialized()
    rng = np.random.default_rng(0)
    low = rng.integers(0, 5, size=(500, 3)).astype(np.float64)  # ties and duplicates: tree
    high = rng.normal(size=(300, 40)).astype(np.float32)  # float32 products
    high[5] = high[17]
    ref = rng.normal(size=(200, 40))
    cases = [(low, 4, None), (high, 6, None), (high[:50], 3, ref)]
    expected = [kneighbors(X, k, reference=R) for X, k, R in cases]
    # one local instance started by idscope (2 CPUs, loopback only) for every case
    with ray_session(workers=2):
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
        for (X, k, R), want in zip(cases, expected):
            got = kneighbors(X, k, reference=R, executor="ray")
            np.testing.assert_array_equal(got.indices, want.indices)
            np.testing.assert_array_equal(got.distances, want.distances)
        # blocks smaller than the duplicate groups: the point itself lies beyond the list
        d, i = kneighbors_ray(low, 2, None, n_blocks=7, search=kneighbors)
        want = kneighbors(low, 2)
        np.testing.assert_array_equal(i, want.indices)
        np.testing.assert_array_equal(d, want.distances)
    assert not ray.is_initialized()


def test_bad_executor():
    from idscope import InputError

    with pytest.raises(InputError, match="executor"):
        kneighbors(np.eye(3), 1, executor="dask")
