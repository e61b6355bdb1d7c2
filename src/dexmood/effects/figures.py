"""The forest plot of every estimate, with the published differences and the simulation truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from dexmood import plots
from dexmood.effects.estimands import ESTIMATORS, OUTCOME_LABELS

# --------------------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------------------

def forest_plot(effects: pd.DataFrame, truth: dict | None = None, published: dict | None = None):
    """One panel per outcome: every estimator's estimate and 95% CI; truth (simulated data) and the
    difference implied by the published group means as reference lines."""

    outcomes = list(dict.fromkeys(effects["outcome"]))
    fig, axes = plots.new_figure(ncols=2, nrows=int(np.ceil(len(outcomes) / 2)), width=8.0, height=6.4,
                                 sharey=True)
    axes = np.atleast_1d(axes).ravel()
    order = list(ESTIMATORS)
    implied = (published or {}).get("ren2025_cohort", {}).get("between_group_difference_derived", {})
    for ax, key in zip(axes, outcomes, strict=False):
        block = effects[effects["outcome"] == key].set_index("estimator").reindex(order).dropna(how="all")
        ypos = np.arange(len(block))[::-1]
        colours = [plots.OKABE_ITO[0] if s == "matched" else plots.OKABE_ITO[2] for s in block["sample"]]
        ax.hlines(ypos, block["ci_low"], block["ci_high"], color=colours, lw=2)
        ax.scatter(block["estimate"], ypos, color=colours, zorder=3, s=28)
        ax.axvline(0, color=plots.REFERENCE_COLOR, lw=0.8)
        if truth is not None:
            ax.axvline(truth["att"][key], color=plots.TRUTH_COLOR, ls="--", lw=1.4, label="true ATT")
        if key in implied:
            ax.axvline(implied[key], color=plots.PUBLISHED_COLOR, ls=":", lw=1.4,
                       label="published DEX − LA means")
        ax.set_yticks(ypos, [ESTIMATORS[e][0] for e in block.index])
        unit = "score points" if key != "satisfaction" else "points on 1–5 scale"
        ax.set_xlabel(f"DEX − LA ({unit})")
        ax.set_title(OUTCOME_LABELS[key])
    for ax in axes[len(outcomes):]:
        ax.set_axis_off()

    handles = [Line2D([], [], color=plots.OKABE_ITO[0], marker="o", lw=2),
               Line2D([], [], color=plots.OKABE_ITO[2], marker="o", lw=2)]
    labels = ["matched sample", "full cohort"]
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="outside lower center", ncols=2 if len(handles) == 4 else len(handles))
    return fig, axes
