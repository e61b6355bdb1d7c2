"""Monte-Carlo sensitivity analysis of the mediated effect with the joint PyMC model (its ρ hook).

The joint mediation model of `dexmood.mediation` can fix the mediator–outcome residual correlation ρ inside
its likelihood. Averaging the fixed-ρ posteriors with the weights of a prior on ρ is a **Monte-Carlo
sensitivity analysis**, not a posterior: it would be the posterior under that prior only if the likelihood
were flat in ρ, and it is not quite (the priors on the other parameters and the finite sample make it vary).
It answers "how much does the ACME move over plausible ρ", with its uncertainty at each ρ (issue 16, point 4).
Two computations that must agree are reported side by side: Gauss–Hermite quadrature over the model fits at
fixed ρ, and every ρ = 0 posterior draw moved along its own ρ from the prior in closed form.

The fits are cached through `dexmood.cache.load_or_compute` (key: data, priors, sampler settings, nodes,
code of `dexmood.mediation` and of this module, package versions).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd
from scipy import stats

from dexmood import cache, mediation
from dexmood import reproducibility as mc
from dexmood.errors import DiagnosticsError
from dexmood.sensitivity.medsens import acme_at_rho, rho_at_zero_acme
from dexmood.settings import SETTINGS, Settings

#: Posterior quantities needed to move the ACME along ρ.
HOOK_PARAMETERS = ("dex_on_mediator", "mediator_on_outcome", "dex_x_mediator", "mediator_sigma", "outcome_sigma")
#: Prior SD of ρ: most plausible confounders of pain change and mood change are modest.
RHO_PRIOR_SD = 0.2
#: Gauss–Hermite nodes (model fits) of the prior on ρ.
N_NODES = 3
#: Truncation of the prior on ρ (|ρ| < 1 is required; 0.95 keeps the closed form finite).
RHO_BOUND = 0.95


def gauss_hermite_rho(prior_sd: float = RHO_PRIOR_SD, n_nodes: int = N_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of Gauss–Hermite quadrature for ρ ~ Normal(0, prior_sd) (weights sum to 1)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    nodes = np.where(np.abs(nodes) < 1e-12, 0.0, np.round(nodes * prior_sd, 12))
    return nodes, weights / weights.sum()


def sampler_settings(settings: Settings = SETTINGS) -> mediation.SamplerSettings:
    """The mediation chapter's sampler settings, from the book's one settings object."""
    s = settings.sampler
    return mediation.SamplerSettings(draws=s.draws, tune=s.tune, chains=s.chains, seed=settings.seed,
                                     sampler=s.sampler)


def _fit_nodes(data, nodes, sampler, priors, settings: Settings) -> dict:
    # Built and compiled at ρ = 0 (the node nearest 0 is sampled first): building it at ρ ≠ 0 makes a
    # PyTensor graph rewrite log an error (harmless, but it would print into the notebook).
    model = mediation.MediationModel(data, priors, mediator_outcome_rho=None, sampler=sampler.sampler)
    draws, tables = {}, []
    thresholds = settings.diagnostics
    for rho in sorted(nodes, key=abs):
        model.set_data(mediator_outcome_rho=rho)
        idata = model.sample_posterior(sampler)
        table = mediation.check_diagnostics(idata, var_names=list(HOOK_PARAMETERS), rhat_max=thresholds.rhat_max,
                                            ess_min=thresholds.ess_min)
        n_divergent = mediation.divergences(idata)
        if n_divergent > thresholds.divergences_max:
            raise DiagnosticsError(f"the mediation model with ρ fixed at {rho:.3f} had {n_divergent} divergent "
                                   "transitions; its draws are not used.")
        tables.append(table.reset_index().assign(rho=rho, divergences=n_divergent))
        draws[rho] = {name: np.asarray(idata.posterior[name].stack(sample=("chain", "draw"))
                                       .transpose("sample", ...).values, dtype=float) for name in HOOK_PARAMETERS}
    diagnostics = pd.concat(tables, ignore_index=True).sort_values(["rho", "variable"], kind="stable")
    return {"rho": list(nodes), "draws": draws, "diagnostics": diagnostics.reset_index(drop=True)}


def hook_fits(data, rho_nodes, *, settings: Settings = SETTINGS, priors=None, use_cache: bool = True) -> dict:
    """Posterior draws of `HOOK_PARAMETERS` from the joint mediation model with ρ fixed at each node.

    One model is compiled and re-used for every ρ through ``MediationModel.set_data(mediator_outcome_rho=ρ)``;
    each fit must pass the book's diagnostics thresholds (`DiagnosticsError` otherwise).
    Returns {"rho": nodes, "draws": {ρ: {parameter: array (draws[, outcome])}}, "diagnostics": DataFrame}.
    """
    priors = priors or mediation.Priors()
    sampler = sampler_settings(settings)
    nodes = [float(r) for r in rho_nodes]
    inputs = {"model": mediation.MODEL_VERSION, "data": data.fingerprint(), "priors": asdict(priors),
              "sampler": sampler.key(), "diagnostics": asdict(settings.diagnostics),
              "rho": [round(r, 12) for r in nodes]}
    return cache.load_or_compute("sensitivity_hook", inputs, lambda: _fit_nodes(data, nodes, sampler, priors, settings),
                                 modules=("dexmood.mediation", "dexmood.sensitivity.medsens_monte_carlo"),
                                 enabled=use_cache)


def _outcome_index(outcome: str) -> int:
    return mediation.OUTCOMES.index(outcome)


def hook_acme(draws: dict, outcome: str, treated: float = 0.5) -> np.ndarray:
    """ACME(t) per posterior draw of a fit with ρ built into the model: a (b + d t), b the structural slope."""
    k = _outcome_index(outcome)
    return draws["dex_on_mediator"] * (draws["mediator_on_outcome"][:, k] + draws["dex_x_mediator"][:, k] * treated)


def transformed_acme(draws: dict, outcome: str, rho, treated: float = 0.5) -> np.ndarray:
    """ACME(t) at ρ from the draws of the ρ = 0 fit, moved along ρ in closed form (`acme_at_rho`).

    In the ρ = 0 fit the outcome SD is σ_Y|M, so the structural slope is b − ρ σ_Y|M / (σ_M √(1 − ρ²)).
    `rho` is a number or one value per draw (draws from a prior on ρ).
    """
    k = _outcome_index(outcome)
    return acme_at_rho(draws["dex_on_mediator"], draws["mediator_on_outcome"][:, k], draws["mediator_sigma"],
                       draws["outcome_sigma"][:, k], rho, draws["dex_x_mediator"][:, k], treated)


def _base_draws(fits: dict) -> dict:
    return fits["draws"][min(fits["draws"], key=abs)]


def monte_carlo_medsens(fits: dict, outcome: str, prior_sd: float = RHO_PRIOR_SD, *, treated: float = 0.5,
                        settings: Settings = SETTINGS) -> dict:
    """ACME averaged over ρ ~ Normal(0, prior_sd) truncated to |ρ| < `RHO_BOUND`, two ways that must agree:
    closed form (each ρ = 0 draw moved along its own ρ) and quadrature over the fixed-ρ model fits (mean, SD).
    Also the ρ at which the ACME vanishes, per draw."""
    base = _base_draws(fits)
    n = len(base["dex_on_mediator"])
    rng = np.random.default_rng(settings.seed)
    bound = RHO_BOUND / prior_sd
    rho = stats.truncnorm.rvs(-bound, bound, scale=prior_sd, size=n, random_state=rng)
    moved = transformed_acme(base, outcome, rho, treated)
    k = _outcome_index(outcome)
    zero = rho_at_zero_acme(base["mediator_on_outcome"][:, k], base["mediator_sigma"], base["outcome_sigma"][:, k],
                            base["dex_x_mediator"][:, k], treated)
    _, weights = gauss_hermite_rho(prior_sd, len(fits["rho"]))
    per_node = [hook_acme(fits["draws"][float(r)], outcome, treated) for r in sorted(fits["rho"])]
    means = np.array([v.mean() for v in per_node])
    second = np.array([np.mean(v**2) for v in per_node])
    q_mean = float(weights @ means)
    low, median, high = np.quantile(moved, [0.025, 0.5, 0.975])
    z_low, z_median, z_high = np.quantile(zero, [0.025, 0.5, 0.975])
    return {"outcome": outcome, "prior_sd": prior_sd, "acme_mean": float(moved.mean()),
            "acme_sd": float(moved.std(ddof=1)), "acme_median": float(median), "acme_low": float(low),
            "acme_high": float(high), "share_same_sign": float(np.mean(np.sign(moved) == np.sign(median))),
            "quadrature_mean": q_mean, "quadrature_sd": float(np.sqrt(weights @ second - q_mean**2)),
            "rho_zero_median": float(z_median), "rho_zero_low": float(z_low), "rho_zero_high": float(z_high),
            "draws": moved, "rho_zero_draws": zero,
            **monte_carlo_mcse(moved, zero, per_node, weights, float(median), _chains(fits, n, settings))}


def _chains(fits: dict, n: int, settings: Settings) -> int:
    chains = int(fits.get("chains", sampler_settings(settings).chains))
    return chains if chains > 0 and n % chains == 0 else 1


def monte_carlo_mcse(moved, zero, per_node, weights, median: float, chains: int) -> dict:
    """Monte-Carlo SEs (issue 20) of every number of `monte_carlo_medsens`, from the draws cut back into their
    chains (the posterior draws are stacked chain by chain): ArviZ's MCSE for the mean and the quantiles,
    batch means for the SD, the share on the side of the median and the two quadrature moments."""
    def chained(values):
        return np.asarray(values, dtype=float).reshape(chains, -1)

    moved, zero = chained(moved), chained(zero)
    nodes = [chained(v) for v in per_node]

    def q_mean(*blocks):
        return float(weights @ np.array([b.mean() for b in blocks]))

    def q_sd(*blocks):
        mean = q_mean(*blocks)
        return float(np.sqrt(max(weights @ np.array([np.mean(b**2) for b in blocks]) - mean**2, 0.0)))

    return {"acme_mean_mcse": mc.mcse_mean(moved),
            "acme_sd_mcse": mc.mcse_batch(lambda x: np.std(x, ddof=1), moved),
            "acme_median_mcse": mc.mcse_quantile(moved, 0.5), "acme_low_mcse": mc.mcse_quantile(moved, 0.025),
            "acme_high_mcse": mc.mcse_quantile(moved, 0.975),
            "share_same_sign_mcse": mc.mcse_mean((np.sign(moved) == np.sign(median)).astype(float)),
            "quadrature_mean_mcse": mc.mcse_batch(q_mean, *nodes), "quadrature_sd_mcse": mc.mcse_batch(q_sd, *nodes),
            "rho_zero_median_mcse": mc.mcse_quantile(zero, 0.5), "rho_zero_low_mcse": mc.mcse_quantile(zero, 0.025),
            "rho_zero_high_mcse": mc.mcse_quantile(zero, 0.975)}


def monte_carlo_table(results: dict) -> pd.DataFrame:
    """One row per outcome of `monte_carlo_medsens` results (without the draws)."""
    rows = [{k: v for k, v in result.items() if not k.endswith("draws")} for result in results.values()]
    return pd.DataFrame(rows).set_index("outcome").drop(columns="prior_sd")


def quadrature_agreement(result: dict, tolerance: float = 0.1) -> bool:
    """The two computations agree: means within `tolerance` SDs and SDs within `tolerance` relative."""
    return (abs(result["quadrature_mean"] - result["acme_mean"]) < tolerance * result["acme_sd"]
            and abs(result["quadrature_sd"] / result["acme_sd"] - 1) < tolerance)


def hook_check_table(fits: dict, outcome: str, treated: float = 0.5) -> pd.DataFrame:
    """At each node: median and 95% interval of the ACME from the model fitted with that ρ next to the ρ = 0
    posterior moved to that ρ in closed form (they differ only through the priors)."""
    base = _base_draws(fits)
    rows = []
    for rho in fits["rho"]:
        inside = hook_acme(fits["draws"][float(rho)], outcome, treated)
        moved = transformed_acme(base, outcome, rho, treated)
        rows.append({"outcome": outcome, "rho": rho,
                     "model median": float(np.median(inside)), "model 2.5%": float(np.quantile(inside, 0.025)),
                     "model 97.5%": float(np.quantile(inside, 0.975)),
                     "closed form median": float(np.median(moved)),
                     "closed form 2.5%": float(np.quantile(moved, 0.025)),
                     "closed form 97.5%": float(np.quantile(moved, 0.975))})
    return pd.DataFrame(rows)
