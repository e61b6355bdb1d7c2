"""The registered PCA pump: contents, concentrations, limits and what published mean rates imply.

`pca_regimen` gives pump contents, concentrations and the most the pump can deliver (per kg as well);
`implied_bolus_use` what the parent trial's achieved mean rates (Zhang et al. 2023) imply about boluses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dexmood.trial.registry import ARMS

DRUGS = ("sufentanil", "esketamine", "dexmedetomidine")


@dataclass(frozen=True)
class PcaProtocol:
    """The registered PCA pump (registry "Study Groups": both arms; "Interventions")."""

    reservoir_ml: float = 200.0
    background_ml_per_h: float = 1.0
    bolus_ml: float = 2.0
    lockout_min: float = 8.0
    sufentanil_ug_per_kg: float = 4.0
    sufentanil_cap_ug: float = 250.0
    esketamine_ug: float = 50_000.0  # 50 mg
    dexmedetomidine_ug: float = 200.0

    @property
    def sufentanil_cap_weight_kg(self) -> float:
        """Weight above which the 250-µg cap, not the 4-µg/kg rule, sets the sufentanil amount."""
        return self.sufentanil_cap_ug / self.sufentanil_ug_per_kg

    @property
    def sustained_boluses_per_h(self) -> float:
        """Long-run maximum bolus rate: one bolus per lockout interval (60/8 = 7.5 per hour)."""
        return 60.0 / self.lockout_min

    @property
    def peak_boluses_per_clock_hour(self) -> int:
        """Most boluses inside one 60-minute window (at 0, 8, …, 56 min: ceil(60/8) = 8)."""
        return math.ceil(60.0 / self.lockout_min - 1e-12)

    @property
    def max_ml_per_h(self) -> float:
        return self.background_ml_per_h + self.bolus_ml * self.sustained_boluses_per_h

    @property
    def peak_ml_per_clock_hour(self) -> float:
        return self.background_ml_per_h + self.bolus_ml * self.peak_boluses_per_clock_hour

    def limits(self) -> dict:
        """Volume limits of the pump programme (no drug involved)."""
        return {
            "background_ml_per_h": self.background_ml_per_h,
            "max_boluses_per_h_sustained": self.sustained_boluses_per_h,
            "max_boluses_in_one_clock_hour": self.peak_boluses_per_clock_hour,
            "max_ml_per_h_sustained": self.max_ml_per_h,
            "max_ml_in_one_clock_hour": self.peak_ml_per_clock_hour,
            "max_ml_per_24h_programmed": 24 * self.max_ml_per_h,
            "reservoir_ml": self.reservoir_ml,
            "hours_to_empty_at_max": self.reservoir_ml / self.max_ml_per_h,
            "hours_to_empty_background_only": self.reservoir_ml / self.background_ml_per_h,
        }


REGISTRY_PCA = PcaProtocol()


def _check_weight(weight_kg) -> np.ndarray:
    weight = np.asarray(weight_kg, dtype=float)
    if not np.all(np.isfinite(weight)) or np.any(weight <= 0):
        raise ValueError(f"weight_kg must be a positive number of kilograms, got {weight_kg!r}")
    return weight


def _check_arm(arm: str) -> None:
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {', '.join(ARMS)}, got {arm!r}")


def pump_contents(weight_kg: float, arm: str = "supplement", protocol: PcaProtocol = REGISTRY_PCA) -> dict:
    """Micrograms of each drug in the reservoir (the placebo pump has sufentanil only)."""
    weight = float(_check_weight(weight_kg))
    _check_arm(arm)
    sufentanil = min(protocol.sufentanil_ug_per_kg * weight, protocol.sufentanil_cap_ug)
    supplement = arm == "supplement"
    return {
        "sufentanil": sufentanil,
        "esketamine": protocol.esketamine_ug if supplement else 0.0,
        "dexmedetomidine": protocol.dexmedetomidine_ug if supplement else 0.0,
    }


def pca_regimen(weight_kg: float, arm: str = "supplement", protocol: PcaProtocol = REGISTRY_PCA) -> pd.DataFrame:
    """Per drug: amount, concentration, bolus, background and maximum deliverable dose (also per kg).

    "max" uses the sustained bolus rate (one bolus per lockout); the programmed 24-h maximum exceeds the
    reservoir, so `deliverable_ug_per_24h` is capped by what the pump holds (no refill).
    """
    weight = float(_check_weight(weight_kg))
    contents = pump_contents(weight, arm, protocol)
    rows = []
    for drug in DRUGS:
        amount = contents[drug]
        concentration = amount / protocol.reservoir_ml
        max_per_h = concentration * protocol.max_ml_per_h
        rows.append({
            "drug": drug,
            "amount_ug": amount,
            "concentration_ug_per_ml": concentration,
            "bolus_ug": concentration * protocol.bolus_ml,
            "background_ug_per_h": concentration * protocol.background_ml_per_h,
            "max_ug_per_h": max_per_h,
            "max_ug_per_24h_programmed": 24 * max_per_h,
            "deliverable_ug_per_24h": min(24 * max_per_h, amount),
            "background_ug_per_kg_per_h": concentration * protocol.background_ml_per_h / weight,
            "max_ug_per_kg_per_h": max_per_h / weight,
        })
    return pd.DataFrame(rows).set_index("drug")


def implied_bolus_use(achieved_ug_per_kg_per_h: float, drug: str, weight_kg,
                      protocol: PcaProtocol = REGISTRY_PCA) -> pd.DataFrame:
    """Boluses per hour and per day a patient of `weight_kg` must have pressed to reach a mean rate.

    delivered (µg/h) = rate × weight = concentration × (background + boluses/h × bolus volume), solved for
    boluses/h. A negative value means the rate is below what the background infusion alone delivers.
    Fixed-dose drugs only (the esketamine and dexmedetomidine amounts do not depend on weight).
    """
    if drug not in ("esketamine", "dexmedetomidine"):
        raise ValueError(f"implied_bolus_use needs a fixed-dose drug (esketamine or dexmedetomidine), got {drug!r}")
    weight = np.atleast_1d(_check_weight(weight_kg))
    concentration = pump_contents(60.0, "supplement", protocol)[drug] / protocol.reservoir_ml
    delivered_ug_per_h = achieved_ug_per_kg_per_h * weight
    ml_per_h = delivered_ug_per_h / concentration
    boluses_per_h = (ml_per_h - protocol.background_ml_per_h) / protocol.bolus_ml
    return pd.DataFrame({
        "drug": drug,
        "weight_kg": weight,
        "achieved_ug_per_kg_per_h": achieved_ug_per_kg_per_h,
        "delivered_ug_per_h": delivered_ug_per_h,
        "pump_ml_per_h": ml_per_h,
        "boluses_per_h": boluses_per_h,
        "boluses_per_24h": 24 * boluses_per_h,
        "share_of_max_rate": ml_per_h / protocol.max_ml_per_h,
    })


def background_only_weight(achieved_ug_per_kg_per_h: float, drug: str,
                           protocol: PcaProtocol = REGISTRY_PCA) -> float:
    """Weight at which the background infusion alone delivers the achieved rate (zero boluses)."""
    concentration = pump_contents(60.0, "supplement", protocol)[drug] / protocol.reservoir_ml
    return concentration * protocol.background_ml_per_h / achieved_ug_per_kg_per_h


def _rounding_interval(value: float, decimals: int) -> tuple[float, float]:
    half = 0.5 * 10.0 ** (-decimals)
    return value - half, value + half


def achieved_rate_consistency(esketamine_rate: float = 5.5, dexmedetomidine_rate: float = 0.02,
                              esketamine_decimals: int = 1, dexmedetomidine_decimals: int = 2,
                              protocol: PcaProtocol = REGISTRY_PCA) -> dict:
    """Are the two published mean rates compatible with one pump that holds both drugs?

    Both drugs leave the same reservoir, so every patient receives them in the fixed mass ratio
    esketamine : dexmedetomidine = 50 000 : 200 = 250, whatever the background or bolus use; the mean
    rates must be in that ratio too. The reported values are rounded, so we compare intervals.
    """
    ratio = protocol.esketamine_ug / protocol.dexmedetomidine_ug
    esk_lo, esk_hi = _rounding_interval(esketamine_rate, esketamine_decimals)
    dex_lo, dex_hi = _rounding_interval(dexmedetomidine_rate, dexmedetomidine_decimals)
    implied_dex = esketamine_rate / ratio
    implied_dex_interval = (esk_lo / ratio, esk_hi / ratio)
    overlap = implied_dex_interval[0] < dex_hi and implied_dex_interval[1] > dex_lo
    return {
        "pump_mass_ratio_esketamine_to_dex": ratio,
        "reported_ratio": esketamine_rate / dexmedetomidine_rate,
        "dex_rate_implied_by_esketamine": implied_dex,
        "dex_rate_implied_interval": implied_dex_interval,
        "dex_rate_reported_interval": (dex_lo, dex_hi),
        "esketamine_rate_implied_by_dex_interval": (dex_lo * ratio, dex_hi * ratio),
        "consistent": bool(overlap),
    }
