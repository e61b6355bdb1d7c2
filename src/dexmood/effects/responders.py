"""Responder analysis (risk difference and ratio) and satisfaction as an ordinal outcome."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.miscmodels.ordinal_model import OrderedModel

from dexmood.effects.estimands import Z95, Estimate, prepare
from dexmood.effects.estimators import _cluster_codes, _from_fit, _weights, complete_cases

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
