"""The cohort data contract: one pandera schema, validation with one readable message, CSV reading."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from dexmood.errors import CohortError

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
