"""A second cohort generator, deliberately unlike `dexmood.cohort.simulate` (issue 14, point 3).

The package's simulator is not the data contract: this generator writes contract-valid cohorts of another
shape, so the pipeline is tested on data it was not tuned to. What differs from the simulator:
- covariates: uniform age, a male majority, right-skewed (gamma) BMI and pain duration, four other pain
  diagnoses and three other procedures, count-distributed baseline scores (binomial around a patient's
  distress), plus two further baseline covariates the contract invites: a numeric `crp_baseline`
  (log-normal C-reactive protein, mg/L, hundreds of distinct values) and a categorical `smoking_baseline`;
- treatment: a Bernoulli draw from a logistic propensity model (group sizes vary; the simulator fixes them),
  linear in exactly the covariates a cohort file holds, so propensity matching can remove the confounding;
  a covariate left out of a file enters neither the file nor the propensity (it stays prognostic only, so
  leaving it out does not bias the ATT);
- outcomes: its own change model (pain change mediates part of the mood effect with other path
  coefficients, effects modified by smoking and CRP, age enters as a square), rounded and clipped;
- no `satisfaction` column; text IDs (``"pt-…"``) or numeric IDs; rows shuffled.

The truth is the ATT on the observed score scale: the mean over treated patients of the difference of their
two potential 1-month changes (one shared residual per patient in both worlds).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

REQUIRED = ("patient_id", "group", "age", "sex", "nrs_baseline", "gad7_baseline", "phq9_baseline",
            "nrs_1m", "gad7_1m", "phq9_1m")
#: Optional covariates of the contract this generator can write (never `satisfaction`).
OPTIONAL = ("bmi", "pain_duration_months", "pain_diagnosis", "procedure")
#: Further baseline covariates (not in the contract's list; the contract accepts any `*_baseline`).
EXTRA = ("crp_baseline", "smoking_baseline")
RANGES = {"nrs": (0, 10), "gad7": (0, 21), "phq9": (0, 27)}
DIAGNOSES = ("radicular", "osteoarthritis", "post_surgical", "headache")
PROCEDURES = ("sympathetic_block", "trigger_point", "facet_injection")
SMOKING = ("never", "former", "current")


@dataclass(frozen=True)
class OtherDesign:
    """Knobs of the second generator. `columns` are the optional/extra covariates written to the file."""

    n: int = 320
    #: Target share of DEX patients (the propensity intercept is solved for it).
    dex_share: float = 0.4
    columns: tuple[str, ...] = OPTIONAL + EXTRA
    #: "text" (pt-0007-k) or "numeric" (non-contiguous integers).
    ids: str = "text"
    #: Rare smoking levels added with these patient counts (e.g. {"cigar": 3, "vape": 2}).
    rare_smoking: dict = field(default_factory=dict)
    #: Share of values blanked at random (MCAR) per optional/extra covariate, e.g. {"bmi": 0.2}.
    missing: dict = field(default_factory=dict)
    #: A free-text `*_baseline` column with about this many distinct values (0 = none).
    free_text_levels: int = 0
    #: Share of patients whose whole 1-month visit is missing.
    missing_followup: float = 0.05
    #: Strength of confounding (multiplies every propensity coefficient).
    confounding: float = 1.0

    def with_(self, **changes) -> OtherDesign:
        return replace(self, **changes)


@dataclass
class OtherCohort:
    frame: pd.DataFrame
    truth: dict  # {"att": {"gad7": …, "phq9": …, "nrs": …}, "n_dex": …, "n_la": …}
    design: OtherDesign
    #: Each patient's own effect (change under DEX minus change under LA), by patient_id and outcome.
    individual: pd.DataFrame | None = None


# Propensity (log-odds of DEX per unit of each standardised covariate). Differs in sign and size from the
# simulator's assignment model on purpose: older, male, higher-CRP and more anxious patients get DEX.
PROPENSITY = {"age": 0.35, "male": 0.30, "nrs": 0.25, "gad7": 0.40, "phq9": -0.20, "bmi": -0.25,
              "duration": 0.30, "crp": 0.35, "diag_headache": -0.50, "diag_post_surgical": 0.40,
              "proc_trigger_point": -0.45, "proc_facet_injection": 0.30, "smoke_current": -0.40,
              "smoke_former": 0.15}
# Which file column carries each propensity term (a term enters only when its column is in the file).
TERM_COLUMN = {"age": "age", "male": "sex", "nrs": "nrs_baseline", "gad7": "gad7_baseline",
               "phq9": "phq9_baseline", "bmi": "bmi", "duration": "pain_duration_months", "crp": "crp_baseline",
               "diag_headache": "pain_diagnosis", "diag_post_surgical": "pain_diagnosis",
               "proc_trigger_point": "procedure", "proc_facet_injection": "procedure",
               "smoke_current": "smoking_baseline", "smoke_former": "smoking_baseline"}


def _covariates(rng: np.random.Generator, n: int) -> pd.DataFrame:
    distress = rng.beta(2.0, 2.5, n)  # shared latent distress in (0, 1)
    pain_burden = rng.beta(3.0, 2.0, n)
    return pd.DataFrame({
        "age": rng.integers(25, 86, n).astype(float),
        "sex": np.where(rng.random(n) < 0.45, "F", "M"),
        "bmi": np.round(np.clip(17 + rng.gamma(4.0, 2.2, n), 14, 60), 1),
        "pain_duration_months": np.clip(np.round(rng.gamma(1.6, 20.0, n)), 1, 400),
        "pain_diagnosis": rng.choice(DIAGNOSES, n, p=[0.35, 0.30, 0.20, 0.15]),
        "procedure": rng.choice(PROCEDURES, n, p=[0.45, 0.35, 0.20]),
        "nrs_baseline": np.clip(2 + rng.binomial(8, 0.4 + 0.45 * pain_burden), 0, 10).astype(float),
        "gad7_baseline": rng.binomial(21, 0.15 + 0.6 * distress).astype(float),
        "phq9_baseline": rng.binomial(27, 0.12 + 0.55 * (0.6 * distress + 0.4 * rng.random(n))).astype(float),
        "crp_baseline": np.round(np.exp(rng.normal(1.1, 0.8, n)), 2),
        "smoking_baseline": rng.choice(SMOKING, n, p=[0.5, 0.3, 0.2]).astype(object),
    })


def _terms(cov: pd.DataFrame) -> dict[str, np.ndarray]:
    """Standardised propensity terms (fixed reference values, so n does not move them)."""
    return {
        "age": (cov["age"].to_numpy() - 55) / 17, "male": (cov["sex"] == "M").to_numpy(float) - 0.55,
        "nrs": (cov["nrs_baseline"].to_numpy() - 6.8) / 1.8, "gad7": (cov["gad7_baseline"].to_numpy() - 10) / 4,
        "phq9": (cov["phq9_baseline"].to_numpy() - 11) / 4.5, "bmi": (cov["bmi"].to_numpy() - 25.8) / 4.4,
        "duration": (cov["pain_duration_months"].to_numpy() - 32) / 25,
        "crp": (cov["crp_baseline"].to_numpy() - 4.1) / 3.8,
        "diag_headache": (cov["pain_diagnosis"] == "headache").to_numpy(float),
        "diag_post_surgical": (cov["pain_diagnosis"] == "post_surgical").to_numpy(float),
        "proc_trigger_point": (cov["procedure"] == "trigger_point").to_numpy(float),
        "proc_facet_injection": (cov["procedure"] == "facet_injection").to_numpy(float),
        "smoke_current": (cov["smoking_baseline"] == "current").to_numpy(float),
        "smoke_former": (cov["smoking_baseline"] == "former").to_numpy(float),
    }


def _solve_intercept(index: np.ndarray, share: float) -> float:
    """Intercept giving a mean propensity of `share` (bisection; the expit is monotone in it)."""
    lo, hi = -20.0, 20.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(mid + index)))) < share:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _score(baseline: np.ndarray, latent_change: np.ndarray, outcome: str) -> np.ndarray:
    lo, hi = RANGES[outcome]
    return np.clip(np.round(baseline + latent_change), lo, hi)


def generate(design: OtherDesign | None = None, seed: int = 0) -> OtherCohort:
    """Draw one cohort of the second generator and its true ATT (see the module docstring)."""
    design = design or OtherDesign()
    rng = np.random.default_rng(seed)
    n = design.n
    cov = _covariates(rng, n)
    if design.rare_smoking:
        rows = rng.choice(n, sum(design.rare_smoking.values()), replace=False)
        levels = [level for level, count in design.rare_smoking.items() for _ in range(count)]
        cov.loc[rows, "smoking_baseline"] = levels  # rare levels: no propensity or outcome term of their own
    terms = _terms(cov)
    index = sum(design.confounding * coef * terms[name] for name, coef in PROPENSITY.items()
                if TERM_COLUMN[name] in REQUIRED or TERM_COLUMN[name] in design.columns)
    index = np.asarray(index, dtype=float) + np.zeros(n)
    propensity = 1 / (1 + np.exp(-(_solve_intercept(index, design.dex_share) + index)))
    dex = (rng.random(n) < propensity).astype(int)

    # Outcome model: change = 1-month minus baseline (negative = improvement); one residual per patient.
    age_sq = ((cov["age"].to_numpy() - 55) / 15) ** 2
    log_crp = np.log(cov["crp_baseline"].to_numpy())
    current = (cov["smoking_baseline"] == "current").to_numpy(float)
    diag = {d: (cov["pain_diagnosis"] == d).to_numpy(float) for d in DIAGNOSES}
    nrs_b, gad_b, phq_b = (cov[f"{o}_baseline"].to_numpy() for o in ("nrs", "gad7", "phq9"))
    eps = {"nrs": rng.normal(0, 1.2, n), "gad7": rng.normal(0, 2.0, n), "phq9": rng.normal(0, 2.4, n)}
    eps["phq9"] = 0.35 * eps["gad7"] / 2.0 * 2.4 + np.sqrt(1 - 0.35**2) * eps["phq9"]
    missing_visit = rng.random(n) < design.missing_followup

    def nrs_change(t: int) -> np.ndarray:
        effect = (-0.9 + 0.25 * current + 0.15 * (log_crp - 1.1)) * t
        latent = (-1.6 - 0.30 * (nrs_b - 6.8) + 0.35 * age_sq + 0.25 * log_crp - 0.6 * diag["post_surgical"]
                  + 0.4 * diag["headache"] + effect + eps["nrs"])
        return _score(nrs_b, latent, "nrs") - nrs_b

    pain = {t: nrs_change(t) for t in (0, 1)}

    def mood_change(outcome: str, t: int, pain_change: np.ndarray) -> np.ndarray:
        baseline = gad_b if outcome == "gad7" else phq_b
        direct, slope, centre = (-0.8, 0.55, 10.0) if outcome == "gad7" else (-1.1, 0.45, 11.0)
        effect = (direct + 0.4 * current) * t
        latent = (-1.9 - 0.22 * (baseline - centre) + slope * (pain_change + 1.6) + 0.3 * age_sq
                  - 0.2 * (cov["sex"] == "F").to_numpy(float) + effect + eps[outcome])
        return _score(baseline, latent, outcome) - baseline

    change = {"nrs": pain}
    for outcome in ("gad7", "phq9"):
        change[outcome] = {t: mood_change(outcome, t, pain[t]) for t in (0, 1)}
    treated = dex == 1
    truth = {"att": {o: float(np.mean(change[o][1][treated] - change[o][0][treated])) for o in change},
             "ate": {o: float(np.mean(change[o][1] - change[o][0])) for o in change},
             "n_dex": int(treated.sum()), "n_la": int((~treated).sum()), "seed": seed}

    frame = pd.DataFrame({"group": np.where(treated, "DEX", "LA")})
    if design.ids == "numeric":
        frame["patient_id"] = np.sort(rng.choice(np.arange(1000, 1000 + 7 * n), n, replace=False))
    else:
        frame["patient_id"] = [f"pt-{i:05d}-{rng.choice(list('abcdefghjk'))}" for i in range(n)]
    frame = frame[["patient_id", "group"]]
    for column in ("age", "sex", "nrs_baseline", "gad7_baseline", "phq9_baseline"):
        frame[column] = cov[column].to_numpy()
    for outcome in ("nrs", "gad7", "phq9"):
        baseline = cov[f"{outcome}_baseline"].to_numpy()
        observed = baseline + np.where(treated, change[outcome][1], change[outcome][0])
        frame[f"{outcome}_1m"] = np.where(missing_visit, np.nan, observed)
    for column in OPTIONAL + EXTRA:
        if column in design.columns:
            values = cov[column].astype(object)
            share = design.missing.get(column, 0.0)
            if share:
                values = values.where(rng.random(n) >= share, None)
            frame[column] = values.to_numpy()
    if design.free_text_levels:
        frame["referral_note_baseline"] = _free_text(rng, n, design.free_text_levels)
    individual = pd.DataFrame({o: change[o][1] - change[o][0] for o in change})
    individual.insert(0, "patient_id", frame["patient_id"].astype(str).to_numpy())
    individual["dex"] = dex
    frame = frame.iloc[rng.permutation(n)].reset_index(drop=True)  # rows in no particular order
    return OtherCohort(frame=frame, truth=truth, design=design, individual=individual)


def _free_text(rng: np.random.Generator, n: int, levels: int) -> list[str]:
    """Referral notes typed by hand: about `levels` distinct sentences."""
    words = ["referred by GP", "back pain since fall", "sleep poor", "on pregabalin", "knee surgery 2019",
             "anxious about needles", "works night shifts", "lives alone", "previous block helped",
             "migraine history", "tramadol stopped", "physio twice weekly"]
    notes = [f"{rng.choice(words)}; {rng.choice(words)} (seen {rng.integers(1, 31)}/{rng.integers(1, 13)})"
             for _ in range(levels)]
    return [notes[i % levels] for i in rng.permutation(n)]


def write(cohort: OtherCohort, path) -> None:
    """Write the cohort as a CSV (blank cells = missing)."""
    cohort.frame.to_csv(path, index=False, float_format="%.10g")
