"""The numbers and computed sentences of notebook 08, so the page's cells stay a call, a glue or a display.

Every word that depends on a result ("inside the band", "trustworthy", "biased") is chosen here from the
numbers or from the `Verdict` objects of `measures`, never typed into the page.
"""

from __future__ import annotations

import pandas as pd

from dexmood import book
from dexmood.validation.measures import (
    MAX_COVERAGE_MCSE,
    coverage_band,
    family_sentence,
    measure,
    names_with_grade,
    replicates_for_coverage_mcse,
    verdicts,
)
from dexmood.validation.scenarios import (
    ATT_OUTCOMES,
    MAIN_ESTIMATOR,
    MEDIATION_OUTCOMES,
    published_mediation_range,
)
from dexmood.verdict import Grade

#: Rows and scenarios of the page's figures and tables.
N290 = ("published", "published_conf0", "published_conf2", "null", "null_conf2")
ADJUSTED = (("matched_difference", "att"), ("matched_regression", "att"), ("ipw_att", "att"), ("overlap", "ato"),
            ("aipw_att", "att"), ("aipw_att_bootstrap", "att"))
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


def page_numbers(study, summary: pd.DataFrame) -> dict[str, str]:
    """Every glued value of notebook 08 as text, keyed by glue name."""
    def m(scenario, estimator, outcome, estimand, column):
        return measure(summary, scenario, estimator, outcome, estimand, column)

    judged = verdicts(summary)
    n_main = int(m("published", MAIN_ESTIMATOR, "gad7", "att", "n_reps"))
    band_main = coverage_band(n_main)
    n_bayes = int(len(study.bayes_diagnostics))
    fast = study.replicates[study.replicates["estimator"] != "mediation_bayes"]
    boot = summary[summary["estimator"] == "aipw_att_bootstrap"]
    out = {
        "nb08_n_fast": f"{int(fast.groupby('scenario')['replicate'].nunique().sum()):,}",
        "nb08_n_main": f"{n_main:,}", "nb08_n_bayes": f"{n_bayes:d}",
        "nb08_n_5000": f"{int(m('published_n5000', MAIN_ESTIMATOR, 'gad7', 'att', 'n_reps')):d}",
        "nb08_n_boot_reps": f"{int(boot['n_reps'].min()) if len(boot) else 0:,}",
        "nb08_boot_scenarios": ", ".join(dict.fromkeys(boot["scenario"])) or "none",
        "nb08_band_main_low": f"{band_main[0]:.3f}", "nb08_band_main_high": f"{band_main[1]:.3f}",
        "nb08_band_500_low": f"{coverage_band(500)[0]:.3f}", "nb08_band_500_high": f"{coverage_band(500)[1]:.3f}",
        "nb08_main_within": _inside([m("published", MAIN_ESTIMATOR, o, "att", "coverage") for o in ATT_OUTCOMES],
                                    band_main),
        "nb08_mcse_limit": f"{MAX_COVERAGE_MCSE:g}", "nb08_reps_needed": f"{replicates_for_coverage_mcse():d}",
        "nb08_trustworthy": names_with_grade(judged, Grade.SUPPORTED),
        "nb08_not_trustworthy": names_with_grade(judged, Grade.NOT_SUPPORTED),
        "nb08_inconclusive": names_with_grade(judged, Grade.INCONCLUSIVE),
        "nb08_main_verdict": judged[MAIN_ESTIMATOR, "att"].sentence,
        "nb08_delta_family": family_sentence(judged, "mediation_delta"),
        "nb08_bayes_family": family_sentence(judged, "mediation_bayes"),
        "nb08_aipw_verdict": judged["aipw_att", "att"].sentence,
        "nb08_aipw_boot_verdict": (judged["aipw_att_bootstrap", "att"].sentence
                                   if ("aipw_att_bootstrap", "att") in judged else "not run"),
    }
    for o in ATT_OUTCOMES:
        out[f"nb08_cov_main_{o}"] = f"{m('published', MAIN_ESTIMATOR, o, 'att', 'coverage'):.3f}"
        out[f"nb08_bias_main_{o}"] = f"{m('published', MAIN_ESTIMATOR, o, 'att', 'bias'):.3f}"
        out[f"nb08_power_main_{o}"] = f"{m('published', MAIN_ESTIMATOR, o, 'att', 'rejection'):.0%}"
        out[f"nb08_type1_main_{o}"] = f"{m('null', MAIN_ESTIMATOR, o, 'att', 'rejection'):.1%}"
    for scenario in ("published", "published_conf2", "published_n1000", "published_n5000"):
        out[f"nb08_retained_{scenario}"] = f"{m(scenario, MAIN_ESTIMATOR, 'gad7', 'att', 'treated_retained'):.0%}"
    # confounding: the unadjusted difference, scored against the same target as IPW/AIPW
    naive = {s: (m(s, "naive_difference", "gad7", "att", "bias"), m(s, "naive_difference", "gad7", "att", "bias_mcse"))
             for s in ("published", "published_conf2")}
    out["nb08_naive_bias_gad7"] = f"{naive['published'][0]:.2f}"
    out["nb08_naive_bias_conf2_gad7"] = f"{naive['published_conf2'][0]:.2f}"
    out["nb08_naive_bias_word"] = _significant(*naive["published"])
    out["nb08_naive_cov_gad7"] = f"{m('published', 'naive_difference', 'gad7', 'att', 'coverage'):.2f}"
    out["nb08_true_att_gad7"] = f"{m('published', 'naive_difference', 'gad7', 'att', 'mean_truth'):.2f}"
    for e in ("ipw_att", "aipw_att", "matched_difference") + (("aipw_att_bootstrap",) if len(boot) else ()):
        worst = min(m("published_conf2", e, o, "att", "coverage") for o in ATT_OUTCOMES)
        out[f"nb08_cov_conf2_{e}"] = f"{worst:.3f}"
    for e in ("ipw_att", "aipw_att"):
        out[f"nb08_se_ratio_conf2_{e}"] = f"{m('published_conf2', e, 'phq9', 'att', 'se_ratio'):.2f}"
    if not len(boot):
        out["nb08_cov_conf2_aipw_att_bootstrap"] = "not run"
    large = summary[summary["scenario"].eq("published_n5000") & summary["estimator"].isin(LARGE_ESTIMATORS)]
    worst_large = large.loc[large["bias"].abs().idxmax()]
    out["nb08_max_bias_n5000"] = f"{abs(worst_large['bias']):.3f}"
    out["nb08_max_bias_n5000_share"] = f"{abs(worst_large['bias'] / worst_large['mean_truth']):.0%}"
    out["nb08_max_bias_n5000_word"] = _significant(worst_large["bias"], worst_large["bias_mcse"])
    # mediation
    for o in MEDIATION_OUTCOMES:
        out[f"nb08_acme_cov_{o}"] = f"{m('published', 'mediation_delta', o, 'acme_treated', 'coverage'):.3f}"
        out[f"nb08_acme_power_{o}"] = f"{m('published', 'mediation_delta', o, 'acme_treated', 'rejection'):.0%}"
        out[f"nb08_acme_power_n1000_{o}"] = f"{m('published_n1000', 'mediation_delta', o, 'acme_treated', 'rejection'):.0%}"
        out[f"nb08_acme_type1_{o}"] = f"{m('no_pain_to_mood', 'mediation_delta', o, 'acme_treated', 'rejection'):.1%}"
        out[f"nb08_pm_truth_{o}"] = f"{m('published', 'mediation_delta', o, 'proportion_mediated', 'mean_truth'):.0%}"
        out[f"nb08_pm_rmse_{o}"] = f"{m('published', 'mediation_delta', o, 'proportion_mediated', 'rmse'):.2f}"
        out[f"nb08_pm_width_{o}"] = f"{m('published', 'mediation_delta', o, 'proportion_mediated', 'mean_ci_width'):.2f}"
        out[f"nb08_acme_bayes_cov_{o}"] = (f"{m('published', 'mediation_bayes', o, 'acme_treated', 'coverage'):.2f}"
                                           if n_bayes else "–")
    out["nb08_acme_band_word"] = _inside([m("published", "mediation_delta", o, "acme_treated", "coverage")
                                          for o in MEDIATION_OUTCOMES], band_main)
    low, high = published_mediation_range()
    widths = [m("published", "mediation_delta", o, "proportion_mediated", "mean_ci_width") for o in MEDIATION_OUTCOMES]
    out["nb08_pm_width_ratio"] = f"{min(widths) / (high - low):.1f}"
    out["nb08_pm_published"] = f"{low:.0%}–{high:.0%}"
    diag = study.bayes_diagnostics
    out["nb08_bayes_failed"] = f"{int((~diag['passed'].astype(bool)).sum()) if n_bayes else 0:d}"
    out["nb08_bayes_max_rhat"] = f"{diag['max_rhat'].max():.3f}" if n_bayes else "–"
    out["nb08_bayes_min_ess"] = f"{diag['min_ess_bulk'].min():.0f}" if n_bayes else "–"
    out["nb08_bayes_divergences"] = f"{int(diag['divergences'].sum()) if n_bayes else 0:d}"
    return out


def glue_page(numbers: dict[str, str]) -> None:
    """Glue every value of `page_numbers` for `{glue:text}` in the page's prose."""
    for name, text in numbers.items():
        book.glue_value(name, text)


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
