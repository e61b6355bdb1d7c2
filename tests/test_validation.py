"""Tests of the simulation study (`dexmood.validation`): simulator port, fast kernels against the book's
statsmodels code, the delta method, the parallel runner's determinism, the cache and the summaries."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from dexmood import cohort, paths
from dexmood import validation as v

SEED = 20250222


@pytest.fixture(scope="module")
def replicate():
    return v.simulate_replicate(v.SCENARIOS["published"].design(), v.replicate_seeds(SEED, 1)[0])


# --------------------------------------------------------------------------------------------------
# Simulator with potential outcomes
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["published", "published_conf2", "null"])
def test_simulate_replicate_equals_cohort_simulate(key):
    design = v.SCENARIOS[key].design()
    for seed in (3, v.replicate_seeds(SEED, 2)[1]):
        ours = v.simulate_replicate(design, seed)
        reference = cohort.simulate(design, seed=seed)
        pd.testing.assert_frame_equal(ours.frame(), reference.data, check_dtype=False)
        # NaN-aware equality (the proportion mediated is NaN when the total effect is 0)
        assert json.dumps(ours.truth, sort_keys=True, default=str) == json.dumps(reference.truth, sort_keys=True,
                                                                                default=str)


def test_potential_outcomes_reproduce_the_truth(replicate):
    truth = replicate.truth
    treated = np.flatnonzero(replicate.dex)
    for outcome in ("gad7", "phq9", "nrs"):
        assert v.individual_effects(replicate, outcome)[treated].mean() == pytest.approx(truth["att"][outcome])
    for outcome in ("gad7", "phq9"):
        ours = v.mediation_truth(replicate, outcome, treated)
        for estimand in ("acme_treated", "ade_control", "total", "proportion_mediated"):
            assert ours[estimand] == pytest.approx(truth["mediation_treated"][outcome][estimand])


def test_null_and_no_indirect_scenarios_have_exactly_zero_effects():
    null = v.simulate_replicate(v.SCENARIOS["null"].design(), 5)
    for outcome in ("gad7", "phq9", "nrs"):
        assert np.all(v.individual_effects(null, outcome) == 0)
    for key in ("no_pain_to_mood", "no_pain_effect"):
        rep = v.simulate_replicate(v.SCENARIOS[key].design(), 5)
        for outcome in ("gad7", "phq9"):
            assert v.mediation_truth(rep, outcome, np.arange(rep.n))["acme_treated"] == 0


def test_group_sizes_keep_the_published_treated_share():
    assert v.group_sizes(290) == (106, 184)
    assert v.group_sizes(1000) == (366, 634)
    assert v.group_sizes(5000) == (1828, 3172)


# --------------------------------------------------------------------------------------------------
# Fast kernels against statsmodels and the book's code
# --------------------------------------------------------------------------------------------------

def test_fit_logit_matches_statsmodels(replicate):
    x, _ = replicate.design_matrix()
    design = sm.add_constant(x)
    reference = sm.Logit(replicate.dex.astype(float), design).fit(disp=0)
    np.testing.assert_allclose(v.fit_logit(design, replicate.dex), reference.params, rtol=1e-7, atol=1e-9)


def test_sandwich_matches_statsmodels_with_weights_and_clusters():
    rng = np.random.default_rng(1)
    n = 60
    design = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.normal(size=n)])
    y = design @ [1.0, -0.5, 0.3] + rng.normal(size=n)
    weights = rng.uniform(0.2, 3.0, n)
    clusters = rng.integers(0, 17, n)
    _, clusters = np.unique(clusters, return_inverse=True)
    hc1 = sm.WLS(y, design, weights=weights).fit(cov_type="HC1")
    cr1 = sm.WLS(y, design, weights=weights).fit(cov_type="cluster", cov_kwds={"groups": clusters})
    for index in (1, 2):
        coef, se = v._sandwich_coef(y, design, weights, None, index)
        assert coef == pytest.approx(hc1.params[index], rel=1e-10)
        assert se == pytest.approx(hc1.bse[index], rel=1e-10)
        coef, se = v._sandwich_coef(y, design, weights, clusters, index)
        assert se == pytest.approx(cr1.bse[index], rel=1e-10)


def test_aipw_se_is_the_hc0_se_of_the_weighted_residual_difference():
    """With the nuisance models fixed, the AIPW influence-function variance equals the HC0 variance of a
    weighted regression of the outcome-model residual on treatment (treated weight 1, controls e/(1−e))."""
    rng = np.random.default_rng(2)
    n = 200
    x = rng.normal(size=(n, 2))
    dex = (rng.random(n) < 1 / (1 + np.exp(-x[:, 0]))).astype(float)
    y = 1.0 * dex + x @ [0.5, -0.2] + rng.normal(size=n)
    propensity = 1 / (1 + np.exp(-(x[:, 0] + 0.1)))
    estimate, se, low, high = v.aipw_att(y, dex, x, propensity)
    design = np.column_stack([np.ones(n), x])
    controls = dex == 0
    coef = np.linalg.lstsq(design[controls], y[controls], rcond=None)[0]
    residual = y - design @ coef
    weights = np.where(dex == 1, 1.0, propensity / (1 - propensity))
    hc0 = sm.WLS(residual, sm.add_constant(dex), weights=weights).fit(cov_type="HC0")
    assert estimate == pytest.approx(hc0.params[1], rel=1e-10)
    assert se == pytest.approx(hc0.bse[1], rel=1e-10)
    assert (low, high) == pytest.approx((estimate - v.Z95 * se, estimate + v.Z95 * se))


def test_fast_pipeline_equals_the_books_code():
    """Matching (pairs), the six ATT estimators (estimates and SEs) and the mediation point estimates agree
    with `matching.default_match`, `dexmood.effects` and statsmodels OLS to rounding error."""
    table = v.compare_with_reference(v.SCENARIOS["published_conf2"], n_reps=2, seed=SEED)
    assert set(table["estimator"]) == set(v.ATT_ESTIMATORS) | {"mediation_delta"}
    assert table["pairs_equal"].all()
    assert (table["max_abs_estimate_diff"] < 1e-9).all(), table
    assert (table["max_abs_se_diff"].dropna() < 1e-9).all(), table


def test_delta_method_matches_parameter_simulation():
    """The delta-method SEs equal the SD of the effects recomputed from parameters drawn from the two
    models' sampling distributions (what statsmodels `Mediation(method="parametric")` does, without its
    extra noise from simulated mediator values)."""
    rep = v.simulate_replicate(v.SCENARIOS["published_n1000"].design(), 11)
    x, _ = rep.design_matrix()
    keep = ~np.isnan(rep.changes["nrs"])
    m, y, dex, x = rep.changes["nrs"][keep], rep.changes["gad7"][keep], rep.dex[keep].astype(float), x[keep]
    result = v.mediation_delta(m, y, dex, x)
    n = len(m)
    design_m = np.column_stack([np.ones(n), dex, x])
    centred = m - m.mean()
    design_y = np.column_stack([np.ones(n), dex, centred, dex * centred, x])
    theta_m, cov_m = v._ols(m, design_m)
    theta_y, cov_y = v._ols(y, design_y)
    rng = np.random.default_rng(3)
    draws_m = rng.multivariate_normal(theta_m, cov_m, 40_000)
    draws_y = rng.multivariate_normal(theta_y, cov_y, 40_000)
    a, c, b, d = draws_m[:, 1], draws_y[:, 1], draws_y[:, 2], draws_y[:, 3]
    u0 = draws_m[:, 0] + draws_m[:, 2:] @ x.mean(axis=0) - m.mean()
    simulated = {"acme_treated": a * (b + d), "ade_control": c + d * u0}
    simulated["total"] = simulated["acme_treated"] + simulated["ade_control"]
    simulated["proportion_mediated"] = a * (b + d / 2) / simulated["total"]
    # point estimates: g-computation with statsmodels' OLS fits
    fit_m = sm.OLS(m, design_m).fit()
    fit_y = sm.OLS(y, design_y).fit()
    acme = fit_m.params[1] * (fit_y.params[2] + fit_y.params[3])
    assert result["acme_treated"][0] == pytest.approx(acme, rel=1e-10)
    for estimand, values in simulated.items():
        assert result[estimand][1] == pytest.approx(np.std(values), rel=0.04), estimand


def test_matching_keeps_caliper_and_pairs(replicate):
    x, _ = replicate.design_matrix()
    matched = v.match_replicate(x, replicate.dex)
    treated, controls = matched.rows[: matched.pairs], matched.rows[matched.pairs:]
    assert replicate.dex[treated].all() and not replicate.dex[controls].any()
    assert len(set(controls)) == matched.pairs
    caliper = 0.2 * np.std(matched.logit, ddof=1)
    assert np.all(np.abs(matched.logit[treated] - matched.logit[controls]) <= caliper)


# --------------------------------------------------------------------------------------------------
# Parallel runner: determinism and reproducibility
# --------------------------------------------------------------------------------------------------

def test_run_replicates_identical_for_one_and_two_workers():
    scenario = v.SCENARIOS["published"]
    one = v.run_replicates(scenario, 6, SEED, n_jobs=1)
    two = v.run_replicates(scenario, 6, SEED, n_jobs=2)
    other_chunks = v.run_replicates(scenario, 6, SEED, n_jobs=2, chunk_size=1)
    pd.testing.assert_frame_equal(one, two)
    pd.testing.assert_frame_equal(one, other_chunks)
    assert list(one.columns) == v.RESULT_COLUMNS
    assert sorted(one["replicate"].unique()) == list(range(6))


def test_replicate_i_is_reproducible_alone():
    scenario = v.SCENARIOS["null"]
    table = v.run_replicates(scenario, 4, SEED, n_jobs=1)
    shorter = v.run_replicates(scenario, 3, SEED, n_jobs=1)
    pd.testing.assert_frame_equal(table[table["replicate"] < 3].reset_index(drop=True), shorter)
    seed_2 = v.replicate_seeds(SEED, 4)[2]
    rows, n_treated, pairs = v.analyse_replicate(v.simulate_replicate(scenario.design(), seed_2))
    again = table[table["replicate"] == 2]
    np.testing.assert_array_equal(again["estimate"].to_numpy(), [r[3] for r in rows])
    # and the public simulator gives the same cohort from the same child seed
    assert cohort.simulate(scenario.design(), seed=seed_2).truth["att"]["gad7"] == pytest.approx(
        again.loc[again["estimator"] == "ipw_att", "truth_all_treated"].iloc[0])
    different = v.run_replicates(scenario, 3, SEED + 1, n_jobs=1)
    assert not np.allclose(different["estimate"], shorter["estimate"])


# --------------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------------

def test_run_study_caches_and_reuses(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "DERIVED", tmp_path)
    first = v.run_study({"null": 3}, seed=SEED, n_jobs=1, bayes_scenario=None)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and files[0].startswith("validation_null_")

    def fail(*args, **kwargs):
        raise AssertionError("cache not used")

    monkeypatch.setattr(v, "run_replicates", fail)
    second = v.run_study({"null": 3}, seed=SEED, n_jobs=1, bayes_scenario=None)
    pd.testing.assert_frame_equal(first.replicates, second.replicates)
    assert second.seconds == first.seconds
    with pytest.raises(AssertionError, match="cache not used"):  # another seed is another key
        v.run_study({"null": 3}, seed=SEED + 1, n_jobs=1, bayes_scenario=None)


def test_code_version_changes_with_source(tmp_path, monkeypatch):
    assert v.code_version() == v.code_version()
    assert v.code_version() != v.code_version(("dexmood.validation",))


# --------------------------------------------------------------------------------------------------
# Performance measures and verdict
# --------------------------------------------------------------------------------------------------

def _table(estimates, truths, ses, estimator="matched_difference", scenario="published", pairs=None):
    n = len(estimates)
    estimates, ses = np.asarray(estimates, float), np.asarray(ses, float)
    return pd.DataFrame({"scenario": scenario, "replicate": range(n), "estimator": estimator, "outcome": "gad7",
                         "estimand": "att", "estimate": estimates, "se": ses, "ci_low": estimates - v.Z95 * ses,
                         "ci_high": estimates + v.Z95 * ses, "truth": truths, "truth_all_treated": truths,
                         "n_treated": 100, "pairs": pairs if pairs is not None else 90})


def test_summarise_hand_computed():
    table = _table([1.0, 2.0, 3.0, 6.0], [2.0, 2.0, 2.0, 2.0], [1.0, 1.0, 0.2, 1.0], pairs=[80, 90, 100, 70])
    row = v.summarise(table).iloc[0]
    errors = np.array([-1.0, 0.0, 1.0, 4.0])
    assert row["bias"] == pytest.approx(1.0)
    assert row["bias_mcse"] == pytest.approx(np.std(errors, ddof=1) / 2)
    assert row["rmse"] == pytest.approx(np.sqrt(np.mean(errors**2)))
    assert row["empirical_se"] == pytest.approx(np.std([1, 2, 3, 6], ddof=1))
    # CIs: [1 ± 1.96] covers 2, [2 ± 1.96] covers, [3 ± 0.39] misses, [6 ± 1.96] misses
    assert row["coverage"] == 0.5
    assert row["coverage_mcse"] == pytest.approx(0.25)
    assert row["rejection"] == pytest.approx(0.75)  # only [1 ± 1.96] contains 0
    assert row["treated_retained"] == pytest.approx(0.85)
    assert not row["truth_is_zero"]


def test_verdict_flags_undercoverage_and_bias():
    rng = np.random.default_rng(4)
    n = 400
    good = _table(rng.normal(0, 1, n), np.zeros(n), np.ones(n), "matched_difference")
    narrow = _table(rng.normal(0, 1, n), np.zeros(n), np.full(n, 0.6), "ipw_att")
    biased = _table(rng.normal(0.5, 1, n), np.zeros(n), np.ones(n), "naive_difference")
    judged = v.verdict(v.summarise(pd.concat([good, narrow, biased]))).set_index("estimator")
    assert judged.loc["matched_difference", "trustworthy"]
    assert not judged.loc["ipw_att", "coverage_ok"] and judged.loc["ipw_att", "bias_ok"]
    assert not judged.loc["naive_difference", "bias_ok"]


def test_coverage_band():
    low, high = v.coverage_band(500)
    assert (low, high) == pytest.approx((0.95 - 2 * np.sqrt(0.95 * 0.05 / 500), 0.95 + 2 * np.sqrt(0.95 * 0.05 / 500)))


def test_results_section_is_json_and_names_the_main_estimator():
    rng = np.random.default_rng(5)
    table = _table(rng.normal(-1.5, 0.4, 4), np.full(4, -1.5), np.full(4, 0.4))
    section = v.results_section(v.summarise(table))
    json.dumps(section)
    block = section["validation"]
    assert set(block["coverage_main_att_n290"]) == {"gad7"}
    assert block["trustworthy_n290"] + block["not_trustworthy_n290"] == ["matched_difference:att"]


def test_power_table_names_type1_and_power():
    rng = np.random.default_rng(6)
    null = _table(rng.normal(0, 1, 40), np.zeros(40), np.ones(40), scenario="null")
    effect = _table(rng.normal(-3, 1, 40), np.full(40, -3.0), np.ones(40), scenario="published")
    rates = v.power_table(v.summarise(pd.concat([null, effect]))).set_index("scenario")
    assert rates.loc["null", "measure"] == "type-I error"
    assert rates.loc["published", "measure"] == "power"
    assert rates.loc["published", "rejection"] > 0.7


def test_performance_table_formats_with_mcse():
    table = _table([1.0, 2.0, 3.0, 6.0], [2.0, 2.0, 2.0, 2.0], [1.0, 1.0, 0.2, 1.0])
    shown = v.performance_table(v.summarise(table), ["published"], ["matched_difference"])
    assert shown.loc[0, "coverage"] == "0.500 (0.250)"
    assert shown.loc[0, "estimator"] == v.ESTIMATORS["matched_difference"][0]


def test_scenarios_describe_their_effects():
    table = v.scenario_table({"published": 10, "null": 10, "published_n5000": 1})
    assert table.loc["null", ["DEX → ΔNRS", "direct → ΔGAD-7", "direct → ΔPHQ-9"]].eq(0).all()
    assert table.loc["published_n5000", "n"] == 5000
    assert v.published_mediation_range() == (0.18, 0.32)
