"""Scenarios of the simulation study and the simulator with every patient's potential outcomes.

Each `Scenario` is a cohort size plus changes to the calibrated `cohort.SimulationDesign`.
`simulate_replicate` re-runs the notebook-01 structural model (`cohort.draw_world`) without the pandera
validation and keeps both potential outcomes of every patient, so each estimator can be scored against its
own target in its own replicate (tested to give `cohort.simulate`'s data and truth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dexmood import cohort as cohort_mod
from dexmood import matching
from dexmood.settings import OUTCOME_NAMES

#: Treated share of the published design (106 DEX of 290).
TREATED_SHARE = 106 / 290

#: Covariates of the book's main specification, in `cohort.baseline_covariates` order.
COVARIATES = ("age", "sex", "nrs_baseline", "gad7_baseline", "phq9_baseline", "bmi", "pain_duration_months",
              "pain_diagnosis", "procedure")
NUMERIC_COVARIATES = ("age", "nrs_baseline", "gad7_baseline", "phq9_baseline", "bmi", "pain_duration_months")
ATT_OUTCOMES = ("gad7", "phq9", "nrs")
MEDIATION_OUTCOMES = ("gad7", "phq9")

#: Estimator key -> (label, estimand of its own target).
ESTIMATORS = {
    "matched_difference": ("Matched: difference in means (pair-cluster SE)", "att"),
    "matched_regression": ("Matched: covariate-adjusted (pair-cluster SE)", "att"),
    "ipw_att": ("Full cohort: ATT weights (HC1 SE)", "att"),
    "overlap": ("Full cohort: overlap weights (HC1 SE)", "ato"),
    "aipw_att": ("Full cohort: augmented IPW (influence-function SE)", "att"),
    "aipw_att_bootstrap": ("Full cohort: augmented IPW (percentile bootstrap, as notebook 03)", "att"),
    "naive_difference": ("Full cohort: unadjusted difference (reference)", "att"),
    "mediation_delta": ("Mediation, OLS + delta method (matched)", "mediation"),
    "mediation_bayes": ("Mediation, Bayesian PyMC model (matched)", "mediation"),
}
#: Short names for figure axes and verdict sentences.
SHORT_LABELS = {"matched_difference": "matched difference", "matched_regression": "matched regression",
                "ipw_att": "IPW (ATT weights)", "overlap": "overlap weights", "aipw_att": "AIPW (sandwich)",
                "aipw_att_bootstrap": "AIPW (bootstrap)", "naive_difference": "unadjusted",
                "mediation_delta": "OLS + delta method", "mediation_bayes": "Bayesian model"}
#: Estimators run on every fast replicate (the bootstrap AIPW only when asked for, see `runner`).
ATT_ESTIMATORS = ("matched_difference", "matched_regression", "ipw_att", "overlap", "aipw_att", "naive_difference")
#: The headline estimator of the book (notebook 03).
MAIN_ESTIMATOR = "matched_difference"
MEDIATION_ESTIMANDS = ("acme_treated", "ade_control", "total", "proportion_mediated")
ESTIMAND_LABELS = {"att": "ATT", "ato": "ATO", "acme_treated": "ACME (treated)", "ade_control": "ADE (control)",
                   "total": "total effect", "proportion_mediated": "proportion mediated"}
OUTCOME_LABELS = {key: f"{OUTCOME_NAMES[key]} change" for key in ATT_OUTCOMES}

#: Columns of the replicate table (one row per replicate × estimator × outcome × estimand).
RESULT_COLUMNS = ["scenario", "replicate", "estimator", "outcome", "estimand", "estimate", "se", "ci_low",
                  "ci_high", "truth", "truth_all_treated", "n_treated", "pairs"]


def group_sizes(n: int) -> tuple[int, int]:
    """(DEX, LA) for a cohort of n patients with the published treated share (106 of 290)."""
    n_dex = int(round(n * TREATED_SHARE))
    return n_dex, n - n_dex


@dataclass(frozen=True)
class Scenario:
    """One data-generating scenario: cohort size and changes to the calibrated `SimulationDesign`."""

    key: str
    label: str
    n: int = 290
    changes: tuple[tuple[str, float], ...] = ()
    #: "published": the published effect sizes; "null": no effect at all; "no_indirect": no mediated effect.
    effects: str = "published"

    def design(self) -> cohort_mod.SimulationDesign:
        n_dex, n_la = group_sizes(self.n)
        return cohort_mod.with_design(n_dex=n_dex, n_la=n_la, **dict(self.changes))

    def to_dict(self) -> dict:
        return {"key": self.key, "label": self.label, "n": self.n, "changes": dict(self.changes),
                "effects": self.effects, "design": self.design().to_dict()}


NULL_EFFECTS = (("effect_nrs", 0.0), ("direct_gad7", 0.0), ("direct_phq9", 0.0))
NO_PAIN_TO_MOOD = (("pain_to_gad7", 0.0), ("pain_to_phq9", 0.0))

#: The scenarios of notebook 08.
SCENARIOS = {s.key: s for s in (
    Scenario("published", "published effects, confounding ×1"),
    Scenario("published_conf0", "published effects, no confounding", changes=(("confounding", 0.0),)),
    Scenario("published_conf2", "published effects, confounding ×2", changes=(("confounding", 2.0),)),
    Scenario("null", "no effect, confounding ×1", changes=NULL_EFFECTS, effects="null"),
    Scenario("null_conf2", "no effect, confounding ×2", changes=(*NULL_EFFECTS, ("confounding", 2.0)),
             effects="null"),
    Scenario("no_pain_to_mood", "no indirect effect (pain → mood = 0)", changes=NO_PAIN_TO_MOOD,
             effects="no_indirect"),
    Scenario("no_pain_effect", "no indirect effect (DEX → pain = 0)", changes=(("effect_nrs", 0.0),),
             effects="no_indirect"),
    Scenario("published_n1000", "published effects, n = 1,000", n=1000),
    Scenario("published_n5000", "published effects, n = 5,000", n=5000),
)}


@dataclass
class Replicate:
    """One simulated cohort as arrays, with every patient's potential outcomes (changes from baseline).

    ``potential[outcome][(t, t_m)]`` is the 1-month change in GAD-7/PHQ-9 under treatment t with the pain
    change the patient would have under t_m; ``potential["nrs"][t]`` is the NRS change under t.
    """

    design: cohort_mod.SimulationDesign
    covariates: pd.DataFrame  # baseline covariates as `cohort.simulate` draws them
    dex: np.ndarray  # bool
    changes: dict[str, np.ndarray]  # observed changes (NaN = missing 1-month visit)
    potential: dict
    satisfaction: np.ndarray
    truth: dict
    seed: object = None

    @property
    def n(self) -> int:
        return len(self.dex)

    def frame(self) -> pd.DataFrame:
        """The cohort table exactly as `cohort.simulate(design, seed).data` returns it."""
        n = self.n
        data = pd.DataFrame({"patient_id": [f"SIM{i + 1:04d}" for i in range(n)],
                             "group": np.where(self.dex, "DEX", "LA")})
        data = pd.concat([data, self.covariates], axis=1)
        for outcome in cohort_mod.OUTCOMES:
            data[f"{outcome}_1m"] = self.covariates[f"{outcome}_baseline"].to_numpy() + self.changes[outcome]
        data["satisfaction"] = self.satisfaction
        data = data[list(cohort_mod.REQUIRED_COLUMNS) + list(cohort_mod.OPTIONAL_COLUMNS)]
        for column in cohort_mod.CATEGORICAL_COVARIATES:
            data[column] = data[column].astype("string")
        return data

    def design_matrix(self) -> tuple[np.ndarray, list[str]]:
        """Covariates as `matching.design_matrix` codes them (no intercept): numbers as they are, one 0/1
        column per non-reference level (levels sorted, the first is the reference)."""
        columns, names = [], []
        for name in COVARIATES:
            values = self.covariates[name].to_numpy()
            if name in NUMERIC_COVARIATES:
                columns.append(values.astype(float))
                names.append(name)
            else:
                values = values.astype(str)
                for level in np.unique(values)[1:]:
                    columns.append((values == level).astype(float))
                    names.append(f"{name}_{level}")
        return np.column_stack(columns), names

    def propensity_matrix(self) -> np.ndarray:
        """`design_matrix` with the default propensity model's terms (`matching.propensity_transforms`:
        right-skewed positive covariates on the log scale), as the book's matching fits it."""
        x, names = self.design_matrix()
        numeric = list(NUMERIC_COVARIATES)
        _, transforms = matching.propensity_transforms(self.covariates[numeric], numeric)
        for j, name in enumerate(names):
            if name in transforms:
                x[:, j] = matching.TRANSFORMS[transforms[name]](x[:, j])
        return x


def simulate_replicate(design: cohort_mod.SimulationDesign, seed) -> Replicate:
    """One simulated cohort as arrays, with every patient's potential outcomes (no pandera validation).

    Uses `cohort.draw_world`, the same structural model as `cohort.simulate`, so
    ``simulate_replicate(d, s).frame()`` equals ``cohort.simulate(d, s).data`` (tested).
    ``seed`` is anything `numpy.random.default_rng` accepts.
    """
    world = cohort_mod.draw_world(design, seed)
    cov = world.covariates
    treated = world.dex == 1
    potential = {"nrs": dict(world.pain_change)}
    changes = {"nrs": np.where(treated, world.pain_change[1], world.pain_change[0])}
    for outcome in MEDIATION_OUTCOMES:
        base = cov[f"{outcome}_baseline"].to_numpy()
        potential[outcome] = {key: score - base for key, score in world.mood[outcome].items()}
        changes[outcome] = np.where(treated, potential[outcome][(1, 1)], potential[outcome][(0, 0)])
    changes = {k: np.where(world.missing_visit, np.nan, v) for k, v in changes.items()}
    observed_sat = np.where(world.missing_visit, np.nan,
                            np.where(treated, world.satisfaction[1], world.satisfaction[0]))
    return Replicate(design=design, covariates=cov, dex=treated, changes=changes, potential=potential,
                     satisfaction=observed_sat, truth=world.truth(), seed=seed)


def individual_effects(replicate: Replicate, outcome: str) -> np.ndarray:
    """Each patient's total effect Y(1, M(1)) − Y(0, M(0)) on the change (score points)."""
    potential = replicate.potential[outcome]
    if outcome == "nrs":
        return potential[1] - potential[0]
    return potential[(1, 1)] - potential[(0, 0)]


def mediation_truth(replicate: Replicate, outcome: str, rows: np.ndarray) -> dict[str, float]:
    """Natural effects averaged over the patients `rows` (the analysed sample), from potential outcomes."""
    y = {key: values[rows] for key, values in replicate.potential[outcome].items()}
    acme_treated = float(np.mean(y[1, 1] - y[1, 0]))
    acme_control = float(np.mean(y[0, 1] - y[0, 0]))
    total = float(np.mean(y[1, 1] - y[0, 0]))
    return {"acme_treated": acme_treated, "ade_control": float(np.mean(y[1, 0] - y[0, 0])), "total": total,
            "proportion_mediated": (acme_treated + acme_control) / 2 / total if total != 0 else float("nan")}


def scenario_table(replicates: dict[str, int]) -> pd.DataFrame:
    """The data-generating mechanisms: cohort size, groups, confounding, true structural effects, replicates."""
    rows = []
    for key, n_reps in replicates.items():
        design = SCENARIOS[key].design()
        rows.append({"scenario": key, "description": SCENARIOS[key].label, "n": design.n, "DEX": design.n_dex,
                     "LA": design.n_la, "confounding": design.confounding, "DEX → ΔNRS": design.effect_nrs,
                     "direct → ΔGAD-7": design.direct_gad7, "direct → ΔPHQ-9": design.direct_phq9,
                     "ΔNRS → ΔGAD-7": design.pain_to_gad7, "ΔNRS → ΔPHQ-9": design.pain_to_phq9,
                     "replicates": n_reps})
    return pd.DataFrame(rows).set_index("scenario")


def published_mediation_range() -> tuple[float, float]:
    """The published share of the mood improvement attributed to pain relief (18–32%, Ren et al. 2025)."""
    low, high = cohort_mod.published()["ren2025_cohort"]["proportion_mediated_by_pain_relief"]["range"]
    return float(low), float(high)
