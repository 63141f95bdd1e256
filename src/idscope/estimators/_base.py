"""The thin class wrapper shared by every estimator (scikit-learn contract)."""

from __future__ import annotations

import inspect
from typing import Any

from ._result import IDResult


class BaseEstimator:
    """``__init__`` stores parameters; ``fit(X)`` calls the functional core and stores
    ``result_`` and ``dimension_``; ``get_params`` / ``set_params`` as in scikit-learn."""

    _function: Any = None

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params: Any):
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"{type(self).__name__}: unknown parameter {key!r}")
            setattr(self, key, value)
        return self

    def fit(self, X: Any, y: Any = None):
        self.result_: IDResult = type(self)._function(X, **self.get_params())
        self.dimension_ = self.result_.dimension
        self.stderr_ = self.result_.stderr
        self.ci_ = self.result_.ci
        return self

    def fit_transform(self, X: Any, y: Any = None) -> float:
        return self.fit(X).dimension_

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
