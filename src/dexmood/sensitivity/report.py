"""What notebook 05 shows and glues, computed from a `SensitivityResults` (the notebook only calls these).

`glue_values` returns every number and verdict sentence of the page's prose as text (a method that could not
run gives its reason instead, so the page still builds for any cohort); `glue` glues them; `show` displays a
method's table as a numbered, captioned table (`dexmood.tables`, label ``tbl-nb05-<name>`` from `TABLES`) and
`plot` returns its figure, or each displays a note box with the reason the method could not run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from dexmood import book, tables
from dexmood.sensitivity import figures, missing, randomisation, specification, verdicts
from dexmood.sensitivity._common import MEDIATED_OUTCOMES, OUTCOME_LABELS, OUTCOMES
from dexmood.sensitivity.dashboard import SensitivityResults, dashboard, dashboard_counts, subgroup_verdict
from dexmood.sensitivity.medsens_monte_carlo import RHO_PRIOR_SD, monte_carlo_table
from dexmood.verdict import Grade

NOT_AVAILABLE = "not available"


def _number(value, fmt: str = "{:.2f}") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "∞" if value is not None and np.isinf(value) else NOT_AVAILABLE
    return fmt.format(value)


def _subgroup_values(results: SensitivityResults) -> dict:
    out = {"nb05_min_arm": str(results.settings.min_subgroup_arm)}
    if not results.ok("subgroups"):
        return out
    table = results.get("subgroups")
    counts = table[(table["outcome"] == OUTCOMES[0]) & (table["subgroup"] == "comorbidity")].set_index("level")["n"]
    out["nb05_n_both"] = str(int(counts.get("both", 0)))
    out["nb05_n_one_only"] = str(int(counts.get("one only", 0)))
    for key in OUTCOMES:
        for subgroup, name in (("comorbidity", "comorbid"), ("severity", "severity")):
            p = table[(table["outcome"] == key) & (table["subgroup"] == subgroup)]["p_interaction"]
            out[f"nb05_int_{name}_{key}"] = f"p = {p.iloc[0]:.2f}" if len(p) and np.isfinite(p.iloc[0]) \
                else "not tested"
        out[f"nb05_int_comorbid_verdict_{key}"] = subgroup_verdict(table, key).sentence
    return out


def _specification_values(results: SensitivityResults) -> dict:
    out = {"nb05_n_specs": str(sum(s.estimand == "ATT" for s in specification.SPECIFICATIONS))}
    if not results.ok("specification"):
        return out
    curve = results.get("specification")
    for row in specification.specification_summary(curve).itertuples():
        out[f"nb05_spec_min_{row.outcome}"] = _number(row.min)
        out[f"nb05_spec_max_{row.outcome}"] = _number(row.max)
        out[f"nb05_spec_excl_{row.outcome}"] = f"{row.ci_excludes_0}/{row.specifications}"
        out[f"nb05_ato_{row.outcome}"] = _number(row.ato)
    widths = curve.assign(width=curve.ci_high - curve.ci_low).groupby("label", sort=False)["width"].mean()
    out["nb05_widest_spec"] = str(widths.idxmax())
    return out


def _confounding_values(results: SensitivityResults) -> dict:
    out = {}
    if results.ok("confounding"):
        table = results.get("confounding").set_index("outcome")
        for key in OUTCOMES:
            out[f"nb05_evalue_{key}"] = _number(table.loc[key, "evalue"])
            out[f"nb05_evalue_ci_{key}"] = _number(table.loc[key, "evalue_ci"])
            out[f"nb05_gamma_{key}"] = _number(table.loc[key, "rosenbaum_gamma"])
            out[f"nb05_gamma_verdict_{key}"] = verdicts.verdict_gamma(table.loc[key, "rosenbaum_gamma"]).sentence
    if results.ok("bias"):
        table, chosen = results.get("bias")
        one_sided = table[table["prior"] == "favouring DEX"].set_index("outcome")
        for key in OUTCOMES:
            analysis = chosen[key]
            out[f"nb05_bias_scale_{key}"] = _number(one_sided.loc[key, "prior_scale"])
            out[f"nb05_bias_p_{key}"] = _number(analysis.p_same_sign)
            out[f"nb05_bias_ci_{key}"] = f"{analysis.ci_low:.2f} to {analysis.ci_high:.2f}"
            out[f"nb05_tipping_bias_{key}"] = _number(abs(analysis.tipping_bias))
            out[f"nb05_bias_verdict_{key}"] = verdicts.verdict_bias(
                analysis.ci_low, analysis.ci_high, one_sided.loc[key, "att"], analysis.p_same_sign).sentence
    return out


def _mediation_values(results: SensitivityResults, published: dict | None) -> dict:
    out = {"nb05_rho_prior_sd": f"{RHO_PRIOR_SD:.1f}"}
    if published:
        low, high = published["ren2025_cohort"]["proportion_mediated_by_pain_relief"]["range"]
        out["nb05_published_share"] = f"{100 * low:.0f}–{100 * high:.0f}%"
    if results.ok("medsens"):
        for key, result in results.get("medsens").items():
            out[f"nb05_rho_{key}"] = _number(result.rho_at_zero)
            out[f"nb05_rho_r2_{key}"] = _number(result.rho_at_zero**2)
            out[f"nb05_rho_verdict_{key}"] = verdicts.verdict_rho(result.rho_at_zero).sentence
    if results.ok("medsens_check"):
        check = results.get("medsens_check")
        out["nb05_medsens_check"] = verdicts.verdict_medsens_check(float(check["relative_difference"].max())).sentence
        out["nb05_medsens_check_rhos"] = ", ".join(f"{r:g}" for r in dict.fromkeys(check["rho"]))
    if results.ok("monte_carlo"):
        for key, result in results.get("monte_carlo")["results"].items():
            out[f"nb05_mc_acme_{key}"] = _number(result["acme_median"])
            out[f"nb05_mc_acme_ci_{key}"] = f"{result['acme_low']:.2f} to {result['acme_high']:.2f}"
            out[f"nb05_mc_share_{key}"] = _number(result["share_same_sign"])
            out[f"nb05_mc_rho_{key}"] = _number(result["rho_zero_median"])
            out[f"nb05_mc_rho_ci_{key}"] = f"{result['rho_zero_low']:.2f} to {result['rho_zero_high']:.2f}"
    return out


def _missing_values(results: SensitivityResults, board: pd.DataFrame) -> dict:
    out = {"nb05_n_imputations": str(missing.N_IMPUTATIONS)}
    if not results.ok("missing"):
        return out
    table = results.get("missing")
    for row in table.itertuples():
        out[f"nb05_mi_{row.outcome}"] = _number(row.mi_estimate)
        out[f"nb05_mi_ci_{row.outcome}"] = f"{row.mi_ci_low:.2f} to {row.mi_ci_high:.2f}"
        out[f"nb05_cc_{row.outcome}"] = _number(row.cc_estimate)
        out[f"nb05_tipping_{row.outcome}"] = row.tipping
    rows = board[board["check"].str.startswith("missing")].set_index("outcome")["verdict"]
    for key in OUTCOMES:
        out[f"nb05_missing_verdict_{key}"] = rows[OUTCOME_LABELS[key]]
    out["nb05_imputed_dex"] = str(int(table["imputed_dex"].iloc[0]))
    out["nb05_imputed_la"] = str(int(table["imputed_la"].iloc[0]))
    return out


def _dashboard_values(results: SensitivityResults, board: pd.DataFrame) -> dict:
    counts = dashboard_counts(board)
    out = {"nb05_n_checks": str(counts["checks"]),
           "nb05_n_robust": str(counts["by_grade"][Grade.SUPPORTED.value]),
           "nb05_n_moderate": str(counts["by_grade"][Grade.INCONCLUSIVE.value]),
           "nb05_n_fragile": str(counts["by_grade"][Grade.NOT_SUPPORTED.value]),
           "nb05_n_not_assessed": str(counts["by_grade"][Grade.NOT_ASSESSED.value]),
           "nb05_thr_evalue": f"{verdicts.EVALUE_STRONG:.1f}", "nb05_thr_gamma": f"{verdicts.GAMMA_STRONG:.1f}",
           "nb05_thr_rho": f"{verdicts.RHO_STRONG:.1f}", "nb05_thr_delta_sd": f"{verdicts.DELTA_STRONG_SD:.0f}",
           "nb05_n_permutations": f"{results.settings.n_permutations:,d}",
           "nb05_randomisation_name": randomisation.NAME}
    for key, label in zip(OUTCOMES, dict.fromkeys(board["outcome"]), strict=True):
        out[f"nb05_fragile_{key}"] = counts["fragile"].get(label, "none")
    if results.ok("randomisation"):
        for row in results.get("randomisation")[0].itertuples():
            out[f"nb05_rand_p_{row.outcome}"] = f"{row.p:.4f}"
    return out


#: Every key of the page's prose ("{k}": each outcome, "{m}": each mediated outcome).
KEYS = (
    "nb05_min_arm", "nb05_n_both", "nb05_n_one_only", "nb05_int_comorbid_{k}", "nb05_int_severity_{k}",
    "nb05_int_comorbid_verdict_{k}", "nb05_n_specs", "nb05_spec_min_{k}", "nb05_spec_max_{k}",
    "nb05_spec_excl_{k}", "nb05_ato_{k}", "nb05_widest_spec", "nb05_evalue_{k}", "nb05_evalue_ci_{k}",
    "nb05_gamma_{k}", "nb05_gamma_verdict_{k}", "nb05_bias_scale_{k}", "nb05_bias_ci_{k}", "nb05_tipping_bias_{k}",
    "nb05_bias_verdict_{k}", "nb05_rho_prior_sd", "nb05_published_share", "nb05_rho_{m}", "nb05_rho_r2_{m}",
    "nb05_rho_verdict_{m}", "nb05_medsens_check", "nb05_medsens_check_rhos", "nb05_mc_acme_{m}",
    "nb05_mc_acme_ci_{m}", "nb05_mc_share_{m}", "nb05_mc_rho_{m}", "nb05_mc_rho_ci_{m}", "nb05_n_imputations",
    "nb05_mi_{k}", "nb05_mi_ci_{k}", "nb05_cc_{k}", "nb05_tipping_{k}", "nb05_missing_verdict_{k}",
    "nb05_imputed_dex", "nb05_imputed_la", "nb05_n_checks", "nb05_n_robust", "nb05_n_moderate", "nb05_n_fragile",
    "nb05_n_not_assessed", "nb05_thr_evalue", "nb05_thr_gamma", "nb05_thr_rho", "nb05_thr_delta_sd",
    "nb05_n_permutations", "nb05_fragile_{k}", "nb05_rand_p_{k}",
)


def expected_keys() -> list[str]:
    keys = []
    for template in KEYS:
        if "{k}" in template:
            keys += [template.format(k=key) for key in OUTCOMES]
        elif "{m}" in template:
            keys += [template.format(m=key) for key in MEDIATED_OUTCOMES]
        else:
            keys.append(template)
    return keys


def glue_values(results: SensitivityResults, board: pd.DataFrame | None = None,
                published: dict | None = None) -> dict[str, str]:
    """Every glued value of notebook 05, as text; a value whose method could not run is "not available"
    (the page shows the reason in that method's box)."""
    board = dashboard(results) if board is None else board
    values = dict.fromkeys(expected_keys(), NOT_AVAILABLE)
    for part in (_subgroup_values(results), _specification_values(results), _confounding_values(results),
                 _mediation_values(results, published), _missing_values(results, board),
                 _dashboard_values(results, board)):
        values.update(part)
    return values


def glue(results: SensitivityResults, board: pd.DataFrame | None = None, published: dict | None = None) -> int:
    """Glue every value of `glue_values` (returns how many)."""
    values = glue_values(results, board, published)
    for name, text in values.items():
        book.glue_value(name, text, "{}")
    return len(values)


def not_possible_box(reason: str) -> Markdown:
    return Markdown(f"```{{note}}\nThis analysis could not run on these data: {reason}\n```")


def _evalues(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.set_index("outcome")[["att", "d", "rr", "evalue", "evalue_ci"]]
    shown.columns = ["ATT", "d", "RR ≈ exp(0.91 d)", "E-value (point)", "E-value (CI limit)"]
    return shown


def _main(table: pd.DataFrame) -> pd.DataFrame:
    shown = table[["outcome", "att", "ci_low", "ci_high", "sd", "d", "pairs"]].set_index("outcome")
    shown.columns = ["ATT", "CI 2.5%", "CI 97.5%", "pooled SD", "d = ATT / SD", "complete pairs"]
    return shown


#: view name -> (method whose result it shows, how it is shown)
VIEWS = {
    "main": ("confounding", _main),
    "subgroups": ("subgroups", lambda t: t.set_index(["outcome", "subgroup", "level"])),
    "specification": ("specification", lambda c: specification.specification_summary(c).set_index("outcome")),
    "evalues": ("confounding", _evalues),
    "rosenbaum": ("rosenbaum", lambda t: t.pivot(index="gamma", columns="outcome", values="p_upper")
                  .reindex(columns=[k for k in OUTCOMES if k in set(t["outcome"])])),
    "bias": ("bias", lambda part: part[0].set_index(["outcome", "prior"])),
    "medsens_check": ("medsens_check", lambda t: t.set_index(["outcome", "rho"])),
    "monte_carlo": ("monte_carlo", lambda part: monte_carlo_table(part["results"])),
    "missing": ("missing", lambda t: t.set_index("outcome")),
    "randomisation": ("randomisation", lambda part: part[0].set_index("outcome")),
}


#: view name -> (table name, caption, options of `dexmood.tables.show`); the label is ``tbl-<table name>``
TABLES = {
    "main": ("nb05-main", "The main estimate per outcome: ATT (DEX − LA, 1-month change) with its 95% CI, pooled "
             "within-group SD of the change (score points), standardised effect d and complete pairs.",
             {"decimals": 2}),
    "subgroups": ("nb05-subgroups", "ATT per subgroup level (comorbidity; baseline severity) with its 95% CI in score "
                  "points, its p-value and the F test of the interaction; a level with too few patients per arm is "
                  "not estimated.",
                  {"decimals": {"df": 1, "df_denominator": 1, "p": 3, "p_interaction": 3}}),
    "specification": ("nb05-specification", "The specification curve per outcome: main ATT, smallest and largest ATT "
                      "over the ATT specifications (score points), how many were estimable, agree in sign and "
                      "exclude 0, and the overlap-weighted ATO.", {"decimals": 2}),
    "evalues": ("nb05-evalues", "E-values per outcome: ATT (score points), standardised effect d, the approximate "
                "risk ratio and the E-values of the point estimate and of the CI limit closer to 0.",
                {"decimals": 2}),
    "rosenbaum": ("nb05-rosenbaum", "Rosenbaum bounds: upper bound of the one-sided Wilcoxon signed-rank p-value per "
                  "outcome at each Γ (the odds ratio of hidden bias in treatment assignment).", {"decimals": 4}),
    "bias": ("nb05-bias", "Bayesian bias analysis per outcome and bias prior: prior scale, ATT and bias-corrected "
             "effect θ with its 95% interval (score points), probability of benefit and the tipping bias.",
             {"decimals": 2, "index": True}),
    "medsens_check": ("nb05-medsens-check", "The closed-form ACME under correlation ρ against the iterative medsens "
                      "computation (score points), and their relative difference.",
                      {"decimals": {"closed_form": 3, "iterative": 3, "relative_difference": 6}}),
    "monte_carlo": ("nb05-monte-carlo", "ACME with ρ drawn from its prior (score points): mean, SD, median and 95% "
                    "interval, share of draws on the side of the median, the quadrature check, and the ρ at which "
                    "the ACME is 0.", {"decimals": 2}),
    "missing": ("nb05-missing", "Complete cases against multiple imputation per outcome (ATT and 95% CI in score "
                "points; FMI: fraction of missing information), imputed patients per group, and the δ that tips "
                "the result.", {"decimals": {"fmi": 3, "share_imputed_dex": 3}}),
    "randomisation": ("nb05-randomisation", "Randomisation (sign-flip) test per outcome: pairs, mean pair "
                      "difference, SD and largest absolute value of the randomisation distribution (score points), "
                      "and the p-value.", {"decimals": {"p": 4}}),
}


def table_or_box(results: SensitivityResults, view: str):
    """The table `view` as a DataFrame, or a note box with the reason its method could not run."""
    name, shown = VIEWS[view]
    if not results.ok(name):
        return not_possible_box(results.reason(name))
    return shown(results.get(name))


def show(results: SensitivityResults, view: str) -> None:
    """Display the table `view` as a numbered, captioned table (label ``tbl-`` + its name in `TABLES`), or a note
    box with the reason its method could not run."""
    shown = table_or_box(results, view)
    name, caption, options = TABLES[view]
    if isinstance(shown, Markdown):
        display(shown)
        # the text cites the table: keep its number, with the reason as its only row
        tables.show(pd.DataFrame({"not available": [results.reason(VIEWS[view][0])]}), name, caption)
        return
    tables.show(shown, name, caption, **options)


def _medsens_figure(part, results):
    monte_carlo = results.get("monte_carlo") if results.ok("monte_carlo") else None
    return figures.plot_medsens(part, monte_carlo)


PLOTS = {
    "subgroups": lambda part, results, **kw: figures.plot_subgroups(part),
    "specification": lambda part, results, **kw: figures.plot_specification_curve(part, **kw),
    "rosenbaum": lambda part, results, matched, **kw: figures.plot_rosenbaum(matched),
    "medsens": lambda part, results, **kw: _medsens_figure(part, results),
    "randomisation": lambda part, results, **kw: figures.plot_randomisation(part[1]),
}


def plot(results: SensitivityResults, name: str, **kwargs):
    """The figure of method `name`, or (displayed) a note box with the reason it could not run; returns the
    figure or None."""
    if not results.ok(name):
        display(not_possible_box(results.reason(name)))
        return None
    figure, _ = PLOTS[name](results.get(name), results, **kwargs)
    return figure
