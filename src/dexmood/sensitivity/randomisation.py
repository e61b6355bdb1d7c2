"""Within-pair randomisation test of the matched ATT (Γ = 1).

If DEX had no effect and there were no hidden bias (Γ = 1 in Rosenbaum's terms), DEX and LA would be
exchangeable within a matched pair: swapping them flips the sign of the pair difference. Random sign vectors
give the randomisation distribution of the mean difference. It is **not** a placebo or negative-control test:
it repeats the significance test of the main estimate without a normal approximation, so it is not one of
the robustness verdicts of the dashboard (issue 16, point 4).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dexmood.errors import AnalysisNotPossible
from dexmood.sensitivity._common import OUTCOME_COLUMNS, OUTCOMES, prepared
from dexmood.sensitivity.confounding import pair_differences
from dexmood.settings import SETTINGS, Settings

NAME = "within-pair randomisation test (Γ = 1)"


def randomisation_test(differences, *, n_permutations: int = SETTINGS.n_permutations,
                       seed: int = SETTINGS.seed) -> dict:
    """Sign-flip randomisation test of the mean pair difference (vectorised, seeded).
    Two-sided p = (1 + #{|T*| ≥ |T|}) / (1 + n_permutations)."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) < 2:
        raise AnalysisNotPossible(f"The randomisation test needs at least two complete matched pairs; {len(d)} here.")
    rng = np.random.default_rng(seed)
    signs = rng.integers(0, 2, size=(n_permutations, len(d)), dtype=np.int8) * 2 - 1
    null = signs @ d / len(d)
    observed = float(d.mean())
    exceed = int(np.sum(np.abs(null) >= abs(observed) - 1e-12))
    return {"observed": observed, "p": (1 + exceed) / (1 + n_permutations), "null": null,
            "null_sd": float(null.std(ddof=1)), "n_pairs": len(d), "n_permutations": n_permutations}


def randomisation_mcse(result: dict) -> dict:
    """Monte-Carlo SEs (issue 20) of a `randomisation_test`: the p-value is a proportion of independent sign
    flips, MCSE √(p(1 − p)/n); the SD of the randomisation distribution has MCSE SD/√(2(n − 1)). (Its largest
    absolute value has no MCSE; the notebook checks it within a stated tolerance.)"""
    n = result["n_permutations"]
    p = result["p"]
    return {"p_mcse": float(np.sqrt(p * (1 - p) / n)),
            "randomisation_sd_mcse": float(result["null_sd"] / np.sqrt(2 * (n - 1)))}


def randomisation_table(matched: pd.DataFrame, outcomes=OUTCOMES, *,
                        settings: Settings = SETTINGS) -> tuple[pd.DataFrame, dict]:
    """The randomisation test of every outcome's matched ATT (1:1 pairs with both outcomes observed)."""
    data = prepared(matched)
    results, rows = {}, []
    for key in outcomes:
        result = randomisation_test(pair_differences(data, OUTCOME_COLUMNS[key]),
                                    n_permutations=settings.n_permutations, seed=settings.seed)
        results[key] = result
        rows.append({"outcome": key, "pairs": result["n_pairs"], "mean_pair_difference": result["observed"],
                     "randomisation_sd": result["null_sd"], "randomisation_max_abs": float(np.abs(result["null"]).max()),
                     "p": result["p"], **randomisation_mcse(result)})
    return pd.DataFrame(rows), results
