"""Exact nearest neighbours: the engine every estimator, label sharpness and profile uses."""

from .duplicates import duplicate_groups, first_occurrence_mask
from .engine import KNeighbors, kneighbors

__all__ = ["KNeighbors", "kneighbors", "duplicate_groups", "first_occurrence_mask"]
