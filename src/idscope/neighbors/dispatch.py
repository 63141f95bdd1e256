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
    for a tree: data on a lower-dimensional manifold favour it further): its ``tree_k2`` and
    ``brute_k2`` columns time each path at k = 2 over the grid N ∈ {10⁴, 10⁵, 10⁶} ×
    D ∈ {2, …, 20} and at 300 000 × 12, and that row also at k = 6 and 20 (README,
    "Neighbour paths"). The tree wins up to D = 8 at every N. At D = 12 its cost grows more
    slowly with N than the products' N²: level with them at N = 10⁵, behind at 300 000,
    ahead at 10⁶; and faster with k (at 300 000 × 12 it falls further behind at k = 6 and
    20). So D <= 8, and D <= 12 from N = 10⁶ when k <= 2 (TwoNN's search); between 300 000
    and 10⁶ points the crossover is not located and the products, measured faster at
    300 000, are kept.
    """
    return 12 if n >= 1_000_000 and k <= 2 else 8


def choose_algorithm(src: PointSource, ref: PointSource, k: int, budget: int) -> str:
    """``"tree"`` or ``"brute"`` for this search (see module)."""
    if tree_possible(src, ref, budget) and src.d <= tree_max_dim(ref.n, k):
        return "tree"
    return "brute"
