"""The book's proposed frequentist analysis of CPSP at 2 years (the registry has no analysis plan)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep

from dexmood.trial.registry import ARMS


def risk_table(results: pd.DataFrame) -> pd.DataFrame:
    """Randomised, followed up, CPSP events and risk by arm."""
    rows = []
    for arm in ARMS:
        block = results[results["arm"] == arm]
        followed = block["cpsp_2y"].dropna()
        rows.append({"arm": arm, "randomised": len(block), "followed_up": len(followed),
                     "events": int(followed.sum()), "risk": float(followed.mean())})
    return pd.DataFrame(rows).set_index("arm")


def _counts(results: pd.DataFrame) -> tuple[int, int, int, int]:
    table = risk_table(results)
    return (int(table.loc["supplement", "events"]), int(table.loc["supplement", "followed_up"]),
            int(table.loc["placebo", "events"]), int(table.loc["placebo", "followed_up"]))


def frequentist_analysis(results: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """RR by modified Poisson (robust HC0 SE; Zou 2004) and log-binomial GLM; RD by a robust linear model.

    Complete cases (2-year CPSP observed). Log-binomial is reported only if it converges.
    """
    data = results.dropna(subset=["cpsp_2y"]).assign(supplement=lambda f: (f["arm"] == "supplement").astype(int))
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []

    def add(method: str, estimand: str, estimate, low, high, p_value, converged=True) -> None:
        rows.append({"method": method, "estimand": estimand, "estimate": estimate, "ci_low": low,
                     "ci_high": high, "p_value": p_value, "converged": converged})

    poisson = smf.glm("cpsp_2y ~ supplement", data, family=sm.families.Poisson()).fit(cov_type="HC0")
    coef, se = poisson.params["supplement"], poisson.bse["supplement"]
    add("modified Poisson (robust SE)", "RR", math.exp(coef), math.exp(coef - z * se), math.exp(coef + z * se),
        float(poisson.pvalues["supplement"]))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            log_binomial = smf.glm("cpsp_2y ~ supplement", data,
                                   family=sm.families.Binomial(link=sm.families.links.Log())).fit(cov_type="HC0")
            ok = bool(log_binomial.converged) and np.isfinite(log_binomial.bse["supplement"])
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            ok = False
    if ok:
        coef, se = log_binomial.params["supplement"], log_binomial.bse["supplement"]
        add("log-binomial GLM (robust SE)", "RR", math.exp(coef), math.exp(coef - z * se),
            math.exp(coef + z * se), float(log_binomial.pvalues["supplement"]))
    else:
        add("log-binomial GLM (robust SE)", "RR", np.nan, np.nan, np.nan, np.nan, converged=False)

    linear = smf.glm("cpsp_2y ~ supplement", data, family=sm.families.Gaussian()).fit(cov_type="HC0")
    coef, se = linear.params["supplement"], linear.bse["supplement"]
    add("linear probability (robust SE)", "RD", coef, coef - z * se, coef + z * se,
        float(linear.pvalues["supplement"]))

    a, n1, c, n0 = _counts(results)
    low, high = confint_proportions_2indep(a, n1, c, n0, method="newcomb", compare="diff", alpha=alpha)
    add("Newcombe score interval", "RD", a / n1 - c / n0, float(low), float(high), np.nan)
    return pd.DataFrame(rows)
