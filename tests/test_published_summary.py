"""The published-numbers analysis: each formula against a library or a closed form, and the data's provenance."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dexmood import cohort, paths
from dexmood import published_summary as ps
from dexmood.verdict import Grade


def test_se_from_a_t_interval_round_trips():
    rng = np.random.default_rng(1)
    sample = rng.normal(-4.0, 2.7, 92)
    low, high = stats.t.interval(0.95, len(sample) - 1, sample.mean(), stats.sem(sample))
    change = ps.GroupChange(sample.mean(), (low, high), len(sample))
    assert change.se == pytest.approx(stats.sem(sample))
    assert change.sd == pytest.approx(sample.std(ddof=1))


def test_difference_matches_the_two_sample_t_test():
    rng = np.random.default_rng(2)
    a, b = rng.normal(-4.4, 2.6, 92), rng.normal(-2.4, 2.7, 92)
    groups = [ps.GroupChange(x.mean(), stats.t.interval(0.95, 91, x.mean(), stats.sem(x)), 92) for x in (a, b)]
    diff = ps.difference_from_group_cis(*groups)
    test = stats.ttest_ind(a, b)  # pooled variance, equal n: same SE as sqrt(se1² + se2²)
    assert diff.estimate / diff.se == pytest.approx(test.statistic)
    low, high = test.confidence_interval()
    assert diff.ci == pytest.approx((low, high))
    assert diff.d == pytest.approx((a.mean() - b.mean()) / math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2))


def test_published_differences_are_the_published_means_and_exclude_zero():
    diffs = ps.differences()
    block = ps.source()["change_from_baseline_1_month"]
    for outcome in ps.OUTCOMES:
        assert diffs[outcome].estimate == pytest.approx(block[outcome]["dex"]["mean"] - block[outcome]["la"]["mean"])
    for outcome in ("gad7", "phq9"):
        assert diffs[outcome].ci[1] < 0 < diffs[outcome].sd_pooled
    assert not diffs["nrs"].assessable and ps.evalue(diffs["nrs"]) is None


def test_evalue_follows_the_d_to_rr_approximation():
    diff = ps.differences()["gad7"]
    rr = math.exp(0.91 * abs(diff.d))
    assert ps.evalue(diff).point == pytest.approx(rr + math.sqrt(rr * (rr - 1)))
    rr_limit = math.exp(0.91 * abs(diff.d) - 1.78 * diff.se_d)
    assert ps.evalue(diff).ci == pytest.approx(rr_limit + math.sqrt(rr_limit * (rr_limit - 1)))


def test_sd_for_significance_is_the_boundary_of_the_t_test():
    diff = ps.differences()["nrs"]
    sd = ps.sd_for_significance(diff)
    n = diff.n_per_group
    at = stats.ttest_ind_from_stats(diff.estimate, sd, n, 0.0, sd, n)
    assert at.pvalue == pytest.approx(0.05)


def test_normal_posterior_matches_a_grid():
    grid = np.linspace(-10, 10, 200_001)
    density = stats.norm.pdf(grid, 1.0, 2.0) * stats.norm.pdf(-2.0, grid, 0.5)
    density /= density.sum()
    mean, sd = ps.normal_posterior(1.0, 2.0, -2.0, 0.5)
    assert mean == pytest.approx((grid * density).sum(), abs=1e-6)
    assert sd == pytest.approx(math.sqrt(((grid - mean) ** 2 * density).sum()), abs=1e-6)


def test_priors_put_five_percent_where_they_say():
    sceptical, neutral, enthusiastic = ps.priors(mcid=4.0, scale_max=21.0)
    assert stats.norm.cdf(-4.0, sceptical.mean, sceptical.sd) == pytest.approx(0.05)
    assert stats.norm.sf(0.0, enthusiastic.mean, enthusiastic.sd) == pytest.approx(0.05)
    assert neutral.sd == 21.0 and neutral.mean == 0.0


def test_mcid_verdict_is_graded_from_the_probabilities():
    def table(*p):
        return pd.DataFrame({"outcome": "gad7", "prior": ["sceptical", "neutral", "enthusiastic"][: len(p)],
                             "p_beyond_mcid": p})
    assert ps.mcid_verdict("gad7", table(0.96, 0.99, 0.999), 4).grade is Grade.SUPPORTED
    assert ps.mcid_verdict("gad7", table(0.0, 0.01, 0.04), 4).grade is Grade.NOT_SUPPORTED
    assert ps.mcid_verdict("gad7", table(0.01, 0.5, 0.9), 4).grade is Grade.INCONCLUSIVE
    assert ps.mcid_verdict("nrs", table(0.5), 2).grade is Grade.NOT_ASSESSED


def test_mediation_in_points_adds_up():
    med = ps.mediation_in_points().set_index("outcome")
    diffs = ps.differences()
    for outcome in ("gad7", "phq9"):
        row = med.loc[outcome]
        assert row["indirect_low"] + row["direct_low"] == pytest.approx(diffs[outcome].estimate)
        assert row["indirect_high"] == pytest.approx(row["pm_high"] * diffs[outcome].estimate)
        assert row["slope_per_nrs_high"] * diffs["nrs"].estimate == pytest.approx(row["indirect_high"])


def test_mcids_are_the_cited_values():
    assert ps.mcids() == {"gad7": 4.0, "phq9": 5.0, "nrs": 2.0}
    bib = (paths.PROJECT_ROOT / "references.bib").read_text()
    for key in ps.mcid_citations().values():
        assert f"{{{key}," in bib


def test_landing_rows_have_the_agreed_keys():
    rows = ps.landing_rows()
    assert len(rows) >= 4
    for row in rows:
        assert set(row) == {"finding", "published", "published-numbers analysis"}
        assert all(isinstance(v, str) and v for v in row.values())


def _leaves(block, prefix=""):
    for key, value in block.items():
        if key.startswith("_"):
            continue
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _leaves(value, path + ".")
        else:
            yield path


def test_every_published_number_has_provenance():
    published = cohort.published()
    provenance = published["provenance"]
    assert all(set(p) >= {"source", "section", "kind"} for p in provenance.values())
    assert {p["kind"] for p in provenance.values()} <= {"stated", "derived", "not available"}
    for block in ("ren2025_cohort", "nct05718544_followup_trial", "mcid"):
        for leaf in _leaves(published[block], block + "."):
            covered = any(leaf == key or leaf.startswith(key + ".") for key in provenance)
            assert covered or leaf.endswith(("citation_key", "source_text")), leaf
    # the figures the news summary does not contain carry the article, not the summary, as their source
    for key in ("ren2025_cohort.matched_pairs", "ren2025_cohort.change_from_baseline_1_month.gad7.dex.ci95"):
        assert "not in the news summary" in provenance[key]["source"]


def test_posterior_figure_has_one_panel_per_mood_outcome_and_marks_the_mcid():
    fig, axes = ps.plot_posteriors()
    assert [ax.get_title() for ax in axes[0]] == ["GAD-7", "PHQ-9"]
    dashed = [line.get_xdata()[0] for line in axes[0][0].get_lines() if line.get_linestyle() == "--"]
    assert dashed == [-ps.mcids()["gad7"]]
    plt.close(fig)
