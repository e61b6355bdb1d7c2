"""The reference path: replicates through the book's own pandas/statsmodels code, to check the fast kernels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm

from dexmood import cohort as cohort_mod
from dexmood import effects, matching
from dexmood.settings import SETTINGS
from dexmood.validation.runner import ROW_FIELDS, analyse_replicate, replicate_seeds
from dexmood.validation.scenarios import (
    ATT_OUTCOMES,
    ESTIMATORS,
    MEDIATION_OUTCOMES,
    Scenario,
    simulate_replicate,
)


def reference_replicate(design: cohort_mod.SimulationDesign, seed) -> pd.DataFrame:
    """One replicate through the public code of notebooks 01–04: `cohort.simulate`, `matching.default_match`,
    the `effects` estimators (AIPW: point estimate only) and the mediation models fitted with statsmodels."""
    cohort = cohort_mod.simulate(design, seed=seed)
    match = matching.default_match(cohort)
    matched = effects.prepare(match.data)
    full = effects.prepare(match.full).reset_index(drop=True)
    covariates = list(match.propensity.covariates)
    propensity = 1.0 / (1.0 + np.exp(-full["distance"].to_numpy()))
    rows = []
    for outcome in ATT_OUTCOMES:
        column = effects.OUTCOME_COLUMNS[outcome]
        adjust = effects.outcome_covariates(covariates, outcome)
        results = {
            "matched_difference": effects.matched_difference(matched, column),
            "matched_regression": effects.matched_regression(matched, column, adjust),
            "ipw_att": effects.ipw_att(full, column, propensity),
            "overlap": effects.overlap_effect(full, column, propensity),
            "aipw_att": effects.aipw_att(full, column, adjust, n_boot=0),
            "naive_difference": effects.weighted_difference(full, column),
        }
        for estimator, result in results.items():
            rows.append({"estimator": estimator, "outcome": outcome, "estimand": ESTIMATORS[estimator][1],
                         "estimate": result.estimate, "se": result.se})
    data = matched.dropna(subset=["nrs_change", "gad7_change", "phq9_change"])
    x = effects.covariate_matrix(data, covariates)
    for outcome in MEDIATION_OUTCOMES:
        frame = x.assign(dex=data["dex"].to_numpy(float), mediator=data["nrs_change"].to_numpy(),
                         y=data[f"{outcome}_change"].to_numpy())
        frame["mediator"] -= frame["mediator"].mean()
        frame.columns = [f"x{j}" if j < x.shape[1] else name for j, name in enumerate(frame.columns)]
        rhs = " + ".join(f"x{j}" for j in range(x.shape[1]))
        med = sm.OLS.from_formula(f"mediator ~ dex + {rhs}", frame).fit()
        out = sm.OLS.from_formula(f"y ~ dex * mediator + {rhs}", frame).fit()
        a, c, b, d = med.params["dex"], out.params["dex"], out.params["mediator"], out.params["dex:mediator"]
        u0 = float(np.mean(med.fittedvalues - a * frame["dex"]))  # μ_M(0) − m̄ (mediator already centred)
        values = {"acme_treated": a * (b + d), "ade_control": c + d * u0}
        values["total"] = values["acme_treated"] + values["ade_control"]
        values["proportion_mediated"] = a * (b + d / 2) / values["total"]
        for estimand, value in values.items():
            rows.append({"estimator": "mediation_delta", "outcome": outcome, "estimand": estimand,
                         "estimate": float(value), "se": np.nan})
    table = pd.DataFrame(rows)
    table.attrs["pairs"] = int(match.summary["pairs"])
    return table


def compare_with_reference(scenario: Scenario, n_reps: int = 5, seed: int = SETTINGS.seed) -> pd.DataFrame:
    """Largest |fast − reference| per estimator over the first `n_reps` replicates of `scenario`, with
    columns ``estimates agree`` (< 1e-9) and ``SEs agree`` ("not compared" where the book has no closed-form
    SE: mediation; AIPW's bootstrap interval is validated by the study itself).

    AIPW's propensity model is fitted by scikit-learn in `effects` and by Newton–Raphson here, so its
    estimate agrees to the solvers' tolerance.
    """
    design = scenario.design()
    rows = []
    for index, seed_i in enumerate(replicate_seeds(seed, n_reps)):
        fast_rows, _, pairs = analyse_replicate(simulate_replicate(design, seed_i))
        fast = pd.DataFrame(fast_rows, columns=ROW_FIELDS)
        reference = reference_replicate(design, seed_i)
        merged = fast.merge(reference, on=["estimator", "outcome", "estimand"], suffixes=("", "_reference"))
        merged["replicate"] = index
        merged["pairs_equal"] = pairs == reference.attrs["pairs"]
        rows.append(merged)
    merged = pd.concat(rows, ignore_index=True)
    merged["estimate_diff"] = (merged["estimate"] - merged["estimate_reference"]).abs()
    merged["se_diff"] = (merged["se"] - merged["se_reference"]).abs()
    table = (merged.groupby("estimator", sort=False)
             .agg(max_abs_estimate_diff=("estimate_diff", "max"), max_abs_se_diff=("se_diff", "max"),
                  pairs_equal=("pairs_equal", "all"))
             .reset_index())
    table["estimates agree"] = table["max_abs_estimate_diff"] < 1e-9
    table["SEs agree"] = np.where(table["max_abs_se_diff"].isna(), "not compared",
                                  (table["max_abs_se_diff"] < 1e-9).astype(str))
    return table
