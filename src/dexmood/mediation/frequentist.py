"""The frequentist cross-check: statsmodels `Mediation` (OLS models) next to the posterior."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.stats.mediation import Mediation

from dexmood import reproducibility as mc
from dexmood.mediation._common import ESTIMAND_LABELS, OUTCOMES
from dexmood.mediation.data import MediationData
from dexmood.mediation.estimands import effects_summary
from dexmood.mediation.truth import truth_value


class _InteractionOLS(sm.OLS):
    """statsmodels OLS whose `predict` recomputes the DEX × mediator column from the exposure and mediator
    columns. `Mediation` sets those two columns to counterfactual values; without a formula it would leave
    the product column stale (with a formula it rebuilds the design, which is ~50 times slower)."""

    def predict(self, params, exog=None, *args, **kwargs):
        exog = np.array(self.exog if exog is None else exog, dtype=float, copy=True)
        exog[:, 3] = exog[:, 1] * exog[:, 2]  # columns: const, dex, mediator, dex:mediator, covariates
        return super().predict(params, exog, *args, **kwargs)


def statsmodels_mediation(data: MediationData, outcome: str, *, n_rep: int = 1000, seed: int = 0,
                          method: str = "parametric", with_mcse: bool = False):
    """statsmodels `Mediation` (Imai, Keele & Tingley 2010, algorithm 1 = "parametric", 2 = "bootstrap") with
    OLS models on the same covariates and DEX × mediator interaction; its summary table (estimate, 95% CI, p).
    `with_mcse=True` also returns the Monte-Carlo SE of each estimate and bound (from its draws).
    """
    if data.weighted:
        raise ValueError("statsmodels Mediation has no likelihood weights; use an unweighted sample")
    covariates = pd.DataFrame(data.covariates, columns=[f"x{j}" for j in range(data.covariates.shape[1])])
    mediator = data.mediator - data.mediator_center
    outcome_exog = pd.concat([pd.DataFrame({"const": 1.0, "dex": data.dex, "mediator": mediator,
                                            "dex:mediator": data.dex * mediator}), covariates], axis=1)
    mediator_exog = pd.concat([pd.DataFrame({"const": 1.0, "dex": data.dex}), covariates], axis=1)
    y = pd.Series(data.outcomes[:, OUTCOMES.index(outcome)], name=outcome)
    outcome_model = _InteractionOLS(y, outcome_exog)
    mediator_model = sm.OLS(pd.Series(mediator, name="mediator"), mediator_exog)
    result = Mediation(outcome_model, mediator_model, "dex", "mediator").fit(
        method=method, n_rep=n_rep, rng=np.random.default_rng(seed))
    if not with_mcse:
        return result.summary()
    draws = {"ACME (control)": result.ACME_ctrl, "ACME (treated)": result.ACME_tx,
             "ADE (control)": result.ADE_ctrl, "ADE (treated)": result.ADE_tx, "Total effect": result.total_effect,
             "Prop. mediated (control)": result.prop_med_ctrl, "Prop. mediated (treated)": result.prop_med_tx,
             "ACME (average)": result.ACME_avg, "ADE (average)": result.ADE_avg,
             "Prop. mediated (average)": result.prop_med_avg}
    # statsmodels' estimate is the mean of its independent draws, its bounds their 2.5% / 97.5% quantiles
    mcse = pd.DataFrame({name: {"Estimate": mc.mcse_mean(v), "Lower CI bound": mc.mcse_quantile(v, 0.025),
                                "Upper CI bound": mc.mcse_quantile(v, 0.975)} for name, v in draws.items()}).T
    return result.summary(), mcse


def statsmodels_fits(data: MediationData, *, n_rep: int = 1000, seed: int = 0,
                     method: str = "parametric") -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """`statsmodels_mediation` for every outcome (same seed for each): ({outcome: summary table},
    {outcome: its Monte-Carlo SE table}), the two arguments `comparison_table` takes."""
    fits = {outcome: statsmodels_mediation(data, outcome, n_rep=n_rep, seed=seed, method=method, with_mcse=True)
            for outcome in OUTCOMES}
    return ({outcome: table for outcome, (table, _) in fits.items()},
            {outcome: errors for outcome, (_, errors) in fits.items()})


COMPARED = {"acme_treated": "ACME (treated)", "acme_control": "ACME (control)", "ade_control": "ADE (control)",
            "ade_treated": "ADE (treated)", "total": "Total effect",
            "proportion_mediated": "Prop. mediated (average)"}


def comparison_table(idata: az.InferenceData, statsmodels_tables: dict[str, pd.DataFrame],
                     truth: dict | None = None, *, mcse: tuple[pd.DataFrame, dict] | None = None):
    """Posterior median [95% CrI] next to statsmodels' estimate [95% CI] (and the simulation truth).

    `mcse=(effects_mcse(idata), {outcome: statsmodels MCSE table})` also returns a table of the Monte-Carlo SE
    of every number (0 for the truth), for `reproducibility.record_table`."""
    if mcse is not None:
        table = comparison_table(idata, statsmodels_tables, truth)
        post, sm_mcse = mcse
        rows = []
        for outcome in OUTCOMES:
            for estimand, sm_name in COMPARED.items():
                row = {"posterior median": post.loc[(outcome, estimand), "median"],
                       "CrI 2.5%": post.loc[(outcome, estimand), "ci95_low"],
                       "CrI 97.5%": post.loc[(outcome, estimand), "ci95_high"]}
                if outcome in sm_mcse:
                    row.update({"statsmodels": sm_mcse[outcome].loc[sm_name, "Estimate"],
                                "CI 2.5%": sm_mcse[outcome].loc[sm_name, "Lower CI bound"],
                                "CI 97.5%": sm_mcse[outcome].loc[sm_name, "Upper CI bound"]})
                if truth is not None:
                    row["truth"] = 0.0
                rows.append(row)
        errors = pd.DataFrame(rows, index=table.index)
        errors.insert(0, "outcome", np.nan)
        errors.insert(1, "estimand", np.nan)
        return table, errors
    names = {"acme_treated": "ACME (treated)", "acme_control": "ACME (control)", "ade_control": "ADE (control)",
             "ade_treated": "ADE (treated)", "total": "Total effect",
             "proportion_mediated": "Prop. mediated (average)"}
    summary = effects_summary(idata)
    rows = []
    for outcome in OUTCOMES:
        sm_table = statsmodels_tables.get(outcome)
        for estimand, sm_name in names.items():
            post = summary.loc[(outcome, estimand)]
            row = {"outcome": outcome, "estimand": ESTIMAND_LABELS[estimand],
                   "posterior median": post["median"], "CrI 2.5%": post["ci95_low"],
                   "CrI 97.5%": post["ci95_high"]}
            if sm_table is not None:
                row.update({"statsmodels": float(sm_table.loc[sm_name, "Estimate"]),
                            "CI 2.5%": float(sm_table.loc[sm_name, "Lower CI bound"]),
                            "CI 97.5%": float(sm_table.loc[sm_name, "Upper CI bound"])})
            if truth is not None:
                row["truth"] = truth_value(truth, outcome, estimand)
            rows.append(row)
    return pd.DataFrame(rows)
