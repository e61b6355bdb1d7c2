"""Tests of dexmood.matching: the MatchIt port (greedy order, caliper, ratio, replacement, exact, weights),
the propensity model against statsmodels/scikit-learn, and the balance statistics against hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from sklearn.metrics import roc_auc_score

from dexmood import cohort, matching
from dexmood.matching import MatchingError, match_on_distance, matchit_weights


@pytest.fixture(scope="module")
def simulated(simulated):
    """The shared simulated cohort (tests/conftest.py), as the data frame these tests match."""
    return simulated.data


@pytest.fixture(scope="module")
def default_result(simulated):
    return matching.match_nearest(simulated)


def reference_greedy(distance, treated, *, ratio=1, replace=False, caliper=None, codes=None, order="largest"):
    """Plain O(n²) transcription of MatchIt's nn_matchC rules, the yardstick for the fast matcher."""
    distance = np.asarray(distance, float)
    codes = np.zeros(len(distance), int) if codes is None else np.asarray(codes)
    rows_t, rows_c = np.flatnonzero(treated), np.flatnonzero(~np.asarray(treated))
    visit = {"largest": np.argsort(-distance[rows_t], kind="stable"),
             "smallest": np.argsort(distance[rows_t], kind="stable"),
             "data": np.arange(len(rows_t))}[order]
    mm = np.full((len(rows_t), ratio), -1)
    used: set[int] = set()
    for rnd in range(1 if replace else ratio):
        for t in visit:
            x = distance[rows_t[t]]
            eligible = []
            for c in rows_c:  # data order: with equal distances the earlier row comes first
                d = abs(distance[c] - x)
                if codes[c] != codes[rows_t[t]] or (caliper is not None and d > caliper):
                    continue
                if not replace and c in used:
                    continue
                eligible.append((d, c))
            if not eligible:
                continue
            if replace:
                chosen = sorted(eligible)[:ratio]
                for j, (_, c) in enumerate(chosen):
                    mm[t, j] = c
            else:
                best = min(eligible)  # min of (d, row): ties to the earlier row
                mm[t, rnd] = best[1]
                used.add(best[1])
    return mm


# ---- greedy matcher: semantics --------------------------------------------------------------------------

def test_caliper_is_inclusive_and_excludes_beyond():
    distance = np.array([0.0, 0.25, 1.0, 1.5])
    treated = np.array([True, False, True, False])
    mm = match_on_distance(distance, treated, caliper=0.25)
    assert mm[:, 0].tolist() == [1, -1]  # |0 − 0.25| = 0.25 ≤ caliper; |1 − 1.5| = 0.5 > caliper
    assert match_on_distance(distance, treated, caliper=0.5)[:, 0].tolist() == [1, 3]
    assert match_on_distance(distance, treated, caliper=None)[:, 0].tolist() == [1, 3]


def test_largest_first_order_decides_who_gets_the_shared_control():
    # treated 1.0 and 0.9 both want control 0.95; the largest distance is served first
    distance = np.array([0.9, 1.0, 0.95, 0.5])
    treated = np.array([True, True, False, False])
    assert match_on_distance(distance, treated)[:, 0].tolist() == [3, 2]
    assert match_on_distance(distance, treated, order="smallest")[:, 0].tolist() == [2, 3]
    assert match_on_distance(distance, treated, order="data")[:, 0].tolist() == [2, 3]


def test_ties_go_to_the_earlier_row():
    # two controls equally far (0.25 and 0.75 from 0.5, exact in binary) and duplicated values
    distance = np.array([0.75, 0.5, 0.25, 0.75, 0.25])
    treated = np.array([False, True, False, False, False])
    assert match_on_distance(distance, treated)[0, 0] == 0
    distance = np.array([0.25, 0.5, 0.75, 0.25, 0.75])
    assert match_on_distance(distance, treated)[0, 0] == 0
    # equal treated distances are visited in data order
    distance = np.array([0.5, 0.5, 0.45])
    treated = np.array([True, True, False])
    assert match_on_distance(distance, treated)[:, 0].tolist() == [2, -1]


def test_ratio_is_matched_in_rounds_like_matchit():
    # round 1: 1.0 → 0.9, 0.7 → 0.75; round 2: 1.0 → 0.0, 0.7 finds nothing left.
    # (taking both controls at once would have given 1.0 → {0.9, 0.75}, 0.7 → 0.0.)
    distance = np.array([1.0, 0.7, 0.9, 0.75, 0.0])
    treated = np.array([True, True, False, False, False])
    mm = match_on_distance(distance, treated, ratio=2)
    assert mm.tolist() == [[2, 4], [3, -1]]


def test_with_replacement_controls_are_reused_and_nearest_k_taken():
    distance = np.array([1.0, 0.9, 0.95, 0.2, 0.5])
    treated = np.array([True, True, False, False, False])
    mm = match_on_distance(distance, treated, ratio=2, replace=True)
    assert mm.tolist() == [[2, 4], [2, 4]]
    mm = match_on_distance(distance, treated, ratio=2, replace=True, caliper=0.1)
    assert mm.tolist() == [[2, -1], [2, -1]]


def test_exact_matching_only_pairs_within_strata():
    distance = np.array([0.5, 0.51, 0.9, 0.52, 0.0])
    treated = np.array([True, False, True, False, False])
    codes = np.array([0, 1, 1, 0, 2])
    mm = match_on_distance(distance, treated, exact_codes=codes)
    assert mm[:, 0].tolist() == [3, 1]
    codes = np.array([0, 1, 1, 1, 2])  # first treated has no control in its stratum
    assert match_on_distance(distance, treated, exact_codes=codes)[:, 0].tolist() == [-1, 3]


@pytest.mark.parametrize("ratio", [1, 2, 3])
@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("use_caliper", [False, True])
@pytest.mark.parametrize("use_exact", [False, True])
def test_fast_matcher_equals_plain_greedy(ratio, replace, use_caliper, use_exact):
    rng = np.random.default_rng(7 + ratio + 10 * replace + 100 * use_caliper + 1000 * use_exact)
    for _ in range(15):
        n = int(rng.integers(5, 80))
        distance = np.round(rng.normal(size=n), 1)  # rounding creates many ties
        treated = rng.random(n) < 0.35
        codes = rng.integers(0, 3, n) if use_exact else None
        caliper = 0.2 if use_caliper else None
        for order in matching.ORDERS if not replace else ("largest",):
            fast = match_on_distance(distance, treated, ratio=ratio, replace=replace, caliper=caliper,
                                     exact_codes=codes, order=order)
            slow = reference_greedy(distance, treated, ratio=ratio, replace=replace, caliper=caliper,
                                    codes=codes, order=order)
            if replace:  # column order within a row is immaterial
                fast, slow = np.sort(fast, axis=1), np.sort(slow, axis=1)
            np.testing.assert_array_equal(fast, slow)


def test_bad_arguments_raise_readable_errors():
    with pytest.raises(MatchingError, match="ratio"):
        match_on_distance(np.zeros(3), np.array([True, False, False]), ratio=0)
    with pytest.raises(MatchingError, match="order"):
        match_on_distance(np.zeros(3), np.array([True, False, False]), order="random")
    with pytest.raises(MatchingError, match="infinite"):
        match_on_distance(np.array([np.inf, 0, 1]), np.array([True, False, False]))


# ---- weights --------------------------------------------------------------------------------------------

def test_weights_follow_matchit_definition():
    treated = np.array([True, True, True, False, False, False])
    # treated 0 and 1 both use control 3; treated 2 uses control 4; control 5 unused
    mm = np.array([[3], [3], [4]])
    w = matchit_weights(mm, treated)
    # raw: c3 = 1 + 1 = 2, c4 = 1; rescaled to sum to 2 distinct controls: 4/3 and 2/3
    np.testing.assert_allclose(w, [1, 1, 1, 4 / 3, 2 / 3, 0])
    mm = np.array([[3, 4], [3, -1], [-1, -1]])
    w = matchit_weights(mm, treated)
    # raw: c3 = 1/2 + 1 = 1.5, c4 = 1/2; sum 2 = distinct controls; unmatched treated weight 0
    np.testing.assert_allclose(w, [1, 1, 0, 1.5, 0.5, 0])


# ---- propensity model -----------------------------------------------------------------------------------

def test_design_matrix_codes_categories_like_r_glm():
    frame = pd.DataFrame({"age": [50.0, 60, 70], "procedure": ["radiofrequency", "epidural", "nerve_block"]})
    design = matching.design_matrix(frame, ["age", "procedure"])
    assert list(design.columns) == ["Intercept", "age", "procedure_nerve_block", "procedure_radiofrequency"]
    assert design["procedure_radiofrequency"].tolist() == [1, 0, 0]


def test_propensity_model_matches_statsmodels_formula_and_sklearn_auc(simulated):
    model = matching.fit_propensity(simulated)
    data = simulated.assign(dex=(simulated["group"] == "DEX").astype(float))
    reference = smf.logit("dex ~ age + C(sex) + nrs_baseline + gad7_baseline + phq9_baseline + bmi"
                          " + pain_duration_months + C(pain_diagnosis) + C(procedure)", data=data).fit(disp=0)
    np.testing.assert_allclose(model.logit.to_numpy(), reference.fittedvalues.to_numpy(), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(model.score, reference.predict(), rtol=1e-7)
    assert model.auc == pytest.approx(roc_auc_score(data["dex"], reference.predict()))
    assert model.covariates == cohort.baseline_covariates(simulated)
    assert model.converged
    assert 0.5 < model.auc < 1


def test_formula_option_gives_the_same_model_as_the_covariate_list(simulated):
    by_list = matching.fit_propensity(simulated, ["age", "sex", "gad7_baseline"])
    by_formula = matching.fit_propensity(simulated, formula="age + sex + gad7_baseline")
    assert by_formula.covariates == ["age", "sex", "gad7_baseline"]
    np.testing.assert_allclose(by_list.logit, by_formula.logit, rtol=1e-8)


def test_rows_with_missing_covariates_are_left_out_and_counted(simulated):
    frame = simulated.copy()
    frame.loc[:4, "bmi"] = np.nan
    result = matching.match_nearest(frame)
    assert result.summary["excluded_missing"] == 5
    assert "5 patient(s)" in result.propensity.notes[0]


# ---- matching a cohort ----------------------------------------------------------------------------------

def test_default_match_output_like_match_data(default_result, simulated):
    res = default_result
    data = res.data
    assert {"distance", "subclass", "weights"} <= set(data.columns)
    assert set(simulated.columns) <= set(data.columns)
    # 1:1 without replacement: every subclass holds one DEX and one LA patient, all weights 1
    sizes = data.groupby("subclass")["group"].agg(lambda g: tuple(sorted(g)))
    assert (sizes == ("DEX", "LA")).all()
    assert (data["weights"] == 1).all()
    assert res.summary["pairs"] + res.summary["treated_unmatched"] == res.summary["n_treated"]
    assert len(data) == 2 * res.summary["pairs"]
    # caliper = 0.2 × SD(logit) over all patients (n − 1), and every pair respects it
    cal = 0.2 * np.std(res.full["distance"], ddof=1)
    assert res.summary["caliper_logit"] == pytest.approx(cal)
    assert (res.pairs["abs_difference"] <= cal).all()
    # each unmatched treated patient has a reason that can be checked
    for _, row in res.unmatched.iterrows():
        others = res.full.loc[res.full["group"] == "LA", "distance"]
        within = int(((others - row["distance"]).abs() <= cal).sum())
        assert within == row["controls_within_caliper"]


def test_matching_is_deterministic_and_independent_of_row_order(simulated, default_result):
    again = matching.match_nearest(simulated)
    pd.testing.assert_frame_equal(again.data, default_result.data)
    shuffled = simulated.sample(frac=1, random_state=3)
    other = matching.match_nearest(shuffled)
    pairs = set(zip(default_result.pairs["treated_id"], default_result.pairs["control_id"], strict=True))
    assert pairs == set(zip(other.pairs["treated_id"], other.pairs["control_id"], strict=True))


@pytest.mark.parametrize("ratio,replace", [(2, False), (3, False), (2, True)])
def test_ratio_and_replacement_on_the_cohort(simulated, ratio, replace):
    res = matching.match_nearest(simulated, ratio=ratio, replace=replace)
    treated = res.data[res.data["group"] == "DEX"]
    controls = res.data[res.data["group"] == "LA"]
    assert (treated["weights"] == 1).all()
    assert controls["weights"].sum() == pytest.approx(len(controls))  # MatchIt's rescaling
    per_treated = res.pairs.groupby("treated_id").size()
    assert per_treated.max() <= ratio
    if not replace:
        assert res.pairs["control_id"].is_unique
    else:
        assert not res.pairs["control_id"].is_unique  # some controls serve several DEX patients


def test_exact_matching_on_the_cohort(simulated):
    res = matching.match_nearest(simulated, exact=["sex", "procedure"])
    lookup = simulated.set_index("patient_id")
    for column in ("sex", "procedure"):
        assert (lookup.loc[res.pairs["treated_id"], column].to_numpy()
                == lookup.loc[res.pairs["control_id"], column].to_numpy()).all()


def test_no_treated_patient_with_a_match_raises_a_clear_error(simulated):
    frame = simulated.copy()
    frame["site"] = np.where(frame["group"] == "DEX", "A", "B")  # no DEX patient shares a site with LA
    with pytest.raises(MatchingError, match=r"no treated \(DEX\) patient has a control within the caliper"):
        matching.match_nearest(frame, exact="site")
    with pytest.raises(MatchingError, match="caliper_sd must be positive"):
        matching.match_nearest(simulated, caliper_sd=0)
    with pytest.raises(MatchingError, match="not in the data"):
        matching.match_nearest(simulated, ["age", "height"])
    with pytest.raises(MatchingError, match="both groups"):
        matching.match_nearest(simulated[simulated["group"] == "DEX"])


def test_tiny_caliper_error_message_states_the_scale():
    frame = pd.DataFrame({"patient_id": list("abcdef"), "group": ["DEX", "LA", "DEX", "LA", "DEX", "LA"],
                          "x": [2.0, 0.0, 4.0, 1.0, 5.0, 3.0]})
    with pytest.raises(MatchingError) as info:
        matching.match_nearest(frame, ["x"], caliper_sd=1e-6)
    assert "SD of the logit propensity score" in str(info.value)


# ---- balance ----------------------------------------------------------------------------------------------

def test_balance_statistics_against_hand_computed_values():
    frame = pd.DataFrame({"group": ["DEX"] * 3 + ["LA"] * 2, "x": [1.0, 2, 3, 2, 4],
                          "flag": [1.0, 0, 1, 0, 1]})
    table = matching.balance_table(frame, ["x", "flag"]).table.set_index("term")
    x = table.loc["x"]
    # means 2 vs 3; SD treated = 1 → SMD −1; variances 1 vs 2 → ratio 0.5
    assert x["smd_before"] == pytest.approx(-1.0)
    assert x["variance_ratio_before"] == pytest.approx(0.5)
    # eCDFs at 1, 2, 3, 4: treated 1/3, 2/3, 1, 1; control 0, 1/2, 1/2, 1 → |diff| 1/3, 1/6, 1/2, 0
    assert x["ecdf_mean_before"] == pytest.approx(0.25)
    assert x["ecdf_max_before"] == pytest.approx(0.5)
    flag = table.loc["flag"]
    # p_t = 2/3, p_c = 1/2; denominator sqrt(p_t (1 − p_t)) = sqrt(2/9)
    assert flag["smd_before"] == pytest.approx((2 / 3 - 1 / 2) / np.sqrt(2 / 9))
    assert np.isnan(flag["variance_ratio_before"])
    assert flag["ecdf_max_before"] == pytest.approx(1 / 6)


def test_weighted_balance_keeps_the_full_sample_denominator():
    frame = pd.DataFrame({"group": ["DEX"] * 3 + ["LA"] * 3, "x": [1.0, 2, 3, 2, 4, 10]})
    weights = np.array([1, 1, 0, 1.5, 0.5, 0])
    row = matching.balance_table(frame, ["x"], weights=weights).table.iloc[0]
    # after: treated mean 1.5, control mean (3 + 2)/2 = 2.5; SD of treated in the full sample = 1
    assert row["mean_treated_after"] == pytest.approx(1.5)
    assert row["mean_control_after"] == pytest.approx(2.5)
    assert row["smd_after"] == pytest.approx(-1.0)
    # cov.wt variance of control (w = 3/4, 1/4): 0.75 / (1 − 10/16) = 2; treated (1/2, 1/2): 0.25 / 0.5
    assert row["variance_ratio_after"] == pytest.approx(0.5 / 2)
    assert row["sd_treated_full"] == pytest.approx(1.0)


def test_balance_verdict_and_thresholds(default_result):
    balance = default_result.balance()
    table = balance.covariate_rows
    assert (table["smd_ok"] == (table["smd_after"].abs() < 0.1)).all()
    binary = table["type"] == "binary"
    assert table.loc[binary, "vr_ok"].all()
    assert balance.passed == bool(table["balanced"].all())
    assert balance.verdict().startswith("PASS" if balance.passed else "FAIL")
    assert balance.max_abs_smd("after") < balance.max_abs_smd("before")
    # two-level categorical shown once, three-level ones with every level
    assert "sex_M" in set(table["term"]) and "sex_F" not in set(table["term"])
    assert {"procedure_nerve_block", "procedure_radiofrequency", "procedure_epidural_injection"} <= set(table["term"])


# ---- outputs --------------------------------------------------------------------------------------------

def test_results_section_and_matched_csv(default_result, tmp_path):
    section = matching.results_section(default_result)
    assert set(section) == {"covariates", "pairs", "treated_unmatched", "max_abs_smd_before",
                            "max_abs_smd_after", "caliper_sd", "balance_passed", "failing_terms",
                                "propensity_formula"}
    assert section["covariates"] == cohort.baseline_covariates(default_result.full)
    assert section["caliper_sd"] == 0.2
    table = matching.matched_csv(default_result)
    assert list(table.columns) == ["patient_id", "group", "subclass", "weight", "distance"]
    assert len(table) == 2 * section["pairs"]
    path = matching.write_matched_csv(default_result, tmp_path / "matched.csv")
    back = pd.read_csv(path)
    assert back["subclass"].nunique() == section["pairs"]


def test_figures_draw(default_result):
    import matplotlib.pyplot as plt

    ax = matching.love_plot(default_result.balance())
    assert len(ax.get_yticklabels()) == len(default_result.balance().covariate_rows)
    matching.ps_histograms(default_result)
    matching.ecdf_plots(default_result)
    plt.close("all")


# ---- stored R cross-check (no R needed) -------------------------------------------------------------------

def test_stored_matchit_results_are_reproduced():
    """data/reference_r/matchit_crosscheck.json holds MatchIt's matched sets and summary() balance; the
    Python port must reproduce every set and every statistic."""
    table = matching.compare_with_r()
    assert (table["identical_sets"] == table["treated"]).all(), table
    assert (table["max_abs_balance_diff"] < 1e-6).all()
    assert (table["max_abs_logit_diff"].dropna() < 1e-6).all()
    # Debian's MatchIt 4.5.1 default routine (issue #163) really does break the caliper: the check detects it
    assert table.loc[table["specification"] == "1:1, caliper 0.2", "default_routine_outside_caliper"].item() > 0


def test_degenerate_propensity_models_give_readable_errors():
    frame = pd.DataFrame({"patient_id": list("abcdefgh"), "group": ["DEX"] * 4 + ["LA"] * 4,
                          "x": [5.0, 6, 7, 8, 1, 2, 3, 4], "site": ["A"] * 8})
    with pytest.raises(MatchingError, match=r"constant covariate\(s\): site"):
        matching.match_nearest(frame, ["x", "site"])
    frame["x2"] = 2 * frame["x"]
    with pytest.raises(MatchingError, match="singular"):
        matching.match_nearest(frame, ["x", "x2"])
    # complete separation: the scores do not overlap, so nothing can be matched, and the message says why
    with pytest.raises(MatchingError, match="no treated"):
        matching.match_nearest(frame, ["x"])


def test_constant_default_covariate_is_dropped_with_a_note(simulated):
    frame = simulated.assign(procedure="nerve_block")
    result = matching.match_nearest(frame)
    assert "procedure" not in result.propensity.covariates
    assert any("constant covariate(s) left out: procedure" in note for note in result.propensity.notes)


# ---- what notebook 02 glues and tabulates (dexmood.matching.page) ----------------------------------------

def test_page_values_count_and_format_the_match(default_result, simulated):
    values = matching.cohort_values(simulated, {"matched_pairs": 92})
    assert values == {"nb02_n_dex": str(int((simulated["group"] == "DEX").sum())),
                      "nb02_n_la": str(int((simulated["group"] == "LA").sum())), "nb02_published_pairs": "92"}
    model = default_result.propensity
    assert matching.model_values(model, [])["nb02_log_terms"] == "no covariate"
    assert matching.model_values(model, ["a", "b"])["nb02_log_terms"] == "a, b"
    summary = {**default_result.summary, "unmatched_reasons": {matching.page.NO_CONTROL: 3}}
    values = matching.match_values(summary, 0.25)
    assert values["nb02_caliper_sd"] == "0.25" and values["nb02_unmatched_none"] == "3"
    assert values["nb02_unmatched_used"] == "0"
    assert values["nb02_caliper_logit"] == f"{summary['caliper_logit']:.3f}"
    counts = matching.counts_table(summary, {"n_dex": 106, "matched_pairs": 92})
    assert list(counts.index) == ["DEX", "LA", "published (Ren et al. 2025)"]
    assert counts.loc["published (Ren et al. 2025)", "unmatched"] == 14
    assert (counts["all"].iloc[:2] == counts["matched"].iloc[:2] + counts["unmatched"].iloc[:2]).all()


def test_page_balance_values_say_passes_or_fails(default_result):
    balance = default_result.balance()
    values = matching.balance_values(balance)
    assert values["nb02_balance_verdict"] == ("passes" if balance.passed else "fails")
    assert values["nb02_n_terms"] == str(len(balance.covariate_rows))
    table = balance.table.copy()
    table.loc[table["term"] == "age", "balanced"] = False
    failing = matching.balance_values(matching.BalanceTable(table))
    assert failing["nb02_balance_verdict"] == "fails" and "age" in failing["nb02_failing_terms"].split(", ")
    table["balanced"] = True
    passing = matching.balance_values(matching.BalanceTable(table))
    assert passing["nb02_failing_terms"] == "none" and passing["nb02_n_failing"] == "0"


def test_page_crosscheck_values_guard_and_display():
    crosscheck = pd.DataFrame({"specification": [matching.MAIN_R_SPECIFICATION, "1:2"], "treated": [10, 20],
                               "identical_sets": [10, 20], "matched_python": [9, 19], "matched_r": [9, 19],
                               "max_abs_logit_diff": [0.0, 0.0], "caliper_diff": [0.0, 0.0],
                               "max_abs_balance_diff": [0.0, 3e-9], "default_routine_pairs": [9, 19],
                               "default_routine_outside_caliper": [2, 0]})
    values = matching.crosscheck_values(crosscheck, {"cohorts": {"large": {"n": 100000}}})
    assert values["nb02_r_large_n"] == "100,000" and values["nb02_r_treated_all"] == "30"
    assert values["nb02_r_balance_diff"] == "3e-09" and values["nb02_r_buggy_outside"] == "2"
    assert matching.crosscheck_values(crosscheck.assign(max_abs_balance_diff=0.0),
                                      {"cohorts": {"large": {"n": 5}}})["nb02_r_balance_diff"] == "1e-12"
    matching.check_crosscheck(crosscheck)
    with pytest.raises(AssertionError, match="matched sets"):
        matching.check_crosscheck(crosscheck.assign(identical_sets=[9, 20]))
    with pytest.raises(AssertionError, match="balance"):
        matching.check_crosscheck(crosscheck.assign(max_abs_balance_diff=[0.0, 1e-3]))
    shown = matching.crosscheck_display(crosscheck)
    assert shown.index.name == "specification" and "caliper_diff" not in shown.columns
    assert "of which outside caliper" in shown.columns


def test_page_written_line_counts_rows_and_sets(default_result, tmp_path, monkeypatch):
    from dexmood import paths

    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path)
    path = matching.write_matched_csv(default_result, tmp_path / "data" / "matched.csv")
    written = pd.read_csv(path)
    assert matching.written_line(path, written) == (f"wrote data/matched.csv: {len(written)} rows, "
                                                    f"{default_result.summary['pairs']} matched sets")
