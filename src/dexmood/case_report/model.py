"""The interrupted-time-series model of the interval-censored NRS readings (PyMC), its fit and its cache."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from dexmood import cache, diagnostics
from dexmood.case_report.timeline import LEVEL_SEGMENTS

#: Prior on each segment level (NRS 0–10) and on the DEX change; sigma = reporting noise beyond rounding.
LEVEL_PRIOR = (5.0, 2.5)
CHANGE_PRIOR_SD = 2.5
SIGMA_PRIOR = (math.log(0.5), 0.3)  # LogNormal: median 0.5 NRS points, 95% 0.28–0.9


def nrs_bounds(pain: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Latent-pain interval of each reading: the reported integer range widened by the rounding half-point."""
    lower = np.clip(pain["nrs_low"].to_numpy(float) - 0.5, 0, 10)
    upper = np.clip(pain["nrs_high"].to_numpy(float) + 0.5, 0, 10)
    return lower, upper


def build_its_model(pain: pd.DataFrame):
    """Segment levels + a level change at DEX, with an interval-censored Normal likelihood.

    Reading i says the patient's typical pain over its span lies in [low − 0.5, high + 0.5]. With
    latent pain ~ Normal(mu_i, sigma), its likelihood is Phi((upper − mu)/sigma) − Phi((lower − mu)/sigma).
    mu_i = level[segment_i] for the four pre-DEX segments and level[intrathecal] + dex_change after DEX
    (a level-change ITS, Lopez Bernal et al. 2017, without slopes: one reading per segment cannot carry one).
    """
    lower, upper = nrs_bounds(pain)
    segment_of = {"intrathecal_dex": "intrathecal"}
    index = np.array([LEVEL_SEGMENTS.index(segment_of.get(s, s)) for s in pain["segment"]])
    dex = pain["dex"].to_numpy(float)
    it = LEVEL_SEGMENTS.index("intrathecal")
    coords = {"segment": list(LEVEL_SEGMENTS), "reading": pain["reading_id"].astype(str).tolist()}
    with pm.Model(coords=coords) as model:
        level = pm.Normal("level", mu=LEVEL_PRIOR[0], sigma=LEVEL_PRIOR[1], dims="segment")
        dex_change = pm.Normal("dex_change", mu=0.0, sigma=CHANGE_PRIOR_SD)
        sigma = pm.LogNormal("sigma", mu=SIGMA_PRIOR[0], sigma=SIGMA_PRIOR[1])
        mu = pm.Deterministic("mu", level[index] + dex_change * dex, dims="reading")
        z_low = (lower - mu) / sigma
        z_high = (upper - mu) / sigma
        # Reflect intervals lying above the mean, P(a<Z<b) = P(-b<Z<-a), so that log Phi is evaluated in
        # its accurate lower tail; the switch acts on inputs only, so no NaN gradient can leak through.
        above = pt.gt(z_low, 0)
        a = pt.switch(above, -z_high, z_low)
        b = pt.switch(above, -z_low, z_high)
        std_normal = pm.Normal.dist(0.0, 1.0)
        pm.Potential("nrs_interval_loglik",
                     pm.math.logdiffexp(pm.logcdf(std_normal, b), pm.logcdf(std_normal, a)).sum())
        pm.Deterministic("pain_before_dex", level[it])
        pm.Deterministic("pain_after_dex", level[it] + dex_change)
    return model


def fit_its(pain: pd.DataFrame, random_seed: int, draws: int = 1000, tune: int = 1000, chains: int = 4,
            target_accept: float = 0.95, nuts_sampler: str = "pymc"):
    """Sample the ITS model (quietly, reproducibly); returns ArviZ InferenceData."""
    model = build_its_model(pain)
    with diagnostics.quiet_sampling(), warnings.catch_warnings(), model:
        # PyTensor warns once per process about BLAS; the model has no matrix products.
        warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*")
        return pm.sample(draws=draws, tune=tune, chains=chains, cores=1, random_seed=random_seed,
                         target_accept=target_accept, nuts_sampler=nuts_sampler, progressbar=False,
                         compute_convergence_checks=False)


def cached_its(pain: pd.DataFrame, random_seed: int, draws: int = 1000, tune: int = 1000, chains: int = 4):
    """`fit_its` through the package cache (NetCDF; key: the pain table, the sampler settings and the code of
    the `case_report` subpackage)."""
    inputs = {"pain": pain.to_csv(index=False), "seed": random_seed, "draws": draws, "tune": tune, "chains": chains}
    return cache.load_or_compute("case_report_its", inputs,
                                 lambda: fit_its(pain, random_seed=random_seed, draws=draws, tune=tune, chains=chains),
                                 modules=("dexmood.case_report",), codec=cache.NETCDF, shared=True)
