"""Any contract-valid cohort runs through the sensitivity stage (issue 14, point 2): without the optional
columns, with extra numeric and categorical `*_baseline` covariates, with small or unequal groups. A method
that cannot run says why in one sentence (`AnalysisNotPossible`); the rest runs; nothing raises a raw
KeyError/ValueError."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dexmood import cohort, matching
from dexmood import sensitivity as sens
from dexmood.errors import AnalysisNotPossible
from dexmood.settings import SETTINGS
from dexmood.verdict import Grade

FAST = SETTINGS.replace_(n_boot_specification=10, n_bias_draws=1000, n_permutations=200)
OPTIONAL = ["bmi", "pain_duration_months", "pain_diagnosis", "procedure", "satisfaction"]


def reshaped(n_dex: int, n_la: int, seed: int = 3) -> pd.DataFrame:
    """A simulated cohort cut to `n_dex` / `n_la` patients, without the optional columns, with an extra
    numeric and an extra categorical baseline covariate."""
    frame = cohort.simulate(seed=seed).data
    rng = np.random.default_rng(seed)
    parts = [frame[frame["group"] == "DEX"].head(n_dex), frame[frame["group"] == "LA"].head(n_la)]
    out = pd.concat(parts).drop(columns=[c for c in OPTIONAL if c in frame]).reset_index(drop=True)
    out["crp_baseline"] = rng.lognormal(1.0, 0.5, len(out))
    out["site_baseline"] = rng.choice(["north", "south"], len(out))
    return out


@pytest.mark.parametrize("n_dex, n_la", [(40, 90), (12, 30)])
def test_sensitivity_runs_without_optional_columns_and_with_extra_covariates(n_dex, n_la):
    frame = reshaped(n_dex, n_la)
    match = matching.match_nearest(frame, caliper_sd=FAST.caliper_sd)
    results = sens.run_sensitivity(frame, match, settings=FAST)
    board = sens.dashboard(results)
    assert len(board) == 3 * 7
    assert set(board["grade"]) <= set(Grade)
    for name, reason in results.reasons().items():  # each reason is one readable sentence
        assert reason and "\n" not in reason and "Traceback" not in reason, name
    block = sens.results_section(match, frame, FAST)["sensitivity"]
    json.dumps(block)
    assert {"gad7", "phq9", "nrs"} <= set(block)


def test_tiny_groups_report_reasons_instead_of_crashing():
    frame = reshaped(6, 9)
    match = matching.match_nearest(frame, ["age", "nrs_baseline"], caliper_sd=FAST.caliper_sd)
    results = sens.run_sensitivity(frame, match, settings=FAST)
    board = sens.dashboard(results)
    subgroup_rows = board[board["check"].str.startswith("subgroup")]
    assert (subgroup_rows["grade"] == Grade.NOT_ASSESSED).all()
    assert subgroup_rows["verdict"].str.contains("too few patients").all()
    assert "p =" not in " ".join(subgroup_rows["verdict"])


def test_a_method_without_its_columns_raises_analysis_not_possible():
    frame = reshaped(30, 60).drop(columns=["phq9_baseline"])
    with pytest.raises(AnalysisNotPossible, match="phq9_baseline"):
        sens.add_subgroups(frame)
    with pytest.raises(AnalysisNotPossible, match="at least two complete matched pairs"):
        sens.randomisation_test([1.0])
    one_arm = pd.DataFrame({"dex": [1, 1, 1], "gad7_change": [1.0, 2.0, 3.0], "weights": 1.0})
    with pytest.raises(AnalysisNotPossible, match="0 LA"):
        sens.pooled_sd(one_arm, "gad7_change")


def test_one_to_two_matching_gives_reasons_for_the_pair_methods():
    frame = reshaped(40, 120)
    match = matching.match_nearest(frame, ratio=2, caliper_sd=FAST.caliper_sd)
    results = sens.run_sensitivity(frame, match, settings=FAST)
    table = results.get("confounding")
    assert table["rosenbaum_note"].str.contains("1:1 matched pairs").all()
    assert np.isfinite(table["evalue"]).all()  # the E-values do not need pairs
    assert "1:1 matched pairs" in results.reason("randomisation")
    block = sens.results_section(match, frame, FAST)["sensitivity"]
    assert block["gad7"]["rosenbaum_gamma"] is None and block["not_possible"]
