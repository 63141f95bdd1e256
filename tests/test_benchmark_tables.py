"""The README's benchmark tables are the results files' numbers, and each results table is
its CSV's: what ``benchmarks/neighbors.py --readme`` and ``estimators.py --readme`` would
write is what the README shows (a re-run that is not copied over fails here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import estimators
        import neighbors
        yield neighbors, estimators
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def _in_readme(table: list[str]) -> bool:
    """``table`` stands in the README as consecutive lines."""
    n = len(table)
    return any(README[i:i + n] == table for i in range(len(README) - n + 1))


def test_neighbour_tables_are_the_results_files(bench):
    neighbors, _ = bench
    for table in (neighbors.readme_table(), neighbors.high_table(),
                  neighbors.targets_table()):
        assert len(table) > 2 and _in_readme(table), table[0]


def test_neighbour_results_tables_are_their_csv(bench):
    neighbors, _ = bench
    for kind in neighbors.DATA:
        rows = neighbors.read_results(kind)
        assert rows, kind
        table, checks = neighbors.summarise(rows)
        text = neighbors.results_file(kind, "md").read_text(encoding="utf-8")
        assert table in text
        assert "\n".join(f"- {c}" for c in checks) in text


def test_estimator_table_is_the_results_file(bench):
    _, estimators = bench
    rows = estimators.read_csv(ROOT / "benchmarks" / "results" / "estimators.csv")
    table = estimators.readme_table(rows)
    assert len(table) > 2 and _in_readme(table)
    text = (ROOT / "benchmarks" / "results" / "estimators.md").read_text(encoding="utf-8")
    assert "\n".join(f"- {t}" for t in estimators.targets(rows)) in text
