"""Design analysis for CPSP at 2 years: analytic and simulated power, sample size, minimal detectable RR."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import optimize, stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    power_proportions_2indep,
    proportion_effectsize,
    samplesize_proportions_2indep_onetail,
)

from dexmood.trial.registry import N_PLACEBO, N_SUPPLEMENT, TRIAL_SEED


def analytic_power(p_control, rr, n_supplement: float = N_SUPPLEMENT, n_placebo: float = N_PLACEBO,
                   loss: float = 0.0, alpha: float = 0.05, method: str = "pooled"):
    """Power of a two-sided test of equal CPSP risks; complete-case analysis after a share `loss` is lost.

    method "pooled": normal test of the risk difference with the pooled variance under the null
    (statsmodels `power_proportions_2indep`, the Fleiss formula without continuity correction);
    "arcsine": Cohen's h with `NormalIndPower`. Arrays broadcast.
    """
    p_control, rr, loss = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (p_control, rr, loss)))
    p_supplement = p_control * rr
    n_s = n_supplement * (1 - loss)
    ratio = n_placebo / n_supplement
    if method == "pooled":
        power = power_proportions_2indep(p_supplement - p_control, p_control, n_s, ratio=ratio, alpha=alpha,
                                         return_results=False)
    elif method == "arcsine":
        effect = proportion_effectsize(p_supplement, p_control)
        power = NormalIndPower().power(effect, nobs1=n_s, alpha=alpha, ratio=ratio)
    else:
        raise ValueError(f"method must be 'pooled' or 'arcsine', got {method!r}")
    power = np.asarray(power, dtype=float)
    return float(power) if power.ndim == 0 else power


def required_sample_size(p_control: float, rr: float, power: float = 0.80, alpha: float = 0.05,
                         loss: float = 0.0, method: str = "pooled") -> dict:
    """Patients per arm (1:1) analysed and randomised for `power`, inflating by 1/(1 - loss)."""
    p_supplement = p_control * rr
    if method == "pooled":
        per_arm = samplesize_proportions_2indep_onetail(p_supplement - p_control, p_control, power, alpha=alpha)
    elif method == "arcsine":
        per_arm = NormalIndPower().solve_power(proportion_effectsize(p_supplement, p_control), nobs1=None,
                                               power=power, alpha=alpha, ratio=1.0)
    else:
        raise ValueError(f"method must be 'pooled' or 'arcsine', got {method!r}")
    analysed = math.ceil(float(per_arm) - 1e-9)
    randomised = math.ceil(analysed / (1 - loss) - 1e-9)
    return {"per_arm_analysed": analysed, "per_arm_randomised": randomised, "total_randomised": 2 * randomised}


def sample_size_table(p_controls, rrs, power: float = 0.80, alpha: float = 0.05, loss: float = 0.0) -> pd.DataFrame:
    """`required_sample_size` for every control risk × risk ratio, one row each (rr outer, p_control inner)."""
    return pd.DataFrame([{"p_control": float(p), "rr": float(rr),
                          **required_sample_size(float(p), float(rr), power=power, alpha=alpha, loss=loss)}
                         for rr in rrs for p in p_controls])


def minimal_detectable_rr(p_control: float, power: float = 0.80, n_supplement: float = N_SUPPLEMENT,
                          n_placebo: float = N_PLACEBO, loss: float = 0.0, alpha: float = 0.05,
                          method: str = "pooled") -> float:
    """Largest RR < 1 detected with `power` (NaN if even RR → 0 is not)."""
    def gap(rr: float) -> float:
        return analytic_power(p_control, rr, n_supplement, n_placebo, loss, alpha, method) - power

    low, high = 1e-6, 1 - 1e-9
    if gap(low) < 0:
        return float("nan")
    return float(optimize.brentq(gap, low, high, xtol=1e-10))


def log_rr_wald(events_s, n_s, events_p, n_p):
    """log RR and its SE, SE² = 1/a − 1/n₁ + 1/c − 1/n₀ (Zou 2004): the modified-Poisson HC0 robust SE.

    A zero event count gets Haldane's 0.5 correction (0.5 added to events, 1 to n) in both arms.
    """
    a, n1, c, n0 = (np.asarray(x, dtype=float) for x in (events_s, n_s, events_p, n_p))
    zero = (a == 0) | (c == 0)
    a, c = np.where(zero, a + 0.5, a), np.where(zero, c + 0.5, c)
    n1, n0 = np.where(zero, n1 + 1, n1), np.where(zero, n0 + 1, n0)
    log_rr = np.log(a / n1) - np.log(c / n0)
    se = np.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n0)
    return log_rr, se


def simulated_power(p_control, rr, n_supplement: int = N_SUPPLEMENT, n_placebo: int = N_PLACEBO,
                    loss=0.0, alpha: float = 0.05, reps: int = 4000, seed: int = TRIAL_SEED) -> np.ndarray:
    """Monte-Carlo power of the proposed test (Wald test of log RR, robust SE), vectorised over a grid.

    Each replicate loses each patient independently with probability `loss` (missing completely at
    random) and analyses the complete cases. Monte-Carlo SE ≤ 0.5/sqrt(reps).
    """
    rng = np.random.default_rng(seed)
    p_control, rr, loss = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (p_control, rr, loss)))
    shape = (*p_control.shape, reps)
    keep = (1 - loss)[..., None]
    n_s = rng.binomial(n_supplement, np.broadcast_to(keep, shape))
    n_p = rng.binomial(n_placebo, np.broadcast_to(keep, shape))
    events_s = rng.binomial(n_s, np.broadcast_to((p_control * rr)[..., None], shape))
    events_p = rng.binomial(n_p, np.broadcast_to(p_control[..., None], shape))
    log_rr, se = log_rr_wald(events_s, n_s, events_p, n_p)
    reject = np.abs(log_rr / se) > stats.norm.ppf(1 - alpha / 2)
    return reject.mean(axis=-1)


def power_grid(p_controls, rrs, losses=(0.0, 0.1, 0.2), reps: int = 4000, seed: int = TRIAL_SEED,
               n_supplement: int = N_SUPPLEMENT, n_placebo: int = N_PLACEBO) -> pd.DataFrame:
    """Long table of analytic (pooled, arcsine) and simulated power over control risk × RR × loss."""
    p0, rr, loss = np.meshgrid(np.asarray(p_controls, float), np.asarray(rrs, float), np.asarray(losses, float),
                               indexing="ij")
    table = pd.DataFrame({"p_control": p0.ravel(), "rr": rr.ravel(), "loss": loss.ravel()})
    table["power_pooled"] = analytic_power(table["p_control"], table["rr"], n_supplement, n_placebo, table["loss"])
    table["power_arcsine"] = analytic_power(table["p_control"], table["rr"], n_supplement, n_placebo,
                                            table["loss"], method="arcsine")
    table["power_simulated"] = simulated_power(table["p_control"].to_numpy(), table["rr"].to_numpy(),
                                               n_supplement, n_placebo, table["loss"].to_numpy(), reps=reps,
                                               seed=seed)
    return table


def mdrr_table(p_controls, losses=(0.0, 0.1, 0.2), power: float = 0.80, n_supplement: int = N_SUPPLEMENT,
               n_placebo: int = N_PLACEBO) -> pd.DataFrame:
    """Minimal detectable RR (pooled method) for each control risk and loss."""
    rows = [{"p_control": float(p0), "loss": float(loss),
             "mdrr": minimal_detectable_rr(float(p0), power, n_supplement, n_placebo, float(loss))}
            for p0 in p_controls for loss in losses]
    return pd.DataFrame(rows)
