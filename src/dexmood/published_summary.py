"""What the published summary statistics of Ren et al. (2025) support on their own (real data, no simulation).

The cohort chapters analyse a simulated cohort; this module analyses the *published numbers themselves*
(`data/published.json`, block `ren2025_cohort`, each number with its provenance there):

1. the between-group difference of the 1-month change and its 95% CI, rebuilt from the two group CIs;
2. the standardised difference (Cohen's d on the change scores) and its E-value (VanderWeele & Ding 2017,
   d → RR ≈ exp(0.91 d), as R ``EValue::evalues.MD``);
3. the comparison with the minimal clinically important differences (MCIDs) of GAD-7, PHQ-9 and NRS;
4. a conjugate normal Bayesian re-analysis of the difference under sceptical, neutral and enthusiastic
   priors (Spiegelhalter, Freedman & Parmar 1994), with the posterior probability of a benefit beyond the MCID;
5. what a proportion mediated of 18–32% means for the indirect effect in points.

Assumptions (stated once, used throughout; `ASSUMPTIONS` holds them as text for the page):
each group CI is a symmetric t interval for a mean change over the matched patients of that group
(92 per group, the published number of pairs); the two groups are analysed as independent samples, which
ignores any within-pair correlation (with positively correlated pairs, the true SE of the difference is
smaller, so the CI here is conservative); changes are approximately normal at n = 92.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy import stats

from dexmood import book, cohort, plots, sensitivity
from dexmood.settings import outcome_label
from dexmood.verdict import Grade, Verdict

OUTCOMES = ("gad7", "phq9", "nrs")
#: prior probability mass used to size the sceptical and enthusiastic priors (Spiegelhalter et al. 1994, sec. 4)
PRIOR_TAIL = 0.05
#: a probability at or beyond which a posterior statement counts as established (and 1 − it as excluded)
DECISIVE = 0.95

ASSUMPTIONS = (
    "each published group CI is a symmetric t interval (91 degrees of freedom) for the mean change of the "
    "92 matched patients of that group",
    "the two matched groups are treated as independent samples (pairing ignored; conservative when the pairs "
    "are positively correlated)",
    "changes are close enough to normal for a t interval at n = 92",
    "the MCIDs are for change within a patient; a between-group difference is compared with them only as a "
    "yardstick",
)


@dataclass(frozen=True)
class GroupChange:
    mean: float
    ci: tuple[float, float] | None
    n: int

    @property
    def se(self) -> float:
        """SE from the CI half-width: (upper − lower) / (2 t_{0.975, n−1})."""
        if self.ci is None:
            return math.nan
        return (self.ci[1] - self.ci[0]) / (2 * stats.t.ppf(0.975, self.n - 1))

    @property
    def sd(self) -> float:
        return self.se * math.sqrt(self.n)


@dataclass(frozen=True)
class Difference:
    """DEX minus LA difference of the mean 1-month change (negative = larger improvement with DEX)."""

    outcome: str
    estimate: float
    se: float
    ci: tuple[float, float]
    sd_pooled: float
    d: float
    se_d: float
    n_per_group: int

    @property
    def assessable(self) -> bool:
        return math.isfinite(self.se)


def source() -> dict:
    return cohort.published()["ren2025_cohort"]


def mcids() -> dict[str, float]:
    """MCID in points per outcome (data/published.json, block `mcid`, with citation keys)."""
    block = cohort.published()["mcid"]
    return {outcome: float(block[outcome]["points"]) for outcome in OUTCOMES}


def mcid_citations() -> dict[str, str]:
    block = cohort.published()["mcid"]
    return {outcome: block[outcome]["citation_key"] for outcome in OUTCOMES}


def group_changes(outcome: str, published: dict | None = None) -> tuple[GroupChange, GroupChange]:
    block = published or source()
    n = int(block["matched_pairs"])
    out = []
    for arm in ("dex", "la"):
        entry = block["change_from_baseline_1_month"][outcome][arm]
        ci = tuple(entry["ci95"]) if entry.get("ci95") else None
        out.append(GroupChange(float(entry["mean"]), ci, n))
    return out[0], out[1]


def difference_from_group_cis(dex: GroupChange, la: GroupChange, outcome: str = "") -> Difference:
    """Between-group difference and 95% CI from two independent group means and CIs.

    SE_diff = sqrt(SE_dex² + SE_la²); CI with t on n_dex + n_la − 2 degrees of freedom (pooled-variance
    t interval when the SDs are similar). d = difference / pooled SD, its SE by the usual large-sample formula
    sqrt((n1 + n2)/(n1 n2) + d²/(2 (n1 + n2))) (Hedges & Olkin 1985)."""
    estimate = dex.mean - la.mean
    se = math.hypot(dex.se, la.se)
    df = dex.n + la.n - 2
    half = stats.t.ppf(0.975, df) * se if math.isfinite(se) else math.nan
    sd_pooled = math.sqrt(((dex.n - 1) * dex.sd ** 2 + (la.n - 1) * la.sd ** 2) / df)
    d = estimate / sd_pooled if math.isfinite(sd_pooled) else math.nan
    se_d = math.sqrt((dex.n + la.n) / (dex.n * la.n) + d ** 2 / (2 * (dex.n + la.n)))
    return Difference(outcome, estimate, se, (estimate - half, estimate + half), sd_pooled, d, se_d, dex.n)


def differences(published: dict | None = None) -> dict[str, Difference]:
    return {o: difference_from_group_cis(*group_changes(o, published), outcome=o) for o in OUTCOMES}


def sd_for_significance(difference: Difference, level: float = 0.05) -> float:
    """Largest common SD of change at which the point difference would still be significant (two-sided, t test)
    — the only inference possible when no CI is available."""
    n = difference.n_per_group
    return abs(difference.estimate) / (stats.t.ppf(1 - level / 2, 2 * n - 2) * math.sqrt(2 / n))


def evalue(difference: Difference) -> sensitivity.EValue | None:
    """E-value of the standardised difference (R ``EValue::evalues.MD``): point and the CI limit nearer 1."""
    if not difference.assessable:
        return None
    return sensitivity.evalue_md(difference.d, difference.se_d)


# ------------------------------------------------------------------------------------------------
# Conjugate normal Bayesian re-analysis
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NormalPrior:
    name: str
    mean: float
    sd: float
    why: str


def priors(mcid: float, scale_max: float) -> list[NormalPrior]:
    """Sceptical, neutral and enthusiastic priors on the DEX − LA difference in points (benefit < 0).

    Sceptical: centred on no difference, P(benefit beyond the MCID) = 5%. Enthusiastic: centred on a benefit
    of one MCID with the same spread, so P(harm) = 5%. Neutral: centred on no difference with an SD equal to
    the scale's maximum, so that every difference the scale allows is plausible a priori."""
    z = stats.norm.ppf(1 - PRIOR_TAIL)
    spread = mcid / z
    return [
        NormalPrior("sceptical", 0.0, spread, f"no effect; P(benefit > MCID) = {PRIOR_TAIL:.0%}"),
        NormalPrior("neutral", 0.0, scale_max, "no effect, SD = the scale's maximum"),
        NormalPrior("enthusiastic", -mcid, spread, f"benefit of one MCID; P(harm) = {PRIOR_TAIL:.0%}"),
    ]


def normal_posterior(prior_mean: float, prior_sd: float, estimate: float, se: float) -> tuple[float, float]:
    """Posterior mean and SD of a normal mean with a normal prior and a normal likelihood (precision weighting)."""
    w_prior, w_data = prior_sd ** -2, se ** -2
    sd = (w_prior + w_data) ** -0.5
    return (w_prior * prior_mean + w_data * estimate) * sd ** 2, sd


SCALE_MAX = {"gad7": 21.0, "phq9": 27.0, "nrs": 10.0}


def bayesian_table(diffs: dict[str, Difference] | None = None, mcid: dict[str, float] | None = None) -> pd.DataFrame:
    """Posterior of the difference per outcome and prior: mean, 95% interval, P(benefit), P(benefit > MCID)."""
    diffs = diffs or differences()
    mcid = mcid or mcids()
    rows = []
    for outcome, diff in diffs.items():
        if not diff.assessable:
            continue
        for prior in priors(mcid[outcome], SCALE_MAX[outcome]):
            mean, sd = normal_posterior(prior.mean, prior.sd, diff.estimate, diff.se)
            rows.append({"outcome": outcome, "prior": prior.name, "prior_mean": prior.mean, "prior_sd": prior.sd,
                         "post_mean": mean, "post_low": mean - 1.96 * sd, "post_high": mean + 1.96 * sd,
                         "p_benefit": stats.norm.cdf(0.0, mean, sd),
                         "p_beyond_mcid": stats.norm.cdf(-mcid[outcome], mean, sd),
                         "p_beyond_half_mcid": stats.norm.cdf(-mcid[outcome] / 2, mean, sd)})
    return pd.DataFrame(rows)


def mcid_verdict(outcome: str, posterior: pd.DataFrame, mcid: float) -> Verdict:
    """Does the published difference reach the MCID? Graded by the smallest and largest posterior probability
    over the three priors, so that the verdict holds whichever prior a reader holds."""
    rows = posterior[posterior["outcome"] == outcome]
    if rows.empty:
        return Verdict(Grade.NOT_ASSESSED, None, "P(benefit > MCID)",
                       f"{outcome_label(outcome)}: no published CI, so no uncertainty for the difference.")
    low, high = rows["p_beyond_mcid"].min(), rows["p_beyond_mcid"].max()
    if low >= DECISIVE:
        grade, text = Grade.SUPPORTED, "exceeds the MCID of {} points under every prior"
    elif high <= 1 - DECISIVE:
        grade, text = Grade.NOT_SUPPORTED, "falls short of the MCID of {} points under every prior"
    else:
        grade, text = Grade.INCONCLUSIVE, "may or may not reach the MCID of {} points, depending on the prior"
    span = _eq(low) if format_probability(low) == format_probability(high) else \
        f"{_eq(low)} to {format_probability(high)}"
    return Verdict(grade, float(high), "largest P(benefit > MCID) over the priors",
                   f"{outcome_label(outcome)}: the between-group difference {text.format(f'{mcid:g}')} "
                   f"(P(benefit > MCID) {span}).")


def within_group_vs_mcid(published: dict | None = None, mcid: dict[str, float] | None = None) -> pd.DataFrame:
    """Each group's mean change next to the MCID (the scale on which an MCID is defined)."""
    mcid = mcid or mcids()
    rows = []
    for outcome in OUTCOMES:
        for arm, change in zip(("DEX", "LA"), group_changes(outcome, published), strict=True):
            rows.append({"outcome": outcome, "group": arm, "mean_change": change.mean, "mcid": mcid[outcome],
                         "share_of_mcid": abs(change.mean) / mcid[outcome],
                         "ci_beyond_mcid": None if change.ci is None else bool(change.ci[1] <= -mcid[outcome])})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------
# Proportion mediated → indirect effect in points
# ------------------------------------------------------------------------------------------------

def mediation_in_points(diffs: dict[str, Difference] | None = None, published: dict | None = None,
                        mcid: dict[str, float] | None = None) -> pd.DataFrame:
    """Indirect (via pain) and direct effects in points implied by the published proportion mediated.

    indirect = PM × total, with the total effect the between-group difference (its CI limits give the
    range; PM taken at both ends of 18–32%). With the NRS difference as the effect of DEX on the mediator, the
    implied mediator→outcome slope is indirect / ΔNRS (points of the outcome per NRS point)."""
    diffs = diffs or differences(published)
    mcid = mcid or mcids()
    block = published or source()
    pm_low, pm_high = block["proportion_mediated_by_pain_relief"]["range"]
    delta_nrs = diffs["nrs"].estimate
    rows = []
    for outcome in ("gad7", "phq9"):
        diff = diffs[outcome]
        indirect = (pm_low * diff.estimate, pm_high * diff.estimate)
        rows.append({"outcome": outcome, "total": diff.estimate, "pm_low": pm_low, "pm_high": pm_high,
                     "indirect_low": indirect[0], "indirect_high": indirect[1],
                     "indirect_widest_low": pm_low * diff.ci[1], "indirect_widest_high": pm_high * diff.ci[0],
                     "direct_low": diff.estimate - indirect[0], "direct_high": diff.estimate - indirect[1],
                     "indirect_share_of_mcid_high": abs(indirect[1]) / mcid[outcome],
                     "slope_per_nrs_low": indirect[0] / delta_nrs, "slope_per_nrs_high": indirect[1] / delta_nrs})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------
# Tables for the page and the landing page
# ------------------------------------------------------------------------------------------------

def provenance_table(prefix: str = "ren2025_cohort.change_from_baseline_1_month") -> pd.DataFrame:
    """Provenance of the numbers this analysis uses (the 1-month changes and their CIs, the pairs, the share
    mediated, the MCIDs), from the `provenance` mapping of data/published.json."""
    provenance = cohort.published()["provenance"]
    wanted = [k for k in provenance if k.startswith(prefix)] + [
        "ren2025_cohort.matched_pairs", "ren2025_cohort.proportion_mediated_by_pain_relief",
        "ren2025_cohort.sensitivity", "mcid.gad7", "mcid.phq9", "mcid.nrs"]
    rows = [{"number": key.replace(prefix + ".", "").replace("ren2025_cohort.", ""), **provenance[key]}
            for key in wanted]
    return pd.DataFrame(rows).fillna("")


def difference_table(diffs: dict[str, Difference] | None = None) -> pd.DataFrame:
    diffs = diffs or differences()
    rows = []
    for outcome, diff in diffs.items():
        ev = evalue(diff)
        rows.append({"outcome": outcome, "difference": diff.estimate, "ci_low": diff.ci[0], "ci_high": diff.ci[1],
                     "sd_of_change": diff.sd_pooled, "d": diff.d, "d_low": diff.d - 1.96 * diff.se_d,
                     "d_high": diff.d + 1.96 * diff.se_d,
                     "evalue_point": None if ev is None else ev.point, "evalue_ci": None if ev is None else ev.ci,
                     "sd_for_significance": sd_for_significance(diff)})
    return pd.DataFrame(rows)


def format_probability(p: float) -> str:
    """A posterior probability for prose: three decimals, '< 0.001' / '> 0.999' at the ends."""
    if p < 0.001:
        return "< 0.001"
    if p > 0.999:
        return "> 0.999"
    return f"{p:.3f}"


def _eq(p: float) -> str:
    text = format_probability(p)
    return text if text[0] in "<>" else f"= {text}"


def _fmt_ci(low: float, high: float, fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(low)} to {fmt.format(high)}"


def landing_rows() -> list[dict]:
    """Headline rows for the landing page: keys `finding`, `published`, `published-numbers analysis`."""
    block = source()
    diffs = differences(block)
    mcid = mcids()
    table = difference_table(diffs).set_index("outcome")
    posterior = bayesian_table(diffs, mcid)
    rows = []
    for outcome in ("gad7", "phq9"):
        dex, la = group_changes(outcome, block)
        t = table.loc[outcome]
        neutral = posterior[(posterior["outcome"] == outcome) & (posterior["prior"] == "neutral")].iloc[0]
        verdict = mcid_verdict(outcome, posterior, mcid[outcome])
        rows.append({
            "finding": f"{outcome_label(outcome)}: DEX vs LA, change at 1 month",
            "published": f"{dex.mean:.2f} vs {la.mean:.2f}",
            "published-numbers analysis": (
                f"difference {t['difference']:.2f} (95% CI {_fmt_ci(t['ci_low'], t['ci_high'])}), "
                f"d = {t['d']:.2f}, E-value {t['evalue_point']:.2f} (CI {t['evalue_ci']:.2f}); "
                f"P(benefit > MCID of {mcid[outcome]:g}) {_eq(neutral['p_beyond_mcid'])} (neutral prior): "
                f"{verdict.grade.value}")})
    nrs_dex, nrs_la = group_changes("nrs", block)
    rows.append({
        "finding": f"{outcome_label('nrs')}: DEX vs LA, change at 1 month",
        "published": f"{nrs_dex.mean:.2f} vs {nrs_la.mean:.2f} (no CI in the sources used)",
        "published-numbers analysis": (
            f"difference {diffs['nrs'].estimate:.2f}, {abs(diffs['nrs'].estimate) / mcid['nrs']:.0%} of the MCID "
            f"of {mcid['nrs']:g}; significant only if the SD of change is below "
            f"{sd_for_significance(diffs['nrs']):.2f}")})
    med = mediation_in_points(diffs, block, mcid).set_index("outcome")
    pm = block["proportion_mediated_by_pain_relief"]["range"]
    rows.append({
        "finding": "share of the mood effect that runs through pain relief",
        "published": f"{pm[0]:.0%}–{pm[1]:.0%}",
        "published-numbers analysis": "; ".join(
            f"{outcome_label(o)} indirect {abs(med.loc[o, 'indirect_low']):.2f}–{abs(med.loc[o, 'indirect_high']):.2f}"
            f" points (at most {med.loc[o, 'indirect_share_of_mcid_high']:.0%} of the MCID)" for o in med.index)})
    return rows


# ------------------------------------------------------------------------------------------------
# Glue keys for the page (all prefixed `pub_`; the landing page reads them as 03b_published_numbers.ipynb::key)
# ------------------------------------------------------------------------------------------------

def glue_texts() -> dict[str, str]:
    """Every number the published-numbers page and the landing page quote, formatted, by glue key."""
    block = source()
    diffs = differences(block)
    mcid = mcids()
    table = difference_table(diffs).set_index("outcome")
    posterior = bayesian_table(diffs, mcid).set_index(["outcome", "prior"])
    med = mediation_in_points(diffs, block, mcid).set_index("outcome")
    pm = block["proportion_mediated_by_pain_relief"]["range"]
    spread = posterior.groupby(level="outcome")["post_mean"].agg(lambda x: x.max() - x.min()).max()
    texts = {"pub_n_per_group": f"{int(block['matched_pairs']):d}",
             "pub_post_mean_spread": f"{spread:.2f}",
             "pub_pm_range": f"{pm[0]:.0%}–{pm[1]:.0%}",
             "pub_prior_tail": f"{PRIOR_TAIL:.0%}"}
    for outcome in OUTCOMES:
        t = table.loc[outcome]
        texts[f"pub_{outcome}_diff"] = f"{t['difference']:.2f}"
        texts[f"pub_{outcome}_mcid"] = f"{mcid[outcome]:g}"
        texts[f"pub_{outcome}_mcid_share"] = f"{abs(t['difference']) / mcid[outcome]:.0%}"
        texts[f"pub_{outcome}_sd_for_significance"] = f"{t['sd_for_significance']:.2f}"
        if not diffs[outcome].assessable:
            continue
        texts[f"pub_{outcome}_ci"] = _fmt_ci(t["ci_low"], t["ci_high"])
        texts[f"pub_{outcome}_sd"] = f"{t['sd_of_change']:.1f}"
        texts[f"pub_{outcome}_d"] = f"{t['d']:.2f}"
        texts[f"pub_{outcome}_d_ci"] = _fmt_ci(t["d_low"], t["d_high"])
        texts[f"pub_{outcome}_evalue"] = f"{t['evalue_point']:.2f}"
        texts[f"pub_{outcome}_evalue_ci"] = f"{t['evalue_ci']:.2f}"
        for prior in ("sceptical", "neutral", "enthusiastic"):
            row = posterior.loc[(outcome, prior)]
            texts[f"pub_{outcome}_p_mcid_{prior}"] = format_probability(row["p_beyond_mcid"])
            texts[f"pub_{outcome}_p_half_mcid_{prior}"] = format_probability(row["p_beyond_half_mcid"])
            texts[f"pub_{outcome}_p_benefit_{prior}"] = format_probability(row["p_benefit"])
            texts[f"pub_{outcome}_post_{prior}"] = f"{row['post_mean']:.2f} ({_fmt_ci(row['post_low'], row['post_high'])})"
        verdict = mcid_verdict(outcome, bayesian_table(diffs, mcid), mcid[outcome])
        texts[f"pub_{outcome}_mcid_grade"] = verdict.grade.value
        texts[f"pub_{outcome}_mcid_sentence"] = verdict.sentence
    for outcome in med.index:
        m = med.loc[outcome]
        texts[f"pub_{outcome}_indirect"] = f"{abs(m['indirect_low']):.2f}–{abs(m['indirect_high']):.2f}"
        texts[f"pub_{outcome}_indirect_widest"] = f"{abs(m['indirect_widest_low']):.2f}–{abs(m['indirect_widest_high']):.2f}"
        texts[f"pub_{outcome}_direct"] = f"{abs(m['direct_high']):.2f}–{abs(m['direct_low']):.2f}"
        texts[f"pub_{outcome}_indirect_mcid_share"] = f"{m['indirect_share_of_mcid_high']:.0%}"
        texts[f"pub_{outcome}_slope_per_nrs"] = f"{m['slope_per_nrs_low']:.2f}–{m['slope_per_nrs_high']:.2f}"
    within = within_group_vs_mcid(block, mcid).set_index(["outcome", "group"])
    for (outcome, group), row in within.iterrows():
        texts[f"pub_{outcome}_{group.lower()}_share_of_mcid"] = f"{row['share_of_mcid']:.0%}"
    return texts


def glue_all() -> dict[str, str]:
    """Glue every `glue_texts()` entry for myst-nb (call from the published-numbers notebook) and return them."""
    return {key: book.glue_value(key, text) for key, text in glue_texts().items()}


# ------------------------------------------------------------------------------------------------
# Figure
# ------------------------------------------------------------------------------------------------

PRIOR_STYLES = {"sceptical": plots.OKABE_ITO[5], "neutral": plots.PUBLISHED_COLOR, "enthusiastic": plots.OKABE_ITO[2]}


def plot_posteriors(posterior: pd.DataFrame | None = None, mcid: dict[str, float] | None = None):
    """Prior (thin) and posterior (thick) 95% intervals of the DEX − LA difference per prior, one panel per
    mood outcome, with the MCID (dashed) and no difference (solid) marked."""
    posterior = bayesian_table() if posterior is None else posterior
    mcid = mcid or mcids()
    outcomes = list(dict.fromkeys(posterior["outcome"]))
    fig, axes = plots.new_figure(ncols=len(outcomes), width=7.0, height=3.0, sharey=True, squeeze=False)
    for ax, outcome in zip(axes[0], outcomes, strict=True):
        rows = posterior[posterior["outcome"] == outcome].reset_index(drop=True)
        for y, row in rows.iterrows():
            color = PRIOR_STYLES[row["prior"]]
            low, high = row["prior_mean"] - 1.96 * row["prior_sd"], row["prior_mean"] + 1.96 * row["prior_sd"]
            ax.plot([low, high], [y + 0.18] * 2, color=color, lw=1.2, alpha=0.6)
            ax.plot([row["post_low"], row["post_high"]], [y - 0.05] * 2, color=color, lw=4, solid_capstyle="butt")
            ax.plot(row["post_mean"], y - 0.05, "o", color="white", mec=color, ms=5)
        ax.axvline(-mcid[outcome], color="black", ls="--", lw=1)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlim(-2.5 * mcid[outcome], 1.5 * mcid[outcome])
        ax.set_title(outcome_label(outcome))
        ax.set_xlabel("DEX − LA change at 1 month (points)")
        ax.set_yticks(range(len(rows)), rows["prior"])
    axes[0][0].set_ylim(len(rows) - 0.5, -0.5)
    return fig, axes
