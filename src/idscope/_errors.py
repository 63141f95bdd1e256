"""The exception family of idscope (a leaf module: imports nothing from the package)."""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """``"Type: message"`` of a library's exception on one line (numpy's and Pillow's messages
    may span several), for quoting it in an idscope error."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


class IdscopeError(Exception):
    """Base class of every error idscope raises on purpose."""


class InputError(IdscopeError, ValueError):
    """Bad user input: the message names the problem, the count and the caller."""


class InputTypeError(InputError, TypeError):
    """Input of the wrong type (values that are not numbers): an :class:`InputError` that is
    also a ``TypeError``, as scikit-learn's contract expects."""


class DuplicatePointsError(InputError):
    """Raised under ``duplicates="error"`` when the data contain identical rows."""


class MissingDependencyError(IdscopeError, ImportError):
    """An optional dependency needed by the requested feature is not installed."""


class StorageError(IdscopeError, OSError):
    """A file could not be written: the disk is full, a file-size or quota limit was hit, or
    the folder is not writable. Nothing partial is left behind; rerun once there is room."""


class FolderBusyError(IdscopeError):
    """Another idscope run holds the lock of the output folder (see :mod:`idscope._lock`)."""


class SmallSampleWarning(UserWarning):
    """An estimate from so few points that its value and interval are not reliable (see
    :func:`idscope._validation.check_sample_size`)."""
