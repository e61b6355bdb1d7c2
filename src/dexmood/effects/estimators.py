"""The effect estimators: matched difference and regression, weighting (IPW, overlap, AIPW), group means."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from dexmood.effects.estimands import DEFAULT_BOOTSTRAP, DEFAULT_SEED, Estimate

# --------------------------------------------------------------------------------------------------
# Data preparation
# --------------------------------------------------------------------------------------------------

def complete_cases(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, int]:
    """Rows with no missing value in `columns`, and how many rows were dropped."""
    missing = [c for c in columns if c not in frame]
    if missing:
        raise KeyError(f"column{'s' * (len(missing) != 1)} not in the data: {', '.join(missing)}")
    keep = frame[columns].notna().all(axis=1)
    return frame.loc[keep].reset_index(drop=True), int((~keep).sum())


def covariate_matrix(frame: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """Numeric design columns for `covariates`: numbers as floats, categories as 0/1 dummies.

    The first level (sorted) of each category is the reference; columns constant in `frame` are dropped
    (they carry no information and would make the models singular).
    """
    blocks = []
    for column in covariates:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            blocks.append(series.astype(float).rename(column))
        else:
            levels = sorted(series.dropna().astype(str).unique())
            for level in levels[1:]:
                blocks.append((series.astype(str) == level).astype(float).rename(f"{column}[{level}]"))
    if not blocks:
        return pd.DataFrame(index=frame.index)
    matrix = pd.concat(blocks, axis=1)
    return matrix.loc[:, matrix.std(ddof=0) > 0]


def _cluster_codes(frame: pd.DataFrame, subclass: str | None) -> np.ndarray | None:
    if subclass is None:
        return None
    codes, _ = pd.factorize(frame[subclass].astype(str))
    return codes


def _fit_wls(y: np.ndarray, design: np.ndarray, weights: np.ndarray, clusters: np.ndarray | None):
    """WLS with pair-cluster-robust (CR1) or, without pairs, HC1 standard errors (normal-based CIs)."""
    model = sm.WLS(y, design, weights=weights)
    if clusters is not None:
        return model.fit(cov_type="cluster", cov_kwds={"groups": clusters})
    return model.fit(cov_type="HC1")


def _from_fit(fit, index: int, n: int, n_missing: int) -> Estimate:
    low, high = np.asarray(fit.conf_int(alpha=0.05))[index]
    return Estimate(float(np.asarray(fit.params)[index]), float(np.asarray(fit.bse)[index]), float(low),
                    float(high), n, n_missing)


def _weights(frame: pd.DataFrame, weights: str | None) -> np.ndarray:
    return np.ones(len(frame)) if weights is None else frame[weights].to_numpy(dtype=float)


# --------------------------------------------------------------------------------------------------
# 1–2: matched sample
# --------------------------------------------------------------------------------------------------

def matched_difference(frame: pd.DataFrame, outcome: str, *, weights: str | None = "weights",
                       subclass: str | None = "subclass") -> Estimate:
    """Weighted difference in means (DEX − LA) with pair-cluster-robust SE (MatchIt's recommended default).

    Regression of `outcome` on `dex` with the matching weights; standard errors clustered on the matched
    pair (`subclass`), CR1 small-sample factor G/(G−1)·(N−1)/(N−K) as R's `sandwich::vcovCL`.
    Without `subclass`, HC1 robust standard errors.
    """
    needed = [outcome, "dex"] + [c for c in (weights, subclass) if c]
    data, n_missing = complete_cases(frame, needed)
    design = sm.add_constant(data["dex"].to_numpy(dtype=float), has_constant="add")
    fit = _fit_wls(data[outcome].to_numpy(dtype=float), design, _weights(data, weights),
                   _cluster_codes(data, subclass))
    return _from_fit(fit, 1, len(data), n_missing)


def matched_regression(frame: pd.DataFrame, outcome: str, covariates: list[str], *,
                       weights: str | None = "weights", subclass: str | None = "subclass") -> Estimate:
    """Covariate-adjusted ATT by g-computation (MatchIt vignette), pair-cluster-robust SE.

    Fits `outcome ~ dex * (X − x̄_treated)`: with covariates centred at the (weighted) mean of the treated,
    the coefficient of `dex` equals the average over the treated of μ1(x) − μ0(x), and its standard error
    is the delta-method SE that treats the treated covariate means as fixed.
    """
    needed = [outcome, "dex", *covariates] + [c for c in (weights, subclass) if c]
    data, n_missing = complete_cases(frame, list(dict.fromkeys(needed)))
    w = _weights(data, weights)
    dex = data["dex"].to_numpy(dtype=float)
    x = covariate_matrix(data, covariates).to_numpy()
    treated = dex == 1
    x_centred = x - np.average(x[treated], axis=0, weights=w[treated])
    design = np.column_stack([np.ones(len(data)), dex, x_centred, dex[:, None] * x_centred])
    fit = _fit_wls(data[outcome].to_numpy(dtype=float), design, w, _cluster_codes(data, subclass))
    return _from_fit(fit, 1, len(data), n_missing)


# --------------------------------------------------------------------------------------------------
# 3: weighting on the full cohort
# --------------------------------------------------------------------------------------------------

def att_weights(dex: np.ndarray, propensity: np.ndarray) -> np.ndarray:
    """ATT weights: 1 for the treated, e/(1−e) for controls (they re-weight controls to the treated)."""
    dex, propensity = np.asarray(dex), np.asarray(propensity, dtype=float)
    return np.where(dex == 1, 1.0, propensity / (1.0 - propensity))


def overlap_weights(dex: np.ndarray, propensity: np.ndarray) -> np.ndarray:
    """Overlap weights (Li, Morgan & Zaslavsky 2018): 1−e for the treated, e for controls."""
    dex, propensity = np.asarray(dex), np.asarray(propensity, dtype=float)
    return np.where(dex == 1, 1.0 - propensity, propensity)


def weighted_difference(frame: pd.DataFrame, outcome: str, weights: np.ndarray | None = None) -> Estimate:
    """Weighted difference in means (DEX − LA) with HC1 robust SE, the weights treated as known.

    Rows with a missing outcome are dropped (complete cases); `weights` is aligned with `frame`.
    """
    w = np.ones(len(frame)) if weights is None else np.asarray(weights, dtype=float)
    if len(w) != len(frame):
        raise ValueError(f"weights has {len(w)} values but the data has {len(frame)} rows")
    keep = frame[outcome].notna().to_numpy()
    design = sm.add_constant(frame.loc[keep, "dex"].to_numpy(dtype=float), has_constant="add")
    fit = _fit_wls(frame.loc[keep, outcome].to_numpy(dtype=float), design, w[keep], None)
    return _from_fit(fit, 1, int(keep.sum()), int((~keep).sum()))


def ipw_att(frame: pd.DataFrame, outcome: str, propensity: np.ndarray) -> Estimate:
    """ATT by inverse-probability weighting of the controls (HC1 robust SE)."""
    return weighted_difference(frame, outcome, att_weights(frame["dex"], propensity))


def overlap_effect(frame: pd.DataFrame, outcome: str, propensity: np.ndarray) -> Estimate:
    """Average effect in the overlap population (ATO) by overlap weighting (HC1 robust SE)."""
    return weighted_difference(frame, outcome, overlap_weights(frame["dex"], propensity))


def _standardise(x: np.ndarray) -> np.ndarray:
    """Centre and scale columns (fitted probabilities and predictions do not change; solvers converge faster)."""
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def fit_logistic_propensity(x: np.ndarray, dex: np.ndarray) -> np.ndarray:
    """P(DEX | x) from an unpenalised main-effects logistic regression (scikit-learn, Newton–Cholesky)."""

    with warnings.catch_warnings():
        # a bootstrap resample can make a rare dummy constant; the fit is still usable
        warnings.simplefilter("ignore")
        model = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10, max_iter=200).fit(x, dex)
    return model.predict_proba(x)[:, 1]


def _least_squares(design: np.ndarray, y: np.ndarray) -> np.ndarray:
    try:  # normal equations are fast and accurate for a standardised design
        return np.linalg.solve(design.T @ design, design.T @ y)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(design, y, rcond=None)[0]


def _aipw_from_propensity(y: np.ndarray, dex: np.ndarray, x: np.ndarray, propensity: np.ndarray) -> float:
    """Doubly robust ATT with normalised weights (the form of Mercatanti & Li 2014).

    ATT = mean over treated of (Y − m0(X)) − weighted mean over controls of (Y − m0(X)), control weights
    e/(1−e), m0 = linear regression of Y on X among controls. Consistent if either model is right.
    """
    treated = dex == 1
    design = np.column_stack([np.ones(len(y)), x])
    residual = y - design @ _least_squares(design[~treated], y[~treated])
    w = propensity[~treated] / (1.0 - propensity[~treated])
    return float(residual[treated].mean() - np.sum(w * residual[~treated]) / np.sum(w))


def aipw_att_many(frame: pd.DataFrame, outcomes: dict[str, list[str]], propensity_covariates: list[str], *,
                  n_boot: int = DEFAULT_BOOTSTRAP, seed: int = DEFAULT_SEED) -> dict[str, Estimate]:
    """Augmented IPW estimates of the ATT for several outcomes, with one seeded nonparametric bootstrap.

    `outcomes` maps an outcome column to the covariates of its outcome model. The propensity model
    (main-effects logistic on `propensity_covariates`) is fitted on every patient with complete covariates,
    as for the IPW estimators; each outcome model on the complete cases of that outcome. Both are refitted
    in every replicate (patients resampled with replacement); the CI is the percentile interval and `se` the
    bootstrap SD. With `n_boot` < 2 only the point estimates are returned (SE and CI NaN).
    """
    all_covariates = list(dict.fromkeys([*propensity_covariates, *[c for v in outcomes.values() for c in v]]))
    data, _ = complete_cases(frame, ["dex", *all_covariates])
    dex = data["dex"].to_numpy(dtype=int)
    x_ps = _standardise(covariate_matrix(data, propensity_covariates).to_numpy())
    prepared = {}
    for column, covariates in outcomes.items():
        observed = data[column].notna().to_numpy()
        prepared[column] = (observed, data[column].to_numpy(dtype=float),
                            _standardise(covariate_matrix(data, covariates).to_numpy()))

    def estimates(rows: np.ndarray) -> list[float]:
        propensity = fit_logistic_propensity(x_ps[rows], dex[rows])
        out = []
        for observed, y, x in prepared.values():
            keep = observed[rows]
            sub = rows[keep]
            out.append(_aipw_from_propensity(y[sub], dex[sub], x[sub], propensity[keep]))
        return out

    point = estimates(np.arange(len(data)))
    n_dropped = len(frame) - len(data)
    counts = {column: (int(observed.sum()), int(n_dropped + (~observed).sum()))
              for column, (observed, _, _) in prepared.items()}
    nan = float("nan")
    if n_boot < 2:
        return {column: Estimate(value, nan, nan, nan, *counts[column]) for column, value in zip(outcomes, point,
                                                                                                  strict=True)}
    rng = np.random.default_rng(seed)
    replicates = np.array([estimates(rng.integers(0, len(data), len(data))) for _ in range(n_boot)])
    low, high = np.percentile(replicates, [2.5, 97.5], axis=0)
    sd = replicates.std(axis=0, ddof=1)
    return {column: Estimate(point[k], float(sd[k]), float(low[k]), float(high[k]), *counts[column])
            for k, column in enumerate(outcomes)}


def aipw_att(frame: pd.DataFrame, outcome: str, covariates: list[str], *, n_boot: int = DEFAULT_BOOTSTRAP,
             seed: int = DEFAULT_SEED) -> Estimate:
    """Augmented IPW estimate of the ATT for one outcome (propensity and outcome models on `covariates`)."""
    return aipw_att_many(frame, {outcome: covariates}, covariates, n_boot=n_boot, seed=seed)[outcome]


# --------------------------------------------------------------------------------------------------
# 4: per-group means (the paper's presentation)
# --------------------------------------------------------------------------------------------------

def group_means(frame: pd.DataFrame, outcome: str, weights: str | None = None) -> pd.DataFrame:
    """Per-group (DEX, LA) mean of `outcome` with a 95% t interval, complete cases.

    With `weights` the mean and interval are weighted (statsmodels DescrStatsW; unit weights give the
    usual t interval mean ± t(n−1)·s/√n).
    """
    rows = []
    for group, dex in (("DEX", 1), ("LA", 0)):
        subset = frame.loc[frame["dex"] == dex]
        data, n_missing = complete_cases(subset, [outcome] + ([weights] if weights else []))
        describe = DescrStatsW(data[outcome].to_numpy(dtype=float), weights=_weights(data, weights))
        low, high = describe.tconfint_mean(alpha=0.05)
        rows.append({"group": group, "n": len(data), "n_missing": n_missing, "mean": float(describe.mean),
                     "sd": float(describe.std * np.sqrt(describe.sum_weights / (describe.sum_weights - 1))),
                     "ci_low": float(low), "ci_high": float(high)})
    return pd.DataFrame(rows)


def welch_difference(frame: pd.DataFrame, outcome: str, weights: str | None = None) -> Estimate:
    """Difference of the two group means with the unpaired Welch t interval (ignores the pairing)."""
    samples = []
    n_missing = 0
    for dex in (1, 0):
        data, dropped = complete_cases(frame.loc[frame["dex"] == dex], [outcome] + ([weights] if weights else []))
        n_missing += dropped
        samples.append(DescrStatsW(data[outcome].to_numpy(dtype=float), weights=_weights(data, weights)))
    compare = CompareMeans(*samples)
    low, high = compare.tconfint_diff(alpha=0.05, usevar="unequal")
    return Estimate(float(samples[0].mean - samples[1].mean), float(compare.std_meandiff_separatevar),
                    float(low), float(high), int(samples[0].nobs + samples[1].nobs), n_missing)
