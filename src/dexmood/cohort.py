"""Stage 1 – the cohort: data contract, validation of a user's CSV, and the calibrated simulation.

The contract (one row per patient) is written once, as the pandera schema `COHORT_SCHEMA`; the human
codebook is `data/README.md`. The simulation is a structural model with confounded treatment assignment,
calibrated to Ren et al. (2025), whose true effects are computed from both potential outcomes of every
simulated patient.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from dexmood import paths
from dexmood.errors import CohortError, DataContractError  # noqa: F401  (re-exported)
from dexmood.settings import SETTINGS

# --------------------------------------------------------------------------------------------------
# The data contract
# --------------------------------------------------------------------------------------------------

#: Score ranges of the three instruments (inclusive).
SCORE_RANGES = {"nrs": (0, 10), "gad7": (0, 21), "phq9": (0, 27)}
INSTRUMENT_NAMES = {"nrs": "NRS", "gad7": "GAD-7", "phq9": "PHQ-9"}
OUTCOMES = ("gad7", "phq9", "nrs")
GROUPS = ("DEX", "LA")
REQUIRED_COLUMNS = (
    "patient_id", "group", "age", "sex",
    "nrs_baseline", "gad7_baseline", "phq9_baseline",
    "nrs_1m", "gad7_1m", "phq9_1m",
)
OPTIONAL_COLUMNS = ("bmi", "pain_duration_months", "pain_diagnosis", "procedure", "satisfaction")
CATEGORICAL_COVARIATES = ("sex", "pain_diagnosis", "procedure")
#: Mild symptoms: the usual cut-off of both questionnaires (Spitzer 2006; Kroenke 2001).
MILD_CUTOFF = 5
#: Further `*_baseline` covariates: a text column with more distinct values than this is free text, not a
#: category (an error asks the user to recode it); a level held by fewer patients than
#: `RARE_LEVEL_MIN` is pooled into `OTHER_LEVEL` before modelling.
MAX_CATEGORY_LEVELS = 30
RARE_LEVEL_MIN = 10
OTHER_LEVEL = "other (pooled)"
MISSING_LEVEL = "missing"
#: An optional covariate missing in more than this share of patients is left out of the models.
MAX_MISSING_SHARE = 0.5


def _score(name: str, lo: int, hi: int, nullable: bool) -> pa.Column:
    return pa.Column(float, pa.Check.in_range(lo, hi), nullable=nullable, coerce=True,
                     title=f"{name} ({lo}–{hi})")


def _build_schema() -> pa.DataFrameSchema:
    columns: dict[str, pa.Column] = {
        "patient_id": pa.Column(str, unique=True, nullable=False, coerce=True),
        "group": pa.Column(str, pa.Check.isin(GROUPS), nullable=False),
        "age": pa.Column(float, pa.Check.in_range(0, 120), nullable=False, coerce=True),
        "sex": pa.Column(str, pa.Check.isin(("F", "M")), nullable=False),
        "bmi": pa.Column(float, pa.Check.in_range(10, 80), nullable=True, coerce=True, required=False),
        "pain_duration_months": pa.Column(float, pa.Check.ge(0), nullable=True, coerce=True, required=False),
        "pain_diagnosis": pa.Column(str, nullable=True, required=False),
        "procedure": pa.Column(str, nullable=True, required=False),
        "satisfaction": pa.Column(float, pa.Check.isin([1, 2, 3, 4, 5]), nullable=True, coerce=True,
                                  required=False),
    }
    for outcome, (lo, hi) in SCORE_RANGES.items():
        columns[f"{outcome}_baseline"] = _score(outcome, lo, hi, nullable=False)
        columns[f"{outcome}_1m"] = _score(outcome, lo, hi, nullable=True)  # follow-up may be missing
    order = list(REQUIRED_COLUMNS) + list(OPTIONAL_COLUMNS)
    return pa.DataFrameSchema({k: columns[k] for k in order}, strict=False, ordered=False)


#: The cohort contract as a pandera schema (the single source of truth for columns, types and ranges).
COHORT_SCHEMA = _build_schema()


def _rows_text(rows: list[int], ids: list[str] | None, values: list[str] | None, limit: int = 8) -> str:
    """'rows 3, 7 (patient_id P3, P7; values 25, -1)' with CSV line numbers (header = line 1)."""
    shown = rows[:limit]
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    text = f"row{'s' * (len(rows) != 1)} {', '.join(str(r) for r in shown)}{more}"
    details = []
    if ids:
        details.append("patient_id " + ", ".join(ids[:limit]))
    if values:
        details.append("value" + "s" * (len(values) != 1) + " " + ", ".join(values[:limit]))
    return text + (f" ({'; '.join(details)})" if details else "")


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _describe_check(column: str, check: str) -> str:
    if "coerce_dtype" in check:
        return "is not a number"
    if check == "not_nullable":
        return "is missing (the contract requires a value)"
    if check == "field_uniqueness" or "unique" in check:
        return "is a duplicate ID"
    if check.startswith("isin"):
        allowed = {"group": "DEX or LA", "sex": "F or M", "satisfaction": "1, 2, 3, 4 or 5"}.get(column)
        return f"is not an allowed value ({allowed})" if allowed else f"fails {check}"
    if check.startswith("in_range") or check.startswith("greater_than"):
        prefix = column.split("_")[0]
        if prefix in SCORE_RANGES:
            lo, hi = SCORE_RANGES[prefix]
            return f"is out of range ({INSTRUMENT_NAMES[prefix]} {lo}–{hi})"
        return f"is out of range ({check})"
    return f"fails {check}"


def validate(frame: pd.DataFrame, source: str = "<data frame>") -> pd.DataFrame:
    """Check a cohort table against the contract; return it with contract dtypes.

    Raises `CohortError` listing every problem (column, check, CSV rows, patient IDs, values).
    No row is ever dropped: rows the analysis cannot use are reported by `flow_table`.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise CohortError(source, [f"required column{'s' * (len(missing) != 1)} missing: "
                                   + ", ".join(missing)])
    frame = frame.reset_index(drop=True).copy()
    ids = frame["patient_id"].astype(str)
    problems: list[str] = []
    # Numbers are parsed here (not by pandera) so that one bad cell gives one message.
    non_numeric: dict[str, set[int]] = {}
    for column, spec in COHORT_SCHEMA.columns.items():
        if column not in frame or spec.dtype is None or "float" not in str(spec.dtype):
            continue
        raw = frame[column]
        parsed = pd.to_numeric(raw, errors="coerce")
        bad = [int(i) for i in np.flatnonzero(parsed.isna().to_numpy() & raw.notna().to_numpy())]
        if bad:
            non_numeric[column] = set(bad)
            problems.append(f"column '{column}': value is not a number in "
                            + _rows_text([i + 2 for i in bad], [ids.iloc[i] for i in bad],
                                         [str(raw.iloc[i]) for i in bad]))
        frame[column] = parsed.astype(float)
    for column in ("patient_id", "group", "sex", "pain_diagnosis", "procedure"):
        if column in frame:
            frame[column] = frame[column].astype("object").where(frame[column].isna(),
                                                                 frame[column].astype(str).str.strip())
    try:
        validated = COHORT_SCHEMA.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        for (column, check), block in cases.groupby(["column", "check"], sort=False, dropna=False):
            index = [int(i) for i in block["index"].dropna() if int(i) not in non_numeric.get(str(column), ())]
            if not index and str(column) in non_numeric:
                continue
            values = [str(v) for v in block["failure_case"]]
            col = str(column)
            if check == "field_uniqueness" or col == "patient_id":
                dup_values = sorted(set(values))
                rows = [i + 2 for i in range(len(frame)) if ids.iloc[i] in dup_values]
                problems.append(f"column 'patient_id': duplicate IDs {', '.join(dup_values)} in "
                                + _rows_text(rows, None, None))
                continue
            rows = [i + 2 for i in sorted(set(index))]
            pids = [ids.iloc[i] for i in sorted(set(index))]
            values = [_fmt(frame[col].iloc[i]) for i in sorted(set(index))] if col in frame else values
            problems.append(f"column '{col}': value {_describe_check(col, str(check))} in "
                            + _rows_text(rows, pids, values if check != "not_nullable" else None))
        raise CohortError(source, problems) from None
    extra = [c for c in validated.columns if c.endswith("_baseline") and c not in COHORT_SCHEMA.columns]
    for column in extra:
        typed, problem = _type_extra_covariate(validated[column], column)
        if problem:
            problems.append(problem)
        validated[column] = typed
    if problems:
        raise CohortError(source, problems)
    for column in CATEGORICAL_COVARIATES:
        if column in validated:
            validated[column] = validated[column].astype("string")
    return validated


def _type_extra_covariate(raw: pd.Series, column: str) -> tuple[pd.Series, str | None]:
    """A further `*_baseline` column is numeric when every non-missing value parses as a number, else
    categorical; a categorical column with more than `MAX_CATEGORY_LEVELS` distinct values is free text."""
    text = raw.astype("object").where(raw.isna(), raw.astype(str).str.strip())
    text = text.where(text != "", None)
    parsed = pd.to_numeric(text, errors="coerce")
    if text.notna().any() and parsed[text.notna()].notna().all():
        return parsed.astype(float), None
    levels = text.dropna().unique()
    if len(levels) > MAX_CATEGORY_LEVELS:
        shown = ", ".join(repr(str(v)) for v in levels[:3])
        return text, (f"column '{column}': looks like free text ({len(levels)} distinct values, e.g. {shown}); "
                      f"a covariate must be numeric or have at most {MAX_CATEGORY_LEVELS} categories — recode "
                      "it into categories or remove the column")
    return text.astype("string"), None


def read_csv_as_text(path: str | os.PathLike, error: type[Exception] = CohortError) -> pd.DataFrame:
    """Read a CSV with every cell as text (empty, NA, NaN = missing), so that validation, not the parser,
    judges every value; an unreadable file raises `error(source, [message])`."""
    path = Path(path)
    if not path.exists():
        raise error(str(path), ["file not found"])
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=["", "NA", "NaN", "nan"],
                           skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise error(str(path), [f"not a readable CSV file ({exc})"]) from None


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a cohort CSV as text (see `read_csv_as_text`)."""
    return read_csv_as_text(path, error=CohortError)


def load(path: str | os.PathLike) -> pd.DataFrame:
    """Load and validate a user's cohort CSV (see `data/README.md` for the codebook)."""
    return validate(read_csv(path), source=str(path))


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


# --------------------------------------------------------------------------------------------------
# Simulation: a structural model calibrated to the published study
# --------------------------------------------------------------------------------------------------

DEFAULT_SEED = SETTINGS.seed


@dataclass(frozen=True)
class SimulationDesign:
    """Parameters of the structural model. Defaults are calibrated to Ren et al. (2025).

    Changes are 1-month minus baseline (negative = improvement). Effects are on the latent (unrounded)
    scale; the true effects on the observed, rounded and clipped scores are computed per patient.
    """

    n_dex: int = 106
    n_la: int = 184
    #: Screening exclusions shown in the flow diagram (306 screened − 290 analysed = 16).
    screening_exclusions: tuple[tuple[str, int], ...] = (
        ("GAD-7 < 5 and PHQ-9 < 5 at screening", 7),
        ("incomplete baseline questionnaires", 5),
        ("procedure not completed", 4),
    )
    #: Strength of confounding: multiplies every covariate coefficient of the assignment model.
    confounding: float = 1.0
    #: Effect of DEX on the change in NRS (the mediator), NRS points.
    effect_nrs: float = -0.713
    #: Direct (not through pain) effects of DEX on the change in GAD-7 / PHQ-9, score points.
    direct_gad7: float = -1.508
    direct_phq9: float = -1.769
    #: Mood change per point of pain change (the mediator path b).
    pain_to_gad7: float = 0.75
    pain_to_phq9: float = 0.85
    #: Treatment × mediator interaction on each outcome (0 = none).
    interaction_gad7: float = 0.0
    interaction_phq9: float = 0.0
    #: Intercepts of the changes in the LA group at the covariate reference values. These six numbers are
    #: calibrated by `tools/calibrate_simulation.py` so that, averaged over seeds, the 1:1 caliper-matched
    #: sample's group mean changes equal the published ones (which describe the matched sample).
    intercept_nrs: float = -2.557
    intercept_gad7: float = -2.285
    intercept_phq9: float = -3.799
    residual_sd_nrs: float = 1.45
    residual_sd_gad7: float = 2.35
    residual_sd_phq9: float = 2.75
    residual_corr_mood: float = 0.45
    #: Satisfaction (1–5): latent logistic model, DEX effect on the log-odds scale.
    satisfaction_dex: float = 0.9
    satisfaction_cutpoints: tuple[float, ...] = (-3.0, -1.7, -0.2, 1.4)
    #: Probability that a patient's whole 1-month visit is missing.
    missing_followup: float = 0.03

    @property
    def n(self) -> int:
        return self.n_dex + self.n_la

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Cohort:
    """A cohort ready for analysis, with its provenance.

    `data` is the analysis frame (`prepare_covariates` applied: every patient, covariates usable), `raw`
    the validated file as given (for descriptive tables), `preparation` what was done to covariates.
    Build one with `make_cohort`."""

    data: pd.DataFrame
    flow: pd.DataFrame
    source: str  # "simulated" or the user's file name
    simulated: bool
    truth: dict | None = None
    screening: list[tuple[str, int]] = field(default_factory=list)
    raw: pd.DataFrame | None = None
    preparation: pd.DataFrame | None = None

    def has(self, column: str) -> bool:
        """Is the column in the data with at least one value (e.g. the optional `satisfaction`)?"""
        return column in self.data.columns and bool(self.data[column].notna().any())

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The outcomes this cohort can answer: GAD-7, PHQ-9, NRS, and satisfaction if present."""
        return OUTCOMES + (("satisfaction",) if self.has("satisfaction") else ())

    @property
    def label(self) -> str:
        if self.simulated:
            return "SIMULATED data (synthetic cohort calibrated to Ren et al. 2025; not real patients)"
        return f"user-supplied cohort file {self.source}"


def _covariates(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Baseline covariates of patients eligible for the study (at least mild anxiety or depression)."""
    rows = []
    need = n
    while need > 0:
        m = max(2 * need, 64)
        severity = rng.normal(size=m)  # shared latent distress
        cov = pd.DataFrame({
            "age": np.clip(np.round(rng.normal(56, 12, m)), 18, 90),
            "sex": np.where(rng.random(m) < 0.62, "F", "M"),
            "bmi": np.round(np.clip(rng.normal(23.8, 3.3, m), 15, 45), 1),
            "pain_duration_months": np.clip(np.round(np.exp(rng.normal(np.log(18), 0.8, m))), 3, 360),
            "pain_diagnosis": rng.choice(["neuropathic", "spinal", "musculoskeletal"], m, p=[0.35, 0.40, 0.25]),
            "procedure": rng.choice(["nerve_block", "radiofrequency", "epidural_injection"], m, p=[0.4, 0.3, 0.3]),
            "nrs_baseline": np.clip(np.round(6.3 + 1.1 * (0.5 * severity + 0.87 * rng.normal(size=m))), 3, 10),
            "gad7_baseline": np.clip(np.round(9.5 + 3.6 * (0.7 * severity + 0.71 * rng.normal(size=m))), 0, 21),
            "phq9_baseline": np.clip(np.round(11.0 + 4.0 * (0.7 * severity + 0.71 * rng.normal(size=m))), 0, 27),
        })
        eligible = (cov["gad7_baseline"] >= MILD_CUTOFF) | (cov["phq9_baseline"] >= MILD_CUTOFF)
        rows.append(cov[eligible].head(need))
        need -= len(rows[-1])
    return pd.concat(rows, ignore_index=True)


def _centred(cov: pd.DataFrame) -> dict[str, np.ndarray]:
    """Covariates centred at fixed reference values (not sample means, so that n does not move them)."""
    return {
        "age": (cov["age"].to_numpy() - 56) / 10,
        "male": (cov["sex"].to_numpy() == "M").astype(float) - 0.38,
        "bmi": (cov["bmi"].to_numpy() - 23.8) / 3.3,
        "log_duration": np.log(cov["pain_duration_months"].to_numpy() / 18),
        "neuropathic": (cov["pain_diagnosis"].to_numpy() == "neuropathic").astype(float) - 0.35,
        "radiofrequency": (cov["procedure"].to_numpy() == "radiofrequency").astype(float) - 0.3,
        "nrs": cov["nrs_baseline"].to_numpy() - 6.3,
        "gad7": cov["gad7_baseline"].to_numpy() - 9.5,
        "phq9": cov["phq9_baseline"].to_numpy() - 11.0,
    }


#: Assignment model (log-odds of DEX per unit of centred covariate), before `confounding` scaling.
ASSIGNMENT_COEFS = {"age": -0.32, "male": -0.25, "bmi": 0.0, "log_duration": 0.25, "neuropathic": 0.32,
                    "radiofrequency": 0.72, "nrs": 0.22, "gad7": 0.07, "phq9": 0.04}
#: Covariate effects on the changes (pain, anxiety, depression): older and longer-standing pain improves
#: less; higher baseline improves more (regression to the mean and more room to improve).
OUTCOME_COEFS = {
    "nrs": {"age": 0.15, "log_duration": 0.25, "neuropathic": 0.30, "radiofrequency": -0.35, "nrs": -0.30},
    "gad7": {"age": 0.20, "log_duration": 0.20, "male": 0.20, "gad7": -0.22},
    "phq9": {"age": 0.25, "log_duration": 0.25, "male": 0.15, "phq9": -0.22},
}


def _linear(x: dict[str, np.ndarray], coefs: dict[str, float]) -> np.ndarray:
    return sum(coef * x[name] for name, coef in coefs.items())


def _to_score(baseline: np.ndarray, latent_change: np.ndarray, outcome: str) -> np.ndarray:
    lo, hi = SCORE_RANGES[outcome]
    return np.clip(np.round(baseline + latent_change), lo, hi)


@dataclass
class SimulatedWorld:
    """Every simulated patient's covariates, assignment and potential outcomes (observed score scale).

    `mood[outcome][(t, tm)]` is the 1-month score under treatment t with the pain change it would have
    under treatment tm (cross-world, for natural effects); `pain_change[t]` is the mediator M(t).
    """

    design: SimulationDesign
    seed: object
    covariates: pd.DataFrame
    dex: np.ndarray
    nrs_1m: dict[int, np.ndarray]
    pain_change: dict[int, np.ndarray]
    mood: dict[str, dict[tuple[int, int], np.ndarray]]
    satisfaction: dict[int, np.ndarray]
    missing_visit: np.ndarray

    def frame(self) -> pd.DataFrame:
        """The observed cohort in the contract's columns (missing visits as NaN), not validated."""
        n = len(self.dex)
        treated = self.dex == 1
        data = pd.DataFrame({"patient_id": [f"SIM{i + 1:04d}" for i in range(n)],
                             "group": np.where(treated, "DEX", "LA")})
        data = pd.concat([data, self.covariates], axis=1)
        observed = {"nrs_1m": np.where(treated, self.nrs_1m[1], self.nrs_1m[0])}
        for outcome in ("gad7", "phq9"):
            observed[f"{outcome}_1m"] = np.where(treated, self.mood[outcome][(1, 1)], self.mood[outcome][(0, 0)])
        observed["satisfaction"] = np.where(treated, self.satisfaction[1], self.satisfaction[0])
        for column, values in observed.items():
            data[column] = np.where(self.missing_visit, np.nan, values)
        return data[list(REQUIRED_COLUMNS) + list(OPTIONAL_COLUMNS)]

    def truth(self) -> dict:
        return _truth(self.design, self.seed, self.dex, self.covariates["nrs_baseline"].to_numpy(),
                      self.covariates, self.nrs_1m, self.mood, self.satisfaction)


def draw_world(design: SimulationDesign | None = None, seed=DEFAULT_SEED) -> SimulatedWorld:
    """Draw covariates, the confounded assignment and all potential outcomes (the structural model).

    Assignment is a latent-index model: the `n_dex` patients with the largest
    `confounding * x'β + logistic noise` receive DEX, so group sizes are exact while the probability of
    DEX rises with the covariates as in a logistic propensity model.
    """
    design = design or SimulationDesign()
    rng = np.random.default_rng(seed)
    n = design.n
    cov = _covariates(rng, n)
    x = _centred(cov)

    assignment_index = design.confounding * _linear(x, ASSIGNMENT_COEFS) + rng.logistic(size=n)
    dex = np.zeros(n, dtype=int)
    dex[np.argsort(-assignment_index, kind="stable")[: design.n_dex]] = 1

    # One set of individual residuals serves both worlds (cross-world potential outcomes).
    eps_nrs = rng.normal(0, design.residual_sd_nrs, n)
    covariance = design.residual_corr_mood * design.residual_sd_gad7 * design.residual_sd_phq9
    mood_eps = rng.multivariate_normal([0, 0], [[design.residual_sd_gad7**2, covariance],
                                                [covariance, design.residual_sd_phq9**2]], size=n)
    eps_sat = rng.logistic(size=n)
    missing_visit = rng.random(n) < design.missing_followup

    nrs_b = cov["nrs_baseline"].to_numpy()
    nrs_1m = {t: _to_score(nrs_b, design.intercept_nrs + design.effect_nrs * t
                           + _linear(x, OUTCOME_COEFS["nrs"]) + eps_nrs, "nrs") for t in (0, 1)}
    pain_change = {t: nrs_1m[t] - nrs_b for t in (0, 1)}  # mediator M(t), observed scale

    def mood_score(outcome: str, t: int, m: np.ndarray, eps: np.ndarray) -> np.ndarray:
        direct = getattr(design, f"direct_{outcome}")
        slope = getattr(design, f"pain_to_{outcome}") + getattr(design, f"interaction_{outcome}") * t
        # centre the mediator at the LA mean change so the intercept keeps its meaning
        latent = (getattr(design, f"intercept_{outcome}") + direct * t + slope * (m - design.intercept_nrs)
                  + _linear(x, OUTCOME_COEFS[outcome]) + eps)
        return _to_score(cov[f"{outcome}_baseline"].to_numpy(), latent, outcome)

    mood = {outcome: {(t, tm): mood_score(outcome, t, pain_change[tm], mood_eps[:, k])
                      for t in (0, 1) for tm in (0, 1)}
            for k, outcome in enumerate(("gad7", "phq9"))}

    def satisfaction(t: int) -> np.ndarray:
        latent = design.satisfaction_dex * t - 0.35 * pain_change[t] - 0.9 + eps_sat
        return (1 + np.searchsorted(np.asarray(design.satisfaction_cutpoints), latent)).astype(float)

    return SimulatedWorld(design=design, seed=seed, covariates=cov, dex=dex, nrs_1m=nrs_1m,
                          pain_change=pain_change, mood=mood, satisfaction={t: satisfaction(t) for t in (0, 1)},
                          missing_visit=missing_visit)


def simulate(design: SimulationDesign | None = None, seed: int = DEFAULT_SEED) -> Cohort:
    """Simulate the analysed cohort (validated against the contract) with its true effects."""
    world = draw_world(design, seed)
    data = validate(world.frame(), source="simulation")
    return make_cohort(data, "simulated", simulated=True, truth=world.truth(),
                       screening=list(world.design.screening_exclusions))


def make_cohort(validated: pd.DataFrame, source: str, *, simulated: bool = False, truth: dict | None = None,
                screening: list[tuple[str, int]] | None = None) -> Cohort:
    """A `Cohort` from a validated frame: covariates prepared, flow table with every row accounted for."""
    data, preparation = prepare_covariates(validated)
    return Cohort(data=data, flow=flow_table(validated, screening, preparation), source=source,
                  simulated=simulated, truth=truth, screening=list(screening or []), raw=validated,
                  preparation=preparation)


def load_cohort(path: str | os.PathLike) -> Cohort:
    """A user's cohort CSV, validated against the contract and prepared for analysis."""
    return make_cohort(load(path), Path(path).name)


def _effects(diff: np.ndarray, mask: np.ndarray) -> float:
    return float(np.mean(diff[mask]))


def _truth(design, seed, dex, nrs_b, cov, nrs_1m, potential, sat) -> dict:
    """True effects from both potential outcomes of every simulated patient (observed score scale)."""
    treated = dex == 1
    everyone = np.ones_like(treated)
    truth: dict = {"seed": seed, "design": design.to_dict(), "scale": "1-month change, observed score points",
                   "att": {}, "ate": {}, "mediation_treated": {}, "mediation_all": {}}
    pain_diff = nrs_1m[1] - nrs_1m[0]
    truth["att"]["nrs"] = _effects(pain_diff, treated)
    truth["ate"]["nrs"] = _effects(pain_diff, everyone)
    for outcome in ("gad7", "phq9"):
        y = potential[outcome]
        for key, mask in (("treated", treated), ("all", everyone)):
            total = _effects(y[(1, 1)] - y[(0, 0)], mask)
            # Imai–Keele–Tingley decomposition: ACME(1) + ADE(0) = total = ACME(0) + ADE(1).
            acme_treated = _effects(y[(1, 1)] - y[(1, 0)], mask)
            acme_control = _effects(y[(0, 1)] - y[(0, 0)], mask)
            ade_control = _effects(y[(1, 0)] - y[(0, 0)], mask)
            ade_treated = _effects(y[(1, 1)] - y[(0, 1)], mask)
            truth[f"mediation_{key}"][outcome] = {
                "total": total, "acme_treated": acme_treated, "acme_control": acme_control,
                "ade_treated": ade_treated, "ade_control": ade_control,
                "acme_average": (acme_treated + acme_control) / 2,
                "proportion_mediated": ((acme_treated + acme_control) / 2) / total if total else float("nan"),
            }
        truth["att"][outcome] = truth["mediation_treated"][outcome]["total"]
        truth["ate"][outcome] = truth["mediation_all"][outcome]["total"]
    truth["att"]["satisfaction"] = _effects(sat[1] - sat[0], treated)
    truth["ate"]["satisfaction"] = _effects(sat[1] - sat[0], everyone)
    return truth


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The contract's CSV encoding (fixed float format, so the same seed gives byte-identical files)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.10g", lineterminator="\n")
    return buffer.getvalue().encode()


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_csv_bytes(frame))
    return path


def truth_json(truth: dict) -> str:
    return json.dumps(truth, indent=2, sort_keys=True) + "\n"


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def get_cohort(seed: int = DEFAULT_SEED, design: SimulationDesign | None = None) -> Cohort:
    """The cohort every notebook analyses: the user's CSV if `DEXMOOD_COHORT` is set, else the simulation."""
    user_file = os.environ.get(paths.COHORT_ENV, "").strip()
    if user_file:
        return load_cohort(user_file)
    return simulate(design, seed=seed)


def with_design(**changes) -> SimulationDesign:
    """A copy of the default design with some parameters changed (for validation studies)."""
    return replace(SimulationDesign(), **changes)


def smd_table(frame: pd.DataFrame, covariates: list[str] | None = None) -> pd.DataFrame:
    """Table 1: per-group mean (SD) or n (%) and the standardized mean difference (pooled SD)."""
    covariates = covariates or baseline_covariates(frame)
    dex = frame["group"] == "DEX"
    rows = []
    for column in covariates:
        series = frame[column]
        if series.dtype.kind in "fiu":
            a, b = series[dex].astype(float), series[~dex].astype(float)
            pooled = np.sqrt((a.var() + b.var()) / 2)
            rows.append({"covariate": column, "level": "", "DEX": f"{a.mean():.1f} ({a.std():.1f})",
                         "LA": f"{b.mean():.1f} ({b.std():.1f})",
                         "SMD": (a.mean() - b.mean()) / pooled if pooled > 0 else 0.0})
        else:
            for level in sorted(series.dropna().unique()):
                a = (series[dex] == level).astype(float)
                b = (series[~dex] == level).astype(float)
                pooled = np.sqrt((a.mean() * (1 - a.mean()) + b.mean() * (1 - b.mean())) / 2)
                rows.append({"covariate": column, "level": str(level),
                             "DEX": f"{int(a.sum())} ({100 * a.mean():.0f}%)",
                             "LA": f"{int(b.sum())} ({100 * b.mean():.0f}%)",
                             "SMD": (a.mean() - b.mean()) / pooled if pooled > 0 else 0.0})
    return pd.DataFrame(rows)


def change_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Unadjusted 1-month change per group: n, mean, SD and a t-based 95% CI (complete cases)."""
    from scipy import stats

    changes = add_changes(frame)
    rows = []
    for outcome in OUTCOMES:
        for group in GROUPS:
            values = changes.loc[changes["group"] == group, f"{outcome}_change"].dropna()
            n = len(values)
            half = stats.t.ppf(0.975, n - 1) * values.std() / np.sqrt(n) if n > 1 else np.nan
            rows.append({"outcome": outcome, "group": group, "n": n, "mean": values.mean(),
                         "sd": values.std(), "ci_low": values.mean() - half, "ci_high": values.mean() + half})
    return pd.DataFrame(rows)


def published() -> dict:
    """Published figures (copied from the project's shared reference file; facts only, cited)."""
    return json.loads(paths.PUBLISHED_JSON.read_text())


def published_changes() -> pd.DataFrame:
    """The published 1-month changes per group (Ren et al. 2025) in the layout of `change_summary`."""
    block = published()["ren2025_cohort"]["change_from_baseline_1_month"]
    rows = []
    for outcome in OUTCOMES:
        for group, key in (("DEX", "dex"), ("LA", "la")):
            entry = block[outcome][key]
            ci = entry.get("ci95") or [np.nan, np.nan]
            rows.append({"outcome": outcome, "group": group, "mean": entry["mean"],
                         "ci_low": ci[0], "ci_high": ci[1]})
    return pd.DataFrame(rows)


def compare_with_published(frame: pd.DataFrame) -> pd.DataFrame:
    """Unadjusted per-group changes of this cohort next to the published ones."""
    ours = change_summary(frame)
    theirs = published_changes().rename(columns={"mean": "published_mean", "ci_low": "published_ci_low",
                                                 "ci_high": "published_ci_high"})
    table = ours.merge(theirs, on=["outcome", "group"])
    table["difference"] = table["mean"] - table["published_mean"]
    return table


def write_truth(truth: dict, path: str | os.PathLike = paths.COHORT_TRUTH) -> Path:
    path = Path(path)
    path.write_text(truth_json(truth))
    return path


def plot_distributions(frame: pd.DataFrame):
    """Baseline and 1-month score distributions by group (one panel per instrument)."""
    import matplotlib.pyplot as plt

    from dexmood import plots

    long = []
    for outcome in OUTCOMES:
        for visit, suffix in (("baseline", "_baseline"), ("1 month", "_1m")):
            part = frame[["group", f"{outcome}{suffix}"]].rename(columns={f"{outcome}{suffix}": "score"})
            part = part.assign(instrument=outcome.upper(), visit=visit)
            long.append(part)
    long = pd.concat(long, ignore_index=True).dropna(subset=["score"])
    fig, axes = plt.subplots(1, 3, figsize=(7.2, 3.4), constrained_layout=True)
    import seaborn as sns

    for ax, outcome in zip(axes, OUTCOMES, strict=True):
        lo, hi = SCORE_RANGES[outcome]
        part = long[long["instrument"] == outcome.upper()]
        sns.boxplot(data=part, x="visit", y="score", hue="group", hue_order=plots.GROUP_ORDER,
                    palette=plots.GROUP_COLORS, ax=ax, fliersize=2, linewidth=0.8)
        ax.set_title(outcome.upper().replace("GAD7", "GAD-7").replace("PHQ9", "PHQ-9"))
        ax.set_ylim(lo - 0.5, hi + 0.5)
        ax.set_xlabel("")
        ax.set_ylabel("score (points)")
        if ax is not axes[0]:
            ax.get_legend().remove()
    axes[0].legend(title="group", loc="lower left", fontsize=8)
    return fig


def plot_changes_vs_published(comparison: pd.DataFrame):
    """Per-group mean change (95% CI) in this cohort next to the published means."""
    import matplotlib.pyplot as plt

    from dexmood import plots

    fig, ax = plt.subplots(figsize=(7.0, 3.4), constrained_layout=True)
    labels = []
    for i, row in comparison.reset_index(drop=True).iterrows():
        y = -i
        colour = plots.GROUP_COLORS[row["group"]]
        ax.errorbar(row["mean"], y + 0.12, xerr=[[row["mean"] - row["ci_low"]], [row["ci_high"] - row["mean"]]],
                    fmt="o", color=colour, capsize=3, label="this cohort" if i == 0 else None)
        has_ci = np.isfinite(row["published_ci_low"])
        xerr = ([[row["published_mean"] - row["published_ci_low"]], [row["published_ci_high"] - row["published_mean"]]]
                if has_ci else None)
        ax.errorbar(row["published_mean"], y - 0.12, xerr=xerr, fmt="D", color=plots.PUBLISHED_COLOR,
                    mfc="white", capsize=3, label="published (Ren et al. 2025)" if i == 0 else None)
        labels.append(f"{row['outcome'].upper()} – {row['group']}")
    ax.set_yticks([-i for i in range(len(labels))], labels)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("mean change from baseline at 1 month (points; negative = improvement)")
    ax.legend(loc="lower right", fontsize=8)
    return fig
