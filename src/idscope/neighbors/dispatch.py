"""Which exact search answers a query fastest: a k-d tree or float32 products.

The rule comes from ``benchmarks/neighbors.py`` (table in the README, "How exact and how
fast"): a k-d tree's cost grows quickly with the dimension and slowly with N; the tiled
products cost O(N²·D) whatever the dimension.
"""

from __future__ import annotations

from .source import PointSource

__all__ = ["ALGORITHMS", "choose_algorithm", "tree_possible"]

ALGORITHMS = ("auto", "tree", "brute")


def tree_possible(src: PointSource, ref: PointSource, budget: int) -> bool:
    """The tree path needs CPU data whose float64 copy fits in memory."""
    if src.device.type != "cpu" or src.is_torch or ref.is_torch:
        return False
    copies = 8 * src.d * (src.n + (0 if ref is src else ref.n))
    return not (src.streamed or ref.streamed) or copies <= 4 * budget


def tree_max_dim(n: int) -> int:
    """Largest dimension for which the tree wins at this many reference points.

    Measured on uniform points in a cube (the hardest case for a tree: data on a
    lower-dimensional manifold favour it further), k = 2: at N = 10 000 the tree took
    0.25 / 1.6 / 11.6 / 47 s at D = 5 / 8 / 12 / 20 against 3.5 / 6.2 / 7.3 / 8.8 s for the
    float32 products; at N = 2 000, D = 8 both took 0.3 s. The products grow as N², the
    tree more slowly, so the crossover moves up with N; D <= 8 is kept as the rule until
    larger cells are measured.
    """
    del n
    return 8


def choose_algorithm(src: PointSource, ref: PointSource, k: int, budget: int) -> str:
    """``"tree"`` or ``"brute"`` for this search (see module)."""
    if tree_possible(src, ref, budget) and src.d <= tree_max_dim(ref.n):
        return "tree"
    return "brute"
