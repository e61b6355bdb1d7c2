"""Tests for dexmood.sensitivity against published worked examples, independent implementations and closed forms.

Published examples used:
* VanderWeele & Ding (2017), Ann Intern Med 167:268–274: breastfeeding and respiratory death, RR 3.9
  (95% CI 1.8–8.7) -> E-values 7.26 and 3.00; leukaemia example RR 0.80 (0.71–0.91) -> 1.81 and 1.43. The other
  E-value cases follow the unit tests of the R package EValue (tests/testthat/testthat.R).
* Morton et al. (1982) lead data, the matched-pair example of Rosenbaum (2002, ch. 4): 33 pairs, Wilcoxon
  signed-rank statistic V = 499 (published output of ``wilcox.exact``); the normal-approximation p-value of
  R 4.2 ``wilcox.test(exposed, control, paired=TRUE, exact=FALSE, correct=FALSE, alternative="greater")``.
* R ``mediation::medsens`` (linear–linear case): its iterative SUR estimator, ported below, against the closed
  form of Imai, Keele & Yamamoto (2010, Theorem 2).
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from dexmood import cohort, effects, matching
from dexmood import sensitivity as sens
from dexmood.errors import AnalysisNotPossible
from dexmood.settings import SETTINGS
from dexmood.verdict import Grade

# --------------------------------------------------------------------------------------------------
# E-values
# --------------------------------------------------------------------------------------------------


def test_evalue_annals_example_breastfeeding():
    """VanderWeele & Ding 2017: RR 3.9 (1.8, 8.7) gives E-values 7.26 (point) and 3.00 (lower CI limit)."""
    result = sens.evalue_rr(3.9, 1.8, 8.7)
    assert result.point == pytest.approx(7.26, abs=0.005)
    assert result.ci == pytest.approx(3.00, abs=0.005)
    assert result.point == pytest.approx(3.9 + np.sqrt(3.9 * 2.9))


def test_evalue_annals_example_preventive_is_symmetric():
    result = sens.evalue_rr(1 / 3.9, 1 / 8.7, 1 / 1.8)
    assert result.point == pytest.approx(3.9 + np.sqrt(3.9 * 2.9))
    assert result.ci == pytest.approx(1.8 + np.sqrt(1.8 * 0.8))


def test_evalue_annals_further_example_leukaemia():
    """VanderWeele & Ding 2017 (and EValue's evalues.RR example): RR 0.80 (0.71, 0.91) -> 1.81 and 1.43."""
    result = sens.evalue_rr(0.80, 0.71, 0.91)
    assert result.point == pytest.approx(1.81, abs=0.005)
    assert result.ci == pytest.approx(1.43, abs=0.005)
    # the brief's variant: CI upper limit 0.95 -> E-value 1/0.95 + sqrt(1/0.95 (1/0.95 - 1)) = 1.29
    assert sens.evalue_rr(0.80, 0.70, 0.95).ci == pytest.approx(1 / 0.95 + np.sqrt(1 / 0.95 * (1 / 0.95 - 1)))
    assert sens.evalue_rr(0.80, 0.70, 0.95).ci == pytest.approx(1.288, abs=0.001)


def test_evalue_ci_crossing_null_is_one_and_no_ci_gives_none():
    assert sens.evalue_rr(1.3, 0.9, 1.8).ci == 1.0
    assert sens.evalue_rr(0.7, 0.4, 1.2).ci == 1.0
    assert sens.evalue_rr(1.3).ci is None


def test_evalue_md_matches_evalue_package_tests():
    """EValue tests 'SMD, causative', 'SMD, preventive', 'SMD #3' (true != 0)."""
    d, se, true = 0.5, 0.2, 0.1
    rr, rr_true = np.exp(0.91 * d), np.exp(0.91 * true)
    rr_lo = np.exp(0.91 * d - 1.78 * se)
    result = sens.evalue_md(d, se, true)
    assert result.point == pytest.approx((rr + np.sqrt(rr * (rr - rr_true))) / rr_true)
    assert result.ci == pytest.approx((rr_lo + np.sqrt(rr_lo * (rr_lo - rr_true))) / rr_true)

    d, se, true = -0.5, 0.4, -0.1
    rr, rr_true = np.exp(0.91 * d), np.exp(0.91 * true)
    result = sens.evalue_md(d, se, true)
    assert result.point == pytest.approx((1 / rr + np.sqrt(1 / rr * (1 / rr - 1 / rr_true))) / (1 / rr_true))
    assert result.ci == 1.0  # the CI crosses the true value

    d, se, true = -0.5, 0.4, -0.6  # the true effect is further from 0 than the estimate
    ratio = np.exp(0.91 * d) / np.exp(0.91 * true)
    assert sens.evalue_md(d, se, true).point == pytest.approx(ratio + np.sqrt(ratio * (ratio - 1)))


def test_evalue_mean_difference_matches_evalues_ols_preventive():
    """EValue test 'Regression coefficient, preventive': est −10, SD 12, SE 1.5, true 0.8 (SMD scale)."""
    est, sd, se_b, true = -10.0, 12.0, 1.5, 0.8
    d, se = est / sd, se_b / sd
    rr, rr_true = 1 / np.exp(0.91 * d), 1 / np.exp(0.91 * true)
    rr_hi = 1 / np.exp(0.91 * d + 1.78 * se)
    result = sens.evalue_mean_difference(est, se_b, sd, true)
    assert result.point == pytest.approx((rr + np.sqrt(rr * (rr - rr_true))) / rr_true)
    assert result.ci == pytest.approx((rr_hi + np.sqrt(rr_hi * (rr_hi - rr_true))) / rr_true)


def test_evalue_input_errors():
    with pytest.raises(ValueError, match="inside the confidence interval"):
        sens.evalue_rr(1.2, 1.3, 1.4)
    with pytest.raises(ValueError, match="non-negative"):
        sens.evalue_rr(-0.1)
    with pytest.raises(ValueError, match="standard error"):
        sens.evalue_md(0.5, -0.1)


# --------------------------------------------------------------------------------------------------
# Rosenbaum bounds
# --------------------------------------------------------------------------------------------------

LEAD_EXPOSED = np.array([38, 23, 41, 18, 37, 36, 23, 62, 31, 34, 24, 14, 21, 17, 16, 20, 15, 10, 45, 39, 22, 35,
                         49, 48, 44, 35, 43, 39, 34, 13, 73, 25, 27], dtype=float)
LEAD_CONTROL = np.array([16, 18, 18, 24, 19, 11, 10, 15, 16, 18, 18, 13, 19, 10, 16, 16, 24, 13, 9, 14, 21, 19, 7,
                         18, 19, 12, 11, 22, 25, 16, 13, 11, 13], dtype=float)
#: R 4.2: wilcox.test(LEAD_EXPOSED, LEAD_CONTROL, paired=TRUE, exact=FALSE, correct=FALSE, alternative="greater")
LEAD_R_P_VALUE = 5.530801536e-06


def test_rosenbaum_lead_example_statistic_and_gamma_one():
    d = LEAD_EXPOSED - LEAD_CONTROL
    bound = sens.wilcoxon_sensitivity(d, 1.0)
    assert bound.statistic == 499  # published V of the lead data
    assert bound.n_pairs == 32  # one zero difference dropped
    assert bound.p_upper == pytest.approx(LEAD_R_P_VALUE, rel=1e-8)
    assert bound.p_lower == pytest.approx(bound.p_upper)
    scipy_p = stats.wilcoxon(d, alternative="greater", method="approx", correction=False).pvalue
    assert bound.p_upper == pytest.approx(scipy_p, rel=1e-10)


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt"])
def test_rosenbaum_at_gamma_one_equals_scipy_with_ties_and_zeros(zero_method):
    rng = np.random.default_rng(3)
    d = rng.integers(-3, 6, size=60).astype(float)  # many ties and zeros, like score changes
    for alternative in ("greater", "less"):
        ours = sens.wilcoxon_sensitivity(d, 1.0, alternative, zero_method).p_upper
        theirs = stats.wilcoxon(d, alternative=alternative, method="approx", correction=False,
                                zero_method=zero_method).pvalue
        assert ours == pytest.approx(theirs, rel=1e-9)


def test_rosenbaum_bounds_are_monotone_and_match_psens_formula():
    d = LEAD_EXPOSED - LEAD_CONTROL
    table = sens.rosenbaum_table(d, gammas=(1, 2, 3, 4, 5))
    assert table["p_upper"].is_monotonic_increasing
    assert table["p_lower"].is_monotonic_decreasing
    # rbounds::psens at Γ = 2, written out: E = Γ/(1+Γ) Σq, V = Γ/(1+Γ)² Σq²
    nonzero = d[d != 0]
    q = stats.rankdata(np.abs(nonzero))
    expected = stats.norm.sf((499 - 2 / 3 * q.sum()) / np.sqrt(2 / 9 * np.sum(q**2)))
    assert table.loc[1, "p_upper"] == pytest.approx(expected)
    assert round(table.loc[1, "p_upper"], 4) == 0.0018


def test_rosenbaum_upper_bound_is_the_tail_of_the_bounding_distribution():
    """Monte Carlo check of the bound: under Γ the upper-bounding statistic is Σ q_i·Bernoulli(Γ/(1+Γ))."""
    rng = np.random.default_rng(7)
    d = rng.normal(0.6, 1.0, 150)
    gamma = 1.8
    bound = sens.wilcoxon_sensitivity(d, gamma)
    q = stats.rankdata(np.abs(d))
    draws = (rng.random((40000, len(q))) < gamma / (1 + gamma)) @ q
    assert bound.p_upper == pytest.approx(np.mean(draws >= bound.statistic), abs=0.006)


def test_critical_gamma_crosses_alpha_and_edge_cases():
    d = LEAD_EXPOSED - LEAD_CONTROL
    gamma = sens.critical_gamma(d)
    assert sens.wilcoxon_sensitivity(d, gamma).p_upper == pytest.approx(0.05, abs=1e-9)
    assert 4.0 < gamma < 5.0
    assert sens.critical_gamma(-d, alternative="less") == pytest.approx(gamma)
    assert sens.critical_gamma(np.array([1.0, -1.0, 2.0, -2.0, 0.5])) == 1.0  # not significant at Γ = 1
    with pytest.raises(ValueError, match="gamma must be at least 1"):
        sens.wilcoxon_sensitivity(d, 0.5)


def matched_pairs_frame() -> pd.DataFrame:
    rows = []
    for pair, (y1, y0) in enumerate([(-5, -2), (-4, -3), (-6, np.nan), (-3, -3.5), (-7, -4)], start=1):
        rows.append({"subclass": pair, "group": "DEX", "dex": 1, "y_change": y1, "weights": 1.0})
        rows.append({"subclass": pair, "group": "LA", "dex": 0, "y_change": y0, "weights": 1.0})
    frame = pd.DataFrame(rows)
    for name in ("gad7_change", "phq9_change", "nrs_change"):
        frame[name] = frame["y_change"]
    return frame


def test_pair_differences_drops_incomplete_pairs_and_refuses_one_to_many():
    frame = matched_pairs_frame()
    np.testing.assert_allclose(sens.pair_differences(frame, "y_change"), [-3.0, -1.0, 0.5, -3.0])
    extra = pd.DataFrame([{"subclass": 1, "group": "LA", "dex": 0, "y_change": -1.0, "weights": 0.5,
                           "gad7_change": 0.0, "phq9_change": 0.0, "nrs_change": 0.0}])
    with pytest.raises(AnalysisNotPossible, match="1:1 matched pairs"):
        sens.pair_differences(pd.concat([frame, extra]), "y_change")


# --------------------------------------------------------------------------------------------------
# Bayesian bias analysis
# --------------------------------------------------------------------------------------------------


def test_bias_analysis_monte_carlo_matches_normal_closed_form():
    estimate, se = -2.0, 0.4
    prior = stats.norm(-0.3, 0.5)
    result = sens.bias_analysis(estimate, se, prior, n_draws=200000, seed=1)
    exact = sens.normal_bias_posterior(estimate, se, -0.3, 0.5)
    assert result.mean == pytest.approx(exact["mean"], abs=0.01)
    assert result.ci_low == pytest.approx(exact["ci_low"], abs=0.02)
    assert result.ci_high == pytest.approx(exact["ci_high"], abs=0.02)
    assert result.p_same_sign == pytest.approx(exact["p_same_sign"], abs=0.003)


def test_tipping_bias_moves_interval_to_zero():
    estimate, se = -2.0, 0.4
    fixed = sens.tipping_bias(estimate, se)
    assert fixed == pytest.approx(estimate + sens.Z95 * se)  # the CI limit closer to 0
    mu = sens.tipping_bias(estimate, se, bias_sd=0.5)
    assert sens.normal_bias_posterior(estimate, se, mu, 0.5)["ci_high"] == pytest.approx(0.0, abs=1e-12)
    assert sens.tipping_bias(1.5, 0.5) == pytest.approx(1.5 - sens.Z95 * 0.5)


# --------------------------------------------------------------------------------------------------
# Mediation sensitivity (medsens)
# --------------------------------------------------------------------------------------------------


def mediation_frame(n: int = 400, seed: int = 5, interaction: float = 0.0) -> pd.DataFrame:
    """Linear mediation data with a true residual correlation of 0.3 between mediator and outcome."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    t = rng.integers(0, 2, n)
    e_m = rng.normal(size=n)
    e_y = 0.3 * e_m + np.sqrt(1 - 0.09) * rng.normal(size=n)
    m = 0.2 - 0.6 * t + 0.4 * x1 + e_m
    y = 0.1 - 0.8 * t + (0.7 + interaction * t) * m + 0.3 * x2 + 1.5 * e_y
    return pd.DataFrame({"dex": t, "group": np.where(t == 1, "DEX", "LA"), "x1": x1, "x2": x2, "m": m, "y": y,
                         "gad7_change": y, "phq9_change": y, "nrs_change": m})


def medsens_sur_port(frame: pd.DataFrame, rho: float, eps: float = np.sqrt(np.finfo(float).eps)) -> float:
    """R mediation::medsens (lm/lm, INT = FALSE), its iterative SUR with the error correlation fixed at rho,
    ported line by line; returns d0 = a × b."""
    n = len(frame)
    xm = np.column_stack([np.ones(n), frame["dex"], frame["x1"], frame["x2"]])
    xy = np.column_stack([np.ones(n), frame["dex"], frame["m"], frame["x1"], frame["x2"]])
    mk, yk = xm.shape[1], xy.shape[1]
    x = np.block([[xm, np.zeros((n, yk))], [np.zeros((n, mk)), xy]])
    yc = np.concatenate([frame["m"], frame["y"]])
    b = np.linalg.solve(x.T @ x, x.T @ yc)
    change = 1.0
    while abs(change) > eps:
        e = yc - x @ b
        e1, e2 = e[:n], e[n:]
        s1, s2 = np.std(e1, ddof=1), np.std(e2, ddof=1)
        omega = np.array([[e1 @ e1 / (n - 1), rho * s1 * s2], [rho * s1 * s2, e2 @ e2 / (n - 1)]])
        omega_inv = np.linalg.inv(omega)
        weight = np.kron(omega_inv, np.eye(n))
        b_new = np.linalg.solve(x.T @ weight @ x, x.T @ weight @ yc)
        change = np.sum((b_new - b) ** 2)
        b = b_new
    return float(b[1] * b[mk + 2])


def test_medsens_acme_vanishes_at_observed_residual_correlation():
    frame = mediation_frame()
    result = sens.medsens(frame, "y", "m", ["x1", "x2"])
    fit = result.fit
    assert result.rho_at_zero == pytest.approx(fit.rho_tilde, abs=1e-12)
    # rho_tilde is corr(resid of m ~ t + x, resid of y ~ t + x)
    resid_m = smf.ols("m ~ dex + x1 + x2", frame).fit().resid
    resid_y = smf.ols("y ~ dex + x1 + x2", frame).fit().resid
    assert fit.rho_tilde == pytest.approx(np.corrcoef(resid_m, resid_y)[0, 1])
    assert sens.acme_at_rho(fit.a, fit.b, fit.sigma_m, fit.sigma_y, fit.rho_tilde) == pytest.approx(0, abs=1e-12)
    # at rho = 0 the ACME is the product of the two OLS coefficients
    a = smf.ols("m ~ dex + x1 + x2", frame).fit().params["dex"]
    b = smf.ols("y ~ dex + m + x1 + x2", frame).fit().params["m"]
    zero = result.curve.set_index("rho").loc[0.0, "acme"]
    assert zero == pytest.approx(a * b)


def test_medsens_closed_form_equals_theorem_2_of_imai_keele_yamamoto():
    frame = mediation_frame()
    fit = sens.fit_linear_mediation(frame, "y", "m", ["x1", "x2"])
    n = len(frame)
    sigma1 = np.sqrt(smf.ols("y ~ dex + x1 + x2", frame).fit().ssr / n)
    sigma2 = np.sqrt(smf.ols("m ~ dex + x1 + x2", frame).fit().ssr / n)
    rt = fit.rho_tilde
    for rho in (-0.6, -0.2, 0.1, 0.5, 0.8):
        theorem = fit.a * sigma1 / sigma2 * (rt - rho * np.sqrt((1 - rt**2) / (1 - rho**2)))
        assert sens.acme_at_rho(fit.a, fit.b, fit.sigma_m, fit.sigma_y, rho) == pytest.approx(theorem)


def test_medsens_closed_form_matches_the_r_sur_algorithm():
    frame = mediation_frame(n=150, seed=11)
    result = sens.medsens(frame, "y", "m", ["x1", "x2"], rho_grid=[-0.4, 0.0, 0.3, 0.6])
    for rho, acme in zip(result.curve["rho"], result.curve["acme"], strict=True):
        assert acme == pytest.approx(medsens_sur_port(frame, rho), abs=2e-3)


def test_medsens_with_interaction_vanishes_at_its_own_rho():
    frame = mediation_frame(interaction=0.4)
    for treated in (0.0, 1.0, 0.5):
        result = sens.medsens(frame, "y", "m", ["x1", "x2"], interaction=True, treated=treated)
        fit = result.fit
        assert sens.acme_at_rho(fit.a, fit.b, fit.sigma_m, fit.sigma_y, result.rho_at_zero, fit.d,
                                treated) == pytest.approx(0, abs=1e-12)
    with pytest.raises(ValueError, match="between -1 and 1"):
        sens.acme_at_rho(1.0, 1.0, 1.0, 1.0, 1.0)


def fake_hook_fits(prior_sd: float = 0.2, n: int = 4000, seed: int = 2) -> dict:
    """Posterior-like draws at Gauss–Hermite nodes where each fixed-ρ fit is the exact closed-form move of
    the ρ = 0 draws (what the joint model gives when the priors do not matter)."""
    rng = np.random.default_rng(seed)
    base = {"dex_on_mediator": rng.normal(-0.5, 0.1, n),
            "mediator_on_outcome": rng.normal([0.7, 0.6], 0.08, (n, 2)),
            "dex_x_mediator": rng.normal([0.0, -0.2], 0.1, (n, 2)),
            "mediator_sigma": rng.normal(1.4, 0.05, n), "outcome_sigma": rng.normal([2.3, 2.7], 0.1, (n, 2))}
    nodes, _ = sens.gauss_hermite_rho(prior_sd, 3)
    draws = {}
    for rho in nodes:
        moved = dict(base)
        moved["mediator_on_outcome"] = sens.mediator_slope_at_rho(
            base["mediator_on_outcome"], base["mediator_sigma"][:, None], base["outcome_sigma"], rho)
        draws[float(rho)] = moved
    return {"rho": [float(r) for r in nodes], "draws": draws}


def test_gauss_hermite_rho_integrates_normal_moments():
    nodes, weights = sens.gauss_hermite_rho(0.2, 5)
    assert weights.sum() == pytest.approx(1.0)
    assert weights @ nodes == pytest.approx(0.0, abs=1e-15)
    assert weights @ nodes**2 == pytest.approx(0.04)
    assert weights @ nodes**4 == pytest.approx(3 * 0.2**4)
    assert 0.0 in sens.gauss_hermite_rho(0.3, 3)[0]


def test_monte_carlo_medsens_quadrature_agrees_with_continuous_prior():
    fits = fake_hook_fits()
    for outcome in ("gad7", "phq9"):
        result = sens.monte_carlo_medsens(fits, outcome, 0.2, settings=SETTINGS.replace_(seed=4))
        assert result["quadrature_mean"] == pytest.approx(result["acme_mean"], abs=0.01)
        assert result["quadrature_sd"] == pytest.approx(result["acme_sd"], rel=0.05)
        check = sens.hook_check_table(fits, outcome)
        np.testing.assert_allclose(check["model median"], check["closed form median"])
    # at rho = 0 the moved draws are the draws themselves
    base = fits["draws"][0.0]
    np.testing.assert_allclose(sens.transformed_acme(base, "gad7", 0.0), sens.hook_acme(base, "gad7"))


# --------------------------------------------------------------------------------------------------
# Subgroups
# --------------------------------------------------------------------------------------------------


def subgroup_frame(seed: int = 9) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for pair in range(1, 61):
        gad7, phq9 = (rng.integers(5, 20), rng.integers(5, 20)) if pair <= 40 else (rng.integers(5, 20), 3)
        for dex in (1, 0):
            effect = -2.0 if pair <= 40 else -0.5
            rows.append({"subclass": pair, "dex": dex, "group": "DEX" if dex else "LA", "weights": 1.0,
                         "gad7_baseline": float(gad7), "phq9_baseline": float(phq9),
                         "y": effect * dex + rng.normal(0, 1.5)})
    frame = pd.DataFrame(rows)
    for name in ("gad7_change", "phq9_change", "nrs_change"):
        frame[name] = frame["y"]
    return frame


def test_subgroup_effects_match_cell_means_and_two_level_test_is_t_squared():
    frame = subgroup_frame()
    result = sens.subgroup_analysis(frame, "y", "comorbidity")
    data = sens.add_subgroups(frame)
    table = result.table.set_index("level")
    for level in ("both", "one only"):
        part = data[data["comorbidity"] == level]
        diff = part.loc[part.dex == 1, "y"].mean() - part.loc[part.dex == 0, "y"].mean()
        assert table.loc[level, "att"] == pytest.approx(diff)
    assert table.loc["one only", "n"] == 40
    # two levels: the F test of the interaction is the square of the t statistic of the difference, with the
    # Bell–McCaffrey df of that difference
    difference = table.loc["one only", "att"] - table.loc["both", "att"]
    se = np.sqrt(table.loc["one only", "se"] ** 2 + table.loc["both", "se"] ** 2)  # disjoint pairs
    assert result.statistic == pytest.approx((difference / se) ** 2, rel=1e-8)
    assert result.df_numerator == 1
    assert result.p_interaction == pytest.approx(2 * stats.t.sf(abs(difference / se), result.df_denominator))


def test_cr2_without_clusters_is_hc2_and_mean_has_n_minus_1_df():
    rng = np.random.default_rng(3)
    n = 30
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    y = x @ [1.0, 0.5, -1.0] + rng.normal(size=n) * (1 + x[:, 2])
    fit = sens.cr2_fit(y, x)
    reference = sm.OLS(y, x).fit(cov_type="HC2")
    np.testing.assert_allclose(fit.cov, reference.cov_params(), rtol=1e-10)
    # the mean of n values, each its own cluster: Bell–McCaffrey df = n − 1 (the t-test's)
    mean_fit = sens.cr2_fit(y, np.ones((n, 1)))
    assert mean_fit.df([1.0]) == pytest.approx(n - 1)
    assert mean_fit.cov[0, 0] == pytest.approx(np.var(y, ddof=1) / n)


def test_cr2_pair_clusters_give_paired_t_test():
    """A DEX effect with pair clusters and intact pairs: CR2 SE and df are those of the paired t-test."""
    frame = subgroup_frame(seed=4)
    pairs = frame.pivot(index="subclass", columns="dex", values="y")
    d = (pairs[1] - pairs[0]).to_numpy()
    design = np.column_stack([np.ones(len(frame)), frame["dex"].to_numpy(float)])
    fit = sens.cr2_fit(frame["y"].to_numpy(), design, clusters=frame["subclass"].to_numpy())
    assert fit.params[1] == pytest.approx(d.mean())
    assert np.sqrt(fit.cov[1, 1]) == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)), rel=1e-8)
    assert fit.df([0.0, 1.0]) == pytest.approx(len(d) - 1, rel=1e-8)


def test_subgroup_three_levels_joint_test_uses_cr2_wald():
    frame = subgroup_frame(seed=10)
    result = sens.subgroup_analysis(frame, "y", "severity", settings=SETTINGS.replace_(min_subgroup_arm=2))
    estimated = result.table[result.table["status"] == "estimated"]
    assert result.df_numerator == len(estimated) - 1 == 2
    assert 0 < result.p_interaction < 1 and result.df_denominator > 1


def small_cell_frame(n_small: int = 4, n_large: int = 40, seed: int = 1) -> pd.DataFrame:
    """Matched pairs with both anxiety and depression, plus `n_small` DEX and `n_small` LA patients with only
    one of them and no intact pair (each its own subclass), with a large apparent difference."""
    rng = np.random.default_rng(seed)
    rows = []
    for pair in range(n_large):
        for dex in (1, 0):
            rows.append({"subclass": f"p{pair}", "dex": dex, "group": "DEX" if dex else "LA", "weights": 1.0,
                         "gad7_baseline": 12.0, "phq9_baseline": 12.0, "y": -2.0 * dex + rng.normal(0, 1)})
    for i in range(2 * n_small):
        dex = int(i < n_small)
        rows.append({"subclass": f"s{i}", "dex": dex, "group": "DEX" if dex else "LA", "weights": 1.0,
                     "gad7_baseline": 12.0, "phq9_baseline": 2.0, "y": 3.0 * dex + rng.normal(0, 0.3)})
    frame = pd.DataFrame(rows)
    for name in ("gad7_change", "phq9_change", "nrs_change"):
        frame[name] = frame["y"]
    return frame


def test_subgroup_with_four_vs_four_reports_too_few_patients_and_no_test():
    frame = small_cell_frame()
    result = sens.subgroup_analysis(frame, "y", "comorbidity")
    row = result.table.set_index("level").loc["one only"]
    assert SETTINGS.min_subgroup_arm >= 10
    assert row["status"] == "too few patients (4 DEX / 4 LA)"
    assert np.isnan(row["p"]) and np.isnan(row["att"])
    assert np.isnan(result.p_interaction)  # only one level left: no interaction test
    table = sens.subgroup_table(frame, outcomes=("gad7",))
    verdict = sens.subgroup_verdict(table, "gad7")
    assert verdict.grade is Grade.NOT_ASSESSED and verdict.value is None
    assert "too few patients (4 DEX / 4 LA)" in verdict.sentence and "p =" not in verdict.sentence
    # with a minimum of 4 per arm the cell is tested, with a t reference of few df (not a normal one)
    tested = sens.subgroup_analysis(frame, "y", "comorbidity", settings=SETTINGS.replace_(min_subgroup_arm=4))
    assert np.isfinite(tested.p_interaction) and tested.df_denominator < 10


def test_add_subgroups_labels():
    frame = pd.DataFrame({"gad7_baseline": [3, 6, 12, 16, 2], "phq9_baseline": [7, 6, 4, 9, 1]})
    out = sens.add_subgroups(frame)
    assert list(out["comorbidity"]) == ["one only", "both", "one only", "both", "neither"]
    assert list(out["severity"]) == ["mild", "mild", "moderate", "severe", "mild"]


# --------------------------------------------------------------------------------------------------
# Missing follow-up
# --------------------------------------------------------------------------------------------------


def test_rubin_combine_hand_computed():
    q, u = [1.0, 1.2, 0.8, 1.1], [0.04, 0.05, 0.045, 0.05]
    result = sens.rubin_combine(q, u)
    w, b, m = np.mean(u), np.var(q, ddof=1), 4
    t = w + (1 + 1 / m) * b
    df = (m - 1) * (1 + w / ((1 + 1 / m) * b)) ** 2
    assert result["estimate"] == pytest.approx(1.025)
    assert result["se"] == pytest.approx(np.sqrt(t))
    assert result["df"] == pytest.approx(df)
    assert result["ci_high"] == pytest.approx(1.025 + stats.t.ppf(0.975, df) * np.sqrt(t))
    no_between = sens.rubin_combine([1.0, 1.0], [0.04, 0.04])
    assert no_between["df"] == np.inf and no_between["ci_low"] == pytest.approx(1 - sens.Z95 * 0.2)


@pytest.fixture(scope="module")
def incomplete_followup():
    """A simulated cohort with 15% of follow-ups missing (for the imputation analyses)."""
    sim = cohort.simulate(cohort.with_design(missing_followup=0.15), seed=11)
    match = matching.default_match(sim)
    return sim, match


def test_imputation_keeps_observed_values_and_is_seeded(incomplete_followup):
    sim, _ = incomplete_followup
    first = sens.impute_changes(sim.data, m=5, seed=3)
    again = sens.impute_changes(sim.data, m=5, seed=3)
    np.testing.assert_array_equal(first.values, again.values)
    observed = effects.prepare(sim.data)
    for k, key in enumerate(sens.IMPUTATION_ORDER):
        column = observed[f"{key}_change"].to_numpy()
        keep = ~np.isnan(column)
        assert (first.missing[:, k] == ~keep).all()
        for j in range(first.m):
            np.testing.assert_array_equal(first.values[j, keep, k], column[keep])
        assert np.isfinite(first.values[..., k]).all()
        assert first.values[0, ~keep, k].std() > 0  # draws, not one predicted value


def test_delta_shift_moves_pooled_att_by_share_of_imputed_dex(incomplete_followup):
    sim, match = incomplete_followup
    imputations = sens.impute_changes(sim.data, m=4, seed=5)
    matched = effects.prepare(match.data)
    ids = matched["patient_id"].astype(str)
    pairs = pd.Series(matched["subclass"].to_numpy(), index=ids)
    base = sens.multiple_imputation_att(imputations, ids, "gad7", subclass_of=pairs)
    shifted = sens.multiple_imputation_att(imputations, ids, "gad7", delta=2.0, subclass_of=pairs)
    rows = imputations.frame["patient_id"].astype(str).isin(set(ids)).to_numpy()
    dex = imputations.frame["dex"].to_numpy() == 1
    k = sens.IMPUTATION_ORDER.index("gad7")
    share = (imputations.missing[:, k] & rows & dex).sum() / (rows & dex).sum()
    assert share > 0
    # clipping to the scale can only take away from the shift
    assert 0 < shifted["estimate"] - base["estimate"] <= 2.0 * share + 1e-12
    tipping = sens.delta_tipping_point(imputations, ids, "gad7", pairs)
    assert tipping.share_imputed_dex == pytest.approx(share)
    if tipping.within_scale:
        at_tip = sens.multiple_imputation_att(imputations, ids, "gad7", delta=tipping.delta, subclass_of=pairs)
        assert at_tip["ci_high"] == pytest.approx(0.0, abs=1e-3)


def test_imputed_values_stay_inside_the_scale_and_tipping_can_fail_within_it(incomplete_followup):
    sim, match = incomplete_followup
    imputations = sens.impute_changes(sim.data, m=3, seed=5)
    frame = imputations.frame
    for delta in (0.0, 30.0):
        completed = imputations.completed(0, {"gad7": delta})
        one_month = completed["gad7_baseline"] + completed["gad7_change"]
        assert one_month.between(0, 21).all()
    # with a huge effect no δ inside the 0–21 range can tip it: "cannot tip within the scale"
    strong = frame.copy()
    strong.loc[strong["dex"] == 1, "gad7_change"] = strong.loc[strong["dex"] == 1, "gad7_baseline"].clip(upper=21) * -1
    strong.loc[strong["dex"] == 0, "gad7_change"] = 0.0
    strong.loc[imputations.missing[:, sens.IMPUTATION_ORDER.index("gad7")], "gad7_change"] = np.nan
    strong_imputations = sens.impute_changes(strong, m=3, seed=5)
    matched = effects.prepare(match.data)
    ids = matched["patient_id"].astype(str)
    pairs = pd.Series(matched["subclass"].to_numpy(), index=ids)
    tipping = sens.delta_tipping_point(strong_imputations, ids, "gad7", pairs)
    assert not tipping.within_scale and tipping.delta_max == 21
    assert tipping.text().startswith("cannot tip within the scale")
    assert f"{100 * tipping.share_imputed_dex:.0f}% of matched DEX patients imputed" in tipping.text()
    verdict = sens.verdict_missing(-10.0, -8.0, tipping.delta, tipping.share_imputed_dex, sd=3.0, att=-9.0)
    assert verdict.grade is Grade.SUPPORTED and "cannot tip within the scale" in verdict.sentence


def test_multiple_imputation_recovers_complete_data_effect_under_mcar():
    """MCAR missingness on a large cohort: the MI estimate stays close to the estimate from all the data."""
    full = cohort.simulate(cohort.with_design(n_dex=600, n_la=600, missing_followup=0.0), seed=21)
    data = effects.prepare(full.data)
    rng = np.random.default_rng(0)
    holed = full.data.copy()
    gone = rng.random(len(holed)) < 0.3
    holed.loc[gone, ["nrs_1m", "gad7_1m", "phq9_1m"]] = np.nan
    imputations = sens.impute_changes(holed, m=10, seed=1)
    ids = data["patient_id"].astype(str)
    pairs = pd.Series(np.arange(len(ids)), index=ids)  # every patient its own cluster
    pooled = sens.multiple_imputation_att(imputations, ids, "phq9", subclass_of=pairs)
    complete = effects.matched_difference(data.assign(subclass=np.arange(len(data)), weights=1.0), "phq9_change")
    assert pooled["estimate"] == pytest.approx(complete.estimate, abs=2 * complete.se)
    assert pooled["se"] > complete.se  # missing information widens the interval


# --------------------------------------------------------------------------------------------------
# Placebo permutation
# --------------------------------------------------------------------------------------------------


def test_randomisation_test_matches_exact_enumeration():
    d = np.array([-3.0, -1.0, -2.5, 0.5, -4.0, 1.0, -2.0, -0.5, -1.5, 2.0])
    exact_null = np.array([np.mean(np.array(signs) * d) for signs in itertools.product((-1, 1), repeat=len(d))])
    exact_p = np.mean(np.abs(exact_null) >= abs(d.mean()) - 1e-12)
    result = sens.randomisation_test(d, n_permutations=40000, seed=2)
    assert result["p"] == pytest.approx(exact_p, abs=0.006)
    assert result["observed"] == pytest.approx(d.mean())
    assert abs(result["null"].mean()) < 0.02
    again = sens.randomisation_test(d, n_permutations=40000, seed=2)
    np.testing.assert_array_equal(result["null"], again["null"])


# --------------------------------------------------------------------------------------------------
# Specification curve, dashboard, results.json
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_cohort(simulated):
    """The shared simulated cohort (tests/conftest.py) and its default match."""
    return simulated, matching.default_match(simulated)


def test_specification_curve_main_row_equals_effects_module_and_ato_is_apart(default_cohort):
    sim, match = default_cohort
    curve = sens.specification_curve(sim.data, outcomes=("gad7",), main_match=match,
                                     settings=SETTINGS.replace_(n_boot_specification=20))
    assert list(curve["specification"]) == [s.key for s in sens.SPECIFICATIONS]
    main = curve[curve["main"]].iloc[0]
    expected = effects.matched_difference(effects.prepare(match.data), "gad7_change")
    assert main["estimate"] == pytest.approx(expected.estimate)
    assert main["ci_high"] == pytest.approx(expected.ci_high)
    assert (curve["ci_low"] <= curve["estimate"]).all() and (curve["estimate"] <= curve["ci_high"]).all()
    assert set(curve.loc[curve["estimand"] == "ATO", "specification"]) == {"overlap"}
    assert "ATO" in curve.loc[curve["specification"] == "overlap", "label"].iloc[0]
    summary = sens.specification_summary(curve).iloc[0]
    att_rows = curve[curve["estimand"] == "ATT"]
    assert summary["specifications"] == len(att_rows) == len(sens.SPECIFICATIONS) - 1
    assert summary["min"] == pytest.approx(att_rows["estimate"].min())
    assert summary["ato"] == pytest.approx(curve.loc[curve["estimand"] == "ATO", "estimate"].iloc[0])


def test_results_section_shape_and_values(default_cohort):
    _, match = default_cohort
    block = sens.results_section(match, None, SETTINGS)["sensitivity"]
    json.dumps(block)  # JSON-able
    assert set(block) == {"gad7", "phq9", "nrs"}
    for key, entry in block.items():
        assert set(entry) == {"evalue", "evalue_ci", "rosenbaum_gamma", "medsens_rho"}
        assert entry["evalue"] >= entry["evalue_ci"] >= 1.0
        assert entry["rosenbaum_gamma"] >= 1.0
        assert (entry["medsens_rho"] is None) == (key == "nrs")
    table = sens.unmeasured_confounding_table(effects.prepare(match.data)).set_index("outcome")
    assert block["gad7"]["evalue"] == pytest.approx(
        sens.evalue_md(table.loc["gad7", "att"] / table.loc["gad7", "sd"],
                       (table.loc["gad7", "ci_high"] - table.loc["gad7", "att"]) / sens.Z95
                       / table.loc["gad7", "sd"]).point, abs=1e-5)


def test_verdicts_follow_thresholds():
    assert sens.verdict_evalue(2.5).grade is Grade.SUPPORTED
    assert sens.verdict_evalue(1.5).grade is Grade.INCONCLUSIVE
    assert sens.verdict_evalue(1.0).grade is Grade.NOT_SUPPORTED
    assert sens.verdict_evalue(float("nan")).grade is Grade.NOT_ASSESSED
    assert sens.verdict_gamma(1.0).grade is Grade.NOT_SUPPORTED
    assert sens.verdict_gamma(np.inf).grade is Grade.SUPPORTED
    assert sens.verdict_rho(None).grade is Grade.NOT_ASSESSED
    assert sens.verdict_rho(-0.35).grade is Grade.SUPPORTED and sens.verdict_rho(-0.35).value == -0.35
    assert sens.verdict_missing(-2.0, -1.0, 10.0, 0.1, sd=3.0, att=-1.5).grade is Grade.SUPPORTED
    assert sens.verdict_missing(-2.0, -1.0, 2.0, 0.1, sd=3.0, att=-1.5).grade is Grade.INCONCLUSIVE
    assert sens.verdict_missing(-2.0, 0.1, 0.0, 0.1, sd=3.0, att=-1.5).grade is Grade.NOT_SUPPORTED
    assert sens.verdict_specification(10, 10, 9).sentence.startswith("direction robust")
    assert sens.verdict_specification(0, 0, 0).grade is Grade.NOT_ASSESSED
    assert sens.verdict_subgroup(0.01, 1, 30.0).grade is Grade.SUPPORTED
    assert sens.verdict_subgroup(0.01, 1, 30.0, ["one only: too few patients (4 DEX / 4 LA)"]).value is None


def test_bias_verdict_agrees_with_the_interval_shown():
    """The case of the review: P(benefit) = 0.97 but the 95% interval [−2.38, 0.02] includes 0 → not robust."""
    verdict = sens.verdict_bias(-2.38, 0.02, estimate=-1.40, p_same_sign=0.97)
    assert verdict.grade is Grade.NOT_SUPPORTED and "[-2.38, 0.02] includes 0" in verdict.sentence
    verdict = sens.verdict_bias(-2.38, -0.02, estimate=-1.40, p_same_sign=0.98)
    assert verdict.grade is Grade.SUPPORTED and verdict.value == -0.02
    assert sens.verdict_bias(0.1, 2.0, estimate=1.0, p_same_sign=0.99).grade is Grade.SUPPORTED


def test_dashboard_leaves_out_the_randomisation_test_and_labels_the_ato(default_cohort):
    sim, match = default_cohort
    results = sens.run_sensitivity(sim.data, match, settings=SETTINGS.replace_(
        n_boot_specification=20, n_bias_draws=2000, n_permutations=500))
    assert not results.reasons()
    board = sens.dashboard(results)
    assert not board["check"].str.contains("randomisation|placebo|permutation").any()
    spec = board[board["check"].str.startswith("specification")]
    assert spec["result"].str.contains("ATO (overlap weights, other estimand)", regex=False).all()
    assert set(board["grade"]) <= set(Grade)
    counts = sens.dashboard_counts(board)
    assert counts["checks"] == int(board["robustness"].sum()) == 6 * 3
    assert sum(counts["by_grade"].values()) == counts["checks"]
    check = results.get("medsens_check")
    assert (check["relative_difference"] < 0.01).all()


# --------------------------------------------------------------------------------------------------
# medsens: the port of the iteration, the propagated band (issue 16, point 4)
# --------------------------------------------------------------------------------------------------


def test_package_port_of_medsens_iteration_equals_the_line_by_line_port():
    frame = mediation_frame(n=150, seed=11)
    for rho in (-0.4, 0.3):
        assert sens.medsens_iterative(frame, "y", rho, "m", ["x1", "x2"]) == pytest.approx(
            medsens_sur_port(frame, rho), rel=1e-6)
    check = sens.medsens_check(frame, "y", "m", ["x1", "x2"])
    assert (check["relative_difference"] < 0.01).all()
    assert sens.verdict_medsens_check(float(check["relative_difference"].max())).grade is Grade.SUPPORTED
    assert sens.verdict_medsens_check(0.05).grade is Grade.NOT_SUPPORTED  # the check can fail


def test_medsens_band_propagates_residual_sd_uncertainty():
    """At ρ = 0 both bands coincide; away from 0 the propagated band is wider, and its SE matches a Monte
    Carlo over the sampling distributions of (a, b, σ_M, σ_Y|M)."""
    frame = mediation_frame(n=120, seed=3)
    result = sens.medsens(frame, "y", "m", ["x1", "x2"], rho_grid=[0.0, 0.5])
    zero, half = result.curve.iloc[0], result.curve.iloc[1]
    assert zero["ci_low"] == pytest.approx(zero["conditional_low"])
    assert half["ci_high"] - half["ci_low"] > half["conditional_high"] - half["conditional_low"]
    fit = result.fit
    rng = np.random.default_rng(0)
    n = 200_000
    a = rng.normal(fit.a, fit.a_se, n)
    b = rng.normal(fit.b, fit.b_se, n)
    sigma_m = fit.sigma_m * np.sqrt(rng.chisquare(fit.df_m, n) / fit.df_m)
    sigma_y = fit.sigma_y * np.sqrt(rng.chisquare(fit.df_y, n) / fit.df_y)
    acme = sens.acme_at_rho(a, b, sigma_m, sigma_y, 0.5)
    assert sens.acme_se(fit, 0.5) == pytest.approx(acme.std(), rel=0.05)
    assert sens.acme_se(fit, 0.5, propagate_sigma=False) < 0.97 * acme.std()
