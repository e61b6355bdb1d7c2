"""Tests of stage 6: the case-report data files, dose arithmetic, MME conversion, ITS model, side effects."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dexmood import cache, paths
from dexmood import case_report as cr
from dexmood.cohort import published
from dexmood.verdict import Grade


@pytest.fixture(scope="module")
def regimens():
    return cr.load_regimens()


@pytest.fixture(scope="module")
def pain():
    return cr.load_pain()


@pytest.fixture(scope="module")
def side_effects():
    return cr.load_side_effects()


# --------------------------------------------------------------------------------------------------
# Schemas of the hand-written files
# --------------------------------------------------------------------------------------------------

def test_shipped_files_pass_their_schemas(regimens, pain, side_effects):
    assert len(regimens) == 29 and regimens["step_id"].is_unique
    assert list(pain["segment"]) == list(cr.SEGMENTS)
    assert len(side_effects) == 12
    ambiguities = cr.load_ambiguities()
    assert {"A1", "A8", "A10"} <= set(ambiguities["id"])
    assert cr.load_instrument_scores().empty  # the text has no HAMD-6 / QLQ-C30 values


def test_every_row_cites_a_section(regimens, pain):
    for table in (regimens, pain):
        assert table["source"].str.match(cr.SOURCE_PATTERN).all()


def test_side_effects_match_published_table(side_effects):
    table = published()["huang2020_case_report"]["side_effect_frequency_table"]["before_after"]
    ours = {r.symptom: [r.before, r.after] for r in side_effects.itertuples()}
    assert ours == table


def test_pain_readings_are_the_text_ranges(pain):
    ranges = [(r.nrs_low, r.nrs_high) for r in pain.itertuples()]
    assert ranges == [(3, 4), (5, 6), (6, 6), (4, 5), (2, 3)]
    assert pain.loc[pain["dex"] == 1, "day_start"].tolist() == [cr.DEX_DAY]


def _write(tmp_path, name, frame):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _raw(name):
    return pd.read_csv(paths.CASE_REPORT / name, dtype=str, keep_default_na=False, na_values=[""])


def test_pain_schema_rejects_inverted_range(tmp_path):
    frame = _raw("pain.csv")
    frame.loc[1, ["nrs_low", "nrs_high"]] = ["6", "5"]
    with pytest.raises(cr.CaseReportError, match="nrs_high >= nrs_low"):
        cr.load_pain(_write(tmp_path, "pain.csv", frame))


def test_pain_schema_rejects_nrs_out_of_range(tmp_path):
    frame = _raw("pain.csv")
    frame.loc[0, "nrs_high"] = "11"
    with pytest.raises(cr.CaseReportError, match=r"column 'nrs_high'.*line 2"):
        cr.load_pain(_write(tmp_path, "pain.csv", frame))


def test_regimen_schema_checks_day_numbers_against_dates(tmp_path):
    frame = _raw("regimens.csv")
    frame.loc[9, "day_start"] = "13"  # mixture A was implanted on 13 Dec 2019 = day 12
    with pytest.raises(cr.CaseReportError, match="day_start matches date_start.*line 11"):
        cr.load_regimens(_write(tmp_path, "regimens.csv", frame))


def test_regimen_schema_rejects_unknown_route_and_missing_source(tmp_path):
    frame = _raw("regimens.csv")
    frame.loc[0, "route"] = "rectal"
    frame.loc[2, "source"] = "somewhere"
    with pytest.raises(cr.CaseReportError) as info:
        cr.load_regimens(_write(tmp_path, "regimens.csv", frame))
    message = str(info.value)
    assert "column 'route'" in message and "column 'source'" in message


def test_side_effect_schema_rejects_score_outside_scale(tmp_path):
    frame = _raw("side_effects.csv")
    frame.loc[0, "after"] = "6"
    with pytest.raises(cr.CaseReportError, match="column 'after'"):
        cr.load_side_effects(_write(tmp_path, "side_effects.csv", frame))


def test_missing_file_is_one_readable_error(tmp_path):
    with pytest.raises(cr.CaseReportError, match="file not found"):
        cr.load_pain(tmp_path / "nope.csv")


def test_instrument_template_accepts_filled_scores_and_rejects_bad_ones(tmp_path):
    shutil.copy(paths.CASE_REPORT / "instruments_template.csv", tmp_path / "instruments.csv")
    frame = _raw("instruments_template.csv")
    assert len(frame) == 45 and frame["score"].isna().all()
    frame.loc[0, "score"] = "3"
    filled = cr.load_instrument_scores(_write(tmp_path, "instruments.csv", frame))
    assert len(filled) == 1 and filled.loc[0, "score"] == 3
    frame.loc[0, "score"] = "7"  # HAMD-6 items are 0-4
    with pytest.raises(cr.CaseReportError, match="score within score_min-score_max"):
        cr.load_instrument_scores(_write(tmp_path, "instruments.csv", frame))


# --------------------------------------------------------------------------------------------------
# Dose arithmetic: each step of the text
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("dose", "interval_h", "daily"), [
    (10, 12, 20),    # oxycodone 10 mg every 12 h (Dec 2018)
    (120, 12, 240),  # oxycodone 120 mg every 12 h (Dec 2019)
    (5, 6, 20),      # oxycodone/paracetamol 5 mg every 6 h
    (75, 12, 150),   # pregabalin 75 mg every 12 h
    (100, 24, 100),  # fluvoxamine 100 mg every night
    (200, 12, 400),  # bozitinib 200 mg twice daily
])
def test_scheduled_oral_doses(dose, interval_h, daily):
    assert cr.daily_from_interval(dose, interval_h) == pytest.approx(daily)


def test_pcia_background_infusion():
    assert cr.daily_from_hourly(0.2) == pytest.approx(4.8)  # hydromorphone 0.2 mg/h


@pytest.mark.parametrize(("mixture", "amount", "rate", "per_hour", "per_day"), [
    ("A", 20, 0.5, 0.10, 2.4),   # implantation: morphine 20 mg / 100 ml at 0.5 ml/h
    ("B", 30, 1.0, 0.30, 7.2),   # next day: +10 mg, 1 ml/h
    ("C", 50, 0.5, 0.25, 6.0),   # third day: 50 mg, back to 0.5 ml/h
    ("D", 70, 0.5, 0.35, 8.4),   # 70 mg: the text itself states 0.35 mg/h
    ("E", 70, 0.5, 0.35, 8.4),   # DEX added, same morphine
    ("F", 90, 0.5, 0.45, 10.8),  # May 2020
])
def test_intrathecal_morphine_steps(regimens, mixture, amount, rate, per_hour, per_day):
    assert cr.hourly_dose(amount, 100, rate) == pytest.approx(per_hour)
    assert cr.daily_from_hourly(per_hour) == pytest.approx(per_day)
    step = cr.pump_steps(regimens).set_index("mixture").loc[mixture]
    assert (step.morphine_mg_per_100ml, step.rate_ml_per_h) == (amount, rate)
    assert step.morphine_mg_per_h == pytest.approx(per_hour)
    assert step.morphine_mg_per_day == pytest.approx(per_day)


def test_intrathecal_dex_dose(regimens):
    assert cr.concentration(200, 100) == pytest.approx(2.0)  # µg/ml
    assert cr.hourly_dose(200, 100, 0.5) == pytest.approx(1.0)  # 1 µg/h
    dex = regimens[regimens["drug"] == "dexmedetomidine"]
    assert (dex["unit"] == "ug").all() and np.allclose(dex["daily_dose"], 24.0)
    assert dex["day_start"].min() == cr.DEX_DAY


def test_every_hand_entered_daily_dose_matches_arithmetic(regimens):
    table = cr.check_dose_arithmetic(regimens)
    computable = table["daily_computed"].notna()
    assert computable.sum() == 28  # all rows but nivolumab (schedule not reported)
    assert np.allclose(table.loc[computable, "daily_entered"], table.loc[computable, "daily_computed"])
    stated = table[table["hourly_stated"].notna() & table["hourly_computed"].notna()]
    assert list(stated["step_id"]) == [19]  # 70 mg at 0.5 ml/h = 0.35 mg/h, as the text says


def test_dose_check_catches_a_wrong_entry(regimens):
    broken = regimens.copy()
    broken.loc[broken["step_id"] == 13, "daily_dose"] = 3.6  # as if the rate had stayed at 0.5 ml/h
    with pytest.raises(cr.CaseReportError, match=r"step 13 \(morphine\).*gives 7.2"):
        cr.check_dose_arithmetic(broken)


def test_dose_arithmetic_guards():
    with pytest.raises(ValueError, match="volume_ml"):
        cr.concentration(20, 0)
    with pytest.raises(ValueError, match="interval_h"):
        cr.daily_from_interval(10, 0)


# --------------------------------------------------------------------------------------------------
# Oral morphine equivalents
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("day", "low", "high"), [
    (-300.25, 60.0, 80.0),      # (20 + 20) mg oxycodone × 1.5–2
    (5.25, 390.0, 520.0),       # (240 + 20) mg oxycodone × 1.5–2 (after the escalation)
    (11.25, 438.0, 616.0),      # + hydromorphone 4.8 mg IV × 10–20
    (12.25, 240.0, 720.0),      # intrathecal morphine 2.4 mg × 100–300 only
    (15.25, 840.0, 2520.0),     # 8.4 mg × 100–300
    (181.75, 1080.0, 3240.0),   # 10.8 mg × 100–300
])
def test_mme_point_values(regimens, day, low, high):
    grid = np.array([day])
    assert cr.mme_point(regimens, grid, "low").iloc[0] == pytest.approx(low)
    assert cr.mme_point(regimens, grid, "high").iloc[0] == pytest.approx(high)


def test_escalation_is_linear(regimens):
    grid = np.array([-91.5])  # half-way through June–December 2019
    doses = cr.opioid_daily_doses(regimens, grid)
    assert doses[2].iloc[0, 0] == pytest.approx(130.0)  # half-way from 20 to 240 mg/day


def test_hydrocodone_reading_changes_only_the_oral_phase(regimens):
    table = cr.alternative_reading(regimens).set_index("reading")
    assert table.loc["hydrocodone", "mme_low"] == pytest.approx(40.0)
    assert table.loc["oxycodone", "mme_high"] == pytest.approx(80.0)
    later = np.array([15.25])
    assert cr.mme_point(regimens, later, "low", "hydrocodone").iloc[0] == pytest.approx(840.0)


def test_conversion_draws_are_log_uniform_within_range():
    rng = np.random.default_rng(3)
    conversion = cr.CONVERSIONS[("morphine", "intrathecal")]
    draws = conversion.sample(rng, 20_000)
    assert draws.min() >= 100 and draws.max() <= 300
    assert np.median(draws) == pytest.approx(math.sqrt(100 * 300), rel=0.02)
    assert stats.kstest(np.log(draws), stats.uniform(math.log(100), math.log(3)).cdf).pvalue > 0.01
    assert np.all(cr.CONVERSIONS[("hydrocodone", "oral")].sample(rng, 5) == 1.0)


def test_conversion_sources_are_in_the_bibliography():
    bib = (paths.PROJECT_ROOT / "references.bib").read_text()
    keys = {k.strip() for c in cr.CONVERSIONS.values() for k in c.sources.split(";")}
    assert keys == {"dowell2022cdc", "nougg2010canadian", "reddy2022conversion", "sylvester2004intrathecal"}
    for key in keys | {"hamilton1960rating", "bech2006rating", "aaronson1993qlqc30", "lopezbernal2017its"}:
        assert f"{{{key}," in bib


def test_mme_simulation_band_and_reproducibility(regimens):
    sim = cr.simulate_mme(regimens, n_draws=2000, seed=11)
    again = cr.simulate_mme(regimens, n_draws=2000, seed=11)
    assert np.array_equal(sim.draws, again.draws)
    assert not np.array_equal(sim.draws, cr.simulate_mme(regimens, n_draws=2000, seed=12).draws)
    grid = sim.grid
    low, high = cr.mme_point(regimens, grid, "low"), cr.mme_point(regimens, grid, "high")
    outside_gap = (grid < 22) | (grid >= 152)
    assert np.all(sim.draws[:, outside_gap] >= low.to_numpy()[outside_gap] - 1e-9)
    assert np.all(sim.draws[:, outside_gap] <= high.to_numpy()[outside_gap] + 1e-9)
    band = sim.band()
    assert (band["q05"] <= band["q50"]).all() and (band["q50"] <= band["q95"]).all()
    # The same intrathecal factor applies before and after DEX: their ratio is conversion-free.
    before, after = sim.window_mean(14.5, 15.0), sim.window_mean(15.0, 22.0)
    assert np.allclose(after / before, 1.0)
    assert np.allclose(sim.window_mean(14.0, 14.5) / before, 6.0 / 8.4)


def test_unknown_switch_day_is_sampled_inside_the_gap(regimens):
    gaps = cr.attested_gaps(regimens)
    assert [(start, end) for *_, start, end in gaps] == [(22.0, 152.0)]
    sim = cr.simulate_mme(regimens, n_draws=500, seed=1)
    assert sim.switch_days.min() >= 22 and sim.switch_days.max() <= 152
    i = int(np.argmin(sim.switch_days))
    day = np.searchsorted(sim.grid, sim.switch_days[i] + 1)
    factor = sim.factors["morphine_intrathecal"].iloc[i]
    assert sim.draws[i, day] == pytest.approx(10.8 * factor)
    with pytest.raises(ValueError, match="outside the gap"):
        cr.opioid_daily_doses(regimens, sim.grid, switch_days={gaps[0][0]: 200.0})


def test_breakeven_ratio():
    assert cr.breakeven_intrathecal_ratio(np.array([438.0, 616.0]), 8.4) == pytest.approx([52.142857, 73.333333])


# --------------------------------------------------------------------------------------------------
# Interrupted time series on interval-censored readings
# --------------------------------------------------------------------------------------------------

def test_nrs_bounds_add_the_rounding_half_point(pain):
    lower, upper = cr.nrs_bounds(pain)
    assert lower.tolist() == [2.5, 4.5, 5.5, 3.5, 1.5]
    assert upper.tolist() == [4.5, 6.5, 6.5, 5.5, 3.5]


def test_interval_likelihood_matches_scipy_even_far_in_the_tails(pain):
    model = cr.build_its_model(pain)
    potential = model.replace_rvs_by_values(model.potentials)[0]
    loglik = model.compile_fn(potential, inputs=model.value_vars)
    level = np.array([3.0, -20.0, 25.0, 4.5])  # readings 2 and 3 lie far above / below their mean
    sigma = 0.4
    value = loglik({"level": level, "dex_change": -2.0, "sigma_log__": np.log(sigma)})
    lower, upper = cr.nrs_bounds(pain)
    mu = np.append(level, level[3] - 2.0)
    expected = 0.0
    for lo, hi, m in zip(lower, upper, mu, strict=True):
        a, b = (lo - m) / sigma, (hi - m) / sigma
        if a > 0:  # log(sf(a) − sf(b)) computed in the upper tail
            expected += stats.norm.logsf(a) + np.log1p(-np.exp(stats.norm.logsf(b) - stats.norm.logsf(a)))
        else:
            expected += stats.norm.logcdf(b) + np.log1p(-np.exp(stats.norm.logcdf(a) - stats.norm.logcdf(b)))
    assert np.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-8)


@pytest.fixture(scope="module")
def small_fit(pain):
    return cr.fit_its(pain, random_seed=20240601, draws=400, tune=400, chains=2)


def test_its_posterior_recovers_the_reported_ranges(small_fit, pain):
    summary = cr.its_summary(small_fit, pain).set_index("quantity")
    change = summary.loc["change at DEX addition"]
    # Difference of two readings 2 points apart, each ~uniform over 2 points: mean ≈ −2, shrunk by the prior.
    assert -2.3 < change["mean"] < -1.2
    assert change["lower"] < -3 and change["upper"] > -0.6
    draws = small_fit.posterior["dex_change"].to_numpy().ravel()
    assert (draws < 0).mean() > 0.85
    before = summary.loc["level: intrathecal, before DEX"]
    assert 3.9 < before["mean"] < 5.1


def test_trend_counterfactual_removes_the_apparent_dex_effect(small_fit, pain):
    effects = cr.counterfactual_effects(small_fit, pain)
    assert effects["level_persists"].mean() < -1
    assert effects["trend_continues"].mean() > effects["level_persists"].mean() + 1.5


def test_diagnostics_pass_and_fail_loudly(small_fit):
    from dexmood import diagnostics

    table = diagnostics.check_diagnostics(small_fit, ["level", "dex_change", "sigma"], ess_min=100)
    assert {"level", "dex_change", "sigma"} <= set(table.index)
    with pytest.raises(diagnostics.DiagnosticsError, match="bulk ESS .* < 1e\\+06"):
        diagnostics.check_diagnostics(small_fit, ["level", "dex_change", "sigma"], ess_min=1_000_000)


def test_opioid_adjusted_pain_uses_segment_means(small_fit, regimens, pain):
    sim = cr.simulate_mme(regimens, n_draws=500, seed=2)
    table = cr.opioid_adjusted_pain(small_fit, sim, regimens, pain, seed=3).set_index("quantity")
    # Intrathecal morphine over days 12–15: (2.4 + 7.2 + 0.5·6.0 + 0.5·8.4) / 3 = 5.6 mg/day; after: 8.4.
    assert table.attrs["it_morphine_before"] == pytest.approx(5.6)
    assert table.attrs["it_morphine_after"] == pytest.approx(8.4)
    assert table.loc["NRS per 10 mg/day intrathecal morphine", "ratio_after_before"] < 1


# --------------------------------------------------------------------------------------------------
# Side effects, co-interventions, verdict
# --------------------------------------------------------------------------------------------------

def test_side_effect_exact_test(side_effects):
    result = cr.side_effect_test(side_effects)
    assert (result["n_changed"], result["n_improved"], result["n_worse"]) == (4, 4, 0)
    assert result["p_exact"] == pytest.approx(0.125)  # 2 of 2^4 sign patterns are as extreme
    assert result["p_sign_flip"] == pytest.approx(result["p_exact"])
    assert result["min_attainable_p"] == pytest.approx(0.125)


def test_side_effect_test_with_all_symptoms_changed():
    table = pd.DataFrame({"symptom": list("abcdefghijkl"), "before": [5] * 12, "after": [4] * 6 + [3] * 6,
                          "source": "Table 1"})
    result = cr.side_effect_test(table)
    assert result["p_exact"] == pytest.approx(2 / 2**12)
    assert result["p_sign_flip"] == pytest.approx(2 / 2**12)


def test_cointerventions_in_the_week_before_dex(regimens):
    events = cr.cointerventions(regimens)
    assert len(events) == 11
    assert set(events["change"]) == {"start", "stop"}
    assert "intrathecal mixture E" not in set(events["event"])  # the DEX mixture itself is not a co-intervention
    assert events["day"].between(cr.DEX_DAY - 7, cr.DEX_DAY, inclusive="left").all()


def test_verdicts_are_graded_from_the_numbers(small_fit, regimens, pain, side_effects):
    sim = cr.simulate_mme(regimens, n_draws=500, seed=2)
    pumps = cr.pump_steps(regimens)
    oral_iv = sim.window_mean(10, 12)
    breakeven = cr.breakeven_intrathecal_ratio(oral_iv, pumps.set_index("mixture").loc["E", "morphine_mg_per_day"])
    verdicts = cr.claim_verdicts(cr.its_summary(small_fit, pain), cr.counterfactual_effects(small_fit, pain),
                                 small_fit.posterior["dex_change"].to_numpy().ravel(), pumps, breakeven,
                                 cr.side_effect_test(side_effects), len(cr.cointerventions(regimens)), 0,
                                 oral_iv, sim.window_mean(15, 22), n_cointerventions_approx=6)
    grades = {claim: v.grade for claim, v in verdicts.items()}
    assert grades["DEX reduced the morphine dose needed"] is Grade.NOT_SUPPORTED
    assert grades["The fall was caused by DEX"] is Grade.INCONCLUSIVE
    # the break-even ratio lies inside the plausible 12–300:1, so the report cannot tell
    assert grades["Intrathecal DEX with morphine reduced overall opioid consumption"] is Grade.INCONCLUSIVE
    assert grades["DEX relieved depression and improved quality of life"] is Grade.NOT_ASSESSED
    assert "+29%" in verdicts["DEX reduced the morphine dose needed"].sentence
    assert "(6 of them on dates we placed approximately)" in verdicts["The fall was caused by DEX"].sentence
    table = cr.verdict_table(verdicts)
    assert list(table.columns) == ["claim", "what the numbers show", "verdict"]
    counts = cr.grade_counts(verdicts)
    assert sum(counts.values()) == len(verdicts) and counts["not supported"] == 1


@pytest.mark.parametrize("breakeven, grade", [
    (np.full(100, 5.0), Grade.NOT_SUPPORTED),    # the load rose even at 12:1
    (np.full(100, 400.0), Grade.SUPPORTED),      # the load fell even at 300:1
    (np.linspace(55, 70, 100), Grade.INCONCLUSIVE),
    (np.linspace(5, 20, 100), Grade.INCONCLUSIVE),  # band straddles the lower end
])
def test_opioid_load_verdict_follows_the_breakeven(breakeven, grade):
    verdict = cr.opioid_load_verdict(breakeven)
    assert verdict.grade is grade
    assert verdict.value == pytest.approx(np.median(breakeven))
    assert "break-even" in verdict.sentence
    if grade is Grade.INCONCLUSIVE:  # the DEX week's load = intrathecal mg × ratio: it fell only below the break-even
        assert "below the break-even" in verdict.sentence


def test_mme_cache_returns_the_same_draws(regimens, tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    first = cr.cached_mme(regimens, n_draws=50, seed=4)
    assert len(list(tmp_path.glob("case_report_mme_*.pkl"))) == 1
    second = cr.cached_mme(regimens, n_draws=50, seed=4)
    np.testing.assert_array_equal(first.draws, second.draws)
    np.testing.assert_array_equal(first.draws, cr.simulate_mme(regimens, n_draws=50, seed=4).draws)
    cr.cached_mme(regimens, n_draws=50, seed=5)
    assert len(list(tmp_path.glob("case_report_mme_*.pkl"))) == 2  # another seed is another entry


def test_results_section_is_json_ready():
    import json

    section = cr.results_section(n_draws=500)
    text = json.dumps(section)
    assert section["dex_ug_per_day"] == 24.0
    assert section["intrathecal_morphine_mg_per_day"]["F"] == pytest.approx(10.8)
    assert section["side_effects"]["p_exact"] == pytest.approx(0.125)
    assert "NaN" not in text


# --------------------------------------------------------------------------------------------------
# What notebook 06 glues, prints and shows (case_report.page)
# --------------------------------------------------------------------------------------------------

def test_page_pump_and_dose_values(regimens):
    pumps = cr.pump_steps(regimens)
    values = cr.pump_values(pumps)
    at_dex = pumps.set_index("mixture").loc[cr.DEX_MIXTURE]
    assert values["nb06_dex_ug_per_day"] == f"{at_dex.dex_ug_per_day:.0f}"
    assert float(values["nb06_dex_ug_per_h"]) == pytest.approx(at_dex.dex_ug_per_day / 24, abs=0.5)
    assert values["nb06_it_morphine_rise_pct"] == "29"  # 8.4 / 6.5 mg/day: the "+29%" of the verdict
    may = cr.may2020_values(pumps)
    assert set(may) == {"nb06_it_morphine_may2020_mg", "nb06_dex_may2020_ug", "nb06_rate_may2020"}
    line = cr.dose_check_line(cr.check_dose_arithmetic(regimens))
    assert line.endswith("daily doses recomputed, all equal to the entries") and int(line.split()[0]) > 0


def test_page_load_values_are_medians_and_bands():
    draws = {"oral_iv": np.arange(101.0), "dex_week": np.full(10, 7.0), "fold": np.linspace(1.0, 3.0, 101),
             "breakeven": np.full(50, 400.0)}
    values = cr.load_values(draws)
    assert values["nb06_mme_oral_iv"] == "50" and values["nb06_mme_oral_iv_band"] == "5–95"
    assert values["nb06_mme_dex_week_band"] == "7–7" and values["nb06_mme_fold_band"] == "1.1–2.9"
    assert values["nb06_load_grade"] == Grade.SUPPORTED.value and values["nb06_breakeven_ratio"] == "400–400"
    low, high = cr.PLAUSIBLE_INTRATHECAL_RATIO
    assert values["nb06_plausible_ratio"] == f"{low:g}–{high:g}"


def test_page_posterior_values_and_diagnostics(small_fit, regimens, pain):
    from dexmood import diagnostics
    from dexmood.settings import DiagnosticsThresholds

    its = cr.its_summary(small_fit, pain)
    draws = small_fit.posterior["dex_change"].to_numpy().ravel()
    values = cr.its_values(its, draws, cr.counterfactual_effects(small_fit, pain))
    change = its.set_index("quantity").loc["change at DEX addition"]
    assert values["nb06_dex_change"] == f"{change['mean']:.1f}"
    assert values["nb06_p_dex_change_negative"] == f"{(draws < 0).mean():.2f}"
    assert values["nb06_trend_effect"][0] in "+-"  # signed
    table = cr.check_its_diagnostics(small_fit, DiagnosticsThresholds(rhat_max=1.05, ess_min=100))
    floor = cr.diagnostic_values(table)["nb06_ess_min"]
    assert int(floor) % 100 == 0 and int(floor) <= table[["min_ess_bulk", "min_ess_tail"]].min().min()
    assert cr.diagnostic_line(table, small_fit).endswith(f"divergences {diagnostics.divergences(small_fit)}")
    with pytest.raises(diagnostics.DiagnosticsError):
        cr.check_its_diagnostics(small_fit, DiagnosticsThresholds(rhat_max=1.05, ess_min=1_000_000))
    sim = cr.simulate_mme(regimens, n_draws=200, seed=2)
    adjusted = cr.adjusted_values(cr.opioid_adjusted_pain(small_fit, sim, regimens, pain, seed=3))
    assert adjusted["nb06_it_before"] == "5.6" and adjusted["nb06_it_after"] == "8.4"
    assert "–" in adjusted["nb06_adjusted_interval"]


def test_page_side_effects_cointerventions_and_instruments(side_effects, pain, regimens, capsys, monkeypatch):
    side = cr.side_effect_test(side_effects)
    values = cr.side_effect_values(side, pain)
    assert (values["nb06_n_changed"], values["nb06_n_improved"], values["nb06_wilcoxon_p"]) == ("4", "4", "0.125")
    assert int(values["nb06_n_pre_readings"]) + int(values["nb06_n_post_readings"]) == len(pain)
    table = cr.side_effect_table(side)
    assert table.loc["p_exact", "value"] == "0.125" and table.loc["n_changed", "value"] == 4
    events = cr.cointerventions(regimens)
    counts = cr.cointervention_values(events)
    assert int(counts["nb06_n_cointerventions_exact"]) + int(counts["nb06_n_cointerventions_approx"]) == len(events)
    assert cr.n_approximate_dates(events) == int(counts["nb06_n_cointerventions_approx"])
    cr.show_instrument_scores(pd.DataFrame(columns=["instrument", "item", "timepoint", "score"]))
    assert "No HAMD-6 or QLQ-C30 values" in capsys.readouterr().out
    shown = []
    monkeypatch.setattr(cr.page, "display", shown.append)
    scores = pd.DataFrame({"instrument": ["HAMD-6"] * 2, "item": ["total"] * 2, "timepoint": ["before", "after"],
                           "score": [9, 4]})
    cr.show_instrument_scores(scores)
    assert shown[0].loc[("HAMD-6", "total"), "after"] == 4


def test_page_verdict_values_count_the_grades():
    from dexmood.verdict import Verdict

    verdicts = {cr.page.LOAD_CLAIM: Verdict(Grade.INCONCLUSIVE, 60.0, "break-even ratio", "load sentence"),
                "b": Verdict(Grade.NOT_SUPPORTED, None, "", "x"), "c": Verdict(Grade.NOT_SUPPORTED, None, "", "y")}
    values = cr.verdict_values(verdicts)
    assert values["nb06_n_claims"] == "3" and values["nb06_n_not_supported"] == "2"
    assert values["nb06_n_supported"] == "0" and values["nb06_load_sentence"] == "load sentence"
