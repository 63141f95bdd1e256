"""The estimators and local ID accept ``executor="ray"`` and give exactly the local result.

Ray is a test dependency (it runs in CI). One local instance with two CPUs (bound to
127.0.0.1 by idscope's ``ray_session``) serves every test of this module; each estimator's
search joins it.
"""

import numpy as np
import pytest
import ray  # a test dependency: this test must run in CI, not skip

import idscope
from idscope.neighbors.ray import ray_session


@pytest.fixture(scope="module")
def ray_instance():
    assert not ray.is_initialized()
    with ray_session(workers=2):
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
        yield
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 12))
    X[7] = X[250]  # a duplicate: "remove" searches the distinct rows again, also on Ray
    return X


CASES = {
    "twonn": lambda X, **kw: idscope.twonn(X, **kw),
    "twonn-ml": lambda X, **kw: idscope.twonn(X, method="mle", **kw),
    "mle": lambda X, **kw: idscope.mle(X, k=10, **kw),
    "mle-range": lambda X, **kw: idscope.mle(X, k=(5, 12), interval="independent", **kw),
    "gride": lambda X, **kw: idscope.gride(X, n1=2, n2=4, **kw),
}


@pytest.mark.parametrize("name", list(CASES))
def test_estimators_on_ray_equal_local(ray_instance, data, name):
    fn = CASES[name]
    want, got = fn(data), fn(data, executor="ray")
    assert got.n_duplicates == want.n_duplicates == 1
    # the whole result (estimate, interval, design effect, every parameter) is identical
    assert got.to_dict() == want.to_dict()


def test_estimator_classes_forward_the_executor(ray_instance, data):
    est = idscope.TwoNN(executor="ray").fit(data)
    assert est.result_.to_dict() == idscope.twonn(data).to_dict()


@pytest.mark.parametrize("kwargs", [{"method": "mle", "k": 10},
                                    {"method": "twonn", "k": 8, "smooth": 4}])
def test_local_id_on_ray_equals_local(ray_instance, data, kwargs):
    np.testing.assert_array_equal(idscope.local_id(data, executor="ray", **kwargs),
                                  idscope.local_id(data, **kwargs))


def test_local_id_against_a_reference_on_ray(ray_instance, data):
    rng = np.random.default_rng(4)
    Q = data + 0.01 * rng.normal(size=data.shape)  # e.g. perturbed inputs and their sources
    np.testing.assert_array_equal(
        idscope.local_id(Q, k=10, reference=data, paired=True, executor="ray"),
        idscope.local_id(Q, k=10, reference=data, paired=True))
