"""One replicate through the book's pipeline, and many replicates on a chosen engine.

Replicate i of a study with seed S always uses the i-th child of ``numpy.random.SeedSequence(S)`` (the first
k children do not depend on how many are spawned), so the table is identical for any engine, worker count
and chunk size, and any replicate can be re-created alone.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import pandas as pd

from dexmood.settings import SETTINGS
from dexmood.validation import engines
from dexmood.validation.kernels import (
    kernel_aipw_att,
    kernel_aipw_att_bootstrap,
    kernel_fit_logit,
    kernel_match,
    kernel_matched_difference,
    kernel_matched_regression,
    kernel_mediation_delta,
    kernel_weighted_difference,
    wald_row,
)
from dexmood.validation.scenarios import (
    ATT_OUTCOMES,
    MEDIATION_ESTIMANDS,
    MEDIATION_OUTCOMES,
    RESULT_COLUMNS,
    Replicate,
    Scenario,
    individual_effects,
    mediation_truth,
    simulate_replicate,
)

ROW_FIELDS = ["estimator", "outcome", "estimand", "estimate", "se", "ci_low", "ci_high", "truth",
              "truth_all_treated"]


def replicate_seeds(seed: int, n_reps: int) -> list[np.random.SeedSequence]:
    """Independent child streams: replicate i gets the i-th child of SeedSequence(seed)."""
    return np.random.SeedSequence(seed).spawn(n_reps)


def substream(child: np.random.SeedSequence, purpose: int) -> np.random.SeedSequence:
    """A grandchild of a replicate's stream for one purpose (1: the MCMC sampler, 2: the bootstrap)."""
    return np.random.SeedSequence(child.entropy, spawn_key=(*child.spawn_key, purpose))


def analyse_replicate(replicate: Replicate, *, n_boot: int = 0) -> tuple[list[tuple], int, int]:
    """Run the pipeline on one replicate. Returns (rows, number of treated, matched pairs); a row is
    (estimator, outcome, estimand, estimate, se, ci_low, ci_high, truth, truth_all_treated).

    With `n_boot` > 0 the AIPW estimator is also run with notebook 03's percentile bootstrap
    (``aipw_att_bootstrap``), its resampling stream a grandchild of the replicate's seed."""
    x, _ = replicate.design_matrix()
    dex = replicate.dex
    dex_f = dex.astype(float)
    matched = kernel_match(replicate.propensity_matrix(), dex)
    propensity = 1.0 / (1.0 + np.exp(-matched.logit))
    # notebook 03's AIPW refits its propensity model on the covariates as they are (main effects), while
    # matching, IPW and overlap weights use the matching model (with log terms for skewed covariates)
    design = np.column_stack([np.ones(len(dex)), x])
    propensity_aipw = 1.0 / (1.0 + np.exp(-(design @ kernel_fit_logit(design, dex))))
    boot = {}
    if n_boot > 0:
        rng = np.random.default_rng(substream(replicate.seed, 2))
        boot = kernel_aipw_att_bootstrap({o: replicate.changes[o] for o in ATT_OUTCOMES}, dex, x, n_boot=n_boot,
                                         rng=rng)
    rows = []
    for outcome in ATT_OUTCOMES:
        y = replicate.changes[outcome]
        tau = individual_effects(replicate, outcome)
        truth_all = float(tau[dex].mean())  # = cohort.truth["att"][outcome]
        observed = ~np.isnan(y)
        # matched sample, complete cases
        m_rows = matched.rows[observed[matched.rows]]
        _, m_pair = np.unique(matched.pair[observed[matched.rows]], return_inverse=True)
        truth_matched = float(tau[m_rows][dex[m_rows]].mean())
        rows.append(("matched_difference", outcome, "att",
                     *kernel_matched_difference(y[m_rows], dex_f[m_rows], m_pair), truth_matched, truth_all))
        rows.append(("matched_regression", outcome, "att",
                     *kernel_matched_regression(y[m_rows], dex_f[m_rows], x[m_rows], m_pair), truth_matched,
                     truth_all))
        # full cohort, complete cases
        yo, do, eo, xo = y[observed], dex_f[observed], propensity[observed], x[observed]
        eo_aipw = propensity_aipw[observed]
        truth_att = float(tau[observed & dex].mean())
        h = eo * (1 - eo)
        truth_ato = float(np.sum(h * tau[observed]) / np.sum(h))
        rows.append(("ipw_att", outcome, "att",
                     *kernel_weighted_difference(yo, do, np.where(do == 1, 1.0, eo / (1 - eo))), truth_att,
                     truth_all))
        rows.append(("overlap", outcome, "ato",
                     *kernel_weighted_difference(yo, do, np.where(do == 1, 1 - eo, eo)), truth_ato, truth_all))
        # AIPW: propensity fitted on every patient (main effects), outcome model on complete cases
        rows.append(("aipw_att", outcome, "att", *kernel_aipw_att(yo, do, xo, eo_aipw), truth_att, truth_all))
        if boot:
            rows.append(("aipw_att_bootstrap", outcome, "att", *boot[outcome], truth_att, truth_all))
        rows.append(("naive_difference", outcome, "att", *kernel_weighted_difference(yo, do), truth_att, truth_all))

    # mediation on the matched sample (complete cases in the mediator and both outcomes)
    complete = ~np.isnan(replicate.changes["nrs"])
    for outcome in MEDIATION_OUTCOMES:
        complete &= ~np.isnan(replicate.changes[outcome])
    med_rows = matched.rows[complete[matched.rows]]
    treated_rows = med_rows[dex[med_rows]]
    for outcome in MEDIATION_OUTCOMES:
        effects = kernel_mediation_delta(replicate.changes["nrs"][med_rows], replicate.changes[outcome][med_rows],
                                         dex_f[med_rows], x[med_rows])
        truth = mediation_truth(replicate, outcome, med_rows)
        truth_treated = mediation_truth(replicate, outcome, treated_rows)
        for estimand in MEDIATION_ESTIMANDS:
            rows.append(("mediation_delta", outcome, estimand, *wald_row(*effects[estimand]), truth[estimand],
                         truth_treated[estimand]))
    return rows, int(dex.sum()), matched.pairs


def run_chunk(design, n_boot: int, indexed_seeds: list) -> list[tuple]:
    """The rows of a chunk of (replicate index, seed) pairs: a pure function of its arguments."""
    out = []
    for index, seed in indexed_seeds:
        rows, n_treated, pairs = analyse_replicate(simulate_replicate(design, seed), n_boot=n_boot)
        out.extend((index, *row, n_treated, pairs) for row in rows)
    return out


def chunked(items: list, chunk_size: int) -> list[list]:
    return [items[i:i + chunk_size] for i in range(0, len(items), chunk_size)]


def default_chunk_size(n_reps: int, workers: int) -> int:
    """A few chunks per worker: balanced load, little dispatch overhead."""
    return max(1, int(np.ceil(n_reps / (4 * max(1, workers)))))


def run_replicates(scenario: Scenario, n_reps: int, seed: int = SETTINGS.seed, n_jobs: int = 2, *,
                   chunk_size: int | None = None, n_boot: int = 0, engine: str = "local",
                   client=None) -> pd.DataFrame:
    """Simulate `n_reps` cohorts of `scenario` and run the pipeline on each, as a table in `RESULT_COLUMNS`.

    ``engine="local"`` runs chunks on `n_jobs` joblib processes; ``engine="dask"`` on the workers of the
    `distributed.Client` `client`. The table is identical for every engine, `n_jobs` and `chunk_size`.
    """
    design = scenario.design()
    seeds = list(enumerate(replicate_seeds(seed, n_reps)))
    workers = len(client.scheduler_info()["workers"]) if client is not None else (n_jobs if n_jobs > 0 else 8)
    chunks = chunked(seeds, chunk_size or default_chunk_size(n_reps, workers))
    results = engines.map_chunks(functools.partial(run_chunk, design, n_boot), chunks, engine=engine,
                                 n_jobs=n_jobs, client=client)
    table = pd.DataFrame([row for chunk in results for row in chunk],
                         columns=["replicate", *ROW_FIELDS, "n_treated", "pairs"])
    table.insert(0, "scenario", scenario.key)
    return table[RESULT_COLUMNS]


def throughput(scenario: Scenario, n_reps: int, seed: int = SETTINGS.seed, *, workers: int = 1,
               engine: str = "local", client=None) -> dict:
    """Replicates per second of `run_replicates` (after a warm-up run that starts the workers)."""
    run_replicates(scenario, min(n_reps, 4 * workers), seed + 1, workers, engine=engine, client=client)
    start = time.perf_counter()
    run_replicates(scenario, n_reps, seed, workers, engine=engine, client=client)
    elapsed = time.perf_counter() - start
    return {"engine": engine, "workers": workers, "n_reps": n_reps, "seconds": elapsed,
            "replicates_per_s": n_reps / elapsed}
