"""The analysed sample: complete cases, the standardised covariate design and the likelihood weights."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dexmood.cohort import add_changes, baseline_covariates
from dexmood.mediation._common import MEDIATOR, OUTCOME_COLUMNS, OUTCOMES, TREATMENT


@dataclass(frozen=True)
class CovariateEncoding:
    """How covariates become the standardised design matrix X (dummies, then centre and scale)."""

    covariates: tuple[str, ...]
    columns: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]
    means: tuple[float, ...]
    scales: tuple[float, ...]

    def raw_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        blocks = []
        for covariate in self.covariates:
            if covariate in self.levels:
                values = frame[covariate].astype(str).to_numpy()
                # treatment coding: the first (alphabetical) level is the reference
                blocks.extend((values == level).astype(float) for level in self.levels[covariate][1:])
            else:
                blocks.append(frame[covariate].astype(float).to_numpy())
        return np.column_stack(blocks) if blocks else np.zeros((len(frame), 0))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.raw_matrix(frame) - np.asarray(self.means)) / np.asarray(self.scales)


def fit_encoding(frame: pd.DataFrame, covariates: list[str]) -> CovariateEncoding:
    """Learn dummy levels and the mean/SD used to standardise each design column from `frame`."""
    levels, columns = {}, []
    for covariate in covariates:
        series = frame[covariate]
        if series.dtype.kind in "fiub":
            columns.append(covariate)
        else:
            levels[covariate] = tuple(sorted(series.dropna().astype(str).unique()))
            columns.extend(f"{covariate}[{level}]" for level in levels[covariate][1:])
    encoding = CovariateEncoding(tuple(covariates), tuple(columns), levels, (), ())
    raw = encoding.raw_matrix(frame)
    means = raw.mean(axis=0)
    scales = raw.std(axis=0, ddof=1)
    scales = np.where(scales > 0, scales, 1.0)  # a constant column stays 0 after centring
    return CovariateEncoding(tuple(covariates), tuple(columns), levels,
                             tuple(float(m) for m in means), tuple(float(s) for s in scales))


@dataclass
class MediationData:
    """Complete cases ready for the model (arrays) and for statsmodels (`frame`)."""

    frame: pd.DataFrame
    dex: np.ndarray
    mediator: np.ndarray
    outcomes: np.ndarray  # n × 2, columns in OUTCOMES order
    covariates: np.ndarray  # n × p, standardised
    weights: np.ndarray  # sum = Kish effective sample size (1 each when unweighted)
    mediator_center: float
    encoding: CovariateEncoding
    n_dropped: int = 0
    weighted: bool = False

    @property
    def n(self) -> int:
        return len(self.dex)

    @property
    def extra_weight(self) -> float:
        return float(np.sum(self.weights) - self.n)

    @property
    def covariate_columns(self) -> list[str]:
        return list(self.encoding.columns)

    def fingerprint(self) -> str:
        """SHA-256 of every array the model sees (the data part of the cache key)."""
        digest = hashlib.sha256()
        for array in (self.dex, self.mediator, self.outcomes, self.covariates, self.weights,
                      np.array([self.mediator_center])):
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        digest.update(json.dumps(self.covariate_columns).encode())
        return digest.hexdigest()


def kish_normalised(weights: np.ndarray) -> np.ndarray:
    """Scale weights so they sum to Kish's effective sample size (sum w)² / sum w².

    A weighted likelihood with weights summing to n would claim the information of n independent
    patients; scaling to the effective sample size keeps the posterior width honest (equal weights: n).
    """
    weights = np.asarray(weights, dtype=float)
    if np.any(~np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    ess = weights.sum() ** 2 / np.sum(weights**2)
    return weights * ess / weights.sum()


def prepare_data(frame: pd.DataFrame, covariates: list[str] | None = None, *, weights: str | None = None,
                 encoding: CovariateEncoding | None = None) -> MediationData:
    """Select complete cases and build the arrays of the model.

    `frame` needs `dex` (0/1), `nrs_change`, `gad7_change`, `phq9_change` (see `cohort.add_changes`) and
    the covariates (default: `cohort.baseline_covariates`). `weights` names an optional weight column
    (e.g. matching or ATT weights). `encoding` re-uses another sample's dummy levels and scaling.
    """
    if covariates is None:
        covariates = list(encoding.covariates) if encoding is not None else baseline_covariates(frame)
    needed = [TREATMENT, MEDIATOR, *OUTCOME_COLUMNS.values(), *covariates] + ([weights] if weights else [])
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise KeyError(f"mediation data lacks column(s): {', '.join(missing)} (use cohort.add_changes first)")
    complete = frame.dropna(subset=needed)
    if weights:
        complete = complete[complete[weights] > 0]  # rows with weight 0 carry no information
    complete = complete.reset_index(drop=True)
    if len(complete) < 10:
        raise ValueError(f"only {len(complete)} complete cases; mediation needs more")
    dex = complete[TREATMENT].astype(float).to_numpy()
    if set(np.unique(dex)) != {0.0, 1.0}:
        raise ValueError("column 'dex' must be 0/1 with both groups present")
    encoding = encoding or fit_encoding(complete, covariates)
    mediator = complete[MEDIATOR].astype(float).to_numpy()
    raw_weights = complete[weights].to_numpy(dtype=float) if weights else np.ones(len(complete))
    return MediationData(
        frame=complete,
        dex=dex,
        mediator=mediator,
        outcomes=complete[[OUTCOME_COLUMNS[k] for k in OUTCOMES]].astype(float).to_numpy(),
        covariates=encoding.transform(complete),
        weights=kish_normalised(raw_weights),
        mediator_center=float(np.mean(mediator)),
        encoding=encoding,
        n_dropped=len(frame) - len(complete),
        weighted=bool(np.ptp(raw_weights) > 0),  # equal weights (e.g. 1:1 matching) = unweighted
    )


def att_odds_weights(dex: np.ndarray, propensity: np.ndarray) -> np.ndarray:
    """ATT weights: 1 for treated, e/(1 − e) for controls (the control group re-weighted to the treated)."""
    dex = np.asarray(dex)
    propensity = np.asarray(propensity, dtype=float)
    return np.where(dex == 1, 1.0, propensity / (1.0 - propensity))


def prepare_matched(match_result) -> MediationData:
    """The analysed sample of a match: matched patients with a complete 1-month visit, matching weights.

    Uses only the mediator and the two mood changes (GAD-7, PHQ-9, NRS); other outcome columns (e.g.
    `satisfaction`) may be absent, and every baseline covariate of the cohort is adjusted for."""
    return prepare_data(add_changes(match_result.data), weights="weights")
