"""The notebook-04 Bayesian mediation model on simulated replicates, locally or on Dask workers.

Each process (the notebook's kernel or a Dask worker) builds and compiles the model once and keeps it in
`_MODELS`; every replicate swaps its data in with `MediationModel.set_data`. The diagnostics guard
(`dexmood.diagnostics.check_diagnostics`, the book's thresholds) runs on every fit: a fit that fails it
contributes rows with NaN estimates and a diagnostics row naming the problem, so failures are counted and
reported by `measures.summarise` (``n_failed``), never silently dropped.
"""

from __future__ import annotations

import functools

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from dexmood import cohort as cohort_mod
from dexmood import diagnostics, mediation
from dexmood.errors import DiagnosticsError
from dexmood.settings import SETTINGS
from dexmood.validation import engines
from dexmood.validation.kernels import kernel_match
from dexmood.validation.runner import chunked, default_chunk_size, replicate_seeds, substream
from dexmood.validation.scenarios import (
    COVARIATES,
    MEDIATION_ESTIMANDS,
    MEDIATION_OUTCOMES,
    RESULT_COLUMNS,
    Scenario,
    mediation_truth,
    simulate_replicate,
)

#: Sampler settings of the Bayesian replicates: 2 chains × 500 draws after 300 tuning steps (fewer than
#: notebook 04; the book's ESS ≥ 400 and R-hat ≤ 1.01 rule is still checked on every fit).
BAYES_SETTINGS = {"chains": 2, "tune": 300, "draws": 500}
DIAGNOSTIC_COLUMNS = ["scenario", "replicate", "passed", "problem", "divergences", "max_rhat", "min_ess_bulk",
                      "sampling_seconds"]

#: One compiled model per process (a Dask worker keeps it between tasks).
_MODELS: dict[tuple, mediation.MediationModel] = {}


def _model_for(data: mediation.MediationData) -> mediation.MediationModel:
    key = tuple(data.covariate_columns)
    model = _MODELS.get(key)
    if model is None:
        model = _MODELS[key] = mediation.MediationModel(data)
    else:
        model.set_data(data)
    return model


def fit_replicate(scenario: Scenario, index: int, child: np.random.SeedSequence,
                  sampler: dict = BAYES_SETTINGS) -> tuple[list[tuple], dict]:
    """One replicate's matched sample through the Bayesian model: (rows in `RESULT_COLUMNS`, diagnostics)."""
    replicate = simulate_replicate(scenario.design(), child)
    x, _ = replicate.design_matrix()
    matched = kernel_match(replicate.propensity_matrix(), replicate.dex)
    frame = cohort_mod.add_changes(replicate.frame().iloc[matched.rows].reset_index(drop=True))
    data = mediation.prepare_data(frame, list(COVARIATES))
    model = _model_for(data)
    seed = int(substream(child, 1).generate_state(1)[0])
    settings = mediation.SamplerSettings(seed=seed, **sampler)
    with mediation.quiet():
        idata = model.sample_posterior(settings)
    constant = xr.Dataset({"covariates": (("obs", "covariate"), data.covariates),
                           "weights": ("obs", data.weights), "mediator_center": data.mediator_center},
                          coords={"covariate": data.covariate_columns})
    effects = mediation.compute_effects(idata.posterior, constant)
    # the guard on the reported estimands, with the fit's sampler statistics (divergences)
    checked = az.InferenceData(posterior=xr.Dataset({name: effects[name] for name in MEDIATION_ESTIMANDS}),
                               sample_stats=idata.sample_stats)
    table = diagnostics.diagnostics_table(checked, list(MEDIATION_ESTIMANDS))
    problem = ""
    try:
        diagnostics.check_diagnostics(checked, list(MEDIATION_ESTIMANDS),
                                      rhat_max=SETTINGS.diagnostics.rhat_max, ess_min=SETTINGS.diagnostics.ess_min)
    except DiagnosticsError as err:
        problem = str(err)
    report = {"scenario": scenario.key, "replicate": index, "passed": not problem, "problem": problem,
              "divergences": diagnostics.divergences(idata), "max_rhat": float(table["max_rhat"].max()),
              "min_ess_bulk": float(table["min_ess_bulk"].min()),
              "sampling_seconds": float(idata.posterior.attrs["sampling_seconds"])}
    analysed = matched.rows[~np.isnan(frame[["nrs_change", "gad7_change", "phq9_change"]]).any(axis=1).to_numpy()]
    treated_rows = analysed[replicate.dex[analysed]]
    rows = []
    for outcome in MEDIATION_OUTCOMES:
        truth = mediation_truth(replicate, outcome, analysed)
        truth_treated = mediation_truth(replicate, outcome, treated_rows)
        for estimand in MEDIATION_ESTIMANDS:
            values = effects[estimand].sel(outcome=outcome).values.ravel()
            low, median, high = np.quantile(values, [0.025, 0.5, 0.975])
            numbers = (float(median), float(np.std(values, ddof=1)), float(low), float(high))
            if problem:  # counted as a failed fit by `summarise`, not used for any performance measure
                numbers = (np.nan,) * 4
            rows.append((scenario.key, index, "mediation_bayes", outcome, estimand, *numbers, truth[estimand],
                         truth_treated[estimand], int(replicate.dex.sum()), matched.pairs))
    return rows, report


def run_bayes_chunk(scenario: Scenario, sampler: dict, indexed_seeds: list) -> tuple[list[tuple], list[dict]]:
    rows, reports = [], []
    for index, child in indexed_seeds:
        replicate_rows, report = fit_replicate(scenario, index, child, sampler)
        rows.extend(replicate_rows)
        reports.append(report)
    return rows, reports


def bayesian_replicates(scenario: Scenario, n_reps: int, seed: int = SETTINGS.seed, *, n_jobs: int = 1,
                        engine: str = "local", client=None, chunk_size: int | None = None,
                        sampler: dict = BAYES_SETTINGS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The notebook-04 model on the matched sample of the first `n_reps` replicates (the same data sets as
    `run_replicates` with the same seed). Returns (rows in `RESULT_COLUMNS`, one diagnostics row per fit).
    Locally with ``n_jobs=1`` the chunks run in this process (one compile); each Dask worker compiles once."""
    seeds = list(enumerate(replicate_seeds(seed, n_reps)))
    workers = len(client.scheduler_info()["workers"]) if client is not None else n_jobs
    chunks = chunked(seeds, chunk_size or default_chunk_size(n_reps, workers))
    function = functools.partial(run_bayes_chunk, scenario, sampler)
    if engine == "local" and n_jobs == 1:
        results = [function(chunk) for chunk in chunks]
    else:
        results = engines.map_chunks(function, chunks, engine=engine, n_jobs=n_jobs, client=client)
    rows = [row for chunk_rows, _ in results for row in chunk_rows]
    reports = [report for _, chunk_reports in results for report in chunk_reports]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS), pd.DataFrame(reports, columns=DIAGNOSTIC_COLUMNS)
