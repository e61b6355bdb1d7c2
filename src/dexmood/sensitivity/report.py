"""What notebook 05 shows and glues, computed from a `SensitivityResults` (the notebook only calls these).

`glue_values` returns every number and verdict sentence of the page's prose as text (a method that could not
run gives its reason instead, so the page still builds for any cohort); `glue` glues them; `show` displays a
method's table as a numbered, captioned table (`dexmood.tables`, label ``tbl-nb05-<name>`` from `TABLES`) and
`plot` returns its figure, or each displays a note box with the reason the method could not run.

Issue 20: every Monte-Carlo number the page shows (bootstrap, bias-analysis draws, PyMC fits at fixed ρ,
multiple imputation, sign flips) is recorded by `dexmood.reproducibility` where it is shown — `glue` (the glued
texts), `show` for `MONTE_CARLO_VIEWS` (the tables, displayed as the recorded texts) and `show_dashboard` — with
the Monte-Carlo SE its package function computed (the `<column>_mcse` columns of the tables) or a stated
tolerance (`TOLERANCES`); deterministic numbers and verdict texts in those cells are recorded as exact labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from dexmood import book, tables
from dexmood import reproducibility as mc
from dexmood.sensitivity import figures, missing, randomisation, specification, verdicts
from dexmood.sensitivity._common import MEDIATED_OUTCOMES, OUTCOME_LABELS, OUTCOMES
from dexmood.sensitivity.dashboard import (
    SensitivityResults,
    dashboard,
    dashboard_counts,
    display_board,
    subgroup_verdict,
)
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


def _table_mcse(results: SensitivityResults, view: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_mcse(VIEWS[view][1](results.get(VIEWS[view][0])))


def glue_numbers(results: SensitivityResults) -> dict[str, list[tuple]]:
    """The Monte-Carlo numbers in the glued texts of `glue_values` (issue 20): glued name → its parts as
    (record name, value, format, {"mcse": …} or {"tolerance": …}), with the MCSEs the package computed."""
    out: dict[str, list[tuple]] = {}

    def part(name, record, value, fmt="{:.2f}", **error):
        out.setdefault(name, []).append((record, value, fmt, error))

    if results.ok("specification"):
        summary, _ = _table_mcse(results, "specification")
        for key, row in summary.iterrows():
            # a count of intervals (stated tolerance, see TOLERANCES); the number of specifications is fixed
            part(f"nb05_spec_excl_{key}", f"nb05_spec_excl_{key}", row["ci_excludes_0"], "{:d}", tolerance=1.0)
            part(f"nb05_spec_excl_{key}", f"nb05_spec_excl_{key}[of]", row["specifications"], "{:d}", mcse=0.0)
    if results.ok("bias"):
        table, mcse = _table_mcse(results, "bias")
        for key in OUTCOMES:
            row, error = table.loc[(key, "favouring DEX")], mcse.loc[(key, "favouring DEX")]
            part(f"nb05_bias_p_{key}", f"nb05_bias_p_{key}", row["p_benefit"], mcse=error["p_benefit"])
            for end in ("ci_low", "ci_high"):
                part(f"nb05_bias_ci_{key}", f"nb05_bias_ci_{key}[{end}]", row[end], mcse=error[end])
    if results.ok("monte_carlo"):
        table, mcse = _table_mcse(results, "monte_carlo")
        for key, row in table.iterrows():
            for name, columns in ((f"nb05_mc_acme_{key}", ["acme_median"]),
                                  (f"nb05_mc_acme_ci_{key}", ["acme_low", "acme_high"]),
                                  (f"nb05_mc_share_{key}", ["share_same_sign"]),
                                  (f"nb05_mc_rho_{key}", ["rho_zero_median"]),
                                  (f"nb05_mc_rho_ci_{key}", ["rho_zero_low", "rho_zero_high"])):
                for column in columns:
                    record = name if len(columns) == 1 else f"{name}[{column}]"
                    part(name, record, row[column], mcse=mcse.loc[key, column])
    if results.ok("missing"):
        table, mcse = _table_mcse(results, "missing")
        for key, row in table.iterrows():
            part(f"nb05_mi_{key}", f"nb05_mi_{key}", row["mi_estimate"], mcse=mcse.loc[key, "mi_estimate"])
            for end in ("mi_ci_low", "mi_ci_high"):
                part(f"nb05_mi_ci_{key}", f"nb05_mi_ci_{key}[{end}]", row[end], mcse=mcse.loc[key, end])
    if results.ok("randomisation"):
        table, mcse = _table_mcse(results, "randomisation")
        for key, row in table.iterrows():
            part(f"nb05_rand_p_{key}", f"nb05_rand_p_{key}", row["p"], "{:.4f}", mcse=mcse.loc[key, "p"])
    return out


def glue(results: SensitivityResults, board: pd.DataFrame | None = None, published: dict | None = None) -> int:
    """Glue every value of `glue_values` (returns how many), recording each for `dexmood.reproducibility`: the
    Monte-Carlo numbers of `glue_numbers` with their MCSE (or stated tolerance), every other text (deterministic
    numbers, verdicts chosen from them, labels) as an exact label."""
    values = glue_values(results, board, published)
    numbers = glue_numbers(results)
    for name, text in values.items():
        if name in numbers:
            for record, value, fmt, error in numbers[name]:
                recorded = mc.record_value(record, value, fmt, **error)
                if recorded not in text:
                    raise AssertionError(f"{name}: glued {text!r} does not show the recorded {recorded!r}")
        else:
            mc.record_label(name, text)
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


MCSE_SUFFIX = "_mcse"

#: The tables whose numbers are Monte-Carlo (issue 20): `show` records every number they display, with the
#: Monte-Carlo SE the package computed beside it (a `<column>_mcse` column), and the notebook excludes their
#: cells from nbval's exact comparison.
MONTE_CARLO_VIEWS = ("specification", "bias", "monte_carlo", "missing", "randomisation")

#: Monte-Carlo numbers without an MCSE, checked within a stated absolute tolerance instead (issue 20):
#: - how many ATT intervals exclude 0 counts intervals; the AIPW one is a percentile bootstrap interval, so the
#:   count may move by one when that interval ends within its Monte-Carlo error of 0;
#: - the fraction of missing information is a ratio of between- to total variance over 20 imputations: ± 0.05;
#: - the largest |value| of the randomisation distribution is an extreme of the sign flips: ± 10% of it.
TOLERANCES = {"specification": {"ci_excludes_0": lambda value: 1.0},
              "missing": {"fmi": lambda value: 0.05},
              "randomisation": {"randomisation_max_abs": lambda value: 0.1 * abs(value)}}


def split_mcse(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A table with `<column>_mcse` columns → (the table without them, the MCSEs aligned with it; 0 for a
    column without an MCSE column, i.e. a deterministic one)."""
    columns = [c for c in frame.columns if str(c).endswith(MCSE_SUFFIX)]
    shown = frame.drop(columns=columns)
    mcse = pd.DataFrame(0.0, index=shown.index, columns=shown.columns)
    for column in columns:
        mcse[column.removesuffix(MCSE_SUFFIX)] = frame[column].astype(float).to_numpy()
    return shown, mcse


def table_or_box(results: SensitivityResults, view: str):
    """The table `view` as a DataFrame, or a note box with the reason its method could not run."""
    name, shown = VIEWS[view]
    if not results.ok(name):
        return not_possible_box(results.reason(name))
    return split_mcse(shown(results.get(name)))[0]


def _cell(value, decimals: int):
    """A cell of a displayed table as `dexmood.tables` shows it: a number stays a number (recorded with its
    format), anything else becomes its text (recorded as a label)."""
    if isinstance(value, bool | np.bool_) or value is None or value is pd.NA or isinstance(value, str):
        return tables.format_value(value, decimals)
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return tables.format_value(value, decimals)
    return value


def recorded_table(results: SensitivityResults, view: str) -> pd.DataFrame:
    """The table `view` with every cell as the text it is displayed with, each number recorded by
    `dexmood.reproducibility` (name ``nb05_<view>[row|column]``) with its MCSE, or its stated tolerance
    (`TOLERANCES`), or as deterministic (MCSE 0)."""
    frame, mcse = split_mcse(VIEWS[view][1](results.get(VIEWS[view][0])))
    options = TABLES[view][2]
    decimals = options.get("decimals", tables.DEFAULT_DECIMALS)
    per_column = {c: decimals.get(c, tables.DEFAULT_DECIMALS) if isinstance(decimals, dict) else decimals
                  for c in frame.columns}
    formats = {c: "{:d}" if pd.api.types.is_integer_dtype(frame[c]) else f"{{:.{per_column[c]}f}}"
               for c in frame.columns}
    values = frame.astype(object).copy()
    for column in frame.columns:
        values[column] = [_cell(v, per_column[column]) for v in frame[column]]
    tolerance = pd.DataFrame(np.nan, index=frame.index, columns=frame.columns)
    for column, rule in TOLERANCES.get(view, {}).items():
        tolerance[column] = [rule(v) if isinstance(v, int | float | np.number) else np.nan for v in frame[column]]
        mcse[column] = np.nan
    return mc.record_table(f"nb05_{view}", values, formats, mcse=mcse, tolerance=tolerance)


def show(results: SensitivityResults, view: str) -> None:
    """Display the table `view` as a numbered, captioned table (label ``tbl-`` + its name in `TABLES`), or a note
    box with the reason its method could not run. A Monte-Carlo table (`MONTE_CARLO_VIEWS`) is recorded first
    (`recorded_table`) and shown as the recorded texts, so what is shown is what is recorded."""
    shown = table_or_box(results, view)
    name, caption, options = TABLES[view]
    monte_carlo = view in MONTE_CARLO_VIEWS
    if monte_carlo:
        mc.record_label(f"nb05_{view}[caption]", caption)
    if isinstance(shown, Markdown):
        display(shown)
        reason = results.reason(VIEWS[view][0])
        if monte_carlo:
            mc.record_label(f"nb05_{view}[reason]", reason)
        # the text cites the table: keep its number, with the reason as its only row
        tables.show(pd.DataFrame({"not available": [reason]}), name, caption)
        return
    if monte_carlo:
        options = {k: v for k, v in options.items() if k != "decimals"}
        shown = recorded_table(results, view)
    tables.show(shown, name, caption, **options)


DASHBOARD = ("nb05-dashboard", "The robustness dashboard: every check per outcome with its result, its grade and "
             "the verdict sentence.")


def _dashboard_numbers(results: SensitivityResults) -> dict[tuple[str, str], list[tuple]]:
    """The Monte-Carlo numbers of the dashboard's results: (outcome label, check) → [(part, value, {mcse})]."""
    out: dict[tuple[str, str], list[tuple]] = {}
    if results.ok("bias"):
        table, mcse = _table_mcse(results, "bias")
        for key in OUTCOMES:
            row, error = table.loc[(key, "favouring DEX")], mcse.loc[(key, "favouring DEX")]
            out[(OUTCOME_LABELS[key], "Bayesian bias analysis")] = [
                (column, row[column], {"mcse": error[column]}) for column in ("corrected_median", "ci_low", "ci_high")]
    if results.ok("missing"):
        table, mcse = _table_mcse(results, "missing")
        for key, row in table.iterrows():
            out[(OUTCOME_LABELS[key], "missing follow-up (MI, δ tipping)")] = [
                (column, row[column], {"mcse": mcse.loc[key, column]})
                for column in ("mi_estimate", "mi_ci_low", "mi_ci_high")] + [("tipping", row["tipping"], None)]
    return out


def show_dashboard(results: SensitivityResults, board: pd.DataFrame) -> None:
    """Display the robustness dashboard (numbered, captioned), recording what it shows (issue 20): the
    Monte-Carlo numbers of the bias-analysis and missing-data results with their MCSEs, every other result and
    every grade and verdict sentence as an exact label."""
    shown = display_board(board)
    name, caption = DASHBOARD
    numbers = _dashboard_numbers(results)
    for (outcome, check), row in shown.iterrows():
        base = f"nb05_dashboard[{outcome}|{check}]"
        parts = numbers.get((outcome, check))
        if parts:
            for part, value, error in parts:
                recorded = mc.record_label(f"{base}[{part}]", value) if error is None \
                    else mc.record_value(f"{base}[{part}]", value, "{:.2f}", **error)
                if recorded not in row["result"]:
                    raise AssertionError(f"{base}: {row['result']!r} does not show the recorded {recorded!r}")
        else:
            mc.record_label(f"{base}[result]", row["result"])
        mc.record_label(f"{base}[grade]", row["grade"])
        mc.record_label(f"{base}[verdict]", row["verdict"])
    labels = [*dict.fromkeys(shown.index.get_level_values(0)), *dict.fromkeys(shown.index.get_level_values(1)),
              *shown.columns, *shown.index.names]
    mc.record_label("nb05_dashboard[labels]", " ".join(map(str, labels)))
    mc.record_label("nb05_dashboard[caption]", caption)
    tables.show(shown, name, caption, index=True)


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
