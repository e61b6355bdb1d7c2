"""The report's claims, each graded from the numbers of the analysis (claim → `Verdict`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dexmood.case_report.mme import PLAUSIBLE_INTRATHECAL_RATIO
from dexmood.case_report.posterior import _interval
from dexmood.case_report.timeline import DEX_DAY
from dexmood.verdict import Grade, Verdict


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
