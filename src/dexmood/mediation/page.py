"""The numbers notebook 04 shows and records: interval text, the estimand table, results.json, timings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from dexmood import paths
from dexmood import reproducibility as mc
from dexmood.mediation._common import DIFFERENCE, ESTIMAND_LABELS, ESTIMANDS, OUTCOME_LABELS, OUTCOMES
from dexmood.mediation.data import MediationData
from dexmood.mediation.estimands import effects_mcse, effects_summary


def record_interval(name: str, summary: pd.DataFrame, mcse: pd.DataFrame, outcome: str, estimand: str,
                    percent: bool = False) -> str:
    """`interval_text`, with its three numbers recorded with their MCSE (`dexmood.reproducibility`)."""
    scale, fmt = (100.0, "{:.0f}%") if percent else (1.0, "{:.2f}")
    for column in ("median", "ci95_low", "ci95_high"):
        mc.record_value(f"{name}.{column}", scale * summary.loc[(outcome, estimand), column], fmt,
                        mcse=scale * mcse.loc[(outcome, estimand), column])
    return interval_text(summary, outcome, estimand, percent=percent)


def recorded_display_table(name: str, summary: pd.DataFrame, mcse: pd.DataFrame) -> pd.DataFrame:
    """`display_table` with every number recorded with its MCSE (for a cell excluded from nbval's exact check)."""
    for outcome in OUTCOMES:
        for estimand in ESTIMANDS:
            record_interval(f"{name}[{outcome}|{estimand}]", summary, mcse, outcome, estimand,
                            percent=estimand == "proportion_mediated")
    table = display_table(summary)
    mc.record_label(f"{name}[labels]", " ".join([*table.index, *table.columns, table.index.name]))
    return table


def interval_text(summary: pd.DataFrame, outcome: str, estimand: str, percent: bool = False) -> str:
    """'-0.35 (-0.71 to -0.09)' or, for shares, '20% (6% to 37%)': posterior median (95% interval)."""
    row = summary.loc[(outcome, estimand)]
    values = [row["median"], row["ci95_low"], row["ci95_high"]]
    text = [f"{100 * v:.0f}%" for v in values] if percent else [f"{v:.2f}" for v in values]
    return f"{text[0]} ({text[1]} to {text[2]})"


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Estimands × outcomes, each cell 'median (95% interval)' (shares in %)."""
    table = {}
    for outcome in OUTCOMES:
        table[OUTCOME_LABELS[outcome]] = [interval_text(summary, outcome, e, percent=e == "proportion_mediated")
                                          for e in ESTIMANDS]
    frame = pd.DataFrame(table, index=[ESTIMAND_LABELS[e] for e in ESTIMANDS])
    frame.index.name = "posterior median (95% interval)"
    return frame


def results_section(idata_or_summary) -> dict:
    """`results.json` block: {"mediation": {outcome: {estimand: {"estimate", "ci95"}}}}.

    "acme" is ACME(treated) (the total natural indirect effect), "ade" is ADE(control) (the pure natural
    direct effect), so acme + ade = total; "acme_control" and "ade_treated" complete the decomposition.
    """
    posterior = isinstance(idata_or_summary, az.InferenceData)
    summary = effects_summary(idata_or_summary) if posterior else idata_or_summary
    mcse = effects_mcse(idata_or_summary) if posterior else None
    keys = {"acme": "acme_treated", "acme_control": "acme_control", "ade": "ade_control",
            "ade_treated": "ade_treated", "total": "total", "proportion_mediated": "proportion_mediated"}
    block = {}
    for outcome in OUTCOMES:
        block[outcome] = {}
        for key, estimand in keys.items():
            row = summary.loc[(outcome, estimand)]
            block[outcome][key] = {"estimate": round(float(row["median"]), 4),
                                   "ci95": [round(float(row["ci95_low"]), 4), round(float(row["ci95_high"]), 4)]}
            if mcse is not None:  # Monte-Carlo SE of the three numbers (for tolerance checks on another CPU)
                err = mcse.loc[(outcome, estimand)]
                block[outcome][key]["mcse"] = [round(float(err[c]), 5) for c in ("median", "ci95_low", "ci95_high")]
    return {"mediation": block}


def results_document(idata: az.InferenceData, weighted_idata: az.InferenceData) -> dict:
    """Notebook 04's `mediation.json`: the matched fit's `results_section`, the ATT-weighted check's block and
    the GAD-7 minus PHQ-9 difference in the share mediated (posterior median and 95% interval)."""
    results = results_section(idata)
    results["mediation_weighted_check"] = results_section(weighted_idata)["mediation"]
    difference = idata.posterior[DIFFERENCE]
    results["proportion_mediated_difference_gad7_minus_phq9"] = {
        "estimate": round(float(difference.median()), 4),
        "ci95": [round(float(q), 4) for q in np.quantile(difference.values, [0.025, 0.975])]}
    return results


def write_mediation_json(idata: az.InferenceData, weighted_idata: az.InferenceData,
                         path: str | os.PathLike | None = None) -> Path:
    """Write `results_document` to data/derived/mediation.json (or `path`) and return the path."""
    path = Path(path) if path is not None else paths.derived("mediation.json")
    path.write_text(json.dumps(results_document(idata, weighted_idata), indent=2) + "\n")
    return path


def sample_text(match, data: MediationData) -> str:
    """Two lines on the analysed sample: matched patients and pairs, analysed and left-out patients; the
    covariates (`match`: a `matching` result, `data`: its `MediationData`)."""
    return (f"matched patients: {len(match.data)} ({match.summary['pairs']} pairs); analysed (complete 1-month "
            f"visit): {data.n}; left out for a missing change score: {data.n_dropped}\n"
            f"covariates ({len(data.covariate_columns)} standardised columns): {', '.join(data.covariate_columns)}")


def weighted_text(weighted) -> str:
    """The weighted check's sample (`fitting.WeightedFit`): patients, left-out patients, Kish effective size."""
    return (f"patients: {weighted.data.n} (left out for a missing change score: {weighted.data.n_dropped}); "
            f"Kish effective sample size: {weighted.kish_ess:.1f}")


def timing_text(idata: az.InferenceData) -> str:
    """'model compile took 11.2 s, sampling took 0.8 s (nutpie, 4 chains × 1000 draws)'."""
    attrs = idata.posterior.attrs
    chains, draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    return (f"model compile took {attrs['compile_seconds']:.1f} s, sampling took "
            f"{attrs['sampling_seconds']:.2f} s ({attrs['sampler']}, {chains} chains × {draws} draws)")
