"""The papers' own numbers, printed beside ours.

Each :class:`PaperNumber` is one number a paper reports, with the data and protocol it was
measured on. A judge attaches it to its finding with :func:`beside` (a row of the finding's
``details`` that carries both numbers), and :func:`paper_vs_ours` turns the findings of a
run (or its ``report.json``) into the rows of a "paper vs idscope" table: the claim, the
paper's number, ours with its 95 % interval, the data, and a plain sentence where the
effect does not appear here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .base import Finding, detail

__all__ = ["PaperNumber", "ANSUINI_REFERENCE", "ANSUINI_MNIST", "beside", "paper_vs_ours"]

ANSUINI_REFERENCE = "Ansuini, Laio, Macke & Zoccolan, NeurIPS 2019"

_MNIST = ("MNIST 28×28, their small CNN (Chollet's Keras example), TwoNN on 2 000 training "
          "images, mean ± sd over 50 resamples of 90 %")


@dataclass(frozen=True)
class PaperNumber:
    """One number a paper reports.

    ``value`` is the number (None when the paper gives no single number), ``text`` how the
    paper states it (``"≈ 3"``), ``data`` the data and protocol it was measured on.
    """

    key: str
    quantity: str
    value: float | None
    text: str
    data: str
    reference: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Ansuini et al. 2019, their MNIST experiments (Fig. 4 and the text of §3) and the ImageNet
# correlation (Fig. 5); read from the paper, see docs/science.md.
ANSUINI_MNIST: dict[str, PaperNumber] = {p.key: p for p in (
    PaperNumber("input_id", "input ID", 13.2, "13.2", _MNIST, ANSUINI_REFERENCE),
    PaperNumber("last_hidden_id", "last hidden layer ID, trained", 7.8, "7.8", _MNIST,
                ANSUINI_REFERENCE),
    PaperNumber("shuffled_last_hidden_id", "last hidden layer ID, trained on shuffled labels",
                21.4, "21.4", _MNIST, ANSUINI_REFERENCE),
    PaperNumber("gradient_input_id", "input ID with one random luminance offset per image",
                3.0, "≈ 3", _MNIST, ANSUINI_REFERENCE),
    PaperNumber("hidden_id_vs_error_r", "Pearson r, last hidden ID vs test error", 0.94,
                "0.94", "14 ImageNet CNNs (top-5 error)", ANSUINI_REFERENCE),
)}


def beside(paper: PaperNumber, ours: float, lo: float | None = None,
           hi: float | None = None, *, data: str) -> dict[str, Any]:
    """A ``details`` row with our number (and its 95 % interval) beside the paper's.

    The row is reported, never judged (``shown`` None): the verdicts stay with each finding's
    own criterion, since the data and budgets here differ from the paper's.
    """
    row = detail(f"{paper.quantity} (paper: {paper.text})", ours, lo, hi,
                 criterion=f"beside {paper.reference}: {paper.text} on {paper.data}")
    row.update(paper=paper.value, paper_text=paper.text, paper_data=paper.data,
               paper_reference=paper.reference, paper_key=paper.key, data=data)
    return row


def _finding(f: Finding | Mapping[str, Any]) -> Finding:
    return f if isinstance(f, Finding) else Finding.from_dict(dict(f))


def _num(x: Any) -> str:
    return "nan" if x is None or not math.isfinite(float(x)) else f"{float(x):.3g}"


def _not_shown(f: Finding) -> str:
    """Empty when the finding's effect appears; else one plain sentence: which of its
    judged measurements missed its criterion (or the finding's own criterion)."""
    if f.shown is True:
        return ""
    if f.shown is None:
        return f"Not testable here: {f.reading}"
    failed = [d for d in f.details if d.get("shown") is False]
    if failed:
        parts = []
        for d in failed:
            ci = ("" if d.get("ci_low") is None or d.get("ci_high") is None else
                  f" [{_num(d['ci_low'])}, {_num(d['ci_high'])}]")
            parts.append(f"{d['label']} = {_num(d.get('value'))}{ci} (needed: "
                         f"{d.get('criterion') or 'its criterion'})")
        return f"Does not appear here: {'; '.join(parts)}."
    ci = "" if f.interval is None else f" [{_num(f.interval[0])}, {_num(f.interval[1])}]"
    return (f"Does not appear here: {f.value_label} = {_num(f.value)}{ci} (needed: "
            f"{f.criterion or 'its criterion'}).")


def paper_vs_ours(findings: Iterable[Finding | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per paper number attached to ``findings`` (:class:`Finding` objects or the
    dicts of a ``report.json``): ``finding``, ``claim`` (the quantity), ``paper`` (as the
    paper states it), ``paper_value``, ``paper_data``, ``ours``, ``ci_low``, ``ci_high``,
    ``data``, ``shown`` (the finding's verdict) and ``sentence`` — empty where the effect
    appears, else one plain sentence naming the measurements that missed their criterion."""
    rows = []
    for f in map(_finding, findings):
        for d in f.details:
            if "paper_key" not in d:
                continue
            sentence = _not_shown(f)
            ours = d.get("value")
            rows.append({"finding": f.key, "claim": d["label"].split(" (paper:")[0],
                         "paper": d.get("paper_text", ""), "paper_value": d.get("paper"),
                         "paper_data": d.get("paper_data", ""),
                         "ours": None if ours is None or not math.isfinite(ours) else ours,
                         "ci_low": d.get("ci_low"), "ci_high": d.get("ci_high"),
                         "data": d.get("data", ""), "shown": f.shown, "sentence": sentence})
    return rows
