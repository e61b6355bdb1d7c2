"""Tests for dexmood.mediation: data preparation, the weighted likelihood, g-computation against closed forms,
recovery of known effects from simulated data, the diagnostics guard, reproducibility and the cache.

One model is compiled (nutpie) for the whole file and re-used through `MediationModel.set_data`, which is
itself under test; sampling runs are short.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dexmood import cohort as cohort_module
from dexmood import matching
from dexmood import mediation as md
from dexmood.settings import SETTINGS

SEED = SETTINGS.seed

# True parameters of the structural simulation (score scale; M uncentred).
TRUE = {
    "a0": -2.6, "a": -0.6, "eta": np.array([0.3, -0.4, 0.5]),
    "b0": np.array([-2.5, -4.0]), "c": np.array([-1.2, -1.4]), "b": np.array([0.8, 0.9]),
    "d": np.array([0.3, -0.2]), "theta": np.array([[0.4, 0.5], [-0.6, -0.5], [0.3, 0.2]]),
    "sigma_m": 1.5, "sigma_y": np.array([2.3, 2.8]), "corr_y": 0.45,
}


def simulate_frame(n: int = 500, seed: int = 7) -> pd.DataFrame:
    """Data from the model's own structure: two numeric covariates and a two-level categorical."""
    rng = np.random.default_rng(seed)
    age = rng.normal(56, 12, n)
    nrs_baseline = rng.normal(6.3, 1.1, n)
    sex = np.where(rng.random(n) < 0.6, "F", "M")
    z = np.column_stack([(age - 56) / 12, nrs_baseline - 6.3, (sex == "M").astype(float)])
    dex = (rng.random(n) < 1 / (1 + np.exp(-(-0.5 + 0.6 * z[:, 1])))).astype(int)
    m = TRUE["a0"] + TRUE["a"] * dex + z @ TRUE["eta"] + rng.normal(0, TRUE["sigma_m"], n)
    s1, s2, r = *TRUE["sigma_y"], TRUE["corr_y"]
    noise = rng.multivariate_normal([0, 0], [[s1**2, r * s1 * s2], [r * s1 * s2, s2**2]], size=n)
    y = (TRUE["b0"] + TRUE["c"] * dex[:, None] + (TRUE["b"] + TRUE["d"] * dex[:, None]) * m[:, None]
         + z @ TRUE["theta"] + noise)
    return pd.DataFrame({"dex": dex, "nrs_change": m, "gad7_change": y[:, 0], "phq9_change": y[:, 1],
                         "age": age, "nrs_baseline": nrs_baseline, "sex": sex})


def true_effects(frame: pd.DataFrame, z_mean_eta: float) -> dict[str, np.ndarray]:
    """Closed forms for the linear model with interaction (Imai, Keele & Tingley 2010; VanderWeele 2015):
    ACME(t) = a (b + d t); ADE(t) = c + d E[M(t)]; total = ACME(1) + ADE(0)."""
    mean_m = {t: TRUE["a0"] + TRUE["a"] * t + z_mean_eta for t in (0, 1)}
    acme = {t: TRUE["a"] * (TRUE["b"] + TRUE["d"] * t) for t in (0, 1)}
    ade = {t: TRUE["c"] + TRUE["d"] * mean_m[t] for t in (0, 1)}
    total = acme[1] + ade[0]
    return {"acme_treated": acme[1], "acme_control": acme[0], "ade_control": ade[0], "ade_treated": ade[1],
            "total": total, "proportion_mediated": (acme[0] + acme[1]) / 2 / total}


COVARIATES = ["age", "nrs_baseline", "sex"]
FAST = md.SamplerSettings(draws=500, tune=500, chains=4, seed=SEED)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return simulate_frame()


@pytest.fixture(scope="module")
def data(frame) -> md.MediationData:
    return md.prepare_data(frame, COVARIATES)


@pytest.fixture(scope="module")
def model(data) -> md.MediationModel:
    return md.MediationModel(data)


@pytest.fixture(scope="module")
def posterior(model, data) -> az.InferenceData:
    model.set_data(data, mediator_outcome_rho=None)
    idata = model.sample_posterior(FAST)
    idata.add_groups({"constant_data": xr.Dataset({
        "covariates": (("obs", "covariate"), data.covariates), "weights": ("obs", data.weights),
        "mediator_center": data.mediator_center})})
    return md.add_effects(idata)


# --------------------------------------------------------------------------------------------------
# Data preparation
# --------------------------------------------------------------------------------------------------

def test_prepare_data_drops_incomplete_rows_and_standardises(frame):
    broken = frame.copy()
    broken.loc[[0, 5], "gad7_change"] = np.nan
    broken.loc[9, "age"] = np.nan
    data = md.prepare_data(broken, COVARIATES)
    assert data.n == len(frame) - 3 and data.n_dropped == 3
    assert data.covariate_columns == ["age", "nrs_baseline", "sex[M]"]
    np.testing.assert_allclose(data.covariates.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(data.covariates.std(axis=0, ddof=1), 1)
    assert data.mediator_center == pytest.approx(data.mediator.mean())
    np.testing.assert_array_equal(data.weights, 1.0)


def test_prepare_data_errors_are_readable(frame):
    with pytest.raises(KeyError, match="nrs_change"):
        md.prepare_data(frame.drop(columns="nrs_change"), COVARIATES)
    with pytest.raises(ValueError, match="0/1"):
        md.prepare_data(frame.assign(dex=1), COVARIATES)


def test_encoding_is_reused_for_another_sample(frame, data):
    subset = md.prepare_data(frame.iloc[:200], encoding=data.encoding)
    assert subset.covariate_columns == data.covariate_columns
    expected = (frame.iloc[:200]["age"] - np.mean(frame["age"])) / np.std(frame["age"], ddof=1)
    np.testing.assert_allclose(subset.covariates[:, 0], expected)


def test_kish_normalised_weights_sum_to_effective_sample_size():
    weights = np.array([1.0, 1.0, 2.0, 4.0, 0.5])
    scaled = md.kish_normalised(weights)
    assert scaled.sum() == pytest.approx(weights.sum() ** 2 / np.sum(weights**2))
    np.testing.assert_allclose(scaled / scaled[0], weights / weights[0])
    np.testing.assert_allclose(md.kish_normalised(np.full(4, 3.0)), 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        md.kish_normalised(np.array([1.0, -1.0]))


def test_zero_weight_rows_are_dropped_and_att_weights(frame):
    row = np.arange(len(frame))
    weighted = frame.assign(w=np.where(row < 10, 0.0, 1.0 + row % 2))
    data = md.prepare_data(weighted, COVARIATES, weights="w")
    assert data.n == len(frame) - 10 and data.weighted
    ones = md.prepare_data(frame.assign(w=1.0), COVARIATES, weights="w")
    assert not ones.weighted  # equal weights (1:1 matching) count as unweighted
    np.testing.assert_allclose(md.att_odds_weights(np.array([1, 0, 0]), np.array([0.5, 0.2, 0.75])), [1, 0.25, 3])


# --------------------------------------------------------------------------------------------------
# Model: weighted likelihood, priors
# --------------------------------------------------------------------------------------------------

def _raw_data(frame: pd.DataFrame, weights: np.ndarray) -> md.MediationData:
    """MediationData with the given weights as they are (no Kish scaling), for likelihood identities."""
    data = md.prepare_data(frame, COVARIATES)
    data.weights = np.asarray(weights, dtype=float)
    return data


def test_weighted_likelihood_equals_duplicated_rows(frame):
    """A weight of 2 on a row must act like the row appearing twice (up to a parameter-free constant)."""
    small = frame.iloc[:40].reset_index(drop=True)
    doubled = pd.concat([small, small.iloc[[0, 1]]], ignore_index=True)
    weighted = _raw_data(small, np.r_[2.0, 2.0, np.ones(38)])
    duplicated = _raw_data(doubled, np.ones(42))
    duplicated.covariates = np.vstack([weighted.covariates, weighted.covariates[[0, 1]]])
    duplicated.mediator_center = weighted.mediator_center
    model = md.MediationModel(weighted, mediator_outcome_rho=0.2, sampler="pymc")
    logp = model.model.compile_logp(mode="FAST_COMPILE")
    start = model.model.initial_point()
    moved = {k: v + 0.3 for k, v in start.items()}
    logps = [logp(moved) - logp(start)]
    model.set_data(duplicated)
    logps.append(logp(moved) - logp(start))  # the same compiled function sees the swapped-in data
    assert logps[0] == pytest.approx(logps[1], rel=1e-10)


def test_priors_table_lists_every_parameter():
    table = md.Priors().table()
    assert len(table) == 11 and table["prior"].str.match(r"(Normal|HalfNormal|LKJ)").all()


# --------------------------------------------------------------------------------------------------
# g-computation
# --------------------------------------------------------------------------------------------------

def test_effects_match_closed_form_with_weights():
    """Two draws, three patients with unequal weights: the g-computation equals the closed forms."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 2))
    w = np.array([1.0, 2.0, 0.5])
    constant = xr.Dataset({"covariates": (("obs", "covariate"), x), "weights": ("obs", w),
                           "mediator_center": 1.5})
    post = xr.Dataset({
        "mediator_intercept": (("chain", "draw"), [[-2.0, -3.0]]),
        "dex_on_mediator": (("chain", "draw"), [[-0.5, -1.0]]),
        "mediator_covariates": (("chain", "draw", "covariate"), [[[0.2, 0.4], [0.1, -0.3]]]),
        "outcome_intercept": (("chain", "draw", "outcome"), [[[-2.0, -4.0], [-1.0, -3.0]]]),
        "direct_dex": (("chain", "draw", "outcome"), [[[-1.0, -1.5], [-0.8, -2.0]]]),
        "mediator_on_outcome": (("chain", "draw", "outcome"), [[[0.8, 0.9], [0.5, 0.6]]]),
        "dex_x_mediator": (("chain", "draw", "outcome"), [[[0.2, -0.1], [0.0, 0.3]]]),
        "outcome_covariates": (("chain", "draw", "covariate", "outcome"), rng.normal(size=(1, 2, 2, 2))),
    }, coords={"outcome": list(md.OUTCOMES)})
    effects = md.compute_effects(post, constant)
    for draw in range(2):
        p = {k: post[k].isel(chain=0, draw=draw).values for k in post.data_vars}
        mean_m0 = p["mediator_intercept"] + np.average(x @ p["mediator_covariates"], weights=w)
        for k, outcome in enumerate(md.OUTCOMES):
            a, b, d, c = p["dex_on_mediator"], p["mediator_on_outcome"][k], p["dex_x_mediator"][k], p["direct_dex"][k]
            acme1, acme0 = a * (b + d), a * b
            ade0 = c + d * (mean_m0 - 1.5)
            ade1 = c + d * (mean_m0 + a - 1.5)
            got = effects.sel(outcome=outcome).isel(chain=0, draw=draw)
            assert float(got["acme_treated"]) == pytest.approx(acme1)
            assert float(got["acme_control"]) == pytest.approx(acme0)
            assert float(got["ade_control"]) == pytest.approx(ade0)
            assert float(got["ade_treated"]) == pytest.approx(ade1)
            assert float(got["total"]) == pytest.approx(acme1 + ade0)
            assert float(got["total"]) == pytest.approx(acme0 + ade1)  # both IKT decompositions
            assert float(got["proportion_mediated"]) == pytest.approx((acme0 + acme1) / 2 / (acme1 + ade0))
        difference = effects[md.DIFFERENCE].isel(chain=0, draw=draw)
        assert float(difference) == pytest.approx(float(effects["proportion_mediated"].isel(
            chain=0, draw=draw, outcome=0) - effects["proportion_mediated"].isel(chain=0, draw=draw, outcome=1)))


# --------------------------------------------------------------------------------------------------
# Recovery, statsmodels cross-check, diagnostics, reproducibility, ρ hook, cache
# --------------------------------------------------------------------------------------------------

def test_recovers_known_parameters_and_effects(posterior, frame, data):
    """The true structural parameters and the true natural effects lie inside the 95% intervals."""
    raw = data.frame[["age", "nrs_baseline"]].to_numpy()
    z = np.column_stack([(raw[:, 0] - 56) / 12, raw[:, 1] - 6.3, (data.frame["sex"] == "M").astype(float)])
    truth = true_effects(frame, float(np.mean(z @ TRUE["eta"])))
    summary = md.effects_summary(posterior)
    for k, outcome in enumerate(md.OUTCOMES):
        for estimand, values in truth.items():
            row = summary.loc[(outcome, estimand)]
            assert row["ci95_low"] < values[k] < row["ci95_high"], (outcome, estimand, values[k], row.to_dict())
    post = posterior.posterior
    for name, value in (("dex_on_mediator", TRUE["a"]), ("mediator_sigma", TRUE["sigma_m"]),
                        ("residual_corr", TRUE["corr_y"])):
        low, high = np.quantile(post[name].values, [0.025, 0.975])
        assert low < value < high, name
    for name, key in (("mediator_on_outcome", "b"), ("dex_x_mediator", "d"), ("direct_dex", "c"),
                      ("outcome_sigma", "sigma_y")):
        for k, outcome in enumerate(md.OUTCOMES):
            low, high = np.quantile(post[name].sel(outcome=outcome).values, [0.025, 0.975])
            if name == "direct_dex":  # c' in the model is the direct effect at the centred mediator
                value = TRUE["c"][k] + TRUE["d"][k] * data.mediator_center
            else:
                value = TRUE[key][k]
            assert low < value < high, (name, outcome)


def test_posterior_agrees_with_statsmodels_mediation(posterior, data):
    """statsmodels' quasi-Bayesian Monte Carlo (IKT algorithm 1) on the same data gives the same effects."""
    summary = md.effects_summary(posterior)
    table = md.statsmodels_mediation(data, "gad7", n_rep=200, seed=3)
    names = {"acme_treated": "ACME (treated)", "acme_control": "ACME (control)", "ade_control": "ADE (control)",
             "total": "Total effect"}
    for estimand, label in names.items():
        row = summary.loc[("gad7", estimand)]
        assert table.loc[label, "Estimate"] == pytest.approx(row["median"], abs=0.5 * row["sd"]), estimand


def test_statsmodels_adapter_equals_formula_mediation(data):
    """The fast array version (interaction recomputed in predict) reproduces statsmodels' formula version:
    with the bootstrap both draw the same resamples and mediator draws from the same generator."""
    import statsmodels.api as sm
    from statsmodels.stats.mediation import Mediation

    small = md.prepare_data(data.frame.iloc[:120], encoding=data.encoding)
    fast = md.statsmodels_mediation(small, "phq9", n_rep=8, seed=11, method="bootstrap")
    frame = pd.DataFrame(small.covariates, columns=["x0", "x1", "x2"]).assign(
        dex=small.dex, mediator=small.mediator - small.mediator_center, y=small.outcomes[:, 1])
    outcome_model = sm.OLS.from_formula("y ~ dex * mediator + x0 + x1 + x2", frame)
    mediator_model = sm.OLS.from_formula("mediator ~ dex + x0 + x1 + x2", frame)
    slow = Mediation(outcome_model, mediator_model, "dex", "mediator").fit(
        method="bootstrap", n_rep=8, rng=np.random.default_rng(11)).summary()
    np.testing.assert_allclose(fast["Estimate"].astype(float), slow["Estimate"].astype(float), rtol=1e-8)


def test_results_section_shape_and_values(posterior):
    section = md.results_section(posterior)
    summary = md.effects_summary(posterior)
    assert set(section["mediation"]) == {"gad7", "phq9"}
    gad7 = section["mediation"]["gad7"]
    assert {"acme", "acme_control", "ade", "total", "proportion_mediated"} <= set(gad7)
    assert gad7["acme"]["estimate"] == pytest.approx(summary.loc[("gad7", "acme_treated"), "median"], abs=1e-4)
    low, high = gad7["proportion_mediated"]["ci95"]
    assert low < gad7["proportion_mediated"]["estimate"] < high
    # from a summary table the same numbers, without the MCSEs (which need the draws)
    without_mcse = {o: {k: {f: v for f, v in e.items() if f != "mcse"} for k, e in block.items()}
                    for o, block in section["mediation"].items()}
    assert md.results_section(summary) == {"mediation": without_mcse}
    assert all(len(e["mcse"]) == 3 and min(e["mcse"]) > 0 for e in gad7.values())


def test_good_fit_passes_the_guard(posterior):
    table = md.check_diagnostics(posterior, var_names=["dex_on_mediator", "acme_treated", "total"])
    assert (table["max_rhat"] <= 1.01).all() and (table["min_ess_bulk"] >= 400).all()


def test_broken_fit_raises(model, data):
    """One chain of 30 draws after 30 tuning steps cannot show convergence: the guard must raise."""
    tiny = md.SamplerSettings(draws=30, tune=30, chains=1, seed=SEED)
    idata = model.sample_posterior(tiny)
    with pytest.raises(md.DiagnosticsError, match="ESS"):
        md.check_diagnostics(idata, var_names=["dex_on_mediator", "mediator_on_outcome"])


def test_guard_reports_divergences_and_rhat():
    rng = np.random.default_rng(0)
    good = rng.normal(size=(4, 1000))
    diverging = np.zeros((4, 1000), dtype=bool)
    diverging[0, 3] = True
    idata = az.from_dict(posterior={"x": good}, sample_stats={"diverging": diverging})
    with pytest.raises(md.DiagnosticsError, match="1 divergent transition"):
        md.check_diagnostics(idata, var_names=["x"])
    shifted = good + np.array([0, 0, 0, 3.0])[:, None]  # one chain elsewhere
    idata = az.from_dict(posterior={"x": shifted}, sample_stats={"diverging": np.zeros((4, 1000), dtype=bool)})
    with pytest.raises(md.DiagnosticsError, match="R-hat"):
        md.check_diagnostics(idata, var_names=["x"])
    idata = az.from_dict(posterior={"x": good}, sample_stats={"diverging": np.zeros((4, 1000), dtype=bool)})
    assert md.check_diagnostics(idata, var_names=["x"]).loc["x", "max_rhat"] < 1.01


def test_same_seed_gives_identical_draws_and_rho_hook_moves_acme(model, data, posterior):
    """Bit-identical draws for the same seed (after swapping data and ρ back and forth), and fixing a
    positive mediator–outcome residual correlation lowers the mediator slope b (the sensitivity hook)."""
    other = md.prepare_data(simulate_frame(n=300, seed=8), encoding=data.encoding)
    model.set_data(other, mediator_outcome_rho=0.4)
    shifted = model.sample_posterior(FAST)
    model.set_data(data, mediator_outcome_rho=None)
    again = model.sample_posterior(FAST)
    np.testing.assert_array_equal(again.posterior["mediator_on_outcome"].values,
                                  posterior.posterior["mediator_on_outcome"].values)
    model.set_data(data, mediator_outcome_rho=0.4)
    with_rho = model.sample_posterior(FAST)
    model.set_data(data, mediator_outcome_rho=None)
    assert (with_rho.posterior["mediator_on_outcome"].mean(("chain", "draw"))
            < posterior.posterior["mediator_on_outcome"].mean(("chain", "draw")) - 0.2).all()
    assert shifted.posterior.sizes["draw"] == FAST.draws
    with pytest.raises(ValueError, match="between -1 and 1"):
        model.set_data(mediator_outcome_rho=1.0)


def test_fit_caches_to_netcdf_and_reloads_identically(model, data, tmp_path, monkeypatch):
    monkeypatch.setenv("DEXMOOD_CACHE_DIR", str(tmp_path))
    settings = md.SamplerSettings(draws=200, tune=200, chains=2, seed=SEED)
    first = md.fit(data, settings=settings, model=model, label="test", prior_draws=50)
    files = list(tmp_path.glob("test_*.nc"))
    assert len(files) == 1
    second = md.fit(data, settings=settings, model=model, label="test", prior_draws=50)
    for group in ("posterior", "prior_predictive", "posterior_predictive"):
        xr.testing.assert_identical(getattr(first, group).drop_attrs(), getattr(second, group).drop_attrs())
    assert md.cache_key(data, md.Priors(), settings, 0.1) != md.cache_key(data, md.Priors(), settings, None)
    assert "sampling took" in md.timing_text(second)
    pp = md.posterior_predictive_table(second)
    assert set(pp["change in"]) == {"NRS", "GAD7", "PHQ9"} and pp["p"].between(0, 1).all()
    prior = md.prior_predictive_table(second)
    assert (prior["share possible"] > 0.5).all()


def test_sampler_settings_come_from_the_settings_object():
    sampler = md.SamplerSettings.from_settings(SETTINGS.replace_(seed=11))
    assert sampler.seed == 11 and sampler.draws == SETTINGS.sampler.draws
    assert sampler.sampler == SETTINGS.sampler.sampler
    assert md.SamplerSettings().seed == SETTINGS.seed


def test_diagnostics_thresholds_come_from_settings():
    rng = np.random.default_rng(1)
    idata = az.from_dict(posterior={"x": rng.normal(size=(4, 1000))},
                         sample_stats={"diverging": np.zeros((4, 1000), dtype=bool)})
    assert md.check_diagnostics(idata, var_names=["x"]) is not None
    strict = SETTINGS.replace_(diagnostics=type(SETTINGS.diagnostics)(ess_min=1e9))
    with pytest.raises(md.DiagnosticsError, match="ESS"):
        md.check_diagnostics(idata, var_names=["x"], settings=strict)


@pytest.fixture(scope="module")
def simulated_match(simulated):
    """The shared simulated cohort (tests/conftest.py) and its default match."""
    return simulated, matching.default_match(simulated)


def test_truth_is_for_the_analysed_matched_patients(simulated_match):
    """Issue 16 point 6: the estimate averages over the analysed matched patients of both groups, so its truth
    is the mean of their own potential-outcome contrasts — not the mean over all DEX patients."""
    cohort, match = simulated_match
    data = md.prepare_matched(match)
    truth = md.sample_truth(cohort, data)
    world = cohort_module.draw_world(seed=cohort.truth["seed"])
    ids = world.frame()["patient_id"]
    rows = pd.Index(ids).get_indexer(data.frame["patient_id"])
    y = world.mood["gad7"]
    expected = float(np.mean(y[1, 1][rows] - y[1, 0][rows]))  # 1:1 matching: equal weights
    assert truth["gad7"]["acme_treated"] == pytest.approx(expected)
    assert truth["gad7"]["total"] == pytest.approx(truth["gad7"]["acme_treated"] + truth["gad7"]["ade_control"])
    # both groups enter: the DEX-only mean over the same patients is a different number
    dex_rows = rows[data.dex == 1]
    dex_only = float(np.mean(y[1, 1][dex_rows] - y[0, 0][dex_rows]))
    assert data.dex.mean() < 1 and truth["gad7"]["total"] != pytest.approx(dex_only, abs=1e-9)
    # a real cohort has no truth
    assert md.sample_truth(type("Real", (), {"simulated": False, "truth": None})(), data) is None


def test_truth_refuses_a_world_that_does_not_reproduce_the_data(simulated_match):
    cohort, match = simulated_match
    data = md.prepare_matched(match)
    data.frame.loc[0, "gad7_1m"] += 1
    with pytest.raises(ValueError, match="gad7_1m"):
        md.sample_truth(cohort, data)


def test_mediation_runs_without_satisfaction_and_with_extra_covariates(simulated_match):
    """Only GAD-7, PHQ-9 and NRS are used: no `satisfaction`, an extra numeric and categorical covariate."""
    cohort, match = simulated_match
    frame = match.data.drop(columns=["satisfaction"])
    rng = np.random.default_rng(3)
    frame["crp_baseline"] = rng.normal(5, 2, len(frame))
    frame["site_baseline"] = rng.choice(["a", "b", "c"], len(frame))
    data = md.prepare_data(cohort_module.add_changes(frame), weights="weights")
    assert "crp_baseline" in data.covariate_columns and "site_baseline[b]" in data.covariate_columns
    assert data.n == md.prepare_matched(match).n


def test_fit_matched_uses_the_match_it_is_given(simulated_match, monkeypatch, tmp_path):
    """`fit_matched` fits the given match (no re-matching): a subsample of the match gives that n."""
    monkeypatch.setenv("DEXMOOD_CACHE_DIR", str(tmp_path))
    cohort, match = simulated_match
    calls = []
    monkeypatch.setattr(matching, "default_match", lambda *a, **k: calls.append(1))
    seen = {}

    def fake_fit(data, **kwargs):
        seen["n"], seen["label"] = data.n, kwargs["label"]
        return "posterior"

    monkeypatch.setattr(md.fitting, "fit", fake_fit)  # where `fit_matched` looks `fit` up
    assert md.fit_matched(match) == "posterior"
    assert not calls and seen == {"n": md.prepare_matched(match).n, "label": "mediation_matched"}


# --------------------------------------------------------------------------------------------------
# Notebook 04's glued values (mediation.prose), statsmodels for both outcomes, mediation.json, sample text
# --------------------------------------------------------------------------------------------------

BAND = (0.18, 0.32)


def fake_posterior(shares=(0.25, 0.6), shift=0.0, seed=0, chains=2, draws=400) -> az.InferenceData:
    """Draws of every reported estimand (no model): effects around `shift` − 0.5, shares around `shares`."""
    rng = np.random.default_rng(seed)

    def draws_of(centres, sd):
        return (("chain", "draw", "outcome"),
                np.asarray(centres) + rng.normal(0, sd, (chains, draws, len(md.OUTCOMES))))

    variables = {e: draws_of([shift - 0.5, shift - 0.8], 0.2) for e in md.ESTIMANDS}
    variables["proportion_mediated"] = draws_of(shares, 0.05)
    variables["mediator_on_outcome"] = (("chain", "draw", "outcome"), np.broadcast_to([0.5, 1.0], (chains, draws, 2)))
    variables["mediator_sigma"] = (("chain", "draw"), np.full((chains, draws), 2.0))
    variables["residual_corr"] = (("chain", "draw"), rng.normal(0.4, 0.05, (chains, draws)))
    posterior = xr.Dataset(variables, coords={"outcome": list(md.OUTCOMES)})
    share = posterior["proportion_mediated"]
    posterior[md.DIFFERENCE] = share.sel(outcome="gad7", drop=True) - share.sel(outcome="phq9", drop=True)
    return az.InferenceData(posterior=posterior)


@pytest.fixture
def record():
    """An empty Monte-Carlo record for one test (each glued name may be recorded once)."""
    from dexmood import reproducibility as mc

    mc.clear()
    yield mc
    mc.clear()


def test_prior_values_are_central_95_ranges_and_record_nothing(record):
    assert md.central_95(3.0) == "±6" and md.central_95(1.0) == "±2"
    values = md.prior_values(md.Priors())
    assert values == {"nb04_range_nrs": "±10", "nb04_range_gad7": "±21", "nb04_range_phq9": "±27",
                      "nb04_prior_a0": "±6", "nb04_prior_b0": "±10", "nb04_prior_a": "±4", "nb04_prior_c": "±6",
                      "nb04_prior_b": "±2", "nb04_prior_eta": "2"}
    wider = md.prior_values(md.Priors(dex_on_mediator_sd=5.0, lkj_eta=1.5))
    assert wider["nb04_prior_a"] == "±10" and wider["nb04_prior_eta"] == "1.5"
    assert record.entries() == {}


def test_ppc_values_pick_the_extreme_p_and_the_verdict(record):
    ppc = pd.DataFrame({"p": [0.30, 0.51, 0.93]})
    mcse = pd.DataFrame({"p": [0.01, 0.02, 0.03]})
    values = md.record_ppc_values(ppc, mcse)
    assert values == {"nb04_ppc_p_min": "0.30", "nb04_ppc_p_max": "0.93", "nb04_ppc_verdict": "bracket the observed ones"}
    entries = record.entries()
    assert entries["nb04_ppc_p_min"].mcse == 0.01 and entries["nb04_ppc_p_max"].mcse == 0.03
    assert entries["nb04_ppc_verdict"].value is None  # a label, compared as text
    record.clear()
    assert md.record_ppc_values(pd.DataFrame({"p": [0.30, 0.99]}), mcse.head(2))["nb04_ppc_verdict"] == (
        "miss at least one observed statistic (see the table)")


def test_effect_values_quote_the_summary_and_record_each_number(record):
    idata = fake_posterior(shares=(0.25, 0.6))
    summary, mcse = md.effects_summary(idata), md.effects_mcse(idata)
    values = md.record_effect_values(idata, summary, mcse, BAND)
    keys = {f"nb04_{key}_{o}" for _, key in md.QUOTED for o in md.OUTCOMES}
    keys |= {f"nb04_{k}_{o}" for k in ("prop", "p_in_band", "p_acme_negative") for o in md.OUTCOMES}
    assert set(values) == keys | {"nb04_share_phrase"}
    assert values["nb04_ade_phq9"] == md.interval_text(summary, "phq9", "ade_control")
    assert values["nb04_prop_gad7"] == md.interval_text(summary, "gad7", "proportion_mediated", percent=True)
    share = idata.posterior["proportion_mediated"].sel(outcome="gad7").values
    assert values["nb04_p_in_band_gad7"] == f"{100 * np.mean((share >= 0.18) & (share <= 0.32)):.0f}%"
    acme = idata.posterior["acme_treated"].sel(outcome="gad7").values
    assert values["nb04_p_acme_negative_gad7"] == f"{100 * np.mean(acme < 0):.0f}%"
    assert values["nb04_share_phrase"] == "much of the estimated benefit on mood runs through pain relief"
    entries = record.entries()
    assert entries["nb04_acme_gad7.median"].mcse == pytest.approx(mcse.loc[("gad7", "acme_treated"), "median"])
    assert entries["nb04_p_in_band_phq9"].mcse >= 0 and entries["nb04_p_in_band_phq9"].text == "0%"
    record.clear()
    low = fake_posterior(shares=(0.2, 0.3))
    phrase = md.record_effect_values(low, md.effects_summary(low), md.effects_mcse(low), BAND)["nb04_share_phrase"]
    assert phrase == "most of the estimated benefit on mood does not run through pain relief"


def _statsmodels_like(idata, offset):
    """Tables shaped like statsmodels' summary (estimate offset from the posterior median) and their MCSE."""
    summary = md.effects_summary(idata)
    tables, errors = {}, {}
    for outcome in md.OUTCOMES:
        rows = {name: [summary.loc[(outcome, e), "median"] + offset[e], summary.loc[(outcome, e), "ci95_low"],
                       summary.loc[(outcome, e), "ci95_high"]] for e, name in md.COMPARED.items()}
        tables[outcome] = pd.DataFrame(rows, index=["Estimate", "Lower CI bound", "Upper CI bound"]).T
        errors[outcome] = pd.DataFrame(0.01, index=tables[outcome].index, columns=tables[outcome].columns)
    return tables, errors


def test_comparison_values_give_the_largest_gaps_and_the_noise_sd(record):
    idata = fake_posterior()
    offset = dict.fromkeys(md.COMPARED, 0.0) | {"total": 0.3, "ade_control": -0.1, "proportion_mediated": 0.042}
    tables, errors = _statsmodels_like(idata, offset)
    comparison, comparison_mcse = md.comparison_table(idata, tables, mcse=(md.effects_mcse(idata), errors))
    values = md.record_comparison_values(idata, 8, comparison, comparison_mcse, tables, errors)
    assert values["nb04_sm_max_gap"] == "0.30"
    assert values["nb04_sm_max_gap_prop"] == "4.2 percentage points"
    row = tables["phq9"].loc["Prop. mediated (average)"]
    assert values["nb04_sm_prop_phq9"] == (f"{100 * row['Estimate']:.0f}% ({100 * row['Lower CI bound']:.0f}% to "
                                           f"{100 * row['Upper CI bound']:.0f}%)")
    # b = 1.0 (PHQ-9, the larger), σ_M = 2, n = 8: 1 · 2 · √(2/8) = 1 with no Monte-Carlo error (constant draws)
    assert values["nb04_sm_noise"] == "1.00"
    entries = record.entries()
    assert entries["nb04_sm_noise"].mcse == 0
    widest = comparison.index[comparison["estimand"] == "Total effect"]
    assert entries["nb04_sm_max_gap"].mcse in {np.hypot(comparison_mcse.loc[i, "posterior median"], 0.01)
                                               for i in widest}
    assert {f"nb04_sm_prop_gad7.{c}" for c in ("Estimate", "Lower CI bound", "Upper CI bound")} <= set(entries)


def test_truth_values_count_truths_inside_their_intervals(record):
    idata = fake_posterior()
    summary = md.effects_summary(idata)
    truth = {o: {e: float(summary.loc[(o, e), "median"]) for e in md.ESTIMANDS} for o in md.OUTCOMES}
    truth["phq9"]["total"] = 50.0  # far outside its interval
    truth["gad7"]["proportion_mediated"] = 0.234
    tables, errors = _statsmodels_like(idata, dict.fromkeys(md.COMPARED, 0.0))
    comparison, comparison_mcse = md.comparison_table(idata, tables, truth, mcse=(md.effects_mcse(idata), errors))
    values = md.record_truth_values(comparison, comparison_mcse, truth)
    assert values["nb04_truth_inside"] == f"11 of {len(comparison)}" and len(comparison) == 12
    assert values["nb04_truth_prop_gad7"] == "23%"
    entries = record.entries()
    assert entries["nb04_truth_n"].text == "12" and entries["nb04_truth_prop_gad7"].mcse == 0
    assert entries["nb04_truth_inside"].tolerance == 0  # no truth sits near a bound here
    record.clear()
    real = md.record_truth_values(comparison.drop(columns="truth"), comparison_mcse, None)
    assert real == {"nb04_truth_inside": "not applicable (real data)", "nb04_truth_prop_gad7": "unknown (real data)",
                    "nb04_truth_prop_phq9": "unknown (real data)"}
    assert record.entries() == {}


def test_weighted_values_and_their_verdict(record):
    matched = fake_posterior(seed=1)
    summary = md.effects_summary(matched)
    same = fake_posterior(seed=2)
    values = md.record_weighted_values(summary, md.effects_summary(same), md.effects_mcse(same))
    assert set(values) == {"nb04_w_prop_gad7", "nb04_w_prop_phq9", "nb04_w_acme_gad7", "nb04_w_acme_phq9",
                           "nb04_w_verdict"}
    assert values["nb04_w_acme_gad7"] == md.interval_text(md.effects_summary(same), "gad7", "acme_treated")
    assert values["nb04_w_verdict"] == "each inside the 95% interval of the matched sample"
    record.clear()
    moved = fake_posterior(shift=1.0, seed=2)
    verdict = md.record_weighted_values(summary, md.effects_summary(moved), md.effects_mcse(moved))["nb04_w_verdict"]
    assert verdict == "not all inside the 95% intervals of the matched sample (see the tables)"


def test_band_values_compare_the_intervals_with_the_published_band(record):
    idata = fake_posterior(shares=(0.25, 0.3))
    summary, mcse = md.effects_summary(idata), md.effects_mcse(idata)
    values = md.record_band_values(summary, mcse, BAND)
    widths = [summary.loc[(o, "proportion_mediated"), "ci95_high"] - summary.loc[(o, "proportion_mediated"),
                                                                                   "ci95_low"] for o in md.OUTCOMES]
    assert values == {"nb04_band_verdict": "is compatible with these data",
                      "nb04_width_ratio": f"{min(widths) / (BAND[1] - BAND[0]):.1f}"}
    assert record.entries()["nb04_width_ratio"].mcse > 0
    record.clear()
    assert md.record_band_values(summary, mcse, (0.5, 0.6))["nb04_band_verdict"] == (
        "is not fully compatible with these data")


def test_difference_values(record):
    idata = fake_posterior(shares=(0.25, 0.3))
    summary, mcse = md.effects_summary(idata), md.effects_mcse(idata)
    values = md.record_difference_values(idata, summary, mcse)
    difference = idata.posterior[md.DIFFERENCE].values
    assert values["nb04_prop_diff"] == md.interval_text(summary, "gad7 − phq9", "proportion_mediated",
                                                        percent=True).replace("%", "")
    assert "%" not in values["nb04_prop_diff"] and values["nb04_diff_margin"] == "10"
    assert values["nb04_p_diff_positive"] == f"{100 * np.mean(difference > 0):.0f}%"
    assert values["nb04_p_diff_small"] == f"{100 * np.mean(np.abs(difference) < 0.1):.0f}%"
    assert values["nb04_residual_corr"] == f"{np.median(idata.posterior['residual_corr'].values):.2f}"
    record.clear()
    assert md.record_difference_values(idata, summary, mcse, margin=0.2)["nb04_diff_margin"] == "20"


def test_statsmodels_fits_runs_every_outcome_with_the_same_seed(data):
    tables, errors = md.statsmodels_fits(data, n_rep=20, seed=5)
    assert set(tables) == set(errors) == set(md.OUTCOMES)
    alone, alone_errors = md.statsmodels_mediation(data, "phq9", n_rep=20, seed=5, with_mcse=True)
    pd.testing.assert_frame_equal(tables["phq9"], alone)
    pd.testing.assert_frame_equal(errors["phq9"], alone_errors)
    assert not tables["gad7"].equals(tables["phq9"])


def test_mediation_json_holds_both_fits_and_the_difference(tmp_path):
    import json

    matched, weighted = fake_posterior(seed=1), fake_posterior(seed=2)
    path = md.write_mediation_json(matched, weighted, tmp_path / "mediation.json")
    payload = json.loads(path.read_text())
    assert payload["mediation"] == json.loads(json.dumps(md.results_section(matched)["mediation"]))
    assert payload["mediation_weighted_check"] == json.loads(json.dumps(md.results_section(weighted)["mediation"]))
    difference = matched.posterior[md.DIFFERENCE].values
    block = payload["proportion_mediated_difference_gad7_minus_phq9"]
    assert block["estimate"] == round(float(np.median(difference)), 4)
    assert block["ci95"] == [round(float(q), 4) for q in np.quantile(difference, [0.025, 0.975])]
    assert path.read_text().endswith("}\n")


def test_sample_and_weighted_texts():
    from types import SimpleNamespace

    match = SimpleNamespace(data=pd.DataFrame(index=range(186)), summary={"pairs": 93})
    sample = SimpleNamespace(n=180, n_dropped=6, covariate_columns=["age", "sex[M]"])
    assert md.sample_text(match, sample) == (
        "matched patients: 186 (93 pairs); analysed (complete 1-month visit): 180; left out for a missing change "
        "score: 6\ncovariates (2 standardised columns): age, sex[M]")
    weighted = SimpleNamespace(data=SimpleNamespace(n=400, n_dropped=12, weights=np.full(400, 0.5)),
                               kish_ess=212.345)
    assert md.weighted_text(weighted) == ("patients: 400 (left out for a missing change score: 12); "
                                          "Kish effective sample size: 212.3")
