"""Tests for dexmood.effects: every estimator against a closed form or statsmodels/scipy on small hand-made
data, and the ATT estimators against the simulation's truth on a large cohort."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from dexmood import cohort, effects

# --------------------------------------------------------------------------------------------------
# Small hand-made data
# --------------------------------------------------------------------------------------------------


def paired_frame() -> pd.DataFrame:
    """Six matched pairs (treated first), unit weights."""
    treated = [-5.0, -4.0, -6.0, -3.0, -7.0, -2.0]
    control = [-2.0, -3.0, -2.5, -3.5, -4.0, -1.0]
    rows = []
    for pair, (y1, y0) in enumerate(zip(treated, control, strict=True), start=1):
        rows.append({"dex": 1, "y": y1, "subclass": pair, "weights": 1.0})
        rows.append({"dex": 0, "y": y0, "subclass": pair, "weights": 1.0})
    return pd.DataFrame(rows)


def test_matched_difference_equals_paired_closed_form():
    """With 1:1 pairs, the estimate is the mean pair difference and the CR1 cluster SE is the paired-t SE
    times √((2P−1)/(2P−2)) (the (N−1)/(N−K) factor with N = 2P, K = 2)."""
    frame = paired_frame()
    result = effects.matched_difference(frame, "y")
    d = frame.loc[frame.dex == 1, "y"].to_numpy() - frame.loc[frame.dex == 0, "y"].to_numpy()
    p = len(d)
    paired_se = d.std(ddof=1) / np.sqrt(p)
    assert result.estimate == pytest.approx(d.mean())
    assert result.se == pytest.approx(paired_se * np.sqrt((2 * p - 1) / (2 * p - 2)))
    assert result.ci_low == pytest.approx(d.mean() - stats.norm.ppf(0.975) * result.se)
    assert (result.n, result.n_missing) == (12, 0)


def test_matched_difference_weighted_cluster_se_matches_hand_sandwich():
    """1:2 matching weights (controls 0.5): CR1 sandwich computed by hand."""
    frame = pd.DataFrame({
        "dex": [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0],
        "y": [3.0, 1.0, 2.0, 4.0, 2.5, 0.5, 2.0, 2.0, 1.0, 5.0, 3.0, 1.5],
        "subclass": [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4],
        "weights": [1, 0.5, 0.5] * 4,
    })
    result = effects.matched_difference(frame, "y")
    x = np.column_stack([np.ones(len(frame)), frame.dex])
    w, y = frame.weights.to_numpy(), frame.y.to_numpy()
    bread = np.linalg.inv(x.T @ (w[:, None] * x))
    beta = bread @ x.T @ (w * y)
    score = x * (w * (y - x @ beta))[:, None]
    meat = sum(np.outer(s, s) for s in pd.DataFrame(score).groupby(frame.subclass).sum().to_numpy())
    g, n, k = 4, len(frame), 2
    vcov = g / (g - 1) * (n - 1) / (n - k) * bread @ meat @ bread
    treated_mean = y[:12:3].mean()
    control_mean = np.average(y[frame.dex == 0], weights=w[frame.dex == 0])
    assert result.estimate == pytest.approx(treated_mean - control_mean)
    assert result.se == pytest.approx(np.sqrt(vcov[1, 1]))


def test_complete_cases_are_counted_and_missing_columns_named():
    frame = paired_frame()
    frame.loc[[0, 5], "y"] = np.nan
    result = effects.matched_difference(frame, "y")
    assert (result.n, result.n_missing) == (10, 2)
    with pytest.raises(KeyError, match="not in the data: nope"):
        effects.matched_difference(frame, "nope")


@pytest.fixture
def covariate_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 80
    frame = pd.DataFrame({
        "dex": np.repeat([1, 0], n // 2),
        "subclass": np.tile(np.arange(n // 2), 2),
        "weights": 1.0,
        "age": rng.normal(55, 10, n).round(),
        "site": rng.choice(["a", "b", "c"], n),
    })
    frame["y"] = (-2 - 1.0 * frame.dex + 0.05 * (frame.age - 55) + 0.4 * frame.dex * (frame.age - 55) / 10
                  + (frame.site == "b") * 0.7 + rng.normal(0, 1, n))
    return frame


def test_matched_regression_is_gcomputation_over_the_treated(covariate_frame):
    """Point estimate: separate OLS fits per group, predicted for the treated, averaged (by hand).
    SE: the `dex` coefficient of a statsmodels formula fit with treated-centred covariates."""
    frame = covariate_frame
    result = effects.matched_regression(frame, "y", ["age", "site"])
    design = np.column_stack([np.ones(len(frame)), frame.age, frame.site == "b", frame.site == "c"]).astype(float)
    treated = frame.dex.to_numpy() == 1
    beta1 = np.linalg.lstsq(design[treated], frame.y[treated], rcond=None)[0]
    beta0 = np.linalg.lstsq(design[~treated], frame.y[~treated], rcond=None)[0]
    assert result.estimate == pytest.approx(np.mean(design[treated] @ (beta1 - beta0)))

    centred = frame.assign(age_c=frame.age - frame.age[treated].mean(),
                           b_c=(frame.site == "b") - (frame.site[treated] == "b").mean(),
                           c_c=(frame.site == "c") - (frame.site[treated] == "c").mean())
    fit = smf.ols("y ~ dex * (age_c + b_c + c_c)", data=centred).fit(
        cov_type="cluster", cov_kwds={"groups": frame.subclass})
    assert result.estimate == pytest.approx(fit.params["dex"])
    assert result.se == pytest.approx(fit.bse["dex"])


def test_att_and_overlap_weights_by_hand():
    dex = np.array([1, 1, 0, 0])
    ps = np.array([0.8, 0.5, 0.2, 0.75])
    np.testing.assert_allclose(effects.att_weights(dex, ps), [1, 1, 0.25, 3])
    np.testing.assert_allclose(effects.overlap_weights(dex, ps), [0.2, 0.5, 0.2, 0.75])


def test_ipw_att_is_weighted_mean_difference_with_hc1_se():
    frame = pd.DataFrame({"dex": [1, 1, 1, 0, 0, 0, 0], "y": [4.0, 6.0, 5.0, 1.0, 3.0, 2.0, 7.0]})
    ps = np.array([0.7, 0.6, 0.5, 0.2, 0.5, 0.4, 0.1])
    result = effects.ipw_att(frame, "y", ps)
    w = effects.att_weights(frame.dex, ps)
    y, control = frame.y.to_numpy(), frame.dex.to_numpy() == 0
    assert result.estimate == pytest.approx(y[~control].mean() - np.average(y[control], weights=w[control]))
    x = np.column_stack([np.ones(7), frame.dex])
    bread = np.linalg.inv(x.T @ (w[:, None] * x))
    residual = y - x @ (bread @ x.T @ (w * y))
    meat = (x * (w * residual)[:, None]).T @ (x * (w * residual)[:, None])
    hc1 = 7 / (7 - 2) * bread @ meat @ bread
    assert result.se == pytest.approx(np.sqrt(hc1[1, 1]))
    with pytest.raises(ValueError, match="weights has 3 values"):
        effects.weighted_difference(frame, "y", np.ones(3))


@pytest.fixture
def stratified_frame() -> pd.DataFrame:
    """One binary confounder: every propensity/outcome model is saturated, so every estimator has a closed
    form in the cell means."""
    rng = np.random.default_rng(3)
    rows = []
    for x, n_t, n_c in ((0, 20, 60), (1, 45, 25)):
        for dex, n in ((1, n_t), (0, n_c)):
            y = -2 - 1.5 * dex - 1.0 * x - 0.8 * dex * x + rng.normal(0, 1, n)
            rows.append(pd.DataFrame({"dex": dex, "x": float(x), "y": y}))
    return pd.concat(rows, ignore_index=True)


def cell_effects(frame):
    cells = frame.groupby(["x", "dex"])["y"].agg(["mean", "size"]).unstack("dex")
    effect = cells[("mean", 1)] - cells[("mean", 0)]
    n_t, n_c = cells[("size", 1)], cells[("size", 0)]
    e = n_t / (n_t + n_c)
    return effect, n_t, e * (1 - e) * (n_t + n_c)


def test_weighting_estimators_equal_stratified_closed_forms(stratified_frame):
    frame = stratified_frame
    effect, n_treated, overlap_mass = cell_effects(frame)
    ps = effects.fit_logistic_propensity(frame[["x"]].to_numpy(), frame.dex)
    att = np.sum(effect * n_treated) / n_treated.sum()
    ato = np.sum(effect * overlap_mass) / overlap_mass.sum()
    assert effects.ipw_att(frame, "y", ps).estimate == pytest.approx(att, abs=1e-6)
    assert effects.overlap_effect(frame, "y", ps).estimate == pytest.approx(ato, abs=1e-6)
    assert effects.aipw_att(frame, "y", ["x"], n_boot=0).estimate == pytest.approx(att, abs=1e-6)
    # the saturated g-computation over the treated is the same ATT
    assert effects.matched_regression(frame, "y", ["x"], weights=None, subclass=None).estimate == \
        pytest.approx(att, abs=1e-9)
    assert effects.weighted_difference(frame, "y").estimate == pytest.approx(
        frame.y[frame.dex == 1].mean() - frame.y[frame.dex == 0].mean())


def test_logistic_propensity_matches_statsmodels(stratified_frame):
    rng = np.random.default_rng(5)
    x = np.column_stack([stratified_frame.x, rng.normal(size=len(stratified_frame))])
    ours = effects.fit_logistic_propensity(x, stratified_frame.dex)
    reference = sm.Logit(stratified_frame.dex, sm.add_constant(x)).fit(disp=0).predict()
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_aipw_bootstrap_is_seeded(stratified_frame):
    first = effects.aipw_att(stratified_frame, "y", ["x"], n_boot=60, seed=1)
    again = effects.aipw_att(stratified_frame, "y", ["x"], n_boot=60, seed=1)
    other = effects.aipw_att(stratified_frame, "y", ["x"], n_boot=60, seed=2)
    assert first == again
    assert first.se != other.se and first.estimate == other.estimate
    assert first.ci_low < first.estimate < first.ci_high
    assert 0.1 < first.se < 1.0
    point_only = effects.aipw_att(stratified_frame, "y", ["x"], n_boot=0)
    assert np.isnan(point_only.se) and point_only.estimate == first.estimate


def test_aipw_many_outcomes_share_the_bootstrap_but_count_their_own_missing(stratified_frame):
    frame = stratified_frame.assign(z=stratified_frame.y * 2)
    frame.loc[:4, "z"] = np.nan
    both = effects.aipw_att_many(frame, {"y": ["x"], "z": ["x"]}, ["x"], n_boot=0)
    assert (both["y"].n, both["y"].n_missing) == (150, 0)
    assert (both["z"].n, both["z"].n_missing) == (145, 5)


def test_group_means_match_scipy_t_interval():
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"dex": np.repeat([1, 0], [15, 22]), "y": rng.normal(-3, 2, 37)})
    frame.loc[3, "y"] = np.nan
    table = effects.group_means(frame, "y").set_index("group")
    for group, dex in (("DEX", 1), ("LA", 0)):
        values = frame.loc[frame.dex == dex, "y"].dropna()
        low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
        assert table.loc[group, "mean"] == pytest.approx(values.mean())
        assert table.loc[group, "sd"] == pytest.approx(values.std(ddof=1))
        assert (table.loc[group, "ci_low"], table.loc[group, "ci_high"]) == pytest.approx((low, high))
    assert table.loc["DEX", "n_missing"] == 1 and table.loc["DEX", "n"] == 14


def test_welch_difference_matches_scipy():
    rng = np.random.default_rng(12)
    frame = pd.DataFrame({"dex": np.repeat([1, 0], [12, 20]),
                          "y": np.r_[rng.normal(-4, 1, 12), rng.normal(-2, 3, 20)]})
    result = effects.welch_difference(frame, "y")
    test = stats.ttest_ind(frame.y[frame.dex == 1], frame.y[frame.dex == 0], equal_var=False)
    ci = test.confidence_interval(0.95)
    assert (result.ci_low, result.ci_high) == pytest.approx((ci.low, ci.high))
    assert result.estimate / result.se == pytest.approx(test.statistic)


def responder_frame(a=30, n1=50, c=20, n0=60) -> pd.DataFrame:
    flags = np.r_[np.ones(a), np.zeros(n1 - a), np.ones(c), np.zeros(n0 - c)].astype(bool)
    return pd.DataFrame({"dex": np.repeat([1, 0], [n1, n0]), "responder": flags})


def test_risk_difference_and_ratio_closed_forms():
    frame = responder_frame()
    rd, rr, p1, p0 = effects.risk_difference_ratio(frame, "responder", weights=None, subclass=None,
                                                   cov_type="HC0")
    assert (p1, p0) == pytest.approx((0.6, 1 / 3))
    assert rd.estimate == pytest.approx(0.6 - 1 / 3)
    assert rd.se == pytest.approx(np.sqrt(0.6 * 0.4 / 50 + (1 / 3) * (2 / 3) / 60))  # HC0 = unpooled Wald
    assert rr.estimate == pytest.approx(1.8)
    log_se = np.sqrt(1 / 30 - 1 / 50 + 1 / 20 - 1 / 60)  # textbook SE of log RR
    assert rr.se == pytest.approx(log_se)
    assert (rr.ci_low, rr.ci_high) == pytest.approx(tuple(1.8 * np.exp(np.array([-1, 1]) * stats.norm.ppf(0.975) * log_se)))


def test_risk_ratio_with_pairs_equals_modified_poisson_glm():
    frame = responder_frame(a=14, n1=25, c=8, n0=25)
    rng = np.random.default_rng(2)
    frame["subclass"] = np.r_[np.arange(25), rng.permutation(25)]
    frame["weights"] = 1.0
    _, rr, _, _ = effects.risk_difference_ratio(frame, "responder")
    glm = sm.GLM(frame.responder.astype(float), sm.add_constant(frame.dex.astype(float)),
                 family=sm.families.Poisson()).fit(cov_type="cluster", cov_kwds={"groups": frame.subclass})
    assert np.log(rr.estimate) == pytest.approx(glm.params["dex"])
    assert rr.se == pytest.approx(glm.bse["dex"], rel=1e-6)


def test_risk_ratio_undefined_without_events():
    _, rr, p1, p0 = effects.risk_difference_ratio(responder_frame(a=5, c=0), "responder", weights=None,
                                                  subclass=None)
    assert p0 == 0 and np.isnan(rr.estimate)


def test_responder_definitions_by_hand():
    frame = pd.DataFrame({
        "gad7_baseline": [10, 10, 0, 6], "gad7_1m": [6, 7, 0, np.nan],
        "nrs_baseline": [10, 10, 5, 6], "nrs_1m": [7, 8, 3, 6],
        "phq9_baseline": [8, 8, 8, 8], "phq9_1m": [4, 5, 3, 8], "group": ["DEX"] * 4})
    frame = cohort.add_changes(frame)
    by_key = {d.key: d for d in effects.RESPONDER_DEFINITIONS}
    assert by_key["gad7_mid"].flags(frame).tolist() == [True, False, False, pd.NA]
    assert by_key["gad7_half"].flags(frame).tolist() == [False, False, False, pd.NA]  # baseline 0: no room
    assert by_key["nrs_mid"].flags(frame).tolist() == [True, False, True, False]  # 30%: 3 of 10, 2 of 5
    assert by_key["phq9_half"].flags(frame).tolist() == [True, False, True, False]
    assert by_key["phq9_mid"].flags(frame).tolist() == [False, False, True, False]


def test_every_responder_source_is_in_references_bib():
    from dexmood import paths

    bib = (paths.PROJECT_ROOT / "references.bib").read_text()
    for definition in effects.RESPONDER_DEFINITIONS:
        assert f"{{{definition.source}," in bib


def test_ordinal_model_with_two_levels_is_the_cross_product_odds_ratio():
    # two satisfaction levels: proportional odds = logistic regression, OR = (a·d)/(b·c)
    a, b, c, d = 30, 10, 18, 22  # DEX high/low, LA high/low
    frame = pd.DataFrame({"dex": np.repeat([1, 1, 0, 0], [a, b, c, d]),
                          "satisfaction": np.repeat([5, 4, 5, 4], [a, b, c, d]).astype(float)})
    result = effects.ordinal_satisfaction(frame, weights=None, subclass=None)
    assert result.estimate == pytest.approx((a * d) / (b * c), rel=1e-4)
    assert result.se == pytest.approx(np.sqrt(1 / a + 1 / b + 1 / c + 1 / d), rel=1e-3)


def test_ordinal_model_refuses_unequal_weights():
    frame = pd.DataFrame({"dex": [1, 0, 0, 1], "satisfaction": [5.0, 3, 4, 4], "weights": [1, 0.5, 0.5, 1],
                          "subclass": [1, 1, 1, 2]})
    with pytest.raises(ValueError, match="no case weights"):
        effects.ordinal_satisfaction(frame)


# --------------------------------------------------------------------------------------------------
# The pipeline on the simulated cohort
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_analysis():
    from dexmood import matching

    simulated = cohort.get_cohort()
    match = matching.default_match(simulated)
    return simulated, match, effects.analyse(match, simulated, n_boot=50)


def test_effects_table_is_tidy_and_complete(default_analysis):
    _, _, analysis = default_analysis
    table = analysis["effects"]
    assert list(table.columns) == effects.TIDY_COLUMNS
    assert len(table) == len(effects.OUTCOME_COLUMNS) * len(effects.ESTIMATORS)
    assert (table.ci_low < table.estimate).all() and (table.estimate < table.ci_high).all()
    assert (table.n_missing > 0).all()  # the simulation has missing 1-month visits
    # estimator 1 and the Welch difference share the point estimate (unit weights), not the SE
    one = table.set_index(["outcome", "estimator"])
    assert one.loc[("gad7", "matched_difference"), "estimate"] == pytest.approx(
        one.loc[("gad7", "welch_difference"), "estimate"])


def test_published_comparison_reads_published_values(default_analysis):
    _, _, analysis = default_analysis
    table = effects.published_comparison(analysis["group_means"]).set_index(["outcome", "group"])
    assert table.loc[("gad7", "DEX"), "published_mean"] == -4.43
    assert table.loc[("phq9", "LA"), "published_ci_low"] == -4.56
    assert np.isnan(table.loc[("nrs", "DEX"), "published_ci_low"])


def test_results_section_is_json_ready(default_analysis, monkeypatch):
    simulated, match, analysis = default_analysis
    monkeypatch.setattr(effects.results, "analyse", lambda m, c: analysis)
    section = effects.results_section(match, simulated)
    json.dumps(section, allow_nan=False)
    assert set(section["effects"]) == {"gad7", "phq9", "nrs", "satisfaction"}
    gad7 = section["effects"]["gad7"]
    assert gad7["ci95"][0] < gad7["att"] < gad7["ci95"][1]
    assert gad7["att"] == section["effects_by_estimator"]["gad7"]["matched_difference"]["att"]


# Seed fixed once for this check. Calibration over 31 other seeds (IPW, n = 20,000): the error divided by
# the SE had mean 0.2–0.7 and SD ≈ 0.9 per outcome (a small bias toward zero from the main-effects
# propensity model, which uses the duration of pain where the simulation uses its logarithm), so each
# 2-SE check fails for roughly 1 seed in 15 by chance.
LARGE_SEED = 1


@pytest.fixture(scope="module")
def large_analysis():
    from dexmood import matching

    simulated = cohort.simulate(cohort.with_design(n_dex=7000, n_la=13000), seed=LARGE_SEED)
    match = matching.default_match(simulated)
    table = effects.analyse(match, simulated, n_boot=100)["truth"]
    return simulated, match, table.set_index(["outcome", "estimator"])


@pytest.mark.parametrize("outcome", list(effects.OUTCOME_COLUMNS))
@pytest.mark.parametrize("estimator", ["matched_regression", "ipw_att", "aipw_att"])
def test_large_cohort_att_estimators_within_two_se_of_truth(large_analysis, outcome, estimator):
    """Covariate-adjusted and weighting estimators of the ATT on ~20,000 simulated patients."""
    _, _, table = large_analysis
    row = table.loc[(outcome, estimator)]
    assert abs(row["error"]) <= 2 * row["se"], row


@pytest.mark.parametrize("outcome", list(effects.OUTCOME_COLUMNS))
def test_large_cohort_matched_difference_within_tolerance(large_analysis, outcome):
    """The unadjusted matched difference estimates the effect among the *matched* treated and keeps any
    residual imbalance left by the caliper. Tolerance: 2 SE plus that imbalance's size, estimated by how far
    the covariate-adjusted matched estimate moves it."""
    _, match, table = large_analysis
    assert match.summary["treated_unmatched"] < 0.1 * match.summary["n_treated"]
    row = table.loc[(outcome, "matched_difference")]
    adjustment = abs(row["estimate"] - table.loc[(outcome, "matched_regression"), "estimate"])
    assert abs(row["error"]) <= 2 * row["se"] + adjustment, row


@pytest.mark.parametrize("outcome", list(effects.OUTCOME_COLUMNS))
def test_large_cohort_overlap_and_naive(large_analysis, outcome):
    """Overlap weights target the overlap population (ATO), not the ATT. Effects differ between patients
    here only through score floors and ceilings, so ATO and ATT differ by about |ATT − ATE|; tolerance
    2 SE + 2·|ATT − ATE|. The unadjusted difference is confounded: it must miss the truth for the mood
    scores (a check that the test can fail)."""
    simulated, _, table = large_analysis
    heterogeneity = abs(simulated.truth["att"][outcome] - simulated.truth["ate"][outcome])
    row = table.loc[(outcome, "overlap")]
    assert abs(row["error"]) <= 2 * row["se"] + 2 * heterogeneity, row
    if outcome in ("gad7", "phq9", "nrs"):
        naive = table.loc[(outcome, "naive_difference")]
        assert abs(naive["error"]) > 3 * naive["se"]


def test_effects_header_names_data_pairs_and_primary_estimator():
    from types import SimpleNamespace

    from dexmood import pages

    cohort = SimpleNamespace(label="SIMULATED cohort")
    match = SimpleNamespace(summary={"pairs": 91, "treated_unmatched": 15})
    estimated = SimpleNamespace(primary="matched_regression", primary_reason="balance failed")
    lines = pages.effects_header(cohort, match, estimated).split("\n")
    assert lines == ["SIMULATED cohort", "matched pairs: 91 (treated left unmatched: 15)",
                     "primary estimator: matched_regression — balance failed"]
