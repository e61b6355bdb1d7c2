"""One look for every figure in the book: theme, colour-blind-safe palette, group colours."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import seaborn as sns

# Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
GROUP_COLORS = {"DEX": "#0072B2", "LA": "#E69F00"}
GROUP_ORDER = ["DEX", "LA"]
PUBLISHED_COLOR = "#555555"
TRUTH_COLOR = "#D55E00"
#: Pale tints of Okabe–Ito orange, bluish green and sky blue, for shaded backgrounds (phases of a time line).
TINTS = {"orange": "#FFF5E0", "green": "#E6F5EF", "sky": "#EAF4FB", "blue": "#EAF2FA", "sand": "#FDF1E0"}
#: Reference lines (zero effect), annotation ink and neutral fills (histograms of a null distribution).
REFERENCE_COLOR = "#999999"
INK_COLOR = "#333333"
NEUTRAL_COLOR = "#BBBBBB"
#: One colour per outcome, the same in every figure.
OUTCOME_COLORS = {"gad7": OKABE_ITO[0], "phq9": OKABE_ITO[5], "nrs": OKABE_ITO[2], "satisfaction": OKABE_ITO[3]}
#: De-emphasised marks and light fills; the before/after colours of balance plots.
MUTED = "#555555"
LIGHT = "#DDDDDD"
BEFORE_COLOR = "#999999"
AFTER_COLOR = "#009E73"
#: Causal diagrams: the measured covariates' box and the unmeasured confounders (dashed).
COVARIATE_COLOR = "#777777"
UNMEASURED_COLOR = "#AAAAAA"


def set_theme() -> None:
    """Apply the book's figure theme (call once at the top of a notebook)."""
    sns.set_theme(context="notebook", style="whitegrid", palette=OKABE_ITO, font_scale=0.95)
    mpl.rcParams.update(
        {
            "figure.figsize": (7.0, 4.2),
            "figure.dpi": 96,
            "savefig.dpi": 144,
            "savefig.bbox": "tight",
            "axes.titleweight": "bold",
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.frameon": False,
            "svg.hashsalt": "dexmood",  # deterministic SVG ids
        }
    )


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 7.0, height: float = 4.2, **kwargs):
    """A figure sized to stay readable at phone width."""
    return plt.subplots(nrows, ncols, figsize=(width, height), constrained_layout=True, **kwargs)


def flow_diagram(steps: list[tuple[str, int]], exclusions: list[tuple[str, int]], title: str = ""):
    """Draw a CONSORT-style flow: a vertical chain of boxes with exclusion boxes to the right.

    `steps` are (label, n) from top to bottom; `exclusions[i]` (label, n) hangs between step i and i+1.
    """
    n_rows = len(steps)
    fig, ax = plt.subplots(figsize=(7.0, 1.25 * n_rows + 0.4), constrained_layout=True)
    ax.set_axis_off()
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.6, n_rows - 0.3)
    box = {"boxstyle": "round,pad=0.4", "facecolor": TINTS["blue"], "edgecolor": GROUP_COLORS["DEX"]}
    ex_box = {"boxstyle": "round,pad=0.4", "facecolor": TINTS["sand"], "edgecolor": GROUP_COLORS["LA"]}
    ys = [n_rows - 1 - i for i in range(n_rows)]
    for (label, n), y in zip(steps, ys, strict=True):
        ax.text(2.8, y, f"{label}\nn = {n}", ha="center", va="center", fontsize=9, bbox=box)
    for i, (label, n) in enumerate(exclusions):
        if i + 1 >= n_rows:
            break
        y_mid = (ys[i] + ys[i + 1]) / 2
        ax.annotate("", xy=(2.8, ys[i + 1] + 0.28), xytext=(2.8, ys[i] - 0.28),
                    arrowprops={"arrowstyle": "->", "color": INK_COLOR})
        if n:
            ax.annotate("", xy=(5.6, y_mid), xytext=(2.8, y_mid), arrowprops={"arrowstyle": "->", "color": REFERENCE_COLOR})
            ax.text(7.6, y_mid, f"{label}\nn = {n}", ha="center", va="center", fontsize=8.5, bbox=ex_box, wrap=True)
    if title:
        ax.set_title(title)
    return fig, ax
