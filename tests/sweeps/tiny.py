"""A tiny sweep config shared by the sweep tests: one MLP on digit pairs, nothing measured,
so a run lasts as long as its epochs."""

from __future__ import annotations


def tiny_sweep(name: str, tasks: str = "[[0, 1], [3, 8]]", *, epochs: int = 1) -> str:
    """The TOML text of a sweep over ``tasks`` (a TOML list of class pairs)."""
    return f"""
name = "{name}"
[[datasets]]
source = "sklearn:digits"
tasks = {tasks}
[[models]]
name = "mlp"
kwargs = {{ depth = 1, width = 8 }}
[training]
sizes = [40]
test_size = 40
epochs = {epochs}
batch_size = 40
[measure]
d_data = false
label_sharpness = false
d_repr = false
"""
