"""Notebook 04's figures: causal diagram, posterior predictive check, effects, published band."""

from __future__ import annotations

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter
from scipy.stats import gaussian_kde

from dexmood import plots
from dexmood.mediation._common import OBSERVED, OUTCOME_LABELS, OUTCOMES
from dexmood.mediation.truth import published_band, truth_value


def draw_dag(ax=None):
    """The assumed causal structure, drawn with matplotlib (no graphviz needed)."""
    if ax is None:
        _, ax = plots.new_figure(width=7.0, height=3.9)
    ax.set_axis_off()
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.4, 5.6)
    nodes = {
        "T": (1.3, 2.0, "DEX vs LA\n(treatment)"),
        "M": (5.0, 4.3, "ΔNRS pain\n(mediator, 1 month)"),
        "Y": (8.6, 2.0, "ΔGAD-7 and ΔPHQ-9\n(outcomes, 1 month;\nresidual correlation ρ_Y)"),
        "X": (5.0, 0.1, "baseline covariates X: age, sex, baseline scores, BMI, pain history, procedure"),
        "U": (8.6, 4.95, "U: unmeasured\npain–mood confounders"),
    }
    colors = {"T": plots.GROUP_COLORS["DEX"], "M": plots.OKABE_ITO[4], "Y": plots.INK_COLOR,
              "X": plots.COVARIATE_COLOR, "U": plots.UNMEASURED_COLOR}
    boxes = {}
    for key, (x, y, text) in nodes.items():
        style = {"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": colors[key],
                 "linewidth": 1.6, "linestyle": "--" if key == "U" else "-"}
        boxes[key] = ax.text(x, y, text, ha="center", va="center", fontsize=8.5, bbox=style, zorder=3)

    def arrow(a, b, label=None, style="-", color=plots.INK_COLOR, label_at=0.5, start=None, end=None):
        x0, y0 = start or nodes[a][:2]
        x1, y1 = end or nodes[b][:2]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=2, xycoords="data",
                    arrowprops={"arrowstyle": "-|>", "color": color, "linestyle": style, "lw": 1.4,
                                "patchA": None if start else boxes[a].get_bbox_patch(),
                                "patchB": None if end else boxes[b].get_bbox_patch(),
                                "shrinkA": 2, "shrinkB": 2})
        if label:
            ax.text(x0 + label_at * (x1 - x0), y0 + label_at * (y1 - y0), label, fontsize=9.5, color=color,
                    ha="center", va="center", bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
                    zorder=4)

    arrow("T", "M", "a")
    arrow("M", "Y", "b, d")
    arrow("T", "Y", "c′ (direct)", label_at=0.3)
    grey = plots.REFERENCE_COLOR
    arrow("X", "T", start=(3.0, 0.42), end=(1.6, 1.45), color=grey)
    arrow("X", "M", start=(4.4, 0.42), end=(4.4, 3.8), color=grey)
    arrow("X", "Y", start=(7.0, 0.42), end=(8.3, 1.3), color=grey)
    arrow("U", "M", style="--", color=plots.UNMEASURED_COLOR)
    arrow("U", "Y", style="--", color=plots.UNMEASURED_COLOR)
    ax.text(1.3, 3.35, "d: DEX × pain interaction\n(ACME treated ≠ control)", fontsize=8, color=plots.MUTED,
            ha="center", va="center")
    return ax


def outcome_colors() -> dict[str, str]:
    """GAD-7 green, PHQ-9 reddish purple (Okabe–Ito): distinct from the DEX/LA group colours and the truth."""
    return {"gad7": plots.OKABE_ITO[2], "phq9": plots.OKABE_ITO[3]}


def plot_ppc(idata: az.InferenceData, n_replicates: int = 60, seed: int = 0):
    """Observed changes (black step histogram, 1-point bins) against data sets replicated from the posterior
    (thin blue lines, same bins): the check of Gabry et al. (2019) for integer-valued scores."""
    labels = {"nrs": "change in NRS", "gad7": "change in GAD-7", "phq9": "change in PHQ-9"}
    rng = np.random.default_rng(seed)
    fig, axes = plots.new_figure(ncols=3, width=10.0, height=3.2)
    n_samples = idata.posterior_predictive.sizes["chain"] * idata.posterior_predictive.sizes["draw"]
    picks = rng.choice(n_samples, size=min(n_replicates, n_samples), replace=False)
    for ax, (name, variable) in zip(axes, OBSERVED.items(), strict=True):
        observed = idata.observed_data[variable].values
        replicated = idata.posterior_predictive[variable].values.reshape(n_samples, -1)[picks]
        low = np.floor(min(observed.min(), np.quantile(replicated, 0.001))) - 0.5
        high = np.ceil(max(observed.max(), np.quantile(replicated, 0.999))) + 0.5
        bins = np.arange(low, high + 1)
        for k, row in enumerate(replicated):
            density, _ = np.histogram(row, bins=bins, density=True)
            ax.stairs(density, bins, color=plots.OKABE_ITO[4], alpha=0.25, lw=0.8,
                      label="replicated from the posterior" if k == 0 else None)
        density, _ = np.histogram(observed, bins=bins, density=True)
        ax.stairs(density, bins, color="black", lw=1.6, label="observed")
        ax.set_title(labels[name])
        ax.set_xlabel("score points (1 month − baseline)")
        ax.set_yticks([])
    axes[0].set_ylabel("share of patients per point")
    handles, legend_labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, legend_labels, loc="lower center", ncol=2, bbox_to_anchor=(0.5, -0.1))
    return fig, axes


def plot_effects(idata: az.InferenceData, truth: dict | None = None):
    """Posterior densities of ACME (treated/control), ADE (control), total and proportion per outcome."""
    panels = [("acme_treated", "ACME (treated)"), ("acme_control", "ACME (control)"),
              ("ade_control", "ADE (control)"), ("total", "Total effect"),
              ("proportion_mediated", "Proportion mediated")]
    fig, axes = plots.new_figure(ncols=len(panels), nrows=1, width=11.0, height=3.2)
    colors = outcome_colors()
    for ax, (name, title) in zip(axes, panels, strict=True):
        for outcome in OUTCOMES:
            values = idata.posterior[name].sel(outcome=outcome).values.ravel()
            low, high = np.quantile(values, [0.005, 0.995])
            grid = np.linspace(low, high, 200)
            ax.plot(grid, gaussian_kde(values)(grid), color=colors[outcome], label=OUTCOME_LABELS[outcome])
            if truth is not None:
                ax.axvline(truth_value(truth, outcome, name), color=colors[outcome], linestyle="--", lw=1)
        ax.axvline(0, color=plots.INK_COLOR, lw=0.8)
        ax.set_title(title)
        ax.set_xlabel("share" if name == "proportion_mediated" else "score points")
        ax.set_yticks([])
    axes[0].set_ylabel("posterior density")
    handles, labels = axes[0].get_legend_handles_labels()
    if truth is not None:
        handles.append(plt.Line2D([], [], color=plots.INK_COLOR, linestyle="--", lw=1))
        labels.append("simulation truth")
    fig.legend(handles, labels, loc="lower center", ncol=3, bbox_to_anchor=(0.5, -0.12))
    return fig, axes


def plot_proportion_vs_published(summaries: dict[str, pd.DataFrame], truth: dict | None = None):
    """Posterior median and 95% interval of the proportion mediated per outcome and sample, with the
    published 18–32% band (Ren et al. 2025)."""
    low, high = published_band()
    fig, ax = plots.new_figure(width=7.0, height=3.6)
    ax.axvspan(low, high, color=plots.PUBLISHED_COLOR, alpha=0.18, lw=0,
               label=f"published {100 * low:.0f}–{100 * high:.0f}%")
    markers = ["o", "s", "^", "D"]
    y_labels, y = [], 0
    for s, (sample_label, summary) in enumerate(summaries.items()):
        for outcome in OUTCOMES:
            row = summary.loc[(outcome, "proportion_mediated")]
            ax.errorbar(row["median"], y, xerr=[[row["median"] - row["ci95_low"]], [row["ci95_high"] - row["median"]]],
                        fmt=markers[s % len(markers)], color=outcome_colors()[outcome],
                        capsize=3)
            if truth is not None:
                ax.plot(truth_value(truth, outcome, "proportion_mediated"), y, marker="|", markersize=16,
                        color=plots.TRUTH_COLOR, mew=2, label="simulation truth" if y == 0 else None)
            y_labels.append(f"{OUTCOME_LABELS[outcome]}\n{sample_label}")
            y += 1
    ax.set_yticks(range(len(y_labels)), y_labels, fontsize=8.5)
    ax.invert_yaxis()
    ax.axvline(0, color=plots.INK_COLOR, lw=0.8)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xlabel("share of the total effect mediated by pain relief (posterior median, 95% interval)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=8.5)
    return fig, ax
