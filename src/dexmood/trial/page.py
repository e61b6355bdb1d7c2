"""What the trial page (notebook 07) shows besides the stage's tables and figures: the data banner, the values
it glues into its text ({glue key: text} for `book.glue_all`, formatted as `tables.glue_text` formats them)
and the small tables it derives from the stage's results."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from dexmood import tables
from dexmood.errors import TrialDataError
from dexmood.tables import glue_text
from dexmood.trial.analysis import risk_table
from dexmood.trial.dosing import (
    REGISTRY_PCA,
    PcaProtocol,
    background_only_weight,
    implied_bolus_use,
    pca_regimen,
)
from dexmood.trial.enrolment import ScreeningFlow
from dexmood.trial.power import analytic_power
from dexmood.trial.registry import N_PLACEBO, N_SUPPLEMENT
from dexmood.trial.results import RESULTS_ENV, TrialResults, simulate_results, validate_results

#: Body weights (kg) of the implied-bolus grid and those the page tabulates.
BOLUS_WEIGHT_GRID = np.arange(40.0, 80.5, 0.5)
BOLUS_WEIGHTS_SHOWN = [45.0, 50.0, 55.0, 60.0, 70.0]
#: The priors whose posterior the text quotes: glue key → name in `bayesian_analysis`.
QUOTED_PRIORS = {"sceptical": "sceptical", "enthusiastic": "enthusiastic", "flat": "flat Beta(1,1) per arm"}
BACKGROUND_PER_KG = "background_ug_per_kg_per_h"
#: Simulated and analytic power must agree within this where events are not rare (control risk ≥ 25%).
POWER_AGREEMENT = 0.04


def show_data_banner(results: TrialResults) -> None:
    """Say at the top of the trial page whether the analysis runs on mock data or on a results file."""
    if results.simulated:
        text = ("**Data: MOCK.** The trial's results are not published; the analysis below runs on results "
                "simulated under stated assumptions, not on patients. Fill in `data/trial/results.csv` (or set "
                f"`{RESULTS_ENV}`) and the same analysis runs on the real file.")
    else:
        text = f"**Data: {results.label}.** Results on this page come from this file, not from a simulation."
    display(Markdown(f"```{{important}}\n{text}\n```"))


# --- 1 the registered trial and its pump ---------------------------------------------------------------

def registry_values(registry: dict, derived: dict, parent: dict) -> dict[str, str]:
    """The registry's title, sponsor and investigator, the parent trial's primary result, the arm sizes."""
    primary = parent["primary_result"]
    return {"nb07_registry_title": registry["title"], "nb07_sponsor": registry["sponsor"],
            "nb07_pi": registry["principal_investigator"].split(",")[0],
            "nb07_parent_rr": glue_text(primary["rr"]), "nb07_parent_rr_low": glue_text(primary["rr_ci95"][0]),
            "nb07_parent_rr_high": glue_text(primary["rr_ci95"][1]),
            "nb07_n_enrolled": glue_text(derived["enrolment"], "{:d}"),
            "nb07_parent_itt": glue_text(derived["parent_itt"], "{:d}"),
            "nb07_study_months": glue_text(derived["study_months"], "{:.1f}"),
            "nb07_n_supplement": glue_text(N_SUPPLEMENT, "{:d}"), "nb07_n_placebo": glue_text(N_PLACEBO, "{:d}")}


def limit_values(limits: dict) -> dict[str, str]:
    """The pump programme's volume limits quoted in the text (from `PcaProtocol.limits`)."""
    return {"nb07_max_ml_h": glue_text(limits["max_ml_per_h_sustained"], "{:.0f}"),
            "nb07_peak_ml_h": glue_text(limits["max_ml_in_one_clock_hour"], "{:.0f}"),
            "nb07_ml_24h": glue_text(limits["max_ml_per_24h_programmed"], "{:.0f}"),
            "nb07_hours_to_empty": glue_text(limits["hours_to_empty_at_max"], "{:.1f}")}


def limits_table(limits: dict) -> pd.DataFrame:
    return pd.Series(limits, name="pump programme").to_frame().rename_axis("setting")


def regimen_by_weight(protocol: PcaProtocol = REGISTRY_PCA) -> pd.DataFrame:
    """The supplement arm's regimen at 40, 50 and 80 kg and at the weight where the sufentanil cap starts."""
    weights = [40.0, 50.0, protocol.sufentanil_cap_weight_kg, 80.0]
    return pd.concat({w: pca_regimen(w, "supplement", protocol) for w in weights}, names=["weight_kg"])


def regimen_values(regimen: pd.DataFrame, protocol: PcaProtocol = REGISTRY_PCA) -> dict[str, str]:
    """The cap weight, sufentanil's background rate per kg at 50 kg, esketamine's at 50 and 60 kg."""
    return {"nb07_cap_weight": glue_text(protocol.sufentanil_cap_weight_kg, "{:.1f}"),
            "nb07_suf_bg_per_kg": glue_text(regimen.loc[(50.0, "sufentanil"), BACKGROUND_PER_KG], "{:.2f}"),
            "nb07_esk_bg_50": glue_text(pca_regimen(50.0, protocol=protocol).loc["esketamine", BACKGROUND_PER_KG],
                                        "{:.1f}"),
            "nb07_esk_bg_60": glue_text(pca_regimen(60.0, protocol=protocol).loc["esketamine", BACKGROUND_PER_KG],
                                        "{:.1f}")}


def rate_values(esk_rate: float, dex_rate: float, consistency: dict) -> dict[str, str]:
    """The published mean rates and what each implies for the other drug (`achieved_rate_consistency`)."""
    return {"nb07_esk_rate": glue_text(esk_rate, "{:.1f}"), "nb07_dex_rate": glue_text(dex_rate, "{:.2f}"),
            "nb07_pump_ratio": glue_text(consistency["pump_mass_ratio_esketamine_to_dex"], "{:.0f}"),
            "nb07_reported_ratio": glue_text(consistency["reported_ratio"], "{:.0f}"),
            "nb07_implied_dex": glue_text(consistency["dex_rate_implied_by_esketamine"], "{:.3f}"),
            "nb07_esk_from_dex_low": glue_text(consistency["esketamine_rate_implied_by_dex_interval"][0], "{:.2f}"),
            "nb07_esk_from_dex_high": glue_text(consistency["esketamine_rate_implied_by_dex_interval"][1], "{:.2f}")}


def rate_check_table(consistency: dict) -> pd.DataFrame:
    """The consistency check as a table: verdicts as they are, numbers rounded to 4 decimals as text."""
    return pd.Series({key: value if isinstance(value, bool) else str(np.round(value, 4))
                      for key, value in consistency.items()}, name="check").to_frame().rename_axis("quantity")


def implied_bolus_table(esk_rate: float, dex_rate: float, weights=BOLUS_WEIGHT_GRID) -> pd.DataFrame:
    """Boluses implied by both published mean rates over a grid of body weights (esketamine rows first)."""
    return pd.concat([implied_bolus_use(esk_rate, "esketamine", weights),
                      implied_bolus_use(dex_rate, "dexmedetomidine", weights)], ignore_index=True)


def bolus_values(implied: pd.DataFrame, esk_rate: float, dex_rate: float) -> dict[str, str]:
    """Weights below which the rates need no bolus; esketamine boluses and load at 50 and 60 kg."""
    esk = implied[implied["drug"] == "esketamine"].set_index("weight_kg")
    return {"nb07_esk_bg_only_weight": glue_text(background_only_weight(esk_rate, "esketamine"), "{:.1f}"),
            "nb07_dex_bg_only_weight": glue_text(background_only_weight(dex_rate, "dexmedetomidine"), "{:.1f}"),
            "nb07_boluses_50": glue_text(esk.loc[50.0, "boluses_per_24h"], "{:.1f}"),
            "nb07_boluses_60": glue_text(esk.loc[60.0, "boluses_per_24h"], "{:.1f}"),
            "nb07_share_max_60": glue_text(esk.loc[60.0, "share_of_max_rate"], "{:.0%}")}


def at_weights(implied: pd.DataFrame, weights=BOLUS_WEIGHTS_SHOWN) -> pd.DataFrame:
    return implied[implied["weight_kg"].isin(weights)]


# --- 2 eligibility and enrolment ------------------------------------------------------------------------

def screening_values(flow: ScreeningFlow, by_criterion: pd.DataFrame,
                     protocol: PcaProtocol = REGISTRY_PCA) -> dict[str, str]:
    """Screened and excluded patients, adolescents excluded first, enrolled patients above the cap weight."""
    enrolled = flow.screening[flow.assessment["eligible"] & flow.consented]
    return {"nb07_screened": glue_text(flow.counts["assessed"], "{:d}"),
            "nb07_not_eligible": glue_text(flow.counts["not_eligible"], "{:d}"),
            "nb07_adolescents": glue_text(int(by_criterion.set_index("criterion").loc["inclusion 1", "first"]), "{:d}"),
            "nb07_share_capped": glue_text((enrolled["weight_kg"] > protocol.sufentanil_cap_weight_kg).mean(),
                                           "{:.0%}")}


def most_reasons(flow: ScreeningFlow, n: int = 6) -> pd.DataFrame:
    """The first `n` excluded patients with the most reasons (stable order among ties)."""
    excluded = flow.assessment[~flow.assessment["eligible"]]
    return excluded.sort_values("n_reasons", ascending=False, kind="stable").head(n)


# --- 3 design power ------------------------------------------------------------------------------------

def power_agreement(power: pd.DataFrame) -> pd.DataFrame:
    """Simulated minus analytic (pooled) power per control risk: smallest and largest over RRs and losses."""
    return (power["power_simulated"] - power["power_pooled"]).groupby(power["p_control"]).agg(["min", "max"])


def power_values(power: pd.DataFrame, reps: int) -> dict[str, str]:
    """Replicates and the largest |simulated − analytic| where events are common (≥ 25%) and rare; raises
    AssertionError if the two disagree by `POWER_AGREEMENT` or more where events are common."""
    gap = (power["power_simulated"] - power["power_pooled"]).abs()
    high = power["p_control"] >= 0.25
    if not gap[high].max() < POWER_AGREEMENT:
        raise AssertionError("simulation and formula should agree where events are not rare")
    return {"nb07_reps": glue_text(reps, "{:d}"), "nb07_agree_high": glue_text(gap[high].max(), "{:.2f}"),
            "nb07_agree_low": glue_text(gap[~high].max(), "{:.2f}")}


def mdrr_values(mdrr: pd.DataFrame, sizes: pd.DataFrame, parent_rr: float) -> dict[str, str]:
    """Minimal detectable RR at 10%, 30% and 50% control risk; power for the parent trial's RR at 30% and
    50%; patients needed for it at 30% (all with 10% lost to follow-up)."""
    at_10 = mdrr[np.isclose(mdrr["loss"], 0.1)].set_index("p_control")["mdrr"]
    values = {f"nb07_mdrr_{round(p * 100)}": glue_text(at_10.loc[p], "{:.2f}") for p in (0.1, 0.3, 0.5)}
    values.update({f"nb07_power_076_{round(p * 100)}": glue_text(analytic_power(p, parent_rr, loss=0.1), "{:.0%}")
                   for p in (0.3, 0.5)})
    needed = sizes.query("p_control == 0.3 and rr == @parent_rr")["total_randomised"].item()
    values["nb07_n_needed_076_30"] = glue_text(needed, "{:d}")
    return values


def mdrr_pivot(mdrr: pd.DataFrame) -> pd.DataFrame:
    """The MDRR table at control risks on the 5% grid (rows) by share lost (columns)."""
    on_grid = np.isclose(mdrr["p_control"] * 20, np.round(mdrr["p_control"] * 20))
    return mdrr[on_grid].pivot(index="p_control", columns="loss", values="mdrr")


# --- 4 the analysis --------------------------------------------------------------------------------------

def mock_values(results: TrialResults) -> dict[str, str]:
    """The mock design's assumptions quoted in the text (nothing for a real results file)."""
    if not results.simulated:
        return {}
    mock = asdict(results.design)
    return {"nb07_mock_p0": glue_text(mock["p_control"], "{:.0%}"),
            "nb07_mock_rr": glue_text(mock["rr"], "{:.2f}"), "nb07_mock_loss": glue_text(mock["loss"], "{:.0%}")}


def show_mock_design(results: TrialResults) -> None:
    """The table of the mock design's assumptions (only for mock results)."""
    if results.simulated:
        tables.show(pd.Series(asdict(results.design), name="mock assumption", dtype=object).to_frame()
                    .rename_axis("assumption"), "nb07-mock",
                    "The assumptions the mock results are drawn under: placebo-arm risk, true risk ratio, share lost to "
                    "follow-up and patients per arm.", decimals=2, index=True)


def frequentist_values(frequentist: pd.DataFrame, data: pd.DataFrame) -> dict[str, str]:
    """The modified Poisson RR (95% CI, p) and the linear-probability RD in percentage points; raises
    AssertionError unless the RR equals the ratio of the observed risks."""
    estimates = frequentist.set_index("method")
    poisson = estimates.loc["modified Poisson (robust SE)"]
    rd = estimates.loc["linear probability (robust SE)"]
    risks = risk_table(data)
    if not np.isclose(poisson["estimate"], risks["risk"]["supplement"] / risks["risk"]["placebo"]):
        raise AssertionError("the modified Poisson RR is not the ratio of the observed risks")
    return {"nb07_rr": glue_text(poisson["estimate"]), "nb07_rr_low": glue_text(poisson["ci_low"]),
            "nb07_rr_high": glue_text(poisson["ci_high"]), "nb07_rr_p": glue_text(poisson["p_value"], "{:.3f}"),
            "nb07_n_followed": glue_text(int(risks["followed_up"].sum()), "{:d}"),
            "nb07_rd": glue_text(rd["estimate"] * 100, "{:.1f}"),
            "nb07_rd_low": glue_text(rd["ci_low"] * 100, "{:.1f}"), "nb07_rd_high": glue_text(rd["ci_high"] * 100, "{:.1f}")}


def threshold_values(threshold: float, p_control: float = 0.30) -> dict[str, str]:
    """The clinical RR threshold as a relative and, at `p_control`, an absolute risk reduction and NNT."""
    return {"nb07_threshold": glue_text(threshold, "{:.2f}"),
            "nb07_threshold_rrr": glue_text(1 - threshold, "{:.0%}"),
            "nb07_threshold_p0": glue_text(p_control, "{:.0%}"),
            "nb07_threshold_arr": glue_text(p_control * (1 - threshold) * 100, "{:.0f}"),
            "nb07_threshold_nnt": glue_text(1 / (p_control * (1 - threshold)), "{:.0f}")}


def posterior_values(bayes: pd.DataFrame) -> dict[str, str]:
    """P(RR < 1), P(RR < threshold) and the posterior median RR under each quoted prior; raises
    AssertionError unless every posterior interval brackets its median."""
    posterior = bayes.set_index("prior")
    if not ((posterior["rr_low"] < posterior["rr_median"]) & (posterior["rr_median"] < posterior["rr_high"])).all():
        raise AssertionError("a posterior interval does not bracket its median")
    values = {}
    for key, name in QUOTED_PRIORS.items():
        values[f"nb07_p_benefit_{key}"] = glue_text(posterior.loc[name, "prob_rr_below_1"])
        values[f"nb07_p_meaningful_{key}"] = glue_text(posterior.loc[name, "prob_rr_below_threshold"])
        values[f"nb07_post_rr_{key}"] = glue_text(posterior.loc[name, "rr_median"])
    return values


def validation_error_example(seed: int) -> str:
    """The message the results contract gives for six mock rows with two mistakes (demonstration)."""
    broken = simulate_results(seed=seed).head(6).astype({"cpsp_2y": object})
    broken.loc[2, "arm"] = "active"
    broken.loc[4, "cpsp_2y"] = "yes"
    try:
        validate_results(broken, source="example.csv")
    except TrialDataError as error:
        return str(error)
    raise AssertionError("the results contract accepted a broken file")
