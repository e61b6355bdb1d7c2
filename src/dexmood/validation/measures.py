"""Performance measures with Monte-Carlo SEs (Morris, White & Crowther 2019, table 6) and the verdicts.

The verdict rule (stated in notebook 08): per estimator × estimand, over every n = 290 scenario and outcome,

* **not supported** (not trustworthy) if in some cell coverage is significantly below 92.5% (coverage +
  1.96 MCSE < 0.925; Bradley's liberal criterion, 1978) or the bias is significantly above a tenth of the
  empirical SE (|bias| − 1.96 MCSE > 0.1 · empirical SE) — a failure shown by the numbers;
* else **inconclusive** if in some cell the Monte-Carlo error is too large to tell: coverage MCSE > 0.01
  (the MCSE at the nominal 95% is its floor, so a coverage of 1.0 in a few replicates is not "precise"), or
  bias MCSE > half the bias threshold (then the 95% Monte-Carlo interval of the bias is wider than ± the
  threshold) — more replicates are needed;
* else **supported** (trustworthy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dexmood.validation.scenarios import (
    ESTIMAND_LABELS,
    ESTIMATORS,
    MAIN_ESTIMATOR,
    SHORT_LABELS,
)
from dexmood.verdict import Grade, Verdict

#: Bradley's (1978) liberal criterion: a 95% interval is acceptable if its coverage is at least 92.5%.
MIN_COVERAGE = 0.925
#: Largest |bias| / empirical SE called negligible (Collins, Schafer & Kam 2001 saw coverage suffer from
#: about 0.4 on; we ask for much less).
MAX_STANDARDIZED_BIAS = 0.1
#: Largest Monte-Carlo SE of a coverage that can support a verdict (issue 16; ~475 replicates at 95%).
MAX_COVERAGE_MCSE = 0.01
#: Largest bias MCSE, as a share of the bias threshold, that can support a verdict.
MAX_BIAS_MCSE_SHARE = 0.5
#: The n = 290 scenarios whose numbers decide whether an estimator is trustworthy.
VERDICT_SCENARIOS = ("published", "published_conf0", "published_conf2", "null", "null_conf2",
                     "no_pain_to_mood", "no_pain_effect")


def summarise(replicates: pd.DataFrame) -> pd.DataFrame:
    """Per scenario × estimator × outcome × estimand: bias (vs the estimator's own target in each
    replicate), empirical and model SE, RMSE, 95% coverage, rejection rate of "no effect" (type-I error when
    the truth is 0, power otherwise), each with its Monte-Carlo SE; the share of treated retained; and
    ``n_failed``, the replicates without an estimate (e.g. a Bayesian fit that failed its diagnostics)."""
    groups = replicates.groupby(["scenario", "estimator", "outcome", "estimand"], sort=False)
    records = []
    for (scenario, estimator, outcome, estimand), g in groups:
        ok = g[np.isfinite(g["estimate"]) & np.isfinite(g["se"])]
        n = len(ok)
        error = ok["estimate"].to_numpy() - ok["truth"].to_numpy()
        mse = float(np.mean(error**2)) if n else np.nan
        covered = ((ok["ci_low"] <= ok["truth"]) & (ok["truth"] <= ok["ci_high"])).to_numpy()
        reject = ((ok["ci_low"] > 0) | (ok["ci_high"] < 0)).to_numpy()
        coverage = float(covered.mean()) if n else np.nan
        rejection = float(reject.mean()) if n else np.nan
        width = (ok["ci_high"] - ok["ci_low"]).to_numpy()
        retained = (g["pairs"] / g["n_treated"]).to_numpy(dtype=float)

        def mean_mcse(values):  # MCSE of a mean over independent replicates
            return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else np.nan

        records.append({
            "scenario": scenario, "estimator": estimator, "outcome": outcome, "estimand": estimand,
            "n_reps": n, "n_failed": len(g) - n,
            "mean_truth": float(ok["truth"].mean()), "truth_is_zero": bool(n and np.all(ok["truth"] == 0)),
            "mean_estimate": float(ok["estimate"].mean()),
            "bias": float(error.mean()) if n else np.nan,
            "bias_mcse": float(np.std(error, ddof=1) / np.sqrt(n)) if n > 1 else np.nan,
            "bias_vs_all_treated": float(np.mean(ok["estimate"] - ok["truth_all_treated"])),
            "empirical_se": float(np.std(ok["estimate"], ddof=1)) if n > 1 else np.nan,
            "mean_model_se": float(ok["se"].mean()),
            "rmse": float(np.sqrt(mse)),
            "rmse_mcse": float(np.std(error**2, ddof=1) / np.sqrt(n) / (2 * np.sqrt(mse))) if mse > 0 else np.nan,
            "coverage": coverage, "coverage_mcse": float(np.sqrt(coverage * (1 - coverage) / n)) if n else np.nan,
            "rejection": rejection,
            "rejection_mcse": float(np.sqrt(rejection * (1 - rejection) / n)) if n else np.nan,
            "mean_ci_width": float(np.mean(ok["ci_high"] - ok["ci_low"])),
            "treated_retained": float(np.mean(g["pairs"] / g["n_treated"])),
            # MCSEs of the other displayed measures (Morris et al. 2019, table 6; means over replicates)
            "truth_mcse": mean_mcse(ok["truth"].to_numpy()),
            "empirical_se_mcse": (float(np.std(ok["estimate"], ddof=1) / np.sqrt(2 * (n - 1)))
                                  if n > 1 else np.nan),
            "model_se_mcse": mean_mcse(ok["se"].to_numpy()),
            "ci_width_mcse": mean_mcse(width),
            "treated_retained_mcse": mean_mcse(retained),
        })
    table = pd.DataFrame(records)
    table["standardized_bias"] = table["bias"] / table["empirical_se"]
    table["se_ratio"] = table["mean_model_se"] / table["empirical_se"]
    # delta method for the ratios (the relative MCSEs of numerator and denominator combined)
    table["standardized_bias_mcse"] = table["bias_mcse"] / table["empirical_se"]
    table["se_ratio_mcse"] = table["se_ratio"].abs() * np.hypot(table["model_se_mcse"] / table["mean_model_se"],
                                                                 table["empirical_se_mcse"] / table["empirical_se"])
    return table


def proportion_mcse(p, n):
    """MCSE of a share (coverage, rejection rate) over `n` replicates, at least one replicate's worth (1/n):
    a share of 0 or 1 has a binomial MCSE of 0, yet one replicate flipping moves it by 1/n."""
    p, n = np.asarray(p, dtype=float), np.asarray(n, dtype=float)
    return np.maximum(np.sqrt(p * (1 - p) / n), 1 / n)


#: The MCSE of each displayed measure of `summarise` (column → its MCSE column), and of each displayed MCSE.
MCSE_COLUMNS = {"bias": "bias_mcse", "mean_truth": "truth_mcse", "empirical_se": "empirical_se_mcse",
                "mean_model_se": "model_se_mcse", "rmse": "rmse_mcse", "mean_ci_width": "ci_width_mcse",
                "treated_retained": "treated_retained_mcse", "standardized_bias": "standardized_bias_mcse",
                "se_ratio": "se_ratio_mcse"}


def mcse_of(summary: pd.DataFrame, column: str) -> pd.Series:
    """The Monte-Carlo SE of a displayed column of `summarise` (replicate-based), for the reproducibility
    record: shares (coverage, rejection) by `proportion_mcse`; a displayed MCSE itself (``bias_mcse``,
    ``coverage_mcse``, …) has the MCSE of a standard deviation, SE/√(2(n − 1)), or for a share one
    replicate's worth 1/n."""
    n = summary["n_reps"].astype(float)
    if column in ("coverage", "rejection"):
        return pd.Series(proportion_mcse(summary[column], n), index=summary.index)
    if column in ("coverage_mcse", "rejection_mcse"):
        return 1 / n
    if column.endswith("_mcse"):
        return summary[column] / np.sqrt(2 * np.maximum(n - 1, 1))
    return summary[MCSE_COLUMNS[column]]


def coverage_band(n_reps: int, nominal: float = 0.95) -> tuple[float, float]:
    """Coverage expected from Monte-Carlo error alone: nominal ± 2 · sqrt(nominal(1 − nominal)/n_reps)."""
    half = 2 * np.sqrt(nominal * (1 - nominal) / n_reps)
    return nominal - half, nominal + half


def replicates_for_coverage_mcse(target: float = MAX_COVERAGE_MCSE, coverage: float = 0.95) -> int:
    """Replicates needed for a coverage MCSE ≤ `target` at `coverage` (Morris et al. 2019, eq. 7)."""
    return int(np.ceil(round(coverage * (1 - coverage) / target**2, 9)))  # round: 0.0475/1e-4 is 475.00…01


@dataclass(frozen=True)
class CellChecks:
    """The four checks of one scenario × outcome cell (arrays over cells)."""
    coverage_fails: np.ndarray
    bias_fails: np.ndarray
    coverage_imprecise: np.ndarray
    bias_imprecise: np.ndarray


def cell_checks(cells: pd.DataFrame, min_coverage: float = MIN_COVERAGE,
                max_standardized_bias: float = MAX_STANDARDIZED_BIAS) -> CellChecks:
    threshold = max_standardized_bias * cells["empirical_se"]
    return CellChecks(
        coverage_fails=(cells["coverage"] + 1.96 * cells["coverage_mcse"] < min_coverage).to_numpy(),
        bias_fails=(cells["bias"].abs() - 1.96 * cells["bias_mcse"] > threshold).to_numpy(),
        # the MCSE at the nominal 95% as a floor: an observed coverage of 0 or 1 has a binomial MCSE of 0
        coverage_imprecise=~(np.maximum(cells["coverage_mcse"], np.sqrt(0.95 * 0.05 / cells["n_reps"]))
                             <= MAX_COVERAGE_MCSE).to_numpy(),
        bias_imprecise=~(cells["bias_mcse"] <= MAX_BIAS_MCSE_SHARE * threshold).to_numpy())


def grade_cells(cells: pd.DataFrame, **limits) -> tuple[Grade, Grade, Grade]:
    """(coverage grade, bias grade, overall grade) of a set of cells by the module's rule."""
    checks = cell_checks(cells, **limits)

    def grade(fails, imprecise):
        if fails.any():
            return Grade.NOT_SUPPORTED
        return Grade.INCONCLUSIVE if imprecise.any() or len(fails) == 0 else Grade.SUPPORTED

    coverage, bias = grade(checks.coverage_fails, checks.coverage_imprecise), grade(checks.bias_fails,
                                                                                    checks.bias_imprecise)
    if Grade.NOT_SUPPORTED in (coverage, bias):
        return coverage, bias, Grade.NOT_SUPPORTED
    return coverage, bias, Grade.INCONCLUSIVE if Grade.INCONCLUSIVE in (coverage, bias) else Grade.SUPPORTED


def estimator_name(estimator: str, estimand: str) -> str:
    return f"{SHORT_LABELS[estimator]}: {ESTIMAND_LABELS[estimand]}"


def estimator_verdict(estimator: str, estimand: str, cells: pd.DataFrame, **limits) -> Verdict:
    """The `Verdict` of one estimator × estimand from its cells (value: the lowest coverage)."""
    coverage_grade, bias_grade, grade = grade_cells(cells, **limits)
    name = estimator_name(estimator, estimand)
    lowest = float(cells["coverage"].min())
    reps = int(cells["n_reps"].min())
    if grade is Grade.SUPPORTED:
        sentence = (f"{name} is trustworthy: coverage at least {lowest:.3f} and negligible bias in every "
                    f"scenario, with {reps} or more replicates each.")
    elif grade is Grade.NOT_SUPPORTED:
        failed = [part for part, g in (("coverage", coverage_grade), ("bias", bias_grade))
                  if g is Grade.NOT_SUPPORTED]
        sentence = f"{name} is not trustworthy: its {' and '.join(failed)} fails the rule (lowest coverage {lowest:.3f})."
    else:
        worst = float(cells["coverage_mcse"].max())
        sentence = (f"{name} is inconclusive: no check fails, but {reps} replicates leave too much Monte-Carlo "
                    f"error to tell (coverage MCSE up to {worst:.3f}, limit {MAX_COVERAGE_MCSE}).")
    return Verdict(grade, lowest, "lowest coverage", sentence)


def judged_cells(summary: pd.DataFrame, scenarios=VERDICT_SCENARIOS) -> pd.DataFrame:
    """The summary rows that enter the verdict (proportion mediated not judged where the total effect is 0)."""
    table = summary[summary["scenario"].isin(scenarios)]
    undefined = (table["estimand"] == "proportion_mediated") & table["scenario"].isin(("null", "null_conf2"))
    return table[~undefined]


def verdicts(summary: pd.DataFrame, scenarios=VERDICT_SCENARIOS, **limits) -> dict[tuple[str, str], Verdict]:
    """{(estimator, estimand): Verdict} at n = 290 by the module's rule."""
    return {(estimator, estimand): estimator_verdict(estimator, estimand, g, **limits)
            for (estimator, estimand), g in judged_cells(summary, scenarios).groupby(["estimator", "estimand"],
                                                                                   sort=False)}


def verdict_table(summary: pd.DataFrame, scenarios=VERDICT_SCENARIOS, **limits) -> pd.DataFrame:
    """One row per estimator × estimand: replicates, lowest coverage, worst case, largest |standardised bias|,
    the coverage / bias / overall grades and the verdict sentence."""
    rows = []
    for (estimator, estimand), g in judged_cells(summary, scenarios).groupby(["estimator", "estimand"], sort=False):
        coverage_grade, bias_grade, grade = grade_cells(g, **limits)
        worst = g.iloc[int(np.argmin(g["coverage"].to_numpy()))]
        rows.append({"estimator": SHORT_LABELS[estimator], "estimand": ESTIMAND_LABELS[estimand],
                     "replicates": int(g["n_reps"].min()), "failed fits": int(g["n_failed"].max()),
                     "lowest coverage": float(g["coverage"].min()),
                     "worst case": f"{worst['scenario']} / {worst['outcome']}",
                     "max |bias| / SE": float(g["standardized_bias"].abs().max()),
                     "coverage": coverage_grade.value, "bias": bias_grade.value, "verdict": grade.value})
    return pd.DataFrame(rows)


def verdict_table_mcse(summary: pd.DataFrame, scenarios=VERDICT_SCENARIOS) -> pd.DataFrame:
    """The MCSEs of the numbers of `verdict_table` (same rows): of the lowest coverage (that of the cell
    where it occurs, `proportion_mcse`) and of the largest |bias| / SE (that of the cell where it occurs)."""
    rows = []
    for _, g in judged_cells(summary, scenarios).groupby(["estimator", "estimand"], sort=False):
        worst = g.iloc[int(np.argmin(g["coverage"].to_numpy()))]
        largest = g.iloc[int(np.argmax(g["standardized_bias"].abs().to_numpy()))]
        rows.append({"lowest coverage": float(proportion_mcse(worst["coverage"], worst["n_reps"])),
                     "max |bias| / SE": float(largest["standardized_bias_mcse"])})
    return pd.DataFrame(rows)


def worst_case_ties(summary: pd.DataFrame, scenarios=VERDICT_SCENARIOS, k: float = 4.0) -> list[list[str]]:
    """For each row of `verdict_table`, the cells ("scenario / outcome") whose coverage is within
    k·sqrt(MCSE² + MCSE_lowest²) of the lowest one: the 'worst case' another run of the study may name."""
    out = []
    for _, g in judged_cells(summary, scenarios).groupby(["estimator", "estimand"], sort=False):
        coverage = g["coverage"].to_numpy(dtype=float)
        mcse = np.asarray(proportion_mcse(coverage, g["n_reps"].to_numpy(dtype=float)), dtype=float)
        lowest = int(np.argmin(coverage))
        tied = coverage - coverage[lowest] <= k * np.hypot(mcse, mcse[lowest])
        out.append([f"{s} / {o}" for s, o, t in zip(g["scenario"], g["outcome"], tied, strict=True) if t])
    return out


def names_with_grade(judged: dict[tuple[str, str], Verdict], grade: Grade) -> str:
    """'matched difference: ATT; …' for the verdicts of `grade` ('none' if there is none)."""
    names = [estimator_name(e, k) for (e, k), v in judged.items() if v.grade is grade]
    return "; ".join(names) if names else "none"


def family_sentence(judged: dict[tuple[str, str], Verdict], estimator: str) -> str:
    """One sentence on an estimator family (e.g. mediation_delta) that agrees with its verdicts: the grade
    of each estimand, never a claim the verdicts do not carry."""
    mine = {estimand: v for (e, estimand), v in judged.items() if e == estimator}
    if not mine:
        return f"{SHORT_LABELS[estimator]}: not assessed."
    groups: dict[Grade, list[str]] = {}
    for estimand, v in mine.items():
        groups.setdefault(v.grade, []).append(ESTIMAND_LABELS[estimand])
    words = {Grade.SUPPORTED: "trustworthy", Grade.NOT_SUPPORTED: "not trustworthy",
             Grade.INCONCLUSIVE: "inconclusive (too few replicates)", Grade.NOT_ASSESSED: "not assessed"}
    parts = [f"{', '.join(items)} {words[grade]}" for grade, items in groups.items()]
    return f"{SHORT_LABELS[estimator]}: " + "; ".join(parts) + "."


def performance_rows(summary: pd.DataFrame, scenarios, estimators, estimands=None) -> pd.DataFrame:
    """The summary rows of `performance_table`, in its order (scenarios, then estimators, as given)."""
    table = summary[summary["scenario"].isin(scenarios) & summary["estimator"].isin(estimators)]
    if estimands is not None:
        table = table[table["estimand"].isin(estimands)]
    table = table.assign(order=table["estimator"].map({e: i for i, e in enumerate(estimators)}),
                         s_order=table["scenario"].map({s: i for i, s in enumerate(scenarios)}))
    return table.sort_values(["s_order", "order"], kind="stable").drop(columns=["order", "s_order"])


#: The numeric columns of `performance_table`: shown column → (summary column, MCSE column shown in brackets).
PERFORMANCE_COLUMNS = {"truth": ("mean_truth", None), "bias": ("bias", "bias_mcse"),
                       "empirical SE": ("empirical_se", None), "model SE": ("mean_model_se", None),
                       "RMSE": ("rmse", None), "coverage": ("coverage", "coverage_mcse"),
                       "rejects 0": ("rejection", "rejection_mcse")}


def performance_table(summary: pd.DataFrame, scenarios, estimators, estimands=None) -> pd.DataFrame:
    """Readable performance table: mean truth, bias, empirical and model SE, RMSE, coverage and rejection
    rate (each with its Monte-Carlo SE in brackets), rounded to 3 decimals."""
    table = performance_rows(summary, scenarios, estimators, estimands)

    def with_mcse(values, mcse):
        return [f"{b:.3f} ({m:.3f})" for b, m in zip(values, mcse, strict=True)]

    return pd.DataFrame({
        "scenario": table["scenario"], "estimator": table["estimator"].map(lambda e: ESTIMATORS[e][0]),
        "outcome": table["outcome"], "estimand": table["estimand"].map(ESTIMAND_LABELS),
        "reps": table["n_reps"], "truth": table["mean_truth"].round(3),
        "bias": with_mcse(table["bias"], table["bias_mcse"]),
        "empirical SE": table["empirical_se"].round(3), "model SE": table["mean_model_se"].round(3),
        "RMSE": table["rmse"].round(3), "coverage": with_mcse(table["coverage"], table["coverage_mcse"]),
        "rejects 0": with_mcse(table["rejection"], table["rejection_mcse"]),
    }).reset_index(drop=True)


def power_table(summary: pd.DataFrame, estimands=("att", "ato", "acme_treated", "ade_control", "total")) -> pd.DataFrame:
    """Share of 95% CIs that exclude 0, by scenario (type-I error where the truth is 0, power elsewhere)."""
    table = summary[summary["estimand"].isin(estimands)]
    table = table.assign(measure=np.where(table["truth_is_zero"], "type-I error", "power"))
    return table[["scenario", "estimator", "outcome", "estimand", "mean_truth", "measure", "rejection",
                  "rejection_mcse", "n_reps"]]


def rejection_pivot(summary: pd.DataFrame, estimators, scenarios, estimand=None) -> pd.DataFrame:
    """Rejection rates as estimator (or scenario) × outcome, for the notebook's tables."""
    rates = power_table(summary)
    rates = rates[rates["estimator"].isin(estimators) & rates["scenario"].isin(scenarios)]
    if estimand is not None:
        rates = rates[rates["estimand"] == estimand]
        return rates.pivot_table(index="scenario", columns="outcome", values="rejection", sort=False).round(3)
    return rates.pivot_table(index="estimator", columns=["scenario", "outcome"], values="rejection",
                             sort=False).round(3)


def rejection_pivot_mcse(summary: pd.DataFrame, estimators, scenarios, estimand=None) -> pd.DataFrame:
    """The MCSEs of `rejection_pivot` (same shape; `proportion_mcse` of each rate)."""
    rates = power_table(summary)
    rates = rates[rates["estimator"].isin(estimators) & rates["scenario"].isin(scenarios)]
    rates = rates.assign(rejection_mcse=proportion_mcse(rates["rejection"], rates["n_reps"]))
    if estimand is not None:
        rates = rates[rates["estimand"] == estimand]
        return rates.pivot_table(index="scenario", columns="outcome", values="rejection_mcse", sort=False)
    return rates.pivot_table(index="estimator", columns=["scenario", "outcome"], values="rejection_mcse",
                             sort=False)


def measure(summary: pd.DataFrame, scenario: str, estimator: str, outcome: str, estimand: str, column: str) -> float:
    """One number of the summary (raises KeyError naming the cell if it is absent)."""
    row = summary[(summary["scenario"] == scenario) & (summary["estimator"] == estimator)
                  & (summary["outcome"] == outcome) & (summary["estimand"] == estimand)]
    if row.empty:
        raise KeyError(f"no summary row for {scenario} / {estimator} / {outcome} / {estimand}")
    return float(row[column].iloc[0])


def results_section(summary: pd.DataFrame) -> dict:
    """The ``"validation"`` block of results.json (rounded, JSON-able)."""
    def pick(scenario, estimator, estimand, column):
        rows = summary[(summary["scenario"] == scenario) & (summary["estimator"] == estimator)
                       & (summary["estimand"] == estimand)]
        return {row.outcome: round(float(getattr(row, column)), 4) for row in rows.itertuples(index=False)}

    judged = verdicts(summary)
    main = summary[(summary["scenario"] == "published") & (summary["estimator"] == MAIN_ESTIMATOR)]

    def keys(grade):
        return sorted(f"{e}:{k}" for (e, k), v in judged.items() if v.grade is grade)

    block = {
        "n_replicates": {k: int(v) for k, v in summary.groupby("scenario", sort=False)["n_reps"].max().items()},
        "coverage_main_att_n290": pick("published", MAIN_ESTIMATOR, "att", "coverage"),
        "coverage_main_att_n290_mcse": pick("published", MAIN_ESTIMATOR, "att", "coverage_mcse"),
        "bias_main_att_n290": pick("published", MAIN_ESTIMATOR, "att", "bias"),
        "power_main_att_n290": pick("published", MAIN_ESTIMATOR, "att", "rejection"),
        "type1_main_att_n290": pick("null", MAIN_ESTIMATOR, "att", "rejection"),
        "treated_retained_n290": round(float(main["treated_retained"].mean()), 4) if len(main) else None,
        "coverage_aipw_bootstrap_n290": pick("published", "aipw_att_bootstrap", "att", "coverage"),
        "coverage_acme_n290": pick("published", "mediation_delta", "acme_treated", "coverage"),
        "power_acme_n290": pick("published", "mediation_delta", "acme_treated", "rejection"),
        "type1_acme_n290": pick("no_pain_to_mood", "mediation_delta", "acme_treated", "rejection"),
        "rmse_proportion_mediated_n290": pick("published", "mediation_delta", "proportion_mediated", "rmse"),
        "ci_width_proportion_mediated_n290": pick("published", "mediation_delta", "proportion_mediated",
                                                  "mean_ci_width"),
        "bias_unadjusted_att_n290": pick("published", "naive_difference", "att", "bias"),
        "coverage_acme_bayes_n290": pick("published", "mediation_bayes", "acme_treated", "coverage"),
        "trustworthy_n290": keys(Grade.SUPPORTED),
        "not_trustworthy_n290": keys(Grade.NOT_SUPPORTED),
        "inconclusive_n290": keys(Grade.INCONCLUSIVE),
        "verdicts_n290": {f"{e}:{k}": v.to_dict() for (e, k), v in judged.items()},
    }
    return {"validation": block}
