"""Figures of the simulation study (notebook 08), in the book's palette and style (`dexmood.plots`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dexmood import plots
from dexmood.validation.measures import coverage_band
from dexmood.validation.scenarios import ESTIMAND_LABELS, ESTIMATORS, OUTCOME_LABELS, SCENARIOS, SHORT_LABELS

#: Colour (index into `plots.OKABE_ITO`) and marker per scenario.
SCENARIO_STYLE = {
    "published": (0, "o"), "published_conf0": (4, "v"), "published_conf2": (5, "^"), "null": (7, "s"),
    "null_conf2": (3, "D"), "no_pain_to_mood": (2, "P"), "no_pain_effect": (1, "X"),
    "published_n1000": (4, "<"), "published_n5000": (7, ">"),
}


def row_label(estimator: str, estimand: str) -> str:
    suffix = f": {ESTIMAND_LABELS[estimand]}" if ESTIMATORS[estimator][1] == "mediation" else ""
    return SHORT_LABELS[estimator] + suffix


def _dot_panels(summary, rows, outcomes, value, mcse, reference, xlabel, scenarios, band=None, width=8.0):
    fig, axes = plots.new_figure(ncols=len(outcomes), width=width, height=0.42 * len(rows) + 1.8, sharey=True)
    axes = np.atleast_1d(axes)
    offsets = np.linspace(-0.3, 0.3, len(scenarios)) if len(scenarios) > 1 else np.zeros(1)
    for ax, outcome in zip(axes, outcomes, strict=True):
        if band is not None:
            ax.axvspan(*band, color=plots.PUBLISHED_COLOR, alpha=0.15, lw=0, zorder=0)
        ax.axvline(reference, color=plots.PUBLISHED_COLOR, lw=1, ls="--", zorder=1)
        for s, scenario in enumerate(scenarios):
            colour_index, marker = SCENARIO_STYLE.get(scenario, (7, "o"))
            for r, (estimator, estimand) in enumerate(rows):
                hit = summary[(summary["scenario"] == scenario) & (summary["estimator"] == estimator)
                              & (summary["estimand"] == estimand) & (summary["outcome"] == outcome)]
                if hit.empty:
                    continue
                ax.errorbar(hit[value].iloc[0], len(rows) - 1 - r + offsets[s], xerr=1.96 * hit[mcse].iloc[0],
                            fmt=marker, ms=5, color=plots.OKABE_ITO[colour_index], capsize=2, lw=1,
                            label=SCENARIOS[scenario].label)
        ax.set_title(OUTCOME_LABELS[outcome])
        ax.set_xlabel(xlabel)
    axes[0].set_yticks(range(len(rows))[::-1], [row_label(e, k) for e, k in rows], fontsize=8)
    handles = dict(zip(*axes[0].get_legend_handles_labels()[::-1], strict=True))  # label -> handle, first kept
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=2, fontsize=8)
    return fig, axes


def plot_coverage(summary: pd.DataFrame, rows, outcomes, scenarios, n_reps_band: int = 500, width: float = 8.0):
    """Coverage of the 95% intervals (error bars: ±1.96 Monte-Carlo SE) against the nominal 95%; the grey
    band is what Monte-Carlo error alone allows with `n_reps_band` replicates."""
    return _dot_panels(summary, rows, outcomes, "coverage", "coverage_mcse", 0.95,
                       "coverage of the 95% interval", scenarios, band=coverage_band(n_reps_band), width=width)


def plot_bias(summary: pd.DataFrame, rows, outcomes, scenarios, width: float = 8.0):
    """Bias against each estimator's own target (error bars: ±1.96 Monte-Carlo SE)."""
    return _dot_panels(summary, rows, outcomes, "bias", "bias_mcse", 0.0, "bias (score points)", scenarios,
                       width=width)
