"""Figures of the case report: the redrawn time line (Fig. 1), the ITS posterior, the side-effect table."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch, Rectangle

from dexmood import plots
from dexmood.case_report.mme import MmeSimulation, attested_gaps
from dexmood.case_report.posterior import _draws, _interval, counterfactual_effects
from dexmood.case_report.timeline import (
    DEX_DAY,
    FIRST_DAY,
    HORIZON_DAY,
    LEVEL_SEGMENTS,
    PHASE_LABELS,
    PHASES,
    SEGMENT_LABELS,
    SEGMENTS,
    SIDE_EFFECT_SCALE,
    day_to_date,
)

#: Route colours (Okabe–Ito; `dexmood.plots.OKABE_ITO`): DEX gets the DEX group colour of the book.
ROUTE_COLORS = {"oral": plots.OKABE_ITO[1], "iv": plots.OKABE_ITO[2], "intrathecal": plots.OKABE_ITO[4],
                "dex": plots.GROUP_COLORS["DEX"], "oncology": plots.REFERENCE_COLOR}
DEX_LINE_COLOR = plots.OKABE_ITO[5]
#: Background of each phase: a pale tint of the colour of the route that phase adds.
PHASE_SHADES = {"oral": plots.TINTS["orange"], "oral_iv": plots.TINTS["green"],
                "oral_intrathecal": plots.TINTS["sky"]}

#: Piecewise-linear day axis: the first pump week gets most of the width, the year before is compressed.
AXIS_KNOTS = ((FIRST_DAY, 0.0), (-30.0, 1.8), (10.0, 2.6), (23.0, 6.8), (60.0, 7.5), (HORIZON_DAY, 8.3))


def _piecewise(x, xs, ys):
    """Piecewise-linear map through the knots, extended linearly beyond both ends (so it stays invertible)."""
    x = np.asarray(x, dtype=float)
    y = np.interp(x, xs, ys)
    first = (ys[1] - ys[0]) / (xs[1] - xs[0])
    last = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
    y = np.where(x < xs[0], ys[0] + (x - xs[0]) * first, y)
    return np.where(x > xs[-1], ys[-1] + (x - xs[-1]) * last, y)


def _forward(x):
    days, pos = zip(*AXIS_KNOTS, strict=True)
    return _piecewise(x, days, pos)


def _inverse(y):
    days, pos = zip(*AXIS_KNOTS, strict=True)
    return _piecewise(y, pos, days)


def _day_axis(ax) -> None:
    ax.set_xscale("function", functions=(_forward, _inverse))
    ax.set_xlim(FIRST_DAY, HORIZON_DAY)
    ticks = [-365, -183, 0, 12, 15, 22, 152]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t}\n{day_to_date(t):%b %y}" if t in (-365, -183, 0, 152) else str(t) for t in ticks],
                       fontsize=7.5)


def _phases(ax, label_y: float | None = None) -> None:
    for phase, (start, end) in PHASES.items():
        ax.axvspan(start, end, color=PHASE_SHADES[phase], zorder=0, lw=0)
        if label_y is not None:
            centre = float(_inverse((_forward(start) + _forward(end)) / 2))
            ax.text(centre, label_y, PHASE_LABELS[phase].replace(" + ", "\n+ "), ha="center", va="center",
                    fontsize=7.5, color=plots.INK_COLOR, fontstyle="italic")
    ax.axvline(DEX_DAY, color=DEX_LINE_COLOR, lw=1.4, ls="--", zorder=5)


def _bar_rows(regimens: pd.DataFrame) -> list[tuple[str, pd.DataFrame, str]]:
    r = regimens
    return [
        ("oxycodone CR (oral)", r[r["product"] == "oxycodone CR tablets"], "oral"),
        ("oxycodone/paracetamol (oral)", r[r["product"] == "oxycodone/paracetamol tablets"], "oral"),
        ("fluvoxamine (oral)", r[r["drug"] == "fluvoxamine"], "oral"),
        ("pregabalin (oral)", r[r["drug"] == "pregabalin"], "oral"),
        ("hydromorphone PCIA (IV)", r[r["drug"] == "hydromorphone"], "iv"),
        ("morphine (intrathecal)", r[(r["drug"] == "morphine") & (r["route"] == "intrathecal")], "intrathecal"),
        ("DEX (intrathecal)", r[r["drug"] == "dexmedetomidine"], "dex"),
        ("bozitinib, nivolumab", r[r["role"] == "oncology"], "oncology"),
    ]


def plot_timeline(regimens: pd.DataFrame, pain: pd.DataFrame, mme: MmeSimulation, idata=None):
    """Redrawn Fig. 1: regimen bars, the MME band, the NRS ranges (and posterior levels), phases, DEX day."""
    fig, axes = plt.subplots(3, 1, figsize=(7.4, 8.4), sharex=True, layout="constrained",
                             gridspec_kw={"height_ratios": [2.5, 1.4, 1.4]})
    bars, band_ax, nrs_ax = axes
    rows = _bar_rows(regimens)
    gaps = attested_gaps(regimens)
    for k, (label, block, colour_key) in enumerate(rows):
        y = len(rows) - 1 - k
        for row in block.itertuples(index=False):
            end = row.day_end if pd.notna(row.day_end) else HORIZON_DAY
            hatch = "////" if pd.isna(row.day_end) else None
            bars.barh(y, end - row.day_start, left=row.day_start, height=0.62, color=ROUTE_COLORS[colour_key],
                      alpha=0.45 if hatch else 0.9, hatch=hatch, edgecolor="white", lw=0.6)
            # Daily doses (mg/day) of the opioids, where the bar is wide enough to carry a label.
            if row.role == "opioid" and _forward(end) - _forward(row.day_start) > 0.18:
                text = f"{row.daily_dose:g}" + (f"→{row.daily_dose_end:g}" if pd.notna(row.daily_dose_end) else "")
                bars.text(float(_inverse((_forward(row.day_start) + _forward(end)) / 2)), y, text,
                          ha="center", va="center", fontsize=6.5, color=plots.INK_COLOR)
        if label.startswith("morphine") and gaps:
            start, end = gaps[0][2], gaps[0][3]
            bars.barh(y, end - start, left=start, height=0.62, color=ROUTE_COLORS["intrathecal"], alpha=0.35,
                      hatch="....", edgecolor="white", lw=0.6)
            bars.text(float(_inverse((_forward(start) + _forward(end)) / 2)), y, "8.4 or 10.8", ha="center",
                      va="center", fontsize=6.5, color=plots.INK_COLOR)
    bars.set_yticks(range(len(rows)))
    bars.set_yticklabels([r[0] for r in rows][::-1], fontsize=8)
    bars.set_ylim(-0.6, len(rows) + 0.6)
    bars.grid(axis="y", visible=False)
    handles = [Patch(color=ROUTE_COLORS[k], label=name) for k, name in
               (("oral", "oral"), ("iv", "IV"), ("intrathecal", "intrathecal"), ("dex", "DEX"))]
    handles.append(Patch(facecolor="white", edgecolor=plots.MUTED, hatch="////", label="end not reported"))
    fig.legend(handles=handles, loc="outside lower center", fontsize=7.5, ncol=5)
    bars.set_title("Regimens (numbers: opioid mg/day)", loc="left")
    _phases(bars, label_y=len(rows) + 0.05)

    band = mme.band()
    band_ax.fill_between(band.index, band["q05"], band["q95"], color=plots.MUTED, alpha=0.35, lw=0, step="mid",
                         label="5–95% of conversion draws")
    band_ax.plot(band.index, band["q50"], color=plots.INK_COLOR, lw=1.2, drawstyle="steps-mid", label="median")
    band_ax.set_yscale("log")
    band_ax.set_ylim(30, 6000)
    band_ax.set_ylabel("oral morphine\nequivalents (mg/day)")
    band_ax.legend(loc="upper left", fontsize=7)
    band_ax.set_title("Opioid load (boluses excluded)", loc="left")
    _phases(band_ax)

    for row in pain.itertuples(index=False):
        height = max(row.nrs_high - row.nrs_low, 0.15)
        bottom = row.nrs_low - (0.075 if row.nrs_high == row.nrs_low else 0)
        nrs_ax.add_patch(Rectangle((row.day_start, bottom), row.day_end - row.day_start, height,
                                   facecolor=plots.MUTED, alpha=0.75, lw=0))
    if idata is not None:
        level = _draws(idata, "level")
        after = _draws(idata, "pain_after_dex")
        columns = {s: level[:, k] for k, s in enumerate(LEVEL_SEGMENTS)} | {"intrathecal_dex": after}
        for row in pain.itertuples(index=False):
            draws = columns[row.segment]
            lo, hi = _interval(draws)
            nrs_ax.fill_between([row.day_start, row.day_end], lo, hi, color=plots.OKABE_ITO[0], alpha=0.18, lw=0)
            nrs_ax.plot([row.day_start, row.day_end], [draws.mean()] * 2, color=plots.OKABE_ITO[0], lw=1.5)
    nrs_ax.set_ylim(0, 10)
    nrs_ax.set_ylabel("NRS (0–10)")
    nrs_ax.set_xlabel("day (0 = 1 December 2019); the axis is compressed outside days −30 to 23")
    nrs_ax.set_title("Reported NRS ranges" + (" (grey) and model level with 90% interval (blue)"
                                              if idata is not None else ""), loc="left")
    _phases(nrs_ax)
    nrs_ax.text(DEX_DAY, 9.3, " DEX added", color=DEX_LINE_COLOR, fontsize=8, ha="left")
    for ax in axes:
        _day_axis(ax)
        ax.grid(axis="x", visible=False)  # the phase shading and the DEX line carry the time structure
    return fig, axes


def plot_its(idata, pain: pd.DataFrame):
    """Posterior of the segment levels against the reported ranges, and of the DEX change (two counterfactuals)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.4, 3.6), layout="constrained",
                                      gridspec_kw={"width_ratios": [1.4, 1]})
    level = _draws(idata, "level")
    after = _draws(idata, "pain_after_dex")
    columns = [level[:, k] for k in range(len(LEVEL_SEGMENTS))] + [after]
    for k, (segment, draws) in enumerate(zip(SEGMENTS, columns, strict=True)):
        reading = pain[pain["segment"] == segment].iloc[0]
        left.add_patch(Rectangle((k - 0.3, reading.nrs_low - 0.5), 0.6, reading.nrs_high - reading.nrs_low + 1,
                                 facecolor=plots.LIGHT, lw=0))
        lo, hi = _interval(draws)
        colour = plots.GROUP_COLORS["DEX"] if segment == "intrathecal_dex" else plots.MUTED
        left.plot([k, k], [lo, hi], color=colour, lw=2.2)
        left.plot(k, draws.mean(), "o", color=colour)
    left.set_xticks(range(len(SEGMENTS)))
    left.set_xticklabels([SEGMENT_LABELS[s].replace(", ", ",\n").replace(" + ", " +\n") for s in SEGMENTS],
                         fontsize=7)
    left.set_ylim(0, 10)
    left.set_ylabel("NRS (0–10)")
    left.set_title("Levels: posterior mean, 90% interval;\ngrey = reported range ± 0.5", loc="left", fontsize=9)
    effects = counterfactual_effects(idata, pain)
    bins = np.linspace(-7, 5, 61)
    right.hist(effects["level_persists"], bins=bins, density=True, alpha=0.6, color=plots.OKABE_ITO[0],
               label="pain would have stayed\nat the pre-DEX level")
    right.hist(effects["trend_continues"], bins=bins, density=True, alpha=0.5, color=plots.OKABE_ITO[1],
               label="the fall since the IV\ndays would have continued")
    right.axvline(0, color=plots.INK_COLOR, lw=0.8)
    right.set_xlabel("change attributed to DEX (NRS points)")
    right.set_ylabel("posterior density")
    right.set_ylim(0, right.get_ylim()[1] * 1.45)  # room for the legend above the histograms
    right.legend(fontsize=7, loc="upper left", title="counterfactual: without DEX,", title_fontsize=7,
                 alignment="left")
    right.set_title("DEX 'effect' depends on the counterfactual", loc="left", fontsize=9)
    return fig, (left, right)


def plot_side_effects(side_effects: pd.DataFrame):
    """Paired display of Table 1: each symptom's frequency before (open) and after (filled) DEX."""
    table = side_effects.assign(change=side_effects["after"] - side_effects["before"])
    table = table.sort_values(["before", "change"], ascending=[True, False]).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for y, row in table.iterrows():
        if row.change:
            ax.annotate("", xy=(row.after, y), xytext=(row.before, y),
                        arrowprops={"arrowstyle": "->", "color": plots.GROUP_COLORS["DEX"], "lw": 1.5})
        ax.plot(row.before, y, "o", mfc="white", mec=plots.MUTED, ms=7)
        ax.plot(row.after, y, "o", color=plots.GROUP_COLORS["DEX"], ms=4.5)
    ax.set_yticks(range(len(table)))
    ax.set_yticklabels(table["symptom"].str.replace("_", " "), fontsize=8)
    ax.set_xticks(list(SIDE_EFFECT_SCALE))
    ax.set_xticklabels([f"{k}\n{v}" for k, v in SIDE_EFFECT_SCALE.items()], fontsize=8)
    ax.set_xlim(0.6, 5.4)
    ax.set_xlabel("frequency (Table 1)")
    ax.grid(axis="y", visible=False)
    ax.plot([], [], "o", mfc="white", mec=plots.MUTED, label="before DEX")
    ax.plot([], [], "o", color=plots.GROUP_COLORS["DEX"], label="after DEX")
    ax.legend(loc="lower right", fontsize=8)
    return fig, ax
