"""Figures, tables and the static HTML report (the only layer that imports matplotlib)."""
