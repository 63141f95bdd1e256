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


def tree_max_dim(n: int, k: int) -> int:
    """Largest dimension for which the tree wins at ``n`` reference points and ``k``
    neighbours.

    Measured by ``benchmarks/neighbors.py`` on uniform points in a cube (the hardest case
    for a tree: data on a lower-dimensional manifold favour it further), README table:
    at N = 10 000 and k = 2 the tree took 0.01 / 0.01 / 0.02 / 0.07 / 0.37 / 1.14 s at
    D = 2 / 3 / 5 / 8 / 12 / 20 against 0.11 / 0.12 / 0.12 / 0.13 / 0.11 / 0.13 s for the
    float32 products; at N = 100 000 1.24 s against 6.98 s at D = 8, 10.1 s against 7.05 s
    at D = 12 and more than 60 s against 7.99 s at D = 20. The tree's cost grows more slowly
    with N (about N^1.5 at D = 12) than the products' (N²), and faster with k: at
    300 000 × 12 it took 50.4 s for k = 2 against 57.6 s for the products, but 79.9 s for
    k = 6 and 165 s for k = 20 (the products: 56.6 and 64.7 s); at 10⁶ × 12 the tree took
    346 s for k = 2, MLE's estimate (k = 20, through the products) 651 s. So
    D <= 8, and D <= 12 from N = 300 000 when k <= 2 (TwoNN's search).
    """
    return 12 if n >= 300_000 and k <= 2 else 8


def choose_algorithm(src: PointSource, ref: PointSource, k: int, budget: int) -> str:
    """``"tree"`` or ``"brute"`` for this search (see module)."""
    if tree_possible(src, ref, budget) and src.d <= tree_max_dim(ref.n, k):
        return "tree"
    return "brute"
