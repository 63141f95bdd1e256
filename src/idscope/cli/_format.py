"""Text output for the CLI: aligned tables and JSON."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from .._atomic import json_default


def fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.{digits}g}"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as an aligned plain-text table."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.rjust(w) for v, w in zip(vals, widths))
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


# Library messages name API arguments; on the command line the same hint names the flag.
_FLAG_HINTS = (
    (r"resize=\(height, width\)", "--resize HxW"),
    (r"\bresize=", "--resize "),
    (r"label_column=(\.\.\.)?", "--label-column NAME"),
    (r"\bintensity='([^']*)'", r"--intensity \1"),
    (r"\bintensity=", "--intensity "),
    (r"\bmode=", "--mode "),
    (r"\bduplicates='([^']*)'", r"--duplicates \1"),
    (r"\bduplicates=", "--duplicates "),
    (r"\baggregate='([^']*)'", r"--aggregate \1"),
    (r"\bsequence='([^']*)'", r"--sequence \1"),
    (r"\bsequence=", "--sequence "),
    (r"pass resume=False( to overwrite [^;.)]*)?", "use another --store folder or delete it"),
    (r"\bx_key=", "--x-key "),
    (r"\by_key=", "--y-key "),
    (r"\bpca_threshold=None", "--no-pca"),
    (r"\bdevice=None", "no --device"),
    (r"\binput_shape=", "--input-shape "),
)


def cli_message(message: str) -> str:
    """A library error message with its API hints rewritten as command-line flags, on one
    line."""
    for pattern, flag in _FLAG_HINTS:
        message = re.sub(pattern, flag, message)
    return " ".join(message.split())


def interval_notes(results: Sequence[Any]) -> list[str]:
    """One sentence for each result whose printed estimate is not inside its printed 95 %
    interval, saying why, so that no line reads as a contradiction."""
    notes = []
    for r in results:
        est, lo, hi = float(r.dimension), float(r.ci_low), float(r.ci_high)
        if not all(map(math.isfinite, (est, lo, hi))):
            continue
        factor = float(getattr(r, "convention_factor", 1.0))
        if factor != 1.0:
            notes.append(f"{r.method}: the estimate {fmt(est)} is of {fmt(factor)}·d (Pope et "
                         f"al.'s k-2 normalisation); d itself is {fmt(est / factor)} and the "
                         f"95% interval [{fmt(lo)}, {fmt(hi)}] is for d")
        elif not lo <= est <= hi:
            notes.append(f"{r.method}: the estimate {fmt(est)} (all points) lies outside the "
                         f"95% interval [{fmt(lo)}, {fmt(hi)}] of "
                         f"{r.params.get('interval', 'its resamples')}: the resampled "
                         f"estimates are biased for this estimator (e.g. a bootstrap draws "
                         f"duplicate points); read the interval as their spread, not as "
                         f"bounds on the estimate")
    return notes


def to_json(obj: Any) -> str:
    """JSON for the terminal: numpy values as numbers, anything else unknown as its text."""

    def default(o: Any) -> Any:
        try:
            return json_default(o)
        except TypeError:
            return str(o)

    return json.dumps(obj, indent=2, default=default)
