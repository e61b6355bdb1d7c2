"""The trial stage's entry of results.json."""

from __future__ import annotations

from dexmood import cohort
from dexmood.trial.analysis import frequentist_analysis
from dexmood.trial.bayesian import bayesian_analysis
from dexmood.trial.dosing import (
    REGISTRY_PCA,
    achieved_rate_consistency,
    background_only_weight,
    implied_bolus_use,
)
from dexmood.trial.power import minimal_detectable_rr
from dexmood.trial.registry import CLINICAL_RR_THRESHOLD, N_PLACEBO, N_SUPPLEMENT, TRIAL_SEED
from dexmood.trial.results import get_trial_results


def results_section(seed: int = TRIAL_SEED, loss: float = 0.10) -> dict:
    """The trial stage's entry of results.json (JSON-able)."""
    parent = cohort.published()["zhang2023_parent_rct"]["achieved_infusion_rates_mean"]
    esk_rate = parent["esketamine_ug_per_kg_per_h"]
    dex_rate = parent["dexmedetomidine_ug_per_kg_per_h"]
    limits = REGISTRY_PCA.limits()
    implied = implied_bolus_use(esk_rate, "esketamine", [50.0, 60.0])
    trial = get_trial_results(seed)
    freq = frequentist_analysis(trial.data).set_index("method")
    bayes = bayesian_analysis(trial.data, seed=seed).set_index("prior")
    rr_row = freq.loc["modified Poisson (robust SE)"]
    rd_row = freq.loc["linear probability (robust SE)"]

    def r(x: float, d: int = 3) -> float:
        return round(float(x), d)

    return {
        "trial_nct05718544": {
            "data": "mock" if trial.simulated else trial.source,
            "pca": {
                "sufentanil_cap_weight_kg": r(REGISTRY_PCA.sufentanil_cap_weight_kg, 2),
                "max_ml_per_h_sustained": r(limits["max_ml_per_h_sustained"], 2),
                "hours_to_empty_at_max": r(limits["hours_to_empty_at_max"], 2),
                "published_rates_consistent": achieved_rate_consistency(esk_rate, dex_rate)["consistent"],
                "esketamine_background_only_weight_kg": r(background_only_weight(esk_rate, "esketamine"), 1),
                "implied_boluses_per_24h_at_50_60_kg": [r(x, 2) for x in implied["boluses_per_24h"]],
            },
            "design": {
                "n_randomised": N_SUPPLEMENT + N_PLACEBO,
                "loss_assumed": loss,
                "minimal_detectable_rr_80pct": {f"{p:.1f}": r(minimal_detectable_rr(p, loss=loss))
                                                for p in (0.1, 0.2, 0.3, 0.4, 0.5)},
            },
            "analysis": {
                "rr": r(rr_row["estimate"]), "rr_ci95": [r(rr_row["ci_low"]), r(rr_row["ci_high"])],
                "rd": r(rd_row["estimate"]), "rd_ci95": [r(rd_row["ci_low"]), r(rd_row["ci_high"])],
                "clinical_rr_threshold": CLINICAL_RR_THRESHOLD,
                "posterior_prob_rr_below_1": {k: r(v) for k, v in bayes["prob_rr_below_1"].items()},
                "posterior_prob_rr_below_threshold": {k: r(v) for k, v in bayes["prob_rr_below_threshold"].items()},
            },
        }
    }
