"""The scikit-learn contract: the four estimator classes pass ``check_estimator``."""

import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.utils.estimator_checks import check_estimator

from idscope import GRIDE, MLE, PCAID, TwoNN

# MLE's default k = 20 needs 21 points; scikit-learn's checks fit on as few as 10 rows.
ESTIMATORS = [TwoNN(), MLE(k=5), GRIDE(), PCAID()]


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_check_estimator(est):
    results = check_estimator(est, on_fail=None)
    failed = [f"{r['check_name']}: {r['exception']}" for r in results
              if r["status"] == "failed"]
    assert not failed, "\n".join(failed)
    assert sum(r["status"] == "passed" for r in results) >= 35


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_fitted_attributes_and_clone(est, rng):
    X = rng.normal(size=(60, 4))
    fitted = clone(est).fit(X)
    assert isinstance(est, BaseEstimator)
    assert fitted.n_features_in_ == 4
    assert fitted.dimension_ == fitted.result_.dimension
    assert clone(fitted).get_params() == est.get_params()
    assert not hasattr(clone(fitted), "dimension_")


def test_fit_transform_is_deprecated(rng):
    X = rng.normal(size=(50, 3))
    with pytest.warns(DeprecationWarning, match="fit\\(X\\).dimension_"):
        d = TwoNN().fit_transform(X)
    assert d == TwoNN().fit(X).dimension_
