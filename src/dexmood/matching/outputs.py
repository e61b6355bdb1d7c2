"""What matching hands on: matched.csv for other tools and the matching block of results.json."""

from __future__ import annotations

import pandas as pd

from dexmood import cohort, paths
from dexmood.matching.nearest import MatchResult

# --------------------------------------------------------------------------------------------------
# Outputs for the CLI and later notebooks
# --------------------------------------------------------------------------------------------------

def matched_csv(match_result: MatchResult) -> pd.DataFrame:
    """The matched sample for other tools: patient_id, group, subclass, weight, distance (logit PS)."""
    data = match_result.data
    return pd.DataFrame({"patient_id": data["patient_id"].astype(str).to_numpy(),
                         "group": data["group"].astype(str).to_numpy(),
                         "subclass": data["subclass"].to_numpy(), "weight": data["weights"].to_numpy(),
                         "distance": data["distance"].to_numpy()})


def write_matched_csv(match_result: MatchResult, path=None):
    """Write `matched_csv` (default ``data/derived/matched.csv``) with the cohort's fixed CSV encoding."""

    return cohort.write_csv(matched_csv(match_result), path or paths.derived("matched.csv"))


def results_section(match_result: MatchResult) -> dict:
    """The ``"matching"`` block of ``results.json``."""
    balance = match_result.balance()
    return {
        "covariates": list(match_result.summary["covariates"]),
        "pairs": int(match_result.summary["pairs"]),
        "treated_unmatched": int(match_result.summary["treated_unmatched"]),
        "max_abs_smd_before": round(balance.max_abs_smd("before"), 6),
        "max_abs_smd_after": round(balance.max_abs_smd("after"), 6),
        "balance_passed": balance.passed,
        "failing_terms": list(balance.failures()["term"]),
        "caliper_sd": match_result.summary["caliper_sd"],
        "propensity_formula": match_result.summary["formula"],
    }
