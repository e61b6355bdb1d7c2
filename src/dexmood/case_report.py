"""Stage 6 – the intrathecal DEX case report (Huang et al. 2020) as an analysed time series.

One patient, five NRS readings given as ranges, 29 hand-written regimen rows (`data/case_report/`). This
module loads and validates those files, redoes the dose arithmetic of the text (concentration × rate →
daily dose), converts opioids to oral morphine equivalents (MME) with guideline ratios propagated as ranges
(Monte Carlo), fits an interrupted-time-series model on the interval-censored NRS readings in PyMC, tests the
side-effect table with an exact signed-rank test, and turns the numbers into a verdict on the report's
claims. Day 0 = 1 December 2019 (the paper's Fig. 1).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from dexmood import cache, diagnostics, paths
from dexmood.errors import CaseReportError
from dexmood.verdict import Grade, Verdict

# --------------------------------------------------------------------------------------------------
# Time line constants
# --------------------------------------------------------------------------------------------------

DAY_ZERO = pd.Timestamp("2019-12-01")
FIRST_DAY = -365.0  # December 2018, first pain-clinic visit
HORIZON_DAY = 182.0  # end of May 2020, the time of writing
DEX_DAY = 15.0  # 16 December 2019, the fourth day of intrathecal therapy (ambiguity A8)
#: The three phases of the paper's Fig. 1 as [start, end) in days.
PHASES = {"oral": (FIRST_DAY, 10.0), "oral_iv": (10.0, 12.0), "oral_intrathecal": (12.0, HORIZON_DAY)}
PHASE_LABELS = {"oral": "oral", "oral_iv": "oral + IV", "oral_intrathecal": "oral + intrathecal"}
#: NRS segments: one level each, in time order; the last one is the intrathecal level plus the DEX change.
SEGMENTS = ("oral_early", "oral_escalating", "oral_iv", "intrathecal", "intrathecal_dex")
LEVEL_SEGMENTS = SEGMENTS[:4]
SEGMENT_LABELS = {"oral_early": "oral, first regimen", "oral_escalating": "oral, escalating",
                  "oral_iv": "oral + IV PCIA", "intrathecal": "intrathecal, before DEX",
                  "intrathecal_dex": "intrathecal + DEX"}
#: Route colours (Okabe–Ito; `dexmood.plots.OKABE_ITO`): DEX gets the DEX group colour of the book.
ROUTE_COLORS = {"oral": "#E69F00", "iv": "#009E73", "intrathecal": "#56B4E9", "dex": "#0072B2",
                "oncology": "#999999"}
DEX_LINE_COLOR = "#D55E00"

ROUTES = ("oral", "iv", "intrathecal")
ROLES = ("opioid", "adjuvant", "antidepressant", "oncology", "local_anaesthetic", "steroid", "alpha2_agonist")
TIMINGS = ("stated", "relative", "month", "approximate", "inferred", "attested", "not_reported")
SOURCE_PATTERN = r"^(Abstract|Introduction|Case Report|Discussion|Conclusion|Table 1|Fig\. [123])"
SIDE_EFFECT_SCALE = {1: "never", 2: "seldom", 3: "sometimes", 4: "usually", 5: "always"}


# --------------------------------------------------------------------------------------------------
# Loading and validation (pandera schemas are the contract; data/case_report/README.md the codebook)
# --------------------------------------------------------------------------------------------------

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


def day_to_date(day: float) -> pd.Timestamp:
    """Calendar date of a day number (day 0 = 1 December 2019)."""
    return DAY_ZERO + pd.Timedelta(days=math.floor(day))


# --------------------------------------------------------------------------------------------------
# Dose arithmetic
# --------------------------------------------------------------------------------------------------

def concentration(amount: float, volume_ml: float) -> float:
    """Amount per ml of a pump mixture (e.g. 20 mg in 100 ml → 0.2 mg/ml)."""
    if volume_ml <= 0:
        raise ValueError("volume_ml must be positive")
    return amount / volume_ml


def hourly_dose(amount: float, volume_ml: float, rate_ml_per_h: float) -> float:
    """Dose per hour delivered by a pump: concentration × rate (70 mg/100 ml at 0.5 ml/h → 0.35 mg/h)."""
    return concentration(amount, volume_ml) * rate_ml_per_h


def daily_from_hourly(per_hour: float) -> float:
    """Continuous infusion: 24 × the hourly dose."""
    return 24.0 * per_hour


def daily_from_interval(dose: float, interval_h: float) -> float:
    """Scheduled doses: dose × (24 / interval) (10 mg every 12 h → 20 mg/day)."""
    if interval_h <= 0:
        raise ValueError("interval_h must be positive")
    return dose * 24.0 / interval_h


def recompute_daily_doses(regimens: pd.DataFrame) -> pd.DataFrame:
    """Recompute each row's daily dose (and end dose of an escalation) from its components.

    Pump rows: content / volume × rate × 24; infusions stated per hour: 24 × rate; scheduled oral doses:
    dose × 24 / interval. Rows without enough information (e.g. nivolumab, schedule not given) get NaN.
    Also returns the hourly dose implied by the pump arithmetic, for rows where the text states one.
    """
    records = []
    for row in regimens.itertuples(index=False):
        hourly = np.nan
        daily_end = np.nan
        if pd.notna(row.amount_in_reservoir) and pd.notna(row.reservoir_ml) and pd.notna(row.rate_ml_per_h):
            hourly = hourly_dose(row.amount_in_reservoir, row.reservoir_ml, row.rate_ml_per_h)
            daily = daily_from_hourly(hourly)
            rule = "content / volume × rate × 24"
        elif pd.notna(row.rate_per_h_stated):
            daily = daily_from_hourly(row.rate_per_h_stated)
            rule = "hourly rate × 24"
        elif pd.notna(row.dose) and pd.notna(row.interval_h):
            daily = daily_from_interval(row.dose, row.interval_h)
            if pd.notna(row.dose_end):
                daily_end = daily_from_interval(row.dose_end, row.interval_h)
            rule = "dose × 24 / interval"
        else:
            daily, rule = np.nan, "not computable"
        records.append({"step_id": row.step_id, "drug": row.drug, "route": row.route, "unit": row.unit,
                        "rule": rule, "hourly_computed": hourly, "hourly_stated": row.rate_per_h_stated,
                        "daily_entered": row.daily_dose, "daily_computed": daily,
                        "daily_end_entered": row.daily_dose_end, "daily_end_computed": daily_end})
    return pd.DataFrame.from_records(records)


def check_dose_arithmetic(regimens: pd.DataFrame, rtol: float = 1e-9) -> pd.DataFrame:
    """Raise `CaseReportError` if a hand-entered daily dose or a stated hourly dose disagrees with arithmetic."""
    table = recompute_daily_doses(regimens)
    problems = []
    for entered, computed, label in (("daily_entered", "daily_computed", "daily dose"),
                                     ("daily_end_entered", "daily_end_computed", "end daily dose"),
                                     ("hourly_stated", "hourly_computed", "stated hourly dose")):
        both = table[entered].notna() & table[computed].notna()
        bad = both & ~np.isclose(table[entered], table[computed], rtol=rtol, atol=0)
        missing = table[entered].isna() ^ table[computed].isna()
        if label == "stated hourly dose":
            missing[:] = False  # only pump rows that state an hourly dose are compared
        for i in np.flatnonzero(bad | missing):
            r = table.iloc[i]
            problems.append(f"  - step {r.step_id} ({r.drug}): {label} entered {r[entered]:.6g} "
                            f"but arithmetic ({r.rule}) gives {r[computed]:.6g}")
    if problems:
        raise CaseReportError("\n".join(["regimens.csv dose arithmetic does not add up:", *problems]))
    return table


def pump_steps(regimens: pd.DataFrame) -> pd.DataFrame:
    """One row per intrathecal pump mixture: morphine content, rate, mg/h and mg/day, DEX µg/day."""
    it = regimens[regimens["route"] == "intrathecal"]
    rows = []
    for mixture, block in it.groupby("mixture", sort=True):
        morphine = block[block["drug"] == "morphine"].iloc[0]
        dex = block[block["drug"] == "dexmedetomidine"]
        rows.append({
            "mixture": mixture, "day_start": morphine.day_start, "day_end": morphine.day_end,
            "date_start": morphine.date_start,
            "morphine_mg_per_100ml": morphine.amount_in_reservoir, "rate_ml_per_h": morphine.rate_ml_per_h,
            "morphine_mg_per_h": hourly_dose(morphine.amount_in_reservoir, morphine.reservoir_ml,
                                             morphine.rate_ml_per_h),
            "morphine_mg_per_day": morphine.daily_dose,
            "dex_ug_per_day": float(dex["daily_dose"].iloc[0]) if len(dex) else 0.0,
            "dex_ug_per_100ml": float(dex["amount_in_reservoir"].iloc[0]) if len(dex) else 0.0,
            "source": morphine.source,
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Oral morphine equivalents with conversion ranges
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Conversion:
    """Multiply a daily dose of `drug` by `route` by a factor in [low, high] to get oral morphine mg/day."""

    drug: str
    route: str
    low: float
    high: float
    sources: str
    basis: str

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Log-uniform draws: ratios are multiplicative and the sources give a range, not a preferred value."""
        if self.low == self.high:
            return np.full(size, self.low)
        return np.exp(rng.uniform(math.log(self.low), math.log(self.high), size))

    @property
    def geometric_mid(self) -> float:
        return math.sqrt(self.low * self.high)


CONVERSIONS: dict[tuple[str, str], Conversion] = {
    ("oxycodone", "oral"): Conversion(
        "oxycodone", "oral", 1.5, 2.0, "dowell2022cdc; nougg2010canadian",
        "1.5 in both guidelines (CDC 2022; Canadian 2010); the upper end 2 is our assumption, not a guideline "
        "value, to allow for the spread of ratios used in practice"),
    ("hydrocodone", "oral"): Conversion(
        "hydrocodone", "oral", 1.0, 1.0, "dowell2022cdc", "CDC 2022 factor 1 (alternative reading A1 only)"),
    ("hydromorphone", "iv"): Conversion(
        "hydromorphone", "iv", 10.0, 20.0, "reddy2022conversion",
        "IV hydromorphone to oral morphine ratios used in palliative care, 10–20"),
    ("morphine", "intrathecal"): Conversion(
        "morphine", "intrathecal", 100.0, 300.0, "sylvester2004intrathecal",
        "oral:intrathecal 100:1–300:1 (300:1 is the classical rule; observed ratios can be far lower)"),
}


def conversion_table(conversions: dict[tuple[str, str], Conversion] = CONVERSIONS) -> pd.DataFrame:
    """The conversion ranges used, with their sources (bib keys)."""
    return pd.DataFrame([{"drug": c.drug, "route": c.route, "factor_low": c.low, "factor_high": c.high,
                          "basis": c.basis, "sources": c.sources} for c in conversions.values()])


def time_grid(step: float = 0.5, first: float = FIRST_DAY, last: float = HORIZON_DAY) -> np.ndarray:
    """Mid-points of [first, last) cut into `step`-day cells (the MME is evaluated at cell mid-points)."""
    n = int(round((last - first) / step))
    return first + step * (np.arange(n) + 0.5)


def _opioid_rows(regimens: pd.DataFrame) -> pd.DataFrame:
    return regimens[regimens["role"] == "opioid"].sort_values(["drug", "route", "day_start"]).reset_index(drop=True)


def attested_gaps(regimens: pd.DataFrame) -> list[tuple[int, int, float, float]]:
    """Gaps between two attested windows of the same opioid and route: (row i, row j, gap start, gap end).

    The earlier regimen continues until an unknown switch day inside the gap, the later one starts then
    (A10: 70 mg after the DEX week, 90 mg in May 2020).
    """
    rows = _opioid_rows(regimens)
    gaps = []
    for (_drug, _route), block in rows.groupby(["drug", "route"], sort=False):
        idx = list(block.index)
        for i, j in zip(idx[:-1], idx[1:], strict=True):
            a, b = rows.loc[i], rows.loc[j]
            if a.day_end < b.day_start and a.timing_end == "attested" and b.timing_start == "attested":
                gaps.append((i, j, float(a.day_end), float(b.day_start)))
    return gaps


def opioid_daily_doses(regimens: pd.DataFrame, grid: np.ndarray, switch_days: dict[int, float] | None = None,
                       interpretation: str = "oxycodone") -> pd.DataFrame:
    """Daily dose of each opioid row on the grid (rows = grid points, columns = step_id).

    Escalations are interpolated linearly between `daily_dose` and `daily_dose_end` (A3). `switch_days` maps
    the earlier row of an attested gap (index in the sorted opioid table) to its switch day; without it, the
    gap is split in the middle. `interpretation="hydrocodone"` reads the oral opioid of rows printed as
    hydrocodone as hydrocodone (ambiguity A1).
    """
    rows = _opioid_rows(regimens).copy()
    for i, j, start, end in attested_gaps(regimens):
        switch = (switch_days or {}).get(i, (start + end) / 2)
        if not start <= switch <= end:
            raise ValueError(f"switch day {switch} outside the gap {start}–{end}")
        rows.loc[i, "day_end"] = switch
        rows.loc[j, "day_start"] = switch
    if interpretation == "hydrocodone":
        printed = rows["drug_as_printed"].str.contains("hydrocodone")
        rows.loc[printed, "drug"] = "hydrocodone"
    elif interpretation != "oxycodone":
        raise ValueError("interpretation must be 'oxycodone' or 'hydrocodone'")
    out = {}
    for row in rows.itertuples(index=False):
        inside = (grid >= row.day_start) & (grid < row.day_end)
        if pd.notna(row.daily_dose_end):
            fraction = (grid - row.day_start) / (row.day_end - row.day_start)
            dose = row.daily_dose + fraction * (row.daily_dose_end - row.daily_dose)
        else:
            dose = np.full(grid.shape, row.daily_dose)
        out[(row.step_id, row.drug, row.route)] = np.where(inside, dose, 0.0)
    frame = pd.DataFrame(out, index=pd.Index(grid, name="day"))
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["step_id", "drug", "route"])
    return frame


def mme_point(regimens: pd.DataFrame, grid: np.ndarray, factor: str = "low",
              interpretation: str = "oxycodone",
              conversions: dict[tuple[str, str], Conversion] = CONVERSIONS) -> pd.Series:
    """Deterministic MME/day with every conversion at its `low`, `high` or geometric `mid` value."""
    doses = opioid_daily_doses(regimens, grid, interpretation=interpretation)
    total = np.zeros(len(grid))
    for (_, drug, route), values in doses.items():
        c = conversions[(drug, route)]
        value = {"low": c.low, "high": c.high, "mid": c.geometric_mid}[factor]
        total += value * values.to_numpy()
    return pd.Series(total, index=doses.index, name=f"mme_{factor}")


@dataclass
class MmeSimulation:
    """Monte-Carlo MME paths: `draws[d, t]` mg/day of oral morphine for draw d at grid point t."""

    grid: np.ndarray
    draws: np.ndarray
    factors: pd.DataFrame  # one column per conversion, one row per draw
    switch_days: np.ndarray  # sampled day of the 70 → 90 mg change (A10), NaN if no gap

    def band(self, probs: tuple[float, ...] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
        q = np.quantile(self.draws, probs, axis=0)
        return pd.DataFrame({f"q{round(p * 100):02d}": q[k] for k, p in enumerate(probs)},
                            index=pd.Index(self.grid, name="day"))

    def window_mean(self, start: float, end: float) -> np.ndarray:
        """Per-draw mean MME/day over grid points in [start, end)."""
        inside = (self.grid >= start) & (self.grid < end)
        if not inside.any():
            raise ValueError(f"no grid point in [{start}, {end})")
        return self.draws[:, inside].mean(axis=1)


def simulate_mme(regimens: pd.DataFrame, n_draws: int = 4000, seed: int = 0, step: float = 0.5,
                 conversions: dict[tuple[str, str], Conversion] = CONVERSIONS,
                 interpretation: str = "oxycodone") -> MmeSimulation:
    """MME/day over the whole course with conversion factors (and the unknown switch day) drawn per path.

    Each draw samples one factor per drug × route (log-uniform on its range; the same factor for the whole
    course of one patient) and the unknown date of the 70 → 90 mg pump change (uniform over the gap).
    Boluses are excluded (A6): MME in the PCIA days and in May 2020 are lower bounds.
    """
    rng = np.random.default_rng(seed)
    grid = time_grid(step)
    base = opioid_daily_doses(regimens, grid, interpretation=interpretation)
    keys = sorted({(drug, route) for (_, drug, route) in base.columns})
    factors = pd.DataFrame({f"{d}_{r}": conversions[(d, r)].sample(rng, n_draws) for d, r in keys})
    gaps = attested_gaps(regimens)
    if len(gaps) > 1:
        raise NotImplementedError("only one attested gap is supported")
    switch = rng.uniform(gaps[0][2], gaps[0][3], n_draws) if gaps else np.full(n_draws, np.nan)
    # Columns that do not depend on the switch day are summed once per conversion key.
    gap_steps = set()
    if gaps:
        rows = _opioid_rows(regimens)
        gap_steps = {rows.loc[gaps[0][0], "step_id"], rows.loc[gaps[0][1], "step_id"]}
    draws = np.zeros((n_draws, len(grid)))
    for d, r in keys:
        cols = [c for c in base.columns if c[1] == d and c[2] == r and c[0] not in gap_steps]
        if cols:
            draws += np.outer(factors[f"{d}_{r}"].to_numpy(), base[cols].to_numpy().sum(axis=1))
    if gaps:
        i, j, start, end = gaps[0]
        rows = _opioid_rows(regimens)
        a, b = rows.loc[i], rows.loc[j]
        factor = factors[f"{a.drug}_{a.route}"].to_numpy()[:, None]
        t = grid[None, :]
        s = switch[:, None]
        dose = np.where((t >= a.day_start) & (t < s), a.daily_dose, 0.0) + \
            np.where((t >= s) & (t < b.day_end), b.daily_dose, 0.0)
        draws += factor * dose
    return MmeSimulation(grid=grid, draws=draws, factors=factors, switch_days=switch)


def mme_by_segment(mme: MmeSimulation, pain: pd.DataFrame, extra: dict[str, tuple[float, float]] | None = None,
                   probs: tuple[float, float] = (0.05, 0.95)) -> pd.DataFrame:
    """Mean MME/day over each NRS segment's span (and optional extra windows): median and band over draws."""
    windows = {SEGMENT_LABELS[r.segment]: (r.day_start, r.day_end) for r in pain.itertuples(index=False)}
    windows |= extra or {}
    rows = []
    for name, (start, end) in windows.items():
        means = mme.window_mean(start, end)
        lo, hi = np.quantile(means, probs)
        rows.append({"window": name, "days": f"{start:g} to {end:g}", "median": float(np.median(means)),
                     f"q{round(probs[0] * 100):02d}": float(lo), f"q{round(probs[1] * 100):02d}": float(hi)})
    return pd.DataFrame(rows)


def alternative_reading(regimens: pd.DataFrame, conversions: dict[tuple[str, str], Conversion] = CONVERSIONS,
                        day: float = -300.0) -> pd.DataFrame:
    """MME/day on one day of the first oral regimen under both readings of the drug name (ambiguity A1)."""
    grid = np.array([day])
    rows = []
    for reading in ("oxycodone", "hydrocodone"):
        low = mme_point(regimens, grid, "low", reading, conversions).iloc[0]
        high = mme_point(regimens, grid, "high", reading, conversions).iloc[0]
        rows.append({"reading": reading, "day": day, "mme_low": low, "mme_high": high})
    return pd.DataFrame(rows)


def breakeven_intrathecal_ratio(reference_mme: np.ndarray, intrathecal_mg_per_day: float) -> np.ndarray:
    """Oral:intrathecal ratio at which an intrathecal morphine dose equals a reference MME/day."""
    return np.asarray(reference_mme) / intrathecal_mg_per_day


#: Oral:intrathecal morphine ratios in the literature the book cites (sylvester2004intrathecal, Abstract):
#: 12:1 observed in one converted patient, 90:1 in a dose-conversion program, 300:1 the classical rule.
#: Any ratio in this span is plausible for this patient; the MME draws use the narrower 100–300 of guidelines.
PLAUSIBLE_INTRATHECAL_RATIO = (12.0, 300.0)


def opioid_load_verdict(breakeven: np.ndarray, plausible: tuple[float, float] = PLAUSIBLE_INTRATHECAL_RATIO,
                        prob: float = 0.9) -> Verdict:
    """Did the opioid load fall after the switch to intrathecal morphine + DEX? Graded by where the break-even
    oral:intrathecal ratio (load after = load before) lies relative to the plausible ratios.

    The DEX week's load is intrathecal mg × ratio, so it fell only if the true ratio is *below* the break-even.
    Break-even band entirely below the plausible span: the load rose under every plausible ratio (not
    supported); entirely above: it fell under every plausible ratio (supported); overlapping: the report
    cannot tell."""
    low, high = _interval(np.asarray(breakeven), prob)
    band = f"break-even oral:intrathecal ratio {low:.0f}–{high:.0f}:1 ({prob:.0%} band)"
    span = f"plausible ratios {plausible[0]:g}–{plausible[1]:g}:1"
    if high < plausible[0]:
        return Verdict(Grade.NOT_SUPPORTED, float(np.median(breakeven)), "median break-even ratio",
                       f"{band}, below the {span}: the load rose whatever the ratio")
    if low > plausible[1]:
        return Verdict(Grade.SUPPORTED, float(np.median(breakeven)), "median break-even ratio",
                       f"{band}, above the {span}: the load fell whatever the ratio")
    return Verdict(Grade.INCONCLUSIVE, float(np.median(breakeven)), "median break-even ratio",
                   f"{band}, inside the {span}: the load fell only if the patient's true ratio was below the "
                   "break-even, which the report cannot tell")


def load_comparison(mme: MmeSimulation, pain: pd.DataFrame, pumps: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-draw MME/day of the oral+IV days and of the DEX week, their ratio, and the break-even
    oral:intrathecal ratio at which the DEX week's intrathecal morphine equals the oral+IV load."""
    spans = {r.segment: (r.day_start, r.day_end) for r in pain.itertuples(index=False)}
    oral_iv = mme.window_mean(*spans["oral_iv"])
    dex_week = mme.window_mean(*spans["intrathecal_dex"])
    at_dex = pumps[pumps["day_start"] == DEX_DAY].iloc[0]
    return {"oral_iv": oral_iv, "dex_week": dex_week, "fold": dex_week / oral_iv,
            "breakeven": breakeven_intrathecal_ratio(oral_iv, at_dex.morphine_mg_per_day)}


def cached_mme(regimens: pd.DataFrame, n_draws: int = 4000, seed: int = 0, step: float = 0.5) -> MmeSimulation:
    """`simulate_mme` through the package cache (key: the regimen table, draws, seed, step and this module)."""
    inputs = {"regimens": regimens.to_csv(index=False), "n_draws": n_draws, "seed": seed, "step": step}
    return cache.load_or_compute("case_report_mme", inputs,
                                 lambda: simulate_mme(regimens, n_draws=n_draws, seed=seed, step=step),
                                 modules=("dexmood.case_report",), shared=True)


# --------------------------------------------------------------------------------------------------
# Interrupted time series on interval-censored NRS readings (PyMC)
# --------------------------------------------------------------------------------------------------

#: Prior on each segment level (NRS 0–10) and on the DEX change; sigma = reporting noise beyond rounding.
LEVEL_PRIOR = (5.0, 2.5)
CHANGE_PRIOR_SD = 2.5
SIGMA_PRIOR = (math.log(0.5), 0.3)  # LogNormal: median 0.5 NRS points, 95% 0.28–0.9


def nrs_bounds(pain: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Latent-pain interval of each reading: the reported integer range widened by the rounding half-point."""
    lower = np.clip(pain["nrs_low"].to_numpy(float) - 0.5, 0, 10)
    upper = np.clip(pain["nrs_high"].to_numpy(float) + 0.5, 0, 10)
    return lower, upper


def build_its_model(pain: pd.DataFrame):
    """Segment levels + a level change at DEX, with an interval-censored Normal likelihood.

    Reading i says the patient's typical pain over its span lies in [low − 0.5, high + 0.5]. With
    latent pain ~ Normal(mu_i, sigma), its likelihood is Phi((upper − mu)/sigma) − Phi((lower − mu)/sigma).
    mu_i = level[segment_i] for the four pre-DEX segments and level[intrathecal] + dex_change after DEX
    (a level-change ITS, Lopez Bernal et al. 2017, without slopes: one reading per segment cannot carry one).
    """
    import pymc as pm
    import pytensor.tensor as pt

    lower, upper = nrs_bounds(pain)
    segment_of = {"intrathecal_dex": "intrathecal"}
    index = np.array([LEVEL_SEGMENTS.index(segment_of.get(s, s)) for s in pain["segment"]])
    dex = pain["dex"].to_numpy(float)
    it = LEVEL_SEGMENTS.index("intrathecal")
    coords = {"segment": list(LEVEL_SEGMENTS), "reading": pain["reading_id"].astype(str).tolist()}
    with pm.Model(coords=coords) as model:
        level = pm.Normal("level", mu=LEVEL_PRIOR[0], sigma=LEVEL_PRIOR[1], dims="segment")
        dex_change = pm.Normal("dex_change", mu=0.0, sigma=CHANGE_PRIOR_SD)
        sigma = pm.LogNormal("sigma", mu=SIGMA_PRIOR[0], sigma=SIGMA_PRIOR[1])
        mu = pm.Deterministic("mu", level[index] + dex_change * dex, dims="reading")
        z_low = (lower - mu) / sigma
        z_high = (upper - mu) / sigma
        # Reflect intervals lying above the mean, P(a<Z<b) = P(-b<Z<-a), so that log Phi is evaluated in
        # its accurate lower tail; the switch acts on inputs only, so no NaN gradient can leak through.
        above = pt.gt(z_low, 0)
        a = pt.switch(above, -z_high, z_low)
        b = pt.switch(above, -z_low, z_high)
        std_normal = pm.Normal.dist(0.0, 1.0)
        pm.Potential("nrs_interval_loglik",
                     pm.math.logdiffexp(pm.logcdf(std_normal, b), pm.logcdf(std_normal, a)).sum())
        pm.Deterministic("pain_before_dex", level[it])
        pm.Deterministic("pain_after_dex", level[it] + dex_change)
    return model


def fit_its(pain: pd.DataFrame, random_seed: int, draws: int = 1000, tune: int = 1000, chains: int = 4,
            target_accept: float = 0.95, nuts_sampler: str = "pymc"):
    """Sample the ITS model (quietly, reproducibly); returns ArviZ InferenceData."""
    import pymc as pm

    model = build_its_model(pain)
    with diagnostics.quiet_sampling(), warnings.catch_warnings(), model:
        # PyTensor warns once per process about BLAS; the model has no matrix products.
        warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*")
        return pm.sample(draws=draws, tune=tune, chains=chains, cores=1, random_seed=random_seed,
                         target_accept=target_accept, nuts_sampler=nuts_sampler, progressbar=False,
                         compute_convergence_checks=False)


def cached_its(pain: pd.DataFrame, random_seed: int, draws: int = 1000, tune: int = 1000, chains: int = 4):
    """`fit_its` through the package cache (NetCDF; key: the pain table, the sampler settings and this module)."""
    inputs = {"pain": pain.to_csv(index=False), "seed": random_seed, "draws": draws, "tune": tune, "chains": chains}
    return cache.load_or_compute("case_report_its", inputs,
                                 lambda: fit_its(pain, random_seed=random_seed, draws=draws, tune=tune, chains=chains),
                                 modules=("dexmood.case_report",), codec=cache.NETCDF, shared=True)


def _draws(idata, name: str) -> np.ndarray:
    values = idata.posterior[name].to_numpy()
    return values.reshape(-1, *values.shape[2:])


def _interval(x: np.ndarray, prob: float = 0.9) -> tuple[float, float]:
    lo, hi = np.quantile(x, [(1 - prob) / 2, (1 + prob) / 2])
    return float(lo), float(hi)


def its_summary(idata, pain: pd.DataFrame, prob: float = 0.9) -> pd.DataFrame:
    """Posterior mean and central interval of each segment's level and of the DEX change."""
    level = _draws(idata, "level")
    rows = []
    for k, segment in enumerate(LEVEL_SEGMENTS):
        reading = pain[pain["segment"] == segment].iloc[0]
        lo, hi = _interval(level[:, k], prob)
        rows.append({"quantity": f"level: {SEGMENT_LABELS[segment]}", "reported": _range_text(reading),
                     "mean": level[:, k].mean(), "lower": lo, "upper": hi})
    after = _draws(idata, "pain_after_dex")
    reading = pain[pain["segment"] == "intrathecal_dex"].iloc[0]
    lo, hi = _interval(after, prob)
    rows.append({"quantity": f"level: {SEGMENT_LABELS['intrathecal_dex']}", "reported": _range_text(reading),
                 "mean": after.mean(), "lower": lo, "upper": hi})
    change = _draws(idata, "dex_change")
    lo, hi = _interval(change, prob)
    rows.append({"quantity": "change at DEX addition", "reported": "", "mean": change.mean(), "lower": lo,
                 "upper": hi})
    return pd.DataFrame(rows)


def _range_text(reading) -> str:
    return str(reading.nrs_low) if reading.nrs_low == reading.nrs_high else f"{reading.nrs_low}–{reading.nrs_high}"


def segment_midpoints(pain: pd.DataFrame) -> dict[str, float]:
    return {r.segment: (r.day_start + r.day_end) / 2 for r in pain.itertuples(index=False)}


def counterfactual_effects(idata, pain: pd.DataFrame) -> dict[str, np.ndarray]:
    """Posterior draws of the DEX 'effect' under two counterfactuals for the DEX week.

    - `level_persists`: without DEX, pain stays at the intrathecal pre-DEX level (the ITS level change);
    - `trend_continues`: the fall from the oral+IV segment to the intrathecal segment continues linearly
      to the middle of the DEX reading (floored at 0). The data cannot tell these apart.
    """
    level = _draws(idata, "level")
    after = _draws(idata, "pain_after_dex")
    mid = segment_midpoints(pain)
    iv, it = LEVEL_SEGMENTS.index("oral_iv"), LEVEL_SEGMENTS.index("intrathecal")
    slope = (level[:, it] - level[:, iv]) / (mid["intrathecal"] - mid["oral_iv"])
    trend = np.clip(level[:, it] + slope * (mid["intrathecal_dex"] - mid["intrathecal"]), 0, 10)
    return {"level_persists": after - level[:, it], "trend_continues": after - trend}


def opioid_adjusted_pain(idata, mme: MmeSimulation, regimens: pd.DataFrame, pain: pd.DataFrame,
                         seed: int = 0) -> pd.DataFrame:
    """Pain per unit of opioid before and after DEX: NRS level / mean intrathecal morphine, and / mean MME.

    Before = the intrathecal segment before DEX, after = the DEX segment (their day spans in `pain.csv`).
    Posterior draws of the levels are paired with randomly chosen MME draws (independent sources).
    """
    rng = np.random.default_rng(seed)
    before = _draws(idata, "pain_before_dex")
    after = _draws(idata, "pain_after_dex")
    spans = {r.segment: (r.day_start, r.day_end) for r in pain.itertuples(index=False)}
    pick = rng.integers(0, mme.draws.shape[0], size=before.size)
    mme_before = mme.window_mean(*spans["intrathecal"])[pick]
    mme_after = mme.window_mean(*spans["intrathecal_dex"])[pick]
    grid = mme.grid
    it_morphine = opioid_daily_doses(regimens, grid)
    it_cols = [c for c in it_morphine.columns if c[1] == "morphine" and c[2] == "intrathecal"]
    it_total = it_morphine[it_cols].to_numpy().sum(axis=1)

    def window(start, end):
        return float(it_total[(grid >= start) & (grid < end)].mean())

    it_before, it_after = window(*spans["intrathecal"]), window(*spans["intrathecal_dex"])
    quantities = {
        "NRS per 10 mg/day intrathecal morphine": (10 * before / it_before, 10 * after / it_after),
        "NRS per 1000 mg/day oral MME": (1000 * before / mme_before, 1000 * after / mme_after),
    }
    rows = []
    for name, (b, a) in quantities.items():
        ratio = a / b
        rows.append({"quantity": name, "before_mean": b.mean(), "after_mean": a.mean(),
                     "ratio_after_before": float(np.median(ratio)),
                     "ratio_lower": _interval(ratio)[0], "ratio_upper": _interval(ratio)[1]})
    table = pd.DataFrame(rows)
    table.attrs.update({"it_morphine_before": it_before, "it_morphine_after": it_after})
    return table


# --------------------------------------------------------------------------------------------------
# Side effects: exact signed-rank test
# --------------------------------------------------------------------------------------------------

def side_effect_test(side_effects: pd.DataFrame) -> dict:
    """Exact Wilcoxon signed-rank test of after − before over the 12 symptoms, with a sign-flip check.

    Zero differences are dropped (Wilcoxon's convention), so with k changed symptoms the smallest
    attainable two-sided p-value is 2 / 2**k. The unit is a symptom of one patient, not a patient.
    """
    from scipy import stats

    diff = (side_effects["after"] - side_effects["before"]).to_numpy(float)
    changed = diff[diff != 0]
    k = int(changed.size)
    result = stats.wilcoxon(side_effects["after"], side_effects["before"], zero_method="wilcox",
                            method="exact", alternative="two-sided")

    def signed_rank_sum(d, axis=-1):
        ranks = stats.rankdata(np.abs(d), axis=axis)
        return np.sum(np.sign(d) * ranks, axis=axis)

    permutation = stats.permutation_test((changed,), signed_rank_sum, permutation_type="samples",
                                         n_resamples=np.inf, alternative="two-sided")
    return {"n_symptoms": int(diff.size), "n_changed": k, "n_improved": int((changed < 0).sum()),
            "n_worse": int((changed > 0).sum()), "statistic": float(result.statistic),
            "p_exact": float(result.pvalue), "p_sign_flip": float(permutation.pvalue),
            "min_attainable_p": 2.0 / 2**k if k else 1.0}


# --------------------------------------------------------------------------------------------------
# Co-interventions and verdict
# --------------------------------------------------------------------------------------------------

def cointerventions(regimens: pd.DataFrame, day: float = DEX_DAY, window: float = 7.0) -> pd.DataFrame:
    """Regimen changes other than DEX in the `window` days before `day`: starts and stops, one row per event.

    A pump mixture counts once (its components change together); the end of a pump mixture is not a stop
    because the next mixture replaces it.
    """
    in_window = (regimens["day_start"] >= day - window) & (regimens["day_start"] < day)
    pump = regimens["mixture"].isin(list("ABCDEF"))
    label = np.where(pump, "intrathecal mixture " + regimens["mixture"].fillna(""),
                     regimens["product"] + " (" + regimens["route"] + ")")
    starts = regimens[in_window].assign(event=label[in_window.to_numpy()], change="start",
                                        timing=regimens.loc[in_window, "timing_start"])
    stopping = (regimens["day_end"] >= day - window) & (regimens["day_end"] < day) & ~pump
    stops = regimens[stopping].assign(event=label[stopping.to_numpy()], change="stop",
                                      day_start=regimens.loc[stopping, "day_end"],
                                      timing=regimens.loc[stopping, "timing_end"])
    events = pd.concat([starts, stops])
    table = (events.groupby(["event", "change"], sort=False)
             .agg(day=("day_start", "first"), drugs=("drug", lambda s: ", ".join(dict.fromkeys(s))),
                  timing=("timing", "first"))
             .reset_index().sort_values(["day", "change"]).reset_index(drop=True))
    # A date is exact only when the text states it or it follows from a stated one ("the next day").
    table["date_exact"] = table["timing"].isin(["stated", "relative"])
    return table


def claim_verdicts(its: pd.DataFrame, effects: dict[str, np.ndarray], change_draws: np.ndarray,
                   pumps: pd.DataFrame, breakeven: np.ndarray, side: dict, n_cointerventions: int,
                   n_instrument_values: int, mme_oral_iv: np.ndarray | None = None,
                   mme_dex_week: np.ndarray | None = None, n_cointerventions_approx: int | None = None
                   ) -> dict[str, Verdict]:
    """The report's claims, each graded from the numbers above (claim → `Verdict`).

    `n_cointerventions_approx`: how many of the co-interventions have dates that are our approximate placement
    (`cointerventions(...)["date_exact"]`), named in the sentence when given."""
    change = its[its["quantity"] == "change at DEX addition"].iloc[0]
    p_fall = float((change_draws < 0).mean())
    trend = effects["trend_continues"]
    trend_low, trend_high = _interval(trend)
    before_dex = pumps[pumps["day_end"] <= DEX_DAY].iloc[-1]
    at_dex = pumps[pumps["day_start"] == DEX_DAY].iloc[0]
    latest = pumps.iloc[-1]
    rise = 100 * (latest.morphine_mg_per_day / at_dex.morphine_mg_per_day - 1)
    out = {}
    out["Pain fell after DEX was added"] = Verdict(
        Grade.SUPPORTED if p_fall >= 0.9 else Grade.INCONCLUSIVE, p_fall, "P(level change < 0)",
        f"NRS level change {change['mean']:.1f} (90% interval {change['lower']:.1f} to {change['upper']:.1f}); "
        f"P(change < 0) = {p_fall:.2f}; a description, not an effect")
    attributable = trend_high < 0 and n_cointerventions == 0
    out["The fall was caused by DEX"] = Verdict(
        Grade.SUPPORTED if attributable else Grade.INCONCLUSIVE, float(trend.mean()), "effect if the trend continued",
        f"{n_cointerventions} other regimen changes in the 7 days before DEX"
        + ("" if n_cointerventions_approx is None else
           f" ({n_cointerventions_approx} of them on dates we placed approximately)")
        + "; if the fall from the IV to the "
        f"intrathecal segment had simply continued, the DEX 'effect' would be {trend.mean():+.1f} "
        f"(90% interval {trend_low:+.1f} to {trend_high:+.1f})")
    if at_dex.morphine_mg_per_day < before_dex.morphine_mg_per_day:
        dose_grade = Grade.SUPPORTED
    elif latest.morphine_mg_per_day >= at_dex.morphine_mg_per_day:
        dose_grade = Grade.NOT_SUPPORTED
    else:
        dose_grade = Grade.INCONCLUSIVE
    out["DEX reduced the morphine dose needed"] = Verdict(
        dose_grade, float(rise), "% change of intrathecal morphine from DEX to May 2020",
        f"intrathecal morphine was {before_dex.morphine_mg_per_day:.1f} mg/day just before and "
        f"{at_dex.morphine_mg_per_day:.1f} mg/day with DEX, and {latest.morphine_mg_per_day:.1f} mg/day "
        f"by May 2020 ({rise:+.0f}%)")
    load = opioid_load_verdict(breakeven)
    sentence = load.sentence
    if mme_oral_iv is not None and mme_dex_week is not None:
        fold = mme_dex_week / mme_oral_iv
        sentence += (f"; with the guideline ratios 100–300:1 the DEX week had {np.median(fold):.1f}-fold the MME of "
                     f"the oral+IV days (90% band {_interval(fold)[0]:.1f} to {_interval(fold)[1]:.1f})")
    out["Intrathecal DEX with morphine reduced overall opioid consumption"] = Verdict(
        load.grade, load.value, load.measure, sentence)
    out["DEX reduced opioid side effects"] = Verdict(
        Grade.SUPPORTED if side["p_exact"] < 0.05 else Grade.INCONCLUSIVE, float(side["p_exact"]),
        "exact signed-rank p",
        f"{side['n_improved']} of {side['n_symptoms']} symptoms lower, {side['n_worse']} higher; exact "
        f"signed-rank p = {side['p_exact']:.3f}, the smallest p attainable with {side['n_changed']} changed "
        f"symptoms; the route also changed from systemic to intrathecal")
    out["DEX relieved depression and improved quality of life"] = Verdict(
        Grade.NOT_ASSESSED if n_instrument_values == 0 else Grade.INCONCLUSIVE, float(n_instrument_values),
        "HAMD-6 / QLQ-C30 values available",
        f"{n_instrument_values} HAMD-6 / QLQ-C30 values in the text (they are only in Figs. 2–3); the text "
        "states improvement 'over the next 3 months' but its figures stop at 1 month (A16)")
    return out


def verdict_table(verdicts: dict[str, Verdict]) -> pd.DataFrame:
    """Claims, what the numbers show, and the grade, for display."""
    return pd.DataFrame([{"claim": claim, "what the numbers show": v.sentence, "verdict": v.grade.value}
                         for claim, v in verdicts.items()])


def grade_counts(verdicts: dict[str, Verdict]) -> dict[str, int]:
    """Number of claims per grade (every grade present, zeros included)."""
    return {grade.value: sum(v.grade is grade for v in verdicts.values()) for grade in Grade}


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------

#: Piecewise-linear day axis: the first pump week gets most of the width, the year before is compressed.
AXIS_KNOTS = ((FIRST_DAY, 0.0), (-30.0, 1.8), (10.0, 2.6), (23.0, 6.8), (60.0, 7.5), (HORIZON_DAY, 8.3))


def _piecewise(x, xs, ys):
    """Piecewise-linear map through the knots, extended linearly beyond both ends (so it stays invertible)."""
    x = np.asarray(x, dtype=float)
    y = np.interp(x, xs, ys)
    first = (ys[1] - ys[0]) / (xs[1] - xs[0])
    last = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
    y = np.where(x < xs[0], ys[0] + (x - xs[0]) * first, y)
    return np.where(x > xs[-1], ys[-1] + (x - xs[-1]) * last, y)


def _forward(x):
    days, pos = zip(*AXIS_KNOTS, strict=True)
    return _piecewise(x, days, pos)


def _inverse(y):
    days, pos = zip(*AXIS_KNOTS, strict=True)
    return _piecewise(y, pos, days)


def _day_axis(ax) -> None:
    ax.set_xscale("function", functions=(_forward, _inverse))
    ax.set_xlim(FIRST_DAY, HORIZON_DAY)
    ticks = [-365, -183, 0, 12, 15, 22, 152]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t}\n{day_to_date(t):%b %y}" if t in (-365, -183, 0, 152) else str(t) for t in ticks],
                       fontsize=7.5)


def _phases(ax, label_y: float | None = None) -> None:
    shades = {"oral": "#FFF5E0", "oral_iv": "#E6F5EF", "oral_intrathecal": "#EAF4FB"}
    for phase, (start, end) in PHASES.items():
        ax.axvspan(start, end, color=shades[phase], zorder=0, lw=0)
        if label_y is not None:
            centre = float(_inverse((_forward(start) + _forward(end)) / 2))
            ax.text(centre, label_y, PHASE_LABELS[phase].replace(" + ", "\n+ "), ha="center", va="center",
                    fontsize=7.5, color="#444444", fontstyle="italic")
    ax.axvline(DEX_DAY, color=DEX_LINE_COLOR, lw=1.4, ls="--", zorder=5)


def _bar_rows(regimens: pd.DataFrame) -> list[tuple[str, pd.DataFrame, str]]:
    r = regimens
    return [
        ("oxycodone CR (oral)", r[r["product"] == "oxycodone CR tablets"], "oral"),
        ("oxycodone/paracetamol (oral)", r[r["product"] == "oxycodone/paracetamol tablets"], "oral"),
        ("fluvoxamine (oral)", r[r["drug"] == "fluvoxamine"], "oral"),
        ("pregabalin (oral)", r[r["drug"] == "pregabalin"], "oral"),
        ("hydromorphone PCIA (IV)", r[r["drug"] == "hydromorphone"], "iv"),
        ("morphine (intrathecal)", r[(r["drug"] == "morphine") & (r["route"] == "intrathecal")], "intrathecal"),
        ("DEX (intrathecal)", r[r["drug"] == "dexmedetomidine"], "dex"),
        ("bozitinib, nivolumab", r[r["role"] == "oncology"], "oncology"),
    ]


def plot_timeline(regimens: pd.DataFrame, pain: pd.DataFrame, mme: MmeSimulation, idata=None):
    """Redrawn Fig. 1: regimen bars, the MME band, the NRS ranges (and posterior levels), phases, DEX day."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    fig, axes = plt.subplots(3, 1, figsize=(7.4, 8.4), sharex=True, layout="constrained",
                             gridspec_kw={"height_ratios": [2.5, 1.4, 1.4]})
    bars, band_ax, nrs_ax = axes
    rows = _bar_rows(regimens)
    gaps = attested_gaps(regimens)
    for k, (label, block, colour_key) in enumerate(rows):
        y = len(rows) - 1 - k
        for row in block.itertuples(index=False):
            end = row.day_end if pd.notna(row.day_end) else HORIZON_DAY
            hatch = "////" if pd.isna(row.day_end) else None
            bars.barh(y, end - row.day_start, left=row.day_start, height=0.62, color=ROUTE_COLORS[colour_key],
                      alpha=0.45 if hatch else 0.9, hatch=hatch, edgecolor="white", lw=0.6)
            # Daily doses (mg/day) of the opioids, where the bar is wide enough to carry a label.
            if row.role == "opioid" and _forward(end) - _forward(row.day_start) > 0.18:
                text = f"{row.daily_dose:g}" + (f"→{row.daily_dose_end:g}" if pd.notna(row.daily_dose_end) else "")
                bars.text(float(_inverse((_forward(row.day_start) + _forward(end)) / 2)), y, text,
                          ha="center", va="center", fontsize=6.5, color="#222222")
        if label.startswith("morphine") and gaps:
            start, end = gaps[0][2], gaps[0][3]
            bars.barh(y, end - start, left=start, height=0.62, color=ROUTE_COLORS["intrathecal"], alpha=0.35,
                      hatch="....", edgecolor="white", lw=0.6)
            bars.text(float(_inverse((_forward(start) + _forward(end)) / 2)), y, "8.4 or 10.8", ha="center",
                      va="center", fontsize=6.5, color="#222222")
    bars.set_yticks(range(len(rows)))
    bars.set_yticklabels([r[0] for r in rows][::-1], fontsize=8)
    bars.set_ylim(-0.6, len(rows) + 0.6)
    bars.grid(axis="y", visible=False)
    handles = [Patch(color=ROUTE_COLORS[k], label=name) for k, name in
               (("oral", "oral"), ("iv", "IV"), ("intrathecal", "intrathecal"), ("dex", "DEX"))]
    handles.append(Patch(facecolor="white", edgecolor="#777777", hatch="////", label="end not reported"))
    fig.legend(handles=handles, loc="outside lower center", fontsize=7.5, ncol=5)
    bars.set_title("Regimens (numbers: opioid mg/day)", loc="left")
    _phases(bars, label_y=len(rows) + 0.05)

    band = mme.band()
    band_ax.fill_between(band.index, band["q05"], band["q95"], color="#777777", alpha=0.35, lw=0, step="mid",
                         label="5–95% of conversion draws")
    band_ax.plot(band.index, band["q50"], color="#333333", lw=1.2, drawstyle="steps-mid", label="median")
    band_ax.set_yscale("log")
    band_ax.set_ylim(30, 6000)
    band_ax.set_ylabel("oral morphine\nequivalents (mg/day)")
    band_ax.legend(loc="upper left", fontsize=7)
    band_ax.set_title("Opioid load (boluses excluded)", loc="left")
    _phases(band_ax)

    for row in pain.itertuples(index=False):
        height = max(row.nrs_high - row.nrs_low, 0.15)
        bottom = row.nrs_low - (0.075 if row.nrs_high == row.nrs_low else 0)
        nrs_ax.add_patch(Rectangle((row.day_start, bottom), row.day_end - row.day_start, height,
                                   facecolor="#444444", alpha=0.75, lw=0))
    if idata is not None:
        level = _draws(idata, "level")
        after = _draws(idata, "pain_after_dex")
        columns = {s: level[:, k] for k, s in enumerate(LEVEL_SEGMENTS)} | {"intrathecal_dex": after}
        for row in pain.itertuples(index=False):
            draws = columns[row.segment]
            lo, hi = _interval(draws)
            nrs_ax.fill_between([row.day_start, row.day_end], lo, hi, color="#0072B2", alpha=0.18, lw=0)
            nrs_ax.plot([row.day_start, row.day_end], [draws.mean()] * 2, color="#0072B2", lw=1.5)
    nrs_ax.set_ylim(0, 10)
    nrs_ax.set_ylabel("NRS (0–10)")
    nrs_ax.set_xlabel("day (0 = 1 December 2019); the axis is compressed outside days −30 to 23")
    nrs_ax.set_title("Reported NRS ranges" + (" (grey) and model level with 90% interval (blue)"
                                              if idata is not None else ""), loc="left")
    _phases(nrs_ax)
    nrs_ax.text(DEX_DAY, 9.3, " DEX added", color=DEX_LINE_COLOR, fontsize=8, ha="left")
    for ax in axes:
        _day_axis(ax)
        ax.grid(axis="x", visible=False)  # the phase shading and the DEX line carry the time structure
    return fig, axes


def plot_its(idata, pain: pd.DataFrame):
    """Posterior of the segment levels against the reported ranges, and of the DEX change (two counterfactuals)."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(7.4, 3.6), layout="constrained",
                                      gridspec_kw={"width_ratios": [1.4, 1]})
    level = _draws(idata, "level")
    after = _draws(idata, "pain_after_dex")
    columns = [level[:, k] for k in range(len(LEVEL_SEGMENTS))] + [after]
    for k, (segment, draws) in enumerate(zip(SEGMENTS, columns, strict=True)):
        reading = pain[pain["segment"] == segment].iloc[0]
        left.add_patch(plt.Rectangle((k - 0.3, reading.nrs_low - 0.5), 0.6, reading.nrs_high - reading.nrs_low + 1,
                                     facecolor="#DDDDDD", lw=0))
        lo, hi = _interval(draws)
        colour = "#0072B2" if segment == "intrathecal_dex" else "#555555"
        left.plot([k, k], [lo, hi], color=colour, lw=2.2)
        left.plot(k, draws.mean(), "o", color=colour)
    left.set_xticks(range(len(SEGMENTS)))
    left.set_xticklabels([SEGMENT_LABELS[s].replace(", ", ",\n").replace(" + ", " +\n") for s in SEGMENTS],
                         fontsize=7)
    left.set_ylim(0, 10)
    left.set_ylabel("NRS (0–10)")
    left.set_title("Levels: posterior mean, 90% interval;\ngrey = reported range ± 0.5", loc="left", fontsize=9)
    effects = counterfactual_effects(idata, pain)
    bins = np.linspace(-7, 5, 61)
    right.hist(effects["level_persists"], bins=bins, density=True, alpha=0.6, color="#0072B2",
               label="pain would have stayed\nat the pre-DEX level")
    right.hist(effects["trend_continues"], bins=bins, density=True, alpha=0.5, color="#E69F00",
               label="the fall since the IV\ndays would have continued")
    right.axvline(0, color="#333333", lw=0.8)
    right.set_xlabel("change attributed to DEX (NRS points)")
    right.set_ylabel("posterior density")
    right.set_ylim(0, right.get_ylim()[1] * 1.45)  # room for the legend above the histograms
    right.legend(fontsize=7, loc="upper left", title="counterfactual: without DEX,", title_fontsize=7,
                 alignment="left")
    right.set_title("DEX 'effect' depends on the counterfactual", loc="left", fontsize=9)
    return fig, (left, right)


def plot_side_effects(side_effects: pd.DataFrame):
    """Paired display of Table 1: each symptom's frequency before (open) and after (filled) DEX."""
    import matplotlib.pyplot as plt

    table = side_effects.assign(change=side_effects["after"] - side_effects["before"])
    table = table.sort_values(["before", "change"], ascending=[True, False]).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for y, row in table.iterrows():
        if row.change:
            ax.annotate("", xy=(row.after, y), xytext=(row.before, y),
                        arrowprops={"arrowstyle": "->", "color": "#0072B2", "lw": 1.5})
        ax.plot(row.before, y, "o", mfc="white", mec="#555555", ms=7)
        ax.plot(row.after, y, "o", color="#0072B2", ms=4.5)
    ax.set_yticks(range(len(table)))
    ax.set_yticklabels(table["symptom"].str.replace("_", " "), fontsize=8)
    ax.set_xticks(list(SIDE_EFFECT_SCALE))
    ax.set_xticklabels([f"{k}\n{v}" for k, v in SIDE_EFFECT_SCALE.items()], fontsize=8)
    ax.set_xlim(0.6, 5.4)
    ax.set_xlabel("frequency (Table 1)")
    ax.grid(axis="y", visible=False)
    ax.plot([], [], "o", mfc="white", mec="#555555", label="before DEX")
    ax.plot([], [], "o", color="#0072B2", label="after DEX")
    ax.legend(loc="lower right", fontsize=8)
    return fig, ax


# --------------------------------------------------------------------------------------------------
# results.json
# --------------------------------------------------------------------------------------------------

def results_section(seed: int = 0, n_draws: int = 4000) -> dict:
    """Sampler-free numbers of this stage for `results.json` (dose arithmetic, MME bands, side-effect test)."""
    regimens = load_regimens()
    check_dose_arithmetic(regimens)
    pumps = pump_steps(regimens)
    pain = load_pain()
    mme = cached_mme(regimens, n_draws=n_draws, seed=seed)
    spans = {r.segment: (r.day_start, r.day_end) for r in pain.itertuples(index=False)}
    oral_iv = mme.window_mean(*spans["oral_iv"])
    dex_week = mme.window_mean(*spans["intrathecal_dex"])
    side = side_effect_test(load_side_effects())

    def band(x):
        return {"median": float(np.median(x)), "q05": float(np.quantile(x, 0.05)),
                "q95": float(np.quantile(x, 0.95))}

    return {
        "dex_day": DEX_DAY,
        "dex_ug_per_day": float(pumps.loc[pumps["day_start"] == DEX_DAY, "dex_ug_per_day"].iloc[0]),
        "intrathecal_morphine_mg_per_day": dict(zip(pumps["mixture"], pumps["morphine_mg_per_day"], strict=True)),
        "mme_oral_iv_days": band(oral_iv),
        "mme_dex_week": band(dex_week),
        "side_effects": side,
    }
