"""From a validated file to the analysis frame: covariates made usable, change scores, the flow."""

from __future__ import annotations

import pandas as pd

from dexmood.cohort.contract import (
    CATEGORICAL_COVARIATES,
    COHORT_SCHEMA,
    GROUPS,
    MAX_MISSING_SHARE,
    MISSING_LEVEL,
    OTHER_LEVEL,
    OUTCOMES,
    RARE_LEVEL_MIN,
)


def baseline_covariates(frame: pd.DataFrame) -> list[str]:
    """The baseline covariates of the contract that are present, in a fixed documented order.

    age, sex, the three baseline scores, then the optional bmi, pain_duration_months, pain_diagnosis,
    procedure, then any further `*_baseline` column in file order, then the missing-value indicators
    `<covariate>_missing` made by `prepare_covariates`.
    """
    fixed = ["age", "sex", "nrs_baseline", "gad7_baseline", "phq9_baseline",
             "bmi", "pain_duration_months", "pain_diagnosis", "procedure"]
    present = [c for c in fixed if c in frame.columns and frame[c].notna().any()]
    extra = [c for c in frame.columns if c.endswith("_baseline") and c not in present and frame[c].notna().any()]
    indicators = [f"{c}_missing" for c in present + extra if f"{c}_missing" in frame.columns]
    return present + extra + indicators


def prepare_covariates(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The analysis frame: every patient kept, optional covariates made usable by a stated rule.

    - an optional covariate missing in more than `MAX_MISSING_SHARE` of patients is left out of the models;
    - otherwise a missing numeric value is replaced by the median of the others and a 0/1 indicator
      `<covariate>_missing` enters the models (the missing-indicator method, so no patient is dropped
      and missingness itself is balanced by matching); a missing category becomes the level "missing";
    - in a further categorical `*_baseline` covariate, levels held by fewer than `RARE_LEVEL_MIN` patients
      are pooled into one level.
    Returns the frame and a table of what was done (covariate, action, patients affected) for the flow.
    """
    out = frame.copy()
    notes = []
    optional = [c for c in out.columns if c in ("bmi", "pain_duration_months", "pain_diagnosis", "procedure")
                or (c.endswith("_baseline") and c not in COHORT_SCHEMA.columns)]
    for column in optional:
        missing = out[column].isna()
        n_missing = int(missing.sum())
        if n_missing == 0 and column in ("pain_diagnosis", "procedure", "bmi", "pain_duration_months"):
            continue
        if n_missing > MAX_MISSING_SHARE * len(out):
            out = out.drop(columns=column)
            notes.append({"covariate": column, "action": f"left out of the models (missing in more than "
                          f"{MAX_MISSING_SHARE:.0%} of patients)", "patients": n_missing})
            continue
        numeric = pd.api.types.is_numeric_dtype(out[column])
        if n_missing and numeric:
            out[column] = out[column].fillna(float(out[column].median()))
            out[f"{column}_missing"] = missing.astype(float)
            notes.append({"covariate": column, "action": "missing value replaced by the median, with a "
                          "missing-value indicator in the models", "patients": n_missing})
        elif n_missing:
            out[column] = out[column].astype("string").fillna(MISSING_LEVEL)
            notes.append({"covariate": column, "action": f"missing value coded as the level '{MISSING_LEVEL}'",
                          "patients": n_missing})
        if not numeric and column not in CATEGORICAL_COVARIATES:
            counts = out[column].value_counts()
            rare = [str(level) for level, n in counts.items() if n < RARE_LEVEL_MIN]
            if len(rare) > 1 or (rare and len(counts) > 2):
                out[column] = out[column].astype("string").where(~out[column].isin(rare), OTHER_LEVEL)
                notes.append({"covariate": column, "action": f"{len(rare)} level(s) with fewer than "
                              f"{RARE_LEVEL_MIN} patients pooled into '{OTHER_LEVEL}'",
                              "patients": int(counts[rare].sum())})
    return out, pd.DataFrame(notes, columns=["covariate", "action", "patients"])


def add_changes(frame: pd.DataFrame) -> pd.DataFrame:
    """Add `<score>_change` = 1-month minus baseline (negative = improvement) and a 0/1 `dex` column."""
    out = frame.copy()
    for outcome in OUTCOMES:
        out[f"{outcome}_change"] = out[f"{outcome}_1m"] - out[f"{outcome}_baseline"]
    out["dex"] = (out["group"] == "DEX").astype(int)
    return out


def flow_table(frame: pd.DataFrame, screening: list[tuple[str, int]] | None = None,
               preparation: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every row accounted for: screening exclusions (if known), per outcome missing follow-up, and what
    `prepare_covariates` did to incomplete or rare covariate values (no patient is dropped for them)."""
    rows = []
    if screening:
        total = len(frame) + sum(n for _, n in screening)
        rows.append({"stage": "screened", "reason": "", "n": total})
        for reason, n in screening:
            rows.append({"stage": "excluded before analysis", "reason": reason, "n": n})
    rows.append({"stage": "analysed cohort", "reason": "", "n": len(frame)})
    for group in GROUPS:
        rows.append({"stage": f"analysed cohort: {group}", "reason": "", "n": int((frame["group"] == group).sum())})
    for outcome in OUTCOMES:
        missing = frame[f"{outcome}_1m"].isna()
        rows.append({"stage": f"{outcome.upper()} change not computable", "reason": "missing 1-month value",
                     "n": int(missing.sum())})
    if "satisfaction" in frame:
        rows.append({"stage": "satisfaction not available", "reason": "missing value",
                     "n": int(frame["satisfaction"].isna().sum())})
    else:
        rows.append({"stage": "satisfaction not available", "reason": "not in the data", "n": len(frame)})
    for note in [] if preparation is None else preparation.itertuples(index=False):
        rows.append({"stage": f"covariate {note.covariate}: kept in analysis", "reason": note.action,
                     "n": int(note.patients)})
    return pd.DataFrame(rows)
