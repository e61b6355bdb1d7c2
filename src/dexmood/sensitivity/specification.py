"""Specification curve: the effect under other reasonable analysis choices (Simonsohn et al. 2020).

Other calipers, 1:2 matching, matching with replacement, exact matching on sex, covariate adjustment, IPTW,
overlap weights and AIPW. Every row says which estimand it targets: the overlap-weights row estimates the
ATO (the effect in the population with most overlap), not the ATT, so it is labelled and kept out of the ATT
range of `specification_summary` (issue 16, point 4). A specification that cannot run on a cohort (e.g. no
control within a narrower caliper) becomes a row with its one-sentence reason and no estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dexmood import cohort as cohort_mod
from dexmood import effects, matching
from dexmood.errors import AnalysisNotPossible, DexmoodError
from dexmood.sensitivity._common import OUTCOME_COLUMNS, OUTCOMES, prepared
from dexmood.settings import SETTINGS, Settings


@dataclass(frozen=True)
class Specification:
    """One way to estimate the effect. Matching specifications use `dexmood.matching.match_nearest`;
    `caliper_factor` scales the book's caliper (`Settings.caliper_sd`)."""

    key: str
    label: str
    family: str  # "matching" or "weighting"
    ratio: int = 1
    replace: bool = False
    caliper_factor: float = 1.0
    exact: tuple[str, ...] = ()
    adjust: bool = False
    weighting: str | None = None  # "ipw", "overlap" or "aipw"
    estimand: str = "ATT"

    def caliper(self, settings: Settings) -> float:
        return self.caliper_factor * settings.caliper_sd

    def matching_key(self, settings: Settings) -> tuple:
        return (self.ratio, self.replace, self.caliper(settings), self.exact)


MAIN_SPECIFICATION = "main"
SPECIFICATIONS = (
    Specification("main", "main match (book settings)", "matching"),
    Specification("caliper_half", "caliper × 0.5", "matching", caliper_factor=0.5),
    Specification("caliper_2.5", "caliper × 2.5", "matching", caliper_factor=2.5),
    Specification("ratio_2", "1:2", "matching", ratio=2),
    Specification("replace", "with replacement", "matching", replace=True),
    Specification("exact_sex", "exact on sex", "matching", exact=("sex",)),
    Specification("adjusted", "main match + covariate adjustment", "matching", adjust=True),
    Specification("ipw", "IPTW (ATT weights), full cohort", "weighting", weighting="ipw"),
    Specification("aipw", "Augmented IPW (ATT), full cohort", "weighting", weighting="aipw"),
    Specification("overlap", "Overlap weights, full cohort — ATO, another estimand", "weighting",
                  weighting="overlap", estimand="ATO"),
)


def describe(spec: Specification, settings: Settings = SETTINGS) -> str:
    """Row label with the caliper written out from the settings."""
    if spec.family != "matching":
        return spec.label
    return f"{spec.label}: 1:{spec.ratio}, caliper {spec.caliper(settings):g} SD"


def _estimate(spec: Specification, key: str, covariates, match_result, full, score, settings):
    column = OUTCOME_COLUMNS[key]
    if spec.family == "matching":
        matched = prepared(match_result.data)
        subclass = None if spec.replace else "subclass"
        if spec.adjust:
            return effects.matched_regression(matched, column, effects.outcome_covariates(covariates, key),
                                              subclass=subclass)
        return effects.matched_difference(matched, column, subclass=subclass)
    if spec.weighting == "ipw":
        return effects.ipw_att(full, column, score)
    if spec.weighting == "overlap":
        return effects.overlap_effect(full, column, score)
    return effects.aipw_att(full, column, effects.outcome_covariates(covariates, key),
                            n_boot=settings.n_boot_specification, seed=settings.seed)


def specification_curve(frame: pd.DataFrame, outcomes=OUTCOMES, specifications=SPECIFICATIONS,
                        covariates: list[str] | None = None, *, main_match=None,
                        settings: Settings = SETTINGS) -> pd.DataFrame:
    """The effect of every outcome under every specification, one tidy row each (`note` says why a row has
    no estimate).

    The main row is `main_match` when given (the match of the matching chapter), so that it equals the
    effects chapter; other matches re-use its propensity covariates. With replacement the SE is HC1 on the
    matching weights (controls are shared); AIPW uses `settings.n_boot_specification` seeded bootstrap
    replicates.
    """
    if main_match is not None:
        covariates = list(main_match.propensity.covariates)
    covariates = list(covariates) if covariates is not None else cohort_mod.baseline_covariates(frame)
    try:
        propensity = main_match.propensity if main_match is not None else matching.fit_propensity(frame, covariates)
    except DexmoodError as error:
        raise AnalysisNotPossible(f"The specification curve needs a propensity model: {error}") from error
    full = prepared(frame.loc[propensity.logit.index]).reset_index(drop=True)
    score = propensity.score.to_numpy()
    main_key = SPECIFICATIONS[0].matching_key(settings)
    matches: dict[tuple, object] = {main_key: main_match} if main_match is not None else {}
    rows = []
    for spec in specifications:
        note, match_result = "", None
        if spec.family == "matching":
            mkey = spec.matching_key(settings)
            if mkey not in matches:
                try:
                    # the main specification's propensity terms (log of skewed covariates), other options
                    matches[mkey] = matching.match_with_settings(
                        frame, settings, covariates=covariates, ratio=spec.ratio, replace=spec.replace,
                        caliper_sd=spec.caliper(settings), exact=list(spec.exact) or None)
                except DexmoodError as error:
                    matches[mkey] = error
            match_result = matches[mkey]
        for key in outcomes:
            row = {"outcome": key, "specification": spec.key, "label": describe(spec, settings),
                   "family": spec.family, "estimand": spec.estimand, "main": spec.key == MAIN_SPECIFICATION}
            try:
                if isinstance(match_result, Exception):
                    raise AnalysisNotPossible(str(match_result)) from match_result
                estimate = _estimate(spec, key, covariates, match_result, full, score, settings)
                row.update({"estimate": estimate.estimate, "se": estimate.se, "ci_low": estimate.ci_low,
                            "ci_high": estimate.ci_high, "n": estimate.n, "note": note})
            except (DexmoodError, np.linalg.LinAlgError, ValueError, ZeroDivisionError) as error:
                # a user's cohort too small or too unbalanced for this one choice: say so, run the rest
                row.update({"estimate": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0,
                            "note": f"not estimable: {str(error).splitlines()[0]}"})
            if match_result is not None and not isinstance(match_result, Exception):
                row.update({"treated_matched": int(match_result.summary["pairs"]),
                            "treated_unmatched": int(match_result.summary["treated_unmatched"])})
            rows.append(row)
    return pd.DataFrame(rows)


def specification_summary(curve: pd.DataFrame) -> pd.DataFrame:
    """Per outcome, over the specifications that target the ATT and could run: the range of the ATT, how
    many agree in sign with the main one and how many CIs exclude 0; the ATO (overlap weights) beside it,
    outside the range."""
    rows = []
    for key, block in curve.groupby("outcome", sort=False):
        att = block[(block["estimand"] == "ATT") & block["estimate"].notna()]
        main = att.loc[att["main"], "estimate"]
        ato = block.loc[block["estimand"] == "ATO", "estimate"]
        main_value = float(main.iloc[0]) if len(main) else np.nan
        rows.append({"outcome": key, "main": main_value, "min": att["estimate"].min(), "max": att["estimate"].max(),
                     "specifications": len(att), "not_estimable": int(block["estimate"].isna().sum()),
                     "same_sign": int((np.sign(att["estimate"]) == np.sign(main_value)).sum()),
                     "ci_excludes_0": int(((att["ci_high"] < 0) | (att["ci_low"] > 0)).sum()),
                     "ato": float(ato.iloc[0]) if len(ato) else np.nan})
    return pd.DataFrame(rows)
