"""Descriptive tables: Table 1 with SMDs, per-group changes, the published figures next to ours."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from scipy import stats

from dexmood import paths
from dexmood.cohort.contract import GROUPS, OUTCOMES
from dexmood.cohort.prepare import add_changes, baseline_covariates


def smd_table(frame: pd.DataFrame, covariates: list[str] | None = None) -> pd.DataFrame:
    """Table 1: per-group mean (SD) or n (%) and the standardized mean difference (pooled SD)."""
    covariates = covariates or baseline_covariates(frame)
    dex = frame["group"] == "DEX"
    rows = []
    for column in covariates:
        series = frame[column]
        if series.dtype.kind in "fiu":
            a, b = series[dex].astype(float), series[~dex].astype(float)
            pooled = np.sqrt((a.var() + b.var()) / 2)
            rows.append({"covariate": column, "level": "", "DEX": f"{a.mean():.1f} ({a.std():.1f})",
                         "LA": f"{b.mean():.1f} ({b.std():.1f})",
                         "SMD": (a.mean() - b.mean()) / pooled if pooled > 0 else 0.0})
        else:
            for level in sorted(series.dropna().unique()):
                a = (series[dex] == level).astype(float)
                b = (series[~dex] == level).astype(float)
                pooled = np.sqrt((a.mean() * (1 - a.mean()) + b.mean() * (1 - b.mean())) / 2)
                rows.append({"covariate": column, "level": str(level),
                             "DEX": f"{int(a.sum())} ({100 * a.mean():.0f}%)",
                             "LA": f"{int(b.sum())} ({100 * b.mean():.0f}%)",
                             "SMD": (a.mean() - b.mean()) / pooled if pooled > 0 else 0.0})
    return pd.DataFrame(rows)


def change_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Unadjusted 1-month change per group: n, mean, SD and a t-based 95% CI (complete cases)."""

    changes = add_changes(frame)
    rows = []
    for outcome in OUTCOMES:
        for group in GROUPS:
            values = changes.loc[changes["group"] == group, f"{outcome}_change"].dropna()
            n = len(values)
            half = stats.t.ppf(0.975, n - 1) * values.std() / np.sqrt(n) if n > 1 else np.nan
            rows.append({"outcome": outcome, "group": group, "n": n, "mean": values.mean(),
                         "sd": values.std(), "ci_low": values.mean() - half, "ci_high": values.mean() + half})
    return pd.DataFrame(rows)


def published() -> dict:
    """Published figures (copied from the project's shared reference file; facts only, cited)."""
    return json.loads(paths.PUBLISHED_JSON.read_text())


def published_changes() -> pd.DataFrame:
    """The published 1-month changes per group (Ren et al. 2025) in the layout of `change_summary`."""
    block = published()["ren2025_cohort"]["change_from_baseline_1_month"]
    rows = []
    for outcome in OUTCOMES:
        for group, key in (("DEX", "dex"), ("LA", "la")):
            entry = block[outcome][key]
            ci = entry.get("ci95") or [np.nan, np.nan]
            rows.append({"outcome": outcome, "group": group, "mean": entry["mean"],
                         "ci_low": ci[0], "ci_high": ci[1]})
    return pd.DataFrame(rows)


def compare_with_published(frame: pd.DataFrame) -> pd.DataFrame:
    """Unadjusted per-group changes of this cohort next to the published ones."""
    ours = change_summary(frame)
    theirs = published_changes().rename(columns={"mean": "published_mean", "ci_low": "published_ci_low",
                                                 "ci_high": "published_ci_high"})
    table = ours.merge(theirs, on=["outcome", "group"])
    table["difference"] = table["mean"] - table["published_mean"]
    return table
