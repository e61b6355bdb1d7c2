"""Cohort figures: score distributions and the changes next to the published ones."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from dexmood import plots
from dexmood.cohort.contract import OUTCOMES, SCORE_RANGES


def plot_distributions(frame: pd.DataFrame):
    """Baseline and 1-month score distributions by group (one panel per instrument)."""


    long = []
    for outcome in OUTCOMES:
        for visit, suffix in (("baseline", "_baseline"), ("1 month", "_1m")):
            part = frame[["group", f"{outcome}{suffix}"]].rename(columns={f"{outcome}{suffix}": "score"})
            part = part.assign(instrument=outcome.upper(), visit=visit)
            long.append(part)
    long = pd.concat(long, ignore_index=True).dropna(subset=["score"])
    fig, axes = plt.subplots(1, 3, figsize=(7.2, 3.4), constrained_layout=True)

    for ax, outcome in zip(axes, OUTCOMES, strict=True):
        lo, hi = SCORE_RANGES[outcome]
        part = long[long["instrument"] == outcome.upper()]
        sns.boxplot(data=part, x="visit", y="score", hue="group", hue_order=plots.GROUP_ORDER,
                    palette=plots.GROUP_COLORS, ax=ax, fliersize=2, linewidth=0.8)
        ax.set_title(outcome.upper().replace("GAD7", "GAD-7").replace("PHQ9", "PHQ-9"))
        ax.set_ylim(lo - 0.5, hi + 0.5)
        ax.set_xlabel("")
        ax.set_ylabel("score (points)")
        if ax is not axes[0]:
            ax.get_legend().remove()
    axes[0].legend(title="group", loc="lower left", fontsize=8)
    return fig


def plot_changes_vs_published(comparison: pd.DataFrame):
    """Per-group mean change (95% CI) in this cohort next to the published means."""


    fig, ax = plt.subplots(figsize=(7.0, 3.4), constrained_layout=True)
    labels = []
    for i, row in comparison.reset_index(drop=True).iterrows():
        y = -i
        colour = plots.GROUP_COLORS[row["group"]]
        ax.errorbar(row["mean"], y + 0.12, xerr=[[row["mean"] - row["ci_low"]], [row["ci_high"] - row["mean"]]],
                    fmt="o", color=colour, capsize=3, label="this cohort" if i == 0 else None)
        has_ci = np.isfinite(row["published_ci_low"])
        xerr = ([[row["published_mean"] - row["published_ci_low"]], [row["published_ci_high"] - row["published_mean"]]]
                if has_ci else None)
        ax.errorbar(row["published_mean"], y - 0.12, xerr=xerr, fmt="D", color=plots.PUBLISHED_COLOR,
                    mfc="white", capsize=3, label="published (Ren et al. 2025)" if i == 0 else None)
        labels.append(f"{row['outcome'].upper()} – {row['group']}")
    ax.set_yticks([-i for i in range(len(labels))], labels)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("mean change from baseline at 1 month (points; negative = improvement)")
    ax.legend(loc="lower right", fontsize=8)
    return fig
