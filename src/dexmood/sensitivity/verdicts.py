"""Every verdict of the sensitivity chapter, built from numbers by a tested rule (`dexmood.verdict.Verdict`).

The claim each robustness verdict grades is "the main effect survives this check": SUPPORTED = robust,
INCONCLUSIVE = moderately robust, NOT_SUPPORTED = fragile, NOT_ASSESSED = the method could not run (its
sentence says why). The sentence always states the number the grade rests on and agrees with what the
dashboard displays beside it (issue 16, point 4). Thresholds are conventions of this book, not published
cut-offs, stated here so that every verdict can be traced to a number.
"""

from __future__ import annotations

import numpy as np

from dexmood.sensitivity._common import ALPHA
from dexmood.verdict import Grade, Verdict

#: E-value of the CI limit: the risk ratio a confounder would need with both DEX and the outcome.
EVALUE_STRONG, EVALUE_WEAK = 2.0, 1.25
#: Rosenbaum's Γ at which the one-sided p-value bound reaches 0.05.
GAMMA_STRONG, GAMMA_WEAK = 2.0, 1.25
#: |ρ| (mediator–outcome residual correlation) at which the ACME vanishes.
RHO_STRONG, RHO_WEAK = 0.3, 0.1
#: δ tipping point in SDs of the change for "robust" (moderately robust: at least the ATT itself).
DELTA_STRONG_SD = 2.0

WORDS = {Grade.SUPPORTED: "robust", Grade.INCONCLUSIVE: "moderately robust", Grade.NOT_SUPPORTED: "fragile",
         Grade.NOT_ASSESSED: "not assessed"}


def graded(value: float, strong: float, weak: float) -> Grade:
    """SUPPORTED at or above `strong`, INCONCLUSIVE at or above `weak`, NOT_SUPPORTED below."""
    if value >= strong:
        return Grade.SUPPORTED
    if value >= weak:
        return Grade.INCONCLUSIVE
    return Grade.NOT_SUPPORTED


def not_assessed(measure: str, reason: str) -> Verdict:
    return Verdict(Grade.NOT_ASSESSED, None, measure, reason)


def _finite(value) -> bool:
    return value is not None and bool(np.isfinite(value))


def verdict_specification(specifications: int, same_sign: int, ci_excludes_0: int) -> Verdict:
    """Over the ATT specifications that ran: all agree in sign and exclude 0 → robust; all agree in sign
    only → moderately robust ("direction robust, significance not"); otherwise fragile."""
    measure = "specifications agreeing in sign"
    if specifications == 0:
        return not_assessed(measure, "no ATT specification could be estimated")
    counts = f"{same_sign}/{specifications} ATT specifications agree in sign, {ci_excludes_0}/{specifications} CIs exclude 0"
    if same_sign == specifications and ci_excludes_0 == specifications:
        return Verdict(Grade.SUPPORTED, float(same_sign), measure, f"robust: {counts}")
    if same_sign == specifications:
        return Verdict(Grade.INCONCLUSIVE, float(same_sign), measure, f"direction robust, significance not: {counts}")
    return Verdict(Grade.NOT_SUPPORTED, float(same_sign), measure, f"fragile: {counts}")


def verdict_evalue(evalue_ci: float) -> Verdict:
    measure = "E-value of the CI limit"
    if not _finite(evalue_ci):
        return not_assessed(measure, "no E-value: the effect could not be estimated")
    if evalue_ci <= 1:
        return Verdict(Grade.NOT_SUPPORTED, float(evalue_ci), measure, "fragile: the CI already contains 0")
    grade = graded(evalue_ci, EVALUE_STRONG, EVALUE_WEAK)
    return Verdict(grade, float(evalue_ci), measure, f"{WORDS[grade]}: a confounder related to DEX and outcome by "
                   f"RR ≥ {evalue_ci:.2f} each could move the CI to 0")


def verdict_gamma(gamma: float) -> Verdict:
    measure = "Rosenbaum's critical Γ"
    if gamma is None or np.isnan(gamma):
        return not_assessed(measure, "no Rosenbaum bound: too few complete matched pairs")
    if gamma <= 1:
        return Verdict(Grade.NOT_SUPPORTED, float(gamma), measure, "fragile: not significant even without hidden bias")
    grade = graded(gamma, GAMMA_STRONG, GAMMA_WEAK)
    text = "∞" if np.isinf(gamma) else f"{gamma:.2f}"
    return Verdict(grade, float(gamma), measure,
                   f"{WORDS[grade]}: significance holds until the odds of DEX differ {text}-fold within pairs")


def verdict_bias(ci_low: float, ci_high: float, estimate: float, p_same_sign: float) -> Verdict:
    """Graded on the 95% interval that is displayed: robust only if the bias-corrected interval excludes 0
    on the side of the estimate; the probability of benefit is reported, not graded."""
    measure = "bias-corrected 95% interval"
    interval = f"[{ci_low:.2f}, {ci_high:.2f}]"
    same_side = (ci_high < 0) if estimate < 0 else (ci_low > 0)
    if same_side:
        return Verdict(Grade.SUPPORTED, float(ci_high if estimate < 0 else ci_low), measure,
                       f"robust: the bias-corrected 95% interval {interval} excludes 0 "
                       f"(P(same sign) = {p_same_sign:.2f})")
    return Verdict(Grade.NOT_SUPPORTED, float(ci_high if estimate < 0 else ci_low), measure,
                   f"fragile: the bias-corrected 95% interval {interval} includes 0 "
                   f"(P(same sign) = {p_same_sign:.2f})")


def verdict_rho(rho: float | None) -> Verdict:
    measure = "ρ at which the ACME vanishes"
    if not _finite(rho):
        return not_assessed(measure, "not applicable (NRS is the mediator)")
    grade = graded(abs(rho), RHO_STRONG, RHO_WEAK)
    return Verdict(grade, float(rho), measure,
                   f"{WORDS[grade]}: the indirect effect vanishes at residual correlation ρ = {rho:.2f}")


def verdict_missing(mi_ci_low: float, mi_ci_high: float, delta_tipping: float, share_imputed_dex: float,
                    sd: float, att: float) -> Verdict:
    """Fragile if the multiple-imputation CI contains 0. Otherwise robust if the imputed DEX patients would
    have to fare ≥ 2 outcome SDs worse than comparable observed ones (values clipped to the scale) before the
    CI reaches 0, or if no shift within the scale does it; moderately robust if δ is at least the ATT."""
    measure = "δ tipping point (points)"
    if not (mi_ci_high < 0 or mi_ci_low > 0):
        return Verdict(Grade.NOT_SUPPORTED, float(delta_tipping), measure,
                       "fragile: the multiple-imputation CI contains 0")
    share = f"{100 * share_imputed_dex:.0f}% of matched DEX patients imputed"
    if share_imputed_dex == 0:
        return Verdict(Grade.SUPPORTED, None, measure,
                       "robust: no matched DEX patient lacks the follow-up, so missing data cannot tip the result")
    if not np.isfinite(delta_tipping):
        return Verdict(Grade.SUPPORTED, float(delta_tipping), measure,
                       f"robust: MI agrees, and the result cannot tip within the scale ({share})")
    grade = graded(delta_tipping, DELTA_STRONG_SD * sd, abs(att))
    return Verdict(grade, float(delta_tipping), measure, f"{WORDS[grade]}: MI agrees; the CI reaches 0 only at "
                   f"δ = {delta_tipping:.1f} points ({delta_tipping / sd:.1f} SD; {share})")


def verdict_subgroup(p_interaction: float, df_numerator: int, df_denominator: float,
                     too_few: list[str] | None = None) -> Verdict:
    """Effect modification (the claim "the effect differs between subgroups"): no test and no verdict when a
    level compared has too few patients per arm or fewer than two levels can be compared."""
    measure = "interaction p-value"
    if too_few:
        return not_assessed(measure, "; ".join(too_few))
    if not _finite(p_interaction):
        return not_assessed(measure, "not testable (one level only)")
    test = f"F({df_numerator}, {df_denominator:.1f}), interaction p = {p_interaction:.2f}"
    if p_interaction < ALPHA:
        return Verdict(Grade.SUPPORTED, float(p_interaction), measure, f"effect differs between subgroups ({test})")
    return Verdict(Grade.NOT_SUPPORTED, float(p_interaction), measure, f"no evidence of effect modification ({test})")


def verdict_medsens_check(max_relative_difference: float, tolerance: float = 0.01) -> Verdict:
    """The closed form of ACME(ρ) agrees with the port of medsens' iteration on these data."""
    measure = "largest |closed form − iteration| / |ACME(0)|"
    if max_relative_difference <= tolerance:
        return Verdict(Grade.SUPPORTED, float(max_relative_difference), measure,
                       f"the closed form agrees with medsens' iteration (largest difference "
                       f"{100 * max_relative_difference:.2g}% of the ACME at ρ = 0)")
    return Verdict(Grade.NOT_SUPPORTED, float(max_relative_difference), measure,
                   f"the closed form and medsens' iteration differ by up to {100 * max_relative_difference:.2g}% "
                   "of the ACME at ρ = 0")
