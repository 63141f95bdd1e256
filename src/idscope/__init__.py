"""idscope: intrinsic geometry of datasets and neural-network representations.

``import idscope`` imports no numpy, torch, plotting, pandas, Ray or transformers: the public
names below load their module on first use, and each module imports what it needs.
"""

from ._errors import (
    DuplicatePointsError,
    IdscopeError,
    InputError,
    MissingDependencyError,
    SmallSampleWarning,
)

__version__ = "0.1.0"

# Public names and the submodule each comes from. They are imported on first use (PEP 562),
# so that ``import idscope`` (and ``idscope --version``) does not pay for numpy, scipy and
# torch until a name that needs them is used.
_LAZY = {
    **dict.fromkeys(("DataDimension", "SharpnessResult", "data_dimension", "label_sharpness"),
                    "dataset"),
    **dict.fromkeys(("GRIDE", "MLE", "PCAID", "IDResult", "ScaleResult", "TwoNN", "gride",
                     "mle", "pca_id", "scale_analysis", "twonn", "SaturationWarning"),
                    "estimators"),
    **dict.fromkeys(("KNeighbors", "kneighbors"), "neighbors"),
    **dict.fromkeys(("neighborhood_overlap", "cka", "local_id", "LocalID", "IDMonitor",
                     "overlap_matrix", "cka_matrix"), "geometry"),
    **dict.fromkeys(("ActivationStore", "Profile", "activations", "load_model", "profile"),
                    "representations"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'idscope' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "IdscopeError", "InputError", "DuplicatePointsError", "MissingDependencyError",
    "SmallSampleWarning",
    "KNeighbors", "kneighbors",
    "IDResult", "twonn", "TwoNN", "mle", "MLE", "gride", "GRIDE", "pca_id", "PCAID",
    "scale_analysis", "ScaleResult", "SaturationWarning",
    "label_sharpness", "SharpnessResult", "data_dimension", "DataDimension",
    "activations", "ActivationStore", "profile", "Profile", "load_model",
    "neighborhood_overlap", "overlap_matrix", "cka", "cka_matrix", "local_id", "LocalID",
    "IDMonitor",
]
