"""Model checks: convergence diagnostics and prior / posterior predictive summaries."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd

from dexmood import diagnostics
from dexmood import reproducibility as mc
from dexmood.mediation._common import OBSERVED, PARAMETERS, REPORTED
from dexmood.settings import SETTINGS, Settings

DiagnosticsError = diagnostics.DiagnosticsError
divergences = diagnostics.divergences


def default_diagnostic_variables(idata: az.InferenceData) -> list[str]:
    """The model's parameters and reported estimands present in `idata`."""
    return [v for v in (*PARAMETERS, *REPORTED) if v in idata.posterior]


def diagnostics_table(idata: az.InferenceData, var_names=None) -> pd.DataFrame:
    return diagnostics.diagnostics_table(idata, var_names or default_diagnostic_variables(idata))


def check_diagnostics(idata: az.InferenceData, var_names=None, rhat_max: float | None = None,
                      ess_min: float | None = None, settings: Settings = SETTINGS) -> pd.DataFrame:
    """`dexmood.diagnostics.check_diagnostics` on the parameters and reported estimands by default, with the
    thresholds of `settings.diagnostics` (R-hat, ESS, divergences) unless given."""
    thresholds = settings.diagnostics
    return diagnostics.check_diagnostics(
        idata, var_names or default_diagnostic_variables(idata),
        rhat_max=thresholds.rhat_max if rhat_max is None else rhat_max,
        ess_min=thresholds.ess_min if ess_min is None else ess_min,
        divergences_max=thresholds.divergences_max)


#: The instruments' ranges: a change in NRS, GAD-7 or PHQ-9 cannot exceed ±10, ±21, ±27 points.
SCORE_LIMITS = {"nrs": 10, "gad7": 21, "phq9": 27}


def prior_predictive_table(idata: az.InferenceData) -> pd.DataFrame:
    """Prior predictive changes: central 95% range and share inside the instrument's possible range."""
    rows = []
    predictive = idata.prior_predictive
    series = {name: predictive[variable].values.ravel() for name, variable in OBSERVED.items()}
    for name, values in series.items():
        low, high = np.quantile(values, [0.025, 0.975])
        limit = SCORE_LIMITS[name]
        rows.append({"change in": name.upper(), "2.5%": low, "97.5%": high,
                     "possible range": f"±{limit}", "share possible": float(np.mean(np.abs(values) <= limit))})
    return pd.DataFrame(rows)


def posterior_predictive_table(idata: az.InferenceData) -> pd.DataFrame:
    """Observed mean and SD of each change per group next to their posterior predictive distribution.

    p = share of replicated data sets with a statistic at least as large as observed (near 0 or 1 = misfit).
    """
    dex = idata.constant_data["dex"].values == 1
    observed = {name: idata.observed_data[variable].values for name, variable in OBSERVED.items()}
    replicated = {name: idata.posterior_predictive[variable].values.reshape(-1, dex.size)
                  for name, variable in OBSERVED.items()}
    rows = []
    for name in observed:
        for group, mask in (("DEX", dex), ("LA", ~dex)):
            for statistic, func in (("mean", np.mean), ("SD", lambda v, axis=None: np.std(v, axis=axis, ddof=1))):
                obs = float(func(observed[name][mask]))
                rep = func(replicated[name][:, mask], axis=1)
                rows.append({"change in": name.upper(), "group": group, "statistic": statistic, "observed": obs,
                             "replicated median": float(np.median(rep)),
                             "replicated 2.5%": float(np.quantile(rep, 0.025)),
                             "replicated 97.5%": float(np.quantile(rep, 0.975)),
                             "p": float(np.mean(rep >= obs))})
    return pd.DataFrame(rows)


def posterior_predictive_mcse(idata: az.InferenceData) -> pd.DataFrame:
    """Monte-Carlo SE of every number of `posterior_predictive_table` (0 for the observed statistic)."""
    dex = idata.constant_data["dex"].values == 1
    chains, draws = idata.posterior_predictive.sizes["chain"], idata.posterior_predictive.sizes["draw"]
    rows = []
    for variable in OBSERVED.values():
        observed = idata.observed_data[variable].values
        replicated = idata.posterior_predictive[variable].values.reshape(chains, draws, -1)
        for mask in (dex, ~dex):
            for func in (np.mean, lambda v, axis=None: np.std(v, axis=axis, ddof=1)):
                obs = float(func(observed[mask]))
                rep = func(replicated[:, :, mask], axis=2)
                rows.append({"observed": 0.0, "replicated median": mc.mcse_quantile(rep, 0.5),
                             "replicated 2.5%": mc.mcse_quantile(rep, 0.025),
                             "replicated 97.5%": mc.mcse_quantile(rep, 0.975), "p": mc.mcse_mean(rep >= obs)})
    return pd.DataFrame(rows)
