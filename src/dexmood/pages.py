"""What the cohort chapters (notebooks 01–03) print and glue, computed from their results.

Every sentence a page shows that depends on the data is built here from numbers, for simulated data and for
a user's file alike, so a page never refers to a value that was not produced (a user's cohort has no
simulation truth, may have no satisfaction column, …). Notebook cells only call these functions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dexmood import cohort as cohort_mod
from dexmood import effects, paths, plots
from dexmood.settings import OUTCOME_NAMES

# --------------------------------------------------------------------------------------------------
# Notebook 01: the cohort
# --------------------------------------------------------------------------------------------------


def group_counts(frame: pd.DataFrame) -> str:
    """'290 patients: DEX 106, LA 184' (the line under the cohort's label)."""
    return f"{len(frame)} patients: DEX {int((frame.group == 'DEX').sum())}, LA {int((frame.group == 'LA').sum())}"


def file_line(path: Path, n_rows: int) -> str:
    """'<path relative to the project>: <n> rows, sha256 <first 16 hex digits>' for a written file."""
    return f"{path.relative_to(paths.PROJECT_ROOT)}: {n_rows} rows, sha256 {cohort_mod.file_sha256(path)[:16]}"


def contract_error_example(frame: pd.DataFrame) -> str:
    """The message the contract gives for six rows with three typical mistakes (demonstration)."""
    broken = frame.head(6).astype(object)
    broken.loc[1, "gad7_baseline"] = 25
    broken.loc[2, "patient_id"] = broken.loc[0, "patient_id"]
    broken.loc[3, "phq9_baseline"] = "severe"
    try:
        cohort_mod.validate(broken, source="example.csv")
    except cohort_mod.CohortError as err:
        return str(err)
    raise AssertionError("the contract accepted a broken file")


def plot_flow(cohort: cohort_mod.Cohort):
    """CONSORT-style flow: screened (if known) → analysed → 1-month visit available."""
    frame, flow = cohort.data, cohort.flow
    screened = int(flow.loc[flow["stage"] == "screened", "n"].sum()) or len(frame)
    excluded = flow[flow["stage"] == "excluded before analysis"]
    visit = frame["gad7_1m"].notna()
    by_group = ", ".join(f"{g} {int(visit[frame['group'] == g].sum())}" for g in cohort_mod.GROUPS)
    steps = [("screened" if len(excluded) else "in the file", screened), ("analysed cohort", len(frame)),
             (f"1-month visit available ({by_group})", int(visit.sum()))]
    exclusion_text = "\n".join(f"{r.reason}: {r.n}" for r in excluded.itertuples())
    label = ("excluded (simulated):\n" if cohort.simulated else "excluded:\n") + exclusion_text
    return plots.flow_diagram(steps, [(label, int(excluded["n"].sum())), ("1-month visit missing",
                                                                          int((~visit).sum()))])


def table_one_values(table_one: pd.DataFrame) -> dict[str, str]:
    imbalanced = table_one.loc[table_one["SMD"].abs() >= 0.1]
    worst = table_one.loc[table_one["SMD"].abs().idxmax()]
    return {"nb01_n_imbalanced": f"{len(imbalanced)} of {len(table_one)}",
            "nb01_max_smd": f"{abs(worst['SMD']):.2f}", "nb01_max_smd_covariate": str(worst["covariate"])}


def truth_table(truth: dict | None) -> pd.DataFrame:
    """The simulation's true effects per outcome (empty for a user's cohort, whose truth is unknown)."""
    if truth is None:
        return pd.DataFrame(columns=["outcome", "true ATT", "true indirect effect (treated)",
                                     "true proportion mediated"])
    rows = []
    for key in ("gad7", "phq9", "nrs", "satisfaction"):
        mediation = truth["mediation_treated"].get(key, {})
        rows.append({"outcome": OUTCOME_NAMES[key], "true ATT": truth["att"][key],
                     "true indirect effect (treated)": mediation.get("acme_treated", np.nan),
                     "true proportion mediated": mediation.get("proportion_mediated", np.nan)})
    return pd.DataFrame(rows)


def save_truth(cohort: cohort_mod.Cohort, path: Path = paths.COHORT_TRUTH) -> pd.DataFrame:
    """Write a simulated cohort's truth to `path` (a user's cohort has none: nothing is written); its table."""
    if cohort.truth is not None:
        cohort_mod.write_truth(cohort.truth, path)
    return truth_table(cohort.truth)


def truth_sentence(cohort: cohort_mod.Cohort) -> str:
    """The summary's sentence on what is known about the true effects."""
    if cohort.truth is None:
        return (f"This page analyses the user-supplied file {cohort.source}: its true effects are unknown, so "
                "later pages report estimates without a truth to compare them with.")
    att = cohort.truth["att"]
    share = {k: cohort.truth["mediation_treated"][k]["proportion_mediated"] for k in ("gad7", "phq9")}
    return (f"In this simulated cohort the true ATTs are {att['gad7']:.2f} (GAD-7), {att['phq9']:.2f} (PHQ-9) "
            f"and {att['nrs']:.2f} (NRS) points, and pain relief truly carries {100 * share['gad7']:.0f}% "
            f"(GAD-7) and {100 * share['phq9']:.0f}% (PHQ-9) of the mood effect.")


def reading_values(evidence: pd.DataFrame, book: pd.DataFrame, other: pd.DataFrame) -> dict[str, str]:
    """Glue values of notebook 01's 'which sample do the published numbers describe' section."""
    ratios = evidence.attrs["half_width_ratio_la_to_dex"]
    sd = evidence.set_index(["outcome", "group"])
    book = book.set_index("outcome")
    other = other.set_index("outcome")
    values = {
        "nb01_ratio_gad7": f"{ratios['gad7']:.2f}", "nb01_ratio_phq9": f"{ratios['phq9']:.2f}",
        "nb01_ratio_expected": f"{evidence.attrs['expected_ratio_if_full']:.2f}",
        "nb01_sd_matched_gad7": f"{sd.loc[('gad7', 'DEX'), 'sd_if_matched']:.1f}",
        "nb01_sd_matched_phq9": f"{sd.loc[('phq9', 'DEX'), 'sd_if_matched']:.1f}",
        "nb01_sd_full_la_gad7": f"{sd.loc[('gad7', 'LA'), 'sd_if_full_group']:.1f}",
        "nb01_sd_full_dex_gad7": f"{sd.loc[('gad7', 'DEX'), 'sd_if_full_group']:.1f}",
        "nb01_cal_gap": f"{max((book['matched_dex'] - book['published_dex']).abs().max(), (book['matched_la'] - book['published_la']).abs().max()):.2f}",
        "nb01_cal_pairs": f"{book['pairs'].mean():.0f}",
    }
    for key in ("gad7", "phq9", "nrs"):
        values[f"nb01_cal_true_{key}"] = f"{book.loc[key, 'true_att']:.2f}"
        values[f"nb01_cal_unmatched_{key}"] = f"{book.loc[key, 'unmatched_difference']:.2f}"
        values[f"nb01_cal_matched_{key}"] = f"{book.loc[key, 'matched_difference']:.2f}"
        values[f"nb01_other_true_{key}"] = f"{other.loc[key, 'true_att']:.2f}"
        values[f"nb01_other_matched_{key}"] = f"{other.loc[key, 'matched_difference']:.2f}"
    return values


def reading_table(book: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Both readings side by side: mean over seeds of the matched group means, differences and truth."""
    columns = {"outcome": "outcome", "reading": "reading", "matched_dex": "matched DEX mean",
               "matched_la": "matched LA mean", "published_dex": "published DEX", "published_la": "published LA",
               "matched_difference": "matched difference", "unmatched_difference": "unmatched difference",
               "true_att": "true ATT", "pairs": "pairs"}
    table = pd.concat([book, other], ignore_index=True)[list(columns)].rename(columns=columns)
    table["outcome"] = table["outcome"].map(OUTCOME_NAMES)
    return table


# --------------------------------------------------------------------------------------------------
# Notebook 03: effects
# --------------------------------------------------------------------------------------------------

def effects_header(cohort: cohort_mod.Cohort, match, estimated) -> str:
    """The page's first lines: the data, the matched pairs and the primary estimator with the reason."""
    return (f"{cohort.label}\nmatched pairs: {match.summary['pairs']} (treated left unmatched: "
            f"{match.summary['treated_unmatched']})\n"
            f"primary estimator: {estimated.primary} — {estimated.primary_reason}")


def interval_text(estimate: float, low: float, high: float, digits: int = 2) -> str:
    if not np.isfinite(estimate):
        return "not estimable"
    return f"{estimate:.{digits}f} ({low:.{digits}f} to {high:.{digits}f})"


def overview_table(table: pd.DataFrame) -> pd.DataFrame:
    """Estimator × outcome, each cell 'estimate (95% CI)'."""

    text = [interval_text(r.estimate, r.ci_low, r.ci_high) for r in table.itertuples()]
    wide = table.assign(text=text).pivot(index="label", columns="outcome", values="text")
    wide = wide[[k for k in effects.OUTCOME_COLUMNS if k in wide.columns]]
    wide.columns = [OUTCOME_NAMES[k] for k in wide.columns]
    wide.index.name = "estimator (95% CI)"
    return wide


def effect_values(table: pd.DataFrame, primary: str, primary_reason: str, cohort: cohort_mod.Cohort) -> dict:
    """Glue values of notebook 03's estimates: the primary estimate per outcome (every outcome, 'not in
    the data' where absent), the agreement of the adjusted estimators, the raw-vs-adjusted contrast."""

    values = {"nb03_primary_label": effects.ESTIMATORS[primary][0].split(" ", 1)[1].lower(),
              "nb03_primary_reason": primary_reason}
    rows = table[table["estimator"] == primary].set_index("outcome")
    parts = []
    for key in effects.OUTCOME_COLUMNS:
        if key in rows.index:
            row = rows.loc[key]
            values[f"nb03_att_{key}"] = f"{row.estimate:.2f}"
            values[f"nb03_att_{key}_ci"] = f"{row.ci_low:.2f} to {row.ci_high:.2f}"
            unit = " points"
            parts.append(f"{OUTCOME_NAMES[key]} {row.estimate:.2f}{unit} (95% CI {row.ci_low:.2f} to "
                         f"{row.ci_high:.2f})")
        else:
            values[f"nb03_att_{key}"] = effects.NOT_IN_DATA
            values[f"nb03_att_{key}_ci"] = effects.NOT_IN_DATA
            parts.append(f"{OUTCOME_NAMES[key]}: {effects.NOT_IN_DATA}")
    values["nb03_att_sentence"] = "; ".join(parts)
    adjusted = table[table["estimator"].isin(["matched_regression", "ipw_att", "overlap", "aipw_att"])]
    adjusted = adjusted[np.isfinite(adjusted["estimate"])]
    spread = adjusted.groupby("outcome")["estimate"].agg(lambda s: s.max() - s.min())
    values["nb03_max_spread"] = f"{spread.max():.2f}"
    values["nb03_max_spread_outcome"] = OUTCOME_NAMES[spread.idxmax()]
    values["nb03_adjusted_se_range"] = f"{adjusted['se'].min():.2f} to {adjusted['se'].max():.2f}"
    by = table.set_index(["outcome", "estimator"])["estimate"]
    naive, aipw = by[("gad7", "naive_difference")], by[("gad7", "aipw_att")]
    values["nb03_naive_gad7"] = f"{naive:.2f}"
    values["nb03_aipw_gad7"] = f"{aipw:.2f}"
    values["nb03_naive_direction"] = "larger" if abs(naive) > abs(aipw) else "smaller"
    missing = table.set_index(["outcome", "estimator"])["n_missing"]
    values["nb03_missing_matched"] = f"{int(missing[('gad7', 'matched_difference')]):d}"
    values["nb03_missing_full"] = f"{int(missing[('gad7', 'ipw_att')]):d}"
    values["nb03_missing_satisfaction"] = (f"{int(missing[('satisfaction', 'ipw_att')]):d} lack satisfaction"
                                           if cohort.has("satisfaction") else "satisfaction is not in the data")
    return values


def published_values(comparison: pd.DataFrame, published: dict, cohort: cohort_mod.Cohort) -> dict:
    """Glue values of notebook 03's comparison of the matched group means with the published ones."""
    has_ci = comparison.dropna(subset=["published_ci_low"])
    inside = ((has_ci["published_mean"] >= has_ci["reproduced_ci_low"])
              & (has_ci["published_mean"] <= has_ci["reproduced_ci_high"]))
    derived = published["ren2025_cohort"]["between_group_difference_derived"]
    values = {
        "nb03_pub_inside": f"{int(inside.sum()):d}", "nb03_pub_with_ci": f"{len(has_ci):d}",
        "nb03_pub_max_abs_diff": f"{comparison['difference'].abs().max():.2f}",
        "nb03_ci_width_ours": f"{(has_ci['reproduced_ci_high'] - has_ci['reproduced_ci_low']).mean():.2f}",
        "nb03_ci_width_published": f"{(has_ci['published_ci_high'] - has_ci['published_ci_low']).mean():.2f}",
        **{f"nb03_pub_diff_{k}": f"{derived[k]:.2f}" for k in ("gad7", "phq9", "nrs")},
    }
    if cohort.simulated:
        values["nb03_pub_sentence"] = (
            "For simulated data this is a check of one draw, not of the paper: the simulator is calibrated so "
            "that the matched group means equal the published ones on average over seeds (notebook 01), and "
            "the gaps here are the sampling variation of a single matched sample of this size.")
    else:
        values["nb03_pub_sentence"] = (
            f"These data come from {cohort.source}, so the comparison with the published figures is a real one.")
    return values


def truth_values(analysis: dict, cohort: cohort_mod.Cohort) -> dict:
    """Notebook 03's sentence on the estimates against the simulation truth (or why there is none)."""

    if cohort.truth is None:
        return {"nb03_truth_sentence": "The data come from a user file, so the true effects are unknown and "
                                       "this check does not apply."}
    truth = analysis["truth"]
    att = truth[truth["estimator"].isin(["matched_difference", "matched_regression", "ipw_att", "aipw_att",
                                         "welch_difference"]) & np.isfinite(truth["estimate"])]
    covered = int(att["ci_covers_truth"].sum())
    worst = att.loc[att["error_in_se"].abs().idxmax()]
    naive = truth[truth["estimator"] == "naive_difference"]
    naive_missed = int((~naive["ci_covers_truth"]).sum())
    judgement = ("Errors of this size are consistent with sampling error: " if abs(worst.error_in_se) < 2 else
                 "An error this large is unusual for sampling error alone, although ")
    return {"nb03_truth_sentence": (
        f"The 95% CIs of the ATT estimators cover the true ATT in {covered} of {len(att)} cases; the largest "
        f"error is {worst.error:.2f} points ({OUTCOME_NAMES[worst.outcome]}, "
        f"{effects.ESTIMATORS[worst.estimator][0]}), {abs(worst.error_in_se):.1f} standard errors. {judgement}"
        f"the estimators share one sample of {len(cohort.data)} patients, so they err together (notebook 08 "
        f"measures their coverage over many samples). The unadjusted difference misses the truth in "
        f"{naive_missed} of {len(naive)} outcomes.")}


def responder_table(responders: pd.DataFrame) -> pd.DataFrame:
    """One row per responder definition: shares per group, risk difference and ratio with CIs."""

    wide = responders.pivot(index=["label", "share_dex", "share_la"], columns="measure",
                            values=["estimate", "ci_low", "ci_high"])
    wide.columns = [f"{measure} {stat}".replace(" estimate", "") for stat, measure in wide.columns]
    order = ["risk difference", "risk difference ci_low", "risk difference ci_high", "risk ratio",
             "risk ratio ci_low", "risk ratio ci_high"]
    labels = [d.label for d in effects.RESPONDER_DEFINITIONS if d.label in set(responders["label"])]
    return wide[order].reset_index().set_index("label").loc[labels]


def responder_values(responders: pd.DataFrame) -> dict:
    by = responders.set_index(["definition", "measure"])
    values = {}
    for key in ("gad7_mid", "phq9_mid", "nrs_mid"):
        rd, rr = by.loc[(key, "risk difference")], by.loc[(key, "risk ratio")]
        values[f"nb03_{key}_dex"] = f"{100 * rd.share_dex:.0f}%"
        values[f"nb03_{key}_la"] = f"{100 * rd.share_la:.0f}%"
        values[f"nb03_{key}_rr"] = f"{rr.estimate:.2f}"
        values[f"nb03_{key}_rr_ci"] = f"{rr.ci_low:.2f} to {rr.ci_high:.2f}"
    return values


def satisfaction_values(ordinal, cohort: cohort_mod.Cohort) -> dict:
    """The ordinal satisfaction model's sentence (or that the column is absent)."""

    if ordinal is None:
        return {"nb03_sat_sentence": f"Satisfaction is {effects.NOT_IN_DATA} ({cohort.source}), so this "
                                     "section has nothing to estimate.", "nb03_sat_or": effects.NOT_IN_DATA}
    return {"nb03_sat_or": f"{ordinal.estimate:.2f}",
            "nb03_sat_sentence": (f"The odds of a higher satisfaction rating are {ordinal.estimate:.2f} times as "
                                  f"high with DEX (95% CI {ordinal.ci_low:.2f} to {ordinal.ci_high:.2f}, "
                                  f"n = {ordinal.n}).")}


def check_effects_table(table: pd.DataFrame, outcomes: tuple[str, ...]) -> None:
    """The notebook's guard: every estimator for every outcome the data can answer; finite numbers with a
    CI around the estimate wherever the estimator could run (else a note says why)."""

    assert list(table.columns) == effects.TIDY_COLUMNS
    assert len(table) == len(outcomes) * len(effects.ESTIMATORS), "an estimator is missing"
    ran = table[table["note"] == ""]
    assert np.isfinite(ran[["estimate", "se", "ci_low", "ci_high"]].to_numpy()).all(), "non-finite estimate"
    assert ((ran["ci_low"] <= ran["estimate"]) & (ran["estimate"] <= ran["ci_high"])).all()
