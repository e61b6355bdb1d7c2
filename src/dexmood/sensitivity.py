"""Stage 5 – sensitivity analyses: how robust are the effects of notebooks 03–04?

Six families of checks, each a small function with a unit test against a published example or a closed form:

1. **Subgroups** (`subgroup_analysis`): the matched ATT within baseline subgroups (both anxiety and depression
   vs only one; severity bands), with a Wald test of the DEX × subgroup interaction, pair-cluster-robust.
2. **Specification curve** (`specification_curve`): the ATT under other calipers, 1:2 matching, matching
   with replacement, exact matching on sex, covariate adjustment, IPTW, overlap weights and AIPW.
3. **Unmeasured confounding**: E-values (VanderWeele & Ding 2017; `evalue_rr`, `evalue_md` port R's
   ``EValue::evalues.RR`` / ``evalues.MD``), Rosenbaum bounds for the Wilcoxon signed-rank test in matched pairs
   (Rosenbaum 2002, sec. 4.3; `wilcoxon_sensitivity`, `critical_gamma` port ``rbounds::psens``), and a
   Bayesian bias-parameter analysis (`bias_analysis`: a prior on the bias added to the ATT).
4. **Mediation sensitivity** (`medsens`): ACME(ρ) in closed form for the linear–linear model as a function
   of the correlation ρ between the mediator and outcome residuals (Imai, Keele & Yamamoto 2010, as R
   ``mediation::medsens``), and its Bayesian version with a prior on ρ through the ρ hook of
   `dexmood.mediation` (`hook_fits`, `bayesian_medsens`).
5. **Missing follow-up** (`impute_changes`, `multiple_imputation_att`, `delta_tipping_point`): complete cases
   vs multiple imputation (Bayesian linear-regression imputation, Rubin's rules) and a delta-adjustment
   tipping point.
6. **Placebo** (`permutation_test`): treatment labels permuted within matched pairs.

`dashboard` puts the results side by side with a verdict per row computed from the numbers and the
thresholds below; `results_section` gives the ``"sensitivity"`` block of ``results.json``.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, stats

from dexmood import cohort as cohort_mod
from dexmood import effects, paths

OUTCOMES = cohort_mod.OUTCOMES
OUTCOME_COLUMNS = {key: f"{key}_change" for key in OUTCOMES}
OUTCOME_LABELS = {"gad7": "GAD-7", "phq9": "PHQ-9", "nrs": "NRS pain"}
MEDIATOR_COLUMN = "nrs_change"
#: Outcomes with a mediation analysis (the NRS change is the mediator itself).
MEDIATED_OUTCOMES = ("gad7", "phq9")
Z95 = float(stats.norm.ppf(0.975))
DEFAULT_SEED = 20250222

# Verdict thresholds: conventions of this book, not published cut-offs, stated so that every verdict in the
# dashboard can be traced to a number.
#: E-value of the CI limit: the risk ratio a confounder would need with both DEX and the outcome.
EVALUE_STRONG, EVALUE_WEAK = 2.0, 1.25
#: Rosenbaum's Γ at which the one-sided p-value bound reaches 0.05.
GAMMA_STRONG, GAMMA_WEAK = 2.0, 1.25
#: |ρ| (mediator–outcome residual correlation) at which the ACME vanishes.
RHO_STRONG, RHO_WEAK = 0.3, 0.1
ALPHA = 0.05


# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------

def _prepared(frame: pd.DataFrame) -> pd.DataFrame:
    return effects.prepare(frame)


def _direction(estimate: float) -> float:
    """+1 if the effect is an increase, −1 if a decrease (improvement in this book: changes are negative)."""
    return 1.0 if estimate >= 0 else -1.0


def pooled_sd(frame: pd.DataFrame, column: str, weights: str | None = "weights") -> float:
    """Within-group SD of `column` pooled over DEX and LA: sqrt((s²_DEX + s²_LA) / 2) (weighted if given).

    The standardiser of the effect size d = ATT / SD used for E-values of mean differences
    (VanderWeele & Ding 2017, "continuous outcomes").
    """
    from statsmodels.stats.weightstats import DescrStatsW

    variances = []
    for dex in (1, 0):
        subset = frame.loc[(frame["dex"] == dex) & frame[column].notna()]
        w = np.ones(len(subset)) if weights is None or weights not in subset else subset[weights].to_numpy(float)
        describe = DescrStatsW(subset[column].to_numpy(dtype=float), weights=w)
        variances.append(float(describe.var * describe.sum_weights / (describe.sum_weights - 1)))
    return float(np.sqrt(np.mean(variances)))


# --------------------------------------------------------------------------------------------------
# 1. Subgroups with an interaction test
# --------------------------------------------------------------------------------------------------

#: Severity bands shared by GAD-7 and PHQ-9: mild 5–9, moderate 10–14, severe ≥ 15 (Spitzer 2006; Kroenke 2001).
SEVERITY_CUTOFFS = (10, 15)
SUBGROUP_LEVELS = {
    "comorbidity": ["both", "one only", "neither"],
    "severity": ["mild", "moderate", "severe"],
}
SUBGROUP_LABELS = {
    "comorbidity": "Anxiety and depression at baseline (GAD-7 ≥ 5 and PHQ-9 ≥ 5) vs only one",
    "severity": "Severity band of the higher of GAD-7 and PHQ-9 (mild < 10 ≤ moderate < 15 ≤ severe)",
}


def add_subgroups(frame: pd.DataFrame) -> pd.DataFrame:
    """Add `comorbidity` ("both" / "one only" / "neither" at the mild cut-off 5) and `severity`
    (band of the higher of the two baseline scores; both instruments share the 10 and 15 cut-offs)."""
    out = frame.copy()
    anxious = out["gad7_baseline"] >= cohort_mod.MILD_CUTOFF
    depressed = out["phq9_baseline"] >= cohort_mod.MILD_CUTOFF
    out["comorbidity"] = np.where(anxious & depressed, "both", np.where(anxious | depressed, "one only", "neither"))
    worst = np.maximum(out["gad7_baseline"].to_numpy(float), out["phq9_baseline"].to_numpy(float))
    moderate, severe = SEVERITY_CUTOFFS
    out["severity"] = np.where(worst >= severe, "severe", np.where(worst >= moderate, "moderate", "mild"))
    return out


@dataclass
class SubgroupResult:
    """ATT per subgroup level from one regression, and the Wald test that all levels share one ATT."""

    outcome: str
    subgroup: str
    table: pd.DataFrame
    chi2: float
    df: int
    p_interaction: float
    notes: list[str] = field(default_factory=list)


def subgroup_analysis(matched: pd.DataFrame, outcome: str, subgroup: str, *, weights: str | None = "weights",
                      subclass: str | None = "subclass") -> SubgroupResult:
    """ATT of DEX within each level of `subgroup` in the matched sample, and a test of effect modification.

    One weighted regression with a separate intercept and DEX effect per level (the cell-means form of
    ``outcome ~ dex * C(subgroup)``), pair-cluster-robust covariance (CR1). The interaction test is the
    Wald χ² of "every level has the same DEX effect" (L − 1 df). Levels without both groups are left out
    (listed in `notes`). The matched pairs are not re-formed within subgroups: balance inside a subgroup
    rests on the propensity model, which includes both baseline scores.
    """
    data = add_subgroups(_prepared(matched))
    needed = [outcome, "dex", subgroup] + [c for c in (weights, subclass) if c]
    data, n_missing = effects.complete_cases(data, needed)
    order = SUBGROUP_LEVELS.get(subgroup, sorted(data[subgroup].astype(str).unique()))
    notes = []
    levels = []
    for level in order:
        rows = data[subgroup].astype(str) == level
        if not rows.any():
            continue
        groups = set(data.loc[rows, "dex"])
        if groups != {0, 1}:
            notes.append(f"level {level!r} left out: {int(rows.sum())} patient(s), not both groups")
            continue
        levels.append(level)
    data = data[data[subgroup].astype(str).isin(levels)].reset_index(drop=True)
    if len(levels) == 0:
        raise ValueError(f"no level of {subgroup!r} has both DEX and LA patients")
    indicator = np.column_stack([(data[subgroup].astype(str) == level).to_numpy(float) for level in levels])
    dex = data["dex"].to_numpy(float)
    design = np.column_stack([indicator, indicator * dex[:, None]])
    w = np.ones(len(data)) if weights is None else data[weights].to_numpy(float)
    model = sm.WLS(data[outcome].to_numpy(float), design, weights=w)
    if subclass is not None:
        groups = pd.factorize(data[subclass].astype(str))[0]
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
    else:
        fit = model.fit(cov_type="HC1")
    params, cov = np.asarray(fit.params), np.asarray(fit.cov_params())
    k = len(levels)
    rows = []
    for j, level in enumerate(levels):
        in_level = indicator[:, j] == 1
        est, se = params[k + j], float(np.sqrt(cov[k + j, k + j]))
        rows.append({"level": level, "n": int(in_level.sum()), "n_dex": int((in_level & (dex == 1)).sum()),
                     "n_la": int((in_level & (dex == 0)).sum()), "att": est, "se": se,
                     "ci_low": est - Z95 * se, "ci_high": est + Z95 * se,
                     "p": float(2 * stats.norm.sf(abs(est / se)))})
    if k > 1:
        contrast = np.zeros((k - 1, 2 * k))
        for j in range(1, k):
            contrast[j - 1, k] = -1.0
            contrast[j - 1, k + j] = 1.0
        diff = contrast @ params
        chi2 = float(diff @ np.linalg.solve(contrast @ cov @ contrast.T, diff))
        p = float(stats.chi2.sf(chi2, k - 1))
    else:
        chi2, p = float("nan"), float("nan")
    if n_missing:
        notes.append(f"{n_missing} patient(s) without the outcome left out")
    return SubgroupResult(outcome=outcome, subgroup=subgroup, table=pd.DataFrame(rows), chi2=chi2, df=k - 1,
                          p_interaction=p, notes=notes)


def subgroup_table(matched: pd.DataFrame, outcomes=OUTCOMES, subgroups=tuple(SUBGROUP_LEVELS)) -> pd.DataFrame:
    """Every outcome × subgroup variable: per-level ATT (95% CI) and the interaction p-value."""
    blocks = []
    for key in outcomes:
        for subgroup in subgroups:
            result = subgroup_analysis(matched, OUTCOME_COLUMNS[key], subgroup)
            blocks.append(result.table.assign(outcome=key, subgroup=subgroup, chi2_interaction=result.chi2,
                                              df_interaction=result.df, p_interaction=result.p_interaction))
    table = pd.concat(blocks, ignore_index=True)
    return table[["outcome", "subgroup", "level", "n", "n_dex", "n_la", "att", "ci_low", "ci_high", "p",
                  "chi2_interaction", "df_interaction", "p_interaction"]]


def plot_subgroups(table: pd.DataFrame):
    """Forest plot: ATT (95% CI) per subgroup level, one panel per outcome; the interaction p-value of each
    subgroup variable in the panel title."""
    from dexmood import plots

    outcomes = list(dict.fromkeys(table["outcome"]))
    fig, axes = plots.new_figure(ncols=len(outcomes), width=10.0, height=3.8, sharey=True)
    axes = np.atleast_1d(axes)
    first = table[table["outcome"] == outcomes[0]].reset_index(drop=True)
    y = np.arange(len(first))[::-1]
    colours = {"comorbidity": plots.OKABE_ITO[0], "severity": plots.OKABE_ITO[5]}
    for ax, key in zip(axes, outcomes, strict=True):
        block = table[table["outcome"] == key].reset_index(drop=True)
        colour = [colours.get(s, "#555555") for s in block["subgroup"]]
        ax.hlines(y, block["ci_low"], block["ci_high"], color=colour, lw=2)
        ax.scatter(block["att"], y, color=colour, s=np.clip(block["n"], 10, 120), zorder=3)
        ax.axvline(0, color="#999999", lw=0.8)
        tests = [f"DEX × {subgroup}: p = {rows['p_interaction'].iloc[0]:.2f}"
                 for subgroup, rows in block.groupby("subgroup", sort=False)
                 if np.isfinite(rows["p_interaction"].iloc[0])]
        ax.set_title("\n".join([OUTCOME_LABELS[key], *tests]), fontsize=8.5)
        ax.set_xlabel("ATT, DEX − LA (points)")
    axes[0].set_yticks(y, [f"{s}: {lev}" for s, lev in zip(first["subgroup"], first["level"], strict=True)])
    return fig, axes


# --------------------------------------------------------------------------------------------------
# 2. Specification curve
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Specification:
    """One way to estimate the ATT. Matching specifications use `dexmood.matching.match_nearest`."""

    key: str
    label: str
    family: str  # "matching" or "weighting"
    ratio: int = 1
    replace: bool = False
    caliper_sd: float | None = 0.2
    exact: tuple[str, ...] = ()
    adjust: bool = False
    weighting: str | None = None  # "ipw", "overlap" or "aipw"

    @property
    def matching_key(self) -> tuple:
        return (self.ratio, self.replace, self.caliper_sd, self.exact)


MAIN_SPECIFICATION = "main"
SPECIFICATIONS = (
    Specification("main", "1:1, caliper 0.2 SD (main)", "matching"),
    Specification("caliper_0.1", "1:1, caliper 0.1 SD", "matching", caliper_sd=0.1),
    Specification("caliper_0.5", "1:1, caliper 0.5 SD", "matching", caliper_sd=0.5),
    Specification("ratio_2", "1:2, caliper 0.2 SD", "matching", ratio=2),
    Specification("replace", "1:1 with replacement, caliper 0.2 SD", "matching", replace=True),
    Specification("exact_sex", "1:1, caliper 0.2 SD, exact on sex", "matching", exact=("sex",)),
    Specification("adjusted", "1:1, caliper 0.2 SD + covariate adjustment", "matching", adjust=True),
    Specification("ipw", "IPTW (ATT weights), full cohort", "weighting", weighting="ipw"),
    Specification("overlap", "Overlap weights (ATO), full cohort", "weighting", weighting="overlap"),
    Specification("aipw", "Augmented IPW (ATT), full cohort", "weighting", weighting="aipw"),
)


def specification_curve(frame: pd.DataFrame, outcomes=OUTCOMES, specifications=SPECIFICATIONS,
                        covariates: list[str] | None = None, *, n_boot: int = 300,
                        seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The ATT of every outcome under every specification, one tidy row each.

    Matched samples: difference in means with pair-cluster-robust SE (`effects.matched_difference`); with
    replacement the matched sets share controls, so the SE is HC1 on the matching weights instead.
    "+ covariate adjustment" is `effects.matched_regression` (g-computation). Weighting uses the same
    logistic propensity score on the full cohort (`effects.ipw_att`, `effects.overlap_effect`,
    `effects.aipw_att` with `n_boot` seeded bootstrap replicates).
    """
    from dexmood import matching

    covariates = list(covariates) if covariates is not None else cohort_mod.baseline_covariates(frame)
    propensity = matching.fit_propensity(frame, covariates)
    full = _prepared(frame.loc[propensity.logit.index]).reset_index(drop=True)
    score = propensity.score.to_numpy()
    matches: dict[tuple, object] = {}
    rows = []
    for spec in specifications:
        if spec.family == "matching" and spec.matching_key not in matches:
            matches[spec.matching_key] = matching.match_nearest(
                frame, covariates, ratio=spec.ratio, replace=spec.replace, caliper_sd=spec.caliper_sd,
                exact=list(spec.exact) or None)
        for key in outcomes:
            column = OUTCOME_COLUMNS[key]
            info = {}
            if spec.family == "matching":
                result = matches[spec.matching_key]
                matched = _prepared(result.data)
                subclass = None if spec.replace else "subclass"
                if spec.adjust:
                    estimate = effects.matched_regression(matched, column, effects.outcome_covariates(
                        covariates, key), subclass=subclass)
                else:
                    estimate = effects.matched_difference(matched, column, subclass=subclass)
                info = {"treated_matched": int(result.summary["pairs"]),
                        "treated_unmatched": int(result.summary["treated_unmatched"])}
            elif spec.weighting == "ipw":
                estimate = effects.ipw_att(full, column, score)
            elif spec.weighting == "overlap":
                estimate = effects.overlap_effect(full, column, score)
            elif spec.weighting == "aipw":
                estimate = effects.aipw_att(full, column, effects.outcome_covariates(covariates, key),
                                            n_boot=n_boot, seed=seed)
            else:
                raise ValueError(f"unknown specification {spec.key!r}")
            rows.append({"outcome": key, "specification": spec.key, "label": spec.label, "family": spec.family,
                         "estimate": estimate.estimate, "se": estimate.se, "ci_low": estimate.ci_low,
                         "ci_high": estimate.ci_high, "n": estimate.n,
                         "treated_matched": info.get("treated_matched", np.nan),
                         "treated_unmatched": info.get("treated_unmatched", np.nan),
                         "main": spec.key == MAIN_SPECIFICATION})
    return pd.DataFrame(rows)


def specification_summary(curve: pd.DataFrame) -> pd.DataFrame:
    """Per outcome: range of the ATT over specifications, how many agree in sign with the main one and how
    many CIs exclude 0."""
    rows = []
    for key, block in curve.groupby("outcome", sort=False):
        main = block.loc[block["main"], "estimate"].iloc[0]
        same_sign = int((np.sign(block["estimate"]) == np.sign(main)).sum())
        excludes = int(((block["ci_high"] < 0) | (block["ci_low"] > 0)).sum())
        rows.append({"outcome": key, "main": main, "min": block["estimate"].min(), "max": block["estimate"].max(),
                     "specifications": len(block), "same_sign": same_sign, "ci_excludes_0": excludes})
    return pd.DataFrame(rows)


def plot_specification_curve(curve: pd.DataFrame, truth: dict | None = None, published: dict | None = None):
    """One panel per outcome: ATT and 95% CI of every specification (main one in bold), with zero, the
    simulation truth (simulated data) and the difference of the published group means."""
    from dexmood import plots

    outcomes = list(dict.fromkeys(curve["outcome"]))
    fig, axes = plots.new_figure(ncols=len(outcomes), width=10.0, height=4.4, sharey=True)
    axes = np.atleast_1d(axes)
    order = list(dict.fromkeys(curve["specification"]))
    labels = curve.drop_duplicates("specification").set_index("specification")["label"]
    implied = (published or {}).get("ren2025_cohort", {}).get("between_group_difference_derived", {})
    colours = {"matching": plots.OKABE_ITO[0], "weighting": plots.OKABE_ITO[2]}
    for ax, key in zip(axes, outcomes, strict=True):
        block = curve[curve["outcome"] == key].set_index("specification").reindex(order)
        y = np.arange(len(block))[::-1]
        for yi, (_, row) in zip(y, block.iterrows(), strict=True):
            colour = colours[row["family"]]
            ax.hlines(yi, row["ci_low"], row["ci_high"], color=colour, lw=3.2 if row["main"] else 1.8)
            ax.scatter(row["estimate"], yi, color=colour, s=60 if row["main"] else 26, zorder=3,
                       marker="D" if row["main"] else "o")
        ax.axvline(0, color="#999999", lw=0.8)
        if truth is not None:
            ax.axvline(truth["att"][key], color=plots.TRUTH_COLOR, ls="--", lw=1.3,
                       label="true ATT (simulation)")
        if key in implied:
            ax.axvline(implied[key], color=plots.PUBLISHED_COLOR, ls=":", lw=1.4,
                       label="published DEX − LA means")
        ax.set_title(OUTCOME_LABELS[key])
        ax.set_xlabel("ATT, DEX − LA (points)")
        ax.set_yticks(y, [labels[s] for s in order])
    handles, names = [], []
    for ax in axes:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            if name not in names:
                handles.append(handle)
                names.append(name)
    from matplotlib.lines import Line2D

    handles += [Line2D([], [], color=colours["matching"], marker="o", label="matched sample"),
                Line2D([], [], color=colours["weighting"], marker="o", label="weighting, full cohort")]
    names += ["matched sample", "weighting, full cohort"]
    fig.legend(handles, names, loc="outside lower center", ncols=min(len(handles), 4))
    return fig, axes


# --------------------------------------------------------------------------------------------------
# 3a. E-values (VanderWeele & Ding 2017; port of R EValue::evalues.RR / evalues.MD)
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EValue:
    """Risk ratios (point, CI limits) and the E-values of the point estimate and of the CI limit closer to
    the true (null) value; `ci` is None when no CI was given and 1 when the CI contains the true value."""

    rr: float
    rr_low: float | None
    rr_high: float | None
    point: float
    ci: float | None


def evalue_threshold(rr: float, true: float = 1.0) -> float:
    """E-value of one risk ratio (VanderWeele & Ding 2017, eq. 1): RR + sqrt(RR (RR − 1)), with RR < 1
    inverted first; for a non-null `true` value, the form of R ``EValue::threshold``."""
    if rr < 0:
        raise ValueError("the risk ratio must be non-negative")
    if rr <= 1:
        rr, true = 1.0 / rr, 1.0 / true
    if true <= rr:
        return float((rr + np.sqrt(rr * (rr - true))) / true)
    ratio = true / rr  # the true effect lies further from 1 than the estimate
    return float(ratio + np.sqrt(ratio * (ratio - 1)))


def evalue_rr(rr: float, lo: float | None = None, hi: float | None = None, true: float = 1.0) -> EValue:
    """E-values for a risk ratio and its CI, as R ``EValue::evalues.RR`` (VanderWeele & Ding 2017).

    The CI E-value is computed for the limit closer to `true`; it is 1 when the CI contains `true`.
    """
    if rr < 0:
        raise ValueError("the risk ratio must be non-negative")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError("the lower confidence limit must not exceed the upper one")
    if (lo is not None and rr < lo) or (hi is not None and rr > hi):
        raise ValueError("the point estimate must lie inside the confidence interval")
    point = evalue_threshold(rr, true)
    if lo is None and hi is None:
        return EValue(rr, lo, hi, point, None)
    if rr > true:
        limit = lo
        crosses = lo is not None and lo < true
    elif rr < true:
        limit = hi
        crosses = hi is not None and hi > true
    else:
        return EValue(rr, lo, hi, 1.0, 1.0)
    if limit is None:
        ci = None
    else:
        ci = 1.0 if crosses else evalue_threshold(limit, true)
    return EValue(rr, lo, hi, point, ci)


def evalue_md(d: float, se: float | None = None, true: float = 0.0) -> EValue:
    """E-values for a standardized mean difference d (Cohen's d) with standard error `se`, as R
    ``EValue::evalues.MD``: RR ≈ exp(0.91 d), CI exp(0.91 d ± 1.78 se) (VanderWeele & Ding 2017,
    via the approximation of Hasselblad & Hedges 1995 / Chinn 2000)."""
    if se is not None and se < 0:
        raise ValueError("the standard error cannot be negative")
    rr = float(np.exp(0.91 * d))
    lo = hi = None
    if se is not None:
        lo, hi = float(np.exp(0.91 * d - 1.78 * se)), float(np.exp(0.91 * d + 1.78 * se))
    return evalue_rr(rr, lo, hi, true=float(np.exp(0.91 * true)))


def evalue_mean_difference(estimate: float, se: float, sd: float, true: float = 0.0) -> EValue:
    """E-values for an unstandardized mean difference (as R ``EValue::evalues.OLS`` with delta = 1):
    d = estimate / sd, se_d = se / sd; `true` is on the standardized scale."""
    if sd <= 0:
        raise ValueError("the outcome SD must be positive")
    return evalue_md(estimate / sd, se / sd, true)


# --------------------------------------------------------------------------------------------------
# 3b. Rosenbaum bounds for the Wilcoxon signed-rank statistic (Rosenbaum 2002, sec. 4.3; rbounds::psens)
# --------------------------------------------------------------------------------------------------

def pair_differences(matched: pd.DataFrame, column: str, *, subclass: str = "subclass") -> np.ndarray:
    """Treated-minus-control differences of `column` in 1:1 matched pairs (pairs with a missing value dropped),
    in pair order."""
    data = _prepared(matched)
    data = data[data[column].notna()]
    sizes = data.groupby([subclass, "dex"]).size().unstack(fill_value=0)
    if (sizes.max() > 1).any():
        raise ValueError("pair_differences needs 1:1 pairs (each subclass one DEX and one LA patient)")
    complete = sizes[(sizes.get(1, 0) == 1) & (sizes.get(0, 0) == 1)].index
    data = data[data[subclass].isin(complete)]
    wide = data.pivot(index=subclass, columns="dex", values=column).sort_index()
    return (wide[1] - wide[0]).to_numpy(dtype=float)


@dataclass(frozen=True)
class RosenbaumBound:
    """Bounds on the one-sided p-value of Wilcoxon's signed-rank test when the odds of treatment of two
    matched patients may differ by a factor up to Γ (Rosenbaum 2002, sec. 4.3.3, normal approximation)."""

    gamma: float
    statistic: float
    n_pairs: int
    p_upper: float
    p_lower: float


def wilcoxon_sensitivity(differences, gamma: float = 1.0, alternative: str = "greater",
                         zero_method: str = "wilcox") -> RosenbaumBound:
    """Rosenbaum's bounds for the signed-rank statistic T = sum of the ranks of |D| over positive D.

    Under a bias of at most Γ, T is bounded by sums of independent ranks q_i taken with probability
    p⁺ = Γ/(1 + Γ) (upper) or p⁻ = 1/(1 + Γ) (lower): E = p Σq, Var = p(1 − p) Σq² (Rosenbaum 2002,
    sec. 4.3.3; R ``rbounds::psens`` and ``DOS2::senWilcox``). Ties get average ranks. `zero_method`
    "wilcox" drops zero differences before ranking (psens, R ``wilcox.test``); "pratt" ranks them and then
    gives them rank 0 (senWilcox). `alternative="less"` tests a negative effect (the signs are flipped).
    At Γ = 1 both bounds equal the normal-approximation p-value of ``wilcox.test(exact=FALSE, correct=FALSE)``.
    """
    if gamma < 1:
        raise ValueError(f"gamma must be at least 1, got {gamma}")
    if alternative not in ("greater", "less"):
        raise ValueError("alternative must be 'greater' or 'less'")
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if alternative == "less":
        d = -d
    if zero_method == "wilcox":
        d = d[d != 0]
        ranks = stats.rankdata(np.abs(d))
    elif zero_method == "pratt":
        ranks = stats.rankdata(np.abs(d)) * (d != 0)
    else:
        raise ValueError("zero_method must be 'wilcox' or 'pratt'")
    if ranks.sum() == 0:
        raise ValueError("no non-zero pair differences: the signed-rank test is undefined")
    statistic = float(ranks[d > 0].sum())
    sum_q, sum_q2 = float(ranks.sum()), float(np.sum(ranks**2))
    p_plus, p_minus = gamma / (1 + gamma), 1 / (1 + gamma)
    sd = np.sqrt(p_plus * (1 - p_plus) * sum_q2)
    p_upper = float(stats.norm.sf((statistic - p_plus * sum_q) / sd))
    p_lower = float(stats.norm.sf((statistic - p_minus * sum_q) / sd))
    return RosenbaumBound(float(gamma), statistic, int(np.count_nonzero(d)), p_upper, p_lower)


def rosenbaum_table(differences, gammas=(1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0), alternative: str = "greater",
                    zero_method: str = "wilcox") -> pd.DataFrame:
    """p-value bounds over a grid of Γ (as ``rbounds::psens`` prints them)."""
    rows = [asdict(wilcoxon_sensitivity(differences, g, alternative, zero_method)) for g in gammas]
    return pd.DataFrame(rows)[["gamma", "p_lower", "p_upper", "statistic", "n_pairs"]]


def critical_gamma(differences, alpha: float = ALPHA, alternative: str = "greater",
                   zero_method: str = "wilcox", gamma_max: float = 1000.0) -> float:
    """The Γ at which the upper p-value bound reaches `alpha`: the hidden bias needed to explain away the
    effect. 1.0 if the test is not significant even at Γ = 1; inf if still significant at `gamma_max`."""
    def excess(log_gamma: float) -> float:
        return wilcoxon_sensitivity(differences, float(np.exp(log_gamma)), alternative, zero_method).p_upper - alpha

    if excess(0.0) >= 0:
        return 1.0
    if excess(np.log(gamma_max)) < 0:
        return float("inf")
    return float(np.exp(optimize.brentq(excess, 0.0, np.log(gamma_max), xtol=1e-10)))


# --------------------------------------------------------------------------------------------------
# 3c. Bayesian bias-parameter analysis
# --------------------------------------------------------------------------------------------------

@dataclass
class BiasAnalysis:
    """The bias-corrected ATT θ = estimate − B when the bias B has a prior (Greenland 2005; MacLehose et al.
    2005): Monte Carlo draws and their summary, the posterior probability that θ has the sign of the
    estimate, and the tipping points."""

    prior: str
    draws: np.ndarray
    mean: float
    median: float
    ci_low: float
    ci_high: float
    p_same_sign: float
    tipping_bias: float  # fixed bias at which the 95% CI reaches 0
    tipping_prior_mean: float  # prior mean of B (prior SD kept) at which the 95% interval reaches 0


def tipping_bias(estimate: float, se: float, bias_sd: float = 0.0, level: float = 0.95) -> float:
    """The bias (score points, same sign as the effect) that moves the interval of estimate − B to 0.

    With a fixed bias (`bias_sd` = 0) it is the CI limit closer to 0; with B ~ Normal(μ, bias_sd) and a flat
    prior on the true effect, θ ~ Normal(estimate − μ, se² + bias_sd²), so μ* = estimate − sign · z · √(se² +
    bias_sd²).
    """
    z = float(stats.norm.ppf(0.5 + level / 2))
    return float(estimate - _direction(estimate) * z * np.sqrt(se**2 + bias_sd**2))


def bias_analysis(estimate: float, se: float, bias_prior, *, n_draws: int = 20000, seed: int = DEFAULT_SEED,
                  label: str = "") -> BiasAnalysis:
    """Monte Carlo bias analysis: θ = E − B with E ~ Normal(estimate, se) (the sampling distribution, i.e. the
    posterior of the biased effect under a flat prior) and B from `bias_prior` (a frozen scipy distribution,
    score points; negative B = bias in DEX's favour when lower scores are better). Vectorised, seeded."""
    rng = np.random.default_rng(seed)
    biased = rng.normal(estimate, se, n_draws)
    bias = np.asarray(bias_prior.rvs(size=n_draws, random_state=rng), dtype=float)
    theta = biased - bias
    low, median, high = np.quantile(theta, [0.025, 0.5, 0.975])
    sign = _direction(estimate)
    prior_sd = float(bias_prior.std())
    return BiasAnalysis(prior=label, draws=theta, mean=float(theta.mean()), median=float(median),
                        ci_low=float(low), ci_high=float(high), p_same_sign=float(np.mean(sign * theta > 0)),
                        tipping_bias=tipping_bias(estimate, se),
                        tipping_prior_mean=tipping_bias(estimate, se, prior_sd))


def normal_bias_posterior(estimate: float, se: float, bias_mean: float, bias_sd: float) -> dict:
    """Closed form of `bias_analysis` for a normal prior: θ ~ Normal(estimate − μ, √(se² + σ²))."""
    mean, sd = estimate - bias_mean, float(np.sqrt(se**2 + bias_sd**2))
    return {"mean": mean, "sd": sd, "ci_low": mean - Z95 * sd, "ci_high": mean + Z95 * sd,
            "p_same_sign": float(stats.norm.cdf(_direction(estimate) * mean / sd))}


def confounding_shift(frame: pd.DataFrame, matched: pd.DataFrame, column: str) -> float:
    """How far adjustment for the measured covariates moved the estimate: |naive − matched| (score points).

    Used to scale the prior on the unmeasured bias ("an unmeasured confounder as strong as all measured
    ones together")."""
    naive = effects.weighted_difference(_prepared(frame), column).estimate
    adjusted = effects.matched_difference(_prepared(matched), column).estimate
    return float(abs(naive - adjusted))


# --------------------------------------------------------------------------------------------------
# 4. Mediation sensitivity (Imai, Keele & Yamamoto 2010; R mediation::medsens, linear–linear case)
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LinearMediationFit:
    """OLS fits of the mediator model M ~ T + X and the outcome model Y ~ T + M (+ T·M) + X.

    `sigma_m`, `sigma_y` are residual SDs with the same divisor (n), so that ACME(ρ̃) = 0 exactly;
    `rho_tilde` is corr(residual of M ~ T + X, residual of Y ~ T + X): the observed correlation that a
    confounder would have to account for (Imai, Keele & Yamamoto 2010, Theorem 2).
    """

    a: float
    a_se: float
    b: float
    b_se: float
    d: float
    d_se: float
    bd_cov: float
    sigma_m: float
    sigma_y: float
    rho_tilde: float
    n: int
    r2_m: float
    r2_y: float
    interaction: bool


def _ols(y: np.ndarray, x: np.ndarray):
    return sm.OLS(y, x).fit()


def fit_linear_mediation(frame: pd.DataFrame, outcome: str, mediator: str = MEDIATOR_COLUMN,
                         covariates: list[str] | None = None, *, interaction: bool = False) -> LinearMediationFit:
    """The two linear models of R ``mediate``/``medsens`` on complete cases of `frame` (needs `dex`)."""
    data = _prepared(frame)
    covariates = list(covariates) if covariates is not None else cohort_mod.baseline_covariates(data)
    data, _ = effects.complete_cases(data, list(dict.fromkeys([outcome, mediator, "dex", *covariates])))
    x = effects.covariate_matrix(data, covariates).to_numpy()
    t = data["dex"].to_numpy(float)
    m = data[mediator].to_numpy(float)
    y = data[outcome].to_numpy(float)
    base = np.column_stack([np.ones(len(data)), t, x])
    mediator_fit = _ols(m, base)
    columns = [base[:, :2], m[:, None]] + ([(t * m)[:, None]] if interaction else []) + [x]
    outcome_fit = _ols(y, np.column_stack(columns))
    reduced_fit = _ols(y, base)
    n = len(data)
    cov_y = np.asarray(outcome_fit.cov_params())
    return LinearMediationFit(
        a=float(mediator_fit.params[1]), a_se=float(mediator_fit.bse[1]),
        b=float(outcome_fit.params[2]), b_se=float(outcome_fit.bse[2]),
        d=float(outcome_fit.params[3]) if interaction else 0.0,
        d_se=float(outcome_fit.bse[3]) if interaction else 0.0,
        bd_cov=float(cov_y[2, 3]) if interaction else 0.0,
        sigma_m=float(np.sqrt(mediator_fit.ssr / n)), sigma_y=float(np.sqrt(outcome_fit.ssr / n)),
        rho_tilde=float(np.corrcoef(mediator_fit.resid, reduced_fit.resid)[0, 1]), n=n,
        r2_m=float(mediator_fit.rsquared), r2_y=float(outcome_fit.rsquared), interaction=interaction)


def mediator_slope_at_rho(b, sigma_m, sigma_y, rho):
    """Outcome-on-mediator slope once a residual correlation ρ is allowed: b − ρ σ_Y|M / (σ_M √(1 − ρ²)).

    The observed slope b absorbs the confounded part ρ σ_3 / σ_M of the structural slope, where σ_3 =
    σ_Y|M / √(1 − ρ²) is the structural residual SD. Vectorised over any argument (e.g. posterior draws).
    """
    rho = np.asarray(rho, dtype=float)
    if np.any(np.abs(rho) >= 1):
        raise ValueError("rho must lie strictly between -1 and 1")
    return b - rho * sigma_y / (sigma_m * np.sqrt(1.0 - rho**2))


def acme_at_rho(a, b, sigma_m, sigma_y, rho, d=0.0, treated: float = 0.0):
    """ACME(t) = a (b(ρ) + d t) (Imai, Keele & Yamamoto 2010, Theorem 2, with a T × M interaction d).

    Without interaction it equals a σ_1/σ_2 (ρ̃ − ρ √((1 − ρ̃²)/(1 − ρ²))), the form of the theorem.
    `treated` = t; use 0.5 for the average of ACME(0) and ACME(1).
    """
    return a * (mediator_slope_at_rho(b, sigma_m, sigma_y, rho) + d * treated)


def rho_at_zero_acme(b, sigma_m, sigma_y, d=0.0, treated: float = 0.0):
    """The ρ at which ACME(t) vanishes: k / √(1 + k²) with k = (b + d t) σ_M / σ_Y|M (vectorised).

    Without interaction this equals `rho_tilde` of the fitted models (the value medsens reports)."""
    k = (b + d * treated) * sigma_m / sigma_y
    return k / np.sqrt(1.0 + k**2)


#: ρ grid of `medsens` (medsens uses steps of 0.1 by default; finer here for the figure).
RHO_GRID = np.round(np.arange(-0.9, 0.9001, 0.01), 2)


@dataclass
class MedsensResult:
    """ACME(ρ) over a grid with approximate 95% CIs, and the ρ at which the ACME vanishes."""

    outcome: str
    fit: LinearMediationFit
    curve: pd.DataFrame
    rho_at_zero: float
    treated: float


def medsens(frame: pd.DataFrame, outcome: str, mediator: str = MEDIATOR_COLUMN, covariates=None, *,
            interaction: bool = False, treated: float = 0.0,
            rho_grid=None) -> MedsensResult:
    """R ``mediation::medsens`` for the linear–linear case, in closed form.

    CIs use the delta method on (a, b) with the OLS covariance (as medsens' ``d0.var``); the standard error
    of the slope does not change with ρ because the residual correlation is treated as known.
    """
    fit = fit_linear_mediation(frame, outcome, mediator, covariates, interaction=interaction)
    rho = RHO_GRID if rho_grid is None else np.asarray(rho_grid, dtype=float)
    slope = mediator_slope_at_rho(fit.b, fit.sigma_m, fit.sigma_y, rho) + fit.d * treated
    acme = fit.a * slope
    slope_var = fit.b_se**2 + (treated**2) * fit.d_se**2 + 2 * treated * fit.bd_cov
    se = np.sqrt(slope**2 * fit.a_se**2 + fit.a**2 * slope_var)
    curve = pd.DataFrame({"rho": rho, "acme": acme, "ci_low": acme - Z95 * se, "ci_high": acme + Z95 * se})
    zero = float(rho_at_zero_acme(fit.b, fit.sigma_m, fit.sigma_y, fit.d, treated))
    return MedsensResult(outcome=outcome, fit=fit, curve=curve, rho_at_zero=zero, treated=treated)


# Bayesian version: the joint model of dexmood.mediation with ρ fixed through its hook -------------------

#: Posterior quantities needed to move the ACME along ρ.
HOOK_PARAMETERS = ("dex_on_mediator", "mediator_on_outcome", "dex_x_mediator", "mediator_sigma", "outcome_sigma")
HOOK_VERSION = "sensitivity-hook-v1"


def gauss_hermite_rho(prior_sd: float, n_nodes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of Gauss–Hermite quadrature for ρ ~ Normal(0, prior_sd) (weights sum to 1)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    nodes = np.where(np.abs(nodes) < 1e-12, 0.0, np.round(nodes * prior_sd, 12))
    return nodes, weights / weights.sum()


def _hook_cache_key(data, priors, settings, nodes) -> str:
    from dexmood import mediation

    payload = json.dumps({"version": HOOK_VERSION, "model": mediation.MODEL_VERSION, "data": data.fingerprint(),
                          "priors": asdict(priors), "settings": settings.key(),
                          "rho": [round(float(r), 12) for r in nodes]}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def hook_fits(data, rho_nodes, *, settings=None, priors=None, cache: bool = True) -> dict:
    """Posterior draws of `HOOK_PARAMETERS` from the joint mediation model with ρ fixed at each node.

    One model is compiled (nutpie if available) and re-used for every ρ through
    ``MediationModel.set_data(mediator_outcome_rho=ρ)``; convergence is checked for each fit with
    ``mediation.check_diagnostics`` (raises on failure). Cached as ``data/derived/sensitivity_hook_<key>.npz``
    keyed by the data, priors, sampler settings, nodes and model versions.
    Returns {"rho": nodes, "draws": {ρ: {parameter: array (draws[, outcome])}}, "diagnostics": DataFrame}.
    """
    from dexmood import mediation

    settings = settings or mediation.SamplerSettings()
    priors = priors or mediation.Priors()
    nodes = [float(r) for r in rho_nodes]
    path = paths.derived(f"sensitivity_hook_{_hook_cache_key(data, priors, settings, nodes)}.npz")
    if cache and path.exists():
        stored = np.load(path, allow_pickle=False)
        draws = {rho: {name: stored[f"{i}:{name}"] for name in HOOK_PARAMETERS} for i, rho in enumerate(nodes)}
        diagnostics = pd.read_json(io.StringIO(str(stored["diagnostics"])), orient="records")
        return {"rho": nodes, "draws": draws, "diagnostics": diagnostics, "cached": True}
    # Built and compiled at ρ = 0 (the node nearest 0 is sampled first): building it at ρ ≠ 0 makes a
    # PyTensor graph rewrite log an error (harmless, but it would print into the notebook).
    model = mediation.MediationModel(data, priors, mediator_outcome_rho=None,
                                     sampler="nutpie" if settings.sampler == "nutpie" else "pymc")
    draws, tables, arrays = {}, [], {}
    for i, rho in sorted(enumerate(nodes), key=lambda item: abs(item[1])):
        model.set_data(mediator_outcome_rho=rho)
        idata = model.sample_posterior(settings)
        table = mediation.check_diagnostics(idata, var_names=list(HOOK_PARAMETERS))
        tables.append(table.reset_index().assign(rho=rho, divergences=mediation.divergences(idata),
                                                 sampling_seconds=idata.posterior.attrs["sampling_seconds"]))
        draws[rho] = {}
        for name in HOOK_PARAMETERS:
            values = idata.posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...).values
            draws[rho][name] = np.asarray(values, dtype=float)
            arrays[f"{i}:{name}"] = draws[rho][name]
    diagnostics = pd.concat(tables, ignore_index=True).sort_values(["rho", "variable"], kind="stable")
    diagnostics = diagnostics.reset_index(drop=True)
    if cache:
        np.savez(path, diagnostics=np.array(diagnostics.to_json(orient="records")), **arrays)
    return {"rho": nodes, "draws": draws, "diagnostics": diagnostics, "cached": False}


def hook_acme(draws: dict, outcome: str, treated: float = 0.5) -> np.ndarray:
    """ACME(t) per posterior draw of a fit with ρ built into the model: a (b + d t), b the structural slope."""
    from dexmood import mediation

    k = mediation.OUTCOMES.index(outcome)
    return draws["dex_on_mediator"] * (draws["mediator_on_outcome"][:, k] + draws["dex_x_mediator"][:, k] * treated)


def transformed_acme(draws: dict, outcome: str, rho, treated: float = 0.5) -> np.ndarray:
    """ACME(t) at ρ from the draws of the ρ = 0 fit, moved along ρ in closed form (`acme_at_rho`).

    In the ρ = 0 fit the outcome SD is σ_Y|M, so the structural slope is b − ρ σ_Y|M / (σ_M √(1 − ρ²)).
    `rho` is a number or one value per draw (draws from a prior on ρ).
    """
    from dexmood import mediation

    k = mediation.OUTCOMES.index(outcome)
    return acme_at_rho(draws["dex_on_mediator"], draws["mediator_on_outcome"][:, k], draws["mediator_sigma"],
                       draws["outcome_sigma"][:, k], rho, draws["dex_x_mediator"][:, k], treated)


def bayesian_medsens(fits: dict, outcome: str, prior_sd: float, *, treated: float = 0.5,
                     seed: int = DEFAULT_SEED) -> dict:
    """ACME with ρ ~ Normal(0, prior_sd) (truncated to |ρ| < 0.95), two ways:

    * closed form: every posterior draw of the ρ = 0 fit gets its own ρ from the prior (continuous);
    * inside the model: the fits at the Gauss–Hermite nodes (`hook_fits`) mixed with the quadrature weights.
      ρ is not identified by the data, so the posterior given the prior is the prior-weighted mixture of the
      posteriors at fixed ρ; the quadrature gives its mean and SD.

    Also the posterior of the ρ at which the ACME vanishes, per draw.
    """
    base = fits["draws"][0.0] if 0.0 in fits["draws"] else fits["draws"][min(fits["draws"], key=abs)]
    n = len(base["dex_on_mediator"])
    rng = np.random.default_rng(seed)
    bound = 0.95 / prior_sd
    rho = stats.truncnorm.rvs(-bound, bound, scale=prior_sd, size=n, random_state=rng)
    closed = transformed_acme(base, outcome, rho, treated)
    from dexmood import mediation

    k = mediation.OUTCOMES.index(outcome)
    zero = rho_at_zero_acme(base["mediator_on_outcome"][:, k], base["mediator_sigma"], base["outcome_sigma"][:, k],
                            base["dex_x_mediator"][:, k], treated)
    nodes, weights = gauss_hermite_rho(prior_sd, len(fits["rho"]))
    means = np.array([hook_acme(fits["draws"][float(r)], outcome, treated).mean() for r in fits["rho"]])
    second = np.array([np.mean(hook_acme(fits["draws"][float(r)], outcome, treated) ** 2) for r in fits["rho"]])
    q_mean = float(weights @ means)
    q_sd = float(np.sqrt(weights @ second - q_mean**2))
    low, median, high = np.quantile(closed, [0.025, 0.5, 0.975])
    z_low, z_median, z_high = np.quantile(zero, [0.025, 0.5, 0.975])
    return {"outcome": outcome, "prior_sd": prior_sd, "acme_mean": float(closed.mean()),
            "acme_sd": float(closed.std(ddof=1)), "acme_median": float(median), "acme_low": float(low),
            "acme_high": float(high), "p_acme_same_sign": float(np.mean(np.sign(closed) == np.sign(median))),
            "quadrature_mean": q_mean, "quadrature_sd": q_sd,
            "rho_zero_median": float(z_median), "rho_zero_low": float(z_low), "rho_zero_high": float(z_high),
            "draws": closed, "rho_zero_draws": zero}


def hook_check_table(fits: dict, outcome: str, treated: float = 0.5) -> pd.DataFrame:
    """At each node: posterior median and 95% interval of the ACME from the model fitted with that ρ next to
    the ρ = 0 posterior moved to that ρ in closed form (they differ only through the priors)."""
    base = fits["draws"][0.0]
    rows = []
    for rho in fits["rho"]:
        inside = hook_acme(fits["draws"][float(rho)], outcome, treated)
        moved = transformed_acme(base, outcome, rho, treated)
        rows.append({"outcome": outcome, "rho": rho,
                     "model median": float(np.median(inside)), "model 2.5%": float(np.quantile(inside, 0.025)),
                     "model 97.5%": float(np.quantile(inside, 0.975)),
                     "closed form median": float(np.median(moved)),
                     "closed form 2.5%": float(np.quantile(moved, 0.025)),
                     "closed form 97.5%": float(np.quantile(moved, 0.975))})
    return pd.DataFrame(rows)


def plot_medsens(results: dict, fits: dict | None = None, treated: float = 0.5):
    """ACME(ρ) with its 95% CI (closed form, medsens) per mediated outcome; the Bayesian joint model's posterior
    median and 95% interval at the fixed-ρ nodes; the ρ where the ACME vanishes."""
    from dexmood import plots

    fig, axes = plots.new_figure(ncols=len(results), width=9.0, height=3.8, sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (key, result) in zip(axes, results.items(), strict=True):
        curve = result.curve
        colour = plots.OKABE_ITO[0] if key == "gad7" else plots.OKABE_ITO[5]
        ax.fill_between(curve["rho"], curve["ci_low"], curve["ci_high"], color=colour, alpha=0.18, lw=0,
                        label="95% CI (delta method)")
        ax.plot(curve["rho"], curve["acme"], color=colour, label="ACME(ρ), closed form")
        ax.axhline(0, color="#333333", lw=0.8)
        ax.axvline(result.rho_at_zero, color=colour, ls="--", lw=1,
                   label=f"ACME = 0 at ρ = {result.rho_at_zero:.2f}")
        if fits is not None:
            for rho in fits["rho"]:
                values = hook_acme(fits["draws"][float(rho)], key, treated)
                low, med, high = np.quantile(values, [0.025, 0.5, 0.975])
                ax.errorbar(rho, med, yerr=[[med - low], [high - med]], fmt="s", color="#333333", capsize=3,
                            ms=5, label="joint Bayesian model, ρ fixed" if rho == fits["rho"][0] else None)
        ax.set_title(OUTCOME_LABELS[key])
        ax.set_xlabel("ρ: correlation of mediator and outcome residuals")
        ax.legend(fontsize=7.5, loc="upper left")
    axes[0].set_ylabel("ACME, points (negative = benefit via pain)")
    return fig, axes


# --------------------------------------------------------------------------------------------------
# 5. Missing follow-up: multiple imputation and delta adjustment
# --------------------------------------------------------------------------------------------------

#: Order of sequential imputation: the mediator first, then the outcomes that may depend on it.
IMPUTATION_ORDER = ("nrs", "gad7", "phq9")


@dataclass
class Imputations:
    """`values[j]` is the j-th completed copy of the changes (rows = patients of `frame`, columns =
    `IMPUTATION_ORDER`); `missing` flags the imputed cells."""

    frame: pd.DataFrame
    values: np.ndarray
    missing: np.ndarray
    seed: int

    @property
    def m(self) -> int:
        return self.values.shape[0]

    def completed(self, j: int, delta: dict | None = None) -> pd.DataFrame:
        """Copy j as a data frame; `delta` {outcome: δ} adds δ to the imputed values of DEX patients."""
        out = self.frame.copy()
        dex = out["dex"].to_numpy() == 1
        for k, key in enumerate(IMPUTATION_ORDER):
            column = self.values[j, :, k].copy()
            if delta and key in delta:
                column[self.missing[:, k] & dex] += delta[key]
            out[OUTCOME_COLUMNS[key]] = column
        return out


def impute_changes(frame: pd.DataFrame, covariates: list[str] | None = None, *, m: int = 20,
                   seed: int = DEFAULT_SEED) -> Imputations:
    """Proper multiple imputation of the 1-month changes by Bayesian linear regression (van Buuren 2018,
    Algorithm 3.1, "norm"), one outcome after the other in `IMPUTATION_ORDER`.

    Each model regresses the change on DEX, the baseline covariates and the changes imputed before it; per
    copy, σ² and β are drawn from their posterior (σ² = RSS / χ²_{n−p}, β ~ Normal(β̂, σ²(X'X)⁻¹)) and the
    missing values from Normal(Xβ, σ²). The follow-up visit is missing as a whole, so the pattern is
    monotone and one pass is exact. Values stay continuous (no rounding): the analysis model is linear.
    """
    data = _prepared(frame).reset_index(drop=True)
    covariates = list(covariates) if covariates is not None else cohort_mod.baseline_covariates(data)
    x = effects.covariate_matrix(data, covariates).to_numpy()
    base = np.column_stack([np.ones(len(data)), data["dex"].to_numpy(float), x])
    observed = np.column_stack([data[OUTCOME_COLUMNS[k]].to_numpy(float) for k in IMPUTATION_ORDER])
    missing = np.isnan(observed)
    rng = np.random.default_rng(seed)
    values = np.repeat(observed[None], m, axis=0)
    for j in range(m):
        for k in range(len(IMPUTATION_ORDER)):
            miss = missing[:, k]
            if not miss.any():
                continue
            design = np.column_stack([base, values[j, :, :k]])
            fit_rows = ~miss
            xo, yo = design[fit_rows], observed[fit_rows, k]
            xtx_inv = np.linalg.inv(xo.T @ xo)
            beta_hat = xtx_inv @ xo.T @ yo
            residual = yo - xo @ beta_hat
            df = len(yo) - design.shape[1]
            sigma2 = float(residual @ residual / rng.chisquare(df))
            beta = beta_hat + np.linalg.cholesky(xtx_inv * sigma2) @ rng.standard_normal(len(beta_hat))
            values[j, miss, k] = design[miss] @ beta + rng.normal(0.0, np.sqrt(sigma2), int(miss.sum()))
    return Imputations(frame=data, values=values, missing=missing, seed=seed)


def rubin_combine(estimates, variances, level: float = 0.95) -> dict:
    """Rubin's rules (Rubin 1987): pooled estimate, total variance T = W̄ + (1 + 1/m) B, degrees of freedom
    ν = (m − 1)(1 + W̄ / ((1 + 1/m) B))², t-based interval, and the fraction of missing information."""
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    m = len(q)
    if m < 2:
        raise ValueError("Rubin's rules need at least two imputations")
    estimate = float(q.mean())
    within = float(u.mean())
    between = float(q.var(ddof=1))
    total = within + (1 + 1 / m) * between
    if between > 0:
        r = (1 + 1 / m) * between / within
        df = (m - 1) * (1 + 1 / r) ** 2
        crit = float(stats.t.ppf(0.5 + level / 2, df))
        fmi = (r + 2 / (df + 3)) / (r + 1)
    else:
        df, crit, fmi = float("inf"), float(stats.norm.ppf(0.5 + level / 2)), 0.0
    se = float(np.sqrt(total))
    return {"estimate": estimate, "se": se, "ci_low": estimate - crit * se, "ci_high": estimate + crit * se,
            "df": float(df), "within": within, "between": between, "fmi": float(fmi), "m": m}


def multiple_imputation_att(imputations: Imputations, matched_ids, outcome: str, *, delta: float = 0.0,
                            subclass_of: pd.Series | None = None) -> dict:
    """Matched ATT (`effects.matched_difference`, pair-cluster SE) in every completed copy, pooled by Rubin's
    rules. `matched_ids` are the patient_ids of the matched sample and `subclass_of` their pair ids (index =
    patient_id); `delta` shifts the imputed values of DEX patients (δ-adjustment, MNAR)."""
    frame = imputations.frame
    rows = frame["patient_id"].astype(str).isin(set(map(str, matched_ids))).to_numpy()
    pairs = subclass_of.rename(index=str)
    estimates, variances = [], []
    for j in range(imputations.m):
        completed = imputations.completed(j, {outcome: delta}).loc[rows].copy()
        completed["subclass"] = completed["patient_id"].astype(str).map(pairs).to_numpy()
        completed["weights"] = 1.0
        result = effects.matched_difference(completed, OUTCOME_COLUMNS[outcome])
        estimates.append(result.estimate)
        variances.append(result.se**2)
    return rubin_combine(estimates, variances)


def delta_tipping_point(imputations: Imputations, matched_ids, outcome: str, subclass_of: pd.Series, *,
                        delta_max: float | None = None) -> float:
    """The smallest shift δ (score points, towards no effect) of the imputed DEX values at which the pooled
    95% CI of the matched ATT reaches 0. Returns inf if even `delta_max` (default 3 × the instrument's
    range) does not reach it, and 0 if the complete-data CI already contains 0."""
    lo, hi = cohort_mod.SCORE_RANGES[outcome]
    delta_max = 3.0 * (hi - lo) if delta_max is None else delta_max
    base = multiple_imputation_att(imputations, matched_ids, outcome, subclass_of=subclass_of)
    sign = _direction(base["estimate"])

    def gap(delta: float) -> float:
        pooled = multiple_imputation_att(imputations, matched_ids, outcome, delta=-sign * delta,
                                         subclass_of=subclass_of)
        return pooled["ci_high"] if sign < 0 else -pooled["ci_low"]  # reaches 0 from below

    if gap(0.0) >= 0:
        return 0.0
    if gap(delta_max) < 0:
        return float("inf")
    return float(optimize.brentq(gap, 0.0, delta_max, xtol=1e-4))


def missing_data_table(frame: pd.DataFrame, matched: pd.DataFrame, covariates: list[str] | None = None, *,
                       m: int = 20, seed: int = DEFAULT_SEED, outcomes=OUTCOMES) -> pd.DataFrame:
    """Per outcome: complete-case matched ATT next to the multiple-imputation one (imputation model fitted
    on the whole cohort `frame`, ATT in the matched sample) and the δ-adjustment tipping point."""
    imputations = impute_changes(frame, covariates, m=m, seed=seed)
    data = _prepared(matched)
    ids = data["patient_id"].astype(str)
    pairs = pd.Series(data["subclass"].to_numpy(), index=ids)
    in_matched = imputations.frame["patient_id"].astype(str).isin(set(ids)).to_numpy()
    dex = imputations.frame["dex"].to_numpy() == 1
    rows = []
    for key in outcomes:
        k = IMPUTATION_ORDER.index(key)
        complete = effects.matched_difference(data, OUTCOME_COLUMNS[key])
        pooled = multiple_imputation_att(imputations, ids, key, subclass_of=pairs)
        imputed = imputations.missing[:, k] & in_matched
        rows.append({"outcome": key, "cc_estimate": complete.estimate, "cc_ci_low": complete.ci_low,
                     "cc_ci_high": complete.ci_high, "cc_n": complete.n, "mi_estimate": pooled["estimate"],
                     "mi_ci_low": pooled["ci_low"], "mi_ci_high": pooled["ci_high"], "fmi": pooled["fmi"],
                     "imputed_dex": int((imputed & dex).sum()), "imputed_la": int((imputed & ~dex).sum()),
                     "delta_tipping": delta_tipping_point(imputations, ids, key, pairs)})
    return pd.DataFrame(rows)


def bias_priors(frame: pd.DataFrame, matched: pd.DataFrame, key: str) -> dict:
    """Two priors on the bias B of the matched ATT of `key`, scaled by the measured confounding shift s
    (`confounding_shift`): symmetric B ~ Normal(0, s), and one-sided B ~ half-normal(s) in DEX's favour
    (same sign as the effect: the estimate would overstate the benefit)."""
    column = OUTCOME_COLUMNS[key]
    shift = confounding_shift(frame, matched, column)
    estimate = effects.matched_difference(_prepared(matched), column).estimate
    favour = stats.truncnorm(-np.inf, 0.0, scale=shift) if estimate < 0 else stats.truncnorm(0.0, np.inf, scale=shift)
    return {"shift": shift, "symmetric": stats.norm(0.0, shift), "favouring DEX": favour}


def bias_table(frame: pd.DataFrame, matched: pd.DataFrame, outcomes=OUTCOMES, *, n_draws: int = 20000,
               seed: int = DEFAULT_SEED) -> tuple[pd.DataFrame, dict]:
    """Bayesian bias analysis of every outcome under the two `bias_priors`; returns the table and, per
    outcome, the analysis under the one-sided prior (the dashboard's)."""
    data = _prepared(matched)
    rows, chosen = [], {}
    for key in outcomes:
        estimate = effects.matched_difference(data, OUTCOME_COLUMNS[key])
        priors = bias_priors(frame, matched, key)
        for name in ("symmetric", "favouring DEX"):
            result = bias_analysis(estimate.estimate, estimate.se, priors[name], n_draws=n_draws, seed=seed,
                                   label=name)
            if name == "favouring DEX":
                chosen[key] = result
            rows.append({"outcome": key, "prior": name, "prior_scale": priors["shift"], "att": estimate.estimate,
                         "corrected_median": result.median, "ci_low": result.ci_low, "ci_high": result.ci_high,
                         "p_benefit": result.p_same_sign, "tipping_bias": result.tipping_bias,
                         "tipping_prior_mean": result.tipping_prior_mean})
    return pd.DataFrame(rows), chosen


# --------------------------------------------------------------------------------------------------
# 6. Placebo: permutation of treatment within matched pairs
# --------------------------------------------------------------------------------------------------

def permutation_test(differences, *, n_permutations: int = 10000, seed: int = DEFAULT_SEED) -> dict:
    """Randomisation test of the matched ATT: swapping DEX and LA within a pair flips the sign of its
    difference, so the placebo distribution of the mean difference comes from random sign vectors
    (vectorised, seeded). Two-sided p = (1 + #{|T*| ≥ |T|}) / (1 + n_permutations)."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    rng = np.random.default_rng(seed)
    signs = rng.integers(0, 2, size=(n_permutations, len(d)), dtype=np.int8) * 2 - 1
    null = signs @ d / len(d)
    observed = float(d.mean())
    exceed = int(np.sum(np.abs(null) >= abs(observed) - 1e-12))
    return {"observed": observed, "p": (1 + exceed) / (1 + n_permutations), "null": null,
            "null_sd": float(null.std(ddof=1)), "n_pairs": len(d), "n_permutations": n_permutations}


def permutation_table(matched: pd.DataFrame, outcomes=OUTCOMES, *, n_permutations: int = 10000,
                      seed: int = DEFAULT_SEED) -> tuple[pd.DataFrame, dict]:
    """Placebo permutation test of every outcome's matched ATT (1:1 pairs with both outcomes observed)."""
    data = _prepared(matched)
    results, rows = {}, []
    for key in outcomes:
        result = permutation_test(pair_differences(data, OUTCOME_COLUMNS[key]), n_permutations=n_permutations,
                                  seed=seed)
        results[key] = result
        rows.append({"outcome": key, "pairs": result["n_pairs"], "mean_pair_difference": result["observed"],
                     "placebo_sd": result["null_sd"], "placebo_max_abs": float(np.abs(result["null"]).max()),
                     "p": result["p"]})
    return pd.DataFrame(rows), results


def plot_permutation(results: dict):
    """Placebo distribution of the mean pair difference per outcome, with the observed ATT."""
    from dexmood import plots

    fig, axes = plots.new_figure(ncols=len(results), width=9.0, height=3.0)
    axes = np.atleast_1d(axes)
    for ax, (key, result) in zip(axes, results.items(), strict=True):
        ax.hist(result["null"], bins=40, color="#BBBBBB", edgecolor="white", lw=0.3)
        ax.axvline(result["observed"], color=plots.GROUP_COLORS["DEX"], lw=2, label="observed ATT")
        limit = 1.1 * max(abs(result["observed"]), float(np.abs(result["null"]).max()))
        ax.set_xlim(-limit, limit)
        ax.set_title(f"{OUTCOME_LABELS[key]} (p = {result['p']:.4f})")
        ax.set_xlabel("mean DEX − LA pair difference (points)")
    axes[0].set_ylabel("placebo permutations")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center")
    return fig, axes


def rosenbaum_long_table(matched: pd.DataFrame, outcomes=OUTCOMES, gammas=(1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
                         ) -> pd.DataFrame:
    """Upper and lower p-value bounds over Γ for every outcome (alternative in the direction of the ATT)."""
    data = _prepared(matched)
    blocks = []
    for key in outcomes:
        differences = pair_differences(data, OUTCOME_COLUMNS[key])
        alternative = "less" if np.mean(differences) < 0 else "greater"
        blocks.append(rosenbaum_table(differences, gammas, alternative).assign(outcome=key))
    return pd.concat(blocks, ignore_index=True)[["outcome", "gamma", "p_lower", "p_upper", "statistic", "n_pairs"]]


def plot_rosenbaum(matched: pd.DataFrame, outcomes=OUTCOMES, gamma_max: float = 3.5):
    """Upper bound of the one-sided Wilcoxon p-value against Γ, one line per outcome, with α = 0.05."""
    from dexmood import plots

    data = _prepared(matched)
    fig, ax = plots.new_figure(width=6.5, height=3.6)
    gammas = np.linspace(1.0, gamma_max, 126)
    colours = {"gad7": plots.OKABE_ITO[0], "phq9": plots.OKABE_ITO[5], "nrs": plots.OKABE_ITO[2]}
    for key in outcomes:
        differences = pair_differences(data, OUTCOME_COLUMNS[key])
        alternative = "less" if np.mean(differences) < 0 else "greater"
        upper = [wilcoxon_sensitivity(differences, g, alternative).p_upper for g in gammas]
        gamma = critical_gamma(differences, ALPHA, alternative)
        ax.plot(gammas, upper, color=colours.get(key), label=f"{OUTCOME_LABELS[key]} (Γ = {gamma:.2f})")
        if np.isfinite(gamma) and gamma <= gamma_max:
            ax.plot([gamma], [ALPHA], "o", color=colours.get(key))
    ax.axhline(ALPHA, color="#333333", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("Γ: odds ratio of DEX within a matched pair due to hidden bias")
    ax.set_ylabel("upper bound of one-sided p-value")
    ax.legend(loc="lower right")
    return fig, ax


# --------------------------------------------------------------------------------------------------
# Per-outcome summaries, verdicts, dashboard, results.json
# --------------------------------------------------------------------------------------------------

def main_estimates(matched: pd.DataFrame, outcomes=OUTCOMES) -> dict:
    """The main matched ATT (`effects.matched_difference`) and pooled SD of each outcome."""
    data = _prepared(matched)
    out = {}
    for key in outcomes:
        column = OUTCOME_COLUMNS[key]
        out[key] = {"estimate": effects.matched_difference(data, column), "sd": pooled_sd(data, column)}
    return out


def unmeasured_confounding_table(matched: pd.DataFrame, outcomes=OUTCOMES, alpha: float = ALPHA) -> pd.DataFrame:
    """Per outcome: ATT, d, E-values (point, CI) and Rosenbaum's critical Γ (Wilcoxon, 1:1 pairs)."""
    data = _prepared(matched)
    rows = []
    for key, main in main_estimates(data, outcomes).items():
        estimate, sd = main["estimate"], main["sd"]
        ev = evalue_mean_difference(estimate.estimate, estimate.se, sd)
        differences = pair_differences(data, OUTCOME_COLUMNS[key])
        alternative = "less" if estimate.estimate < 0 else "greater"
        at_one = wilcoxon_sensitivity(differences, 1.0, alternative)
        rows.append({"outcome": key, "att": estimate.estimate, "ci_low": estimate.ci_low,
                     "ci_high": estimate.ci_high, "sd": sd, "d": estimate.estimate / sd, "rr": ev.rr,
                     "evalue": ev.point, "evalue_ci": ev.ci, "pairs": len(differences),
                     "wilcoxon_p": at_one.p_upper,
                     "rosenbaum_gamma": critical_gamma(differences, alpha, alternative)})
    return pd.DataFrame(rows)


def _grade(value: float, strong: float, weak: float) -> str:
    if value >= strong:
        return "robust"
    if value >= weak:
        return "moderately robust"
    return "fragile"


def verdict_specification(row: pd.Series) -> str:
    n, agree, excl = int(row["specifications"]), int(row["same_sign"]), int(row["ci_excludes_0"])
    if agree == n and excl == n:
        word = "robust"
    elif agree == n:
        word = "direction robust, significance not"
    else:
        word = "fragile"
    return f"{word}: {agree}/{n} specifications agree in sign, {excl}/{n} CIs exclude 0"


def verdict_evalue(evalue_ci: float) -> str:
    word = _grade(evalue_ci, EVALUE_STRONG, EVALUE_WEAK)
    if evalue_ci <= 1:
        return "fragile: the CI already contains 0"
    return (f"{word}: a confounder related to DEX and outcome by RR ≥ {evalue_ci:.2f} each "
            "could move the CI to 0")


def verdict_gamma(gamma: float) -> str:
    if gamma <= 1:
        return "fragile: not significant even without hidden bias"
    word = _grade(gamma, GAMMA_STRONG, GAMMA_WEAK)
    text = "∞" if np.isinf(gamma) else f"{gamma:.2f}"
    return f"{word}: significance holds until the odds of DEX differ {text}-fold within pairs"


def verdict_rho(rho: float | None) -> str:
    if rho is None or not np.isfinite(rho):
        return "not applicable (NRS is the mediator)"
    word = _grade(abs(rho), RHO_STRONG, RHO_WEAK)
    return f"{word}: the indirect effect vanishes at residual correlation ρ = {rho:.2f}"


def verdict_missing(mi_ci: tuple[float, float], tipping: float, sd: float, att: float) -> str:
    """Robust if the imputed DEX patients would have to fare more than 2 outcome SDs worse than comparable
    observed ones (δ ≥ 2 SD) before the CI reaches 0; moderately robust if δ is at least the ATT itself."""
    significant = mi_ci[1] < 0 or mi_ci[0] > 0
    if not significant:
        return "fragile: the multiple-imputation CI contains 0"
    text = "no δ up to 3 × the scale range" if np.isinf(tipping) else f"δ = {tipping:.1f} points"
    word = "robust" if tipping >= 2 * sd else "moderately robust" if tipping >= abs(att) else "fragile"
    return f"{word}: MI agrees; the CI reaches 0 only at {text} ({tipping / sd:.1f} SD)" if np.isfinite(tipping) \
        else f"{word}: MI agrees; the CI reaches 0 at {text}"


def verdict_permutation(p: float) -> str:
    word = "robust" if p < ALPHA else "fragile"
    return f"{word}: placebo permutation p = {p:.4f}"


def verdict_subgroup(p: float) -> str:
    if not np.isfinite(p):
        return "not testable (one level only)"
    return ("no evidence of effect modification" if p >= ALPHA else "effect differs between subgroups") + \
        f" (interaction p = {p:.2f})"


def verdict_bias(p_same_sign: float) -> str:
    word = "robust" if p_same_sign >= 0.95 else "moderately robust" if p_same_sign >= 0.8 else "fragile"
    return f"{word}: P(benefit | bias prior) = {p_same_sign:.2f}"


def dashboard(spec_summary: pd.DataFrame, confounding: pd.DataFrame, medsens_rho: dict, missing: pd.DataFrame,
              permutation: dict, subgroups: pd.DataFrame, bias: dict) -> pd.DataFrame:
    """One row per outcome × check: the number that matters and a verdict computed from it."""
    rows = []
    for key in confounding["outcome"]:
        spec = spec_summary.set_index("outcome").loc[key]
        conf = confounding.set_index("outcome").loc[key]
        miss = missing.set_index("outcome").loc[key]
        interaction = subgroups[(subgroups["outcome"] == key) & (subgroups["subgroup"] == "comorbidity")]
        p_int = float(interaction["p_interaction"].iloc[0]) if len(interaction) else float("nan")
        checks = [
            ("specification curve", f"ATT {spec['min']:.2f} to {spec['max']:.2f} (main {spec['main']:.2f})",
             verdict_specification(spec)),
            ("E-value (point / CI)", f"{conf['evalue']:.2f} / {conf['evalue_ci']:.2f}",
             verdict_evalue(conf["evalue_ci"])),
            ("Rosenbaum Γ (Wilcoxon)", "∞" if np.isinf(conf["rosenbaum_gamma"]) else f"{conf['rosenbaum_gamma']:.2f}",
             verdict_gamma(conf["rosenbaum_gamma"])),
            ("Bayesian bias analysis", f"θ {bias[key].median:.2f} [{bias[key].ci_low:.2f}, {bias[key].ci_high:.2f}]",
             verdict_bias(bias[key].p_same_sign)),
            ("mediation ρ (ACME = 0)", "—" if medsens_rho.get(key) is None else f"{medsens_rho[key]:.2f}",
             verdict_rho(medsens_rho.get(key))),
            ("missing follow-up (MI, δ tipping)",
             f"MI {miss['mi_estimate']:.2f} [{miss['mi_ci_low']:.2f}, {miss['mi_ci_high']:.2f}]",
             verdict_missing((miss["mi_ci_low"], miss["mi_ci_high"]), miss["delta_tipping"], conf["sd"],
                             conf["att"])),
            ("placebo permutation", f"p = {permutation[key]['p']:.4f}", verdict_permutation(permutation[key]["p"])),
            ("subgroup: both vs one", "—" if not np.isfinite(p_int) else f"interaction p = {p_int:.2f}",
             verdict_subgroup(p_int)),
        ]
        for check, result, verdict in checks:
            rows.append({"outcome": OUTCOME_LABELS[key], "check": check, "result": result, "verdict": verdict})
    return pd.DataFrame(rows)


def results_section(match_result, cohort=None) -> dict:
    """The ``"sensitivity"`` block of results.json for a `dexmood.matching.MatchResult` (1:1 pairs).

    Per outcome: E-value of the point estimate and of the CI limit closer to 0, Rosenbaum's critical Γ
    (Wilcoxon signed rank, α = 0.05) and, for GAD-7 and PHQ-9, the mediator–outcome residual correlation at
    which the ACME (linear models, no interaction, as medsens) vanishes; None where not defined.
    """
    matched = _prepared(match_result.data)
    table = unmeasured_confounding_table(matched).set_index("outcome")
    block = {}
    for key in OUTCOMES:
        row = table.loc[key]
        gamma = float(row["rosenbaum_gamma"])
        rho = (round(float(medsens(matched, OUTCOME_COLUMNS[key],
                                   covariates=match_result.propensity.covariates).rho_at_zero), 6)
               if key in MEDIATED_OUTCOMES else None)
        block[key] = {"evalue": round(float(row["evalue"]), 6),
                      "evalue_ci": round(float(row["evalue_ci"]), 6),
                      "rosenbaum_gamma": None if np.isinf(gamma) else round(gamma, 6),
                      "medsens_rho": rho}
    return {"sensitivity": block}
