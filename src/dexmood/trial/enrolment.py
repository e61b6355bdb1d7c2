"""A simulated screening log and enrolment (assumed prevalences), and the CONSORT boxes drawn from them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dexmood.trial.eligibility import (
    CRITERION_LABELS,
    ELIGIBILITY_RULES,
    assess_eligibility,
    eligibility_matrix,
)
from dexmood.trial.registry import N_PLACEBO, N_SUPPLEMENT, TRIAL_SEED

#: Assumed prevalences of the simulated screening population (illustrative, not from any source).
SCREENING_ASSUMPTIONS = {
    "share_adolescent": 0.25,  # scoliosis correction is common before 18
    "not_scheduled": 0.02, "no_pcia": 0.04, "sick_sinus": 0.003, "bradycardia_mean_hr": 76.0,
    "av_block_2plus": 0.004, "pacemaker_given_block": 0.5, "congenital_heart": 0.01, "arrhythmia": 0.02,
    "nyha_3plus": 0.01, "osa": 0.02, "stop_bang_3plus": 0.10, "bicarbonate_measured": 0.9,
    "hyperthyroid": 0.005, "pheochromocytoma": 0.001, "schizophrenia": 0.003, "epilepsy": 0.005,
    "myasthenia": 0.001, "delirium": 0.002, "communication": 0.01, "child_pugh_c": 0.002, "dialysis": 0.002,
    "asa_4plus": 0.01, "weight_mean": 56.0, "weight_sd": 10.0, "other_study": 0.02, "follow_up": 0.02,
    "unsuitable": 0.02, "consent": 0.88,
}


def simulate_screening(n: int, seed: int = TRIAL_SEED, assumptions: dict | None = None) -> pd.DataFrame:
    """A screening log of `n` patients scheduled for spine deformity surgery (assumed prevalences)."""
    a = {**SCREENING_ASSUMPTIONS, **(assumptions or {})}
    rng = np.random.default_rng(seed)

    def flag(p: float) -> np.ndarray:
        return rng.random(n) < p

    adolescent = flag(a["share_adolescent"])
    age = np.where(adolescent, rng.uniform(12, 18, n), (18 + rng.gamma(2.0, 9.0, n)).clip(18, 80))
    av_block = np.where(flag(a["av_block_2plus"]), rng.integers(2, 4, n), rng.choice([0, 1], n, p=[0.97, 0.03]))
    stop_bang = np.where(flag(a["stop_bang_3plus"]), rng.integers(3, 6, n), rng.integers(0, 3, n))
    bicarbonate = rng.normal(25.0, 2.0, n).round(1)
    bicarbonate[~flag(a["bicarbonate_measured"])] = np.nan
    return pd.DataFrame({
        "patient_id": [f"S{i + 1:04d}" for i in range(n)],
        "age_years": age.round(1),
        "scoliosis_correction_scheduled": ~flag(a["not_scheduled"]),
        "pcia_required": ~flag(a["no_pcia"]),
        "weight_kg": rng.normal(a["weight_mean"], a["weight_sd"], n).clip(30, 120).round(1),
        "heart_rate_bpm": rng.normal(a["bradycardia_mean_hr"], 10.0, n).clip(35, 140).round(0),
        "sick_sinus_syndrome": flag(a["sick_sinus"]),
        "av_block_grade": av_block,
        "pacemaker": (av_block >= 2) & flag(a["pacemaker_given_block"]),
        "congenital_heart_disease": flag(a["congenital_heart"]),
        "arrhythmia": flag(a["arrhythmia"]),
        "nyha_class": np.where(flag(a["nyha_3plus"]), rng.integers(3, 5, n), rng.integers(1, 3, n)),
        "osa_diagnosed": flag(a["osa"]),
        "stop_bang_score": stop_bang,
        "bicarbonate_mmol_l": bicarbonate,
        "hyperthyroidism": flag(a["hyperthyroid"]),
        "pheochromocytoma": flag(a["pheochromocytoma"]),
        "schizophrenia": flag(a["schizophrenia"]),
        "epilepsy": flag(a["epilepsy"]),
        "myasthenia_gravis": flag(a["myasthenia"]),
        "delirium_preop": flag(a["delirium"]),
        "communication_barrier": flag(a["communication"]),
        "child_pugh_class": np.where(flag(a["child_pugh_c"]), "C", "A"),
        "dialysis_preop": flag(a["dialysis"]),
        "asa_class": np.where(flag(a["asa_4plus"]), 4, rng.integers(1, 4, n)),
        "in_other_study": flag(a["other_study"]),
        "follow_up_not_possible": flag(a["follow_up"]),
        "investigator_unsuitable": flag(a["unsuitable"]),
    })


@dataclass
class ScreeningFlow:
    """A simulated enrolment: screen in order until `n_randomised` eligible patients have consented."""

    screening: pd.DataFrame
    assessment: pd.DataFrame
    consented: pd.Series
    n_randomised: int

    @property
    def counts(self) -> dict:
        eligible = self.assessment["eligible"]
        return {"assessed": len(self.assessment), "eligible": int(eligible.sum()),
                "not_eligible": int((~eligible).sum()),
                "declined": int((eligible & ~self.consented).sum()), "randomised": self.n_randomised}

    def exclusions_by_criterion(self) -> pd.DataFrame:
        """Patients per registry item: `first` counts each patient once (CONSORT), `any` counts every reason."""
        matrix = eligibility_matrix(self.screening)
        criterion = {rule.key: rule.criterion for rule in ELIGIBILITY_RULES}
        by_item = matrix.T.groupby(lambda key: criterion[key], sort=False).any().T
        first = self.assessment.loc[~self.assessment["eligible"], "first_criterion"].value_counts()
        table = pd.DataFrame({"criterion": by_item.columns,
                              "label": [CRITERION_LABELS[c] for c in by_item.columns],
                              "first": [int(first.get(c, 0)) for c in by_item.columns],
                              "any": by_item.sum().to_numpy().astype(int)})
        return table.reset_index(drop=True)


def simulate_enrolment(n_randomised: int = N_SUPPLEMENT + N_PLACEBO, seed: int = TRIAL_SEED,
                       assumptions: dict | None = None) -> ScreeningFlow:
    """Screen a simulated population in arrival order and stop at the `n_randomised`-th consenting patient."""
    a = {**SCREENING_ASSUMPTIONS, **(assumptions or {})}
    pool = simulate_screening(4 * n_randomised + 200, seed, assumptions)
    assessment = assess_eligibility(pool)
    consent = pd.Series(np.random.default_rng([seed, 1]).random(len(pool)) < a["consent"])
    enrolled = (assessment["eligible"] & consent).cumsum()
    if enrolled.iloc[-1] < n_randomised:
        raise ValueError("the simulated screening pool is too small for the target; raise the pool size")
    stop = int(np.argmax(enrolled.to_numpy() >= n_randomised)) + 1
    return ScreeningFlow(pool.iloc[:stop].reset_index(drop=True), assessment.iloc[:stop].reset_index(drop=True),
                         consent.iloc[:stop].reset_index(drop=True), n_randomised)


def consort_steps(flow: ScreeningFlow, results: pd.DataFrame, top: int = 3) -> tuple[list, list]:
    """(steps, exclusions) for `dexmood.plots.flow_diagram` from a screening flow and a results table."""
    counts = flow.counts
    by_arm = results["arm"].value_counts()
    followed = results.dropna(subset=["cpsp_2y"])
    by_arm_followed = followed["arm"].value_counts()
    reasons = flow.exclusions_by_criterion().sort_values("first", ascending=False, kind="stable").head(top)
    reason_text = "\n".join(f"{row.label}: {row.first}" for row in reasons.itertuples() if row.first)
    steps = [
        ("Assessed for eligibility", counts["assessed"]),
        ("Eligible", counts["eligible"]),
        (f"Randomised\n({int(by_arm.get('supplement', 0))} supplement, {int(by_arm.get('placebo', 0))} placebo)",
         len(results)),
        (f"CPSP assessed at 2 years\n({int(by_arm_followed.get('supplement', 0))} supplement, "
         f"{int(by_arm_followed.get('placebo', 0))} placebo)", len(followed)),
    ]
    exclusions = [
        (f"Not eligible (main reasons)\n{reason_text}", counts["not_eligible"]),
        ("Declined to take part", counts["eligible"] - len(results)),
        ("Lost to follow-up", len(results) - len(followed)),
    ]
    return steps, exclusions
