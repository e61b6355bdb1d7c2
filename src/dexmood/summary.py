"""The book's headline numbers in one table: published next to reproduced (and, for simulated data, the truth).

Built from the same `results.json` that `python -m dexmood analyze` writes, so the landing page, the
command line and the notebooks cannot disagree.
"""

from __future__ import annotations

import pandas as pd

from dexmood import book, paths, published_summary, tables
from dexmood import cohort as cohort_mod
from dexmood import reproducibility as mc
from dexmood.settings import OUTCOME_NAMES


def ours_header(cohort: cohort_mod.Cohort) -> str:
    """The findings table's column for this book's numbers says what data they come from."""
    return "this book (simulated data)" if cohort.simulated else f"this book ({cohort.source})"


OURS = "this book"


def _ci(entry: dict, scale: float = 1.0, digits: int = 2, suffix: str = "") -> str:
    low, high = entry["ci95"]
    return f"{entry['att' if 'att' in entry else 'estimate'] * scale:.{digits}f}{suffix} " \
           f"({low * scale:.{digits}f} to {high * scale:.{digits}f}{suffix})"


def key_findings(results: dict, cohort: cohort_mod.Cohort) -> pd.DataFrame:
    """One row per headline finding: what was published, what this book reproduces, the truth if known."""
    published = cohort_mod.published()["ren2025_cohort"]
    truth = cohort.truth
    settings = results.get("settings", {})
    rows = [{
        "finding": "patients analysed (DEX / LA)",
        "published": f"{published['n_dex']} / {published['n_la']}",
        OURS: f"{results['n']['DEX']} / {results['n']['LA']}",
        "truth (simulation)": "",
    }]
    if "matching" in results:
        rows.append({"finding": (f"matched pairs (1:{settings.get('ratio', 1)}, caliper "
                                 f"{settings.get('caliper_sd', float('nan')):g} SD of the logit)"),
                     "published": str(published["matched_pairs"]),
                     OURS: str(results["matching"]["pairs"]), "truth (simulation)": ""})
    differences = published["between_group_difference_derived"]
    for outcome in ("gad7", "phq9", "nrs", "satisfaction"):
        if "att" not in results.get("effects", {}).get(outcome, {}):
            rows.append({"finding": f"effect of DEX on {OUTCOME_NAMES[outcome]}", "published": "",
                         OURS: "not in the data", "truth (simulation)": ""})
            continue
        rows.append({
            "finding": (f"effect of DEX on 1-month change, {OUTCOME_NAMES[outcome]} (ATT, 95% CI)"
                        if outcome != "satisfaction" else "effect of DEX on satisfaction, 1–5 (ATT, 95% CI)"),
            "published": (f"{differences[outcome]:.2f} (difference of group means)" if outcome in differences
                          else "higher with DEX (no numbers published)"),
            OURS: _ci(results["effects"][outcome]),
            "truth (simulation)": f"{truth['att'][outcome]:.2f}" if truth else "",
        })
    band = published["proportion_mediated_by_pain_relief"]["range"]
    for outcome in ("gad7", "phq9"):
        mediation = results.get("mediation", {}).get(outcome)
        if not mediation:
            continue
        rows.append({
            "finding": f"share of the {OUTCOME_NAMES[outcome]} effect running through pain relief (95% CrI)",
            "published": f"{100 * band[0]:.0f}–{100 * band[1]:.0f}%",
            OURS: _ci(mediation["proportion_mediated"], scale=100, digits=0, suffix="%"),
            "truth (simulation)": (f"{100 * truth['mediation_treated'][outcome]['proportion_mediated']:.0f}%"
                                   if truth else ""),
        })
    for outcome, sens in results.get("sensitivity", {}).items():
        if outcome not in OUTCOME_NAMES or not isinstance(sens, dict):
            continue
        parts = []
        if sens.get("evalue") is not None:
            parts.append(f"E-value {sens['evalue']:.2f} (CI {sens['evalue_ci']:.2f})")
        if sens.get("rosenbaum_gamma") is not None:
            parts.append(f"Rosenbaum Γ {sens['rosenbaum_gamma']:.2f}")
        if sens.get("medsens_rho") is not None:
            parts.append(f"mediation ρ {sens['medsens_rho']:.2f}")
        rows.append({"finding": f"robustness to unmeasured confounding, {OUTCOME_NAMES[outcome]}",
                     "published": published["sensitivity_label"],
                     OURS: "; ".join(parts), "truth (simulation)": ""})
    table = pd.DataFrame(rows).rename(columns={OURS: ours_header(cohort)})
    if truth is None:
        table = table.drop(columns="truth (simulation)")
    return table


def glue_findings(findings: pd.DataFrame, results: dict, cohort: cohort_mod.Cohort) -> None:
    """Glue the table and its key numbers for the landing page (`nb09_*`)."""
    write_landing_tables(findings, pd.DataFrame(published_summary.landing_rows()))
    book.glue_value("nb09_data_source", "simulated (synthetic cohort calibrated to the published study)"
                    if cohort.simulated else f"the user-supplied file {cohort.source}")
    for outcome, entry in results.get("effects", {}).items():
        if "att" not in entry:
            continue
        book.glue_value(f"nb09_att_{outcome}", entry["att"])
        book.glue_value(f"nb09_att_{outcome}_ci", f"{entry['ci95'][0]:.2f} to {entry['ci95'][1]:.2f}")
    for outcome, entry in results.get("mediation", {}).items():
        share = entry["proportion_mediated"]
        mcse = [100 * m for m in share.get("mcse", [0.0, 0.0, 0.0])]
        book.glue_value(f"nb09_pm_{outcome}", 100 * share["estimate"], "{:.0f}%", mcse=mcse[0])
        low = mc.record_value(f"nb09_pm_{outcome}_ci.low", 100 * share["ci95"][0], "{:.0f}", mcse=mcse[1])
        high = mc.record_value(f"nb09_pm_{outcome}_ci.high", 100 * share["ci95"][1], "{:.0f}", mcse=mcse[2])
        book.glue_value(f"nb09_pm_{outcome}_ci", f"{low}–{high}%")
    if "matching" in results:
        book.glue_value("nb09_pairs", str(results["matching"]["pairs"]))
    book.glue_value("nb09_headline", headline_sentence(results))
    book.glue_value("nb09_mediation_sentence", mediation_sentence(results))
    record_findings(findings, results)


#: Where notebook 09 writes the landing page's two tables (MyST `{table}` blocks that `intro.md` includes,
#: so they are numbered and captioned there; a glued table cannot carry a caption across pages).
LANDING = paths.PROJECT_ROOT / "_build" / "landing"


def write_landing_tables(findings: pd.DataFrame, published_numbers: pd.DataFrame) -> None:
    LANDING.mkdir(parents=True, exist_ok=True)
    (LANDING / "key_findings.md").write_text(tables.table(
        findings, "landing-key-findings",
        "Key findings: what was published, what this book finds, and (for simulated data) the truth built "
        "into the simulation.").to_myst() + "\n")
    (LANDING / "published_numbers.md").write_text(tables.table(
        published_numbers, "landing-published-numbers",
        "What the published summary numbers alone support (real data; notebook 03b).").to_myst() + "\n")


def record_findings(findings: pd.DataFrame, results: dict) -> None:
    """Record what the findings table and the glued sentences show for the Monte-Carlo check (issue 20):
    the posterior numbers of the mediation rows with their MCSE, every other cell as exact text."""
    mediation_rows = findings["finding"].str.startswith("share of the")
    for column in findings.columns:
        mc.record_label(f"nb09_findings[{column}]", column)
        for index, text in findings[column].items():
            if mediation_rows[index] and column.startswith("this book"):
                continue  # recorded as numbers with their MCSE in glue_findings
            mc.record_label(f"nb09_findings[{index}|{column}]", str(text))
    # the caption and headers, and the glued tables' text form (an object address, sanitized to 0x…)
    mc.record_label("nb09_findings[caption]", "Table nb09-key-findings 95% CI CrI 1–5 1:1 Styler at 0x")


def headline_sentence(results: dict) -> str:
    """The landing page's effect sentence, from results.json (any cohort)."""
    effects = results.get("effects", {})
    parts = [f"{OUTCOME_NAMES[k]} by {e['att']:.2f} points (95% CI {e['ci95'][0]:.2f} to {e['ci95'][1]:.2f})"
             for k in ("gad7", "phq9", "nrs") if "att" in (e := effects.get(k, {}))]
    primary = results.get("primary_estimator", {})
    how = {"matched_difference": "the matched difference in means",
           "matched_regression": "the covariate-adjusted matched estimate"}.get(primary.get("estimator"), "")
    pairs = results.get("matching", {}).get("pairs")
    which = "simulated matched sample" if results.get("data", {}).get("simulated") else "matched sample"
    return (f"In the {which} ({pairs} DEX patients matched), DEX changed " + ", ".join(parts)
            + f" relative to LA ({how}; negative = more improvement with DEX).")


def mediation_sentence(results: dict) -> str:
    """The landing page's mediation sentence (or why there is none)."""
    mediation = results.get("mediation", {})
    if not all(k in mediation for k in ("gad7", "phq9")):
        return "The mediation model could not be fitted on these data (see the notes of results.json)."
    text = []
    for key, word in (("gad7", "anxiety"), ("phq9", "depression")):
        share = mediation[key]["proportion_mediated"]
        text.append(f"{100 * share['estimate']:.0f}% of the {word} effect (95% credible interval "
                    f"{100 * share['ci95'][0]:.0f}–{100 * share['ci95'][1]:.0f}%)")
    return "The Bayesian mediation model attributes " + " and ".join(text) + " to pain relief."
