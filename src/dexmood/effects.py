"""Stage 3 – treatment effects of DEX on the 1-month change in anxiety, depression, pain and on satisfaction.

Estimators (each returns an `Estimate`; `estimate_effects` collects them in one tidy table):

1. `matched_difference` – difference in means in the matched sample, weighted regression of the outcome on
   group with pair-cluster-robust standard errors (MatchIt vignette "Estimating Effects After Matching";
   valid after matching without replacement, Abadie & Spiess 2022).
2. `matched_regression` – the same regression adjusted for the baseline score and the matching covariates,
   as g-computation of the ATT with treatment-by-covariate interactions (covariates centred at the matched
   treated mean, so the coefficient of `dex` is the ATT); pair-cluster-robust standard errors.
3. On the full cohort: `ipw_att` (treated 1, controls e/(1-e)), `overlap_effect` (overlap weights; target:
   the overlap population, Li, Morgan & Zaslavsky 2018), both with heteroskedasticity-robust (HC1) standard
   errors that treat the weights as known; and `aipw_att`, augmented IPW for the ATT with a seeded
   nonparametric bootstrap (propensity and outcome models refitted in every replicate).
4. `group_means` – per-group mean change with a 95% t interval (what Ren et al. 2025 report), and
   `welch_difference`, the unpaired difference of those means.

Plus a responder analysis (`responder_effects`: risk difference and ratio) and satisfaction as an ordinal
outcome (`ordinal_satisfaction`, proportional odds). Outcomes with a missing 1-month value are analysed as
complete cases; every estimate reports how many rows it dropped (`n_missing`).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from dexmood import cohort as cohort_mod
from dexmood import paths
from dexmood.settings import SETTINGS

#: Outcome key -> column analysed. Changes are 1-month minus baseline (negative = improvement).
OUTCOME_COLUMNS = {"gad7": "gad7_change", "phq9": "phq9_change", "nrs": "nrs_change",
                   "satisfaction": "satisfaction"}
OUTCOME_LABELS = {"gad7": "GAD-7 change", "phq9": "PHQ-9 change", "nrs": "NRS pain change",
                  "satisfaction": "Satisfaction (1–5)"}

#: Estimator key -> (label, sample, estimand). The order is the order of tables and the forest plot.
ESTIMATORS = {
    "matched_difference": ("1 Matched: difference in means", "matched", "ATT (matched treated)"),
    "matched_regression": ("2 Matched: covariate-adjusted (g-computation)", "matched", "ATT (matched treated)"),
    "ipw_att": ("3a Full cohort: ATT weights (IPW)", "full", "ATT"),
    "overlap": ("3b Full cohort: overlap weights", "full", "ATO (overlap population)"),
    "aipw_att": ("3c Full cohort: augmented IPW", "full", "ATT"),
    "welch_difference": ("4 Matched: difference of group means (Welch)", "matched", "ATT (matched treated)"),
    "naive_difference": ("Full cohort: unadjusted difference", "full", "none (confounded)"),
}
#: The estimator reported as the headline `effects` in results.json.
PRIMARY_ESTIMATOR = "matched_difference"
DEFAULT_BOOTSTRAP = SETTINGS.n_boot
DEFAULT_SEED = SETTINGS.seed
Z95 = stats.norm.ppf(0.975)

TIDY_COLUMNS = ["outcome", "estimator", "estimate", "ci_low", "ci_high", "se", "n", "n_missing", "label",
                "sample", "estimand", "note"]
#: What an outcome absent from a user's file is reported as, everywhere.
NOT_IN_DATA = "not in the data"


def available_outcomes(frame: pd.DataFrame, outcomes=tuple(OUTCOME_COLUMNS)) -> tuple[str, ...]:
    """The outcomes of `outcomes` that the frame can answer (the optional satisfaction may be absent)."""
    frame = prepare(frame)
    return tuple(k for k in outcomes if OUTCOME_COLUMNS[k] in frame and frame[OUTCOME_COLUMNS[k]].notna().any())


@dataclass(frozen=True)
class Estimate:
    """One effect estimate with its 95% CI, standard error and the number of rows used / dropped."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    n_missing: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------------
# Data preparation
# --------------------------------------------------------------------------------------------------

def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the change columns and `dex` (0/1) if they are not there yet (a cohort or matched frame)."""
    if "dex" in frame and all(c in frame for c in ("gad7_change", "phq9_change", "nrs_change")):
        return frame
    return cohort_mod.add_changes(frame)


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
    from sklearn.linear_model import LogisticRegression

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


# --------------------------------------------------------------------------------------------------
# Responders and satisfaction as an ordinal outcome
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResponderDefinition:
    """A clinically important improvement: a fall of at least `points`, or of at least `fraction` of baseline."""

    key: str
    outcome: str
    label: str
    source: str  # a references.bib key
    points: float | None = None
    fraction: float | None = None

    def flags(self, frame: pd.DataFrame) -> pd.Series:
        """True/False per patient (missing where the 1-month value is missing)."""
        change = frame[f"{self.outcome}_change"]
        baseline = frame[f"{self.outcome}_baseline"].astype(float)
        if self.points is not None:
            responder = change <= -self.points
        else:
            # a patient at 0 at baseline cannot improve: counted as a non-responder
            responder = (baseline > 0) & (change <= -self.fraction * baseline)
        return responder.astype("boolean").mask(change.isna())


#: Published minimal important differences (MID) and the conventional ≥50% response, per scale.
RESPONDER_DEFINITIONS = (
    ResponderDefinition("gad7_mid", "gad7", "GAD-7 fall ≥ 4 points (MCID)", "toussaint2020gad7mcid", points=4),
    ResponderDefinition("phq9_mid", "phq9", "PHQ-9 fall ≥ 5 points (MCID)", "lowe2004phq9monitoring", points=5),
    ResponderDefinition("nrs_mid", "nrs", "NRS fall ≥ 30% (clinically important)", "farrar2001nrs",
                        fraction=0.30),
    ResponderDefinition("gad7_half", "gad7", "GAD-7 fall ≥ 50%", "mcmillan2010phq9outcome", fraction=0.5),
    ResponderDefinition("phq9_half", "phq9", "PHQ-9 fall ≥ 50%", "mcmillan2010phq9outcome", fraction=0.5),
    ResponderDefinition("nrs_half", "nrs", "NRS fall ≥ 50% (substantial)", "dworkin2008immpact", fraction=0.5),
)


def risk_difference_ratio(frame: pd.DataFrame, flag: str, *, weights: str | None = "weights",
                          subclass: str | None = "subclass", cov_type: str | None = None
                          ) -> tuple[Estimate, Estimate, float, float]:
    """Risk difference and risk ratio of `flag` (True = responder), DEX vs LA.

    Both come from one weighted linear probability model `flag ~ dex` (pair-cluster-robust SE with
    `subclass`, else `cov_type`, default HC1). RD is the `dex` coefficient; the RR = p1/p0 gets a
    delta-method SE on the log scale, which for this saturated model equals the robust ("modified")
    Poisson regression of Zou (2004) and, with HC0, the textbook √(1/a − 1/n1 + 1/c − 1/n0).
    Returns (rd, rr, proportion DEX, proportion LA); `rr.se` is on the log scale.
    """
    needed = [flag, "dex"] + [c for c in (weights, subclass) if c]
    data, n_missing = complete_cases(frame, needed)
    y = data[flag].astype(float).to_numpy()
    design = sm.add_constant(data["dex"].to_numpy(dtype=float), has_constant="add")
    clusters = _cluster_codes(data, subclass)
    model = sm.WLS(y, design, weights=_weights(data, weights))
    if clusters is not None:
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": clusters})
    else:
        fit = model.fit(cov_type=cov_type or "HC1")
    n = len(data)
    rd = _from_fit(fit, 1, n, n_missing)
    w, dex = _weights(data, weights), data["dex"].to_numpy() == 1
    p_dex, p_la = np.average(y[dex], weights=w[dex]), np.average(y[~dex], weights=w[~dex])
    nan = float("nan")
    if min(p_dex, p_la) <= 0:  # the ratio is undefined with no responders in a group
        return rd, Estimate(nan, nan, nan, nan, n, n_missing), float(p_dex), float(p_la)
    gradient = np.array([1 / p_dex - 1 / p_la, 1 / p_dex])  # d log(p1/p0) / d(b0, b1)
    se_log = float(np.sqrt(gradient @ np.asarray(fit.cov_params()) @ gradient))
    log_rr = np.log(p_dex / p_la)
    rr = Estimate(float(np.exp(log_rr)), se_log, float(np.exp(log_rr - Z95 * se_log)),
                  float(np.exp(log_rr + Z95 * se_log)), n, n_missing)
    return rd, rr, float(p_dex), float(p_la)


def responder_effects(frame: pd.DataFrame, definitions=RESPONDER_DEFINITIONS, *,
                      weights: str | None = "weights", subclass: str | None = "subclass") -> pd.DataFrame:
    """Share of responders per group, risk difference and risk ratio (with 95% CIs) per definition.

    `se` of the ratio is on the log scale.
    """
    data = prepare(frame).copy()
    rows = []
    for definition in definitions:
        data["_responder"] = definition.flags(data)
        rd, rr, p_dex, p_la = risk_difference_ratio(data, "_responder", weights=weights, subclass=subclass)
        base = {"definition": definition.key, "outcome": definition.outcome, "label": definition.label,
                "source": definition.source, "share_dex": p_dex, "share_la": p_la, "n": rd.n,
                "n_missing": rd.n_missing}
        rows.append(base | {"measure": "risk difference", "estimate": rd.estimate, "ci_low": rd.ci_low,
                            "ci_high": rd.ci_high, "se": rd.se})
        rows.append(base | {"measure": "risk ratio", "estimate": rr.estimate, "ci_low": rr.ci_low,
                            "ci_high": rr.ci_high, "se": rr.se})
    return pd.DataFrame(rows)


def ordinal_satisfaction(frame: pd.DataFrame, outcome: str = "satisfaction", *,
                         weights: str | None = "weights", subclass: str | None = "subclass") -> Estimate:
    """Proportional-odds (ordered logit) odds ratio of higher satisfaction, DEX vs LA.

    statsmodels `OrderedModel` with `dex` as the only regressor; pair-cluster-robust SE with `subclass`.
    The estimate and CI are odds ratios; `se` is on the log-odds scale. OrderedModel has no case weights,
    so unequal matching weights are refused rather than silently ignored.
    """
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    needed = [outcome, "dex"] + [c for c in (weights, subclass) if c]
    data, n_missing = complete_cases(frame, needed)
    w = _weights(data, weights)
    if not np.allclose(w, w[0]):
        raise ValueError("ordinal_satisfaction: OrderedModel has no case weights; the matched sample has "
                         "unequal weights (use ratio=1 matching without replacement)")
    levels = sorted(data[outcome].unique())
    endog = pd.Series(pd.Categorical(data[outcome], categories=levels, ordered=True))
    model = OrderedModel(endog, data[["dex"]].astype(float), distr="logit")
    clusters = _cluster_codes(data, subclass)
    fit_kwargs = {"cov_type": "cluster", "cov_kwds": {"groups": clusters}} if clusters is not None else {}
    fit = model.fit(method="bfgs", disp=False, maxiter=1000, **fit_kwargs)
    log_or = _from_fit(fit, 0, len(data), n_missing)
    return Estimate(float(np.exp(log_or.estimate)), log_or.se, float(np.exp(log_or.ci_low)),
                    float(np.exp(log_or.ci_high)), len(data), n_missing)


# --------------------------------------------------------------------------------------------------
# All estimators together
# --------------------------------------------------------------------------------------------------

def outcome_covariates(covariates: list[str], outcome_key: str) -> list[str]:
    """The matching covariates plus the outcome's own baseline score (if it has one and it is missing)."""
    baseline = f"{outcome_key}_baseline"
    extra = [baseline] if outcome_key in cohort_mod.OUTCOMES and baseline not in covariates else []
    return list(covariates) + extra


def estimate_effects(matched: pd.DataFrame, full: pd.DataFrame, covariates: list[str],
                     propensity: np.ndarray | None = None, *, outcomes=tuple(OUTCOME_COLUMNS),
                     n_boot: int = DEFAULT_BOOTSTRAP, seed: int = DEFAULT_SEED,
                     weights: str = "weights", subclass: str = "subclass") -> pd.DataFrame:
    """Every estimator for every outcome, as one tidy table (see `TIDY_COLUMNS`).

    `matched`: the matched sample (with `weights`, `subclass`); `full`: the whole cohort; `propensity`:
    P(DEX) for the rows of `full` (default: a main-effects logistic fit on `covariates`).
    """
    matched, full = prepare(matched), prepare(full).reset_index(drop=True)
    if propensity is None:
        design, _ = complete_cases(full, covariates)
        if len(design) != len(full):
            raise ValueError("covariates have missing values; pass `propensity` for every row of `full`")
        propensity = fit_logistic_propensity(covariate_matrix(full, covariates).to_numpy(), full["dex"])
    propensity = np.asarray(propensity, dtype=float)
    if len(propensity) != len(full):
        raise ValueError(f"propensity has {len(propensity)} values but the cohort has {len(full)} rows")
    outcomes = available_outcomes(full, outcomes)
    aipw, aipw_note = _attempt(lambda: aipw_att_many(
        full, {OUTCOME_COLUMNS[key]: outcome_covariates(covariates, key) for key in outcomes}, covariates,
        n_boot=n_boot, seed=seed), "augmented IPW")
    if aipw_note:
        aipw = {OUTCOME_COLUMNS[key]: _failed(aipw_note) for key in outcomes}
    rows = []
    for key in outcomes:
        column = OUTCOME_COLUMNS[key]
        adjust = outcome_covariates(covariates, key)
        estimators = {
            "matched_difference": partial(matched_difference, matched, column, weights=weights, subclass=subclass),
            "matched_regression": partial(matched_regression, matched, column, adjust, weights=weights,
                                          subclass=subclass),
            "ipw_att": partial(ipw_att, full, column, propensity),
            "overlap": partial(overlap_effect, full, column, propensity),
            "aipw_att": partial(aipw.__getitem__, column),
            "welch_difference": partial(welch_difference, matched, column, weights=weights),
            "naive_difference": partial(weighted_difference, full, column),
        }
        for estimator, compute in estimators.items():
            label, sample, estimand = ESTIMATORS[estimator]
            result, note = _attempt(compute, label)
            rows.append({"outcome": key, "estimator": estimator, **result.to_dict(), "label": label,
                         "sample": sample, "estimand": estimand, "note": note})
    return pd.DataFrame(rows)[TIDY_COLUMNS]


def _failed(note: str) -> Estimate:
    """An estimator that could not run on these data: every number NaN (the note says why)."""
    nan = float("nan")
    return Estimate(nan, nan, nan, nan, 0, 0)


#: Failures of a fit on a user's data that mean "this method cannot run here", not a bug.
_NUMERICAL_FAILURES = (np.linalg.LinAlgError, ValueError, ZeroDivisionError, FloatingPointError)


def _attempt(compute, label: str):
    """Run one estimator; on a numerical failure return NaNs and one sentence saying why (the rest runs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            result = compute()
        except _NUMERICAL_FAILURES as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            return _failed(reason), f"{label} could not be estimated on these data ({reason})"
    if isinstance(result, Estimate) and not np.isfinite(result.estimate):
        return result, f"{label} could not be estimated on these data (too few patients)"
    return result, ""


def group_mean_table(matched: pd.DataFrame, full: pd.DataFrame, outcomes=tuple(OUTCOME_COLUMNS),
                     weights: str = "weights") -> pd.DataFrame:
    """Per-group mean change (t CI) in the matched sample and in the full cohort, all outcomes."""
    blocks = []
    outcomes = available_outcomes(full, outcomes)
    for sample, frame, w in (("matched", prepare(matched), weights), ("full", prepare(full), None)):
        for key in outcomes:
            table = group_means(frame, OUTCOME_COLUMNS[key], weights=w)
            blocks.append(table.assign(outcome=key, sample=sample))
    table = pd.concat(blocks, ignore_index=True)
    return table[["outcome", "sample", "group", "n", "n_missing", "mean", "sd", "ci_low", "ci_high"]]


def published_comparison(group_table: pd.DataFrame, published: dict | None = None,
                         sample: str = "matched") -> pd.DataFrame:
    """Published per-group mean change (and CI where published) next to ours, GAD-7, PHQ-9 and NRS."""
    published = published or cohort_mod.published()
    reported = published["ren2025_cohort"]["change_from_baseline_1_month"]
    ours = group_table[group_table["sample"] == sample].set_index(["outcome", "group"])
    rows = []
    for key in cohort_mod.OUTCOMES:
        for group in ("DEX", "LA"):
            entry = reported[key][group.lower()]
            ci = entry.get("ci95") or [float("nan"), float("nan")]
            mine = ours.loc[(key, group)]
            rows.append({"outcome": key, "group": group, "published_mean": entry["mean"],
                         "published_ci_low": ci[0], "published_ci_high": ci[1],
                         "reproduced_mean": mine["mean"], "reproduced_ci_low": mine["ci_low"],
                         "reproduced_ci_high": mine["ci_high"], "n": int(mine["n"]),
                         "difference": mine["mean"] - entry["mean"]})
    return pd.DataFrame(rows)


def truth_comparison(effects: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Each estimate next to the simulation's true ATT (all treated): error and error in SE units."""
    table = effects[["outcome", "estimator", "estimand", "estimate", "se", "ci_low", "ci_high"]].copy()
    table["true_att"] = table["outcome"].map(truth["att"])
    table["error"] = table["estimate"] - table["true_att"]
    table["error_in_se"] = table["error"] / table["se"]
    table["ci_covers_truth"] = (table["ci_low"] <= table["true_att"]) & (table["true_att"] <= table["ci_high"])
    return table


# --------------------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------------------

def forest_plot(effects: pd.DataFrame, truth: dict | None = None, published: dict | None = None):
    """One panel per outcome: every estimator's estimate and 95% CI; truth (simulated data) and the
    difference implied by the published group means as reference lines."""
    from dexmood import plots

    outcomes = list(dict.fromkeys(effects["outcome"]))
    fig, axes = plots.new_figure(ncols=2, nrows=int(np.ceil(len(outcomes) / 2)), width=8.0, height=6.4,
                                 sharey=True)
    axes = np.atleast_1d(axes).ravel()
    order = list(ESTIMATORS)
    implied = (published or {}).get("ren2025_cohort", {}).get("between_group_difference_derived", {})
    for ax, key in zip(axes, outcomes, strict=False):
        block = effects[effects["outcome"] == key].set_index("estimator").reindex(order).dropna(how="all")
        ypos = np.arange(len(block))[::-1]
        colours = [plots.OKABE_ITO[0] if s == "matched" else plots.OKABE_ITO[2] for s in block["sample"]]
        ax.hlines(ypos, block["ci_low"], block["ci_high"], color=colours, lw=2)
        ax.scatter(block["estimate"], ypos, color=colours, zorder=3, s=28)
        ax.axvline(0, color="#999999", lw=0.8)
        if truth is not None:
            ax.axvline(truth["att"][key], color=plots.TRUTH_COLOR, ls="--", lw=1.4, label="true ATT")
        if key in implied:
            ax.axvline(implied[key], color=plots.PUBLISHED_COLOR, ls=":", lw=1.4,
                       label="published DEX − LA means")
        ax.set_yticks(ypos, [ESTIMATORS[e][0] for e in block.index])
        unit = "score points" if key != "satisfaction" else "points on 1–5 scale"
        ax.set_xlabel(f"DEX − LA ({unit})")
        ax.set_title(OUTCOME_LABELS[key])
    for ax in axes[len(outcomes):]:
        ax.set_axis_off()
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=plots.OKABE_ITO[0], marker="o", lw=2),
               Line2D([], [], color=plots.OKABE_ITO[2], marker="o", lw=2)]
    labels = ["matched sample", "full cohort"]
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="outside lower center", ncols=2 if len(handles) == 4 else len(handles))
    return fig, axes


# --------------------------------------------------------------------------------------------------
# Results for results.json / effects.json
# --------------------------------------------------------------------------------------------------

def _by_estimator(effects: pd.DataFrame) -> dict:
    out: dict = {}
    for row in effects.itertuples(index=False):
        out.setdefault(row.outcome, {})[row.estimator] = {
            "att": _number(row.estimate), "ci95": [_number(row.ci_low), _number(row.ci_high)],
            "se": _number(row.se), "n": int(row.n), "n_missing": int(row.n_missing), "estimand": row.estimand,
            "sample": row.sample, **({"note": row.note} if row.note else {})}
    return out


def matching_covariates(match_result) -> list[str]:
    """Covariates of the matching specification (the propensity model's columns)."""
    return list(match_result.propensity.covariates)


def analyse(match_result, cohort, *, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = DEFAULT_SEED) -> dict:
    """Every table of this stage for a matching result (`dexmood.matching.MatchResult`) and its cohort.

    The weighting estimators use the cohort rows that entered matching (`match_result.full`, i.e. complete
    covariates) and the matching's own propensity score (inverse logit of `distance`).
    """
    full = prepare(match_result.full).reset_index(drop=True)
    matched = prepare(match_result.data)
    covariates = matching_covariates(match_result)
    propensity = 1.0 / (1.0 + np.exp(-full["distance"].to_numpy(dtype=float)))
    effects = estimate_effects(matched, full, covariates, propensity, n_boot=n_boot, seed=seed)
    result = {
        "covariates": covariates,
        "effects": effects,
        "group_means": group_mean_table(matched, full),
        "responders": responder_effects(matched),
        "satisfaction_ordinal": (ordinal_satisfaction(matched) if "satisfaction" in available_outcomes(matched)
                                 else None),
        "excluded_missing_covariates": int(len(cohort.data) - len(full)),
    }
    if cohort.truth is not None:
        result["truth"] = truth_comparison(effects, cohort.truth)
    return result


def results_section(match_result, cohort) -> dict:
    """The `effects` (estimator 1) and `effects_by_estimator` entries of results.json."""
    return results_from_analysis(analyse(match_result, cohort))


def results_from_analysis(analysis: dict) -> dict:
    """The `effects` (primary estimator) and `effects_by_estimator` entries of results.json; an outcome
    the data cannot answer is `{"status": "not in the data"}`."""
    effects = analysis["effects"]
    primary = effects[effects["estimator"] == analysis.get("primary", PRIMARY_ESTIMATOR)]
    section = {key: {"status": NOT_IN_DATA} for key in OUTCOME_COLUMNS}
    for row in primary.itertuples(index=False):
        section[row.outcome] = {"att": _number(row.estimate), "se": _number(row.se),
                                "ci95": [_number(row.ci_low), _number(row.ci_high)],
                                "estimator": row.estimator, "n": int(row.n)}
        if row.note:
            section[row.outcome]["note"] = row.note
    return {"effects": section, "effects_by_estimator": _by_estimator(effects)}


def _number(value) -> float | None:
    """JSON has no NaN: a number that could not be estimated is null."""
    return float(value) if np.isfinite(value) else None


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", double_precision=10))


def write_effects_json(analysis: dict, cohort, path=None):
    """Write every table of `analyse` to data/derived/effects.json (regenerable)."""
    path = path or paths.derived("effects.json")
    effects = analysis["effects"]
    primary = effects[effects["estimator"] == analysis.get("primary", PRIMARY_ESTIMATOR)]
    payload = {
        "data": {"source": cohort.source, "simulated": cohort.simulated},
        "covariates": analysis["covariates"],
        "excluded_missing_covariates": analysis["excluded_missing_covariates"],
        "effects": {row.outcome: {"att": row.estimate, "ci95": [row.ci_low, row.ci_high]}
                    for row in primary.itertuples(index=False)},
        "effects_by_estimator": _by_estimator(effects),
        "estimates": _records(effects),
        "group_means": _records(analysis["group_means"]),
        "responders": _records(analysis["responders"]),
        "satisfaction_ordinal_odds_ratio": (analysis["satisfaction_ordinal"].to_dict()
                                            if analysis["satisfaction_ordinal"] is not None else NOT_IN_DATA),
    }
    if "truth" in analysis:
        payload["truth_comparison"] = _records(analysis["truth"])
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    return path
