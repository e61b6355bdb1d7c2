"""Tests of the simulation study (`dexmood.validation`): simulator port, fast kernels against the book's
statsmodels code, the delta method, the bootstrap AIPW, the parallel runner's determinism, the cache, the
study file, the summaries and the verdict rule (inconclusive when the Monte-Carlo error is too large)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from dexmood import cache, cohort, paths
from dexmood import validation as v
from dexmood.settings import SETTINGS
from dexmood.validation import kernels, measures, runner, study
from dexmood.verdict import Grade

SEED = SETTINGS.seed


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
    np.testing.assert_allclose(kernels.kernel_fit_logit(design, replicate.dex), reference.params, rtol=1e-7, atol=1e-9)


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
        coef, se = kernels.kernel_sandwich_coef(y, design, weights, None, index)
        assert coef == pytest.approx(hc1.params[index], rel=1e-10)
        assert se == pytest.approx(hc1.bse[index], rel=1e-10)
        coef, se = kernels.kernel_sandwich_coef(y, design, weights, clusters, index)
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
    estimate, se, low, high = kernels.kernel_aipw_att(y, dex, x, propensity)
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
    result = kernels.kernel_mediation_delta(m, y, dex, x)
    n = len(m)
    design_m = np.column_stack([np.ones(n), dex, x])
    centred = m - m.mean()
    design_y = np.column_stack([np.ones(n), dex, centred, dex * centred, x])
    theta_m, cov_m = kernels.kernel_ols(m, design_m)
    theta_y, cov_y = kernels.kernel_ols(y, design_y)
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


def test_weighted_aipw_equals_refitting_on_resampled_rows(replicate):
    """The batched bootstrap (frequency weights) gives the AIPW estimate of refitting both models on the
    resampled rows, as `effects.aipw_att_many` does in every bootstrap replicate."""
    x, _ = replicate.design_matrix()
    dex = replicate.dex
    outcomes = {o: replicate.changes[o] for o in v.ATT_OUTCOMES}
    rng = np.random.default_rng(7)
    draws = [rng.integers(0, len(dex), len(dex)) for _ in range(3)]
    counts = np.array([np.bincount(rows, minlength=len(dex)) for rows in draws])
    batched = kernels.kernel_aipw_att_weighted(outcomes, dex, x, counts)
    for b, rows in enumerate(draws):
        design = np.column_stack([np.ones(len(rows)), kernels.drop_constant(x[rows])])
        propensity = 1 / (1 + np.exp(-(design @ kernels.kernel_fit_logit(design, dex[rows]))))
        for k, y in enumerate(outcomes.values()):
            keep = ~np.isnan(y[rows])
            sub = rows[keep]
            expected = kernels._aipw_point(y[sub], dex[sub], x[sub], propensity[keep])[0]
            assert batched[b, k] == pytest.approx(expected, abs=1e-9)


def test_bootstrap_aipw_point_equals_the_book_and_interval_is_percentile(replicate):
    from dexmood import effects, matching

    x, _ = replicate.design_matrix()
    outcomes = {o: replicate.changes[o] for o in v.ATT_OUTCOMES}
    result = kernels.kernel_aipw_att_bootstrap(outcomes, replicate.dex, x, n_boot=50,
                                               rng=np.random.default_rng(1))
    cohort_data = cohort.simulate(replicate.design, seed=replicate.seed)
    match = matching.default_match(cohort_data)
    full = effects.prepare(match.full).reset_index(drop=True)
    covariates = list(match.propensity.covariates)
    book = effects.aipw_att(full, effects.OUTCOME_COLUMNS["gad7"], effects.outcome_covariates(covariates, "gad7"),
                            n_boot=0)
    point, sd, low, high = result["gad7"]
    assert point == pytest.approx(book.estimate, abs=1e-6)
    assert low < point < high and sd > 0
    again = kernels.kernel_aipw_att_bootstrap(outcomes, replicate.dex, x, n_boot=50, rng=np.random.default_rng(1))
    assert again == result


def test_bootstrap_rows_only_when_asked(replicate):
    plain, _, _ = runner.analyse_replicate(replicate)
    boot, _, _ = runner.analyse_replicate(replicate, n_boot=20)
    assert "aipw_att_bootstrap" not in {r[0] for r in plain}
    assert sum(r[0] == "aipw_att_bootstrap" for r in boot) == 3
    assert [r for r in boot if r[0] != "aipw_att_bootstrap"] == plain


def test_matching_keeps_caliper_and_pairs(replicate):
    x, _ = replicate.design_matrix()
    matched = v.kernel_match(x, replicate.dex)
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
    rows, n_treated, pairs = runner.analyse_replicate(v.simulate_replicate(scenario.design(), seed_2))
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
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    first = v.run_study({"null": 3}, seed=SEED, n_jobs=1, bootstrap={}, bayes_scenario=None)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 1 and files[0].startswith("validation-null_")

    def fail(*args, **kwargs):
        raise AssertionError("cache not used")

    monkeypatch.setattr(study, "run_replicates", fail)
    second = v.run_study({"null": 3}, seed=SEED, n_jobs=1, bootstrap={}, bayes_scenario=None)
    pd.testing.assert_frame_equal(first.replicates, second.replicates)
    assert second.seconds == first.seconds
    with pytest.raises(AssertionError, match="cache not used"):  # another seed is another key
        v.run_study({"null": 3}, seed=SEED + 1, n_jobs=1, bootstrap={}, bayes_scenario=None)


def test_study_file_round_trip_and_code_check(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    result = v.run_study({"null": 2}, seed=SEED, n_jobs=1, bootstrap={}, bayes_scenario=None, use_cache=False)
    path = v.write_study_file(result, tmp_path / "study.csv")
    back = v.load_study_file(path)
    pd.testing.assert_frame_equal(back.replicates, result.replicates, check_dtype=False)
    assert back.inputs["replicates"] == {"null": 2}
    monkeypatch.setenv(study.STUDY_ENV, str(path))
    pd.testing.assert_frame_equal(v.study_for_book().replicates, back.replicates)
    monkeypatch.setattr(study.engines, "worker_code_key", lambda: "other-code")
    with pytest.raises(study.StudyFileError, match="other dexmood code"):
        v.load_study_file(path)


def test_study_command_writes_the_table(tmp_path, capsys):
    from dexmood import cli

    out = tmp_path / "study.csv"
    assert cli.main(["study", "--replicates", "3", "--scenarios", "null", "--workers", "1",
                     "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert {"scenario", "replicate", "estimator", "outcome", "estimate", "ci_low", "ci_high", "truth"} <= set(table)
    assert sorted(table["replicate"].unique()) == [0, 1, 2]
    assert "3 replicates" in capsys.readouterr().out
    assert cli.main(["study", "--replicates", "0", "--out", str(out)]) == 2  # a readable error, no traceback


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


def _grades(table):
    return {key: verdict for key, verdict in v.verdicts(v.summarise(table)).items()}


def test_verdict_supported_not_supported_and_inconclusive():
    rng = np.random.default_rng(4)
    n = 1000
    good = _table(rng.normal(0, 1, n), np.zeros(n), np.ones(n), "matched_difference")
    narrow = _table(rng.normal(0, 1, n), np.zeros(n), np.full(n, 0.6), "ipw_att")
    biased = _table(rng.normal(0.5, 1, n), np.zeros(n), np.ones(n), "naive_difference")
    few = _table(rng.normal(0, 1, 50), np.zeros(50), np.ones(50), "aipw_att")
    judged = _grades(pd.concat([good, narrow, biased, few]))
    assert judged["matched_difference", "att"].grade is Grade.SUPPORTED
    assert judged["ipw_att", "att"].grade is Grade.NOT_SUPPORTED
    assert "coverage" in judged["ipw_att", "att"].sentence and "bias" not in judged["ipw_att", "att"].sentence
    assert judged["naive_difference", "att"].grade is Grade.NOT_SUPPORTED
    assert judged["aipw_att", "att"].grade is Grade.INCONCLUSIVE  # 50 replicates: MCSE ≈ 0.03 > 0.01
    for verdict in judged.values():
        assert verdict.value == pytest.approx(verdict.value) and verdict.measure == "lowest coverage"


def test_low_coverage_with_few_replicates_is_no_longer_trustworthy():
    """Issue 16: with 50 replicates a coverage of 0.82 passed the old 'not significantly below 0.925' test
    (0.82 + 1.96·0.054 ≥ 0.925); the new rule calls it inconclusive, and with enough replicates it fails."""
    def with_coverage(n, coverage, estimator="mediation_bayes"):
        covered = np.arange(n) < round(coverage * n)
        estimates = np.where(covered, 0.0, 5.0)  # CI ±1.96 around 0 covers the truth 0, around 5 does not
        return _table(estimates, np.zeros(n), np.ones(n), estimator)

    old_rule_passes = 0.82 + 1.96 * np.sqrt(0.82 * 0.18 / 50) >= v.MIN_COVERAGE
    assert old_rule_passes
    assert _grades(with_coverage(50, 0.82))["mediation_bayes", "att"].grade is not Grade.SUPPORTED
    assert _grades(with_coverage(2000, 0.82))["mediation_bayes", "att"].grade is Grade.NOT_SUPPORTED
    assert measures.replicates_for_coverage_mcse(0.01) == 475
    assert _grades(with_coverage(20, 1.0))["mediation_bayes", "att"].grade is Grade.INCONCLUSIVE  # MCSE 0 ≠ precise


def test_bias_precision_rule():
    """Unbiased and nominal coverage, but bias MCSE larger than half the threshold: inconclusive."""
    rng = np.random.default_rng(9)
    n = 300  # bias MCSE ≈ SE/√300 = 0.058 SE > 0.05 SE
    table = _table(rng.normal(0, 1, n), np.zeros(n), np.ones(n))
    cells = v.summarise(table)
    assert cells["coverage_mcse"].iloc[0] <= 0.0135
    checks = measures.cell_checks(cells)
    assert checks.bias_imprecise.all() and not checks.bias_fails.any()


def test_family_sentence_agrees_with_the_verdicts():
    """The summary sentence never calls an estimand unbiased or trustworthy when its verdict says otherwise."""
    rng = np.random.default_rng(10)
    n = 1000
    parts = []
    for estimand, mean in (("acme_treated", 0.0), ("proportion_mediated", 0.6)):
        table = _table(rng.normal(mean, 1, n), np.zeros(n), np.ones(n), "mediation_delta")
        parts.append(table.assign(estimand=estimand))
    judged = _grades(pd.concat(parts))
    sentence = v.family_sentence(judged, "mediation_delta")
    assert judged["mediation_delta", "proportion_mediated"].grade is Grade.NOT_SUPPORTED
    assert "proportion mediated not trustworthy" in sentence and "ACME (treated) trustworthy" in sentence
    assert v.names_with_grade(judged, Grade.INCONCLUSIVE) == "none"


def test_verdict_table_shows_grades():
    rng = np.random.default_rng(11)
    table = v.verdict_table(v.summarise(_table(rng.normal(0, 1, 60), np.zeros(60), np.ones(60))))
    assert table.loc[0, "verdict"] == "inconclusive" and table.loc[0, "replicates"] == 60


def test_worst_case_ties_name_every_cell_a_rerun_could_pick():
    rng = np.random.default_rng(12)
    n = 400
    # gad7 and phq9 both cover ~95% (a tie within MCSE); nrs covers far less (too-small SEs)
    parts = [_table(rng.normal(0, 1, n), np.zeros(n), np.full(n, se)).assign(outcome=outcome)
             for outcome, se in (("gad7", 1.0), ("phq9", 1.0), ("nrs", 0.3))]
    summary = v.summarise(pd.concat(parts))
    assert v.worst_case_ties(summary, scenarios=("published",)) == [["published / nrs"]]
    tied = v.worst_case_ties(summary[summary["outcome"] != "nrs"], scenarios=("published",))
    assert sorted(tied[0]) == ["published / gad7", "published / phq9"]


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
    assert block["trustworthy_n290"] + block["not_trustworthy_n290"] + block["inconclusive_n290"] == [
        "matched_difference:att"]
    assert block["verdicts_n290"]["matched_difference:att"]["grade"] == "inconclusive"  # 4 replicates


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


# --------------------------------------------------------------------------------------------------
# The page's numbers and summary (notebook 08) agree with the verdicts
# --------------------------------------------------------------------------------------------------

def test_page_summary_agrees_with_the_verdicts(tmp_path, monkeypatch):
    from dexmood.validation import page

    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(page.book, "glue_value", lambda name, value, fmt="{:.2f}": str(value))
    replicates = {key: 3 for key in ("published", "published_conf2", "null", "no_pain_to_mood", "published_n1000",
                                     "published_n5000")}
    result = v.run_study(replicates, seed=SEED, n_jobs=1, bootstrap={"published_conf2": 3}, bayes_scenario=None)
    summary = v.summarise(result.replicates)
    numbers = page.page_numbers(result, summary)
    page.glue_page(numbers)
    judged = v.verdicts(summary)
    assert not any(verdict.grade is Grade.SUPPORTED for verdict in judged.values())  # 3 replicates prove nothing
    assert numbers["nb08_trustworthy"] == "none"
    assert numbers["nb08_not_trustworthy"] == v.names_with_grade(judged, Grade.NOT_SUPPORTED)
    assert numbers["nb08_bayes_family"] == "Bayesian model: not assessed."
    text = page.summary_markdown(numbers)
    assert judged[v.MAIN_ESTIMATOR, "att"].sentence in text
    assert "unbiased" not in text and "Trustworthy at 290 patients: none" in text
    assert numbers["nb08_boot_scenarios"] == "published_conf2" and numbers["nb08_n_boot_reps"] == "3"
    # every number the page's prose cites is produced here
    notebook = json.loads((paths.NOTEBOOKS / "08_validation.ipynb").read_text())
    cited = {name for cell in notebook["cells"] if cell["cell_type"] == "markdown"
             for name in re.findall(r"\{glue:text\}`([^`]+)`", "".join(cell["source"]))}
    assert cited and cited <= set(numbers), sorted(cited - set(numbers))


# --------------------------------------------------------------------------------------------------
# Issue 20: every number of the page is recorded with its replicate-based MCSE
# --------------------------------------------------------------------------------------------------

def test_mcse_of_the_displayed_measures():
    table = _table([1.0, 2.0, 3.0, 6.0], [2.0, 2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0])  # 6 not covered
    summary = v.summarise(table)
    row = summary.iloc[[0]]
    assert measures.mcse_of(row, "bias").iloc[0] == pytest.approx(row["bias_mcse"].iloc[0])
    # the SD of the estimates over 4 replicates: SE / √(2(n − 1))
    assert measures.mcse_of(row, "empirical_se").iloc[0] == pytest.approx(row["empirical_se"].iloc[0] / np.sqrt(6))
    assert measures.mcse_of(row, "bias_mcse").iloc[0] == pytest.approx(row["bias_mcse"].iloc[0] / np.sqrt(6))
    # a share: binomial MCSE, at least one replicate's worth
    assert measures.mcse_of(row, "coverage").iloc[0] == pytest.approx(max(np.sqrt(0.75 * 0.25 / 4), 1 / 4))
    assert measures.proportion_mcse(0.75, 100) == pytest.approx(np.sqrt(0.75 * 0.25 / 100))
    assert measures.proportion_mcse(1.0, 200) == pytest.approx(1 / 200)
    assert measures.mcse_of(row, "coverage_mcse").iloc[0] == pytest.approx(1 / 4)
    assert row["model_se_mcse"].iloc[0] == 0.0 and row["truth_mcse"].iloc[0] == 0.0  # constant SEs, truths
    assert row["se_ratio_mcse"].iloc[0] == pytest.approx(row["se_ratio"].iloc[0] / np.sqrt(6))


def test_recorded_page_tables_show_what_they_record(tmp_path, monkeypatch):
    from dexmood import reproducibility as mc
    from dexmood import tables
    from dexmood.validation import page

    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    replicates = {key: 3 for key in ("published", "published_conf0", "published_conf2", "null", "null_conf2",
                                     "no_pain_to_mood", "no_pain_effect", "published_n1000", "published_n5000")}
    result = v.run_study(replicates, seed=SEED, n_jobs=1, bootstrap={"published_conf2": 3}, bayes_scenario=None)
    summary = v.summarise(result.replicates)
    mc.clear()
    try:
        estimators = [e for e, _ in page.ADJUSTED] + ["naive_difference"]
        shown = page.recorded_performance_table("t", result, summary, ["published"], estimators)
        # the same texts as the unrecorded table
        assert tables.prepare(shown) == tables.prepare(v.performance_table(summary, ["published"], estimators),
                                                       decimals=3)
        rates = page.recorded_rejection_table("r", summary, v.ATT_ESTIMATORS + ("aipw_att_bootstrap",),
                                              page.POWER_SCENARIOS)
        assert tables.prepare(rates, index=True) == tables.prepare(
            v.rejection_pivot(summary, v.ATT_ESTIMATORS + ("aipw_att_bootstrap",), page.POWER_SCENARIOS),
            decimals=3, index=True)
        verdict = page.recorded_verdict_table("vt", result, summary)
        assert tables.prepare(verdict) == tables.prepare(v.verdict_table(summary), decimals=3)
        values = page.page_values(result, summary)
        assert page.glue_page(values) == page.page_numbers(result, summary)
        recorded = mc.entries()
        coverage = recorded["t[published|matched_difference|gad7|att|coverage]"]
        assert coverage.text in shown.loc[0, "coverage"] and coverage.mcse > 0
        assert recorded["nb08_cov_main_gad7"].mcse > 0 and recorded["nb08_main_verdict"].exact
        # every Monte-Carlo number carries an MCSE or a tolerance
        assert all(e.exact or (e.mcse or 0) > 0 or e.tolerance is not None for e in recorded.values())
    finally:
        mc.clear()
