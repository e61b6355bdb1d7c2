"""Stage 3 for the pipeline: `analyse` (every table) and the effects blocks of results.json."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from dexmood import paths
from dexmood.effects.combined import estimate_effects, group_mean_table, truth_comparison
from dexmood.effects.estimands import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_SEED,
    NOT_IN_DATA,
    OUTCOME_COLUMNS,
    PRIMARY_ESTIMATOR,
    available_outcomes,
    prepare,
)
from dexmood.effects.responders import ordinal_satisfaction, responder_effects

# --------------------------------------------------------------------------------------------------
# Results for results.json / effects.json
# --------------------------------------------------------------------------------------------------

def _by_estimator(effects: pd.DataFrame) -> dict:
    out: dict = {}
    for row in effects.itertuples(index=False):
        out.setdefault(row.outcome, {})[row.estimator] = {
            "att": _number(row.estimate), "ci95": [_number(row.ci_low), _number(row.ci_high)],
            "se": _number(row.se), "n": int(row.n), "n_missing": int(row.n_missing), "estimand": row.estimand,
            "sample": row.sample, **({"note": row.note} if row.note else {})}
    return out


def matching_covariates(match_result) -> list[str]:
    """Covariates of the matching specification (the propensity model's columns)."""
    return list(match_result.propensity.covariates)


def analyse(match_result, cohort, *, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = DEFAULT_SEED) -> dict:
    """Every table of this stage for a matching result (`dexmood.matching.MatchResult`) and its cohort.

    The weighting estimators use the cohort rows that entered matching (`match_result.full`, i.e. complete
    covariates) and the matching's own propensity score (inverse logit of `distance`).
    """
    full = prepare(match_result.full).reset_index(drop=True)
    matched = prepare(match_result.data)
    covariates = matching_covariates(match_result)
    propensity = 1.0 / (1.0 + np.exp(-full["distance"].to_numpy(dtype=float)))
    effects = estimate_effects(matched, full, covariates, propensity, n_boot=n_boot, seed=seed)
    result = {
        "covariates": covariates,
        "effects": effects,
        "group_means": group_mean_table(matched, full),
        "responders": responder_effects(matched),
        "satisfaction_ordinal": (ordinal_satisfaction(matched) if "satisfaction" in available_outcomes(matched)
                                 else None),
        "excluded_missing_covariates": int(len(cohort.data) - len(full)),
    }
    if cohort.truth is not None:
        result["truth"] = truth_comparison(effects, cohort.truth)
    return result


def results_section(match_result, cohort) -> dict:
    """The `effects` (estimator 1) and `effects_by_estimator` entries of results.json."""
    return results_from_analysis(analyse(match_result, cohort))


def results_from_analysis(analysis: dict) -> dict:
    """The `effects` (primary estimator) and `effects_by_estimator` entries of results.json; an outcome
    the data cannot answer is `{"status": "not in the data"}`."""
    effects = analysis["effects"]
    primary = effects[effects["estimator"] == analysis.get("primary", PRIMARY_ESTIMATOR)]
    section = {key: {"status": NOT_IN_DATA} for key in OUTCOME_COLUMNS}
    for row in primary.itertuples(index=False):
        section[row.outcome] = {"att": _number(row.estimate), "se": _number(row.se),
                                "ci95": [_number(row.ci_low), _number(row.ci_high)],
                                "estimator": row.estimator, "n": int(row.n)}
        if row.note:
            section[row.outcome]["note"] = row.note
    return {"effects": section, "effects_by_estimator": _by_estimator(effects)}


def _number(value) -> float | None:
    """JSON has no NaN: a number that could not be estimated is null."""
    return float(value) if np.isfinite(value) else None


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", double_precision=10))


def write_effects_json(analysis: dict, cohort, path=None):
    """Write every table of `analyse` to data/derived/effects.json (regenerable)."""
    path = path or paths.derived("effects.json")
    effects = analysis["effects"]
    primary = effects[effects["estimator"] == analysis.get("primary", PRIMARY_ESTIMATOR)]
    payload = {
        "data": {"source": cohort.source, "simulated": cohort.simulated},
        "covariates": analysis["covariates"],
        "excluded_missing_covariates": analysis["excluded_missing_covariates"],
        "effects": {row.outcome: {"att": row.estimate, "ci95": [row.ci_low, row.ci_high]}
                    for row in primary.itertuples(index=False)},
        "effects_by_estimator": _by_estimator(effects),
        "estimates": _records(effects),
        "group_means": _records(analysis["group_means"]),
        "responders": _records(analysis["responders"]),
        "satisfaction_ordinal_odds_ratio": (analysis["satisfaction_ordinal"].to_dict()
                                            if analysis["satisfaction_ordinal"] is not None else NOT_IN_DATA),
    }
    if "truth" in analysis:
        payload["truth_comparison"] = _records(analysis["truth"])
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    return path
