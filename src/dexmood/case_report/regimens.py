"""What the regimen table says: the dose arithmetic of the text, the pump mixtures, the co-interventions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dexmood.case_report.timeline import DEX_DAY
from dexmood.errors import CaseReportError

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
# Co-interventions
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
