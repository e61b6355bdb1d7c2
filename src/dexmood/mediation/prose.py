"""The values notebook 04 glues into its prose, so that its cells stay a call, a glue or a display.

Each function returns {glue name: text} for `book.glue_all`. The `record_*` functions also record every
Monte-Carlo number they show (`dexmood.reproducibility`) under the glue name (or `<name>.<column>` for the
parts of an interval) with its MCSE, and every word chosen by a Monte-Carlo comparison as a label, so a
re-execution on another CPU is checked within its Monte-Carlo error. Call each once per notebook run (a name
recorded twice raises).
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd

from dexmood import reproducibility as mc
from dexmood.mediation._common import DIFFERENCE, ESTIMANDS, OUTCOMES
from dexmood.mediation.checks import SCORE_LIMITS
from dexmood.mediation.model import Priors
from dexmood.mediation.page import record_interval

#: A gap between the two outcomes' shares mediated below this is taken as "about the same".
DIFFERENCE_MARGIN = 0.10
#: The estimands the effects paragraph quotes, as (estimand, glue key).
QUOTED = (("acme_treated", "acme"), ("acme_control", "acme_control"), ("ade_control", "ade"), ("total", "total"))
_STATSMODELS_PROP = "Prop. mediated (average)"
_STATSMODELS_COLUMNS = ("Estimate", "Lower CI bound", "Upper CI bound")


def central_95(sd: float) -> str:
    """The central 95% range of a Normal(0, sd) prior as text: '±6' for sd = 3."""
    return f"±{1.96 * sd:.0f}"


def prior_values(priors: Priors) -> dict[str, str]:
    """The instruments' ranges and the priors' central 95% ranges quoted by 'Why these priors' (deterministic)."""
    values = {f"nb04_range_{name}": f"±{SCORE_LIMITS[name]}" for name in ("nrs", "gad7", "phq9")}
    values.update({
        "nb04_prior_a0": central_95(priors.mediator_intercept_sd),
        "nb04_prior_b0": central_95(priors.outcome_intercept_sd),
        "nb04_prior_a": central_95(priors.dex_on_mediator_sd),
        "nb04_prior_c": central_95(priors.direct_dex_sd),
        "nb04_prior_b": central_95(priors.mediator_on_outcome_sd),
        "nb04_prior_eta": f"{priors.lkj_eta:g}",
    })
    return values


def record_ppc_values(ppc: pd.DataFrame, mcse: pd.DataFrame) -> dict[str, str]:
    """The smallest and largest posterior predictive p and whether every p lies in [0.025, 0.975]."""
    lowest, highest = ppc["p"].idxmin(), ppc["p"].idxmax()
    verdict = ("bracket the observed ones" if ppc["p"].between(0.025, 0.975).all()
               else "miss at least one observed statistic (see the table)")
    return {"nb04_ppc_p_min": mc.record_value("nb04_ppc_p_min", ppc.loc[lowest, "p"], "{:.2f}",
                                              mcse=mcse.loc[lowest, "p"]),
            "nb04_ppc_p_max": mc.record_value("nb04_ppc_p_max", ppc.loc[highest, "p"], "{:.2f}",
                                              mcse=mcse.loc[highest, "p"]),
            "nb04_ppc_verdict": mc.record_label("nb04_ppc_verdict", verdict)}


def _record_share(name: str, indicator) -> str:
    """A posterior probability (the mean of a boolean per-draw array) in %, recorded with its MCSE."""
    return mc.record_value(name, 100 * float(indicator.mean()), "{:.0f}%", mcse=100 * mc.mcse_mean(indicator.values))


def record_effect_values(idata: az.InferenceData, summary: pd.DataFrame, mcse: pd.DataFrame,
                         band: tuple[float, float]) -> dict[str, str]:
    """The matched sample's effects per outcome ('median (95% interval)'), the posterior probabilities that the
    share mediated lies in the published `band` and that ACME(treated) is below zero, and the sentence on how
    much of the benefit runs through pain (from the larger median share)."""
    low, high = band
    values = {}
    for outcome in OUTCOMES:
        for estimand, key in QUOTED:
            name = f"nb04_{key}_{outcome}"
            values[name] = record_interval(name, summary, mcse, outcome, estimand)
        name = f"nb04_prop_{outcome}"
        values[name] = record_interval(name, summary, mcse, outcome, "proportion_mediated", percent=True)
        share = idata.posterior["proportion_mediated"].sel(outcome=outcome)
        name = f"nb04_p_in_band_{outcome}"
        values[name] = _record_share(name, (share >= low) & (share <= high))
        name = f"nb04_p_acme_negative_{outcome}"
        values[name] = _record_share(name, idata.posterior["acme_treated"].sel(outcome=outcome) < 0)
    share_medians = [summary.loc[(outcome, "proportion_mediated"), "median"] for outcome in OUTCOMES]
    phrase = ("most of the estimated benefit on mood does not run through pain relief" if max(share_medians) < 0.5
              else "much of the estimated benefit on mood runs through pain relief")
    values["nb04_share_phrase"] = mc.record_label("nb04_share_phrase", phrase)
    return values


def _noise_sd(slope, sigma_m, n: int) -> float:
    return np.median(slope) * np.median(sigma_m) * np.sqrt(2 / n)


def record_comparison_values(idata: az.InferenceData, n: int, comparison: pd.DataFrame,
                             comparison_mcse: pd.DataFrame, statsmodels_tables: dict[str, pd.DataFrame],
                             statsmodels_mcse: dict[str, pd.DataFrame]) -> dict[str, str]:
    """The statsmodels cross-check in words: the largest gap between posterior median and statsmodels' estimate
    (effects in score points, proportions in percentage points), statsmodels' share mediated per outcome, and
    the extra Monte Carlo SD b·σ_M·√(2/n) its independent mediator draws add to every ACME draw (largest over
    the outcomes; `n` patients)."""
    gap = (comparison["posterior median"] - comparison["statsmodels"]).abs()
    gap_mcse = np.hypot(comparison_mcse["posterior median"], comparison_mcse["statsmodels"])
    effects_only = ~comparison["estimand"].str.startswith("Prop.")
    widest = gap[effects_only].idxmax()
    values = {"nb04_sm_max_gap": mc.record_value("nb04_sm_max_gap", gap[widest], "{:.2f}", mcse=gap_mcse[widest])}
    widest = gap[~effects_only].idxmax()
    values["nb04_sm_max_gap_prop"] = mc.record_value("nb04_sm_max_gap_prop", 100 * gap[widest],
                                                     "{:.1f} percentage points", mcse=100 * gap_mcse[widest])
    for outcome in OUTCOMES:
        row, row_mcse = statsmodels_tables[outcome].loc[_STATSMODELS_PROP], statsmodels_mcse[outcome]
        texts = [mc.record_value(f"nb04_sm_prop_{outcome}.{column}", 100 * float(row[column]), "{:.0f}%",
                                 mcse=100 * row_mcse.loc[_STATSMODELS_PROP, column])
                 for column in _STATSMODELS_COLUMNS]
        values[f"nb04_sm_prop_{outcome}"] = f"{texts[0]} ({texts[1]} to {texts[2]})"
    slope, sigma_m = idata.posterior["mediator_on_outcome"].values, idata.posterior["mediator_sigma"].values
    noise = [_noise_sd(slope[..., k], sigma_m, n) for k in range(slope.shape[-1])]
    k = int(np.argmax(noise))
    values["nb04_sm_noise"] = mc.record_value("nb04_sm_noise", noise[k], "{:.2f}", mcse=mc.mcse_batch(
        lambda b, s: _noise_sd(b, s, n), slope[..., k], sigma_m))
    return values


def record_truth_values(comparison: pd.DataFrame, comparison_mcse: pd.DataFrame,
                        truth: dict | None) -> dict[str, str]:
    """How many true values lie inside their 95% posterior interval ('7 of 12') and the true shares mediated;
    for a user's file (no truth) texts that say so, recorded nowhere."""
    if truth is None:
        values = {"nb04_truth_inside": "not applicable (real data)"}
        values.update({f"nb04_truth_prop_{outcome}": "unknown (real data)" for outcome in OUTCOMES})
        return values
    inside = (comparison["truth"] >= comparison["CrI 2.5%"]) & (comparison["truth"] <= comparison["CrI 97.5%"])
    # a count has no MCSE: it may change by the number of truths within 4 MCSE of an interval bound
    near_bound = sum((abs(comparison["truth"] - comparison[b]) <= mc.K * comparison_mcse[b]).sum()
                     for b in ("CrI 2.5%", "CrI 97.5%"))
    count = mc.record_value("nb04_truth_inside", int(inside.sum()), "{:d}", tolerance=int(near_bound))
    values = {"nb04_truth_inside": f"{count} of {mc.record_label('nb04_truth_n', len(comparison))}"}
    for outcome in OUTCOMES:
        values[f"nb04_truth_prop_{outcome}"] = mc.record_value(
            f"nb04_truth_prop_{outcome}", 100 * truth[outcome]["proportion_mediated"], "{:.0f}%", mcse=0)
    return values


def record_weighted_values(summary: pd.DataFrame, weighted: pd.DataFrame,
                           weighted_mcse: pd.DataFrame) -> dict[str, str]:
    """The ATT-weighted fit's share mediated and ACME(treated) per outcome, and whether every weighted
    posterior median lies inside the matched sample's 95% interval (`summary`)."""
    values = {}
    for outcome in OUTCOMES:
        name = f"nb04_w_prop_{outcome}"
        values[name] = record_interval(name, weighted, weighted_mcse, outcome, "proportion_mediated", percent=True)
        name = f"nb04_w_acme_{outcome}"
        values[name] = record_interval(name, weighted, weighted_mcse, outcome, "acme_treated")
    inside_matched = all(
        summary.loc[(o, e), "ci95_low"] <= weighted.loc[(o, e), "median"] <= summary.loc[(o, e), "ci95_high"]
        for o in OUTCOMES for e in ESTIMANDS)
    verdict = ("each inside the 95% interval of the matched sample" if inside_matched
               else "not all inside the 95% intervals of the matched sample (see the tables)")
    values["nb04_w_verdict"] = mc.record_label("nb04_w_verdict", verdict)
    return values


def record_band_values(summary: pd.DataFrame, mcse: pd.DataFrame, band: tuple[float, float]) -> dict[str, str]:
    """Whether every outcome's 95% interval of the share mediated overlaps the published `band`, and how many
    times wider than the band the narrowest of those intervals is."""
    low, high = band
    shares = summary.xs("proportion_mediated", level="estimand").loc[list(OUTCOMES)]
    overlaps = (shares["ci95_low"] <= high) & (shares["ci95_high"] >= low)
    verdict = "is compatible with these data" if overlaps.all() else "is not fully compatible with these data"
    widths = {o: shares.loc[o, "ci95_high"] - shares.loc[o, "ci95_low"] for o in OUTCOMES}
    narrowest = min(widths, key=widths.get)
    width_mcse = np.hypot(*mcse.loc[(narrowest, "proportion_mediated"), ["ci95_low", "ci95_high"]])
    return {"nb04_band_verdict": mc.record_label("nb04_band_verdict", verdict),
            "nb04_width_ratio": mc.record_value("nb04_width_ratio", widths[narrowest] / (high - low), "{:.1f}",
                                                mcse=width_mcse / (high - low))}


def record_difference_values(idata: az.InferenceData, summary: pd.DataFrame, mcse: pd.DataFrame,
                             margin: float = DIFFERENCE_MARGIN) -> dict[str, str]:
    """Anxiety minus depression share mediated (percentage points, median and 95% interval), the posterior
    probabilities that it is positive and that it is smaller than `margin` in size, and the median residual
    correlation of the two mood changes."""
    difference = idata.posterior[DIFFERENCE]
    corr = idata.posterior["residual_corr"].values
    return {
        "nb04_prop_diff": record_interval("nb04_prop_diff", summary, mcse, "gad7 − phq9", "proportion_mediated",
                                          percent=True).replace("%", ""),
        "nb04_p_diff_positive": _record_share("nb04_p_diff_positive", difference > 0),
        "nb04_residual_corr": mc.record_value("nb04_residual_corr", float(np.median(corr)), "{:.2f}",
                                              mcse=mc.mcse_quantile(corr, 0.5)),
        "nb04_diff_margin": mc.record_value("nb04_diff_margin", 100 * margin, "{:.0f}", mcse=0),
        "nb04_p_diff_small": _record_share("nb04_p_diff_small", abs(difference) < margin),
    }
