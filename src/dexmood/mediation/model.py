"""The priors and the joint PyMC model of the mediator and both mood outcomes (see `dexmood.mediation`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from dexmood.mediation._common import OUTCOMES
from dexmood.mediation.data import MediationData


@dataclass(frozen=True)
class Priors:
    """Weakly informative priors on the score scale (changes are 1-month minus baseline).

    Every scale lets the data dominate while ruling out effects larger than the instruments allow:
    NRS runs 0–10, GAD-7 0–21, PHQ-9 0–27, so a change cannot exceed ±10, ±21, ±27.
    """

    #: NRS change in the LA group at the covariate means: 95% within ±6 of the 0–10 scale's points.
    mediator_intercept_sd: float = 3.0
    #: DEX effect on the NRS change: 95% within ±4 points, more than any analgesic adjunct shows.
    dex_on_mediator_sd: float = 2.0
    #: NRS change per SD of a covariate: 95% within ±1 point (11 covariates together can still move it a lot).
    mediator_covariate_sd: float = 0.5
    #: Residual SD of the NRS change (half-normal): 95% below 6 points.
    mediator_sigma_sd: float = 3.0
    #: Mood change in LA at the covariate means and the mean pain change: 95% within ±10 points.
    outcome_intercept_sd: float = 5.0
    #: Direct DEX effect c' on GAD-7 / PHQ-9 change: 95% within ±6 points (twice a large effect).
    direct_dex_sd: float = 3.0
    #: Mood points per NRS point of pain change (path b): 95% within ±2.
    mediator_on_outcome_sd: float = 1.0
    #: DEX × pain-change interaction d: 95% within ±1 point per NRS point.
    interaction_sd: float = 0.5
    #: Mood change per SD of a covariate: 95% within ±2 points.
    outcome_covariate_sd: float = 1.0
    #: Residual SD of the mood changes (half-normal): 95% below 10 points.
    outcome_sigma_sd: float = 5.0
    #: LKJ concentration of the 2×2 residual correlation (η = 2: (ρ + 1)/2 ~ Beta(2, 2)).
    lkj_eta: float = 2.0

    def table(self) -> pd.DataFrame:
        rows = [
            ("a0 (mediator intercept)", f"Normal(0, {self.mediator_intercept_sd:g})", "NRS points"),
            ("a (DEX → ΔNRS)", f"Normal(0, {self.dex_on_mediator_sd:g})", "NRS points"),
            ("γ_M (covariates → ΔNRS)", f"Normal(0, {self.mediator_covariate_sd:g})", "NRS points per SD"),
            ("σ_M", f"HalfNormal({self.mediator_sigma_sd:g})", "NRS points"),
            ("b0_k (outcome intercepts)", f"Normal(0, {self.outcome_intercept_sd:g})", "score points"),
            ("c'_k (direct DEX effect)", f"Normal(0, {self.direct_dex_sd:g})", "score points"),
            ("b_k (ΔNRS → Δmood)", f"Normal(0, {self.mediator_on_outcome_sd:g})", "score points per NRS point"),
            ("d_k (DEX × ΔNRS)", f"Normal(0, {self.interaction_sd:g})", "score points per NRS point"),
            ("γ_k (covariates → Δmood)", f"Normal(0, {self.outcome_covariate_sd:g})", "score points per SD"),
            ("σ_k", f"HalfNormal({self.outcome_sigma_sd:g})", "score points"),
            ("ρ_Y (GAD-7/PHQ-9 residuals)", f"LKJ(η = {self.lkj_eta:g})", "correlation"),
        ]
        return pd.DataFrame(rows, columns=["parameter", "prior", "unit"])


def _rho_vector(mediator_outcome_rho) -> np.ndarray:
    rho = np.zeros(len(OUTCOMES)) if mediator_outcome_rho is None else np.broadcast_to(
        np.asarray(mediator_outcome_rho, dtype=float), (len(OUTCOMES),)).copy()
    if np.any(np.abs(rho) >= 1):
        raise ValueError("mediator_outcome_rho must lie strictly between -1 and 1")
    return rho


def build_model(data: MediationData, priors: Priors | None = None, *, mediator_outcome_rho=None):
    """The joint PyMC model (see `dexmood.mediation`). All data are `pm.Data` (re-usable via `set_data`).

    `mediator_outcome_rho` (scalar or one value per outcome) fixes corr(mediator residual, outcome residual)
    for a sensitivity analysis; None (= 0) is sequential ignorability. With ρ ≠ 0 the outcome residual is
    split as ρ·σ_k/σ_M·ε_M + sqrt(1 − ρ²)·σ_k·u_k, which keeps σ_k the marginal residual SD and the
    3 × 3 residual covariance positive definite for every ρ in (−1, 1).
    """
    priors = priors or Priors()
    coords = {"outcome": list(OUTCOMES), "covariate": data.covariate_columns}
    with pm.Model(coords=coords) as model:
        dex = pm.Data("dex", data.dex)
        covariates = pm.Data("covariates", data.covariates)
        mediator = pm.Data("mediator", data.mediator)
        outcomes = pm.Data("outcomes", data.outcomes)
        # 1/√w as data: a weighted normal row is N(μ, σ/√w) (see below)
        inv_root_w = pm.Data("inverse_root_weights", 1.0 / np.sqrt(data.weights))
        mediator_center = pm.Data("mediator_center", data.mediator_center)
        rho = pm.Data("mediator_outcome_rho", _rho_vector(mediator_outcome_rho))
        extra_weight = pm.Data("extra_weight", data.extra_weight)  # Σw − n

        a0 = pm.Normal("mediator_intercept", 0.0, priors.mediator_intercept_sd)
        a = pm.Normal("dex_on_mediator", 0.0, priors.dex_on_mediator_sd)
        gamma_m = pm.Normal("mediator_covariates", 0.0, priors.mediator_covariate_sd, dims="covariate")
        sigma_m = pm.HalfNormal("mediator_sigma", priors.mediator_sigma_sd)

        b0 = pm.Normal("outcome_intercept", 0.0, priors.outcome_intercept_sd, dims="outcome")
        c = pm.Normal("direct_dex", 0.0, priors.direct_dex_sd, dims="outcome")
        b = pm.Normal("mediator_on_outcome", 0.0, priors.mediator_on_outcome_sd, dims="outcome")
        d = pm.Normal("dex_x_mediator", 0.0, priors.interaction_sd, dims="outcome")
        gamma_y = pm.Normal("outcome_covariates", 0.0, priors.outcome_covariate_sd,
                            dims=("covariate", "outcome"))
        sigma_y = pm.HalfNormal("outcome_sigma", priors.outcome_sigma_sd, dims="outcome")
        # LKJ(η) for a 2 × 2 correlation is (ρ + 1)/2 ~ Beta(η, η)
        corr_unit = pm.Beta("residual_corr_unit", priors.lkj_eta, priors.lkj_eta)
        residual_corr = pm.Deterministic("residual_corr", 2.0 * corr_unit - 1.0)

        # Weighted likelihood (each row's log-density times w_i): for a normal density,
        # w·log N(y | μ, σ) = log N(y | μ, σ/√w) − (w − 1)·log σ + const, so the observed nodes use σ/√w
        # and one scalar Potential adds −(Σw − n)·log σ (zero when unweighted). Cheaper than a per-row
        # Potential, which would differentiate the likelihood twice.

        mu_m = a0 + a * dex + pt.dot(covariates, gamma_m)
        pm.Normal("mediator_obs", mu_m, sigma_m * inv_root_w, observed=mediator)

        m_c = (mediator - mediator_center)[:, None]
        mu_y = (b0 + c * dex[:, None] + (b + d * dex[:, None]) * m_c + pt.dot(covariates, gamma_y)
                + rho * sigma_y / sigma_m * (mediator - mu_m)[:, None])
        conditional_sd = sigma_y * pt.sqrt(1.0 - rho**2)
        # The bivariate normal of (ΔGAD-7, ΔPHQ-9) written as GAD-7, then PHQ-9 given GAD-7: the same
        # likelihood as MvNormal, cheaper to differentiate, and posterior predictive draws keep ρ_Y.
        phq9_sd = conditional_sd[1] * pt.sqrt(1.0 - residual_corr**2)
        gad7_obs = pm.Normal("gad7_obs", mu_y[:, 0], conditional_sd[0] * inv_root_w, observed=outcomes[:, 0])
        phq9_mean = mu_y[:, 1] + residual_corr * conditional_sd[1] / conditional_sd[0] * (gad7_obs - mu_y[:, 0])
        pm.Normal("phq9_obs", phq9_mean, phq9_sd * inv_root_w, observed=outcomes[:, 1])
        pm.Potential("weight_adjustment",
                     -extra_weight * (pt.log(sigma_m) + pt.log(conditional_sd[0]) + pt.log(phq9_sd)))
    return model
