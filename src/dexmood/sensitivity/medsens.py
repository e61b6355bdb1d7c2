"""Mediation sensitivity (Imai, Keele & Yamamoto 2010; R ``mediation::medsens``, linear–linear case).

ACME(ρ) in closed form as a function of the correlation ρ between the mediator and outcome residuals, with a
95% band that **propagates** the uncertainty of the residual SDs σ_M and σ_Y|M as well as that of the slopes
(issue 16, point 4: medsens keeps the slope's SE fixed across ρ). `medsens_iterative` ports medsens' own
iterative SUR estimator, and `medsens_check` compares the two on the data at hand: a check that can fail
(the old "Theorem 2 check" compared an identity with itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from dexmood import cohort as cohort_mod
from dexmood import effects
from dexmood.errors import AnalysisNotPossible
from dexmood.sensitivity._common import MEDIATOR_COLUMN, Z95, prepared, require_columns


@dataclass(frozen=True)
class LinearMediationFit:
    """OLS fits of the mediator model M ~ T + X and the outcome model Y ~ T + M (+ T·M) + X.

    `sigma_m`, `sigma_y` are residual SDs with the same divisor (n), so that ACME(ρ̃) = 0 exactly;
    `rho_tilde` is corr(residual of M ~ T + X, residual of Y ~ T + X): the observed correlation that a
    confounder would have to account for (Imai, Keele & Yamamoto 2010, Theorem 2).
    """

    a: float
    a_se: float
    b: float
    b_se: float
    d: float
    d_se: float
    bd_cov: float
    sigma_m: float
    sigma_y: float
    rho_tilde: float
    n: int
    r2_m: float
    r2_y: float
    interaction: bool
    #: residual degrees of freedom of the mediator and outcome models (for the uncertainty of σ_M, σ_Y|M)
    df_m: int = 0
    df_y: int = 0


def _ols(y: np.ndarray, x: np.ndarray):
    return sm.OLS(y, x).fit()


def fit_linear_mediation(frame: pd.DataFrame, outcome: str, mediator: str = MEDIATOR_COLUMN,
                         covariates: list[str] | None = None, *, interaction: bool = False) -> LinearMediationFit:
    """The two linear models of R ``mediate``/``medsens`` on complete cases of `frame` (needs `dex`)."""
    data = prepared(frame)
    covariates = list(covariates) if covariates is not None else cohort_mod.baseline_covariates(data)
    columns = list(dict.fromkeys([outcome, mediator, "dex", *covariates]))
    require_columns(data, columns, "The mediation sensitivity analysis")
    data, _ = effects.complete_cases(data, columns)
    if data["dex"].nunique() < 2:
        raise AnalysisNotPossible("The mediation sensitivity analysis needs DEX and LA patients with the "
                                  "mediator and outcome observed.")
    x = effects.covariate_matrix(data, covariates).to_numpy()
    t = data["dex"].to_numpy(float)
    m = data[mediator].to_numpy(float)
    y = data[outcome].to_numpy(float)
    base = np.column_stack([np.ones(len(data)), t, x])
    mediator_fit = _ols(m, base)
    columns = [base[:, :2], m[:, None]] + ([(t * m)[:, None]] if interaction else []) + [x]
    outcome_design = np.column_stack(columns)
    n = len(data)
    if n <= outcome_design.shape[1] + 1:
        raise AnalysisNotPossible(f"The mediation sensitivity analysis needs more patients ({n}) than model "
                                  f"terms ({outcome_design.shape[1]}).")
    outcome_fit = _ols(y, outcome_design)
    reduced_fit = _ols(y, base)
    cov_y = np.asarray(outcome_fit.cov_params())
    return LinearMediationFit(
        a=float(mediator_fit.params[1]), a_se=float(mediator_fit.bse[1]),
        b=float(outcome_fit.params[2]), b_se=float(outcome_fit.bse[2]),
        d=float(outcome_fit.params[3]) if interaction else 0.0,
        d_se=float(outcome_fit.bse[3]) if interaction else 0.0,
        bd_cov=float(cov_y[2, 3]) if interaction else 0.0,
        sigma_m=float(np.sqrt(mediator_fit.ssr / n)), sigma_y=float(np.sqrt(outcome_fit.ssr / n)),
        rho_tilde=float(np.corrcoef(mediator_fit.resid, reduced_fit.resid)[0, 1]), n=n,
        r2_m=float(mediator_fit.rsquared), r2_y=float(outcome_fit.rsquared), interaction=interaction,
        df_m=int(mediator_fit.df_resid), df_y=int(outcome_fit.df_resid))


def mediator_slope_at_rho(b, sigma_m, sigma_y, rho):
    """Outcome-on-mediator slope once a residual correlation ρ is allowed: b − ρ σ_Y|M / (σ_M √(1 − ρ²)).

    The observed slope b absorbs the confounded part ρ σ_3 / σ_M of the structural slope, where σ_3 =
    σ_Y|M / √(1 − ρ²) is the structural residual SD. Vectorised over any argument (e.g. posterior draws).
    """
    rho = np.asarray(rho, dtype=float)
    if np.any(np.abs(rho) >= 1):
        raise ValueError("rho must lie strictly between -1 and 1")
    return b - rho * sigma_y / (sigma_m * np.sqrt(1.0 - rho**2))


def acme_at_rho(a, b, sigma_m, sigma_y, rho, d=0.0, treated: float = 0.0):
    """ACME(t) = a (b(ρ) + d t) (Imai, Keele & Yamamoto 2010, Theorem 2, with a T × M interaction d).

    Without interaction it equals a σ_1/σ_2 (ρ̃ − ρ √((1 − ρ̃²)/(1 − ρ²))), the form of the theorem.
    `treated` = t; use 0.5 for the average of ACME(0) and ACME(1).
    """
    return a * (mediator_slope_at_rho(b, sigma_m, sigma_y, rho) + d * treated)


def rho_at_zero_acme(b, sigma_m, sigma_y, d=0.0, treated: float = 0.0):
    """The ρ at which ACME(t) vanishes: k / √(1 + k²) with k = (b + d t) σ_M / σ_Y|M (vectorised).

    Without interaction this equals `rho_tilde` of the fitted models (the value medsens reports)."""
    k = (b + d * treated) * sigma_m / sigma_y
    return k / np.sqrt(1.0 + k**2)


#: ρ grid of `medsens` (medsens uses steps of 0.1 by default; finer here for the figure).
RHO_GRID = np.round(np.arange(-0.9, 0.9001, 0.01), 2)


@dataclass
class MedsensResult:
    """ACME(ρ) over a grid with approximate 95% CIs, and the ρ at which the ACME vanishes."""

    outcome: str
    fit: LinearMediationFit
    curve: pd.DataFrame
    rho_at_zero: float
    treated: float


def acme_se(fit: LinearMediationFit, rho, treated: float = 0.0, *, propagate_sigma: bool = True):
    """Delta-method SE of ACME(ρ) = a · s(ρ), s(ρ) = b − ρ r / √(1 − ρ²) + d t, r = σ_Y|M / σ_M.

    â is independent of (b̂, d̂) and both of the residual SDs (normal linear models; the outcome residuals are
    orthogonal to the mediator's); Var(log σ̂) ≈ 1 / (2 df) per model. With `propagate_sigma=False` the band
    is conditional on the SDs (as ``medsens``: the slope's SE does not change with ρ)."""
    rho = np.asarray(rho, dtype=float)
    ratio = fit.sigma_y / fit.sigma_m
    k = rho / np.sqrt(1.0 - rho**2)
    slope = fit.b - k * ratio + fit.d * treated
    slope_var = fit.b_se**2 + treated**2 * fit.d_se**2 + 2 * treated * fit.bd_cov
    if propagate_sigma and fit.df_m > 0 and fit.df_y > 0:
        slope_var = slope_var + (k * ratio) ** 2 * (0.5 / fit.df_m + 0.5 / fit.df_y)
    return np.sqrt(slope**2 * fit.a_se**2 + fit.a**2 * slope_var)


def medsens(frame: pd.DataFrame, outcome: str, mediator: str = MEDIATOR_COLUMN, covariates=None, *,
            interaction: bool = False, treated: float = 0.0, rho_grid=None) -> MedsensResult:
    """R ``mediation::medsens`` for the linear–linear case, in closed form, with two 95% bands: `ci_low` /
    `ci_high` propagate the uncertainty of σ_M and σ_Y|M (`acme_se`); `conditional_low` / `conditional_high`
    hold them fixed, as medsens does."""
    fit = fit_linear_mediation(frame, outcome, mediator, covariates, interaction=interaction)
    rho = RHO_GRID if rho_grid is None else np.asarray(rho_grid, dtype=float)
    acme = acme_at_rho(fit.a, fit.b, fit.sigma_m, fit.sigma_y, rho, fit.d, treated)
    se = acme_se(fit, rho, treated)
    fixed = acme_se(fit, rho, treated, propagate_sigma=False)
    curve = pd.DataFrame({"rho": rho, "acme": acme, "ci_low": acme - Z95 * se, "ci_high": acme + Z95 * se,
                          "conditional_low": acme - Z95 * fixed, "conditional_high": acme + Z95 * fixed})
    zero = float(rho_at_zero_acme(fit.b, fit.sigma_m, fit.sigma_y, fit.d, treated))
    return MedsensResult(outcome=outcome, fit=fit, curve=curve, rho_at_zero=zero, treated=treated)


def medsens_iterative(frame: pd.DataFrame, outcome: str, rho: float, mediator: str = MEDIATOR_COLUMN,
                      covariates=None, *, tolerance: float = float(np.sqrt(np.finfo(float).eps)),
                      max_iterations: int = 500) -> float:
    """ACME(ρ) by R ``mediation::medsens``' own algorithm (lm/lm, INT = FALSE), ported step by step: the two
    equations as a seemingly unrelated regression with the error correlation fixed at ρ, iterated feasible
    GLS until the squared change of the coefficients is below `tolerance`; returns d0 = a × b."""
    data = prepared(frame)
    covariates = list(covariates) if covariates is not None else cohort_mod.baseline_covariates(data)
    columns = list(dict.fromkeys([outcome, mediator, "dex", *covariates]))
    require_columns(data, columns, "The mediation sensitivity analysis")
    data, _ = effects.complete_cases(data, columns)
    x_cov = effects.covariate_matrix(data, covariates).to_numpy()
    n = len(data)
    t, m, y = (data[c].to_numpy(float) for c in ("dex", mediator, outcome))
    xm = np.column_stack([np.ones(n), t, x_cov])
    xy = np.column_stack([np.ones(n), t, m, x_cov])
    km = xm.shape[1]
    beta_m = np.linalg.lstsq(xm, m, rcond=None)[0]
    beta_y = np.linalg.lstsq(xy, y, rcond=None)[0]
    for _ in range(max_iterations):
        e1, e2 = m - xm @ beta_m, y - xy @ beta_y
        s1, s2 = np.std(e1, ddof=1), np.std(e2, ddof=1)
        omega = np.array([[e1 @ e1 / (n - 1), rho * s1 * s2], [rho * s1 * s2, e2 @ e2 / (n - 1)]])
        w = np.linalg.inv(omega)
        # (X' (Ω⁻¹ ⊗ I) X) β = X' (Ω⁻¹ ⊗ I) y, written block by block
        lhs = np.block([[w[0, 0] * xm.T @ xm, w[0, 1] * xm.T @ xy], [w[1, 0] * xy.T @ xm, w[1, 1] * xy.T @ xy]])
        rhs = np.concatenate([xm.T @ (w[0, 0] * m + w[0, 1] * y), xy.T @ (w[1, 0] * m + w[1, 1] * y)])
        new = np.linalg.solve(lhs, rhs)
        change = np.sum((new - np.concatenate([beta_m, beta_y])) ** 2)
        beta_m, beta_y = new[:km], new[km:]
        if change <= tolerance:
            break
    return float(beta_m[1] * beta_y[2])


#: ρ values of `medsens_check` (inside the range where medsens' iteration is well behaved).
CHECK_RHOS = (-0.4, -0.2, 0.2, 0.4)


def medsens_check(frame: pd.DataFrame, outcome: str, mediator: str = MEDIATOR_COLUMN, covariates=None,
                  rhos=CHECK_RHOS) -> pd.DataFrame:
    """The closed form against the port of medsens' iteration on these data, per ρ: both ACMEs and the
    difference relative to the ACME at ρ = 0 (`relative_difference`)."""
    result = medsens(frame, outcome, mediator, covariates, rho_grid=[0.0, *rhos])
    scale = abs(float(result.curve["acme"].iloc[0])) or 1.0
    rows = []
    for rho, closed in zip(result.curve["rho"].iloc[1:], result.curve["acme"].iloc[1:], strict=True):
        iterative = medsens_iterative(frame, outcome, float(rho), mediator, covariates)
        rows.append({"outcome": outcome, "rho": float(rho), "closed_form": float(closed), "iterative": iterative,
                     "relative_difference": abs(float(closed) - iterative) / scale})
    return pd.DataFrame(rows)
