"""Loading and validation of the hand-written files in `data/case_report/`.

The pandera schemas are the contract; `data/case_report/README.md` is the codebook.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from dexmood import paths
from dexmood.case_report.timeline import (
    DAY_ZERO,
    DEX_DAY,
    FIRST_DAY,
    HORIZON_DAY,
    PHASES,
    ROLES,
    ROUTES,
    SEGMENTS,
    SIDE_EFFECT_SCALE,
    SOURCE_PATTERN,
    TIMINGS,
)
from dexmood.errors import CaseReportError


def _nonneg(nullable: bool = True) -> pa.Column:
    return pa.Column(float, pa.Check.ge(0), nullable=nullable, coerce=True)


def _text(*checks, nullable: bool = False) -> pa.Column:
    return pa.Column(str, list(checks), nullable=nullable, coerce=False)


def _date_matches_day(column_date: str, column_day: str):
    """Frame check: the integer part of the day number is the calendar day of the date (day 0 = 1 Dec 2019)."""
    def check(frame: pd.DataFrame) -> pd.Series:
        dates = pd.to_datetime(frame[column_date], errors="coerce")
        days = (dates - DAY_ZERO).dt.days
        return frame[column_day].isna() | (np.floor(frame[column_day]) == days)
    return pa.Check(check, name=f"{column_day} matches {column_date}")


def _ends_after_start(frame: pd.DataFrame) -> pd.Series:
    return frame["day_end"].isna() | (frame["day_end"] > frame["day_start"])


def _span_checks() -> list[pa.Check]:
    """Every dated row: dates agree with their day numbers and the span does not end before it starts."""
    return [_date_matches_day("date_start", "day_start"), _date_matches_day("date_end", "day_end"),
            pa.Check(_ends_after_start, name="day_end after day_start")]


REGIMEN_SCHEMA = pa.DataFrameSchema(
    {
        "step_id": pa.Column(int, pa.Check.ge(1), unique=True, coerce=True),
        "drug": _text(pa.Check.str_matches(r"^[a-z_]+$")),
        "product": _text(),
        "drug_as_printed": _text(),
        "route": _text(pa.Check.isin(ROUTES)),
        "role": _text(pa.Check.isin(ROLES)),
        "mixture": pa.Column(str, pa.Check.isin(["A", "B", "C", "D", "E", "F", "PCIA"]), nullable=True),
        "date_start": _text(pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$")),
        "date_end": pa.Column(str, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$"), nullable=True),
        "day_start": pa.Column(float, pa.Check.in_range(FIRST_DAY, HORIZON_DAY), coerce=True),
        "day_end": pa.Column(float, pa.Check.in_range(FIRST_DAY, HORIZON_DAY), nullable=True, coerce=True),
        "timing_start": _text(pa.Check.isin(TIMINGS)),
        "timing_end": _text(pa.Check.isin(TIMINGS)),
        "unit": _text(pa.Check.isin(["mg", "ug"])),
        "dose": _nonneg(), "dose_end": _nonneg(), "interval_h": pa.Column(float, pa.Check.gt(0), nullable=True,
                                                                       coerce=True),
        "amount_in_reservoir": _nonneg(), "reservoir_ml": pa.Column(float, pa.Check.gt(0), nullable=True,
                                                                   coerce=True),
        "rate_ml_per_h": _nonneg(), "rate_per_h_stated": _nonneg(),
        "daily_dose": _nonneg(), "daily_dose_end": _nonneg(),
        "bolus": pa.Column(str, nullable=True),
        "source": _text(pa.Check.str_matches(SOURCE_PATTERN)),
        "note": pa.Column(str, nullable=True),
    },
    checks=[
        *_span_checks(),
        pa.Check(lambda f: f["day_end"].notna() | (f["timing_end"] == "not_reported"),
                 name="empty day_end only when timing_end is not_reported"),
        pa.Check(lambda f: (f["role"] != "opioid") | f["day_end"].notna(), name="opioid rows have an end"),
        pa.Check(lambda f: (f["role"] != "opioid") | f["daily_dose"].notna(), name="opioid rows have a daily dose"),
    ],
    strict=True, ordered=True,
)

PAIN_SCHEMA = pa.DataFrameSchema(
    {
        "reading_id": pa.Column(int, pa.Check.ge(1), unique=True, coerce=True),
        "date_start": _text(pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$")),
        "date_end": _text(pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$")),
        "day_start": pa.Column(float, pa.Check.in_range(FIRST_DAY, HORIZON_DAY), coerce=True),
        "day_end": pa.Column(float, pa.Check.in_range(FIRST_DAY, HORIZON_DAY), coerce=True),
        "nrs_low": pa.Column(int, pa.Check.in_range(0, 10), coerce=True),
        "nrs_high": pa.Column(int, pa.Check.in_range(0, 10), coerce=True),
        "segment": _text(pa.Check.isin(SEGMENTS)),
        "phase": _text(pa.Check.isin(tuple(PHASES))),
        "dex": pa.Column(int, pa.Check.isin([0, 1]), coerce=True),
        "source": _text(pa.Check.str_matches(SOURCE_PATTERN)),
        "note": pa.Column(str, nullable=True),
    },
    checks=[
        *_span_checks(),
        pa.Check(lambda f: f["nrs_high"] >= f["nrs_low"], name="nrs_high >= nrs_low"),
        pa.Check(lambda f: (f["dex"] == 1) == (f["segment"] == "intrathecal_dex"),
                 name="dex = 1 exactly in the intrathecal_dex segment"),
        pa.Check(lambda f: (f["dex"] == 0) | (f["day_start"] >= DEX_DAY), name="dex readings start on the DEX day"),
        pa.Check(lambda f: f["segment"].is_unique, name="one reading per segment"),
    ],
    strict=True, ordered=True,
)

SIDE_EFFECT_SCHEMA = pa.DataFrameSchema(
    {
        "symptom": _text(pa.Check.str_matches(r"^[a-z_]+$")),
        "before": pa.Column(int, pa.Check.isin(list(SIDE_EFFECT_SCALE)), coerce=True),
        "after": pa.Column(int, pa.Check.isin(list(SIDE_EFFECT_SCALE)), coerce=True),
        "source": _text(pa.Check.eq("Table 1")),
    },
    checks=[pa.Check(lambda f: f["symptom"].is_unique, name="one row per symptom")],
    strict=True, ordered=True,
)

AMBIGUITY_SCHEMA = pa.DataFrameSchema(
    {
        "id": _text(pa.Check.str_matches(r"^A\d+$")),
        "topic": _text(), "where": _text(pa.Check.str_matches(SOURCE_PATTERN)),
        "reading_chosen": _text(), "alternative": _text(), "reason": _text(), "effect": _text(),
    },
    checks=[pa.Check(lambda f: f["id"].is_unique, name="unique ids")],
    strict=True, ordered=True,
)

INSTRUMENT_SCHEMA = pa.DataFrameSchema(
    {
        "instrument": _text(pa.Check.isin(["HAMD-6", "EORTC QLQ-C30"])),
        "item": _text(pa.Check.str_matches(r"^[a-z_]+$")),
        "kind": _text(pa.Check.isin(["item", "symptom_scale", "single_item"])),
        "timepoint": _text(pa.Check.isin(["pre_dex", "dex_1week", "dex_1month"])),
        "score": pa.Column(float, nullable=True, coerce=True),
        "score_min": pa.Column(float, coerce=True),
        "score_max": pa.Column(float, coerce=True),
        "source_figure": _text(pa.Check.isin(["Fig. 2", "Fig. 3"])),
    },
    checks=[
        pa.Check(lambda f: f["score"].isna() | ((f["score"] >= f["score_min"]) & (f["score"] <= f["score_max"])),
                 name="score within score_min-score_max"),
        pa.Check(lambda f: ~f.duplicated(["instrument", "item", "timepoint"]),
                 name="one row per instrument, item and time point"),
    ],
    strict=True, ordered=True,
)

_FILES = {"regimens": (REGIMEN_SCHEMA, "regimens.csv"), "pain": (PAIN_SCHEMA, "pain.csv"),
          "side_effects": (SIDE_EFFECT_SCHEMA, "side_effects.csv"),
          "ambiguities": (AMBIGUITY_SCHEMA, "ambiguities.csv")}


def validate_table(frame: pd.DataFrame, schema: pa.DataFrameSchema, source: str) -> pd.DataFrame:
    """Validate one table; raise `CaseReportError` listing each failing column/check with its CSV lines."""
    try:
        return schema.validate(frame.reset_index(drop=True), lazy=True)
    except pa.errors.SchemaErrors as err:
        lines = []
        cases = err.failure_cases.copy()
        cases["column"] = cases["column"].fillna("<table>").astype(str)
        for (column, check), block in cases.groupby(["column", "check"], sort=False):
            rows = sorted({int(i) + 2 for i in block["index"].dropna()})  # CSV line (header = line 1)
            where = f" on line{'s' * (len(rows) != 1)} {', '.join(map(str, rows))}" if rows else ""
            lines.append(f"  - {source}: column '{column}' fails '{check}'{where}")
        raise CaseReportError("\n".join([f"{source} does not meet its schema:", *lines])) from None


def _read(name: str, path: str | Path | None) -> pd.DataFrame:
    schema, filename = _FILES[name]
    path = Path(path) if path is not None else paths.CASE_REPORT / filename
    if not path.exists():
        raise CaseReportError(f"{path}: file not found")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    return validate_table(frame, schema, path.name)


def load_regimens(path: str | Path | None = None) -> pd.DataFrame:
    """`regimens.csv`: every drug / pump-mixture change (validated)."""
    return _read("regimens", path)


def load_pain(path: str | Path | None = None) -> pd.DataFrame:
    """`pain.csv`: the NRS readings as reported ranges (validated)."""
    return _read("pain", path)


def load_side_effects(path: str | Path | None = None) -> pd.DataFrame:
    """`side_effects.csv`: Table 1 of the report (validated)."""
    return _read("side_effects", path)


def load_ambiguities(path: str | Path | None = None) -> pd.DataFrame:
    """`ambiguities.csv`: each ambiguous passage and the reading used (validated)."""
    return _read("ambiguities", path)


def load_instrument_scores(path: str | Path | None = None) -> pd.DataFrame:
    """HAMD-6 / QLQ-C30 values a reader typed from Figs. 2–3 (`instruments.csv`), only rows with a score.

    Falls back to the shipped, empty `instruments_template.csv`, i.e. returns an empty table: the text has
    no instrument values and we do not invent them.
    """
    if path is None:
        filled = paths.CASE_REPORT / "instruments.csv"
        path = filled if filled.exists() else paths.CASE_REPORT / "instruments_template.csv"
    path = Path(path)
    if not path.exists():
        raise CaseReportError(f"{path}: file not found")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    table = validate_table(frame, INSTRUMENT_SCHEMA, path.name)
    return table[table["score"].notna()].reset_index(drop=True)
