"""Konz & Mazurowski's own numbers (ICLR 2024), printed beside ours by the Konz study's
judges (:func:`idscope.studies.paper.beside`): the coefficients of their scaling-law bound,
the robustness correlation across datasets, d_data and K_F of natural and medical images
(ranges read off the authors' figures)."""

from __future__ import annotations

from typing import Any

from .paper import PaperNumber

__all__ = ["REFERENCE", "PAPER", "runs_data"]

REFERENCE = "Konz & Mazurowski, ICLR 2024"
_KONZ_DATA = ("binary tasks of natural and medical image datasets at 224×224, N = 500–1 750, "
              "750 test images, six CNNs")
# Konz & Mazurowski's numbers (their bounds, their text, and ranges read off their figures),
# printed beside ours; the scaling-law coefficients are the bound's, not a fit
PAPER: dict[str, PaperNumber] = {p.key: p for p in (
    PaperNumber("scaling_c", "c, coefficient of log N / d_data in log L", -1.0,
                "−1 (the bound: log L ≲ −log N/d_data + log K_F + a)", _KONZ_DATA,
                REFERENCE),
    PaperNumber("scaling_beta", "β, coefficient of log K_F in log L", 1.0, "+1 (the bound)",
                _KONZ_DATA, REFERENCE),
    PaperNumber("robustness_r", "Pearson r, FGSM loss penalty (ε = 2/255) vs K_F", 0.70,
                "0.70", "across their natural and medical datasets", REFERENCE),
    PaperNumber("repr_vs_data", "fraction of runs with d_repr ≤ d_data", None,
                "d_repr ≲ d_data (implied by the bound)", _KONZ_DATA, REFERENCE),
    PaperNumber("d_data", "d_data (MLE k = 20, Pope's k−2), mean over class pairs", None,
                "≈ 9–18 natural, ≈ 6–17 medical", "their datasets at 224×224",
                REFERENCE),
    PaperNumber("k_f_domains", "K_F, sharper domain minus the other", None,
                "medical 1.4–3.4·10⁻⁴ > natural 0.6–1.6·10⁻⁴ (224×224, pixels in 0–255)",
                "their datasets at 224×224", REFERENCE),
    PaperNumber("penalty_domains", "FGSM loss penalty, sharper domain minus the other", None,
                "higher for the medical (sharper) datasets", "their datasets at 224×224",
                REFERENCE),
)}


def runs_data(df: Any) -> str:
    """The data of a sweep's runs in words, for the paper-vs-ours rows."""
    names = sorted(df["dataset"].astype(str).unique()) if "dataset" in df.columns else []
    tasks = (df[["dataset", "task"]].drop_duplicates().shape[0]
             if {"dataset", "task"} <= set(df.columns) else len(df))
    sizes = (", ".join(str(int(n)) for n in sorted(df["n_train"].unique()))
             if "n_train" in df.columns else "?")
    return f"{tasks} binary tasks of {', '.join(names) or 'the data'}, N = {sizes}"
