"""What every sensitivity module shares: outcome names, the normal quantile, the effect's direction, the
pooled SD, and the one way a method says it cannot run (`dexmood.errors.AnalysisNotPossible`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from dexmood import cohort as cohort_mod
from dexmood import effects
from dexmood.errors import AnalysisNotPossible
from dexmood.settings import OUTCOME_NAMES

OUTCOMES = cohort_mod.OUTCOMES
OUTCOME_COLUMNS = {key: f"{key}_change" for key in OUTCOMES}
OUTCOME_LABELS = {key: OUTCOME_NAMES[key] for key in OUTCOMES}
MEDIATOR_COLUMN = "nrs_change"
#: Outcomes with a mediation analysis (the NRS change is the mediator itself).
MEDIATED_OUTCOMES = ("gad7", "phq9")
Z95 = float(stats.norm.ppf(0.975))
ALPHA = 0.05


def prepared(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with change columns and a 0/1 `dex` column (`effects.prepare`)."""
    return effects.prepare(frame)


def direction(estimate: float) -> float:
    """+1 if the effect is an increase, −1 if a decrease (improvement in this book: changes are negative)."""
    return 1.0 if estimate >= 0 else -1.0


def require_columns(frame: pd.DataFrame, columns, method: str) -> None:
    """Raise `AnalysisNotPossible` naming the absent columns (never a raw KeyError from a user's file)."""
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise AnalysisNotPossible(f"{method} needs the column{'s' * (len(absent) > 1)} {', '.join(absent)}, "
                                  "which the data do not have.")


def require_groups(frame: pd.DataFrame, column: str, method: str, minimum: int = 2) -> tuple[int, int]:
    """Numbers of DEX and LA patients with `column` observed; `AnalysisNotPossible` below `minimum` per arm."""
    require_columns(frame, [column, "dex"], method)
    observed = frame[column].notna()
    n_dex = int((observed & (frame["dex"] == 1)).sum())
    n_la = int((observed & (frame["dex"] == 0)).sum())
    if min(n_dex, n_la) < minimum:
        raise AnalysisNotPossible(f"{method} needs at least {minimum} patients per group with {column} "
                                  f"observed; the data have {n_dex} DEX / {n_la} LA.")
    return n_dex, n_la


def pooled_sd(frame: pd.DataFrame, column: str, weights: str | None = "weights") -> float:
    """Within-group SD of `column` pooled over DEX and LA: sqrt((s²_DEX + s²_LA) / 2) (weighted if given).

    The standardiser of the effect size d = ATT / SD used for E-values of mean differences
    (VanderWeele & Ding 2017, "continuous outcomes").
    """
    n_dex, n_la = require_groups(frame, column, f"The pooled SD of {column}")
    variances = []
    for dex in (1, 0):
        subset = frame.loc[(frame["dex"] == dex) & frame[column].notna()]
        values = subset[column].to_numpy(dtype=float)
        w = np.ones(len(subset)) if weights is None or weights not in subset else subset[weights].to_numpy(float)
        if w.sum() <= 1:
            raise AnalysisNotPossible(f"The pooled SD of {column} needs matching weights summing to more than 1 "
                                      f"per group; the data have {n_dex} DEX / {n_la} LA.")
        mean = np.average(values, weights=w)
        variances.append(float(np.sum(w * (values - mean) ** 2) / (w.sum() - 1)))
    return float(np.sqrt(np.mean(variances)))


def main_estimate(matched: pd.DataFrame, key: str) -> effects.Estimate:
    """The main matched ATT of outcome `key` (`effects.matched_difference`, pair-cluster SE)."""
    column = OUTCOME_COLUMNS[key]
    require_groups(matched, column, f"The matched ATT of {OUTCOME_LABELS[key]}")
    return effects.matched_difference(matched, column)
