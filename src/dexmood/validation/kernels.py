"""Fast NumPy kernels of the book's estimators, for thousands of simulated replicates.

One replicate through the pandas/statsmodels code of notebooks 02–04 costs about 0.1 s, too slow for a
simulation study inside a book build. These kernels compute the same numbers – Newton–Raphson for the
logistic propensity model, closed-form sandwich variances, the closed-form natural effects of the two
linear mediation models – and `kernel_match` calls `matching.match_on_distance` itself. Every name starts
with ``kernel_`` so it cannot be mistaken for its `dexmood.effects` counterpart; `validation.reference`
runs replicates through both paths and the tests require agreement to rounding error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from dexmood import matching
from dexmood.errors import MatchingError
from dexmood.settings import SETTINGS

Z95 = float(stats.norm.ppf(0.975))


def kernel_fit_logit(design: np.ndarray, treated: np.ndarray, *, tol: float = 1e-10, max_iter: int = 50) -> np.ndarray:
    """Maximum-likelihood logistic regression by Newton–Raphson (the model of `matching.fit_propensity`,
    whose statsmodels fit uses the same algorithm); returns the coefficients. ``design`` has the intercept."""
    y = np.asarray(treated, dtype=float)
    beta = np.zeros(design.shape[1])
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        hessian = (design * (p * (1.0 - p))[:, None]).T @ design
        gradient = design.T @ (y - p)
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:  # a bootstrap resample can make a dummy column constant
            step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return beta


def kernel_inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric cross-product matrix; the pseudo-inverse (as statsmodels uses) if singular."""
    try:
        return np.linalg.inv(matrix)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(matrix)


def kernel_sandwich_coef(y: np.ndarray, design: np.ndarray, weights: np.ndarray | None = None,
                         clusters: np.ndarray | None = None, index: int = 1) -> tuple[float, float]:
    """WLS coefficient `index` and its robust SE as statsmodels computes them: HC1 without clusters, CR1
    (factor G/(G−1)·(N−1)/(N−K), as `sandwich::vcovCL`) with cluster codes 0..G−1."""
    n, k = design.shape
    weighted = design if weights is None else design * weights[:, None]
    bread = kernel_inverse(weighted.T @ design)
    coef = bread @ (weighted.T @ y)
    scores = weighted * (y - design @ coef)[:, None]  # w_i e_i x_i
    if clusters is None:
        meat = scores.T @ scores * (n / (n - k))
    else:
        order = np.argsort(clusters, kind="stable")
        sorted_codes = clusters[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        summed = np.add.reduceat(scores[order], starts, axis=0)  # one score sum per cluster
        g = len(starts)
        meat = summed.T @ summed * (g / (g - 1)) * ((n - 1) / (n - k))
    row = bread[index]
    return float(coef[index]), float(np.sqrt(row @ meat @ row))


def drop_constant(x: np.ndarray) -> np.ndarray:
    """Drop columns constant in this sample (as `effects.covariate_matrix` does)."""
    return x[:, x.std(axis=0) > 0]


def wald_row(estimate: float, se: float) -> tuple[float, float, float, float]:
    """(estimate, se, lower, upper) of the 95% Wald interval."""
    return estimate, se, estimate - Z95 * se, estimate + Z95 * se


def kernel_matched_difference(y, dex, pair):
    """`effects.matched_difference` on a 1:1 matched sample (all weights 1), complete cases."""
    design = np.column_stack([np.ones(len(y)), dex])
    return wald_row(*kernel_sandwich_coef(y, design, clusters=pair))


def kernel_matched_regression(y, dex, x, pair):
    """`effects.matched_regression`: outcome ~ dex * (X − mean of treated X), pair-cluster SE."""
    x = drop_constant(x)
    centred = x - x[dex == 1].mean(axis=0)
    design = np.column_stack([np.ones(len(y)), dex, centred, dex[:, None] * centred])
    return wald_row(*kernel_sandwich_coef(y, design, clusters=pair))


def kernel_weighted_difference(y, dex, weights=None):
    """`effects.weighted_difference`: weighted difference in means with HC1 SE (weights treated as known)."""
    design = np.column_stack([np.ones(len(y)), dex])
    return wald_row(*kernel_sandwich_coef(y, design, weights=weights))


def _aipw_point(y, treated, x, propensity) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """ATT = mean over treated of R − (e/(1−e))-weighted mean over controls of R, R = Y − m0(X)."""
    design = np.column_stack([np.ones(len(y)), drop_constant(x)])
    controls = design[~treated]
    coef = kernel_inverse(controls.T @ controls) @ (controls.T @ y[~treated])
    residual = y - design @ coef
    w = propensity[~treated] / (1.0 - propensity[~treated])
    mean_c = np.sum(w * residual[~treated]) / np.sum(w)
    return float(residual[treated].mean() - mean_c), residual, w, mean_c


def kernel_aipw_att(y, dex, x, propensity):
    """`effects.aipw_att` point estimate with the plug-in influence-function (sandwich) SE.

    Var = Σ_T (R − R̄_T)²/n_T² + Σ_C w²(R − R̄_w)²/(Σ_C w)² (nuisances treated as known; the ATT score is
    Neyman-orthogonal, so their estimation does not change the first-order variance when both models are right).
    """
    treated = dex == 1
    estimate, residual, w, mean_c = _aipw_point(y, treated, x, propensity)
    r_t, r_c = residual[treated], residual[~treated]
    variance = np.sum((r_t - r_t.mean()) ** 2) / len(r_t) ** 2 + np.sum(w**2 * (r_c - mean_c) ** 2) / np.sum(w) ** 2
    return wald_row(estimate, float(np.sqrt(variance)))


def _batched_solve(matrices: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Solve a batch of symmetric systems; the pseudo-inverse if one is singular (a resample can make a
    dummy column constant: the fitted values are then the same as with the column dropped)."""
    try:
        return np.linalg.solve(matrices, vectors[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return (np.linalg.pinv(matrices, hermitian=True) @ vectors[..., None])[..., 0]


def _weighted_gram(weights: np.ndarray, design: np.ndarray) -> np.ndarray:
    """X' diag(w_b) X for every row w_b of `weights` (batched matrix product)."""
    return np.matmul(design.T[None, :, :] * weights[:, None, :], design)


# A nearly separated bootstrap resample overflows exp(η); its replicate becomes NaN and is counted as a failed
# interval by the study, so the floating-point warnings carry no information (and would print absolute paths).
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def kernel_aipw_att_weighted(outcomes: dict[str, np.ndarray], dex, x, counts: np.ndarray, *,
                             start: np.ndarray | None = None, tol: float = 1e-10, max_iter: int = 50) -> np.ndarray:
    """AIPW ATT estimates for a batch of resamples given as frequency weights `counts` (draws × patients):
    the same numbers as refitting both models on the resampled rows (a row drawn k times has weight k).
    The propensity model is fitted on every patient, each outcome model on its complete cases. Returns an
    array draws × outcomes. `start`: propensity coefficients to start Newton–Raphson from (e.g. the
    full-sample fit; the maximum is the same, it is only reached in fewer steps)."""
    treated = dex == 1
    design = np.column_stack([np.ones(len(dex)), x])
    counts = np.asarray(counts, dtype=float)
    beta = np.zeros((len(counts), design.shape[1])) if start is None else np.tile(start, (len(counts), 1))
    for _ in range(max_iter):  # batched Newton–Raphson with frequency weights
        p = 1.0 / (1.0 + np.exp(-(beta @ design.T)))
        hessian = _weighted_gram(counts * p * (1.0 - p), design)
        step = _batched_solve(hessian, (counts * (treated - p)) @ design)
        beta += step
        if np.max(np.abs(step)) < tol:
            break
    eta = beta @ design.T
    odds = np.exp(eta)  # e / (1 − e)
    out = []
    for y in outcomes.values():
        observed = ~np.isnan(y)
        y0 = np.where(observed, y, 0.0)
        w_fit = counts * (observed & ~treated)  # outcome model among observed controls
        coef = _batched_solve(_weighted_gram(w_fit, design), (w_fit * y0) @ design)
        residual = y0[None, :] - coef @ design.T
        w_t = counts * (observed & treated)
        w_c = w_fit * odds
        out.append(np.sum(w_t * residual, axis=1) / np.sum(w_t, axis=1)
                   - np.sum(w_c * residual, axis=1) / np.sum(w_c, axis=1))
    return np.column_stack(out)


def kernel_aipw_att_bootstrap(outcomes: dict[str, np.ndarray], dex, x, *, n_boot: int,
                              rng: np.random.Generator) -> dict[str, tuple[float, float, float, float]]:
    """`effects.aipw_att_many`'s percentile bootstrap: patients resampled with replacement, the propensity
    model (on every patient) and each outcome model (complete cases of that outcome) refitted per draw.
    Returns {outcome: (point, bootstrap SD, 2.5th, 97.5th percentile)}; the point uses the full sample."""
    n = len(dex)
    point = kernel_aipw_att_weighted(outcomes, dex, x, np.ones((1, n)))[0]
    full_fit = kernel_fit_logit(np.column_stack([np.ones(n), x]), dex)
    rows = rng.integers(0, n, (n_boot, n))
    counts = np.bincount((np.arange(n_boot)[:, None] * n + rows).ravel(), minlength=n_boot * n).reshape(n_boot, n)
    draws = kernel_aipw_att_weighted(outcomes, dex, x, counts, start=full_fit)
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    sd = draws.std(axis=0, ddof=1)
    return {name: (float(point[k]), float(sd[k]), float(low[k]), float(high[k])) for k, name in enumerate(outcomes)}


def kernel_ols(y: np.ndarray, design: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients and their classical covariance σ̂²(X'X)⁻¹ (statsmodels' default)."""
    n, k = design.shape
    xtx_inv = kernel_inverse(design.T @ design)
    coef = xtx_inv @ (design.T @ y)
    residual = y - design @ coef
    return coef, xtx_inv * (residual @ residual / (n - k))


def kernel_mediation_delta(mediator: np.ndarray, outcome: np.ndarray, dex: np.ndarray, x: np.ndarray) -> dict:
    """Natural effects from the book's two linear models, with delta-method SEs.

    Mediator model M = a0 + a·T + Xγ; outcome model Y = b0 + c'·T + (b + d·T)(M − m̄) + Xγ_Y (m̄ = sample
    mean of M). G-computation over the sample gives closed forms: ACME(t) = a(b + d·t),
    ADE(t) = c' + d(μ_M(t) − m̄) with μ_M(t) = a0 + a·t + X̄γ, total = ACME(1) + ADE(0), proportion
    mediated = mean(ACME(0), ACME(1)) / total. The two models are fitted separately, so their estimates are
    independent and Var = g_Mᵀ V_M g_M + g_Yᵀ V_Y g_Y (classical OLS covariances, as statsmodels `Mediation`
    draws from). Returns {estimand: (estimate, se)}.
    """
    x = drop_constant(x)
    n, p = x.shape
    ones = np.ones(n)
    theta_m, cov_m = kernel_ols(mediator, np.column_stack([ones, dex, x]))
    centred = mediator - mediator.mean()
    theta_y, cov_y = kernel_ols(outcome, np.column_stack([ones, dex, centred, dex * centred, x]))
    a = theta_m[1]
    x_bar = x.mean(axis=0)
    u0 = theta_m[0] + x_bar @ theta_m[2:] - mediator.mean()  # μ_M(0) − m̄
    c, b, d = theta_y[1], theta_y[2], theta_y[3]

    def grads(da=0.0, du0=0.0, dc=0.0, db=0.0, dd=0.0):
        g_m = np.zeros(2 + p)
        g_m[1] = da
        g_m[0] = du0
        g_m[2:] = du0 * x_bar
        g_y = np.zeros(len(theta_y))
        g_y[1], g_y[2], g_y[3] = dc, db, dd
        return g_m, g_y

    acme_treated = a * (b + d)
    ade_control = c + d * u0
    total = acme_treated + ade_control
    acme_average = a * (b + d / 2)
    parts = {
        "acme_treated": (acme_treated, grads(da=b + d, db=a, dd=a)),
        "ade_control": (ade_control, grads(du0=d, dc=1.0, dd=u0)),
        "total": (total, grads(da=b + d, du0=d, dc=1.0, db=a, dd=a + u0)),
    }
    g_avg_m, g_avg_y = grads(da=b + d / 2, db=a, dd=a / 2)
    g_tot_m, g_tot_y = parts["total"][1]
    parts["proportion_mediated"] = (acme_average / total,
                                    ((g_avg_m * total - acme_average * g_tot_m) / total**2,
                                     (g_avg_y * total - acme_average * g_tot_y) / total**2))
    return {name: (float(value), float(np.sqrt(g_m @ cov_m @ g_m + g_y @ cov_y @ g_y)))
            for name, (value, (g_m, g_y)) in parts.items()}


@dataclass
class MatchedSample:
    """What the pipeline keeps of matching: logit PS, the matched rows and their pair ids."""

    logit: np.ndarray
    rows: np.ndarray  # matched rows (treated, then controls)
    pair: np.ndarray  # pair id of each matched row (0..pairs−1)
    pairs: int


def kernel_match(x: np.ndarray, dex: np.ndarray, caliper_sd: float = SETTINGS.caliper_sd) -> MatchedSample:
    """`matching.default_match`: logistic PS on the propensity terms `x` (`Replicate.propensity_matrix`), 1:1
    greedy nearest neighbour on the logit,
    no replacement, caliper `caliper_sd` × SD of the logit, largest PS first (`match_on_distance`)."""
    design = np.column_stack([np.ones(len(dex)), x])
    logit = design @ kernel_fit_logit(design, dex)
    caliper = caliper_sd * float(np.std(logit, ddof=1))
    match_matrix = matching.match_on_distance(logit, dex, ratio=1, replace=False, caliper=caliper)
    rows_t = np.flatnonzero(dex)
    found = match_matrix[:, 0] >= 0
    pairs = int(found.sum())
    if pairs == 0:
        raise MatchingError("no treated patient has a control within the caliper")
    pair_id = np.arange(pairs)
    return MatchedSample(logit=logit, rows=np.concatenate([rows_t[found], match_matrix[found, 0]]),
                         pair=np.concatenate([pair_id, pair_id]), pairs=pairs)
