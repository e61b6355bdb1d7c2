"""The natural (in)direct effects per posterior draw, by g-computation, and their posterior summaries."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from dexmood import reproducibility as mc
from dexmood.mediation._common import DIFFERENCE, ESTIMANDS, OUTCOMES


def compute_effects(posterior: xr.Dataset, constant_data: xr.Dataset) -> xr.Dataset:
    """Natural effects per draw by g-computation over the analysed sample (weighted if weights vary).

    For every patient i and draw: E[M_i(t')] = a0 + a·t' + X_i γ_M and, because the outcome model is linear
    in M, E[Y_i(t, M_i(t'))] = b0 + c'·t + (b + d·t)(E[M_i(t')] − m̄) + X_i γ_k (the ρ term has mean 0).
    Averages over patients use the likelihood weights (ATT weights target the treated population).
    """
    x = constant_data["covariates"]
    w = constant_data["weights"]
    w = w / w.sum()
    centre = constant_data["mediator_center"]
    # Both models are linear in the covariates, so the weighted average over patients of X_i γ is x̄·γ with
    # x̄ = Σ w_i X_i: the same numbers without a (chain, draw, patient) array, which for 20,000 patients
    # would not fit in memory.
    x_mean = (x * w).sum("obs")  # covariate
    linear_m = (x_mean * posterior["mediator_covariates"]).sum("covariate")  # chain, draw
    linear_y = (x_mean * posterior["outcome_covariates"]).sum("covariate")  # chain, draw, outcome

    def mean_mediator(t):
        return posterior["mediator_intercept"] + posterior["dex_on_mediator"] * t + linear_m

    def mean_outcome(t, t_m):
        slope = posterior["mediator_on_outcome"] + posterior["dex_x_mediator"] * t
        return (posterior["outcome_intercept"] + posterior["direct_dex"] * t
                + slope * (mean_mediator(t_m) - centre) + linear_y)

    y = {(t, t_m): mean_outcome(t, t_m) for t in (0, 1) for t_m in (0, 1)}
    effects = {
        "acme_treated": y[1, 1] - y[1, 0],
        "acme_control": y[0, 1] - y[0, 0],
        "ade_control": y[1, 0] - y[0, 0],
        "ade_treated": y[1, 1] - y[0, 1],
        "total": y[1, 1] - y[0, 0],
    }
    effects["acme_average"] = (effects["acme_treated"] + effects["acme_control"]) / 2
    effects["ade_average"] = (effects["ade_treated"] + effects["ade_control"]) / 2
    effects["proportion_mediated"] = effects["acme_average"] / effects["total"]
    dataset = xr.Dataset(effects).transpose("chain", "draw", "outcome")
    dataset[DIFFERENCE] = (dataset["proportion_mediated"].sel(outcome="gad7")
                           - dataset["proportion_mediated"].sel(outcome="phq9")).drop_vars("outcome", errors="ignore")
    return dataset


def add_effects(idata: az.InferenceData) -> az.InferenceData:
    """Add the per-draw estimands (`ESTIMANDS`, `DIFFERENCE`) to `idata.posterior` in place."""
    effects = compute_effects(idata.posterior, idata.constant_data)
    for name in effects.data_vars:
        idata.posterior[name] = effects[name]
    return idata


def effects_summary(idata: az.InferenceData) -> pd.DataFrame:
    """Posterior median, 95% equal-tailed interval, mean and SD of every estimand per outcome."""
    rows = []
    for outcome in OUTCOMES:
        for estimand in ESTIMANDS:
            values = idata.posterior[estimand].sel(outcome=outcome).values.ravel()
            rows.append(_summary_row(outcome, estimand, values))
    rows.append(_summary_row("gad7 − phq9", "proportion_mediated",
                             idata.posterior[DIFFERENCE].values.ravel()))
    return pd.DataFrame(rows).set_index(["outcome", "estimand"])


def _summary_row(outcome: str, estimand: str, values: np.ndarray) -> dict:
    low, median, high = np.quantile(values, [0.025, 0.5, 0.975])
    return {"outcome": outcome, "estimand": estimand, "median": median, "ci95_low": low, "ci95_high": high,
            "mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1))}


def effects_mcse(idata: az.InferenceData) -> pd.DataFrame:
    """ArviZ's Monte-Carlo SE of the median and the 2.5% / 97.5% quantiles in `effects_summary` (same index)."""
    def row(outcome, estimand, draws):
        return {"outcome": outcome, "estimand": estimand, "median": mc.mcse_quantile(draws, 0.5),
                "ci95_low": mc.mcse_quantile(draws, 0.025), "ci95_high": mc.mcse_quantile(draws, 0.975)}

    rows = [row(o, e, idata.posterior[e].sel(outcome=o).values) for o in OUTCOMES for e in ESTIMANDS]
    rows.append(row("gad7 − phq9", "proportion_mediated", idata.posterior[DIFFERENCE].values))
    return pd.DataFrame(rows).set_index(["outcome", "estimand"])
