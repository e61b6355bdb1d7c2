"""The trial page's figures: implied boluses, power heat map, minimal detectable RR, posterior P(RR < t)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from dexmood import plots
from dexmood.trial.dosing import REGISTRY_PCA, PcaProtocol
from dexmood.trial.registry import CLINICAL_RR_THRESHOLD

#: One colour per prior (Okabe–Ito vermillion, bluish green, reddish purple); other priors are black.
PRIOR_COLORS = {"sceptical": plots.OKABE_ITO[5], "enthusiastic": plots.OKABE_ITO[2],
                "parent CI transferred": plots.OKABE_ITO[3]}


def plot_implied_boluses(table: pd.DataFrame, protocol: PcaProtocol = REGISTRY_PCA):
    """Implied boluses per 24 h against weight, one line per drug, with the cap weight marked."""
    fig, ax = plots.new_figure()
    for (drug, block), color in zip(table.groupby("drug", sort=False), plots.OKABE_ITO, strict=False):
        rate = block["achieved_ug_per_kg_per_h"].iloc[0]
        ax.plot(block["weight_kg"], block["boluses_per_24h"], color=color, lw=2, label=f"{drug} ({rate:g} µg/kg/h)")
    ax.axhline(0, color=plots.INK_COLOR, lw=0.8)
    ax.axvline(protocol.sufentanil_cap_weight_kg, color=plots.PUBLISHED_COLOR, ls="--", lw=1)
    ax.text(protocol.sufentanil_cap_weight_kg + 0.5, ax.get_ylim()[1] * 0.9, "sufentanil cap binds", fontsize=8,
            color=plots.PUBLISHED_COLOR)
    ax.set_xlabel("Body weight (kg)")
    ax.set_ylabel("Implied 2-ml boluses per 24 h")
    ax.legend(title="Published mean rate")
    return fig, ax


def plot_power_heatmap(table: pd.DataFrame, column: str = "power_pooled", loss: float = 0.1):
    """Heat map of power over control-arm CPSP risk × RR at one loss to follow-up."""
    block = table[np.isclose(table["loss"], loss)]
    grid = block.pivot(index="rr", columns="p_control", values=column).sort_index(ascending=False)
    grid.columns = [f"{p:.0%}" for p in grid.columns]
    fig, ax = plots.new_figure(height=5.2)
    sns.heatmap(grid, ax=ax, vmin=0, vmax=1, cmap="cividis", annot=(grid * 100).round().astype(int), fmt="d",
                annot_kws={"fontsize": 7}, cbar_kws={"label": "Power"})
    ax.set_xlabel("CPSP risk at 2 years in the placebo arm")
    ax.set_ylabel("True risk ratio (supplement / placebo)")
    ax.set_yticklabels([f"{float(t.get_text()):.2f}" for t in ax.get_yticklabels()], rotation=0)
    return fig, ax


def plot_mdrr(table: pd.DataFrame):
    """Minimal detectable RR against control-arm risk, one line per loss to follow-up."""
    fig, ax = plots.new_figure()
    for (loss, block), color in zip(table.groupby("loss"), plots.OKABE_ITO, strict=False):
        ax.plot(block["p_control"] * 100, block["mdrr"], color=color, lw=2, marker="o", ms=3,
                label=f"{loss:.0%} lost")
    ax.axhline(0.76, color=plots.PUBLISHED_COLOR, ls="--", lw=1)
    ax.text(11, 0.765, "parent trial acute-pain RR 0.76", fontsize=8, color=plots.PUBLISHED_COLOR, va="bottom")
    ax.set_xlabel("CPSP risk at 2 years in the placebo arm (%)")
    ax.set_ylabel("Minimal detectable RR (80% power)")
    ax.set_ylim(0, 0.85)
    ax.legend(title="Loss to follow-up")
    return fig, ax


def plot_probability_curve(curve: pd.DataFrame, threshold: float = CLINICAL_RR_THRESHOLD):
    """Posterior P(RR < t) against t, one line per prior."""
    fig, ax = plots.new_figure()
    for prior, block in curve.groupby("prior", sort=False):
        color = PRIOR_COLORS.get(prior, plots.OKABE_ITO[7])
        ax.plot(block["threshold"], block["probability"], lw=2, color=color, label=prior)
    ax.axvline(threshold, color=plots.PUBLISHED_COLOR, ls="--", lw=1)
    ax.axvline(1.0, color=plots.INK_COLOR, lw=0.8)
    ax.set_xlabel("Risk ratio threshold t")
    ax.set_ylabel("Posterior P(RR < t)")
    ax.set_ylim(0, 1)
    ax.legend(title="Prior")
    return fig, ax
