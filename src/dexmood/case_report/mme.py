"""Oral morphine equivalents (MME) with the conversion ratios propagated as ranges (Monte Carlo).

Opioids are converted to oral morphine mg/day with guideline ratios given as ranges; each Monte-Carlo draw
samples one ratio per drug × route and the unknown day of the 70 → 90 mg pump change (A10). Also the
comparison of the opioid load before and during the DEX week, and the break-even oral:intrathecal ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dexmood import cache
from dexmood.case_report.timeline import DEX_DAY, FIRST_DAY, HORIZON_DAY, SEGMENT_LABELS


@dataclass(frozen=True)
class Conversion:
    """Multiply a daily dose of `drug` by `route` by a factor in [low, high] to get oral morphine mg/day."""

    drug: str
    route: str
    low: float
    high: float
    sources: str
    basis: str

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Log-uniform draws: ratios are multiplicative and the sources give a range, not a preferred value."""
        if self.low == self.high:
            return np.full(size, self.low)
        return np.exp(rng.uniform(math.log(self.low), math.log(self.high), size))

    @property
    def geometric_mid(self) -> float:
        return math.sqrt(self.low * self.high)


CONVERSIONS: dict[tuple[str, str], Conversion] = {
    ("oxycodone", "oral"): Conversion(
        "oxycodone", "oral", 1.5, 2.0, "dowell2022cdc; nougg2010canadian",
        "1.5 in both guidelines (CDC 2022; Canadian 2010); the upper end 2 is our assumption, not a guideline "
        "value, to allow for the spread of ratios used in practice"),
    ("hydrocodone", "oral"): Conversion(
        "hydrocodone", "oral", 1.0, 1.0, "dowell2022cdc", "CDC 2022 factor 1 (alternative reading A1 only)"),
    ("hydromorphone", "iv"): Conversion(
        "hydromorphone", "iv", 10.0, 20.0, "reddy2022conversion",
        "IV hydromorphone to oral morphine ratios used in palliative care, 10–20"),
    ("morphine", "intrathecal"): Conversion(
        "morphine", "intrathecal", 100.0, 300.0, "sylvester2004intrathecal",
        "oral:intrathecal 100:1–300:1 (300:1 is the classical rule; observed ratios can be far lower)"),
}


def conversion_table(conversions: dict[tuple[str, str], Conversion] = CONVERSIONS) -> pd.DataFrame:
    """The conversion ranges used, with their sources (bib keys)."""
    return pd.DataFrame([{"drug": c.drug, "route": c.route, "factor_low": c.low, "factor_high": c.high,
                          "basis": c.basis, "sources": c.sources} for c in conversions.values()])


def time_grid(step: float = 0.5, first: float = FIRST_DAY, last: float = HORIZON_DAY) -> np.ndarray:
    """Mid-points of [first, last) cut into `step`-day cells (the MME is evaluated at cell mid-points)."""
    n = int(round((last - first) / step))
    return first + step * (np.arange(n) + 0.5)


def _opioid_rows(regimens: pd.DataFrame) -> pd.DataFrame:
    return regimens[regimens["role"] == "opioid"].sort_values(["drug", "route", "day_start"]).reset_index(drop=True)


def attested_gaps(regimens: pd.DataFrame) -> list[tuple[int, int, float, float]]:
    """Gaps between two attested windows of the same opioid and route: (row i, row j, gap start, gap end).

    The earlier regimen continues until an unknown switch day inside the gap, the later one starts then
    (A10: 70 mg after the DEX week, 90 mg in May 2020).
    """
    rows = _opioid_rows(regimens)
    gaps = []
    for (_drug, _route), block in rows.groupby(["drug", "route"], sort=False):
        idx = list(block.index)
        for i, j in zip(idx[:-1], idx[1:], strict=True):
            a, b = rows.loc[i], rows.loc[j]
            if a.day_end < b.day_start and a.timing_end == "attested" and b.timing_start == "attested":
                gaps.append((i, j, float(a.day_end), float(b.day_start)))
    return gaps


def opioid_daily_doses(regimens: pd.DataFrame, grid: np.ndarray, switch_days: dict[int, float] | None = None,
                       interpretation: str = "oxycodone") -> pd.DataFrame:
    """Daily dose of each opioid row on the grid (rows = grid points, columns = step_id).

    Escalations are interpolated linearly between `daily_dose` and `daily_dose_end` (A3). `switch_days` maps
    the earlier row of an attested gap (index in the sorted opioid table) to its switch day; without it, the
    gap is split in the middle. `interpretation="hydrocodone"` reads the oral opioid of rows printed as
    hydrocodone as hydrocodone (ambiguity A1).
    """
    rows = _opioid_rows(regimens).copy()
    for i, j, start, end in attested_gaps(regimens):
        switch = (switch_days or {}).get(i, (start + end) / 2)
        if not start <= switch <= end:
            raise ValueError(f"switch day {switch} outside the gap {start}–{end}")
        rows.loc[i, "day_end"] = switch
        rows.loc[j, "day_start"] = switch
    if interpretation == "hydrocodone":
        printed = rows["drug_as_printed"].str.contains("hydrocodone")
        rows.loc[printed, "drug"] = "hydrocodone"
    elif interpretation != "oxycodone":
        raise ValueError("interpretation must be 'oxycodone' or 'hydrocodone'")
    out = {}
    for row in rows.itertuples(index=False):
        inside = (grid >= row.day_start) & (grid < row.day_end)
        if pd.notna(row.daily_dose_end):
            fraction = (grid - row.day_start) / (row.day_end - row.day_start)
            dose = row.daily_dose + fraction * (row.daily_dose_end - row.daily_dose)
        else:
            dose = np.full(grid.shape, row.daily_dose)
        out[(row.step_id, row.drug, row.route)] = np.where(inside, dose, 0.0)
    frame = pd.DataFrame(out, index=pd.Index(grid, name="day"))
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["step_id", "drug", "route"])
    return frame


def mme_point(regimens: pd.DataFrame, grid: np.ndarray, factor: str = "low",
              interpretation: str = "oxycodone",
              conversions: dict[tuple[str, str], Conversion] = CONVERSIONS) -> pd.Series:
    """Deterministic MME/day with every conversion at its `low`, `high` or geometric `mid` value."""
    doses = opioid_daily_doses(regimens, grid, interpretation=interpretation)
    total = np.zeros(len(grid))
    for (_, drug, route), values in doses.items():
        c = conversions[(drug, route)]
        value = {"low": c.low, "high": c.high, "mid": c.geometric_mid}[factor]
        total += value * values.to_numpy()
    return pd.Series(total, index=doses.index, name=f"mme_{factor}")


@dataclass
class MmeSimulation:
    """Monte-Carlo MME paths: `draws[d, t]` mg/day of oral morphine for draw d at grid point t."""

    grid: np.ndarray
    draws: np.ndarray
    factors: pd.DataFrame  # one column per conversion, one row per draw
    switch_days: np.ndarray  # sampled day of the 70 → 90 mg change (A10), NaN if no gap

    def band(self, probs: tuple[float, ...] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
        q = np.quantile(self.draws, probs, axis=0)
        return pd.DataFrame({f"q{round(p * 100):02d}": q[k] for k, p in enumerate(probs)},
                            index=pd.Index(self.grid, name="day"))

    def window_mean(self, start: float, end: float) -> np.ndarray:
        """Per-draw mean MME/day over grid points in [start, end)."""
        inside = (self.grid >= start) & (self.grid < end)
        if not inside.any():
            raise ValueError(f"no grid point in [{start}, {end})")
        return self.draws[:, inside].mean(axis=1)


def simulate_mme(regimens: pd.DataFrame, n_draws: int = 4000, seed: int = 0, step: float = 0.5,
                 conversions: dict[tuple[str, str], Conversion] = CONVERSIONS,
                 interpretation: str = "oxycodone") -> MmeSimulation:
    """MME/day over the whole course with conversion factors (and the unknown switch day) drawn per path.

    Each draw samples one factor per drug × route (log-uniform on its range; the same factor for the whole
    course of one patient) and the unknown date of the 70 → 90 mg pump change (uniform over the gap).
    Boluses are excluded (A6): MME in the PCIA days and in May 2020 are lower bounds.
    """
    rng = np.random.default_rng(seed)
    grid = time_grid(step)
    base = opioid_daily_doses(regimens, grid, interpretation=interpretation)
    keys = sorted({(drug, route) for (_, drug, route) in base.columns})
    factors = pd.DataFrame({f"{d}_{r}": conversions[(d, r)].sample(rng, n_draws) for d, r in keys})
    gaps = attested_gaps(regimens)
    if len(gaps) > 1:
        raise NotImplementedError("only one attested gap is supported")
    switch = rng.uniform(gaps[0][2], gaps[0][3], n_draws) if gaps else np.full(n_draws, np.nan)
    # Columns that do not depend on the switch day are summed once per conversion key.
    gap_steps = set()
    if gaps:
        rows = _opioid_rows(regimens)
        gap_steps = {rows.loc[gaps[0][0], "step_id"], rows.loc[gaps[0][1], "step_id"]}
    draws = np.zeros((n_draws, len(grid)))
    for d, r in keys:
        cols = [c for c in base.columns if c[1] == d and c[2] == r and c[0] not in gap_steps]
        if cols:
            draws += np.outer(factors[f"{d}_{r}"].to_numpy(), base[cols].to_numpy().sum(axis=1))
    if gaps:
        i, j, start, end = gaps[0]
        rows = _opioid_rows(regimens)
        a, b = rows.loc[i], rows.loc[j]
        factor = factors[f"{a.drug}_{a.route}"].to_numpy()[:, None]
        t = grid[None, :]
        s = switch[:, None]
        dose = np.where((t >= a.day_start) & (t < s), a.daily_dose, 0.0) + \
            np.where((t >= s) & (t < b.day_end), b.daily_dose, 0.0)
        draws += factor * dose
    return MmeSimulation(grid=grid, draws=draws, factors=factors, switch_days=switch)


def mme_by_segment(mme: MmeSimulation, pain: pd.DataFrame, extra: dict[str, tuple[float, float]] | None = None,
                   probs: tuple[float, float] = (0.05, 0.95)) -> pd.DataFrame:
    """Mean MME/day over each NRS segment's span (and optional extra windows): median and band over draws."""
    windows = {SEGMENT_LABELS[r.segment]: (r.day_start, r.day_end) for r in pain.itertuples(index=False)}
    windows |= extra or {}
    rows = []
    for name, (start, end) in windows.items():
        means = mme.window_mean(start, end)
        lo, hi = np.quantile(means, probs)
        rows.append({"window": name, "days": f"{start:g} to {end:g}", "median": float(np.median(means)),
                     f"q{round(probs[0] * 100):02d}": float(lo), f"q{round(probs[1] * 100):02d}": float(hi)})
    return pd.DataFrame(rows)


def alternative_reading(regimens: pd.DataFrame, conversions: dict[tuple[str, str], Conversion] = CONVERSIONS,
                        day: float = -300.0) -> pd.DataFrame:
    """MME/day on one day of the first oral regimen under both readings of the drug name (ambiguity A1)."""
    grid = np.array([day])
    rows = []
    for reading in ("oxycodone", "hydrocodone"):
        low = mme_point(regimens, grid, "low", reading, conversions).iloc[0]
        high = mme_point(regimens, grid, "high", reading, conversions).iloc[0]
        rows.append({"reading": reading, "day": day, "mme_low": low, "mme_high": high})
    return pd.DataFrame(rows)


def breakeven_intrathecal_ratio(reference_mme: np.ndarray, intrathecal_mg_per_day: float) -> np.ndarray:
    """Oral:intrathecal ratio at which an intrathecal morphine dose equals a reference MME/day."""
    return np.asarray(reference_mme) / intrathecal_mg_per_day


#: Oral:intrathecal morphine ratios in the literature the book cites (sylvester2004intrathecal, Abstract):
#: 12:1 observed in one converted patient, 90:1 in a dose-conversion program, 300:1 the classical rule.
#: Any ratio in this span is plausible for this patient; the MME draws use the narrower 100–300 of guidelines.
PLAUSIBLE_INTRATHECAL_RATIO = (12.0, 300.0)


def load_comparison(mme: MmeSimulation, pain: pd.DataFrame, pumps: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-draw MME/day of the oral+IV days and of the DEX week, their ratio, and the break-even
    oral:intrathecal ratio at which the DEX week's intrathecal morphine equals the oral+IV load."""
    spans = {r.segment: (r.day_start, r.day_end) for r in pain.itertuples(index=False)}
    oral_iv = mme.window_mean(*spans["oral_iv"])
    dex_week = mme.window_mean(*spans["intrathecal_dex"])
    at_dex = pumps[pumps["day_start"] == DEX_DAY].iloc[0]
    return {"oral_iv": oral_iv, "dex_week": dex_week, "fold": dex_week / oral_iv,
            "breakeven": breakeven_intrathecal_ratio(oral_iv, at_dex.morphine_mg_per_day)}


def cached_mme(regimens: pd.DataFrame, n_draws: int = 4000, seed: int = 0, step: float = 0.5) -> MmeSimulation:
    """`simulate_mme` through the package cache (key: the regimen table, draws, seed, step and the code of
    the `case_report` subpackage)."""
    inputs = {"regimens": regimens.to_csv(index=False), "n_draws": n_draws, "seed": seed, "step": step}
    return cache.load_or_compute("case_report_mme", inputs,
                                 lambda: simulate_mme(regimens, n_draws=n_draws, seed=seed, step=step),
                                 modules=("dexmood.case_report",), shared=True)
