"""Exact nearest neighbours: the engine every estimator, label sharpness and profile uses."""

from .duplicates import duplicate_groups, first_occurrence_mask
from .engine import KNeighbors, distance_error_bound, kneighbors, resolve_device
from .source import PointSource

__all__ = ["KNeighbors", "kneighbors", "duplicate_groups", "first_occurrence_mask", "PointSource",
           "resolve_device", "distance_error_bound"]
