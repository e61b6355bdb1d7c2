"""The simulated cohort: a structural model calibrated to Ren et al. (2025), with its known truth."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from dexmood import paths
from dexmood.cohort.contract import (
    MILD_CUTOFF,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    SCORE_RANGES,
    validate,
)
from dexmood.cohort.dataset import Cohort, load_cohort, make_cohort
from dexmood.settings import SETTINGS

# --------------------------------------------------------------------------------------------------
# Simulation: a structural model calibrated to the published study
# --------------------------------------------------------------------------------------------------

DEFAULT_SEED = SETTINGS.seed


@dataclass(frozen=True)
class SimulationDesign:
    """Parameters of the structural model. Defaults are calibrated to Ren et al. (2025).

    Changes are 1-month minus baseline (negative = improvement). Effects are on the latent (unrounded)
    scale; the true effects on the observed, rounded and clipped scores are computed per patient.
    """

    n_dex: int = 106
    n_la: int = 184
    #: Screening exclusions shown in the flow diagram (306 screened − 290 analysed = 16).
    screening_exclusions: tuple[tuple[str, int], ...] = (
        ("GAD-7 < 5 and PHQ-9 < 5 at screening", 7),
        ("incomplete baseline questionnaires", 5),
        ("procedure not completed", 4),
    )
    #: Strength of confounding: multiplies every covariate coefficient of the assignment model.
    confounding: float = 1.0
    #: Effect of DEX on the change in NRS (the mediator), NRS points.
    effect_nrs: float = -0.713
    #: Direct (not through pain) effects of DEX on the change in GAD-7 / PHQ-9, score points.
    direct_gad7: float = -1.508
    direct_phq9: float = -1.769
    #: Mood change per point of pain change (the mediator path b).
    pain_to_gad7: float = 0.75
    pain_to_phq9: float = 0.85
    #: Treatment × mediator interaction on each outcome (0 = none).
    interaction_gad7: float = 0.0
    interaction_phq9: float = 0.0
    #: Intercepts of the changes in the LA group at the covariate reference values. These six numbers are
    #: calibrated by `tools/calibrate_simulation.py` so that, averaged over seeds, the 1:1 caliper-matched
    #: sample's group mean changes equal the published ones (which describe the matched sample).
    intercept_nrs: float = -2.557
    intercept_gad7: float = -2.285
    intercept_phq9: float = -3.799
    residual_sd_nrs: float = 1.45
    residual_sd_gad7: float = 2.35
    residual_sd_phq9: float = 2.75
    residual_corr_mood: float = 0.45
    #: Satisfaction (1–5): latent logistic model, DEX effect on the log-odds scale.
    satisfaction_dex: float = 0.9
    satisfaction_cutpoints: tuple[float, ...] = (-3.0, -1.7, -0.2, 1.4)
    #: Probability that a patient's whole 1-month visit is missing.
    missing_followup: float = 0.03

    @property
    def n(self) -> int:
        return self.n_dex + self.n_la

    def to_dict(self) -> dict:
        return asdict(self)



def _covariates(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Baseline covariates of patients eligible for the study (at least mild anxiety or depression)."""
    rows = []
    need = n
    while need > 0:
        m = max(2 * need, 64)
        severity = rng.normal(size=m)  # shared latent distress
        cov = pd.DataFrame({
            "age": np.clip(np.round(rng.normal(56, 12, m)), 18, 90),
            "sex": np.where(rng.random(m) < 0.62, "F", "M"),
            "bmi": np.round(np.clip(rng.normal(23.8, 3.3, m), 15, 45), 1),
            "pain_duration_months": np.clip(np.round(np.exp(rng.normal(np.log(18), 0.8, m))), 3, 360),
            "pain_diagnosis": rng.choice(["neuropathic", "spinal", "musculoskeletal"], m, p=[0.35, 0.40, 0.25]),
            "procedure": rng.choice(["nerve_block", "radiofrequency", "epidural_injection"], m, p=[0.4, 0.3, 0.3]),
            "nrs_baseline": np.clip(np.round(6.3 + 1.1 * (0.5 * severity + 0.87 * rng.normal(size=m))), 3, 10),
            "gad7_baseline": np.clip(np.round(9.5 + 3.6 * (0.7 * severity + 0.71 * rng.normal(size=m))), 0, 21),
            "phq9_baseline": np.clip(np.round(11.0 + 4.0 * (0.7 * severity + 0.71 * rng.normal(size=m))), 0, 27),
        })
        eligible = (cov["gad7_baseline"] >= MILD_CUTOFF) | (cov["phq9_baseline"] >= MILD_CUTOFF)
        rows.append(cov[eligible].head(need))
        need -= len(rows[-1])
    return pd.concat(rows, ignore_index=True)


def _centred(cov: pd.DataFrame) -> dict[str, np.ndarray]:
    """Covariates centred at fixed reference values (not sample means, so that n does not move them)."""
    return {
        "age": (cov["age"].to_numpy() - 56) / 10,
        "male": (cov["sex"].to_numpy() == "M").astype(float) - 0.38,
        "bmi": (cov["bmi"].to_numpy() - 23.8) / 3.3,
        "log_duration": np.log(cov["pain_duration_months"].to_numpy() / 18),
        "neuropathic": (cov["pain_diagnosis"].to_numpy() == "neuropathic").astype(float) - 0.35,
        "radiofrequency": (cov["procedure"].to_numpy() == "radiofrequency").astype(float) - 0.3,
        "nrs": cov["nrs_baseline"].to_numpy() - 6.3,
        "gad7": cov["gad7_baseline"].to_numpy() - 9.5,
        "phq9": cov["phq9_baseline"].to_numpy() - 11.0,
    }


#: Assignment model (log-odds of DEX per unit of centred covariate), before `confounding` scaling.
ASSIGNMENT_COEFS = {"age": -0.32, "male": -0.25, "bmi": 0.0, "log_duration": 0.25, "neuropathic": 0.32,
                    "radiofrequency": 0.72, "nrs": 0.22, "gad7": 0.07, "phq9": 0.04}
#: Covariate effects on the changes (pain, anxiety, depression): older and longer-standing pain improves
#: less; higher baseline improves more (regression to the mean and more room to improve).
OUTCOME_COEFS = {
    "nrs": {"age": 0.15, "log_duration": 0.25, "neuropathic": 0.30, "radiofrequency": -0.35, "nrs": -0.30},
    "gad7": {"age": 0.20, "log_duration": 0.20, "male": 0.20, "gad7": -0.22},
    "phq9": {"age": 0.25, "log_duration": 0.25, "male": 0.15, "phq9": -0.22},
}


def _linear(x: dict[str, np.ndarray], coefs: dict[str, float]) -> np.ndarray:
    return sum(coef * x[name] for name, coef in coefs.items())


def _to_score(baseline: np.ndarray, latent_change: np.ndarray, outcome: str) -> np.ndarray:
    lo, hi = SCORE_RANGES[outcome]
    return np.clip(np.round(baseline + latent_change), lo, hi)


@dataclass
class SimulatedWorld:
    """Every simulated patient's covariates, assignment and potential outcomes (observed score scale).

    `mood[outcome][(t, tm)]` is the 1-month score under treatment t with the pain change it would have
    under treatment tm (cross-world, for natural effects); `pain_change[t]` is the mediator M(t).
    """

    design: SimulationDesign
    seed: object
    covariates: pd.DataFrame
    dex: np.ndarray
    nrs_1m: dict[int, np.ndarray]
    pain_change: dict[int, np.ndarray]
    mood: dict[str, dict[tuple[int, int], np.ndarray]]
    satisfaction: dict[int, np.ndarray]
    missing_visit: np.ndarray

    def frame(self) -> pd.DataFrame:
        """The observed cohort in the contract's columns (missing visits as NaN), not validated."""
        n = len(self.dex)
        treated = self.dex == 1
        data = pd.DataFrame({"patient_id": [f"SIM{i + 1:04d}" for i in range(n)],
                             "group": np.where(treated, "DEX", "LA")})
        data = pd.concat([data, self.covariates], axis=1)
        observed = {"nrs_1m": np.where(treated, self.nrs_1m[1], self.nrs_1m[0])}
        for outcome in ("gad7", "phq9"):
            observed[f"{outcome}_1m"] = np.where(treated, self.mood[outcome][(1, 1)], self.mood[outcome][(0, 0)])
        observed["satisfaction"] = np.where(treated, self.satisfaction[1], self.satisfaction[0])
        for column, values in observed.items():
            data[column] = np.where(self.missing_visit, np.nan, values)
        return data[list(REQUIRED_COLUMNS) + list(OPTIONAL_COLUMNS)]

    def truth(self) -> dict:
        return _truth(self.design, self.seed, self.dex, self.covariates["nrs_baseline"].to_numpy(),
                      self.covariates, self.nrs_1m, self.mood, self.satisfaction)


def draw_world(design: SimulationDesign | None = None, seed=DEFAULT_SEED) -> SimulatedWorld:
    """Draw covariates, the confounded assignment and all potential outcomes (the structural model).

    Assignment is a latent-index model: the `n_dex` patients with the largest
    `confounding * x'β + logistic noise` receive DEX, so group sizes are exact while the probability of
    DEX rises with the covariates as in a logistic propensity model.
    """
    design = design or SimulationDesign()
    rng = np.random.default_rng(seed)
    n = design.n
    cov = _covariates(rng, n)
    x = _centred(cov)

    assignment_index = design.confounding * _linear(x, ASSIGNMENT_COEFS) + rng.logistic(size=n)
    dex = np.zeros(n, dtype=int)
    dex[np.argsort(-assignment_index, kind="stable")[: design.n_dex]] = 1

    # One set of individual residuals serves both worlds (cross-world potential outcomes).
    eps_nrs = rng.normal(0, design.residual_sd_nrs, n)
    covariance = design.residual_corr_mood * design.residual_sd_gad7 * design.residual_sd_phq9
    mood_eps = rng.multivariate_normal([0, 0], [[design.residual_sd_gad7**2, covariance],
                                                [covariance, design.residual_sd_phq9**2]], size=n)
    eps_sat = rng.logistic(size=n)
    missing_visit = rng.random(n) < design.missing_followup

    nrs_b = cov["nrs_baseline"].to_numpy()
    nrs_1m = {t: _to_score(nrs_b, design.intercept_nrs + design.effect_nrs * t
                           + _linear(x, OUTCOME_COEFS["nrs"]) + eps_nrs, "nrs") for t in (0, 1)}
    pain_change = {t: nrs_1m[t] - nrs_b for t in (0, 1)}  # mediator M(t), observed scale

    def mood_score(outcome: str, t: int, m: np.ndarray, eps: np.ndarray) -> np.ndarray:
        direct = getattr(design, f"direct_{outcome}")
        slope = getattr(design, f"pain_to_{outcome}") + getattr(design, f"interaction_{outcome}") * t
        # centre the mediator at the LA mean change so the intercept keeps its meaning
        latent = (getattr(design, f"intercept_{outcome}") + direct * t + slope * (m - design.intercept_nrs)
                  + _linear(x, OUTCOME_COEFS[outcome]) + eps)
        return _to_score(cov[f"{outcome}_baseline"].to_numpy(), latent, outcome)

    mood = {outcome: {(t, tm): mood_score(outcome, t, pain_change[tm], mood_eps[:, k])
                      for t in (0, 1) for tm in (0, 1)}
            for k, outcome in enumerate(("gad7", "phq9"))}

    def satisfaction(t: int) -> np.ndarray:
        latent = design.satisfaction_dex * t - 0.35 * pain_change[t] - 0.9 + eps_sat
        return (1 + np.searchsorted(np.asarray(design.satisfaction_cutpoints), latent)).astype(float)

    return SimulatedWorld(design=design, seed=seed, covariates=cov, dex=dex, nrs_1m=nrs_1m,
                          pain_change=pain_change, mood=mood, satisfaction={t: satisfaction(t) for t in (0, 1)},
                          missing_visit=missing_visit)


def simulate(design: SimulationDesign | None = None, seed: int = DEFAULT_SEED) -> Cohort:
    """Simulate the analysed cohort (validated against the contract) with its true effects."""
    world = draw_world(design, seed)
    data = validate(world.frame(), source="simulation")
    return make_cohort(data, "simulated", simulated=True, truth=world.truth(),
                       screening=list(world.design.screening_exclusions))


def _effects(diff: np.ndarray, mask: np.ndarray) -> float:
    return float(np.mean(diff[mask]))


def _truth(design, seed, dex, nrs_b, cov, nrs_1m, potential, sat) -> dict:
    """True effects from both potential outcomes of every simulated patient (observed score scale)."""
    treated = dex == 1
    everyone = np.ones_like(treated)
    truth: dict = {"seed": seed, "design": design.to_dict(), "scale": "1-month change, observed score points",
                   "att": {}, "ate": {}, "mediation_treated": {}, "mediation_all": {}}
    pain_diff = nrs_1m[1] - nrs_1m[0]
    truth["att"]["nrs"] = _effects(pain_diff, treated)
    truth["ate"]["nrs"] = _effects(pain_diff, everyone)
    for outcome in ("gad7", "phq9"):
        y = potential[outcome]
        for key, mask in (("treated", treated), ("all", everyone)):
            total = _effects(y[(1, 1)] - y[(0, 0)], mask)
            # Imai–Keele–Tingley decomposition: ACME(1) + ADE(0) = total = ACME(0) + ADE(1).
            acme_treated = _effects(y[(1, 1)] - y[(1, 0)], mask)
            acme_control = _effects(y[(0, 1)] - y[(0, 0)], mask)
            ade_control = _effects(y[(1, 0)] - y[(0, 0)], mask)
            ade_treated = _effects(y[(1, 1)] - y[(0, 1)], mask)
            truth[f"mediation_{key}"][outcome] = {
                "total": total, "acme_treated": acme_treated, "acme_control": acme_control,
                "ade_treated": ade_treated, "ade_control": ade_control,
                "acme_average": (acme_treated + acme_control) / 2,
                "proportion_mediated": ((acme_treated + acme_control) / 2) / total if total else float("nan"),
            }
        truth["att"][outcome] = truth["mediation_treated"][outcome]["total"]
        truth["ate"][outcome] = truth["mediation_all"][outcome]["total"]
    truth["att"]["satisfaction"] = _effects(sat[1] - sat[0], treated)
    truth["ate"]["satisfaction"] = _effects(sat[1] - sat[0], everyone)
    return truth


def with_design(**changes) -> SimulationDesign:
    """A copy of the default design with some parameters changed (for validation studies)."""
    return replace(SimulationDesign(), **changes)


def get_cohort(seed: int = DEFAULT_SEED, design: SimulationDesign | None = None) -> Cohort:
    """The cohort every notebook analyses: the user's CSV if `DEXMOOD_COHORT` is set, else the simulation."""
    user_file = os.environ.get(paths.COHORT_ENV, "").strip()
    if user_file:
        return load_cohort(user_file)
    return simulate(design, seed=seed)
