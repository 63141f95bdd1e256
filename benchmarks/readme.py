"""Copy a benchmark's table into the README, so the README shows a results file's numbers
and no others (``neighbors.py --readme``, ``estimators.py --readme``)."""

from __future__ import annotations

from pathlib import Path

from idscope._atomic import write_text

README = Path(__file__).resolve().parents[1] / "README.md"


def table_at(lines: list[str], header: str, where: str = "the text") -> tuple[int, int]:
    """(start, end) of the table whose first line starts with ``header``: up to the next
    blank line."""
    start = next((i for i, ln in enumerate(lines) if ln.startswith(header)), None)
    if start is None:
        raise SystemExit(f"no table starting {header!r} in {where}")
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return start, end


def splice_table(header: str, table: list[str], readme: Path = README) -> int:
    """Replace the README's table whose first line starts with ``header`` by ``table``
    (written atomically); return the number of data rows written."""
    lines = readme.read_text().splitlines()
    start, end = table_at(lines, header, str(readme))
    lines[start:end] = table
    write_text(readme, "\n".join(lines) + "\n")
    return len(table) - 2
