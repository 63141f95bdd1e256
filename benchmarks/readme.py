"""Copy a benchmark's table into the README, so the README shows a results file's numbers
and no others (``neighbors.py --readme``, ``estimators.py --readme``)."""

from __future__ import annotations

import os
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def splice_table(header: str, table: list[str], readme: Path = README) -> int:
    """Replace the README's table whose first line starts with ``header`` (up to the next
    blank line) by ``table``; return the number of data rows written."""
    lines = readme.read_text().splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith(header)), None)
    if start is None:
        raise SystemExit(f"no table starting {header!r} in {readme}")
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    lines[start:end] = table
    tmp = readme.with_name(readme.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, readme)  # atomic: an interrupted splice leaves the README as it was
    return len(table) - 2
