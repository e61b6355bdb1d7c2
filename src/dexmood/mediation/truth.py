"""What the estimates are compared with: the simulation's true effects, the published share mediated."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dexmood import cohort as cohort_module
from dexmood.cohort import published
from dexmood.mediation._common import OUTCOMES
from dexmood.mediation.data import MediationData


def truth_value(truth: dict, outcome: str, estimand: str) -> float:
    """The simulation's true value of an estimand (`sample_truth(...)`, `cohort.truth["mediation_treated"]`)."""
    block = truth[outcome]
    return float(block[estimand] if estimand in block else {
        "ade_average": (block["ade_treated"] + block["ade_control"]) / 2}[estimand])


def sample_truth(cohort, data: MediationData) -> dict | None:
    """True natural effects for the patients the estimate averages over (simulated data only, else None).

    The posterior estimands average over the analysed sample (matched DEX *and* LA patients with a complete
    visit, with their likelihood weights), so their truth is the same average of each patient's potential
    outcomes Y(t, M(t′)), re-drawn with `cohort.draw_world` from the cohort's design and seed — not the mean
    over all DEX patients (`cohort.truth["mediation_treated"]`), which is another population. Raises if the
    re-drawn world does not reproduce the analysed patients' observed scores."""
    if not getattr(cohort, "simulated", False) or not cohort.truth:
        return None
    def as_tuples(value):
        return tuple(as_tuples(v) for v in value) if isinstance(value, list | tuple) else value

    design = cohort_module.SimulationDesign(**{k: as_tuples(v) for k, v in cohort.truth["design"].items()})
    world = cohort_module.draw_world(design, seed=cohort.truth["seed"])
    world_frame = world.frame()
    rows = pd.Index(world_frame["patient_id"]).get_indexer(data.frame["patient_id"])
    if np.any(rows < 0):
        raise ValueError("the analysed patients are not in the re-drawn simulated world")
    for column in ("gad7_1m", "phq9_1m", "nrs_1m"):
        if not np.allclose(world_frame[column].to_numpy()[rows], data.frame[column].to_numpy()):
            raise ValueError(f"the re-drawn simulated world does not reproduce {column} of the analysed patients")
    weights = data.weights / data.weights.sum()
    truth = {}
    for outcome in OUTCOMES:
        y = {key: values[rows] for key, values in world.mood[outcome].items()}

        def mean(diff):
            return float(np.sum(weights * diff))

        block = {"acme_treated": mean(y[1, 1] - y[1, 0]), "acme_control": mean(y[0, 1] - y[0, 0]),
                 "ade_control": mean(y[1, 0] - y[0, 0]), "ade_treated": mean(y[1, 1] - y[0, 1]),
                 "total": mean(y[1, 1] - y[0, 0])}
        block["acme_average"] = (block["acme_treated"] + block["acme_control"]) / 2
        block["ade_average"] = (block["ade_treated"] + block["ade_control"]) / 2
        block["proportion_mediated"] = block["acme_average"] / block["total"] if block["total"] else float("nan")
        truth[outcome] = block
    return truth


def published_band() -> tuple[float, float]:
    """The published 18–32% share of mood improvement attributed to pain relief (Ren et al. 2025)."""
    low, high = published()["ren2025_cohort"]["proportion_mediated_by_pain_relief"]["range"]
    return float(low), float(high)
