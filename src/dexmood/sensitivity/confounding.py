"""Unmeasured confounding: how strong would a hidden confounder have to be?

* **E-values** (VanderWeele & Ding 2017; `evalue_rr`, `evalue_md` port R ``EValue::evalues.RR`` /
  ``evalues.MD``);
* **Rosenbaum bounds** for the Wilcoxon signed-rank test in matched pairs (Rosenbaum 2002, sec. 4.3;
  `wilcoxon_sensitivity`, `critical_gamma` port ``rbounds::psens``);
* a **Bayesian bias analysis** (`bias_analysis`: a prior on the bias subtracted from the ATT; Greenland 2005).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from dexmood import effects
from dexmood import reproducibility as mc
from dexmood.errors import AnalysisNotPossible
from dexmood.sensitivity._common import (
    ALPHA,
    OUTCOME_COLUMNS,
    OUTCOMES,
    Z95,
    direction,
    main_estimate,
    pooled_sd,
    prepared,
)
from dexmood.settings import SETTINGS, Settings

#: The Γ grid of the Rosenbaum table (as ``rbounds::psens`` prints it).
GAMMA_GRID = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)

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
    data = prepared(matched)
    data = data[data[column].notna()]
    sizes = data.groupby([subclass, "dex"]).size().unstack(fill_value=0)
    if (sizes.max() > 1).any():
        raise AnalysisNotPossible("The within-pair methods (Rosenbaum bounds, randomisation test) need 1:1 matched "
                                  "pairs (each pair one DEX and one LA patient); this match has larger matched sets.")
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
        raise AnalysisNotPossible("The signed-rank test is undefined: no matched pair has a non-zero difference.")
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
    return float(estimate - direction(estimate) * z * np.sqrt(se**2 + bias_sd**2))


def bias_analysis(estimate: float, se: float, bias_prior, *, n_draws: int = SETTINGS.n_bias_draws, seed: int = SETTINGS.seed,
                  label: str = "") -> BiasAnalysis:
    """Monte Carlo bias analysis: θ = E − B with E ~ Normal(estimate, se) (the sampling distribution, i.e. the
    posterior of the biased effect under a flat prior) and B from `bias_prior` (a frozen scipy distribution,
    score points; negative B = bias in DEX's favour when lower scores are better). Vectorised, seeded."""
    rng = np.random.default_rng(seed)
    biased = rng.normal(estimate, se, n_draws)
    bias = np.asarray(bias_prior.rvs(size=n_draws, random_state=rng), dtype=float)
    theta = biased - bias
    low, median, high = np.quantile(theta, [0.025, 0.5, 0.975])
    sign = direction(estimate)
    prior_sd = float(bias_prior.std())
    return BiasAnalysis(prior=label, draws=theta, mean=float(theta.mean()), median=float(median),
                        ci_low=float(low), ci_high=float(high), p_same_sign=float(np.mean(sign * theta > 0)),
                        tipping_bias=tipping_bias(estimate, se),
                        tipping_prior_mean=tipping_bias(estimate, se, prior_sd))


def bias_mcse(analysis: BiasAnalysis, estimate: float) -> dict:
    """Monte-Carlo SEs (issue 20) of the summaries of `bias_analysis` (independent draws): the median and the
    95% interval limits (ArviZ's quantile MCSE) and the probability of benefit (MCSE of a mean indicator)."""
    draws = np.asarray(analysis.draws, dtype=float)
    return {"corrected_median": mc.mcse_quantile(draws, 0.5), "ci_low": mc.mcse_quantile(draws, 0.025),
            "ci_high": mc.mcse_quantile(draws, 0.975),
            "p_benefit": mc.mcse_mean((direction(estimate) * draws > 0).astype(float))}


def normal_bias_posterior(estimate: float, se: float, bias_mean: float, bias_sd: float) -> dict:
    """Closed form of `bias_analysis` for a normal prior: θ ~ Normal(estimate − μ, √(se² + σ²))."""
    mean, sd = estimate - bias_mean, float(np.sqrt(se**2 + bias_sd**2))
    return {"mean": mean, "sd": sd, "ci_low": mean - Z95 * sd, "ci_high": mean + Z95 * sd,
            "p_same_sign": float(stats.norm.cdf(direction(estimate) * mean / sd))}


def confounding_shift(frame: pd.DataFrame, matched: pd.DataFrame, column: str) -> float:
    """How far adjustment for the measured covariates moved the estimate: |naive − matched| (score points).

    Used to scale the prior on the unmeasured bias ("an unmeasured confounder as strong as all measured
    ones together")."""
    naive = effects.weighted_difference(prepared(frame), column).estimate
    adjusted = effects.matched_difference(prepared(matched), column).estimate
    return float(abs(naive - adjusted))




def bias_priors(frame: pd.DataFrame, matched: pd.DataFrame, key: str) -> dict:
    """Two priors on the bias B of the matched ATT of `key`, scaled by the measured confounding shift s
    (`confounding_shift`): symmetric B ~ Normal(0, s), and one-sided B ~ half-normal(s) in DEX's favour
    (same sign as the effect: the estimate would overstate the benefit)."""
    shift = confounding_shift(frame, matched, OUTCOME_COLUMNS[key])
    if not shift > 0:
        raise AnalysisNotPossible("The bias analysis scales its prior by how far the measured covariates moved "
                                  "the estimate, and here they did not move it at all.")
    estimate = main_estimate(prepared(matched), key).estimate
    favour = stats.truncnorm(-np.inf, 0.0, scale=shift) if estimate < 0 else stats.truncnorm(0.0, np.inf, scale=shift)
    return {"shift": shift, "symmetric": stats.norm(0.0, shift), "favouring DEX": favour}


def bias_table(frame: pd.DataFrame, matched: pd.DataFrame, outcomes=OUTCOMES, *,
               settings: Settings = SETTINGS) -> tuple[pd.DataFrame, dict]:
    """Bayesian bias analysis of every outcome under the two `bias_priors` (`settings.n_bias_draws` draws);
    returns the table and, per outcome, the analysis under the one-sided prior (the dashboard's)."""
    data = prepared(matched)
    rows, chosen = [], {}
    for key in outcomes:
        estimate = main_estimate(data, key)
        priors = bias_priors(frame, matched, key)
        for name in ("symmetric", "favouring DEX"):
            result = bias_analysis(estimate.estimate, estimate.se, priors[name], n_draws=settings.n_bias_draws,
                                   seed=settings.seed, label=name)
            if name == "favouring DEX":
                chosen[key] = result
            rows.append({"outcome": key, "prior": name, "prior_scale": priors["shift"], "att": estimate.estimate,
                         "corrected_median": result.median, "ci_low": result.ci_low, "ci_high": result.ci_high,
                         "p_benefit": result.p_same_sign, "tipping_bias": result.tipping_bias,
                         "tipping_prior_mean": result.tipping_prior_mean,
                         **{f"{column}_mcse": value for column, value in bias_mcse(result, estimate.estimate).items()}})
    return pd.DataFrame(rows), chosen


def _alternative(differences) -> str:
    return "less" if np.mean(differences) < 0 else "greater"


def rosenbaum_long_table(matched: pd.DataFrame, outcomes=OUTCOMES, gammas=GAMMA_GRID) -> pd.DataFrame:
    """Upper and lower p-value bounds over Γ for every outcome (alternative in the direction of the ATT)."""
    data = prepared(matched)
    blocks = []
    for key in outcomes:
        differences = pair_differences(data, OUTCOME_COLUMNS[key])
        blocks.append(rosenbaum_table(differences, gammas, _alternative(differences)).assign(outcome=key))
    return pd.concat(blocks, ignore_index=True)[["outcome", "gamma", "p_lower", "p_upper", "statistic", "n_pairs"]]


def evalue_row(data: pd.DataFrame, key: str) -> dict:
    """ATT, pooled SD, d = ATT / SD, RR ≈ exp(0.91 d) and the E-values (point, CI limit) of one outcome."""
    estimate = main_estimate(data, key)
    sd = pooled_sd(data, OUTCOME_COLUMNS[key])
    if not sd > 0:
        raise AnalysisNotPossible(f"The E-value needs an outcome that varies; {OUTCOME_COLUMNS[key]} is constant.")
    ev = evalue_mean_difference(estimate.estimate, estimate.se, sd)
    return {"att": estimate.estimate, "ci_low": estimate.ci_low, "ci_high": estimate.ci_high, "sd": sd,
            "d": estimate.estimate / sd, "rr": ev.rr, "evalue": ev.point, "evalue_ci": ev.ci}


def rosenbaum_row(data: pd.DataFrame, key: str, alpha: float = ALPHA) -> dict:
    """Complete pairs, the signed-rank p-value at Γ = 1 and the critical Γ of one outcome."""
    differences = pair_differences(data, OUTCOME_COLUMNS[key])
    if len(differences) < 2:
        raise AnalysisNotPossible(f"The Rosenbaum bounds need at least two complete matched pairs; "
                                  f"{len(differences)} here.")
    alternative = _alternative(differences)
    return {"pairs": len(differences), "wilcoxon_p": wilcoxon_sensitivity(differences, 1.0, alternative).p_upper,
            "rosenbaum_gamma": critical_gamma(differences, alpha, alternative)}


def unmeasured_confounding_table(matched: pd.DataFrame, outcomes=OUTCOMES, alpha: float = ALPHA) -> pd.DataFrame:
    """Per outcome: ATT, d, E-values (point, CI) and Rosenbaum's critical Γ (Wilcoxon, 1:1 pairs). A method
    that cannot run leaves its columns empty and its sentence in `evalue_note` / `rosenbaum_note`."""
    data = prepared(matched)
    rows = []
    for key in outcomes:
        row = {"outcome": key, "evalue_note": "", "rosenbaum_note": ""}
        for note, method, args in (("evalue_note", evalue_row, (data, key)),
                                   ("rosenbaum_note", rosenbaum_row, (data, key, alpha))):
            try:
                row.update(method(*args))
            except AnalysisNotPossible as reason:
                row[note] = str(reason)
        rows.append(row)
    columns = ["outcome", "att", "ci_low", "ci_high", "sd", "d", "rr", "evalue", "evalue_ci", "pairs", "wilcoxon_p",
               "rosenbaum_gamma", "evalue_note", "rosenbaum_note"]
    return pd.DataFrame(rows).reindex(columns=columns)
