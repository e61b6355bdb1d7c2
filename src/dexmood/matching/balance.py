"""Covariate balance as summary.matchit / cobalt::bal.tab for the ATT, and the book's balance rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dexmood.matching.propensity import TREATED_GROUP, _is_categorical, categorical_levels

SMD_THRESHOLD = 0.1
VARIANCE_RATIO_RANGE = (0.5, 2.0)
# --------------------------------------------------------------------------------------------------
# Balance (summary.matchit / cobalt::bal.tab)
# --------------------------------------------------------------------------------------------------

def balance_sentence(balance: BalanceTable) -> str:
    """One sentence on the book's balance rule for a matched sample, from the table."""
    if balance.passed:
        return (f"every term is balanced (|SMD| < {balance.smd_threshold:g}, variance ratios within "
                f"{balance.variance_ratio_range[0]:g}–{balance.variance_ratio_range[1]:g})")
    failing = balance.failures()
    return (f"{len(failing)} of {len(balance.covariate_rows)} terms are not balanced "
            f"({', '.join(failing['term'])}), so the covariate-adjusted estimate is the primary one")


def balance_terms(frame: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """Numeric columns for balance: numeric covariates as they are; a two-level categorical as its
    non-reference level (``sex_M``); a categorical with more levels as one 0/1 column per level."""
    terms: dict[str, np.ndarray] = {}
    for name in covariates:
        series = frame[name]
        if _is_categorical(series):
            levels = categorical_levels(series)
            values = series.astype("string").to_numpy(dtype=object)
            for level in (levels[1:] if len(levels) == 2 else levels):
                terms[f"{name}_{level}"] = (values == level).astype(float)
        else:
            terms[name] = series.to_numpy(dtype=float)
    return pd.DataFrame(terms, index=frame.index)


def weighted_variance(x: np.ndarray, weights: np.ndarray | None = None, binary: bool | None = None) -> float:
    """MatchIt's ``wvar``: p(1 − p) for 0/1 variables, else the reliability-weighted variance of
    ``cov.wt`` (the usual n − 1 variance when all weights are equal)."""
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if binary is None:
        binary = bool(np.all((x == 0) | (x == 1)))
    w = w / w.sum()
    mean = float(np.sum(w * x))
    if binary:
        return mean * (1 - mean)
    return float(np.sum(w * (x - mean) ** 2) / (1 - np.sum(w**2)))


def ecdf_differences(x: np.ndarray, treated: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Mean and max |eCDF_treated − eCDF_control| at the unique values of x in the full sample (MatchIt
    ``qqsum``); for 0/1 variables both are the absolute difference in proportions."""
    x = np.asarray(x, dtype=float)
    treated = np.asarray(treated, dtype=bool)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if np.all((x == 0) | (x == 1)) and len(np.unique(x)) == 2:
        diff = abs(np.average(x[treated], weights=w[treated]) - np.average(x[~treated], weights=w[~treated]))
        return float(diff), float(diff)
    w = np.where(treated, w / w[treated].sum(), -w / w[~treated].sum())
    order = np.argsort(x, kind="stable")
    xs = x[order]
    cumulative = np.abs(np.cumsum(w[order]))
    last_of_value = np.append(xs[1:] != xs[:-1], True)
    ediff = cumulative[last_of_value]
    return float(ediff.mean()), float(ediff.max())


def _balance_row(x, treated, weights, denominator_sd, binary):
    w = np.ones_like(x) if weights is None else weights
    t, c = treated, ~treated
    mean_t = float(np.average(x[t], weights=w[t]))
    mean_c = float(np.average(x[c], weights=w[c]))
    diff = mean_t - mean_c
    smd = diff / denominator_sd if abs(diff) > np.sqrt(np.finfo(float).eps) else diff
    vr = np.nan if binary else weighted_variance(x[t], w[t], False) / weighted_variance(x[c], w[c], False)
    ecdf_mean, ecdf_max = ecdf_differences(x, treated, w)
    return mean_t, mean_c, smd, vr, ecdf_mean, ecdf_max


@dataclass
class BalanceTable:
    """Covariate balance before and after matching (one row per term), with thresholds and a verdict."""

    table: pd.DataFrame
    smd_threshold: float = SMD_THRESHOLD
    variance_ratio_range: tuple[float, float] = VARIANCE_RATIO_RANGE

    @property
    def covariate_rows(self) -> pd.DataFrame:
        return self.table[self.table["term"] != "distance"]

    @property
    def passed(self) -> bool:
        return bool(self.covariate_rows["balanced"].all())

    def max_abs_smd(self, when: str = "after") -> float:
        return float(self.covariate_rows[f"smd_{when}"].abs().max())

    def failures(self) -> pd.DataFrame:
        return self.covariate_rows.loc[~self.covariate_rows["balanced"]]

    def verdict(self) -> str:
        rows = self.covariate_rows
        n_smd = int(rows["smd_ok"].sum())
        vr_rows = rows[rows["type"] == "continuous"]
        n_vr = int(vr_rows["vr_ok"].sum())
        word = "PASS" if self.passed else "FAIL"
        lo, hi = self.variance_ratio_range
        return (f"{word}: {n_smd}/{len(rows)} terms with |SMD| < {self.smd_threshold}; "
                f"{n_vr}/{len(vr_rows)} continuous terms with variance ratio in [{lo}, {hi}]")

    def display(self, digits: int = 3) -> pd.DataFrame:
        """The table as bal.tab prints it (rounded; thresholds as Balanced/Not balanced)."""
        shown = self.table.copy()
        numeric = shown.select_dtypes("number").columns
        shown[numeric] = shown[numeric].round(digits)
        shown["smd_ok"] = np.where(shown["term"] == "distance", "",
                                   np.where(shown["smd_ok"], "Balanced", "Not balanced"))
        shown["vr_ok"] = np.where(shown["type"] == "continuous",
                                  np.where(shown["vr_ok"], "Balanced", "Not balanced"), "")
        shown.loc[shown["term"] == "distance", "vr_ok"] = ""
        return shown.drop(columns=["balanced"]).set_index("term")


def balance_table(frame: pd.DataFrame, covariates: list[str], weights: np.ndarray | None = None,
                  distance: np.ndarray | None = None, smd_threshold: float = SMD_THRESHOLD,
                  variance_ratio_range: tuple[float, float] = VARIANCE_RATIO_RANGE) -> BalanceTable:
    """bal.tab for the ATT on the full sample ``frame`` (all patients used for matching).

    ``weights`` are the matching weights (0 = not in the matched sample); None gives only the
    "before" columns equal to "after". SMD denominator: SD of the treated group in the full sample
    (sqrt(p(1 − p)) for 0/1 terms), identical before and after matching.
    """
    treated = (frame["group"] == TREATED_GROUP).to_numpy()
    terms = balance_terms(frame, covariates)
    if distance is not None:
        terms.insert(0, "distance", np.asarray(distance, dtype=float))
    rows = []
    for term in terms.columns:
        x = terms[term].to_numpy(dtype=float)
        binary = bool(np.all((x == 0) | (x == 1)))
        sd = float(np.sqrt(weighted_variance(x[treated], None, binary)))
        if not np.isfinite(sd) or sd < np.sqrt(np.finfo(float).eps):  # MatchIt falls back to the pooled SD
            sd = float(np.sqrt((weighted_variance(x[treated], None, binary)
                                + weighted_variance(x[~treated], None, binary)) / 2))
        before = _balance_row(x, treated, None, sd, binary)
        after = _balance_row(x, treated, weights, sd, binary) if weights is not None else before
        covariate = term if term in frame.columns or term == "distance" else term.rsplit("_", 1)[0]
        for name in covariates:  # the CSV column this term comes from
            if term == name or term.startswith(f"{name}_"):
                covariate = name
        row = {"term": term, "covariate": covariate, "type": "binary" if binary else "continuous",
               "sd_treated_full": sd}
        for label, stats in (("before", before), ("after", after)):
            for key, value in zip(("mean_treated", "mean_control", "smd", "variance_ratio", "ecdf_mean",
                                   "ecdf_max"), stats, strict=True):
                row[f"{key}_{label}"] = value
        rows.append(row)
    table = pd.DataFrame(rows)
    lo, hi = variance_ratio_range
    table["smd_ok"] = table["smd_after"].abs() < smd_threshold
    vr = table["variance_ratio_after"]
    table["vr_ok"] = (table["type"] == "binary") | ((vr >= lo) & (vr <= hi))
    table["balanced"] = table["smd_ok"] & table["vr_ok"]
    return BalanceTable(table=table, smd_threshold=smd_threshold, variance_ratio_range=variance_ratio_range)
