"""The figures of the sensitivity chapter, in the book's one look (`dexmood.plots`).

Each takes the result of its method (a table or dict from this subpackage); levels or rows without an
estimate (too few patients, a specification that could not run) are listed but not drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from dexmood import plots
from dexmood.sensitivity._common import ALPHA, OUTCOME_COLUMNS, OUTCOME_LABELS, OUTCOMES, prepared
from dexmood.sensitivity.confounding import critical_gamma, pair_differences, wilcoxon_sensitivity
from dexmood.sensitivity.medsens_monte_carlo import hook_acme

FAMILY_COLORS = {"matching": plots.OKABE_ITO[0], "weighting": plots.OKABE_ITO[2]}
SUBGROUP_COLORS = {"comorbidity": plots.OKABE_ITO[0], "severity": plots.OKABE_ITO[5]}


def _interaction_text(block: pd.DataFrame) -> list[str]:
    lines = []
    for subgroup, rows in block.groupby("subgroup", sort=False):
        p = rows["p_interaction"].iloc[0]
        lines.append(f"{subgroup}: p = {p:.2f}" if np.isfinite(p) else f"{subgroup}: not tested")
    return lines


def plot_subgroups(table: pd.DataFrame):
    """Forest plot: ATT (95% CI, t with Bell–McCaffrey df) per subgroup level, one panel per outcome; levels
    with too few patients are labelled with their counts and not drawn."""
    outcomes = list(dict.fromkeys(table["outcome"]))
    fig, axes = plots.new_figure(ncols=len(outcomes), width=10.0, height=3.8, sharey=True)
    axes = np.atleast_1d(axes)
    first = table[table["outcome"] == outcomes[0]].reset_index(drop=True)
    y = np.arange(len(first))[::-1]
    for ax, key in zip(axes, outcomes, strict=True):
        block = table[table["outcome"] == key].reset_index(drop=True)
        drawn = block["att"].notna().to_numpy()
        colour = [SUBGROUP_COLORS.get(s, plots.INK_COLOR) for s in block["subgroup"]]
        for yi, row, c, ok in zip(y, block.itertuples(), colour, drawn, strict=True):
            if ok:
                ax.hlines(yi, row.ci_low, row.ci_high, color=c, lw=2)
                ax.scatter(row.att, yi, color=c, s=float(np.clip(row.n, 10, 120)), zorder=3)
        ax.axvline(0, color=plots.REFERENCE_COLOR, lw=0.8)
        ax.set_title("\n".join([OUTCOME_LABELS[key], *_interaction_text(block)]), fontsize=8.5)
        ax.set_xlabel("ATT, DEX − LA (points)")
    labels = [f"{s}: {lev}" + ("" if status == "estimated" else f" — {status}")
              for s, lev, status in zip(first["subgroup"], first["level"], first["status"], strict=True)]
    axes[0].set_yticks(y, labels)
    return fig, axes


def plot_specification_curve(curve: pd.DataFrame, truth: dict | None = None, published: dict | None = None):
    """One panel per outcome: estimate and 95% CI of every specification (main one in bold). The true ATT of
    a simulated cohort and the published difference are drawn across the ATT rows only: the overlap-weights
    row estimates the ATO, another estimand, and sits below a separator."""
    outcomes = list(dict.fromkeys(curve["outcome"]))
    fig, axes = plots.new_figure(ncols=len(outcomes), width=10.0, height=4.6, sharey=True)
    axes = np.atleast_1d(axes)
    order = list(dict.fromkeys(curve["specification"]))
    labels = curve.drop_duplicates("specification").set_index("specification")["label"]
    estimands = curve.drop_duplicates("specification").set_index("specification")["estimand"]
    implied = (published or {}).get("ren2025_cohort", {}).get("between_group_difference_derived", {})
    y = np.arange(len(order))[::-1].astype(float)
    att_rows = y[[estimands[s] == "ATT" for s in order]]
    span = (att_rows.min() - 0.4, att_rows.max() + 0.4) if len(att_rows) else (0, 0)
    for ax, key in zip(axes, outcomes, strict=True):
        block = curve[curve["outcome"] == key].set_index("specification").reindex(order)
        for yi, (_, row) in zip(y, block.iterrows(), strict=True):
            if not np.isfinite(row["estimate"]):
                continue
            colour = FAMILY_COLORS[row["family"]]
            ax.hlines(yi, row["ci_low"], row["ci_high"], color=colour, lw=3.2 if row["main"] else 1.8)
            ax.scatter(row["estimate"], yi, color=colour, s=60 if row["main"] else 26, zorder=3,
                       marker="D" if row["main"] else "o")
        ax.axvline(0, color=plots.REFERENCE_COLOR, lw=0.8)
        if len(att_rows) < len(order):
            ax.axhline(span[0] - 0.1, color=plots.REFERENCE_COLOR, lw=0.6, ls="-")
        if truth is not None and key in truth.get("att", {}):
            ax.vlines(truth["att"][key], *span, color=plots.TRUTH_COLOR, ls="--", lw=1.3, label="true ATT (simulation)")
        if key in implied:
            ax.vlines(implied[key], *span, color=plots.PUBLISHED_COLOR, ls=":", lw=1.4, label="published DEX − LA means")
        ax.set_title(OUTCOME_LABELS[key])
        ax.set_xlabel("effect, DEX − LA (points)")
        ax.set_yticks(y, [labels[s] for s in order])
    handles, names = [], []
    for ax in axes:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            if name not in names:
                handles.append(handle)
                names.append(name)
    handles += [Line2D([], [], color=FAMILY_COLORS["matching"], marker="o", label="matched sample"),
                Line2D([], [], color=FAMILY_COLORS["weighting"], marker="o", label="weighting, full cohort")]
    names += ["matched sample", "weighting, full cohort"]
    fig.legend(handles, names, loc="outside lower center", ncols=min(len(handles), 4))
    return fig, axes


def plot_rosenbaum(matched: pd.DataFrame, outcomes=OUTCOMES, gamma_max: float = 3.5):
    """Upper bound of the one-sided Wilcoxon p-value against Γ, one line per outcome, with α = 0.05."""
    data = prepared(matched)
    fig, ax = plots.new_figure(width=6.5, height=3.6)
    gammas = np.linspace(1.0, gamma_max, 126)
    for key in outcomes:
        differences = pair_differences(data, OUTCOME_COLUMNS[key])
        alternative = "less" if np.mean(differences) < 0 else "greater"
        upper = [wilcoxon_sensitivity(differences, g, alternative).p_upper for g in gammas]
        gamma = critical_gamma(differences, ALPHA, alternative)
        colour = plots.OUTCOME_COLORS[key]
        ax.plot(gammas, upper, color=colour, label=f"{OUTCOME_LABELS[key]} (Γ = {gamma:.2f})")
        if np.isfinite(gamma) and gamma <= gamma_max:
            ax.plot([gamma], [ALPHA], "o", color=colour)
    ax.axhline(ALPHA, color=plots.INK_COLOR, ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("Γ: odds ratio of DEX within a matched pair due to hidden bias")
    ax.set_ylabel("upper bound of one-sided p-value")
    ax.legend(loc="lower right")
    return fig, ax


def plot_medsens(results: dict, monte_carlo: dict | None = None, treated: float = 0.5):
    """ACME(ρ) per mediated outcome (closed form) with its 95% band propagating the uncertainty of the residual
    SDs, the band conditional on them (dotted, as medsens), the ρ where the ACME vanishes, and the joint
    Bayesian model's median and 95% interval at the fixed-ρ nodes of the Monte-Carlo sensitivity analysis."""
    fig, axes = plots.new_figure(ncols=len(results), width=9.0, height=3.8, sharey=True)
    axes = np.atleast_1d(axes)
    fits = (monte_carlo or {}).get("fits")
    for ax, (key, result) in zip(axes, results.items(), strict=True):
        curve = result.curve
        colour = plots.OUTCOME_COLORS[key]
        ax.fill_between(curve["rho"], curve["ci_low"], curve["ci_high"], color=colour, alpha=0.18, lw=0,
                        label="95% CI (σ uncertainty propagated)")
        ax.plot(curve["rho"], curve["conditional_low"], color=colour, ls=":", lw=0.9,
                label="95% CI given σ_M, σ_Y (medsens)")
        ax.plot(curve["rho"], curve["conditional_high"], color=colour, ls=":", lw=0.9)
        ax.plot(curve["rho"], curve["acme"], color=colour, label="ACME(ρ), closed form")
        ax.axhline(0, color=plots.INK_COLOR, lw=0.8)
        ax.axvline(result.rho_at_zero, color=colour, ls="--", lw=1, label=f"ACME = 0 at ρ = {result.rho_at_zero:.2f}")
        if fits is not None:
            for rho in fits["rho"]:
                low, med, high = np.quantile(hook_acme(fits["draws"][float(rho)], key, treated), [0.025, 0.5, 0.975])
                ax.errorbar(rho, med, yerr=[[med - low], [high - med]], fmt="s", color=plots.INK_COLOR, capsize=3,
                            ms=5, label="joint Bayesian model, ρ fixed" if rho == fits["rho"][0] else None)
        ax.set_title(OUTCOME_LABELS[key])
        ax.set_xlabel("ρ: correlation of mediator and outcome residuals")
        ax.legend(fontsize=7.0, loc="upper left")
    axes[0].set_ylabel("ACME, points (negative = benefit via pain)")
    return fig, axes


def plot_randomisation(results: dict):
    """Randomisation distribution (Γ = 1) of the mean pair difference per outcome, with the observed ATT."""
    fig, axes = plots.new_figure(ncols=len(results), width=9.0, height=3.0)
    axes = np.atleast_1d(axes)
    for ax, (key, result) in zip(axes, results.items(), strict=True):
        ax.hist(result["null"], bins=40, color=plots.NEUTRAL_COLOR, edgecolor="white", lw=0.3)
        ax.axvline(result["observed"], color=plots.GROUP_COLORS["DEX"], lw=2, label="observed ATT")
        limit = 1.1 * max(abs(result["observed"]), float(np.abs(result["null"]).max()))
        ax.set_xlim(-limit, limit)
        ax.set_title(f"{OUTCOME_LABELS[key]} (p = {result['p']:.4f})")
        ax.set_xlabel("mean DEX − LA pair difference (points)")
    axes[0].set_ylabel("random sign flips")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center")
    return fig, axes
