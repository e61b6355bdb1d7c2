"""Run every sensitivity method on one match, one robustness dashboard, and the results.json block.

`run_sensitivity` runs each method on its own: a method that cannot run on this cohort raises
`AnalysisNotPossible`, which is caught here and kept as that method's one-sentence reason; the rest still
runs. The dashboard puts a `Verdict` per outcome × check beside the number it rests on. The within-pair
randomisation test is shown in its section but is not a robustness check (it repeats the significance test).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dexmood import mediation
from dexmood.errors import AnalysisNotPossible
from dexmood.sensitivity import (
    confounding,
    medsens_monte_carlo,
    missing,
    randomisation,
    specification,
    subgroups,
)
from dexmood.sensitivity import verdicts as rules
from dexmood.sensitivity._common import MEDIATED_OUTCOMES, OUTCOME_COLUMNS, OUTCOME_LABELS, OUTCOMES, prepared
from dexmood.sensitivity.medsens import medsens, medsens_check
from dexmood.settings import SETTINGS, Settings
from dexmood.verdict import Grade, Verdict


@dataclass
class SensitivityResults:
    """Each method's result, or the `AnalysisNotPossible` that says why it could not run."""

    parts: dict = field(default_factory=dict)
    settings: Settings = SETTINGS

    def ok(self, name: str) -> bool:
        return name in self.parts and not isinstance(self.parts[name], Exception)

    def get(self, name: str):
        """The result of `name`; re-raises its `AnalysisNotPossible` if it could not run."""
        part = self.parts[name]
        if isinstance(part, Exception):
            raise part
        return part

    def reason(self, name: str) -> str:
        part = self.parts.get(name)
        return str(part) if isinstance(part, Exception) else ""

    def reasons(self) -> dict[str, str]:
        return {name: str(part) for name, part in self.parts.items() if isinstance(part, Exception)}


def header(cohort, match, results: SensitivityResults) -> str:
    """The page's first lines: the data, the matched pairs and how many methods could not run."""
    return (f"{cohort.label}\nmatched pairs: {match.summary['pairs']}; "
            f"methods that could not run: {len(results.reasons())}")


def attempt(results: SensitivityResults, name: str, method: Callable, *args, **kwargs) -> None:
    """Run one method and store its result, or its reason if it cannot run on this cohort."""
    try:
        results.parts[name] = method(*args, **kwargs)
    except AnalysisNotPossible as reason:
        results.parts[name] = reason


def _medsens_all(matched, covariates) -> dict:
    return {key: medsens(matched, OUTCOME_COLUMNS[key], covariates=covariates) for key in MEDIATED_OUTCOMES}


def _medsens_check_all(matched, covariates) -> pd.DataFrame:
    return pd.concat([medsens_check(matched, OUTCOME_COLUMNS[key], covariates=covariates)
                      for key in MEDIATED_OUTCOMES], ignore_index=True).assign(
        outcome=lambda t: t["outcome"].str.replace("_change", "", regex=False))


def _monte_carlo(matched, covariates, settings) -> dict:
    data = mediation.prepare_data(matched, covariates)
    nodes, _ = medsens_monte_carlo.gauss_hermite_rho()
    fits = medsens_monte_carlo.hook_fits(data, nodes, settings=settings)
    results = {key: medsens_monte_carlo.monte_carlo_medsens(fits, key, settings=settings) for key in MEDIATED_OUTCOMES}
    return {"fits": fits, "results": results}


def run_sensitivity(frame: pd.DataFrame, match_result, *, settings: Settings = SETTINGS,
                    monte_carlo: bool = False) -> SensitivityResults:
    """Every sensitivity analysis of the matched sample `match_result` of cohort `frame` (raw cohort data).
    `monte_carlo=True` adds the Monte-Carlo mediation sensitivity analysis (PyMC fits, cached)."""
    matched = prepared(match_result.data)
    covariates = list(match_result.propensity.covariates)
    results = SensitivityResults(settings=settings)
    attempt(results, "confounding", confounding.unmeasured_confounding_table, matched)
    attempt(results, "subgroups", subgroups.subgroup_table, matched, settings=settings)
    attempt(results, "specification", specification.specification_curve, frame, main_match=match_result,
            settings=settings)
    attempt(results, "rosenbaum", confounding.rosenbaum_long_table, matched)
    attempt(results, "bias", confounding.bias_table, frame, matched, settings=settings)
    attempt(results, "medsens", _medsens_all, matched, covariates)
    attempt(results, "medsens_check", _medsens_check_all, matched, covariates)
    attempt(results, "missing", missing.missing_data_table, frame, matched, covariates, settings=settings)
    attempt(results, "randomisation", randomisation.randomisation_table, matched, settings=settings)
    if monte_carlo:
        attempt(results, "monte_carlo", _monte_carlo, matched, covariates, settings)
    return results


# --- dashboard ------------------------------------------------------------------------------------------

def _specification_check(results, key):
    if not results.ok("specification"):
        return "—", rules.not_assessed("specifications agreeing in sign", results.reason("specification"))
    summary = specification.specification_summary(results.get("specification")).set_index("outcome").loc[key]
    shown = f"ATT {summary['min']:.2f} to {summary['max']:.2f} (main {summary['main']:.2f})"
    if np.isfinite(summary["ato"]):
        shown += f"; ATO (overlap weights, other estimand) {summary['ato']:.2f}"
    return shown, rules.verdict_specification(int(summary["specifications"]), int(summary["same_sign"]),
                                              int(summary["ci_excludes_0"]))


def _confounding_checks(results, key):
    if not results.ok("confounding"):
        reason = results.reason("confounding")
        return [("E-value (point / CI)", "—", rules.not_assessed("E-value", reason)),
                ("Rosenbaum Γ (Wilcoxon)", "—", rules.not_assessed("Γ", reason))]
    row = results.get("confounding").set_index("outcome").loc[key]
    evalue = ("E-value (point / CI)", "—", rules.not_assessed("E-value", row["evalue_note"])) if row["evalue_note"] \
        else ("E-value (point / CI)", f"{row['evalue']:.2f} / {row['evalue_ci']:.2f}", rules.verdict_evalue(row["evalue_ci"]))
    gamma = float(row["rosenbaum_gamma"])
    rosenbaum = ("Rosenbaum Γ (Wilcoxon)", "—", rules.not_assessed("Γ", row["rosenbaum_note"])) \
        if row["rosenbaum_note"] else ("Rosenbaum Γ (Wilcoxon)", "∞" if np.isinf(gamma) else f"{gamma:.2f}",
                                       rules.verdict_gamma(gamma))
    return [evalue, rosenbaum]


def _bias_check(results, key):
    if not results.ok("bias"):
        return "—", rules.not_assessed("bias-corrected 95% interval", results.reason("bias"))
    table, chosen = results.get("bias")
    analysis = chosen[key]
    att = float(table.loc[table["outcome"] == key, "att"].iloc[0])
    shown = f"θ {analysis.median:.2f} [{analysis.ci_low:.2f}, {analysis.ci_high:.2f}]"
    return shown, rules.verdict_bias(analysis.ci_low, analysis.ci_high, att, analysis.p_same_sign)


def _rho_check(results, key):
    if key not in MEDIATED_OUTCOMES:
        return "—", rules.verdict_rho(None)
    if not results.ok("medsens"):
        return "—", rules.not_assessed("ρ at which the ACME vanishes", results.reason("medsens"))
    rho = results.get("medsens")[key].rho_at_zero
    return f"{rho:.2f}", rules.verdict_rho(rho)


def _missing_check(results, key):
    if not results.ok("missing"):
        return "—", rules.not_assessed("δ tipping point (points)", results.reason("missing"))
    row = results.get("missing").set_index("outcome").loc[key]
    sd = pooled_sd_of(results, key)
    shown = f"MI {row['mi_estimate']:.2f} [{row['mi_ci_low']:.2f}, {row['mi_ci_high']:.2f}]; {row['tipping']}"
    return shown, rules.verdict_missing(row["mi_ci_low"], row["mi_ci_high"], row["delta_tipping"],
                                        row["share_imputed_dex"], sd, row["mi_estimate"])


def pooled_sd_of(results: SensitivityResults, key: str) -> float:
    if results.ok("confounding"):
        return float(results.get("confounding").set_index("outcome").loc[key, "sd"])
    return float("nan")


def subgroup_verdict(table: pd.DataFrame, key: str, subgroup: str = "comorbidity") -> Verdict:
    """The effect-modification verdict of one outcome × subgroup variable from `subgroup_table`."""
    block = table[(table["outcome"] == key) & (table["subgroup"] == subgroup)]
    if block.empty:
        return rules.not_assessed("interaction p-value", "no patients in this subgroup variable")
    small = [f"{level}: {status}" for level, status in zip(block["level"], block["status"], strict=True)
             if status != "estimated" and level != "neither"]
    first = block.iloc[0]
    return rules.verdict_subgroup(float(first["p_interaction"]), int(first["df_interaction"]),
                                  float(first["df_denominator"]), small)


def _subgroup_check(results, key):
    if not results.ok("subgroups"):
        return "—", rules.not_assessed("interaction p-value", results.reason("subgroups"))
    verdict = subgroup_verdict(results.get("subgroups"), key)
    shown = "—" if verdict.value is None else f"interaction p = {verdict.value:.2f}"
    return shown, verdict


def dashboard(results: SensitivityResults, outcomes=OUTCOMES) -> pd.DataFrame:
    """One row per outcome × check: what is shown, the verdict (grade, sentence) and whether the row is a
    robustness check (the subgroup row grades effect modification, a different claim)."""
    rows = []
    for key in outcomes:
        checks = [("specification curve (ATT)", *_specification_check(results, key)),
                  *_confounding_checks(results, key),
                  ("Bayesian bias analysis", *_bias_check(results, key)),
                  ("mediation ρ (ACME = 0)", *_rho_check(results, key)),
                  ("missing follow-up (MI, δ tipping)", *_missing_check(results, key))]
        for check, shown, verdict in checks:
            rows.append({"outcome": OUTCOME_LABELS[key], "check": check, "result": shown, "grade": verdict.grade,
                         "verdict": verdict.sentence, "robustness": True, "verdict_object": verdict})
        check, (shown, verdict) = "subgroup: both vs one (effect modification)", _subgroup_check(results, key)
        rows.append({"outcome": OUTCOME_LABELS[key], "check": check, "result": shown, "grade": verdict.grade,
                     "verdict": verdict.sentence, "robustness": False, "verdict_object": verdict})
    return pd.DataFrame(rows)


def dashboard_counts(board: pd.DataFrame) -> dict:
    """Robustness checks by grade, and per outcome the checks graded fragile."""
    robust = board[board["robustness"]]
    counts = {grade.value: int((robust["grade"] == grade).sum()) for grade in Grade}
    fragile = {label: ", ".join(block.loc[block["grade"] == Grade.NOT_SUPPORTED, "check"]) or "none"
               for label, block in robust.groupby("outcome", sort=False)}
    return {"checks": len(robust), "by_grade": counts, "fragile": fragile}


def display_board(board: pd.DataFrame) -> pd.DataFrame:
    """The dashboard as shown: outcome × check, result, grade word and sentence."""
    shown = board.assign(grade=board["grade"].map(lambda g: rules.WORDS[g] if g in rules.WORDS else str(g)))
    return shown.set_index(["outcome", "check"])[["result", "grade", "verdict"]]


# --- results.json ---------------------------------------------------------------------------------------

def results_section(match_result, cohort=None, settings: Settings = SETTINGS) -> dict:
    """The ``"sensitivity"`` block of results.json for a `dexmood.matching.MatchResult` (1:1 pairs).

    Per outcome: E-value of the point estimate and of the CI limit closer to 0, Rosenbaum's critical Γ
    (Wilcoxon signed rank, α = 0.05) and, for GAD-7 and PHQ-9, the ρ at which the ACME (linear models, no
    interaction, as medsens) vanishes; None where not defined or not possible, with the reasons under
    ``"not_possible"`` (only when there are any). `cohort` and `settings` are accepted for the pipeline's
    uniform stage signature; these numbers do not depend on random draws.
    """
    matched = prepared(match_result.data)
    covariates = list(match_result.propensity.covariates)
    table = confounding.unmeasured_confounding_table(matched).set_index("outcome")
    block, reasons = {}, []
    for key in OUTCOMES:
        row = table.loc[key]
        rho = None
        if key in MEDIATED_OUTCOMES:
            try:
                rho = round(float(medsens(matched, OUTCOME_COLUMNS[key], covariates=covariates).rho_at_zero), 6)
            except AnalysisNotPossible as reason:
                reasons.append(f"{OUTCOME_LABELS[key]} mediation ρ: {reason}")
        reasons += [f"{OUTCOME_LABELS[key]}: {row[note]}" for note in ("evalue_note", "rosenbaum_note") if row[note]]
        gamma = float(row["rosenbaum_gamma"])
        block[key] = {"evalue": None if row["evalue_note"] else round(float(row["evalue"]), 6),
                      "evalue_ci": None if row["evalue_note"] else round(float(row["evalue_ci"]), 6),
                      "rosenbaum_gamma": None if (row["rosenbaum_note"] or np.isinf(gamma)) else round(gamma, 6),
                      "medsens_rho": rho}
    if reasons:
        block["not_possible"] = reasons
    return {"sensitivity": block}
