"""The thin class wrapper shared by every estimator: scikit-learn's contract.

The classes inherit :class:`sklearn.base.BaseEstimator` (``get_params`` / ``set_params``,
cloning, tags) and pass :func:`sklearn.utils.estimator_checks.check_estimator`: ``__init__``
only stores keyword parameters, ``fit(X, y=None)`` validates ``X`` through idscope's one input
gate, calls the functional core and returns ``self`` with ``result_``, ``dimension_``,
``stderr_``, ``ci_`` and ``n_features_in_``. An intrinsic-dimension estimator describes a
dataset; it neither predicts nor transforms, so it has no ``transform`` (0.1's
``fit_transform``, which returned the dimension as a float, is deprecated: use
``fit(X).dimension_``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator as _SklearnEstimator

from ._result import IDResult


class BaseEstimator(_SklearnEstimator):
    """``fit(X)`` calls the class's functional core (``_function``) with the parameters."""

    _function: Any = None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags

    def fit(self, X: Any, y: Any = None):
        """Estimate the intrinsic dimension of the rows of ``X`` (``y`` is ignored)."""
        self.result_: IDResult = type(self)._function(X, **self.get_params())
        self.dimension_ = self.result_.dimension
        self.stderr_ = self.result_.stderr
        self.ci_ = self.result_.ci
        self.n_features_in_ = _n_features(X)
        return self

    def fit_transform(self, X: Any, y: Any = None) -> float:
        """Deprecated (0.2; removed in the next release): ``fit(X).dimension_``."""
        warnings.warn(f"{type(self).__name__}.fit_transform is deprecated: an ID estimator does "
                      f"not transform; use fit(X).dimension_", DeprecationWarning, stacklevel=2)
        return self.fit(X).dimension_

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def _n_features(X: Any) -> int:
    """Features per row of what ``fit`` read (images count every value); 0 for a
    precomputed ``KNeighbors``, whose features are not known."""
    shape = getattr(X, "shape", None)
    if shape is None:
        shape = np.shape(X) if isinstance(X, (list, tuple)) else None
    if shape is None or len(shape) == 0:
        return 0
    return int(np.prod(shape[1:])) if len(shape) > 1 else 1
