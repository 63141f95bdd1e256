"""A static, offline HTML report: findings with their numbers, figures and tables.

The page is rebuilt from a saved ``report.json`` (see :class:`Report`), so ``idscope report
DIR`` needs no recomputation. Every text that comes from data or a config is escaped;
figures and tables are files next to the page (no external assets).
"""

from __future__ import annotations

import csv
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import write_json, write_text
from ..studies.base import Finding

__all__ = ["Finding", "Report", "render_html", "write_report", "load_report", "versions"]


@dataclass(frozen=True)
class Report:
    """A page: findings, settings (with seeds), versions, runtime, the command that made it,
    free-text ``notes`` and further tables (paths relative to the page's folder)."""

    title: str
    intro: str
    findings: tuple[Finding, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    runtime_seconds: float | None = None
    extra_tables: tuple[str, ...] = ()
    command: str = ""
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "intro": self.intro,
                "findings": [f.to_dict() for f in self.findings], "settings": self.settings,
                "versions": self.versions, "runtime_seconds": self.runtime_seconds,
                "extra_tables": list(self.extra_tables), "command": self.command,
                "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        return cls(d["title"], d.get("intro", ""),
                   tuple(Finding.from_dict(f) for f in d.get("findings", ())),
                   d.get("settings", {}), d.get("versions", {}), d.get("runtime_seconds"),
                   tuple(d.get("extra_tables", ())), d.get("command", ""),
                   tuple(d.get("notes", ())))


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.7em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
.claim{color:#555;font-style:italic}.num{font-size:1.1em;font-weight:600}
.badge{display:inline-block;padding:.1em .5em;border-radius:.4em;font-size:.85em;margin-left:.5em}
.yes{background:#d8f3dc;color:#1b4332}.no{background:#ffe5d9;color:#7f2704}
.na{background:#eee;color:#444}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
.scroll{max-width:100%;overflow-x:auto}p,li,h1,h2{overflow-wrap:anywhere}
.note{color:#7f2704;font-size:.85em}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}th{background:#f4f4f4}
img{max-width:100%;border:1px solid #eee}.small{color:#666;font-size:.85em}
pre{background:#f7f7f7;padding:.7em;overflow-x:auto;font-size:.85em}
"""


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()  # numpy scalars
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.4g}"
    return str(x)


def _csv_table(path: Path, max_rows: int = 25, max_columns: int = 20) -> str:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return "<p class='small'>(empty table)</p>"
    head, body = rows[0], rows[1:]
    if len(head) > max_columns:
        return (f"<p class='small'>({len(body)} rows × {len(head)} columns: open the CSV "
                f"file)</p>")
    out = ["<div class='scroll'><table><tr>"
           + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for row in body[:max_rows]:
        cells = []
        for c in row:
            try:
                c = _fmt(float(c)) if c not in ("", "True", "False") else c
            except ValueError:
                pass
            cells.append(f"<td>{html.escape(c)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table></div>")
    if len(body) > max_rows:
        out.append(f"<p class='small'>{len(body) - max_rows} more rows in the CSV.</p>")
    return "\n".join(out)


def _scroll(table_html: str) -> str:
    """A wide table scrolls inside its own box instead of widening the page."""
    return f"<div class='scroll'>{table_html}</div>"


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _verdict(f: Finding) -> bool | None:
    """A verdict that rests on a number that could not be computed (NaN, e.g. a
    correlation over fewer than 3 tasks) is shown as "not testable", not as "not shown"."""
    if f.shown is not None and f.value is not None and not _finite(f.value):
        return None
    return f.shown


def _outside(value: Any, lo: Any, hi: Any) -> bool:
    """The value is finite and not inside its finite interval."""
    if not (_finite(value) and _finite(lo) and _finite(hi)):
        return False
    return not float(lo) <= float(value) <= float(hi)


_OUTSIDE_NOTE = ("† The measured value lies outside its 95% interval: the value is computed "
                 "on all the data (or in another normalisation, e.g. MLE's k−2 estimates "
                 "(k−2)/(k−1)·d) while the interval comes from resamples or is for d "
                 "itself; read the interval as stated in the criterion, not as bounds on "
                 "the value.")


def _badge(shown: bool | None) -> str:
    if shown is True:
        return "<span class='badge yes'>effect shown</span>"
    if shown is False:
        return "<span class='badge no'>effect NOT shown on this data</span>"
    return "<span class='badge na'>not testable here</span>"


def _interval(lo: Any, hi: Any) -> str:
    if lo is None or hi is None:
        return ""
    return f"[{_fmt(float(lo))}, {_fmt(float(hi))}]"


def _details(rows: tuple[dict[str, Any], ...]) -> str:
    e = html.escape
    out = ["<table><tr><th>measurement</th><th>value</th><th>95% interval</th>"
           "<th>criterion</th><th>holds</th></tr>"]
    outside = False
    for r in rows:
        value = r.get("value")
        shown = r.get("shown")
        verdict = "yes" if shown is True else "no" if shown is False else ""
        mark = ""
        if _outside(value, r.get("ci_low"), r.get("ci_high")):
            mark, outside = " †", True
        out.append(f"<tr><td style='text-align:left'>{e(str(r.get('label', '')))}</td>"
                   f"<td>{e(_fmt(value)) if value is not None else ''}{mark}</td>"
                   f"<td>{e(_interval(r.get('ci_low'), r.get('ci_high')))}</td>"
                   f"<td style='text-align:left'>{e(str(r.get('criterion', '')))}</td>"
                   f"<td>{verdict}</td></tr>")
    out.append("</table>")
    html_table = _scroll("\n".join(out))
    return html_table + (f"<p class='note'>{e(_OUTSIDE_NOTE)}</p>" if outside else "")


def render_html(report: Report, root: str | Path) -> str:
    """The page for ``report``; figure and table paths are relative to ``root``.

    Every text that comes from the report (titles, readings, labels, settings, paths) is
    HTML-escaped; the page references only files beside it (no external assets).
    """
    root = Path(root)
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{e(report.title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{e(report.title)}</h1>", f"<p>{e(report.intro)}</p>"]
    # summary table of all findings
    parts.append("<div class='scroll'><table><tr><th>#</th><th>finding</th><th>measured</th>"
                 "<th>95% interval</th><th>verdict</th></tr>")
    any_outside = False
    for i, f in enumerate(report.findings, 1):
        val = "" if f.value is None else f"{e(f.value_label)} = {e(_fmt(f.value))}"
        if f.interval is not None and _outside(f.value, *f.interval):
            val, any_outside = val + " †", True
        ci = "" if f.interval is None else e(_interval(*f.interval))
        parts.append(f"<tr><td>{i}</td><td style='text-align:left'><a href='#{e(f.key)}'>"
                     f"{e(f.title)}</a></td><td>{val}</td><td>{ci}</td>"
                     f"<td>{_badge(_verdict(f))}</td></tr>")
    parts.append("</table></div>")
    if any_outside:
        parts.append(f"<p class='note'>{e(_OUTSIDE_NOTE)}</p>")
    for note in report.notes:
        parts.append(f"<p class='small'>{e(note)}</p>")
    shown_tables: set[str] = set()  # each table is printed once, later mentions link to it
    for i, f in enumerate(report.findings, 1):
        parts.append(f"<h2 id='{e(f.key)}'>{i}. {e(f.title)}{_badge(_verdict(f))}</h2>")
        parts.append(f"<p class='claim'>Paper: {e(f.claim)}</p>")
        if f.value is not None:
            ci = ("" if f.interval is None else
                  f" (95% interval {_fmt(f.interval[0])} to {_fmt(f.interval[1])})")
            parts.append(f"<p class='num'>{e(f.value_label)} = {e(_fmt(f.value))}{e(ci)}</p>")
            if f.interval is not None and _outside(f.value, *f.interval):
                parts.append(f"<p class='note'>{e(_OUTSIDE_NOTE)}</p>")
        parts.append(f"<p>{e(f.reading)}</p>")
        if f.criterion:
            parts.append(f"<p class='small'>Decided by: {e(f.criterion)}</p>")
        if f.details:
            parts.append(_details(f.details))
        for fig in f.figures:
            parts.append(f"<p><img src='{e(fig)}' alt='{e(f.title)}'></p>")
        for tab in f.tables:
            parts.append(f"<p class='small'>Table: <a href='{e(tab)}'>{e(tab)}</a>"
                         + (" (shown above)</p>" if tab in shown_tables else "</p>"))
            if tab not in shown_tables and (root / tab).exists():
                parts.append(_csv_table(root / tab))
            shown_tables.add(tab)
    if report.extra_tables:
        parts.append("<h2>Tables</h2>")
        for tab in report.extra_tables:
            parts.append(f"<p class='small'><a href='{e(tab)}'>{e(tab)}</a></p>")
            if tab not in shown_tables and (root / tab).exists():
                parts.append(_csv_table(root / tab))
            shown_tables.add(tab)
    parts.append("<h2>Settings, seeds and versions</h2>")
    if report.command:
        parts.append(f"<p>Command: <code>{e(report.command)}</code></p>")
    parts.append(f"<pre>{e(json.dumps(report.settings, indent=2, default=str))}</pre>")
    parts.append(_scroll("<table>" + "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>"
                                              for k, v in report.versions.items())
                         + "</table>"))
    if report.runtime_seconds is not None:
        parts.append(f"<p class='small'>Runtime: {report.runtime_seconds:.1f} s.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: Report, out_dir: str | Path) -> Path:
    """Save ``report.json`` and ``index.html`` (atomically) into ``out_dir``."""
    out_dir = Path(out_dir)
    write_json(out_dir / "report.json", report.to_dict())
    page = out_dir / "index.html"
    write_text(page, render_html(report, out_dir))
    return page


def load_report(out_dir: str | Path) -> Report:
    path = Path(out_dir) / "report.json"
    return Report.from_dict(json.loads(path.read_text(encoding="utf-8")))


def versions() -> dict[str, str]:
    """Versions of Python and the libraries a result depends on."""
    import platform

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for mod in ("idscope", "numpy", "scipy", "torch", "sklearn", "pandas", "matplotlib"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # a version is informative, never required
            out[mod] = "unavailable"
    return out
