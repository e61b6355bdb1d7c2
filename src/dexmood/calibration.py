"""The simulator's calibration to the published *matched* comparison (Ren et al. 2025).

The published 1-month changes come with 95% CIs whose widths imply about 92 patients per group, i.e. they
describe the 1:1 matched sample (92 pairs), not the 106 + 184 patients before matching. The simulator is
therefore calibrated so that, averaged over seeds, its 1:1 caliper-matched sample's group mean changes
equal the published ones. Matching depends only on covariates and assignment, not on the outcome model,
so each seed's matched sample is found once and the outcome parameters are then moved by a fixed-point
iteration (intercepts for the LA mean, effects for the DEX − LA difference).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from dexmood import cache, cohort, matching
from dexmood.settings import SETTINGS, Settings

OUTCOMES = ("gad7", "phq9", "nrs")


def published_targets() -> dict[str, tuple[float, float]]:
    """(DEX, LA) published mean 1-month change per outcome."""
    reported = cohort.published()["ren2025_cohort"]["change_from_baseline_1_month"]
    return {k: (reported[k]["dex"]["mean"], reported[k]["la"]["mean"]) for k in OUTCOMES}


def matched_membership(n_seeds: int, design: cohort.SimulationDesign | None = None,
                       settings: Settings = SETTINGS) -> list[np.ndarray]:
    """Per seed 0 … n_seeds − 1: which simulated patients the main matching keeps (boolean mask)."""
    masks = []
    for seed in range(n_seeds):
        frame = cohort.draw_world(design, seed=seed).frame()
        kept = set(matching.match_with_settings(frame, settings).data["patient_id"])
        masks.append(frame["patient_id"].isin(kept).to_numpy())
    return masks


def seed_table(design: cohort.SimulationDesign | None, masks: list[np.ndarray]) -> pd.DataFrame:
    """Per seed and outcome: matched and unmatched group means, their differences, and the true ATT."""
    rows = []
    for seed, in_match in enumerate(masks):
        world = cohort.draw_world(design, seed=seed)
        frame = cohort.add_changes(world.frame())
        truth = world.truth()
        dex = frame["dex"].to_numpy() == 1
        for key in OUTCOMES:
            change = frame[f"{key}_change"].to_numpy()
            rows.append({
                "seed": seed, "outcome": key, "pairs": int(in_match.sum()) // 2,
                "matched_dex": np.nanmean(change[in_match & dex]), "matched_la": np.nanmean(change[in_match & ~dex]),
                "all_dex": np.nanmean(change[dex]), "all_la": np.nanmean(change[~dex]),
                "true_att": truth["att"][key]})
    table = pd.DataFrame(rows)
    table["matched_difference"] = table["matched_dex"] - table["matched_la"]
    table["unmatched_difference"] = table["all_dex"] - table["all_la"]
    return table


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per outcome, next to the published figures."""
    targets = published_targets()
    out = table.groupby("outcome", sort=False)[["matched_dex", "matched_la", "matched_difference",
                                                "unmatched_difference", "true_att", "pairs"]].mean()
    out["published_dex"] = [targets[k][0] for k in out.index]
    out["published_la"] = [targets[k][1] for k in out.index]
    out["published_difference"] = out["published_dex"] - out["published_la"]
    return out.reset_index()


def calibrate(n_seeds: int = 200, iterations: int = 6, design: cohort.SimulationDesign | None = None,
              settings: Settings = SETTINGS, sample: str = "matched") -> cohort.SimulationDesign:
    """Fixed-point iteration of intercepts (LA mean) and effects (difference) to the published means.

    `sample="matched"` (the book's reading) calibrates the matched sample's means; `sample="all"` the
    other reading, in which the published means describe all 106 + 184 patients before matching."""
    design = design or cohort.SimulationDesign()
    if sample == "matched":
        masks = matched_membership(n_seeds, design, settings)
    else:
        masks = [np.ones(design.n, dtype=bool)] * n_seeds
    targets = published_targets()
    for _ in range(iterations):
        means = summary(seed_table(design, masks)).set_index("outcome")
        changes = {}
        for key, (dex_target, la_target) in targets.items():
            la_step = la_target - means.loc[key, "matched_la"]
            difference_step = (dex_target - la_target) - means.loc[key, "matched_difference"]
            changes[f"intercept_{key}"] = round(getattr(design, f"intercept_{key}") + la_step, 3)
            effect = "effect_nrs" if key == "nrs" else f"direct_{key}"
            changes[effect] = round(getattr(design, effect) + difference_step, 3)
        design = replace(design, **changes)
    return design


def ci_evidence() -> pd.DataFrame:
    """Which sample do the published 95% CIs describe? Per outcome and group: the CI half-width, and the SD
    of change it implies if the group had its full size (106 DEX / 184 LA) or the matched size (92).

    A t interval's half-width is t·SD/√n. If the CIs described the whole cohort, the LA half-width would be
    √(106/184) ≈ 0.76 times the DEX one for equal SDs; equal half-widths in both groups say equal group
    sizes, i.e. the 1:1 matched sample, and the SDs they then imply are typical of these scores' changes."""
    published = cohort.published()["ren2025_cohort"]
    sizes = {"dex": published["n_dex"], "la": published["n_la"]}
    pairs = published["matched_pairs"]
    rows = []
    for key in ("gad7", "phq9"):
        for group in ("dex", "la"):
            low, high = published["change_from_baseline_1_month"][key][group]["ci95"]
            half = (high - low) / 2
            rows.append({
                "outcome": key, "group": group.upper(), "half_width": half,
                "sd_if_full_group": half * np.sqrt(sizes[group]) / stats.t.ppf(0.975, sizes[group] - 1),
                "sd_if_matched": half * np.sqrt(pairs) / stats.t.ppf(0.975, pairs - 1)})
    table = pd.DataFrame(rows)
    ratio = table.pivot(index="outcome", columns="group", values="half_width")
    table.attrs["half_width_ratio_la_to_dex"] = (ratio["LA"] / ratio["DEX"]).to_dict()
    table.attrs["expected_ratio_if_full"] = float(np.sqrt(sizes["dex"] / sizes["la"]))
    return table


def other_reading(n_seeds: int, settings: Settings = SETTINGS) -> pd.DataFrame:
    """What the simulation would look like if the published means described all patients before matching:
    calibrate to the unmatched means, then report the true ATT and the matched means it would give."""
    design = calibrate(n_seeds, design=cohort.SimulationDesign(), settings=settings, sample="all")
    table = summary(seed_table(design, matched_membership(n_seeds, design, settings)))
    return table.assign(reading="published means = all patients before matching")


def book_reading(n_seeds: int, settings: Settings = SETTINGS) -> pd.DataFrame:
    """The book's calibration over `n_seeds` seeds (matched means, unmatched difference, true ATT)."""
    table = summary(seed_table(None, matched_membership(n_seeds, None, settings)))
    return table.assign(reading="published means = the matched sample (this book)")


def readings(n_seeds: int, settings: Settings = SETTINGS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`book_reading` and `other_reading` over `n_seeds` seeds (cached: a minute of simulation)."""
    return cache.load_or_compute(
        "calibration_readings", {"n_seeds": n_seeds, "settings": settings.key()},
        lambda: (book_reading(n_seeds, settings), other_reading(n_seeds, settings)),
        modules=("dexmood.calibration", "dexmood.cohort", "dexmood.matching"), shared=True)
