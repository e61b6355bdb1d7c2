"""Tests of dexmood.trial: PCA calculator (hand-computed), eligibility rules, power, analysis, loader."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from dexmood import cohort, paths, trial

# --------------------------------------------------------------------------------------------------
# PCA regimen calculator
# --------------------------------------------------------------------------------------------------


def test_regimen_at_50_kg_hand_computed():
    # 200 µg sufentanil, 50 mg esketamine, 200 µg DEX in 200 ml; 1 ml/h + 7.5 boluses of 2 ml per hour = 16 ml/h.
    regimen = trial.pca_regimen(50.0, "supplement")
    expected = {
        "sufentanil": (200.0, 1.0, 2.0, 1.0, 16.0, 0.02, 0.32),
        "esketamine": (50_000.0, 250.0, 500.0, 250.0, 4000.0, 5.0, 80.0),
        "dexmedetomidine": (200.0, 1.0, 2.0, 1.0, 16.0, 0.02, 0.32),
    }
    columns = ["amount_ug", "concentration_ug_per_ml", "bolus_ug", "background_ug_per_h", "max_ug_per_h",
               "background_ug_per_kg_per_h", "max_ug_per_kg_per_h"]
    for drug, values in expected.items():
        assert regimen.loc[drug, columns].to_numpy() == pytest.approx(values)
    # 24 h at the maximum would need 384 ml; the reservoir holds 200 ml, so at most the whole content.
    assert regimen.loc["esketamine", "max_ug_per_24h_programmed"] == pytest.approx(96_000.0)
    assert regimen.loc["esketamine", "deliverable_ug_per_24h"] == pytest.approx(50_000.0)


@pytest.mark.parametrize(("weight", "sufentanil"), [
    (40.0, 160.0), (62.4, 249.6), (62.5, 250.0), (62.6, 250.0), (100.0, 250.0),
])
def test_sufentanil_cap_binds_at_62_5_kg(weight, sufentanil):
    assert trial.REGISTRY_PCA.sufentanil_cap_weight_kg == 62.5
    assert trial.pump_contents(weight)["sufentanil"] == pytest.approx(sufentanil)


def test_sufentanil_per_kg_rate_constant_below_cap_and_falls_above():
    below = [trial.pca_regimen(w).loc["sufentanil", "background_ug_per_kg_per_h"] for w in (40, 55, 62.5)]
    assert below == pytest.approx([0.02, 0.02, 0.02])  # 4 µg/kg / 200 ml × 1 ml/h
    assert trial.pca_regimen(100).loc["sufentanil", "background_ug_per_kg_per_h"] == pytest.approx(0.0125)


def test_placebo_pump_holds_sufentanil_only():
    contents = trial.pump_contents(70, "placebo")
    assert contents == {"sufentanil": 250.0, "esketamine": 0.0, "dexmedetomidine": 0.0}


def test_pump_limits_hand_computed():
    limits = trial.REGISTRY_PCA.limits()
    assert limits["max_boluses_per_h_sustained"] == 7.5
    assert limits["max_boluses_in_one_clock_hour"] == 8  # at 0, 8, …, 56 min
    assert limits["max_ml_per_h_sustained"] == 16.0
    assert limits["max_ml_in_one_clock_hour"] == 17.0
    assert limits["max_ml_per_24h_programmed"] == 384.0
    assert limits["hours_to_empty_at_max"] == 12.5
    assert limits["hours_to_empty_background_only"] == 200.0


@pytest.mark.parametrize(("lockout", "peak"), [(10.0, 6), (7.0, 9), (8.0, 8), (15.0, 4)])
def test_peak_boluses_per_clock_hour(lockout, peak):
    assert trial.PcaProtocol(lockout_min=lockout).peak_boluses_per_clock_hour == peak


@pytest.mark.parametrize("weight", [0, -3, float("nan"), float("inf")])
def test_calculator_rejects_impossible_weight(weight):
    with pytest.raises(ValueError, match="weight_kg must be a positive number"):
        trial.pca_regimen(weight)


def test_calculator_rejects_unknown_arm():
    with pytest.raises(ValueError, match="arm must be one of supplement, placebo"):
        trial.pump_contents(60, "dex")


def test_implied_bolus_use_hand_computed():
    # 5.5 µg/kg/h × 60 kg = 330 µg/h = 1.32 ml/h of 250 µg/ml → 0.32 ml/h of boluses = 0.16 boluses/h.
    table = trial.implied_bolus_use(5.5, "esketamine", [45.0, 50.0, 60.0])
    assert table["pump_ml_per_h"].to_numpy() == pytest.approx([0.99, 1.10, 1.32])
    assert table["boluses_per_h"].to_numpy() == pytest.approx([-0.005, 0.05, 0.16])
    assert table["boluses_per_24h"].to_numpy() == pytest.approx([-0.12, 1.2, 3.84])
    assert table["share_of_max_rate"].iloc[2] == pytest.approx(1.32 / 16)
    dex = trial.implied_bolus_use(0.02, "dexmedetomidine", 50.0)
    assert dex["boluses_per_h"].iloc[0] == pytest.approx(0.0)  # 1 µg/h is exactly the background at 50 kg


def test_implied_bolus_use_rejects_weight_based_drug():
    with pytest.raises(ValueError, match="fixed-dose drug"):
        trial.implied_bolus_use(0.02, "sufentanil", 60)


def test_background_only_weights():
    assert trial.background_only_weight(5.5, "esketamine") == pytest.approx(250 / 5.5)
    assert trial.background_only_weight(0.02, "dexmedetomidine") == pytest.approx(50.0)


def test_published_rates_consistent_within_rounding_and_detects_inconsistency():
    check = trial.achieved_rate_consistency(5.5, 0.02)
    assert check["pump_mass_ratio_esketamine_to_dex"] == 250.0
    assert check["dex_rate_implied_by_esketamine"] == pytest.approx(0.022)
    assert check["esketamine_rate_implied_by_dex_interval"] == pytest.approx((3.75, 6.25))
    assert check["consistent"]
    assert not trial.achieved_rate_consistency(5.5, 0.05)["consistent"]


# --------------------------------------------------------------------------------------------------
# Eligibility
# --------------------------------------------------------------------------------------------------

def _eligible_patient(**changes) -> pd.DataFrame:
    row = {
        "patient_id": "P1", "age_years": 30.0, "scoliosis_correction_scheduled": True, "pcia_required": True,
        "weight_kg": 55.0, "heart_rate_bpm": 72.0, "sick_sinus_syndrome": False, "av_block_grade": 0,
        "pacemaker": False, "congenital_heart_disease": False, "arrhythmia": False, "nyha_class": 1,
        "osa_diagnosed": False, "stop_bang_score": 1, "bicarbonate_mmol_l": 25.0, "hyperthyroidism": False,
        "pheochromocytoma": False, "schizophrenia": False, "epilepsy": False, "myasthenia_gravis": False,
        "delirium_preop": False, "communication_barrier": False, "child_pugh_class": "A",
        "dialysis_preop": False, "asa_class": 2, "in_other_study": False, "follow_up_not_possible": False,
        "investigator_unsuitable": False,
    }
    row.update(changes)
    return pd.DataFrame([row])


def _failed_rules(**changes) -> list[str]:
    matrix = trial.eligibility_matrix(_eligible_patient(**changes))
    return [key for key, hit in matrix.iloc[0].items() if hit]


def test_base_patient_is_eligible():
    assessment = trial.assess_eligibility(_eligible_patient())
    assert bool(assessment["eligible"].iloc[0]) and assessment["reasons"].iloc[0] == ""


@pytest.mark.parametrize(("changes", "rules"), [
    ({"age_years": 17.9}, ["age"]),
    ({"age_years": 18.0}, []),
    ({"weight_kg": 39.9}, ["weight"]),
    ({"weight_kg": 40.0}, []),
    ({"heart_rate_bpm": 49.0}, ["bradycardia"]),
    ({"heart_rate_bpm": 50.0}, []),
    ({"av_block_grade": 2}, ["av_block"]),
    ({"av_block_grade": 2, "pacemaker": True}, []),
    ({"av_block_grade": 1}, []),
    ({"nyha_class": 3}, ["nyha"]),
    ({"nyha_class": 2}, []),
    ({"stop_bang_score": 3, "bicarbonate_mmol_l": 28.0}, ["stop_bang"]),
    ({"stop_bang_score": 3, "bicarbonate_mmol_l": 27.9}, []),
    ({"stop_bang_score": 2, "bicarbonate_mmol_l": 30.0}, []),
    ({"stop_bang_score": 3, "bicarbonate_mmol_l": np.nan}, ["stop_bang_unassessed"]),
    ({"stop_bang_score": 2, "bicarbonate_mmol_l": np.nan}, []),
    ({"child_pugh_class": "C"}, ["liver"]),
    ({"child_pugh_class": "B"}, []),
    ({"asa_class": 4}, ["asa"]),
    ({"asa_class": 3}, []),
    ({"scoliosis_correction_scheduled": False}, ["scoliosis"]),
    ({"pcia_required": False}, ["pcia"]),
])
def test_rule_boundaries(changes, rules):
    assert _failed_rules(**changes) == rules


@pytest.mark.parametrize("column", [
    "sick_sinus_syndrome", "congenital_heart_disease", "arrhythmia", "osa_diagnosed", "hyperthyroidism",
    "pheochromocytoma", "schizophrenia", "epilepsy", "myasthenia_gravis", "delirium_preop",
    "communication_barrier", "dialysis_preop", "in_other_study", "follow_up_not_possible", "investigator_unsuitable",
])
def test_every_condition_flag_excludes_alone(column):
    assert len(_failed_rules(**{column: True})) == 1


def test_reasons_listed_in_registry_order():
    assessment = trial.assess_eligibility(_eligible_patient(age_years=16, weight_kg=35, epilepsy=True))
    row = assessment.iloc[0]
    assert not row["eligible"] and row["n_reasons"] == 3
    assert row["first_criterion"] == "inclusion 1"
    assert row["reasons"] == "aged under 18 years; epilepsy; body weight under 40 kg"


def test_screening_validation_names_column_and_row():
    frame = pd.concat([_eligible_patient(), _eligible_patient(patient_id="P2", child_pugh_class="D")])
    with pytest.raises(trial.TrialDataError, match=r"child_pugh_class.*A, B or C.*row 3 \(patient_id P2; value D\)"):
        trial.assess_eligibility(frame)
    with pytest.raises(trial.TrialDataError, match="required column missing: asa_class"):
        trial.assess_eligibility(_eligible_patient().drop(columns="asa_class"))


def test_simulated_enrolment_accounts_for_everyone_and_is_reproducible():
    flow = trial.simulate_enrolment(199, seed=5)
    counts = flow.counts
    assert counts["assessed"] == counts["eligible"] + counts["not_eligible"]
    assert counts["randomised"] == 199 == counts["eligible"] - counts["declined"]
    table = flow.exclusions_by_criterion()
    assert table["first"].sum() == counts["not_eligible"]
    assert (table["any"] >= table["first"]).all()
    assert trial.simulate_enrolment(199, seed=5).counts == counts
    # the last screened patient is the 199th enrolled one
    assert bool(flow.assessment["eligible"].iloc[-1] and flow.consented.iloc[-1])


# --------------------------------------------------------------------------------------------------
# Power and sample size
# --------------------------------------------------------------------------------------------------

def test_sample_size_matches_fleiss_textbook_value():
    # Fleiss without continuity correction, 40% vs 20%, α 0.05 two-sided, 80% power: 81.2 → 82 per arm.
    z_a, z_b = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    by_hand = (z_a * math.sqrt(2 * 0.3 * 0.7) + z_b * math.sqrt(0.4 * 0.6 + 0.2 * 0.8)) ** 2 / 0.2**2
    assert by_hand == pytest.approx(81.22, abs=0.01)
    size = trial.required_sample_size(0.4, 0.5)
    assert size["per_arm_analysed"] == 82 and size["total_randomised"] == 164
    assert trial.required_sample_size(0.4, 0.5, loss=0.1)["per_arm_randomised"] == 92  # ceil(82 / 0.9)


def test_pooled_power_hand_formula_with_unequal_arms():
    p0, rr, n1, n0 = 0.3, 0.6, 99, 100
    p1 = p0 * rr
    pooled = (n1 * p1 + n0 * p0) / (n1 + n0)
    sd_null = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    sd_alt = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    z = stats.norm.ppf(0.975)
    d = abs(p1 - p0)
    by_hand = stats.norm.cdf((d - z * sd_null) / sd_alt) + stats.norm.cdf((-d - z * sd_null) / sd_alt)
    assert trial.analytic_power(p0, rr, n1, n0) == pytest.approx(by_hand, rel=1e-10)


def test_arcsine_power_hand_formula_and_loss():
    p0, rr, n1, n0, loss = 0.4, 0.7, 99, 100, 0.2
    h = abs(2 * math.asin(math.sqrt(p0 * rr)) - 2 * math.asin(math.sqrt(p0)))
    m1, m0 = n1 * (1 - loss), n0 * (1 - loss)
    shift = h * math.sqrt(m1 * m0 / (m1 + m0))
    z = stats.norm.ppf(0.975)
    by_hand = stats.norm.cdf(shift - z) + stats.norm.cdf(-shift - z)
    assert trial.analytic_power(p0, rr, n1, n0, loss=loss, method="arcsine") == pytest.approx(by_hand, rel=1e-9)


def test_power_under_null_is_alpha_and_method_checked():
    assert trial.analytic_power(0.3, 1.0) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="method must be"):
        trial.analytic_power(0.3, 0.7, method="exact")


def test_minimal_detectable_rr_reaches_target_power_and_worsens_with_loss():
    mdrr = trial.minimal_detectable_rr(0.3)
    assert trial.analytic_power(0.3, mdrr) == pytest.approx(0.8, abs=1e-8)
    with_loss = trial.minimal_detectable_rr(0.3, loss=0.2)
    assert with_loss < mdrr < 1
    assert trial.minimal_detectable_rr(0.3, n_supplement=2000, n_placebo=2000) > mdrr  # bigger trial, closer to 1


def test_log_rr_wald_equals_modified_poisson_hc0():
    a, n1, c, n0 = 20, 90, 35, 95
    frame = pd.DataFrame({"y": [1] * a + [0] * (n1 - a) + [1] * c + [0] * (n0 - c),
                          "x": [1] * n1 + [0] * n0})
    fit = sm.GLM(frame["y"], sm.add_constant(frame["x"]), family=sm.families.Poisson()).fit(cov_type="HC0")
    log_rr, se = trial.log_rr_wald(a, n1, c, n0)
    assert float(log_rr) == pytest.approx(fit.params["x"], rel=1e-8)
    assert float(se) == pytest.approx(fit.bse["x"], rel=1e-6)


def test_simulated_power_agrees_with_analytic_and_holds_alpha():
    reps = 20_000
    sim = trial.simulated_power([0.4, 0.3], [0.6, 1.0], loss=[0.1, 0.1], reps=reps, seed=11)
    analytic = trial.analytic_power(0.4, 0.6, loss=0.1)
    mc_se = math.sqrt(analytic * (1 - analytic) / reps)
    assert abs(sim[0] - analytic) < 4 * mc_se + 0.01  # normal approximation vs the Wald test of log RR
    assert abs(sim[1] - 0.05) < 0.01
    again = trial.simulated_power([0.4, 0.3], [0.6, 1.0], loss=[0.1, 0.1], reps=reps, seed=11)
    assert np.array_equal(sim, again)


# --------------------------------------------------------------------------------------------------
# Results file, mock data and the proposed analysis
# --------------------------------------------------------------------------------------------------

def _write(tmp_path, frame: pd.DataFrame | None, header: str | None = None):
    path = tmp_path / "results.csv"
    if frame is None:
        path.write_text(header + "\n")
    else:
        frame.to_csv(path, index=False)
    return path


def test_repository_template_is_header_only():
    text = (paths.TRIAL / "results.csv").read_text().strip().splitlines()
    assert text[0].split(",") == list(trial.RESULTS_REQUIRED + trial.RESULTS_OPTIONAL)


def test_template_falls_back_to_mock(tmp_path, monkeypatch):
    monkeypatch.delenv(trial.RESULTS_ENV, raising=False)
    path = _write(tmp_path, None, "patient_id,arm,cpsp_2y")
    results = trial.get_trial_results(seed=3, path=path)
    assert results.simulated and len(results.data) == 199
    assert results.data["arm"].value_counts().to_dict() == {"placebo": 100, "supplement": 99}


def test_real_file_is_used_and_validated(tmp_path, monkeypatch):
    frame = trial.simulate_results(seed=4)
    path = _write(tmp_path, frame)
    monkeypatch.setenv(trial.RESULTS_ENV, str(path))
    results = trial.get_trial_results()
    assert not results.simulated and results.label.startswith("results file")
    pd.testing.assert_series_equal(results.data["cpsp_2y"], frame["cpsp_2y"], check_dtype=False)


def test_loader_errors_are_readable(tmp_path):
    frame = trial.simulate_results(seed=4)
    frame["cpsp_2y"] = frame["cpsp_2y"].astype(object)
    frame.loc[1, "cpsp_2y"] = 2
    frame.loc[4, "arm"] = "dex"
    with pytest.raises(trial.TrialDataError) as info:
        trial.get_trial_results(path=_write(tmp_path, frame))
    message = str(info.value)
    assert "column 'cpsp_2y': value is not allowed (0, 1 or empty) in row 3 (patient_id T002; value 2.0)" in message
    assert "column 'arm'" in message and "row 6" in message
    with pytest.raises(trial.TrialDataError, match="required column missing: cpsp_2y"):
        trial.get_trial_results(path=_write(tmp_path, None, "patient_id,arm"))
    with pytest.raises(trial.TrialDataError, match="file not found"):
        trial.get_trial_results(path=tmp_path / "nothing.csv")


def test_a_non_number_is_reported_once():
    frame = trial.simulate_results(seed=4).astype({"cpsp_2y": object})
    frame.loc[0, "cpsp_2y"] = "yes"
    with pytest.raises(trial.TrialDataError) as info:
        trial.validate_results(frame, source="x.csv")
    assert info.value.problems == ["column 'cpsp_2y': value is not a number in row 2 (patient_id T001; value yes)"]


def test_arm_without_follow_up_is_an_error():
    frame = trial.simulate_results(seed=4)
    frame.loc[frame["arm"] == "placebo", "cpsp_2y"] = np.nan
    with pytest.raises(trial.TrialDataError, match="no patient of arm 'placebo'"):
        trial.validate_results(frame)


def test_frequentist_analysis_hand_computed():
    a, n1, c, n0 = 24, 88, 34, 89
    frame = pd.DataFrame({"patient_id": [f"T{i}" for i in range(n1 + n0)],
                          "arm": ["supplement"] * n1 + ["placebo"] * n0,
                          "cpsp_2y": [1.0] * a + [0.0] * (n1 - a) + [1.0] * c + [0.0] * (n0 - c)})
    table = trial.frequentist_analysis(frame).set_index("method")
    rr = (a / n1) / (c / n0)
    se = math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n0)
    poisson = table.loc["modified Poisson (robust SE)"]
    assert poisson["estimate"] == pytest.approx(rr)
    assert poisson["ci_low"] == pytest.approx(rr * math.exp(-1.959964 * se), rel=1e-5)
    log_binomial = table.loc["log-binomial GLM (robust SE)"]
    assert log_binomial["converged"] and log_binomial["estimate"] == pytest.approx(rr, rel=1e-6)
    rd = table.loc["linear probability (robust SE)"]
    se_rd = math.sqrt((a / n1) * (1 - a / n1) / n1 + (c / n0) * (1 - c / n0) / n0)
    assert rd["estimate"] == pytest.approx(a / n1 - c / n0)
    assert rd["ci_high"] - rd["estimate"] == pytest.approx(1.959964 * se_rd, rel=1e-5)


def test_priors_put_five_percent_where_designed():
    sceptical, enthusiastic, parent = trial.trial_priors()
    assert sceptical.prob_below(0.76) == pytest.approx(0.05)
    assert 1 - enthusiastic.prob_below(1.0) == pytest.approx(0.05)
    # centred on the point estimate, width from the CI (the published CI is not exactly log-symmetric)
    assert parent.interval() == pytest.approx((0.65, 0.90), abs=0.01)


def test_grid_posterior_matches_conjugate_normal_for_large_trial():
    a, n1, c, n0 = 300, 1000, 400, 1000
    log_rr_hat, se = trial.log_rr_wald(a, n1, c, n0)
    for prior in trial.trial_priors():
        grid = trial.grid_posterior(a, n1, c, n0, prior)
        mean, sd = trial.normal_posterior(float(log_rr_hat), float(se), prior)
        assert grid.mean_log_rr() == pytest.approx(mean, abs=0.005)
        assert grid.prob_rr_below(0.8) == pytest.approx(stats.norm.cdf((math.log(0.8) - mean) / sd), abs=0.02)


def test_beta_binomial_reference_symmetry_and_monte_carlo():
    same = trial.beta_binomial_reference(30, 100, 30, 100)
    assert same["prob_rr_below_1"] == pytest.approx(0.5, abs=1e-8)
    rng = np.random.default_rng(0)
    draws = rng.beta(1 + 20, 1 + 80, 400_000) < rng.beta(1 + 35, 1 + 65, 400_000)
    assert trial.beta_binomial_reference(20, 100, 35, 100)["prob_rr_below_1"] == pytest.approx(draws.mean(), abs=0.003)


def test_bayesian_analysis_orders_priors_sensibly():
    results = trial.simulate_results(seed=trial.TRIAL_SEED)
    table = trial.bayesian_analysis(results).set_index("prior")
    assert table.loc["enthusiastic", "prob_rr_below_1"] > table.loc["sceptical", "prob_rr_below_1"]
    assert (table["prob_rr_below_threshold"] <= table["prob_rr_below_1"]).all()
    assert (table["rr_low"] < table["rr_median"]).all() and (table["rr_median"] < table["rr_high"]).all()


def test_results_section_is_json_and_complete(monkeypatch):
    monkeypatch.delenv(trial.RESULTS_ENV, raising=False)
    section = trial.results_section()
    json.dumps(section)
    body = section["trial_nct05718544"]
    assert body["pca"]["sufentanil_cap_weight_kg"] == 62.5
    assert body["pca"]["published_rates_consistent"] is True
    assert set(body["design"]["minimal_detectable_rr_80pct"]) == {"0.1", "0.2", "0.3", "0.4", "0.5"}
    assert 0 < body["analysis"]["rr"] < 2


# --------------------------------------------------------------------------------------------------
# Registry facts (data/trial/registry.json)
# --------------------------------------------------------------------------------------------------

def test_registry_title_sponsor_and_pi_match_the_bibliography():
    registry = trial.load_registry()
    assert registry["title"] == "Mini-dose Esketamine-dexmedetomidine Supplemented Analgesia and Long-term Outcomes"
    bib = (paths.PROJECT_ROOT / "references.bib").read_text()
    entry = bib[bib.index("@misc{nct05718544,"):]
    entry = entry[:entry.index("\n}\n")]
    assert registry["title"] in entry
    assert registry["sponsor"] in entry and "Wang, Dong-Xin" in entry
    published = cohort.published()["nct05718544_followup_trial"]
    assert published["registered_title"] == registry["title"]


def test_registry_states_what_it_lacks():
    registry = trial.load_registry()
    lacking = " ".join(registry["not_in_record"])
    for missing in ("outcome-measures section", "definition of CPSP", "secondary outcome", "analysis plan"):
        assert missing in lacking
    assert not any("Outcome" in section for section in registry["sections_present"])
    table = trial.registry_table()
    assert {"fact", "value", "registry section"} == set(table.columns) and table["registry section"].ne("").all()


def test_registry_consistency_derives_the_study_length_and_catches_a_mismatch():
    registry = trial.load_registry()
    parent = cohort.published()["zhang2023_parent_rct"]
    derived = trial.registry_consistency(registry, parent)
    assert derived["study_months"] == pytest.approx(220 / 30.4375)
    with pytest.raises(trial.TrialDataError, match="enrolment 200"):
        trial.registry_consistency({**registry, "enrolment": 200}, parent)


def test_sample_size_table_matches_the_single_calls():
    table = trial.sample_size_table([0.2, 0.3], [0.76, 0.8], loss=0.1)
    assert list(zip(table["rr"], table["p_control"], strict=True)) == [(0.76, 0.2), (0.76, 0.3), (0.8, 0.2), (0.8, 0.3)]
    row = table.query("p_control == 0.3 and rr == 0.76").iloc[0]
    assert row["total_randomised"] == trial.required_sample_size(0.3, 0.76, loss=0.1)["total_randomised"]


def test_prior_table_reports_each_prior():
    priors = trial.trial_priors(0.76, (0.65, 0.90))
    table = trial.prior_table(priors, 0.8).set_index("prior")
    sceptical = table.loc["sceptical"]
    assert sceptical["median RR"] == pytest.approx(1.0)
    assert sceptical["P(RR < 1)"] == pytest.approx(0.5)
    assert table["2.5%"].lt(table["median RR"]).all() and table["median RR"].lt(table["97.5%"]).all()


# --------------------------------------------------------------------------------------------------
# What notebook 07 glues and derives (trial.page)
# --------------------------------------------------------------------------------------------------

def test_page_registry_pump_and_regimen_values():
    parent = cohort.published()["zhang2023_parent_rct"]
    registry = trial.load_registry()
    values = trial.registry_values(registry, trial.registry_consistency(registry, parent), parent)
    assert values["nb07_pi"] == registry["principal_investigator"].split(",")[0] and "," not in values["nb07_pi"]
    assert values["nb07_n_enrolled"] == "199" and values["nb07_parent_rr"] == f"{parent['primary_result']['rr']:.2f}"
    limits = trial.REGISTRY_PCA.limits()
    assert trial.limit_values(limits)["nb07_max_ml_h"] == "16"  # 1 ml/h + 7.5 boluses of 2 ml
    assert trial.limits_table(limits).index.name == "setting" and len(trial.limits_table(limits)) == len(limits)
    regimen = trial.regimen_by_weight()
    assert sorted(set(regimen.index.get_level_values("weight_kg"))) == [40.0, 50.0, 62.5, 80.0]
    values = trial.regimen_values(regimen)
    assert values["nb07_cap_weight"] == "62.5" and values["nb07_suf_bg_per_kg"] == "0.02"
    assert values["nb07_esk_bg_50"] == "5.0"


def test_page_rate_and_bolus_values():
    consistency = trial.achieved_rate_consistency(5.5, 0.02)
    table = trial.rate_check_table(consistency)
    assert table.loc["consistent", "check"] is consistency["consistent"]  # a verdict stays a bool
    assert all(isinstance(v, str) for k, v in table["check"].items() if not isinstance(consistency[k], bool))
    assert trial.rate_values(5.5, 0.02, consistency)["nb07_dex_rate"] == "0.02"
    implied = trial.implied_bolus_table(5.5, 0.02)
    assert list(implied["drug"].unique()) == ["esketamine", "dexmedetomidine"]
    assert len(implied) == 2 * len(trial.BOLUS_WEIGHT_GRID)
    assert sorted(trial.at_weights(implied)["weight_kg"].unique()) == trial.BOLUS_WEIGHTS_SHOWN
    values = trial.bolus_values(implied, 5.5, 0.02)
    assert values["nb07_share_max_60"].endswith("%")


def test_page_screening_power_and_mdrr_values():
    flow = trial.simulate_enrolment(199, seed=trial.TRIAL_SEED)
    values = trial.screening_values(flow, flow.exclusions_by_criterion())
    assert int(values["nb07_screened"]) == flow.counts["assessed"] and values["nb07_share_capped"].endswith("%")
    reasons = trial.most_reasons(flow, 4)
    assert len(reasons) == 4 and not reasons["eligible"].any() and reasons["n_reasons"].is_monotonic_decreasing
    power = pd.DataFrame({"p_control": [0.1, 0.1, 0.3, 0.3], "power_simulated": [0.50, 0.62, 0.80, 0.81],
                          "power_pooled": [0.55, 0.55, 0.79, 0.79]})
    agreement = trial.power_agreement(power)
    assert agreement.loc[0.1, "min"] == pytest.approx(-0.05) and agreement.loc[0.3, "max"] == pytest.approx(0.02)
    assert trial.power_values(power, 10) == {"nb07_reps": "10", "nb07_agree_high": "0.02", "nb07_agree_low": "0.07"}
    with pytest.raises(AssertionError, match="agree"):
        trial.power_values(power.assign(power_simulated=[0.5, 0.5, 0.9, 0.8]), 10)
    mdrr = trial.mdrr_table(np.round(np.arange(0.10, 0.501, 0.025), 3), losses=(0.0, 0.1))
    sizes = trial.sample_size_table([0.1, 0.3, 0.5], (0.76,), loss=0.1)
    values = trial.mdrr_values(mdrr, sizes, 0.76)
    assert set(values) == {"nb07_mdrr_10", "nb07_mdrr_30", "nb07_mdrr_50", "nb07_power_076_30",
                           "nb07_power_076_50", "nb07_n_needed_076_30"}
    assert float(values["nb07_mdrr_10"]) < float(values["nb07_mdrr_50"]) < 1  # rarer events: larger effect needed
    pivot = trial.mdrr_pivot(mdrr)
    assert list(pivot.columns) == [0.0, 0.1] and np.allclose(pivot.index * 20, np.round(pivot.index * 20))
    assert len(pivot) == 9


def test_page_analysis_values_and_mock_design(tmp_path, monkeypatch):
    results = trial.get_trial_results(seed=trial.TRIAL_SEED)
    assert results.simulated
    assert trial.mock_values(results) == {"nb07_mock_p0": "30%", "nb07_mock_rr": "0.80", "nb07_mock_loss": "10%"}
    shown = []
    monkeypatch.setattr(trial.page.tables, "show", lambda frame, name, *a, **k: shown.append(name))
    trial.show_mock_design(results)
    assert shown == ["nb07-mock"]
    real = trial.TrialResults(results.data, simulated=False, source="file.csv")
    assert trial.mock_values(real) == {}
    trial.show_mock_design(real)
    assert shown == ["nb07-mock"]
    values = trial.frequentist_values(trial.frequentist_analysis(results.data), results.data)
    risks = trial.risk_table(results.data)
    assert values["nb07_rr"] == f"{risks['risk']['supplement'] / risks['risk']['placebo']:.2f}"
    assert values["nb07_n_followed"] == str(int(risks["followed_up"].sum()))
    assert trial.threshold_values(0.75, 0.30) == {"nb07_threshold": "0.75", "nb07_threshold_rrr": "25%",
                                                  "nb07_threshold_p0": "30%", "nb07_threshold_arr": "8",
                                                  "nb07_threshold_nnt": "13"}
    bayes = trial.bayesian_analysis(results.data)
    values = trial.posterior_values(bayes)
    assert len(values) == 3 * len(trial.QUOTED_PRIORS)
    assert values["nb07_post_rr_flat"] == f"{bayes.set_index('prior').loc['flat Beta(1,1) per arm', 'rr_median']:.2f}"
    with pytest.raises(AssertionError, match="bracket"):
        trial.posterior_values(bayes.assign(rr_low=bayes["rr_high"]))


def test_page_validation_error_example_names_both_mistakes():
    message = trial.validation_error_example(seed=trial.TRIAL_SEED)
    assert "arm" in message and "cpsp_2y" in message and "example.csv" in message
