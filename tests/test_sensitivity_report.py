"""The numbers notebook 05 glues come from the results (and a method that cannot run gives its reason)."""

from __future__ import annotations

import json
import re

import pytest

from dexmood import cohort, matching, paths, tables
from dexmood import sensitivity as sens
from dexmood.sensitivity import report
from dexmood.settings import SETTINGS

FAST = SETTINGS.replace_(n_boot_specification=10, n_bias_draws=1000, n_permutations=200)


@pytest.fixture(scope="module")
def computed(simulated):
    sim = simulated
    match = matching.default_match(sim)
    results = sens.run_sensitivity(sim.data, match, settings=FAST)
    return results, sens.dashboard(results)


def test_glue_values_follow_the_results(computed):
    results, board = computed
    values = report.glue_values(results, board, cohort.published())
    table = results.get("confounding").set_index("outcome")
    assert values["nb05_evalue_ci_gad7"] == f"{table.loc['gad7', 'evalue_ci']:.2f}"
    assert values["nb05_min_arm"] == str(SETTINGS.min_subgroup_arm)
    counts = sens.dashboard_counts(board)
    assert int(values["nb05_n_checks"]) == counts["checks"]
    assert sum(int(values[f"nb05_n_{g}"]) for g in ("robust", "moderate", "fragile", "not_assessed")) == \
        counts["checks"]
    missing = results.get("missing").set_index("outcome")
    assert values["nb05_tipping_gad7"] == missing.loc["gad7", "tipping"]
    assert all(isinstance(v, str) and v for v in values.values())
    ran = {k: v for k, v in values.items() if not k.startswith("nb05_mc_")}  # Monte Carlo not run here
    assert report.NOT_AVAILABLE not in ran.values()  # every other method ran on the simulated cohort
    assert set(report.expected_keys()) <= set(values)


def test_a_method_that_could_not_run_shows_its_reason(computed):
    results, _ = computed
    broken = sens.SensitivityResults(parts=dict(results.parts), settings=results.settings)
    broken.parts["specification"] = sens.confounding.AnalysisNotPossible("no control within the caliper.")
    assert "no control within the caliper" in report.table_or_box(broken, "specification").data
    board = sens.dashboard(broken)
    spec = board[board["check"].str.startswith("specification")]
    assert (spec["grade"].astype(str) == "not assessed").all()
    values = report.glue_values(broken, board)
    assert values["nb05_spec_min_gad7"] == report.NOT_AVAILABLE  # the page still builds; the box says why
    assert set(values) >= set(report.expected_keys())


def test_every_glue_reference_of_notebook_05_is_an_expected_key():
    notebook = json.loads((paths.NOTEBOOKS / "05_sensitivity.ipynb").read_text())
    prose = " ".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")
    referenced = set(re.findall(r"\{glue:text\}`([^`]+)`", prose))
    assert referenced and referenced <= set(report.expected_keys())


def test_every_view_is_a_numbered_table(computed):
    results, board = computed
    for view, (name, caption, options) in report.TABLES.items():
        shown = report.table_or_box(results, view)
        if not results.ok(report.VIEWS[view][0]):
            continue
        table = tables.table(shown, name, caption, **options)
        assert table.label == f"tbl-{name}" and table.rows
    assert set(report.TABLES) == set(report.VIEWS)
    tables.table(sens.display_board(board), "nb05-dashboard", "The dashboard.", index=True)


# --- issue 20: Monte-Carlo numbers are recorded with their MCSE ------------------------------------------------

def test_bias_analysis_mcse_matches_the_spread_of_independent_runs():
    import numpy as np
    from scipy import stats

    prior = stats.norm(0.0, 0.8)
    runs = [sens.bias_analysis(-2.0, 0.4, prior, n_draws=2000, seed=seed) for seed in range(40)]
    errors = sens.confounding.bias_mcse(runs[0], -2.0)
    assert errors["corrected_median"] == pytest.approx(np.std([r.median for r in runs], ddof=1), rel=0.4)
    assert errors["ci_low"] == pytest.approx(np.std([r.ci_low for r in runs], ddof=1), rel=0.5)
    assert errors["p_benefit"] == pytest.approx(np.std([r.p_same_sign for r in runs], ddof=1), rel=0.5)


def test_randomisation_and_imputation_mcse():
    import numpy as np

    from dexmood.sensitivity import missing, randomisation

    d = np.random.default_rng(1).normal(-0.3, 1.0, 60)
    runs = [randomisation.randomisation_test(d, n_permutations=2000, seed=seed) for seed in range(30)]
    errors = randomisation.randomisation_mcse(runs[0])
    assert errors["p_mcse"] == pytest.approx(np.sqrt(runs[0]["p"] * (1 - runs[0]["p"]) / 2000))
    assert errors["p_mcse"] == pytest.approx(np.std([r["p"] for r in runs], ddof=1), rel=0.5)
    assert errors["randomisation_sd_mcse"] == pytest.approx(np.std([r["null_sd"] for r in runs], ddof=1), rel=0.5)
    pooled = missing.rubin_combine([1.0, 1.2, 0.8, 1.1], [0.04] * 4)
    assert pooled["mcse"] == pytest.approx(np.std([1.0, 1.2, 0.8, 1.1], ddof=1) / 2)


def test_monte_carlo_tables_carry_an_mcse_for_every_monte_carlo_column(computed):
    results, _ = computed
    for view in ("bias", "missing", "randomisation"):
        shown, mcse = report.split_mcse(report.VIEWS[view][1](results.get(view)))
        assert not any(c.endswith("_mcse") for c in shown.columns)
        assert (mcse.select_dtypes("number") >= 0).all().all() and mcse.to_numpy().sum() > 0
    shown, mcse = report.split_mcse(report.VIEWS["bias"][1](results.get("bias")))
    assert (mcse["att"] == 0).all() and (mcse["ci_low"] > 0).all()


def test_show_records_what_it_shows(computed):
    from dexmood import reproducibility as mc

    results, board = computed
    mc.clear()
    try:
        for view in report.MONTE_CARLO_VIEWS:
            if results.ok(report.VIEWS[view][0]):
                texts = report.recorded_table(results, view)
                recorded = {e.text for e in mc.entries().values()}
                assert set(texts.to_numpy().ravel()) <= recorded
        report.glue(results, board, cohort.published())
        report.show_dashboard(results, board)
        entries = mc.entries()
        assert entries["nb05_rand_p_gad7"].mcse > 0 and entries["nb05_widest_spec"].mcse is None
        assert entries["nb05_bias_ci_gad7[ci_low]"].mcse > 0
    finally:
        mc.clear()


def test_recording_survives_a_method_that_could_not_run(computed):
    from dexmood import reproducibility as mc

    results, _ = computed
    broken = sens.SensitivityResults(parts=dict(results.parts), settings=results.settings)
    broken.parts["specification"] = sens.confounding.AnalysisNotPossible("no control within the caliper.")
    broken.parts["bias"] = sens.confounding.AnalysisNotPossible("the covariates did not move the estimate.")
    board = sens.dashboard(broken)
    mc.clear()
    try:
        report.glue(broken, board)
        report.show(broken, "specification")
        report.show_dashboard(broken, board)
        entries = mc.entries()
        assert "caliper" in entries["nb05_specification[reason]"].text
        assert entries["nb05_spec_min_gad7"].text == report.NOT_AVAILABLE
    finally:
        mc.clear()


def test_header_counts_the_methods_that_could_not_run():
    from types import SimpleNamespace

    from dexmood.errors import AnalysisNotPossible

    results = sens.SensitivityResults(parts={"subgroups": AnalysisNotPossible("no subgroup"), "evalues": 1.0,
                                             "missing": AnalysisNotPossible("no missing values")})
    text = sens.header(SimpleNamespace(label="SIMULATED"), SimpleNamespace(summary={"pairs": 88}), results)
    assert text == "SIMULATED\nmatched pairs: 88; methods that could not run: 2"
    assert sens.header(SimpleNamespace(label="x"), SimpleNamespace(summary={"pairs": 1}),
                       sens.SensitivityResults()).endswith("could not run: 0")
