"""The ITS posterior summarised: levels, the DEX change under two counterfactuals, pain per unit of opioid."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dexmood.case_report.mme import MmeSimulation, opioid_daily_doses
from dexmood.case_report.timeline import LEVEL_SEGMENTS, SEGMENT_LABELS


def _draws(idata, name: str) -> np.ndarray:
    """Posterior draws of `name` with the chains stacked (draw × the variable's own dimensions)."""
    values = idata.posterior[name].to_numpy()
    return values.reshape(-1, *values.shape[2:])


def _interval(x: np.ndarray, prob: float = 0.9) -> tuple[float, float]:
    """Central `prob` interval of draws (equal tails)."""
    lo, hi = np.quantile(x, [(1 - prob) / 2, (1 + prob) / 2])
    return float(lo), float(hi)


def its_summary(idata, pain: pd.DataFrame, prob: float = 0.9) -> pd.DataFrame:
    """Posterior mean and central interval of each segment's level and of the DEX change."""
    level = _draws(idata, "level")
    rows = []
    for k, segment in enumerate(LEVEL_SEGMENTS):
        reading = pain[pain["segment"] == segment].iloc[0]
        lo, hi = _interval(level[:, k], prob)
        rows.append({"quantity": f"level: {SEGMENT_LABELS[segment]}", "reported": _range_text(reading),
                     "mean": level[:, k].mean(), "lower": lo, "upper": hi})
    after = _draws(idata, "pain_after_dex")
    reading = pain[pain["segment"] == "intrathecal_dex"].iloc[0]
    lo, hi = _interval(after, prob)
    rows.append({"quantity": f"level: {SEGMENT_LABELS['intrathecal_dex']}", "reported": _range_text(reading),
                 "mean": after.mean(), "lower": lo, "upper": hi})
    change = _draws(idata, "dex_change")
    lo, hi = _interval(change, prob)
    rows.append({"quantity": "change at DEX addition", "reported": "", "mean": change.mean(), "lower": lo,
                 "upper": hi})
    return pd.DataFrame(rows)


def _range_text(reading) -> str:
    return str(reading.nrs_low) if reading.nrs_low == reading.nrs_high else f"{reading.nrs_low}–{reading.nrs_high}"


def segment_midpoints(pain: pd.DataFrame) -> dict[str, float]:
    return {r.segment: (r.day_start + r.day_end) / 2 for r in pain.itertuples(index=False)}


def counterfactual_effects(idata, pain: pd.DataFrame) -> dict[str, np.ndarray]:
    """Posterior draws of the DEX 'effect' under two counterfactuals for the DEX week.

    - `level_persists`: without DEX, pain stays at the intrathecal pre-DEX level (the ITS level change);
    - `trend_continues`: the fall from the oral+IV segment to the intrathecal segment continues linearly
      to the middle of the DEX reading (floored at 0). The data cannot tell these apart.
    """
    level = _draws(idata, "level")
    after = _draws(idata, "pain_after_dex")
    mid = segment_midpoints(pain)
    iv, it = LEVEL_SEGMENTS.index("oral_iv"), LEVEL_SEGMENTS.index("intrathecal")
    slope = (level[:, it] - level[:, iv]) / (mid["intrathecal"] - mid["oral_iv"])
    trend = np.clip(level[:, it] + slope * (mid["intrathecal_dex"] - mid["intrathecal"]), 0, 10)
    return {"level_persists": after - level[:, it], "trend_continues": after - trend}


def opioid_adjusted_pain(idata, mme: MmeSimulation, regimens: pd.DataFrame, pain: pd.DataFrame,
                         seed: int = 0) -> pd.DataFrame:
    """Pain per unit of opioid before and after DEX: NRS level / mean intrathecal morphine, and / mean MME.

    Before = the intrathecal segment before DEX, after = the DEX segment (their day spans in `pain.csv`).
    Posterior draws of the levels are paired with randomly chosen MME draws (independent sources).
    """
    rng = np.random.default_rng(seed)
    before = _draws(idata, "pain_before_dex")
    after = _draws(idata, "pain_after_dex")
    spans = {r.segment: (r.day_start, r.day_end) for r in pain.itertuples(index=False)}
    pick = rng.integers(0, mme.draws.shape[0], size=before.size)
    mme_before = mme.window_mean(*spans["intrathecal"])[pick]
    mme_after = mme.window_mean(*spans["intrathecal_dex"])[pick]
    grid = mme.grid
    it_morphine = opioid_daily_doses(regimens, grid)
    it_cols = [c for c in it_morphine.columns if c[1] == "morphine" and c[2] == "intrathecal"]
    it_total = it_morphine[it_cols].to_numpy().sum(axis=1)

    def window(start, end):
        return float(it_total[(grid >= start) & (grid < end)].mean())

    it_before, it_after = window(*spans["intrathecal"]), window(*spans["intrathecal_dex"])
    quantities = {
        "NRS per 10 mg/day intrathecal morphine": (10 * before / it_before, 10 * after / it_after),
        "NRS per 1000 mg/day oral MME": (1000 * before / mme_before, 1000 * after / mme_after),
    }
    rows = []
    for name, (b, a) in quantities.items():
        ratio = a / b
        rows.append({"quantity": name, "before_mean": b.mean(), "after_mean": a.mean(),
                     "ratio_after_before": float(np.median(ratio)),
                     "ratio_lower": _interval(ratio)[0], "ratio_upper": _interval(ratio)[1]})
    table = pd.DataFrame(rows)
    table.attrs.update({"it_morphine_before": it_before, "it_morphine_after": it_after})
    return table
