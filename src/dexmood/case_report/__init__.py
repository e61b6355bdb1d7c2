"""Stage 6 – the intrathecal DEX case report (Huang et al. 2020) as an analysed time series.

One patient, five NRS readings given as ranges, 29 hand-written regimen rows (`data/case_report/`). This
subpackage loads and validates those files, redoes the dose arithmetic of the text (concentration × rate →
daily dose), converts opioids to oral morphine equivalents (MME) with guideline ratios propagated as ranges
(Monte Carlo), fits an interrupted-time-series model on the interval-censored NRS readings in PyMC, tests the
side-effect table with an exact signed-rank test, and turns the numbers into a verdict on the report's
claims. Day 0 = 1 December 2019 (the paper's Fig. 1).

Layout: `timeline` (day numbers, phases, segments, vocabularies), `files` (pandera schemas and loaders),
`regimens` (dose arithmetic, pump mixtures, co-interventions), `mme` (oral morphine equivalents, Monte
Carlo), `model` (the PyMC interrupted time series and its cache), `posterior` (summaries and
counterfactuals), `side_effects` (Table 1's exact test), `verdicts` (the claims graded), `figures`,
`results` (results.json), `page` (what notebook 06 glues, prints and shows). The caches are keyed by the
code of the whole subpackage.
"""

from dexmood.case_report.figures import (
    AXIS_KNOTS,
    DEX_LINE_COLOR,
    ROUTE_COLORS,
    plot_its,
    plot_side_effects,
    plot_timeline,
)
from dexmood.case_report.files import (
    AMBIGUITY_SCHEMA,
    INSTRUMENT_SCHEMA,
    PAIN_SCHEMA,
    REGIMEN_SCHEMA,
    SIDE_EFFECT_SCHEMA,
    load_ambiguities,
    load_instrument_scores,
    load_pain,
    load_regimens,
    load_side_effects,
    validate_table,
)
from dexmood.case_report.mme import (
    CONVERSIONS,
    PLAUSIBLE_INTRATHECAL_RATIO,
    Conversion,
    MmeSimulation,
    alternative_reading,
    attested_gaps,
    breakeven_intrathecal_ratio,
    cached_mme,
    conversion_table,
    load_comparison,
    mme_by_segment,
    mme_point,
    opioid_daily_doses,
    simulate_mme,
    time_grid,
)
from dexmood.case_report.model import (
    CHANGE_PRIOR_SD,
    LEVEL_PRIOR,
    SIGMA_PRIOR,
    build_its_model,
    cached_its,
    fit_its,
    nrs_bounds,
)
from dexmood.case_report.page import (
    DEX_MIXTURE,
    ITS_PARAMETERS,
    LATEST_MIXTURE,
    adjusted_values,
    alternative_values,
    check_its_diagnostics,
    cointervention_values,
    diagnostic_line,
    diagnostic_values,
    dose_check_line,
    its_values,
    load_values,
    may2020_values,
    n_approximate_dates,
    pump_values,
    show_instrument_scores,
    side_effect_table,
    side_effect_values,
    verdict_values,
)
from dexmood.case_report.posterior import (
    counterfactual_effects,
    its_summary,
    opioid_adjusted_pain,
    segment_midpoints,
)
from dexmood.case_report.regimens import (
    check_dose_arithmetic,
    cointerventions,
    concentration,
    daily_from_hourly,
    daily_from_interval,
    hourly_dose,
    pump_steps,
    recompute_daily_doses,
)
from dexmood.case_report.results import results_section
from dexmood.case_report.side_effects import side_effect_test
from dexmood.case_report.timeline import (
    DAY_ZERO,
    DEX_DAY,
    FIRST_DAY,
    HORIZON_DAY,
    LEVEL_SEGMENTS,
    PHASE_LABELS,
    PHASES,
    ROLES,
    ROUTES,
    SEGMENT_LABELS,
    SEGMENTS,
    SIDE_EFFECT_SCALE,
    SOURCE_PATTERN,
    TIMINGS,
    day_to_date,
)
from dexmood.case_report.verdicts import claim_verdicts, grade_counts, opioid_load_verdict, verdict_table
from dexmood.errors import CaseReportError

__all__ = [
    # timeline
    "DAY_ZERO", "FIRST_DAY", "HORIZON_DAY", "DEX_DAY", "PHASES", "PHASE_LABELS", "SEGMENTS", "LEVEL_SEGMENTS",
    "SEGMENT_LABELS", "ROUTES", "ROLES", "TIMINGS", "SOURCE_PATTERN", "SIDE_EFFECT_SCALE", "day_to_date",
    # files
    "CaseReportError", "REGIMEN_SCHEMA", "PAIN_SCHEMA", "SIDE_EFFECT_SCHEMA", "AMBIGUITY_SCHEMA",
    "INSTRUMENT_SCHEMA", "validate_table", "load_regimens", "load_pain", "load_side_effects",
    "load_ambiguities", "load_instrument_scores",
    # regimens
    "concentration", "hourly_dose", "daily_from_hourly", "daily_from_interval", "recompute_daily_doses",
    "check_dose_arithmetic", "pump_steps", "cointerventions",
    # mme
    "Conversion", "CONVERSIONS", "conversion_table", "time_grid", "attested_gaps", "opioid_daily_doses",
    "mme_point", "MmeSimulation", "simulate_mme", "mme_by_segment", "alternative_reading",
    "breakeven_intrathecal_ratio", "PLAUSIBLE_INTRATHECAL_RATIO", "load_comparison", "cached_mme",
    # model
    "LEVEL_PRIOR", "CHANGE_PRIOR_SD", "SIGMA_PRIOR", "nrs_bounds", "build_its_model", "fit_its", "cached_its",
    # posterior
    "its_summary", "segment_midpoints", "counterfactual_effects", "opioid_adjusted_pain",
    # side_effects
    "side_effect_test",
    # verdicts
    "opioid_load_verdict", "claim_verdicts", "verdict_table", "grade_counts",
    # figures
    "ROUTE_COLORS", "DEX_LINE_COLOR", "AXIS_KNOTS", "plot_timeline", "plot_its", "plot_side_effects",
    # results
    "results_section",
    # page (what notebook 06 glues, prints and shows)
    "DEX_MIXTURE", "LATEST_MIXTURE", "ITS_PARAMETERS", "alternative_values", "pump_values", "dose_check_line",
    "load_values", "check_its_diagnostics", "diagnostic_values", "diagnostic_line", "its_values",
    "adjusted_values", "side_effect_values", "side_effect_table", "show_instrument_scores", "may2020_values",
    "n_approximate_dates", "cointervention_values", "verdict_values",
]
