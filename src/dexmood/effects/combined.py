"""Every estimator on every outcome the data can answer, one tidy table; comparisons with published and truth."""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pandas as pd

from dexmood import cohort as cohort_mod
from dexmood.effects.estimands import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_SEED,
    ESTIMATORS,
    OUTCOME_COLUMNS,
    TIDY_COLUMNS,
    Estimate,
    available_outcomes,
    prepare,
)
from dexmood.effects.estimators import (
    aipw_att_many,
    complete_cases,
    covariate_matrix,
    fit_logistic_propensity,
    group_means,
    ipw_att,
    matched_difference,
    matched_regression,
    overlap_effect,
    weighted_difference,
    welch_difference,
)

# --------------------------------------------------------------------------------------------------
# All estimators together
# --------------------------------------------------------------------------------------------------

def outcome_covariates(covariates: list[str], outcome_key: str) -> list[str]:
    """The matching covariates plus the outcome's own baseline score (if it has one and it is missing)."""
    baseline = f"{outcome_key}_baseline"
    extra = [baseline] if outcome_key in cohort_mod.OUTCOMES and baseline not in covariates else []
    return list(covariates) + extra


def estimate_effects(matched: pd.DataFrame, full: pd.DataFrame, covariates: list[str],
                     propensity: np.ndarray | None = None, *, outcomes=tuple(OUTCOME_COLUMNS),
                     n_boot: int = DEFAULT_BOOTSTRAP, seed: int = DEFAULT_SEED,
                     weights: str = "weights", subclass: str = "subclass") -> pd.DataFrame:
    """Every estimator for every outcome, as one tidy table (see `TIDY_COLUMNS`).

    `matched`: the matched sample (with `weights`, `subclass`); `full`: the whole cohort; `propensity`:
    P(DEX) for the rows of `full` (default: a main-effects logistic fit on `covariates`).
    """
    matched, full = prepare(matched), prepare(full).reset_index(drop=True)
    if propensity is None:
        design, _ = complete_cases(full, covariates)
        if len(design) != len(full):
            raise ValueError("covariates have missing values; pass `propensity` for every row of `full`")
        propensity = fit_logistic_propensity(covariate_matrix(full, covariates).to_numpy(), full["dex"])
    propensity = np.asarray(propensity, dtype=float)
    if len(propensity) != len(full):
        raise ValueError(f"propensity has {len(propensity)} values but the cohort has {len(full)} rows")
    outcomes = available_outcomes(full, outcomes)
    aipw, aipw_note = _attempt(lambda: aipw_att_many(
        full, {OUTCOME_COLUMNS[key]: outcome_covariates(covariates, key) for key in outcomes}, covariates,
        n_boot=n_boot, seed=seed), "augmented IPW")
    if aipw_note:
        aipw = {OUTCOME_COLUMNS[key]: _failed(aipw_note) for key in outcomes}
    rows = []
    for key in outcomes:
        column = OUTCOME_COLUMNS[key]
        adjust = outcome_covariates(covariates, key)
        estimators = {
            "matched_difference": partial(matched_difference, matched, column, weights=weights, subclass=subclass),
            "matched_regression": partial(matched_regression, matched, column, adjust, weights=weights,
                                          subclass=subclass),
            "ipw_att": partial(ipw_att, full, column, propensity),
            "overlap": partial(overlap_effect, full, column, propensity),
            "aipw_att": partial(aipw.__getitem__, column),
            "welch_difference": partial(welch_difference, matched, column, weights=weights),
            "naive_difference": partial(weighted_difference, full, column),
        }
        for estimator, compute in estimators.items():
            label, sample, estimand = ESTIMATORS[estimator]
            result, note = _attempt(compute, label)
            rows.append({"outcome": key, "estimator": estimator, **result.to_dict(), "label": label,
                         "sample": sample, "estimand": estimand, "note": note})
    return pd.DataFrame(rows)[TIDY_COLUMNS]


def _failed(note: str) -> Estimate:
    """An estimator that could not run on these data: every number NaN (the note says why)."""
    nan = float("nan")
    return Estimate(nan, nan, nan, nan, 0, 0)


#: Failures of a fit on a user's data that mean "this method cannot run here", not a bug.
_NUMERICAL_FAILURES = (np.linalg.LinAlgError, ValueError, ZeroDivisionError, FloatingPointError)


def _attempt(compute, label: str):
    """Run one estimator; on a numerical failure return NaNs and one sentence saying why (the rest runs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            result = compute()
        except _NUMERICAL_FAILURES as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            return _failed(reason), f"{label} could not be estimated on these data ({reason})"
    if isinstance(result, Estimate) and not np.isfinite(result.estimate):
        return result, f"{label} could not be estimated on these data (too few patients)"
    if isinstance(result, Estimate) and not np.isfinite(result.se):
        return result, (f"{label}: the point estimate is shown, but its standard error and interval could not "
                        "be estimated on these data (too few patients or matched pairs)")
    return result, ""


def group_mean_table(matched: pd.DataFrame, full: pd.DataFrame, outcomes=tuple(OUTCOME_COLUMNS),
                     weights: str = "weights") -> pd.DataFrame:
    """Per-group mean change (t CI) in the matched sample and in the full cohort, all outcomes."""
    blocks = []
    outcomes = available_outcomes(full, outcomes)
    for sample, frame, w in (("matched", prepare(matched), weights), ("full", prepare(full), None)):
        for key in outcomes:
            table = group_means(frame, OUTCOME_COLUMNS[key], weights=w)
            blocks.append(table.assign(outcome=key, sample=sample))
    table = pd.concat(blocks, ignore_index=True)
    return table[["outcome", "sample", "group", "n", "n_missing", "mean", "sd", "ci_low", "ci_high"]]


def published_comparison(group_table: pd.DataFrame, published: dict | None = None,
                         sample: str = "matched") -> pd.DataFrame:
    """Published per-group mean change (and CI where published) next to ours, GAD-7, PHQ-9 and NRS."""
    published = published or cohort_mod.published()
    reported = published["ren2025_cohort"]["change_from_baseline_1_month"]
    ours = group_table[group_table["sample"] == sample].set_index(["outcome", "group"])
    rows = []
    for key in cohort_mod.OUTCOMES:
        for group in ("DEX", "LA"):
            entry = reported[key][group.lower()]
            ci = entry.get("ci95") or [float("nan"), float("nan")]
            mine = ours.loc[(key, group)]
            rows.append({"outcome": key, "group": group, "published_mean": entry["mean"],
                         "published_ci_low": ci[0], "published_ci_high": ci[1],
                         "reproduced_mean": mine["mean"], "reproduced_ci_low": mine["ci_low"],
                         "reproduced_ci_high": mine["ci_high"], "n": int(mine["n"]),
                         "difference": mine["mean"] - entry["mean"]})
    return pd.DataFrame(rows)


def truth_comparison(effects: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Each estimate next to the simulation's true ATT (all treated): error and error in SE units."""
    table = effects[["outcome", "estimator", "estimand", "estimate", "se", "ci_low", "ci_high"]].copy()
    table["true_att"] = table["outcome"].map(truth["att"])
    table["error"] = table["estimate"] - table["true_att"]
    table["error_in_se"] = table["error"] / table["se"]
    table["ci_covers_truth"] = (table["ci_low"] <= table["true_att"]) & (table["true_att"] <= table["ci_high"])
    return table
