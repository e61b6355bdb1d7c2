"""What the matching page (notebook 02) glues and tabulates around the matcher's own tables.

Each `*_values` function returns {glue key: text} for `book.glue_all`; the texts are those the page printed
when it computed them in its cells (same formats), so the book reads the same.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dexmood import paths
from dexmood.matching.balance import BalanceTable, balance_sentence
from dexmood.matching.propensity import TREATED_GROUP, PropensityModel
from dexmood.matching.rcheck import load_r_reference

#: The stored MatchIt specification that is the book's main one.
MAIN_R_SPECIFICATION = "1:1, caliper 0.2"
NO_CONTROL = "no control within the caliper"
ALL_USED = "every control within the caliper was already used"


def cohort_values(frame: pd.DataFrame, published: dict) -> dict[str, str]:
    """Group sizes of the analysed cohort and the published number of matched pairs."""
    groups = frame["group"]
    return {"nb02_n_dex": f"{int((groups == TREATED_GROUP).sum()):d}",
            "nb02_n_la": f"{int((groups == 'LA').sum()):d}",
            "nb02_published_pairs": f"{published['matched_pairs']:d}"}


def model_values(model: PropensityModel, transforms: dict | list) -> dict[str, str]:
    """The propensity model's size and formula, and the covariates it takes on the log scale."""
    return {"nb02_n_covariates": f"{len(model.covariates):d}", "nb02_formula": model.formula,
            "nb02_log_terms": ", ".join(transforms) or "no covariate"}


def match_values(summary: dict, caliper_sd: float) -> dict[str, str]:
    """The caliper, the pairs and why DEX patients were left unmatched (from `MatchResult.summary`)."""
    reasons = summary["unmatched_reasons"]
    return {"nb02_caliper_logit": f"{summary['caliper_logit']:.3f}", "nb02_caliper_sd": f"{caliper_sd:g}",
            "nb02_pairs": f"{summary['pairs']:d}", "nb02_treated_unmatched": f"{summary['treated_unmatched']:d}",
            "nb02_unmatched_none": f"{reasons.get(NO_CONTROL, 0):d}",
            "nb02_unmatched_used": f"{reasons.get(ALL_USED, 0):d}",
            "nb02_controls_unused": f"{summary['controls_unmatched']:d}"}


def counts_table(summary: dict, published: dict) -> pd.DataFrame:
    """Patients before and after matching by group, next to the published numbers (index: the group)."""
    return pd.DataFrame([
        {"": "DEX", "all": summary["n_treated"], "matched": summary["pairs"],
         "unmatched": summary["treated_unmatched"]},
        {"": "LA", "all": summary["n_control"], "matched": summary["controls_matched"],
         "unmatched": summary["controls_unmatched"]},
        {"": "published (Ren et al. 2025)", "all": published["n_dex"], "matched": published["matched_pairs"],
         "unmatched": published["n_dex"] - published["matched_pairs"]},
    ]).set_index("")


def check_crosscheck(crosscheck: pd.DataFrame) -> None:
    """The page's guard: the matched sets and balance statistics are MatchIt's for every specification."""
    if not (crosscheck["identical_sets"] == crosscheck["treated"]).all():
        raise AssertionError("matched sets differ from MatchIt")
    if not (crosscheck["max_abs_balance_diff"] < 1e-6).all():
        raise AssertionError("balance statistics differ from MatchIt")


def crosscheck_values(crosscheck: pd.DataFrame, reference: dict | None = None) -> dict[str, str]:
    """The MatchIt cross-check in numbers: the main specification, all specifications, the largest cohort
    and the pairs Debian's default MatchIt routine put outside the caliper."""
    main = crosscheck.set_index("specification").loc[MAIN_R_SPECIFICATION]
    large = (reference or load_r_reference())["cohorts"]["large"]["n"]
    return {"nb02_r_identical_main": f"{int(main['identical_sets']):d}",
            "nb02_r_treated_main": f"{int(main['treated']):d}",
            "nb02_r_specs": f"{len(crosscheck):d}", "nb02_r_large_n": f"{large:,}",
            "nb02_r_identical_all": f"{int(crosscheck['identical_sets'].sum()):d}",
            "nb02_r_treated_all": f"{int(crosscheck['treated'].sum()):d}",
            "nb02_r_balance_diff": f"{max(crosscheck['max_abs_balance_diff'].max(), 1e-12):.0e}",
            "nb02_r_buggy_outside": f"{int(main['default_routine_outside_caliper']):d}",
            "nb02_r_buggy_pairs": f"{int(main['default_routine_pairs']):d}"}


def crosscheck_display(crosscheck: pd.DataFrame) -> pd.DataFrame:
    """The cross-check as the page shows it: one row per specification, the reader's columns."""
    shown = crosscheck.drop(columns=["max_abs_logit_diff", "caliper_diff", "max_abs_balance_diff"])
    return shown.rename(columns={"default_routine_pairs": "pairs, MatchIt 4.5.1 default",
                                 "default_routine_outside_caliper": "of which outside caliper"}
                        ).set_index("specification")


def balance_values(balance: BalanceTable) -> dict[str, str]:
    """The balance verdict in words and numbers: largest |SMD| before and after, the failing terms."""
    failing = balance.failures()
    return {"nb02_max_smd_before": f"{balance.max_abs_smd('before'):.2f}",
            "nb02_max_smd_after": f"{balance.max_abs_smd('after'):.2f}",
            "nb02_balance_verdict": "passes" if balance.passed else "fails",
            "nb02_balance_sentence": balance_sentence(balance),
            "nb02_n_failing": f"{len(failing):d}", "nb02_n_terms": f"{len(balance.covariate_rows):d}",
            "nb02_failing_terms": ", ".join(failing["term"]) if len(failing) else "none"}


def written_line(path: Path, written: pd.DataFrame) -> str:
    """'wrote data/derived/matched.csv: <rows> rows, <sets> matched sets' for the file the page wrote."""
    return (f"wrote {Path(path).relative_to(paths.PROJECT_ROOT).as_posix()}: {len(written)} rows, "
            f"{written['subclass'].nunique()} matched sets")
