"""Matching a cohort: MatchIt's nearest-neighbour matching, the book's specification, alternatives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dexmood.errors import MatchingError
from dexmood.matching.balance import BalanceTable, balance_table
from dexmood.matching.greedy import match_on_distance, matchit_weights
from dexmood.matching.propensity import (
    DEFAULT_CALIPER_SD,
    TREATED_GROUP,
    PropensityModel,
    fit_propensity,
    propensity_transforms,
)
from dexmood.settings import SETTINGS

# --------------------------------------------------------------------------------------------------
# Matching a cohort
# --------------------------------------------------------------------------------------------------

@dataclass
class MatchResult:
    """A matched sample, like MatchIt's ``matchit`` object plus ``match.data()``.

    ``data``: matched patients (all cohort columns in data order) with ``distance`` (logit PS), ``subclass``
    (matched set id, numbered by the treated patient's data order; with replacement a reused control shows
    the subclass of its first treated patient) and ``weights``. ``full``: every patient used for matching
    with ``distance``, ``weights`` (0 = unmatched), ``matched``. ``pairs``: one row per treated–control
    pair (like ``get_matches()``). ``match_matrix``: MatchIt's match matrix as row positions of ``full``.
    """

    data: pd.DataFrame
    full: pd.DataFrame
    pairs: pd.DataFrame
    match_matrix: np.ndarray
    propensity: PropensityModel
    summary: dict
    unmatched: pd.DataFrame

    def balance(self) -> BalanceTable:
        return balance_table(self.full, self.propensity.covariates, weights=self.full["weights"].to_numpy(),
                             distance=self.full["distance"].to_numpy())


def _exact_codes(frame: pd.DataFrame, exact: list[str]) -> np.ndarray:
    keys = frame[exact].astype("string").fillna("<NA>")
    return keys.groupby(exact, sort=True, dropna=False).ngroup().to_numpy(dtype=np.int64)


def _within_caliper_counts(distance, treated, codes, caliper) -> np.ndarray:
    """For each treated patient, how many controls of its exact stratum lie within the caliper."""
    counts = np.zeros(int(treated.sum()), dtype=np.int64)
    t_rows = np.flatnonzero(treated)
    for code in np.unique(codes[t_rows]):
        c_vals = np.sort(distance[~treated & (codes == code)])
        t_sel = codes[t_rows] == code
        x = distance[t_rows[t_sel]]
        if caliper is None:
            counts[t_sel] = len(c_vals)
        else:
            counts[t_sel] = (np.searchsorted(c_vals, x + caliper, side="right")
                             - np.searchsorted(c_vals, x - caliper, side="left"))
    return counts


def match_nearest(frame: pd.DataFrame, covariates: list[str] | None = None, *, ratio: int = 1,
                  replace: bool = False, caliper_sd: float | None = DEFAULT_CALIPER_SD,
                  exact: list[str] | str | None = None, formula: str | None = None,
                  transforms: dict[str, str] | None = None,
                  order: str = "largest") -> MatchResult:
    """1:k greedy nearest-neighbour matching on the logit propensity score for the ATT (DEX = treated).

    Equivalent to ``MatchIt::matchit(dex ~ covariates, method = "nearest", distance = "glm",
    link = "linear.logit", ratio = ratio, replace = replace, caliper = caliper_sd, std.caliper = TRUE,
    exact = exact, m.order = order)``. ``caliper_sd=None`` matches without a caliper.
    Raises `MatchingError` if no treated patient can be matched.
    """
    if isinstance(exact, str):
        exact = [exact]
    exact = list(exact or [])
    missing = [c for c in exact if c not in frame.columns]
    if missing:
        raise MatchingError(f"exact-matching column(s) not in the data: {', '.join(missing)}")
    propensity = fit_propensity(frame, covariates, formula, transforms)
    full = frame.loc[propensity.logit.index].copy()
    full["distance"] = propensity.logit.to_numpy()
    full = full.reset_index(drop=True)
    treated = (full["group"] == TREATED_GROUP).to_numpy()
    distance = full["distance"].to_numpy()
    caliper = None
    if caliper_sd is not None:
        if caliper_sd <= 0:
            raise MatchingError(f"caliper_sd must be positive (or None for no caliper), got {caliper_sd}")
        caliper = float(caliper_sd) * float(np.std(distance, ddof=1))
    codes = _exact_codes(full, exact) if exact else np.zeros(len(full), dtype=np.int64)
    match_matrix = match_on_distance(distance, treated, ratio=ratio, replace=replace, caliper=caliper,
                                     exact_codes=codes, order=order)
    rows_t = np.flatnonzero(treated)
    has_match = (match_matrix >= 0).any(axis=1)
    scale = (f"{caliper_sd} SD of the logit propensity score = {caliper:.4f} logit units"
             if caliper is not None else "no caliper")
    if not has_match.any():
        where = f" with exact matching on {', '.join(exact)}" if exact else ""
        raise MatchingError(
            f"no treated (DEX) patient has a control within the caliper ({scale}){where}: "
            f"{len(rows_t)} DEX and {int((~treated).sum())} LA patients, none matched. "
            "Widen caliper_sd, drop exact matching, or check the overlap of the propensity scores."
            + (f" The propensity model reported: {'; '.join(propensity.notes)}." if propensity.notes else ""))

    weights = matchit_weights(match_matrix, treated)
    full["weights"] = weights
    full["matched"] = weights > 0
    subclass = np.full(len(full), -1, dtype=np.int64)
    set_id = np.cumsum(has_match)  # 1, 2, ... for matched treated in data order
    subclass[rows_t[has_match]] = set_id[has_match]
    pair_rows = []
    for r in range(match_matrix.shape[1]):
        found = match_matrix[:, r] >= 0
        pair_rows.append(pd.DataFrame({"subclass": set_id[found], "treated_row": rows_t[found],
                                       "control_row": match_matrix[found, r], "round": r + 1}))
    pairs = pd.concat(pair_rows, ignore_index=True).sort_values(["subclass", "round"], kind="stable")
    # first (lowest) subclass of each control
    first = pairs.drop_duplicates("control_row", keep="first")
    subclass[first["control_row"].to_numpy()] = first["subclass"].to_numpy()
    full["subclass"] = pd.array(np.where(subclass > 0, subclass, 0), dtype="Int64")
    full.loc[subclass <= 0, "subclass"] = pd.NA
    ids = full["patient_id"].to_numpy()
    pairs = pairs.assign(
        treated_id=ids[pairs["treated_row"].to_numpy()], control_id=ids[pairs["control_row"].to_numpy()],
        treated_distance=distance[pairs["treated_row"].to_numpy()],
        control_distance=distance[pairs["control_row"].to_numpy()])
    pairs["abs_difference"] = (pairs["treated_distance"] - pairs["control_distance"]).abs()
    pairs = pairs.reset_index(drop=True)

    # Why were treated patients left unmatched?
    in_caliper = _within_caliper_counts(distance, treated, codes, caliper)
    unmatched_t = ~has_match
    reasons = np.where(in_caliper[unmatched_t] == 0, "no control within the caliper",
                       "every control within the caliper was already used")
    unmatched = pd.DataFrame({"patient_id": ids[rows_t[unmatched_t]], "distance": distance[rows_t[unmatched_t]],
                              "controls_within_caliper": in_caliper[unmatched_t], "reason": reasons})

    data = full.loc[full["matched"]].drop(columns="matched").reset_index(drop=True)
    n_controls_matched = int((full["matched"] & ~treated).sum())
    summary = {
        "n": int(len(full)), "n_treated": int(treated.sum()), "n_control": int((~treated).sum()),
        "pairs": int(has_match.sum()), "treated_unmatched": int(unmatched_t.sum()),
        "controls_matched": n_controls_matched, "controls_unmatched": int((~treated).sum()) - n_controls_matched,
        "ratio": int(ratio), "replace": bool(replace), "caliper_sd": caliper_sd,
        "caliper_logit": caliper, "caliper_text": scale, "order": order, "exact": exact,
        "covariates": list(propensity.covariates), "formula": propensity.formula,
        "distance": "logit of the propensity score (logistic regression)", "estimand": "ATT",
        "excluded_missing": int(len(frame) - len(full)), "auc": propensity.auc,
        "unmatched_reasons": {str(k): int(v) for k, v in pd.Series(reasons).value_counts().items()},
    }
    return MatchResult(data=data, full=full, pairs=pairs, match_matrix=match_matrix, propensity=propensity,
                       summary=summary, unmatched=unmatched)
def match_with_settings(cohort, settings=None, **overrides) -> MatchResult:
    """The book's main specification (used by notebooks 02–05, the command line and the sensitivity
    analyses): greedy nearest neighbour on the logit of the default propensity model
    (`propensity_transforms`), largest propensity first, with ratio, replacement and caliper from
    `dexmood.settings.SETTINGS` unless overridden."""
    settings = settings or SETTINGS
    frame = cohort.data if hasattr(cohort, "data") else cohort
    covariates, transforms = propensity_transforms(frame, overrides.pop("covariates", None))
    transforms = overrides.pop("transforms", transforms)
    options = {"ratio": settings.ratio, "replace": settings.replace, "caliper_sd": settings.caliper_sd}
    options.update(overrides)
    return match_nearest(frame, covariates, transforms=transforms, **options)


def default_match(cohort, settings=None) -> MatchResult:
    """The book's main matched sample (`match_with_settings` with the book's settings)."""
    return match_with_settings(cohort, settings)

def alternative_specifications(settings=None) -> dict[str, dict]:
    """The main specification and the alternatives notebook 02 compares (keyword arguments of
    `match_with_settings`), named from the settings so no caliper is written twice."""
    settings = settings or SETTINGS
    caliper = settings.caliper_sd
    return {
        f"{settings.describe_matching()} (main)": {},
        f"1:1, caliper {caliper / 2:g} SD": {"caliper_sd": caliper / 2},
        "1:1, no caliper": {"caliper_sd": None},
        f"1:2, caliper {caliper:g} SD": {"ratio": 2},
        f"1:1 with replacement, caliper {caliper:g} SD": {"replace": True},
        f"1:1, caliper {caliper:g} SD, exact on procedure": {"exact": ["procedure"]},
        f"{settings.describe_matching()}, main effects only (no log terms)": {"transforms": {}},
    }


def compare_specifications(frame: pd.DataFrame, specifications: dict[str, dict], settings=None) -> pd.DataFrame:
    """Run several matching specifications (name → keyword arguments of `match_with_settings`) and tabulate
    the matched sample size and balance of each; a specification that cannot match shows its error."""
    rows = []
    for name, options in specifications.items():
        try:
            result = match_with_settings(frame, settings, **options)
        except MatchingError as error:
            rows.append({"specification": name, "error": str(error)})
            continue
        balance = result.balance()
        rows.append({"specification": name, "DEX matched": result.summary["pairs"],
                     "DEX unmatched": result.summary["treated_unmatched"],
                     "LA used": result.summary["controls_matched"],
                     "max |SMD| after": balance.max_abs_smd("after"),
                     "terms not balanced": len(balance.failures()), "balanced": balance.passed})
    return pd.DataFrame(rows)
