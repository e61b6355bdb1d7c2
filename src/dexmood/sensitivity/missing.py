"""Missing follow-up: complete cases vs multiple imputation, and a δ-adjustment tipping point.

Imputed 1-month values are kept inside the instrument's range (a GAD-7 of 24 does not exist): every imputed
change, shifted or not, is clipped so that baseline + change lies in the scale (issue 16, point 4). The
tipping point searches δ only up to the full range of the scale; when no δ within it brings the CI to 0 the
result is "cannot tip within the scale", reported beside the share of patients imputed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from dexmood import cohort as cohort_mod
from dexmood import effects
from dexmood.errors import AnalysisNotPossible
from dexmood.sensitivity._common import OUTCOME_COLUMNS, OUTCOMES, direction, main_estimate, prepared
from dexmood.settings import SETTINGS, Settings

#: Number of imputed data sets.
N_IMPUTATIONS = 20
#: Order of sequential imputation: the mediator first, then the outcomes that may depend on it.
IMPUTATION_ORDER = ("nrs", "gad7", "phq9")


@dataclass
class Imputations:
    """`values[j]` is the j-th completed copy of the changes (rows = patients of `frame`, columns =
    `IMPUTATION_ORDER`); `missing` flags the imputed cells."""

    frame: pd.DataFrame
    values: np.ndarray
    missing: np.ndarray
    seed: int

    @property
    def m(self) -> int:
        return self.values.shape[0]

    def completed(self, j: int, delta: dict | None = None) -> pd.DataFrame:
        """Copy j as a data frame; `delta` {outcome: δ} adds δ to the imputed values of DEX patients."""
        out = self.frame.copy()
        dex = out["dex"].to_numpy() == 1
        for k, key in enumerate(IMPUTATION_ORDER):
            column = self.values[j, :, k].copy()
            if delta and key in delta:
                column[self.missing[:, k] & dex] += delta[key]
            low, high = change_bounds(out, key)
            imputed = self.missing[:, k]
            column[imputed] = np.clip(column[imputed], low[imputed], high[imputed])
            out[OUTCOME_COLUMNS[key]] = column
        return out


def change_bounds(frame: pd.DataFrame, key: str) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and largest possible change of `key` per patient: the 1-month score must lie in the
    instrument's range (`cohort.SCORE_RANGES`), so change ∈ [lo − baseline, hi − baseline]."""
    lo, hi = cohort_mod.SCORE_RANGES[key]
    baseline = frame[f"{key}_baseline"].to_numpy(float)
    return lo - baseline, hi - baseline


def impute_changes(frame: pd.DataFrame, covariates: list[str] | None = None, *, m: int = N_IMPUTATIONS,
                   seed: int = SETTINGS.seed) -> Imputations:
    """Proper multiple imputation of the 1-month changes by Bayesian linear regression (van Buuren 2018,
    Algorithm 3.1, "norm"), one outcome after the other in `IMPUTATION_ORDER`.

    Each model regresses the change on DEX, the baseline covariates and the changes imputed before it; per
    copy, σ² and β are drawn from their posterior (σ² = RSS / χ²_{n−p}, β ~ Normal(β̂, σ²(X'X)⁻¹)) and the
    missing values from Normal(Xβ, σ²). The follow-up visit is missing as a whole, so the pattern is
    monotone and one pass is exact. Values stay continuous (no rounding): the analysis model is linear.
    """
    data = prepared(frame).reset_index(drop=True)
    covariates = list(covariates) if covariates is not None else cohort_mod.baseline_covariates(data)
    # missing optional covariates: the imputation model uses the covariates complete in every patient
    covariates = [c for c in covariates if c in data and data[c].notna().all()]
    x = effects.covariate_matrix(data, covariates).to_numpy()
    base = np.column_stack([np.ones(len(data)), data["dex"].to_numpy(float), x])
    observed = np.column_stack([data[OUTCOME_COLUMNS[k]].to_numpy(float) for k in IMPUTATION_ORDER])
    missing = np.isnan(observed)
    rng = np.random.default_rng(seed)
    values = np.repeat(observed[None], m, axis=0)
    for j in range(m):
        for k in range(len(IMPUTATION_ORDER)):
            miss = missing[:, k]
            if not miss.any():
                continue
            design = np.column_stack([base, values[j, :, :k]])
            fit_rows = ~miss
            xo, yo = design[fit_rows], observed[fit_rows, k]
            if len(yo) <= design.shape[1] or np.linalg.matrix_rank(xo) < design.shape[1]:
                raise AnalysisNotPossible(f"Multiple imputation of {IMPUTATION_ORDER[k]} needs more observed "
                                          f"patients ({len(yo)}) than terms of its model ({design.shape[1]}).")
            xtx_inv = np.linalg.inv(xo.T @ xo)
            beta_hat = xtx_inv @ xo.T @ yo
            residual = yo - xo @ beta_hat
            df = len(yo) - design.shape[1]
            sigma2 = float(residual @ residual / rng.chisquare(df))
            beta = beta_hat + np.linalg.cholesky(xtx_inv * sigma2) @ rng.standard_normal(len(beta_hat))
            values[j, miss, k] = design[miss] @ beta + rng.normal(0.0, np.sqrt(sigma2), int(miss.sum()))
    return Imputations(frame=data, values=values, missing=missing, seed=seed)


def rubin_combine(estimates, variances, level: float = 0.95) -> dict:
    """Rubin's rules (Rubin 1987): pooled estimate, total variance T = W̄ + (1 + 1/m) B, degrees of freedom
    ν = (m − 1)(1 + W̄ / ((1 + 1/m) B))², t-based interval, and the fraction of missing information."""
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    m = len(q)
    if m < 2:
        raise ValueError("Rubin's rules need at least two imputations")
    estimate = float(q.mean())
    within = float(u.mean())
    between = float(q.var(ddof=1))
    total = within + (1 + 1 / m) * between
    if between > 0:
        r = (1 + 1 / m) * between / within
        df = (m - 1) * (1 + 1 / r) ** 2
        crit = float(stats.t.ppf(0.5 + level / 2, df))
        fmi = (r + 2 / (df + 3)) / (r + 1)
    else:
        df, crit, fmi = float("inf"), float(stats.norm.ppf(0.5 + level / 2)), 0.0
    se = float(np.sqrt(total))
    return {"estimate": estimate, "se": se, "ci_low": estimate - crit * se, "ci_high": estimate + crit * se,
            "df": float(df), "within": within, "between": between, "fmi": float(fmi), "m": m,
            # Monte-Carlo SE of the pooled estimate over m imputations (issue 20): √(B/m)
            "mcse": float(np.sqrt(between / m))}


def multiple_imputation_att(imputations: Imputations, matched_ids, outcome: str, *, delta: float = 0.0,
                            subclass_of: pd.Series | None = None) -> dict:
    """Matched ATT (`effects.matched_difference`, pair-cluster SE) in every completed copy, pooled by Rubin's
    rules. `matched_ids` are the patient_ids of the matched sample and `subclass_of` their pair ids (index =
    patient_id); `delta` shifts the imputed values of DEX patients (δ-adjustment, MNAR)."""
    frame = imputations.frame
    rows = frame["patient_id"].astype(str).isin(set(map(str, matched_ids))).to_numpy()
    pairs = subclass_of.rename(index=str)
    estimates, variances = [], []
    for j in range(imputations.m):
        completed = imputations.completed(j, {outcome: delta}).loc[rows].copy()
        completed["subclass"] = completed["patient_id"].astype(str).map(pairs).to_numpy()
        completed["weights"] = 1.0
        result = effects.matched_difference(completed, OUTCOME_COLUMNS[outcome])
        estimates.append(result.estimate)
        variances.append(result.se**2)
    return rubin_combine(estimates, variances)


@dataclass(frozen=True)
class TippingPoint:
    """The δ (score points, towards no effect) at which the pooled 95% CI of the matched ATT reaches 0.

    `delta` is inf when no δ up to `delta_max` (the scale's full range) tips the result ("cannot tip within
    the scale": imputed values are clipped to the scale, so larger shifts change nothing), and 0 when the
    CI already contains 0 without a shift."""

    delta: float
    delta_max: float
    share_imputed_dex: float

    @property
    def within_scale(self) -> bool:
        return bool(np.isfinite(self.delta))

    def text(self) -> str:
        if self.share_imputed_dex == 0:
            return "nothing to tip: no matched DEX patient has an imputed value"
        if self.delta == 0:
            return "the CI contains 0 without any shift"
        if not self.within_scale:
            return (f"cannot tip within the scale (δ up to {self.delta_max:g} points; "
                    f"{100 * self.share_imputed_dex:.0f}% of matched DEX patients imputed)")
        return f"δ = {self.delta:.1f} points ({100 * self.share_imputed_dex:.0f}% of matched DEX patients imputed)"


def delta_tipping_point(imputations: Imputations, matched_ids, outcome: str, subclass_of: pd.Series) -> TippingPoint:
    """The smallest shift δ of the imputed DEX values (clipped to the scale) at which the pooled 95% CI of
    the matched ATT reaches 0, searched up to the full range of the instrument."""
    lo, hi = cohort_mod.SCORE_RANGES[outcome]
    delta_max = float(hi - lo)
    frame = imputations.frame
    rows = frame["patient_id"].astype(str).isin(set(map(str, matched_ids))).to_numpy()
    dex = frame["dex"].to_numpy() == 1
    k = IMPUTATION_ORDER.index(outcome)
    share = float((imputations.missing[:, k] & rows & dex).sum() / max((rows & dex).sum(), 1))
    base = multiple_imputation_att(imputations, matched_ids, outcome, subclass_of=subclass_of)
    sign = direction(base["estimate"])

    def gap(delta: float) -> float:
        pooled = multiple_imputation_att(imputations, matched_ids, outcome, delta=-sign * delta,
                                         subclass_of=subclass_of)
        return pooled["ci_high"] if sign < 0 else -pooled["ci_low"]  # reaches 0 from below

    if gap(0.0) >= 0:
        return TippingPoint(0.0, delta_max, share)
    if gap(delta_max) < 0:
        return TippingPoint(float("inf"), delta_max, share)
    return TippingPoint(float(optimize.brentq(gap, 0.0, delta_max, xtol=1e-4)), delta_max, share)


def imputation_mcse(pooled: dict, tipping: TippingPoint) -> dict:
    """Monte-Carlo SEs (issue 20) of the multiple-imputation results: the pooled estimate √(B/m) (`rubin_combine`),
    the same for the CI limits (their half-width varies much less between imputation runs than their centre),
    and for the tipping δ that SE divided by the share of matched DEX patients imputed (a shift δ of the imputed
    values moves the pooled estimate by about share · δ); 0 when there is nothing to tip or no δ tips it."""
    se = pooled["mcse"]
    share = tipping.share_imputed_dex
    delta_se = se / share if share > 0 and np.isfinite(tipping.delta) and tipping.delta > 0 else 0.0
    return {"mi_estimate_mcse": se, "mi_ci_low_mcse": se, "mi_ci_high_mcse": se, "delta_tipping_mcse": delta_se}


def missing_data_table(frame: pd.DataFrame, matched: pd.DataFrame, covariates: list[str] | None = None, *,
                       m: int = N_IMPUTATIONS, settings: Settings = SETTINGS, outcomes=OUTCOMES) -> pd.DataFrame:
    """Per outcome: complete-case matched ATT next to the multiple-imputation one (imputation model fitted
    on the whole cohort `frame`, ATT in the matched sample) and the δ-adjustment tipping point."""
    data = prepared(matched)
    if "subclass" not in data:
        raise AnalysisNotPossible("The missing-data analysis needs the matched pairs (a `subclass` column).")
    imputations = impute_changes(frame, covariates, m=m, seed=settings.seed)
    ids = data["patient_id"].astype(str)
    pairs = pd.Series(data["subclass"].to_numpy(), index=ids)
    in_matched = imputations.frame["patient_id"].astype(str).isin(set(ids)).to_numpy()
    dex = imputations.frame["dex"].to_numpy() == 1
    rows = []
    for key in outcomes:
        k = IMPUTATION_ORDER.index(key)
        complete = main_estimate(data, key)
        tipping = delta_tipping_point(imputations, ids, key, pairs)
        pooled = multiple_imputation_att(imputations, ids, key, subclass_of=pairs)
        imputed = imputations.missing[:, k] & in_matched
        rows.append({"outcome": key, "cc_estimate": complete.estimate, "cc_ci_low": complete.ci_low,
                     "cc_ci_high": complete.ci_high, "cc_n": complete.n, "mi_estimate": pooled["estimate"],
                     "mi_ci_low": pooled["ci_low"], "mi_ci_high": pooled["ci_high"], "fmi": pooled["fmi"],
                     "imputed_dex": int((imputed & dex).sum()), "imputed_la": int((imputed & ~dex).sum()),
                     "delta_tipping": tipping.delta, "delta_max": tipping.delta_max,
                     "share_imputed_dex": tipping.share_imputed_dex, "tipping": tipping.text(),
                     **imputation_mcse(pooled, tipping)})
    return pd.DataFrame(rows)

