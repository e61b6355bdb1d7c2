"""Matching figures: love plot, propensity-score histograms, eCDF plots."""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from dexmood import plots
from dexmood.matching.balance import BalanceTable
from dexmood.matching.nearest import MatchResult
from dexmood.matching.propensity import TREATED_GROUP, _is_categorical

# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------

BEFORE_COLOR = plots.BEFORE_COLOR
AFTER_COLOR = plots.AFTER_COLOR


def love_plot(balance: BalanceTable, ax=None, threshold: float | None = None):
    """Absolute SMD of every term before and after matching, with the threshold line (cobalt love.plot)."""

    rows = balance.covariate_rows.iloc[::-1]
    threshold = balance.smd_threshold if threshold is None else threshold
    if ax is None:
        _, ax = plots.new_figure(height=0.32 * len(rows) + 1.4)
    y = np.arange(len(rows))
    before = rows["smd_before"].abs().to_numpy()
    after = rows["smd_after"].abs().to_numpy()
    ax.hlines(y, np.minimum(before, after), np.maximum(before, after), color=plots.LIGHT, lw=1.5, zorder=1)
    ax.scatter(before, y, facecolors="none", edgecolors=BEFORE_COLOR, s=40, lw=1.5, label="before matching",
               zorder=2)
    ax.scatter(after, y, color=AFTER_COLOR, s=40, label="after matching", zorder=3)
    ax.axvline(threshold, color=plots.INK_COLOR, ls="--", lw=1)
    ax.set_yticks(y, rows["term"])
    ax.set_xlabel("absolute standardized mean difference (SD of DEX group)")
    ax.set_xlim(left=0)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2)
    return ax


def ps_histograms(match_result: MatchResult, scale: str = "probability", bins: int = 25):
    """Mirrored histograms of the propensity score by group, before and after matching (weighted)."""

    full = match_result.full
    values = (1 / (1 + np.exp(-full["distance"])) if scale == "probability" else full["distance"]).to_numpy()
    edges = np.histogram_bin_edges(values, bins=bins)
    treated = (full["group"] == TREATED_GROUP).to_numpy()
    fig, axes = plots.new_figure(ncols=2, sharey=True, height=3.8)
    for ax, (title, w) in zip(axes, (("before matching", np.ones(len(full))),
                                     ("after matching", full["weights"].to_numpy())), strict=True):
        up, _ = np.histogram(values[treated], bins=edges, weights=w[treated])
        down, _ = np.histogram(values[~treated], bins=edges, weights=w[~treated])
        ax.bar(edges[:-1], up, width=np.diff(edges), align="edge", color=plots.GROUP_COLORS["DEX"],
               label="DEX", edgecolor="white", lw=0.4)
        ax.bar(edges[:-1], -down, width=np.diff(edges), align="edge", color=plots.GROUP_COLORS["LA"],
               label="LA", edgecolor="white", lw=0.4)
        ax.axhline(0, color=plots.INK_COLOR, lw=0.8)
        ax.set_title(title)
        ax.set_xlabel("propensity score P(DEX)" if scale == "probability" else "logit propensity score")
    axes[0].set_ylabel("patients (LA below the line; weighted after matching)")
    axes[0].yaxis.set_major_formatter(lambda v, _: f"{abs(v):g}")
    axes[1].legend(loc="upper left")
    return fig, axes


def ecdf_plots(match_result: MatchResult, covariates: list[str] | None = None, ncols: int = 3):
    """eCDF of each continuous covariate by group: before (dashed) and after matching (solid, weighted)."""

    full = match_result.full
    if covariates is None:
        covariates = [c for c in match_result.propensity.covariates if not _is_categorical(full[c])]
    nrows = int(np.ceil(len(covariates) / ncols))
    fig, axes = plots.new_figure(ncols=ncols, nrows=nrows, height=2.3 * nrows + 0.6, squeeze=False)
    treated = (full["group"] == TREATED_GROUP).to_numpy()
    weights = full["weights"].to_numpy()
    for ax, name in zip(axes.flat, covariates, strict=False):
        x = full[name].to_numpy(dtype=float)
        for group, mask in ((TREATED_GROUP, treated), ("LA", ~treated)):
            color = plots.GROUP_COLORS[group]
            for w, style in ((np.ones(len(x)), "--"), (weights, "-")):
                sel = mask & (w > 0)
                order = np.argsort(x[sel], kind="stable")
                xs = x[sel][order]
                cdf = np.cumsum(w[sel][order]) / w[sel].sum()
                ax.step(xs, cdf, where="post", color=color, ls=style, lw=1.3,
                        alpha=0.55 if style == "--" else 1.0)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(0, 1.02)
    for ax in list(axes.flat)[len(covariates):]:
        ax.set_axis_off()

    handles = [Line2D([], [], color=plots.GROUP_COLORS["DEX"], label="DEX"),
               Line2D([], [], color=plots.GROUP_COLORS["LA"], label="LA"),
               Line2D([], [], color=plots.MUTED, ls="--", label="before matching"),
               Line2D([], [], color=plots.MUTED, ls="-", label="after matching")]
    fig.legend(handles=handles, loc="outside lower center", ncols=4)
    for ax in axes[:, 0]:
        ax.set_ylabel("cumulative proportion")
    return fig, axes


# --------------------------------------------------------------------------------------------------
