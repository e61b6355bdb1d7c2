"""What the case-report page (notebook 06) glues, prints and shows around the stage's tables and figures.

Each `*_values` function returns {glue key: text} for `book.glue_all`, formatted as the page formats them
(`tables.glue_text`), so the text of the book does not depend on where the number was computed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from IPython.display import display

from dexmood import diagnostics
from dexmood.case_report.mme import PLAUSIBLE_INTRATHECAL_RATIO
from dexmood.case_report.verdicts import grade_counts, opioid_load_verdict
from dexmood.tables import glue_text
from dexmood.verdict import Verdict

#: The intrathecal mixture DEX was added with, and the last one the report describes (May 2020).
DEX_MIXTURE, LATEST_MIXTURE = "E", "F"
#: The model parameters whose convergence the page requires.
ITS_PARAMETERS = ["level", "dex_change", "sigma"]
LOAD_CLAIM = "Intrathecal DEX with morphine reduced overall opioid consumption"
NO_INSTRUMENT_VALUES = "No HAMD-6 or QLQ-C30 values: they are only in the report's figures."


def _band(draws: np.ndarray, spec: str) -> str:
    """The 5%–95% band of Monte-Carlo draws, each end formatted by `spec` (e.g. '.0f')."""
    return f"{np.quantile(draws, 0.05):{spec}}–{np.quantile(draws, 0.95):{spec}}"


def alternative_values(alternative: pd.DataFrame) -> dict[str, str]:
    """The MME of the other reading of the ambiguous oral opioids (from `alternative_reading`)."""
    by = alternative.set_index("reading")
    return {"nb06_alt_oxycodone": f"{by.loc['oxycodone', 'mme_low']:.0f}–{by.loc['oxycodone', 'mme_high']:.0f}",
            "nb06_alt_hydrocodone": f"{by.loc['hydrocodone', 'mme_low']:.0f}"}


def pump_values(pumps: pd.DataFrame) -> dict[str, str]:
    """DEX and intrathecal morphine at the DEX mixture, the first and the last mixture (from `pump_steps`)."""
    by = pumps.set_index("mixture")
    at_dex, latest = by.loc[DEX_MIXTURE], by.loc[LATEST_MIXTURE]
    return {"nb06_dex_ug_per_h": glue_text(at_dex.dex_ug_per_day / 24, "{:.0f}"),
            "nb06_dex_ug_per_day": glue_text(at_dex.dex_ug_per_day, "{:.0f}"),
            "nb06_it_morphine_at_dex": glue_text(at_dex.morphine_mg_per_day, "{:.1f}"),
            "nb06_it_morphine_may2020": glue_text(latest.morphine_mg_per_day, "{:.1f}"),
            "nb06_it_morphine_rise_pct": glue_text(100 * (latest.morphine_mg_per_day / at_dex.morphine_mg_per_day - 1),
                                                   "{:.0f}"),
            "nb06_it_morphine_first": glue_text(pumps["morphine_mg_per_day"].iloc[0], "{:.1f}")}


def dose_check_line(dose_check: pd.DataFrame) -> str:
    """How many daily doses `check_dose_arithmetic` recomputed (it raises if one differs from its entry)."""
    return f"{int(dose_check['daily_computed'].notna().sum())} daily doses recomputed, all equal to the entries"


def load_values(load: dict[str, np.ndarray]) -> dict[str, str]:
    """The opioid load before and with DEX in oral MME (median and 5%–95% band over the conversion draws),
    the break-even intrathecal:oral ratio against the plausible one, and the load verdict's grade."""
    return {"nb06_mme_oral_iv": glue_text(np.median(load["oral_iv"]), "{:.0f}"),
            "nb06_mme_oral_iv_band": _band(load["oral_iv"], ".0f"),
            "nb06_mme_dex_week": glue_text(np.median(load["dex_week"]), "{:.0f}"),
            "nb06_mme_dex_week_band": _band(load["dex_week"], ".0f"),
            "nb06_mme_fold": glue_text(np.median(load["fold"]), "{:.1f}"),
            "nb06_mme_fold_band": _band(load["fold"], ".1f"),
            "nb06_breakeven_ratio": _band(load["breakeven"], ".0f"),
            "nb06_plausible_ratio": "{:g}–{:g}".format(*PLAUSIBLE_INTRATHECAL_RATIO),
            "nb06_load_grade": opioid_load_verdict(load["breakeven"]).grade.value}


def check_its_diagnostics(idata, limits) -> pd.DataFrame:
    """The ITS fit's convergence table; raises `DiagnosticsError` (and fails the build) unless R-hat and
    the bulk/tail ESS of `ITS_PARAMETERS` meet `limits` (`Settings.diagnostics`) and nothing diverged."""
    return diagnostics.check_diagnostics(idata, ITS_PARAMETERS, rhat_max=limits.rhat_max, ess_min=limits.ess_min)


def _ess_floor(table: pd.DataFrame) -> float:
    """The smallest bulk or tail ESS rounded down to a hundred (what the text can promise)."""
    return 100 * np.floor(table[["min_ess_bulk", "min_ess_tail"]].min().min() / 100)


def diagnostic_values(table: pd.DataFrame) -> dict[str, str]:
    return {"nb06_rhat_max": glue_text(table["max_rhat"].max(), "{:.2f}"),
            "nb06_ess_min": glue_text(_ess_floor(table), "{:.0f}")}


def diagnostic_line(table: pd.DataFrame, idata) -> str:
    return (f"max R-hat {table['max_rhat'].max():.2f}; min bulk/tail ESS above {_ess_floor(table):.0f}; "
            f"divergences {diagnostics.divergences(idata)}")


def its_values(its: pd.DataFrame, change_draws: np.ndarray, effects: dict[str, np.ndarray]) -> dict[str, str]:
    """The ITS levels around DEX, the change at DEX (90% interval, P(< 0)) and the trend counterfactual."""
    row = its.set_index("quantity")
    change = row.loc["change at DEX addition"]
    trend = effects["trend_continues"]
    return {"nb06_level_before_dex": glue_text(row.loc["level: intrathecal, before DEX", "mean"], "{:.1f}"),
            "nb06_level_after_dex": glue_text(row.loc["level: intrathecal + DEX", "mean"], "{:.1f}"),
            "nb06_dex_change": glue_text(change["mean"], "{:.1f}"),
            "nb06_dex_change_interval": f"{change['lower']:.1f} to {change['upper']:.1f}",
            "nb06_p_dex_change_negative": glue_text((change_draws < 0).mean(), "{:.2f}"),
            "nb06_trend_effect": glue_text(trend.mean(), "{:+.1f}"),
            "nb06_trend_effect_interval": f"{np.quantile(trend, 0.05):+.1f} to {np.quantile(trend, 0.95):+.1f}",
            "nb06_p_trend_effect_negative": glue_text((trend < 0).mean(), "{:.2f}")}


def adjusted_values(adjusted: pd.DataFrame) -> dict[str, str]:
    """Intrathecal morphine before and with DEX, and the after/before ratio of pain per 10 mg/day."""
    per_it = adjusted.set_index("quantity").loc["NRS per 10 mg/day intrathecal morphine"]
    return {"nb06_it_before": glue_text(adjusted.attrs["it_morphine_before"], "{:.1f}"),
            "nb06_it_after": glue_text(adjusted.attrs["it_morphine_after"], "{:.1f}"),
            "nb06_adjusted_ratio": glue_text(per_it["ratio_after_before"], "{:.2f}"),
            "nb06_adjusted_interval": f"{per_it['ratio_lower']:.2f}–{per_it['ratio_upper']:.2f}"}


def side_effect_values(side: dict, pain: pd.DataFrame) -> dict[str, str]:
    """Pain readings before and with DEX, and the side-effect test's counts and p-values."""
    return {"nb06_n_pre_readings": glue_text(int((pain["dex"] == 0).sum()), "{:d}"),
            "nb06_n_post_readings": glue_text(int((pain["dex"] == 1).sum()), "{:d}"),
            "nb06_n_improved": glue_text(side["n_improved"], "{:d}"),
            "nb06_n_worse": glue_text(side["n_worse"], "{:d}"),
            "nb06_n_changed": glue_text(side["n_changed"], "{:d}"),
            "nb06_wilcoxon_p": glue_text(side["p_exact"], "{:.3f}"),
            "nb06_sign_flip_p": glue_text(side["p_sign_flip"], "{:.3f}")}


def side_effect_table(side: dict) -> pd.DataFrame:
    """The side-effect test as a table: one row per quantity, numbers with three decimals."""
    return (pd.Series({key: f"{value:.3f}" if isinstance(value, float) else value for key, value in side.items()})
            .to_frame("value").rename_axis("quantity"))


def show_instrument_scores(scores: pd.DataFrame) -> None:
    """The HAMD-6 and QLQ-C30 values by item and time point, or a line saying the text gives none."""
    if scores.empty:
        print(NO_INSTRUMENT_VALUES)
    else:
        display(scores.pivot_table(index=["instrument", "item"], columns="timepoint", values="score"))


def may2020_values(pumps: pd.DataFrame) -> dict[str, str]:
    """The last mixture's morphine and DEX per 100 ml and its rate."""
    latest = pumps.set_index("mixture").loc[LATEST_MIXTURE]
    return {"nb06_it_morphine_may2020_mg": glue_text(latest.morphine_mg_per_100ml, "{:.0f}"),
            "nb06_dex_may2020_ug": glue_text(latest.dex_ug_per_100ml, "{:.0f}"),
            "nb06_rate_may2020": glue_text(latest.rate_ml_per_h, "{:.1f}")}


def n_approximate_dates(events: pd.DataFrame) -> int:
    """Co-interventions whose date is not exact (from `cointerventions`)."""
    return int((~events["date_exact"]).sum())


def cointervention_values(events: pd.DataFrame) -> dict[str, str]:
    return {"nb06_n_cointerventions": glue_text(len(events), "{:d}"),
            "nb06_n_cointerventions_exact": glue_text(int(events["date_exact"].sum()), "{:d}"),
            "nb06_n_cointerventions_approx": glue_text(n_approximate_dates(events), "{:d}")}


def verdict_values(verdicts: dict[str, Verdict]) -> dict[str, str]:
    """How many claims got each grade, and the opioid-load verdict's sentence."""
    counts = grade_counts(verdicts)
    return {"nb06_n_claims": glue_text(len(verdicts), "{:d}"),
            "nb06_n_not_supported": glue_text(counts["not supported"], "{:d}"),
            "nb06_n_inconclusive": glue_text(counts["inconclusive"], "{:d}"),
            "nb06_n_not_assessed": glue_text(counts["not assessed"], "{:d}"),
            "nb06_n_supported": glue_text(counts["supported"], "{:d}"),
            "nb06_load_sentence": verdicts[LOAD_CLAIM].sentence}
