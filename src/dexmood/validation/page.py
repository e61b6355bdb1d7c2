"""The numbers and computed sentences of notebook 08, so the page's cells stay a call, a glue or a display.

Every word that depends on a result ("inside the band", "trustworthy", "biased") is chosen here from the
numbers or from the `Verdict` objects of `measures`, never typed into the page.

Issue 20: every number the page shows is a Monte-Carlo result of the study, so it is recorded
(`dexmood.reproducibility`) with its replicate-based MCSE from `measures.summarise` (`measures.mcse_of`), or
with a stated tolerance where it has none (counts and diagnostics of the Bayesian fits); words and names chosen
by the numbers are recorded as labels. `page_values` gives each glued value with its MCSE, `glue_page`
records and glues them, and the `recorded_*` functions return the page's tables as the recorded texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dexmood import book
from dexmood import reproducibility as mc
from dexmood.tables import MISSING
from dexmood.validation.measures import (
    MAX_COVERAGE_MCSE,
    PERFORMANCE_COLUMNS,
    coverage_band,
    family_sentence,
    mcse_of,
    measure,
    names_with_grade,
    performance_rows,
    rejection_pivot,
    rejection_pivot_mcse,
    replicates_for_coverage_mcse,
    verdict_table,
    verdict_table_mcse,
    verdicts,
    worst_case_ties,
)
from dexmood.validation.scenarios import (
    ATT_OUTCOMES,
    ESTIMAND_LABELS,
    ESTIMATORS,
    MAIN_ESTIMATOR,
    MEDIATION_OUTCOMES,
    SHORT_LABELS,
    published_mediation_range,
)
from dexmood.verdict import Grade

#: Rows and scenarios of the page's figures and tables.
N290 = ("published", "published_conf0", "published_conf2", "null", "null_conf2")
ADJUSTED = (("matched_difference", "att"), ("matched_regression", "att"), ("ipw_att", "att"), ("overlap", "ato"),
            ("aipw_att", "att"), ("aipw_att_bootstrap", "att"))
#: The rows of the published-scenario performance table: the adjusted estimators, then the unadjusted one.
PUBLISHED_ROWS = (*(estimator for estimator, _ in ADJUSTED), "naive_difference")
LARGE = ("published", "published_n1000", "published_n5000")
LARGE_ESTIMATORS = ("matched_difference", "matched_regression", "aipw_att")
MEDIATION_ROWS = tuple((m, e) for e in ("acme_treated", "ade_control", "total", "proportion_mediated")
                       for m in ("mediation_delta", "mediation_bayes"))
MEDIATION_SCENARIOS = ("published", "published_conf2", "no_pain_to_mood", "no_pain_effect", "published_n1000",
                       "published_n5000")
POWER_SCENARIOS = ("published", "null", "null_conf2", "published_conf2")
ACME_SCENARIOS = ("published", "no_pain_to_mood", "no_pain_effect", "published_n1000", "published_n5000")


def _inside(values, band) -> str:
    inside = sum(band[0] <= value <= band[1] for value in values)
    return "inside" if inside == len(values) else ("not inside" if inside == 0 else f"{inside} of {len(values)} inside")


def _significant(bias: float, mcse: float) -> str:
    return "significantly different from zero" if abs(bias) > 1.96 * mcse else "not distinguishable from zero"


@dataclass(frozen=True)
class Shown:
    """One glued value: a number (`value` in the unit `fmt` formats, with its `mcse` or a stated `tolerance`;
    `mcse=0` for a deterministic number) or, with `value=None`, a `label` (a name, a word, a sentence), checked
    as text."""
    value: float | None
    fmt: str = "{}"
    mcse: float | None = None
    tolerance: float | None = None
    label: str | None = None

    @property
    def text(self) -> str:
        if self.value is None:
            return str(self.label)
        # as `reproducibility.record_value` formats it
        return self.fmt.format(int(round(self.value)) if re.search(r":d}", self.fmt) else self.value)


def _label(text: str) -> Shown:
    return Shown(None, label=text)


def failed_fits_mcse(diagnostics: pd.DataFrame) -> float:
    """MCSE of the number of Bayesian fits that fail the diagnostics guard (or of those that pass): another
    CPU re-samples every fit, so the count is binomial, √(n·p·(1 − p)) with p the observed share of failures,
    at least 1 (one fit)."""
    n = len(diagnostics)
    if not n:
        return 0.0
    p = float((~diagnostics["passed"].astype(bool)).mean())
    return max(1.0, float(np.sqrt(n * p * (1 - p))))


def divergences_mcse(diagnostics: pd.DataFrame) -> float:
    """MCSE of a total or largest number of divergences over the fits (a count: Poisson, √count, at least 1)."""
    return max(1.0, float(np.sqrt(diagnostics["divergences"].sum()))) if len(diagnostics) else 0.0


def page_values(study, summary: pd.DataFrame) -> dict[str, Shown]:
    """Every glued value of notebook 08 with its MCSE (or tolerance, or as a label), keyed by glue name."""
    def row(scenario, estimator, outcome, estimand):
        rows = summary[(summary["scenario"] == scenario) & (summary["estimator"] == estimator)
                       & (summary["outcome"] == outcome) & (summary["estimand"] == estimand)]
        if rows.empty:
            raise KeyError(f"no summary row for {scenario} / {estimator} / {outcome} / {estimand}")
        return rows

    def shown(scenario, estimator, outcome, estimand, column, fmt, scale=1.0) -> Shown:
        rows = row(scenario, estimator, outcome, estimand)
        value, error = float(rows[column].iloc[0]), float(mcse_of(rows, column).iloc[0])
        return Shown(scale * value, fmt, mcse=abs(scale) * error)

    def m(scenario, estimator, outcome, estimand, column):
        return measure(summary, scenario, estimator, outcome, estimand, column)

    judged = verdicts(summary)
    n_main = int(m("published", MAIN_ESTIMATOR, "gad7", "att", "n_reps"))
    band_main = coverage_band(n_main)
    diag = study.bayes_diagnostics
    n_bayes = int(len(diag))
    fast = study.replicates[study.replicates["estimator"] != "mediation_bayes"]
    boot = summary[summary["estimator"] == "aipw_att_bootstrap"]
    out = {
        # designs and counts of replicates run (deterministic)
        "nb08_n_fast": _label(f"{int(fast.groupby('scenario')['replicate'].nunique().sum()):,}"),
        "nb08_n_main": _label(f"{n_main:,}"), "nb08_n_bayes": _label(f"{n_bayes:d}"),
        "nb08_n_5000": _label(f"{int(m('published_n5000', MAIN_ESTIMATOR, 'gad7', 'att', 'n_reps')):d}"),
        "nb08_n_boot_reps": _label(f"{int(boot['n_reps'].min()) if len(boot) else 0:,}"),
        "nb08_boot_scenarios": _label(", ".join(dict.fromkeys(boot["scenario"])) or "none"),
        "nb08_band_main_low": Shown(band_main[0], "{:.3f}", mcse=0),
        "nb08_band_main_high": Shown(band_main[1], "{:.3f}", mcse=0),
        "nb08_band_500_low": Shown(coverage_band(500)[0], "{:.3f}", mcse=0),
        "nb08_band_500_high": Shown(coverage_band(500)[1], "{:.3f}", mcse=0),
        "nb08_main_within": _label(_inside([m("published", MAIN_ESTIMATOR, o, "att", "coverage")
                                            for o in ATT_OUTCOMES], band_main)),
        "nb08_mcse_limit": _label(f"{MAX_COVERAGE_MCSE:g}"),
        "nb08_reps_needed": _label(f"{replicates_for_coverage_mcse():d}"),
        # verdicts: names and sentences chosen by the numbers
        "nb08_trustworthy": _label(names_with_grade(judged, Grade.SUPPORTED)),
        "nb08_not_trustworthy": _label(names_with_grade(judged, Grade.NOT_SUPPORTED)),
        "nb08_inconclusive": _label(names_with_grade(judged, Grade.INCONCLUSIVE)),
        "nb08_main_verdict": _label(judged[MAIN_ESTIMATOR, "att"].sentence),
        "nb08_delta_family": _label(family_sentence(judged, "mediation_delta")),
        "nb08_bayes_family": _label(family_sentence(judged, "mediation_bayes")),
        "nb08_aipw_verdict": _label(judged["aipw_att", "att"].sentence),
        "nb08_aipw_boot_verdict": _label(judged["aipw_att_bootstrap", "att"].sentence
                                         if ("aipw_att_bootstrap", "att") in judged else "not run"),
    }
    for o in ATT_OUTCOMES:
        out[f"nb08_cov_main_{o}"] = shown("published", MAIN_ESTIMATOR, o, "att", "coverage", "{:.3f}")
        out[f"nb08_bias_main_{o}"] = shown("published", MAIN_ESTIMATOR, o, "att", "bias", "{:.3f}")
        out[f"nb08_power_main_{o}"] = shown("published", MAIN_ESTIMATOR, o, "att", "rejection", "{:.0%}")
        out[f"nb08_type1_main_{o}"] = shown("null", MAIN_ESTIMATOR, o, "att", "rejection", "{:.1%}")
    for scenario in ("published", "published_conf2", "published_n1000", "published_n5000"):
        out[f"nb08_retained_{scenario}"] = shown(scenario, MAIN_ESTIMATOR, "gad7", "att", "treated_retained",
                                                 "{:.0%}")
    # confounding: the unadjusted difference, scored against the same target as IPW/AIPW
    naive = {s: (m(s, "naive_difference", "gad7", "att", "bias"), m(s, "naive_difference", "gad7", "att", "bias_mcse"))
             for s in ("published", "published_conf2")}
    out["nb08_naive_bias_gad7"] = shown("published", "naive_difference", "gad7", "att", "bias", "{:.2f}")
    out["nb08_naive_bias_conf2_gad7"] = shown("published_conf2", "naive_difference", "gad7", "att", "bias", "{:.2f}")
    out["nb08_naive_bias_word"] = _label(_significant(*naive["published"]))
    out["nb08_naive_cov_gad7"] = shown("published", "naive_difference", "gad7", "att", "coverage", "{:.2f}")
    out["nb08_true_att_gad7"] = shown("published", "naive_difference", "gad7", "att", "mean_truth", "{:.2f}")
    for e in ("ipw_att", "aipw_att", "matched_difference") + (("aipw_att_bootstrap",) if len(boot) else ()):
        worst = min(ATT_OUTCOMES, key=lambda o, e=e: m("published_conf2", e, o, "att", "coverage"))
        out[f"nb08_cov_conf2_{e}"] = shown("published_conf2", e, worst, "att", "coverage", "{:.3f}")
    for e in ("ipw_att", "aipw_att"):
        out[f"nb08_se_ratio_conf2_{e}"] = shown("published_conf2", e, "phq9", "att", "se_ratio", "{:.2f}")
    if not len(boot):
        out["nb08_cov_conf2_aipw_att_bootstrap"] = _label("not run")
    large = summary[summary["scenario"].eq("published_n5000") & summary["estimator"].isin(LARGE_ESTIMATORS)]
    worst_large = large.loc[large["bias"].abs().idxmax()]
    out["nb08_max_bias_n5000"] = Shown(abs(worst_large["bias"]), "{:.3f}", mcse=worst_large["bias_mcse"])
    out["nb08_max_bias_n5000_share"] = Shown(abs(worst_large["bias"] / worst_large["mean_truth"]), "{:.0%}",
                                             mcse=worst_large["bias_mcse"] / abs(worst_large["mean_truth"]))
    out["nb08_max_bias_n5000_word"] = _label(_significant(worst_large["bias"], worst_large["bias_mcse"]))
    # mediation
    for o in MEDIATION_OUTCOMES:
        out[f"nb08_acme_cov_{o}"] = shown("published", "mediation_delta", o, "acme_treated", "coverage", "{:.3f}")
        out[f"nb08_acme_power_{o}"] = shown("published", "mediation_delta", o, "acme_treated", "rejection", "{:.0%}")
        out[f"nb08_acme_power_n1000_{o}"] = shown("published_n1000", "mediation_delta", o, "acme_treated",
                                                  "rejection", "{:.0%}")
        out[f"nb08_acme_type1_{o}"] = shown("no_pain_to_mood", "mediation_delta", o, "acme_treated", "rejection",
                                            "{:.1%}")
        out[f"nb08_pm_truth_{o}"] = shown("published", "mediation_delta", o, "proportion_mediated", "mean_truth",
                                          "{:.0%}")
        out[f"nb08_pm_rmse_{o}"] = shown("published", "mediation_delta", o, "proportion_mediated", "rmse", "{:.2f}")
        out[f"nb08_pm_width_{o}"] = shown("published", "mediation_delta", o, "proportion_mediated", "mean_ci_width",
                                          "{:.2f}")
        out[f"nb08_acme_bayes_cov_{o}"] = (shown("published", "mediation_bayes", o, "acme_treated", "coverage",
                                                 "{:.2f}") if n_bayes else _label("–"))
    out["nb08_acme_band_word"] = _label(_inside([m("published", "mediation_delta", o, "acme_treated", "coverage")
                                                 for o in MEDIATION_OUTCOMES], band_main))
    low, high = published_mediation_range()
    narrowest = min(MEDIATION_OUTCOMES, key=lambda o: m("published", "mediation_delta", o, "proportion_mediated",
                                                        "mean_ci_width"))
    width = shown("published", "mediation_delta", narrowest, "proportion_mediated", "mean_ci_width", "{:.1f}")
    out["nb08_pm_width_ratio"] = Shown(width.value / (high - low), "{:.1f}", mcse=width.mcse / (high - low))
    out["nb08_pm_published"] = _label(f"{low:.0%}–{high:.0%}")
    # the Bayesian fits' diagnostics: counts with their binomial / Poisson MCSE; R-hat and ESS have no MCSE,
    # so R-hat within ± 0.005 and an ESS within ± 25% (as in notebook 04)
    if n_bayes:
        out["nb08_bayes_failed"] = Shown(int((~diag["passed"].astype(bool)).sum()), "{:d}",
                                         mcse=failed_fits_mcse(diag))
        out["nb08_bayes_max_rhat"] = Shown(diag["max_rhat"].max(), "{:.3f}", tolerance=0.005)
        out["nb08_bayes_min_ess"] = Shown(diag["min_ess_bulk"].min(), "{:.0f}",
                                          tolerance=0.25 * diag["min_ess_bulk"].min())
        out["nb08_bayes_divergences"] = Shown(int(diag["divergences"].sum()), "{:d}", mcse=divergences_mcse(diag))
    else:
        out.update({"nb08_bayes_failed": _label("0"), "nb08_bayes_max_rhat": _label("–"),
                    "nb08_bayes_min_ess": _label("–"), "nb08_bayes_divergences": _label("0")})
    return out


def page_numbers(study, summary: pd.DataFrame) -> dict[str, str]:
    """Every glued value of notebook 08 as text, keyed by glue name (the texts of `page_values`)."""
    return {name: value.text for name, value in page_values(study, summary).items()}


def glue_page(values: dict[str, Shown | str]) -> dict[str, str]:
    """Glue every value of `page_values` for `{glue:text}` in the page's prose, each recorded with its MCSE
    (tolerance) or as a label (`dexmood.reproducibility`); plain texts (`page_numbers`) are glued as they are.
    Returns the glued texts (what `summary_markdown` takes)."""
    texts = {}
    for name, value in values.items():
        if isinstance(value, str):
            texts[name] = book.glue_value(name, value)
        elif value.value is None:
            texts[name] = book.glue_value(name, mc.record_label(name, value.text))
        else:
            texts[name] = book.glue_value(name, value.value, value.fmt, mcse=value.mcse, tolerance=value.tolerance)
    return texts


def _count_mcse(estimator: str, diagnostics: pd.DataFrame) -> float:
    # replicates with an estimate: fixed by the seeds, except Bayesian fits that pass or fail the guard
    return failed_fits_mcse(diagnostics) if estimator == "mediation_bayes" else 0.0


def recorded_performance_table(name: str, study, summary: pd.DataFrame, scenarios, estimators,
                               estimands=None) -> pd.DataFrame:
    """`measures.performance_table` as recorded texts: every number with its MCSE (`measures.mcse_of`), the
    MCSEs shown in brackets with theirs, the labels of each row exact; display it with `tables.show`."""
    rows = performance_rows(summary, scenarios, estimators, estimands)
    shown = []
    for i in range(len(rows)):
        r = rows.iloc[[i]]
        key = f"{name}[{r['scenario'].iloc[0]}|{r['estimator'].iloc[0]}|{r['outcome'].iloc[0]}|{r['estimand'].iloc[0]}"
        labels = {"scenario": r["scenario"].iloc[0], "estimator": ESTIMATORS[r["estimator"].iloc[0]][0],
                  "outcome": r["outcome"].iloc[0], "estimand": ESTIMAND_LABELS[r["estimand"].iloc[0]]}
        mc.record_label(f"{key}|labels]", " | ".join(labels.values()))
        line = dict(labels)
        line["reps"] = mc.record_value(f"{key}|reps]", r["n_reps"].iloc[0], "{:d}",
                                       mcse=_count_mcse(r["estimator"].iloc[0], study.bayes_diagnostics))
        for column, (measure_column, mcse_column) in PERFORMANCE_COLUMNS.items():
            text = mc.record_value(f"{key}|{column}]", r[measure_column].iloc[0], "{:.3f}",
                                   mcse=float(mcse_of(r, measure_column).iloc[0]))
            if mcse_column is not None:
                error = mc.record_value(f"{key}|{column} MCSE]", r[mcse_column].iloc[0], "{:.3f}",
                                        mcse=float(mcse_of(r, mcse_column).iloc[0]))
                text = f"{text} ({error})"
            line[column] = text
        shown.append(line)
    shown = pd.DataFrame(shown)
    mc.record_label(f"{name}[columns]", " | ".join(shown.columns))
    return shown


def _recorded_frame(name: str, values: pd.DataFrame, fmt: str, *, mcse=None, tolerance=None) -> pd.DataFrame:
    """`values` as recorded texts (as `reproducibility.record_table`, a missing value shown as an en dash)."""
    texts = pd.DataFrame(index=values.index, columns=values.columns, dtype=object)
    for row in values.index:
        for column in values.columns:
            value, cell = values.loc[row, column], f"{name}[{row}|{column}]"
            if isinstance(value, str) or pd.isna(value):
                texts.loc[row, column] = mc.record_label(cell, MISSING if not isinstance(value, str) else value)
                continue
            spec = {"mcse": None if mcse is None else float(mcse.loc[row, column]),
                    "tolerance": None if tolerance is None else float(tolerance.loc[row, column])}
            texts.loc[row, column] = mc.record_value(cell, value, fmt, **spec)
    labels = [*map(str, values.index), *map(str, values.columns), *(str(n) for n in values.index.names if n)]
    mc.record_label(f"{name}[labels]", " ".join(labels))
    return texts


def recorded_rejection_table(name: str, summary: pd.DataFrame, estimators, scenarios, estimand=None) -> pd.DataFrame:
    """`measures.rejection_pivot` as recorded texts, each rate with its MCSE (`measures.proportion_mcse`)."""
    return _recorded_frame(name, rejection_pivot(summary, estimators, scenarios, estimand), "{:.3f}",
                           mcse=rejection_pivot_mcse(summary, estimators, scenarios, estimand))


def recorded_verdict_table(name: str, study, summary: pd.DataFrame) -> pd.DataFrame:
    """`measures.verdict_table` as recorded texts: the lowest coverage and largest |bias| / SE with their
    MCSEs (`measures.verdict_table_mcse`), counts of replicates and failed fits exact (Bayesian fits: with
    the binomial MCSE of `failed_fits_mcse`), names and grades as labels, the worst case as a choice among the
    cells tied with it (`measures.worst_case_ties`)."""
    table, errors = verdict_table(summary), verdict_table_mcse(summary)
    ties = worst_case_ties(summary, k=mc.K)
    bayes = table["estimator"].eq(SHORT_LABELS["mediation_bayes"]).to_numpy()
    count_mcse = np.where(bayes, failed_fits_mcse(study.bayes_diagnostics), 0.0)
    texts = table.astype(object).copy()
    for i in table.index:
        key = f"{name}[{table.loc[i, 'estimator']}|{table.loc[i, 'estimand']}"
        for column in table.columns:
            value = table.loc[i, column]
            if column in ("replicates", "failed fits"):
                texts.loc[i, column] = mc.record_value(f"{key}|{column}]", value, "{:d}",
                                                       mcse=float(count_mcse[table.index.get_loc(i)]))
            elif column in errors.columns:
                texts.loc[i, column] = mc.record_value(f"{key}|{column}]", value, "{:.3f}",
                                                       mcse=errors.loc[i, column])
            elif column == "worst case":  # an argmin of Monte-Carlo coverages: ties may swap places
                texts.loc[i, column] = mc.record_choice(f"{key}|{column}]", str(value),
                                                        ties[table.index.get_loc(i)])
            else:
                texts.loc[i, column] = mc.record_label(f"{key}|{column}]", str(value))
    return texts


def recorded_bayes_diagnostics(name: str, study) -> pd.DataFrame:
    """The convergence of the Bayesian fits (number of fits; smallest and largest over the fits of the largest
    R-hat, the smallest bulk ESS and the divergences) as recorded texts. R-hat and ESS have no MCSE: R-hat
    within ± 0.005, an ESS within ± 25%; divergences with `divergences_mcse`; the number of fits is exact."""
    diag = study.bayes_diagnostics
    frame = diag.describe().loc[["count", "min", "max"], ["max_rhat", "min_ess_bulk", "divergences"]]
    frame = frame.rename_axis("over the fits")
    tolerance = pd.DataFrame({"max_rhat": 0.005, "min_ess_bulk": 0.25 * frame["min_ess_bulk"]}, index=frame.index)
    texts = pd.DataFrame(index=frame.index, columns=frame.columns, dtype=object)
    formats = {"max_rhat": "{:.3f}", "min_ess_bulk": "{:.0f}", "divergences": "{:.0f}"}
    for row in frame.index:
        for column in frame.columns:
            cell = f"{name}[{row}|{column}]"
            if row == "count":
                spec = {"mcse": 0}
            elif column == "divergences":
                spec = {"mcse": divergences_mcse(diag)}
            else:
                spec = {"tolerance": float(tolerance.loc[row, column])}
            texts.loc[row, column] = mc.record_value(cell, frame.loc[row, column], formats[column], **spec)
    mc.record_label(f"{name}[labels]", " ".join([*frame.index, *frame.columns, "over the fits"]))
    return texts


def summary_markdown(numbers: dict[str, str]) -> str:
    """The page's closing summary (bullets), from the glued values and verdicts only."""
    return "\n".join([
        f"- {numbers['nb08_n_fast']} simulated cohorts (SIMULATED data) run through the book's own pipeline, "
        f"{numbers['nb08_n_boot_reps']} of them per scenario also with the bootstrap AIPW interval, plus "
        f"{numbers['nb08_n_bayes']} Bayesian fits ({numbers['nb08_bayes_failed']} failed the diagnostics guard).",
        f"- Headline estimator (matched difference): coverage {numbers['nb08_cov_main_gad7']} / "
        f"{numbers['nb08_cov_main_phq9']} / {numbers['nb08_cov_main_nrs']} (GAD-7 / PHQ-9 / NRS), "
        f"{numbers['nb08_main_within']} the Monte-Carlo band; power {numbers['nb08_power_main_gad7']} / "
        f"{numbers['nb08_power_main_phq9']} / {numbers['nb08_power_main_nrs']}. {numbers['nb08_main_verdict']}",
        f"- Unadjusted comparison: bias {numbers['nb08_naive_bias_gad7']} GAD-7 points "
        f"({numbers['nb08_naive_bias_word']}).",
        f"- AIPW: {numbers['nb08_aipw_verdict']} {numbers['nb08_aipw_boot_verdict']}",
        f"- Mediation. {numbers['nb08_delta_family']} {numbers['nb08_bayes_family']}",
        f"- Trustworthy at 290 patients: {numbers['nb08_trustworthy']}. Not trustworthy: "
        f"{numbers['nb08_not_trustworthy']}. Inconclusive: {numbers['nb08_inconclusive']}.",
    ])
