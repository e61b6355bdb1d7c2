"""Cross-check against R's MatchIt (stored results; R itself is only needed to regenerate them)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from dexmood import cohort, paths
from dexmood.matching.nearest import match_nearest
from dexmood.matching.propensity import TREATED_GROUP
from dexmood.settings import SETTINGS

# Cross-check against R's MatchIt (stored results; R itself is only needed to regenerate them)
# --------------------------------------------------------------------------------------------------

#: Cohorts of the R cross-check: the book's default simulation and a larger one (same seed).
R_REFERENCE_COHORTS = {
    "default": {"seed": SETTINGS.seed, "design": {}},
    "large": {"seed": SETTINGS.seed, "design": {"n_dex": 1000, "n_la": 2000}},
}
#: Matching specifications compared with MatchIt (names are keys of the stored JSON).
R_REFERENCE_CONFIGS = {
    "1:1, caliper 0.2": {"cohort": "default", "ratio": 1, "replace": False, "caliper_sd": 0.2, "exact": []},
    "1:1, no caliper": {"cohort": "default", "ratio": 1, "replace": False, "caliper_sd": None, "exact": []},
    "1:2, caliper 0.2": {"cohort": "default", "ratio": 2, "replace": False, "caliper_sd": 0.2, "exact": []},
    "1:3, caliper 0.2": {"cohort": "default", "ratio": 3, "replace": False, "caliper_sd": 0.2, "exact": []},
    "1:2 with replacement, caliper 0.2": {"cohort": "default", "ratio": 2, "replace": True, "caliper_sd": 0.2,
                                          "exact": []},
    "1:1, caliper 0.2, exact on sex": {"cohort": "default", "ratio": 1, "replace": False, "caliper_sd": 0.2,
                                       "exact": ["sex"]},
    "1:1, caliper 0.2 (3,000 patients)": {"cohort": "large", "ratio": 1, "replace": False, "caliper_sd": 0.2,
                                          "exact": []},
}
R_REFERENCE_FILE = "reference_r/matchit_crosscheck.json"


def reference_cohort(name: str) -> pd.DataFrame:
    """The simulated cohort a stored R cross-check was run on (always simulated, whatever DEXMOOD_COHORT)."""

    spec = R_REFERENCE_COHORTS[name]
    return cohort.simulate(cohort.with_design(**spec["design"]), seed=spec["seed"]).data


def load_r_reference(path=None) -> dict:


    return json.loads((path or paths.DATA / R_REFERENCE_FILE).read_text())


def _r_term(term: str, covariates: list[str]) -> str:
    """R's name of a balance term: ``sex_M`` is ``sexM`` in MatchIt's summary."""
    for name in covariates:
        if term.startswith(f"{name}_"):
            return name + term[len(name) + 1:]
    return term


def _sets(treated_ids, control_ids) -> dict[str, frozenset]:
    sets: dict[str, set] = {}
    for t, c in zip(treated_ids, control_ids, strict=True):
        sets.setdefault(str(t), set()).add(str(c))
    return {k: frozenset(v) for k, v in sets.items()}


def compare_with_r(reference: dict | None = None) -> pd.DataFrame:
    """Re-run every stored MatchIt specification with dexmood.matching and compare, one row per spec:
    matched sets identical for how many treated patients, largest |difference| of the logit, caliper and
    balance statistics, and how many pairs Debian's default MatchIt routine put outside the caliper."""
    reference = reference or load_r_reference()
    rows = []
    frames: dict[str, pd.DataFrame] = {}
    for key, entry in reference["results"].items():
        cfg = entry["config"]
        frame = frames.setdefault(entry["cohort"], reference_cohort(entry["cohort"]))
        result = match_nearest(frame, ratio=cfg["ratio"], replace=cfg["replace"], caliper_sd=cfg["caliper_sd"],
                               exact=cfg["exact"] or None)
        ours = _sets(result.pairs["treated_id"], result.pairs["control_id"])
        r_pairs = entry["pairs"]
        theirs = _sets(r_pairs["treated_id"], r_pairs["control_id"])
        treated_ids = result.full.loc[result.full["group"] == TREATED_GROUP, "patient_id"].astype(str)
        identical = sum(ours.get(t, frozenset()) == theirs.get(t, frozenset()) for t in treated_ids)
        row = {"specification": key, "treated": len(treated_ids), "identical_sets": int(identical),
               "matched_python": len(ours), "matched_r": len(theirs)}
        glm_logit = reference["cohorts"][entry["cohort"]].get("glm_logit")
        if glm_logit:
            r_logit = pd.Series(glm_logit["logit"], index=glm_logit["patient_id"])
            ours_logit = result.full.set_index("patient_id")["distance"]
            row["max_abs_logit_diff"] = float((ours_logit - r_logit.loc[ours_logit.index]).abs().max())
        else:
            row["max_abs_logit_diff"] = np.nan
        caliper = result.summary["caliper_logit"]
        row["caliper_diff"] = abs(caliper - entry["caliper_logit"]) if caliper is not None else 0.0
        balance = result.balance().table
        covariates = result.propensity.covariates
        diffs = []
        for when, r_table in (("before", entry["balance_before"]), ("after", entry["balance_after"])):
            r_frame = pd.DataFrame(r_table).set_index("term")
            for _, b in balance.iterrows():
                r_row = r_frame.loc[_r_term(b["term"], covariates)]
                for stat in ("smd", "variance_ratio", "ecdf_mean", "ecdf_max"):
                    mine, other = b[f"{stat}_{when}"], r_row[stat]
                    other = np.nan if other in (None, "NA", "NaN") else float(other)
                    if np.isnan(mine) and np.isnan(other):
                        continue
                    diffs.append(abs(mine - other))
        row["max_abs_balance_diff"] = float(np.nanmax(diffs)) if diffs else np.nan
        default_pairs = pd.DataFrame(entry["default_routine_pairs"])
        lookup = result.full.set_index("patient_id")["distance"]
        gaps = (lookup.loc[default_pairs["treated_id"]].to_numpy()
                - lookup.loc[default_pairs["control_id"]].to_numpy())
        row["default_routine_pairs"] = len(default_pairs)
        row["default_routine_outside_caliper"] = (int((np.abs(gaps) > caliper + 1e-12).sum())
                                                  if caliper is not None else 0)
        rows.append(row)
    return pd.DataFrame(rows)
