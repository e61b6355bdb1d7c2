"""What stage 3 estimates: outcomes, estimator labels and estimands, the `Estimate` record."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd
from scipy import stats

from dexmood import cohort as cohort_mod
from dexmood.settings import SETTINGS

#: Outcome key -> column analysed. Changes are 1-month minus baseline (negative = improvement).
OUTCOME_COLUMNS = {"gad7": "gad7_change", "phq9": "phq9_change", "nrs": "nrs_change",
                   "satisfaction": "satisfaction"}
OUTCOME_LABELS = {"gad7": "GAD-7 change", "phq9": "PHQ-9 change", "nrs": "NRS pain change",
                  "satisfaction": "Satisfaction (1–5)"}

#: Estimator key -> (label, sample, estimand). The order is the order of tables and the forest plot.
ESTIMATORS = {
    "matched_difference": ("1 Matched: difference in means", "matched", "ATT (matched treated)"),
    "matched_regression": ("2 Matched: covariate-adjusted (g-computation)", "matched", "ATT (matched treated)"),
    "ipw_att": ("3a Full cohort: ATT weights (IPW)", "full", "ATT"),
    "overlap": ("3b Full cohort: overlap weights", "full", "ATO (overlap population)"),
    "aipw_att": ("3c Full cohort: augmented IPW", "full", "ATT"),
    "welch_difference": ("4 Matched: difference of group means (Welch)", "matched", "ATT (matched treated)"),
    "naive_difference": ("Full cohort: unadjusted difference", "full", "none (confounded)"),
}
#: The estimator reported as the headline `effects` in results.json.
PRIMARY_ESTIMATOR = "matched_difference"
DEFAULT_BOOTSTRAP = SETTINGS.n_boot
DEFAULT_SEED = SETTINGS.seed
Z95 = stats.norm.ppf(0.975)

TIDY_COLUMNS = ["outcome", "estimator", "estimate", "ci_low", "ci_high", "se", "n", "n_missing", "label",
                "sample", "estimand", "note"]
#: What an outcome absent from a user's file is reported as, everywhere.
NOT_IN_DATA = "not in the data"


def available_outcomes(frame: pd.DataFrame, outcomes=tuple(OUTCOME_COLUMNS)) -> tuple[str, ...]:
    """The outcomes of `outcomes` that the frame can answer (the optional satisfaction may be absent)."""
    frame = prepare(frame)
    return tuple(k for k in outcomes if OUTCOME_COLUMNS[k] in frame and frame[OUTCOME_COLUMNS[k]].notna().any())


@dataclass(frozen=True)
class Estimate:
    """One effect estimate with its 95% CI, standard error and the number of rows used / dropped."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    n_missing: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the change columns and `dex` (0/1) if they are not there yet (a cohort or matched frame)."""
    if "dex" in frame and all(c in frame for c in ("gad7_change", "phq9_change", "nrs_change")):
        return frame
    return cohort_mod.add_changes(frame)
