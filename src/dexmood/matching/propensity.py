"""The propensity model of DEX: design matrix as R's model.matrix, logistic fit, the default terms."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from sklearn.metrics import roc_auc_score

from dexmood.cohort import baseline_covariates
from dexmood.errors import MatchingError
from dexmood.settings import SETTINGS

DEFAULT_CALIPER_SD = SETTINGS.caliper_sd
ORDERS = ("largest", "smallest", "data")
TREATED_GROUP = "DEX"


# --------------------------------------------------------------------------------------------------
# Propensity model
# --------------------------------------------------------------------------------------------------

def _is_categorical(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def categorical_levels(series: pd.Series) -> list[str]:
    """Levels of a categorical covariate in R's default order (sorted; the first is the reference)."""
    return sorted(str(v) for v in series.dropna().unique())


#: Transforms a propensity term may apply to a numeric covariate (see `propensity_terms`).
TRANSFORMS = {"log": np.log, "log1p": np.log1p}


def design_matrix(frame: pd.DataFrame, covariates: list[str],
                  transforms: dict[str, str] | None = None) -> pd.DataFrame:
    """Model matrix as R's ``model.matrix``: an intercept, numeric columns as they are (or transformed by
    ``transforms[column]``, e.g. ``"log"``, named ``log(<column>)``), and one 0/1 column per non-reference
    level of each categorical covariate (named ``<column>_<level>``)."""
    transforms = transforms or {}
    columns: dict[str, np.ndarray] = {"Intercept": np.ones(len(frame))}
    for name in covariates:
        series = frame[name]
        if _is_categorical(series):
            values = series.astype("string").to_numpy(dtype=object)
            for level in categorical_levels(series)[1:]:
                columns[f"{name}_{level}"] = (values == level).astype(float)
        elif name in transforms:
            columns[f"{transforms[name]}({name})"] = TRANSFORMS[transforms[name]](series.to_numpy(dtype=float))
        else:
            columns[name] = series.to_numpy(dtype=float)
    return pd.DataFrame(columns, index=frame.index)


@dataclass
class PropensityModel:
    """A fitted propensity model: P(DEX | covariates), its logit (the matching distance) and its AUC."""

    covariates: list[str]
    formula: str | None
    result: object  # statsmodels LogitResults
    score: pd.Series
    logit: pd.Series
    treated: pd.Series
    auc: float
    converged: bool
    notes: list[str] = field(default_factory=list)

    def coefficients(self) -> pd.DataFrame:
        """Coefficient table: log-odds estimate, SE, z, p and the odds ratio with its 95% CI."""
        params, bse = self.result.params, self.result.bse
        ci = self.result.conf_int()
        return pd.DataFrame({
            "term": params.index, "log_odds": params.to_numpy(), "se": bse.to_numpy(),
            "z": self.result.tvalues.to_numpy(), "p": self.result.pvalues.to_numpy(),
            "odds_ratio": np.exp(params.to_numpy()), "or_low": np.exp(ci.iloc[:, 0].to_numpy()),
            "or_high": np.exp(ci.iloc[:, 1].to_numpy()),
        })

    def overlap(self) -> pd.DataFrame:
        """Range of the propensity score by group and how many patients fall outside the other group's range."""
        rows = []
        for group, mask in ((TREATED_GROUP, self.treated), ("LA", ~self.treated)):
            other = self.score[~mask]
            values = self.score[mask]
            outside = int(((values < other.min()) | (values > other.max())).sum())
            rows.append({"group": group, "n": int(mask.sum()), "ps_min": values.min(), "ps_median": values.median(),
                         "ps_max": values.max(), "outside_other_range": outside})
        return pd.DataFrame(rows)


def _complete_rows(frame: pd.DataFrame, covariates: list[str]) -> pd.Series:
    return frame[covariates].notna().all(axis=1)


def fit_propensity(frame: pd.DataFrame, covariates: list[str] | None = None,
                   formula: str | None = None, transforms: dict[str, str] | None = None) -> PropensityModel:
    """Fit the logistic propensity model of DEX (``group == "DEX"``) on the covariates.

    ``covariates`` defaults to `dexmood.cohort.baseline_covariates(frame)`. A ``formula`` (right-hand side,
    e.g. ``"age + sex + np.log(pain_duration_months)"``, or a full ``"dex ~ ..."``) replaces the main-effects
    model; ``covariates`` then lists the CSV columns it uses (for balance). Rows with a missing covariate
    are left out (MatchIt would stop); their number is in ``notes``.
    """

    if "group" not in frame:
        raise MatchingError("the data have no 'group' column (DEX or LA): nothing to match on")
    if formula is not None and covariates is None:
        covariates = [c for c in frame.columns if c != "group" and _mentions(formula, c)]
    explicit = covariates is not None
    covariates = list(covariates) if explicit else baseline_covariates(frame)
    missing_columns = [c for c in covariates if c not in frame.columns]
    if missing_columns:
        raise MatchingError(f"covariate column(s) not in the data: {', '.join(missing_columns)}")
    notes = []
    constant = [c for c in covariates if frame[c].nunique(dropna=True) < 2]
    if constant and explicit:
        raise MatchingError(f"the propensity model cannot be fitted: constant covariate(s): {', '.join(constant)} "
                            "(a covariate needs at least two values); remove them")
    if constant:  # default list: a covariate without variation carries no information, as R's glm would say
        notes.append(f"constant covariate(s) left out: {', '.join(constant)}")
        covariates = [c for c in covariates if c not in constant]
    complete = _complete_rows(frame, covariates)
    if not complete.all():
        notes.append(f"{int((~complete).sum())} patient(s) with a missing covariate left out of matching")
    data = frame.loc[complete]
    treated = data["group"] == TREATED_GROUP
    if treated.sum() == 0 or (~treated).sum() == 0:
        raise MatchingError(f"matching needs both groups: {int(treated.sum())} DEX and {int((~treated).sum())} "
                            "LA patients with complete covariates")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if formula is not None:
                rhs = formula.split("~", 1)[1] if "~" in formula else formula
                model_data = data.assign(dex=treated.astype(float))
                result = smf.logit(f"dex ~ {rhs}", data=model_data).fit(disp=0, maxiter=100)
            else:
                design = design_matrix(data, covariates, transforms)
                result = sm.Logit(treated.astype(float), design).fit(disp=0, maxiter=100)
        except np.linalg.LinAlgError:
            constant = [c for c in covariates if data[c].nunique() < 2]
            detail = (f"constant covariate(s): {', '.join(constant)}" if constant
                      else "some covariates are linear combinations of others")
            raise MatchingError(f"the propensity model cannot be fitted: its design matrix is singular ({detail}); "
                                "remove the redundant covariates") from None
    notes += sorted({str(w.message).splitlines()[0] for w in caught})
    linear = pd.Series(np.asarray(result.fittedvalues, dtype=float), index=data.index, name="distance")
    score = pd.Series(1.0 / (1.0 + np.exp(-linear.to_numpy())), index=data.index, name="propensity")
    auc = float(roc_auc_score(treated.to_numpy(), score.to_numpy()))
    converged = bool(result.mle_retvals.get("converged", True))
    if formula is None and transforms:
        formula = " + ".join(f"{transforms[c]}({c})" if c in transforms else c for c in covariates)
    return PropensityModel(covariates=covariates, formula=formula, result=result, score=score, logit=linear,
                           treated=treated, auc=auc, converged=converged, notes=notes)


def _mentions(formula: str, column: str) -> bool:

    return re.search(rf"(?<![A-Za-z0-9_.]){re.escape(column)}(?![A-Za-z0-9_])", formula) is not None
#: A numeric covariate at least this right-skewed (sample skewness), with no negative values and more than
#: two values, enters the default propensity model on the log scale.
SKEWNESS_FOR_LOG = 1.0


def propensity_transforms(frame: pd.DataFrame, covariates: list[str] | None = None
                           ) -> tuple[list[str], dict[str, str]]:
    """The default propensity model's covariates and transforms, by a rule that does not look at treatment:

    - categorical covariates enter as indicator columns, numeric ones linearly;
    - a numeric covariate with more than two values, none negative, and sample skewness above
      `SKEWNESS_FOR_LOG` (durations, counts, laboratory values) enters as log(x), or log(1 + x) when it
      has zeros: a linear logit in a long-tailed covariate lets its extreme values dominate the score, and
      matching then balances its mean but not its spread (variance ratios far from 1).
    Constant covariates are left out (they carry no information)."""
    covariates = list(covariates) if covariates is not None else baseline_covariates(frame)
    kept, transforms = [], {}
    for name in covariates:
        series = frame[name].dropna()
        if series.nunique() < 2:
            continue
        kept.append(name)
        if _is_categorical(series):
            continue
        values = series.to_numpy(dtype=float)
        if values.min() >= 0 and series.nunique() > 2 and float(series.astype(float).skew()) > SKEWNESS_FOR_LOG:
            transforms[name] = "log1p" if values.min() == 0 else "log"
    return kept, transforms
def covariate_table(frame: pd.DataFrame, covariates: list[str] | None = None,
                    transforms: dict[str, str] | None = None) -> pd.DataFrame:
    """How each covariate enters the propensity model (type, reference level, model terms)."""
    covariates = covariates or baseline_covariates(frame)
    transforms = transforms or {}
    rows = []
    for name in covariates:
        series = frame[name]
        if _is_categorical(series):
            levels = categorical_levels(series)
            rows.append({"covariate": name, "type": f"categorical ({len(levels)} levels)",
                         "reference": levels[0], "model terms": ", ".join(f"{name}_{lv}" for lv in levels[1:]),
                         "missing": int(series.isna().sum())})
        else:
            term = f"{transforms[name]}({name})" if name in transforms else name
            rows.append({"covariate": name, "type": "numeric", "reference": "",
                         "model terms": term, "missing": int(series.isna().sum())})
    return pd.DataFrame(rows)
