"""The pipeline on contract-valid cohorts of other shapes (stage by stage, without the MCMC fit)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from dexmood import cohort as C
from dexmood import effects, matching, pipeline
from dexmood.errors import CohortError
from dexmood.settings import SETTINGS


@pytest.fixture(scope="module")
def base():
    return C.simulate(seed=17).raw


def _cohort(frame: pd.DataFrame) -> C.Cohort:
    return C.make_cohort(C.validate(frame.astype(object).where(frame.notna(), None), "test.csv"), "test.csv")


def test_extra_numeric_covariate_is_numeric(base):
    frame = base.copy()
    frame["crp_baseline"] = [f"{v:.1f}" for v in np.random.default_rng(1).lognormal(1, 0.8, len(frame))]
    cohort = _cohort(frame)
    assert pd.api.types.is_float_dtype(cohort.data["crp_baseline"])
    result = pipeline.match(cohort)
    assert "crp_baseline" in result.propensity.covariates
    assert "log(crp_baseline)" in result.summary["formula"]  # right-skewed and positive
    assert np.abs(result.propensity.logit).max() < 10  # no separation


def test_extra_categorical_pools_rare_levels(base):
    frame = base.copy()
    rng = np.random.default_rng(2)
    frame["smoking_baseline"] = rng.choice(["never", "former", "current", "a", "b"], len(frame),
                                           p=[0.5, 0.3, 0.18, 0.01, 0.01])
    cohort = _cohort(frame)
    levels = set(cohort.data["smoking_baseline"].unique())
    assert C.OTHER_LEVEL in levels and not {"a", "b"} & levels
    assert cohort.flow["stage"].str.contains("smoking_baseline").any()


def test_free_text_covariate_is_a_clear_error(base):
    frame = base.copy()
    frame["notes_baseline"] = [f"free text number {i}" for i in range(len(frame))]
    with pytest.raises(CohortError, match="notes_baseline.*free text"):
        _cohort(frame)


def test_missing_optional_covariate_keeps_every_patient(base):
    frame = base.copy()
    frame.loc[frame.index[::5], "bmi"] = np.nan
    cohort = _cohort(frame)
    assert len(cohort.data) == len(frame)
    assert cohort.data["bmi"].notna().all() and cohort.data["bmi_missing"].sum() == len(frame.index[::5])
    assert "bmi_missing" in C.baseline_covariates(cohort.data)
    row = cohort.flow[cohort.flow["stage"] == "covariate bmi: kept in analysis"]
    assert int(row["n"].iloc[0]) == len(frame.index[::5])
    assert pipeline.match(cohort).summary["excluded_missing"] == 0


def test_mostly_missing_covariate_is_left_out(base):
    frame = base.copy()
    frame.loc[frame.index[: int(0.7 * len(frame))], "pain_duration_months"] = np.nan
    cohort = _cohort(frame)
    assert "pain_duration_months" not in cohort.data.columns
    assert cohort.flow["reason"].str.contains("left out of the models").any()


def test_no_satisfaction_and_no_optional_columns(base):
    frame = base.drop(columns=list(C.OPTIONAL_COLUMNS))
    cohort = _cohort(frame)
    assert cohort.outcomes == ("gad7", "phq9", "nrs")
    match = pipeline.match(cohort)
    estimated = pipeline.estimate_effects(match, cohort, SETTINGS.updated(n_boot=20))
    assert set(estimated.table["outcome"]) == {"gad7", "phq9", "nrs"}
    section = effects.results_from_analysis(estimated.analysis)
    assert section["effects"]["satisfaction"] == {"status": effects.NOT_IN_DATA}
    assert estimated.analysis["satisfaction_ordinal"] is None


def test_small_unequal_cohort_reports_instead_of_crashing(base):
    frame = pd.concat([base[base.group == "DEX"].head(8), base[base.group == "LA"].head(40)])
    results = pipeline.analyze(_cohort(frame), None, SETTINGS.updated(n_boot=20), with_mediation=False)
    assert results["matching"]["pairs"] >= 1
    for key in ("gad7", "phq9", "nrs"):
        assert "att" in results["effects"][key]


def test_rows_in_any_order_and_numeric_ids(base):
    frame = base.copy()
    frame["patient_id"] = np.arange(1000, 1000 + len(frame)).astype(str)
    shuffled = frame.sample(frac=1, random_state=3)
    a = pipeline.match(_cohort(frame)).summary["pairs"]
    b = pipeline.match(_cohort(shuffled)).summary["pairs"]
    assert abs(a - b) <= 2  # only ties in the greedy order can differ


def test_imbalanced_match_makes_the_adjusted_estimator_primary(base, monkeypatch):
    cohort = C.make_cohort(base, "x")
    match = pipeline.match(cohort, SETTINGS.updated(caliper_sd=None))  # no caliper: poorer balance
    balance = match.balance()
    primary, reason, passed = pipeline.primary_estimator(match)
    assert passed == balance.passed
    if not balance.passed:
        assert primary == pipeline.PRIMARY_IMBALANCED and "fails the balance rule" in reason
    monkeypatch.setattr(matching.BalanceTable, "passed", property(lambda self: False))
    assert pipeline.primary_estimator(match)[0] == pipeline.PRIMARY_IMBALANCED


def test_default_match_passes_the_balance_rule():
    """The book's default cohort and specification pass its own balance rule (issue 16 point 5)."""
    balance = pipeline.match(C.simulate()).balance()
    assert balance.passed, balance.failures()


@pytest.mark.parametrize("raised, expected", [
    (None, ("ok", {"mediation": "child"})),
    (pipeline.AnalysisNotPossible("too few pairs"), ("not possible", "too few pairs")),
    (pipeline.DiagnosticsError("R-hat 1.2"), ("diagnostics", "R-hat 1.2")),
])
def test_background_mediation_returns_what_the_stage_returns(monkeypatch, raised, expected):
    """The forked stage sends back the section or the sentence; the parent's process is not the one fitting."""
    parent = os.getpid()

    def fake_fit(match_result, settings):
        if raised is not None:
            raise raised
        return "posterior"

    monkeypatch.setattr(pipeline, "fit_mediation", fake_fit)
    monkeypatch.setattr(pipeline.mediation, "results_section",
                        lambda posterior: {"mediation": "child" if os.getpid() != parent else "parent"})
    background = pipeline._BackgroundMediation(None, SETTINGS)
    assert background._process is not None  # fork is available on the test machines (Linux, 2 cores)
    assert background.result() == expected


def test_background_mediation_reports_a_bug_with_its_traceback(monkeypatch):
    def broken(match_result, settings):
        raise KeyError("satisfaction")

    monkeypatch.setattr(pipeline, "fit_mediation", broken)
    with pytest.raises(RuntimeError, match="KeyError: 'satisfaction'"):
        pipeline._BackgroundMediation(None, SETTINGS).result()
