"""Stage 7 – the registered trial NCT05718544: PCA dosing, eligibility, design power and the analysis plan.

The registry record (bib key nct05718544, version of 2025-07-30) describes a randomised, quadruple-blind trial of
199 patients after scoliosis correction: sufentanil patient-controlled intravenous analgesia (PCIA) with or
without mini-dose esketamine + dexmedetomidine, primary question chronic post-surgical pain (CPSP) at 2
years. Results are pending, so this module makes the book ready for them:

1. `pca_regimen` – pump contents, concentrations and the most the pump can deliver (per kg as well), and
   `implied_bolus_use` – what the parent trial's achieved mean rates (Zhang et al. 2023) imply about boluses.
2. `assess_eligibility` – the registry's criteria as rules over a screening table, with reasons per patient.
3. `analytic_power` / `simulated_power` / `minimal_detectable_rr` – the design analysis for CPSP at 2 years.
4. `frequentist_analysis` / `bayesian_analysis` – the book's proposed analysis (the registry has none), run
   on mock data until the
   results file `data/trial/results.csv` is filled in (`get_trial_results` picks the file when it has rows).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from scipy import integrate, optimize, stats

from dexmood import paths
from dexmood.cohort import read_csv_as_text
from dexmood.errors import TrialDataError

#: Seed of every simulated piece of this stage (screening population, mock results, power simulation).
TRIAL_SEED = 20230130  # the registry's study start date
ARMS = ("supplement", "placebo")
#: Registered enrolment (registry "Basic Information"); it equals the parent trial's ITT population
#: (99 supplement, 100 placebo; Zhang et al. 2023), which we use as the arm sizes.
N_SUPPLEMENT = 99
N_PLACEBO = 100
#: Threshold of a clinically meaningful reduction of CPSP (see `CLINICAL_THRESHOLD_WHY`).
CLINICAL_RR_THRESHOLD = 0.80
CLINICAL_THRESHOLD_WHY = (
    "RR <= 0.80, i.e. at least a 20% relative reduction: at a control incidence of 30% that is 6 "
    "percentage points (number needed to treat about 17), the smallest benefit that would justify adding "
    "two drugs to every PCA pump; it is also a little less than the acute-pain effect of the parent "
    "trial (RR 0.76), so it asks the long-term effect to keep most of the short-term one."
)

#: The registry facts the book uses, each with its registry section (data/trial/registry.json).
REGISTRY_JSON = paths.TRIAL / "registry.json"


def load_registry(path: str | os.PathLike = REGISTRY_JSON) -> dict:
    """Registry facts as {name: value} (the sections stay in the file, shown by `registry_table`)."""
    return {key: entry["value"] for key, entry in _registry_entries(path).items()}


def _registry_entries(path: str | os.PathLike = REGISTRY_JSON) -> dict:
    return {k: v for k, v in json.loads(Path(path).read_text()).items() if not k.startswith("_")}


def registry_table(path: str | os.PathLike = REGISTRY_JSON) -> pd.DataFrame:
    """The registry facts with the section each comes from (lists joined), for display."""
    rows = [{"fact": key, "value": "; ".join(map(str, v["value"])) if isinstance(v["value"], list) else v["value"],
             "registry section": v["section"]} for key, v in _registry_entries(path).items()]
    return pd.DataFrame(rows)


def registry_consistency(registry: dict, parent: dict) -> dict:
    """Check the registry against the parent trial and the arm sizes used here; return the derived numbers.

    Raises TrialDataError when the registered enrolment differs from the parent trial's ITT population or from
    N_SUPPLEMENT + N_PLACEBO, because the book reads the trial as the follow-up of that population."""
    primary = parent["primary_result"]
    problems = []
    if registry["enrolment"] != parent["n_itt"]:
        problems.append(f"registered enrolment {registry['enrolment']} != parent ITT {parent['n_itt']}")
    if registry["enrolment"] != N_SUPPLEMENT + N_PLACEBO:
        problems.append(f"registered enrolment {registry['enrolment']} != {N_SUPPLEMENT} + {N_PLACEBO}")
    if (primary["supplement"]["n"], primary["placebo"]["n"]) != (N_SUPPLEMENT, N_PLACEBO):
        problems.append("parent arm sizes differ from N_SUPPLEMENT/N_PLACEBO")
    if problems:
        raise TrialDataError("registry.json", problems)
    months = (pd.Timestamp(registry["completion"]) - pd.Timestamp(registry["start"])).days / 30.4375
    return {"study_months": months, "enrolment": registry["enrolment"], "parent_itt": parent["n_itt"]}


# --------------------------------------------------------------------------------------------------
# 1. PCA regimen calculator
# --------------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------
# 2. Eligibility as code
# --------------------------------------------------------------------------------------------------

#: Screening table contract: column -> (dtype, meaning). Booleans are True when the condition is present.
SCREENING_COLUMNS: dict[str, tuple[str, str]] = {
    "patient_id": ("str", "screening ID"),
    "age_years": ("float", "age at screening, years"),
    "scoliosis_correction_scheduled": ("bool", "scheduled for scoliosis correction surgery"),
    "pcia_required": ("bool", "patient-controlled intravenous analgesia planned after surgery"),
    "weight_kg": ("float", "body weight, kg"),
    "heart_rate_bpm": ("float", "preoperative resting sinus heart rate, beats/min"),
    "sick_sinus_syndrome": ("bool", "sick sinus syndrome"),
    "av_block_grade": ("int", "atrioventricular block grade, 0 = none, 1–3"),
    "pacemaker": ("bool", "has a pacemaker"),
    "congenital_heart_disease": ("bool", "congenital heart disease"),
    "arrhythmia": ("bool", "arrhythmia"),
    "nyha_class": ("int", "New York Heart Association class 1–4 of any cardiovascular disease"),
    "osa_diagnosed": ("bool", "obstructive sleep apnoea syndrome diagnosed"),
    "stop_bang_score": ("int", "STOP-Bang score 0–8"),
    "bicarbonate_mmol_l": ("float", "serum bicarbonate, mmol/L (may be empty)"),
    "hyperthyroidism": ("bool", "hyperthyroidism"),
    "pheochromocytoma": ("bool", "pheochromocytoma"),
    "schizophrenia": ("bool", "history of schizophrenia"),
    "epilepsy": ("bool", "history of epilepsy"),
    "myasthenia_gravis": ("bool", "history of myasthenia gravis"),
    "delirium_preop": ("bool", "delirium before surgery"),
    "communication_barrier": ("bool", "cannot communicate with the study team"),
    "child_pugh_class": ("str", "Child-Pugh class A, B or C (A also for no liver disease)"),
    "dialysis_preop": ("bool", "on dialysis before surgery"),
    "asa_class": ("int", "American Society of Anesthesiologists physical status 1–5"),
    "in_other_study": ("bool", "enrolled in another clinical study"),
    "follow_up_not_possible": ("bool", "cannot be followed up (e.g. no reachable contact)"),
    "investigator_unsuitable": ("bool", "judged unsuitable for other reasons"),
}


@dataclass(frozen=True)
class EligibilityRule:
    """One criterion as code. `fails(frame)` is True for patients the criterion keeps out."""

    key: str
    criterion: str  # registry item: "inclusion 1" … "exclusion 10" (registry "Eligibility Criteria")
    reason: str  # our short wording of why the patient is not eligible
    fails: Callable[[pd.DataFrame], pd.Series] = field(repr=False)


def _col(name: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda f: f[name].astype(bool)


# The cardiovascular item is read literally: "without pacemaker" qualifies the AV block only, and the NYHA
# class applies to "other serious cardiovascular diseases" (congenital disease and arrhythmia exclude alone).
ELIGIBILITY_RULES: tuple[EligibilityRule, ...] = (
    EligibilityRule("age", "inclusion 1", "aged under 18 years", lambda f: f["age_years"] < 18),
    EligibilityRule("scoliosis", "inclusion 2", "not scheduled for scoliosis correction",
                    lambda f: ~f["scoliosis_correction_scheduled"].astype(bool)),
    EligibilityRule("pcia", "inclusion 3", "no PCIA planned after surgery", lambda f: ~f["pcia_required"].astype(bool)),
    EligibilityRule("sick_sinus", "exclusion 1", "sick sinus syndrome", _col("sick_sinus_syndrome")),
    EligibilityRule("bradycardia", "exclusion 1", "severe sinus bradycardia (<50/min)",
                    lambda f: f["heart_rate_bpm"] < 50),
    EligibilityRule("av_block", "exclusion 1", "AV block grade II+ without pacemaker",
                    lambda f: (f["av_block_grade"] >= 2) & ~f["pacemaker"].astype(bool)),
    EligibilityRule("congenital_heart", "exclusion 1", "congenital heart disease", _col("congenital_heart_disease")),
    EligibilityRule("arrhythmia", "exclusion 1", "arrhythmia", _col("arrhythmia")),
    EligibilityRule("nyha", "exclusion 1", "cardiovascular disease NYHA III+", lambda f: f["nyha_class"] >= 3),
    EligibilityRule("osa", "exclusion 2", "obstructive sleep apnoea", _col("osa_diagnosed")),
    EligibilityRule("stop_bang", "exclusion 2", "STOP-Bang 3+ with bicarbonate 28+ mmol/L",
                    lambda f: (f["stop_bang_score"] >= 3) & (f["bicarbonate_mmol_l"] >= 28)),
    # The criterion cannot be ruled out without the bicarbonate result: such a patient is not yet eligible.
    EligibilityRule("stop_bang_unassessed", "exclusion 2", "STOP-Bang 3+, bicarbonate not measured",
                    lambda f: (f["stop_bang_score"] >= 3) & f["bicarbonate_mmol_l"].isna()),
    EligibilityRule("hyperthyroid", "exclusion 3", "hyperthyroidism", _col("hyperthyroidism")),
    EligibilityRule("pheochromocytoma", "exclusion 3", "pheochromocytoma", _col("pheochromocytoma")),
    EligibilityRule("schizophrenia", "exclusion 4", "schizophrenia", _col("schizophrenia")),
    EligibilityRule("epilepsy", "exclusion 4", "epilepsy", _col("epilepsy")),
    EligibilityRule("myasthenia", "exclusion 4", "myasthenia gravis", _col("myasthenia_gravis")),
    EligibilityRule("delirium", "exclusion 5", "delirium before surgery", _col("delirium_preop")),
    EligibilityRule("communication", "exclusion 5", "communication barrier", _col("communication_barrier")),
    EligibilityRule("liver", "exclusion 6", "Child-Pugh C liver dysfunction", lambda f: f["child_pugh_class"] == "C"),
    EligibilityRule("dialysis", "exclusion 6", "dialysis before surgery", _col("dialysis_preop")),
    EligibilityRule("asa", "exclusion 6", "ASA IV or higher", lambda f: f["asa_class"] >= 4),
    EligibilityRule("weight", "exclusion 7", "body weight under 40 kg", lambda f: f["weight_kg"] < 40),
    EligibilityRule("other_study", "exclusion 8", "in another clinical study", _col("in_other_study")),
    EligibilityRule("follow_up", "exclusion 9", "cannot be followed up", _col("follow_up_not_possible")),
    EligibilityRule("unsuitable", "exclusion 10", "judged unsuitable (other)", _col("investigator_unsuitable")),
)

def rules_table() -> pd.DataFrame:
    """The eligibility rules as a table (registry item, rule key, reason shown for excluded patients)."""
    return pd.DataFrame([{"registry item": rule.criterion, "rule": rule.key, "not eligible when": rule.reason}
                         for rule in ELIGIBILITY_RULES])


#: Short label of each registry item, for the flow diagram.
CRITERION_LABELS = {
    "inclusion 1": "age < 18", "inclusion 2": "no scoliosis correction", "inclusion 3": "no PCIA",
    "exclusion 1": "cardiac", "exclusion 2": "sleep apnoea risk", "exclusion 3": "thyroid/pheo",
    "exclusion 4": "neuro-psychiatric", "exclusion 5": "delirium/communication",
    "exclusion 6": "liver/renal/ASA IV+", "exclusion 7": "weight < 40 kg", "exclusion 8": "other study",
    "exclusion 9": "follow-up impossible", "exclusion 10": "other",
}


def _rows_text(index: list[int], ids: pd.Series, values: list[str] | None, limit: int = 6) -> str:
    """'rows 3, 7 (patient_id T3, T7; values 2, x)' with CSV line numbers (header = line 1)."""
    rows = sorted(set(index))
    shown = rows[:limit]
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    text = f"row{'s' * (len(rows) != 1)} {', '.join(str(i + 2) for i in shown)}{more}"
    details = ["patient_id " + ", ".join(str(ids.iloc[i]) for i in shown)]
    if values:
        details.append("value" + "s" * (len(values) != 1) + " " + ", ".join(values[:limit]))
    return f"{text} ({'; '.join(details)})"


def _validate(frame: pd.DataFrame, schema: pa.DataFrameSchema, required: tuple[str, ...], source: str,
              allowed: dict[str, str]) -> pd.DataFrame:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise TrialDataError(source, [f"required column{'s' * (len(missing) != 1)} missing: " + ", ".join(missing)])
    frame = frame.reset_index(drop=True)
    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        ids = frame["patient_id"].astype(str)
        cases = err.failure_cases
        # A value that is not a number also fails the column's range check: report it once.
        not_number = {(str(c), i) for c, i, k in zip(cases["column"], cases["index"], cases["check"], strict=True)
                      if "coerce_dtype" in str(k)}
        problems: list[str] = []
        for (column, check), block in cases.groupby(["column", "check"], sort=False, dropna=False):
            check = str(check)
            if "coerce_dtype" not in check:
                block = block[[(str(column), i) not in not_number for i in block["index"]]]
                if block.empty:
                    continue
            index = [int(i) for i in block["index"].dropna()]
            if check == "field_uniqueness" or (column == "patient_id" and "unique" in check):
                dup = sorted({str(v) for v in block["failure_case"]})
                problems.append(f"column 'patient_id': duplicate IDs {', '.join(dup)}")
                continue
            if check == "not_nullable":
                what, values = "is missing", None
            elif "coerce_dtype" in check:
                what, values = "is not a number", [str(v) for v in block["failure_case"]]
            else:
                what = f"is not allowed ({allowed.get(str(column), check)})"
                values = [str(v) for v in block["failure_case"]]
            problem = f"column '{column}': value {what} in " + _rows_text(index, ids, values)
            if problem not in problems:
                problems.append(problem)
        raise TrialDataError(source, problems) from None


def _bool_column() -> pa.Column:
    return pa.Column(bool, nullable=False, coerce=True)


SCREENING_SCHEMA = pa.DataFrameSchema(
    {
        "patient_id": pa.Column(str, unique=True, nullable=False, coerce=True),
        "age_years": pa.Column(float, pa.Check.in_range(0, 120), nullable=False, coerce=True),
        "weight_kg": pa.Column(float, pa.Check.in_range(10, 300), nullable=False, coerce=True),
        "heart_rate_bpm": pa.Column(float, pa.Check.in_range(20, 250), nullable=False, coerce=True),
        "av_block_grade": pa.Column(int, pa.Check.isin([0, 1, 2, 3]), nullable=False, coerce=True),
        "nyha_class": pa.Column(int, pa.Check.isin([1, 2, 3, 4]), nullable=False, coerce=True),
        "stop_bang_score": pa.Column(int, pa.Check.in_range(0, 8), nullable=False, coerce=True),
        "bicarbonate_mmol_l": pa.Column(float, pa.Check.in_range(5, 60), nullable=True, coerce=True),
        "child_pugh_class": pa.Column(str, pa.Check.isin(["A", "B", "C"]), nullable=False),
        "asa_class": pa.Column(int, pa.Check.isin([1, 2, 3, 4, 5]), nullable=False, coerce=True),
        **{name: _bool_column() for name, (dtype, _) in SCREENING_COLUMNS.items() if dtype == "bool"},
    },
    strict=False,
)


def validate_screening(frame: pd.DataFrame, source: str = "<screening table>") -> pd.DataFrame:
    """Check a screening table against `SCREENING_COLUMNS`; raise `TrialDataError` naming every problem."""
    allowed = {"child_pugh_class": "A, B or C", "av_block_grade": "0–3", "nyha_class": "1–4",
               "asa_class": "1–5", "stop_bang_score": "0–8"}
    return _validate(frame, SCREENING_SCHEMA, tuple(SCREENING_COLUMNS), source, allowed)


def eligibility_matrix(screening: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per rule (True = this rule keeps the patient out), indexed by patient_id."""
    frame = validate_screening(screening)
    matrix = pd.DataFrame({rule.key: rule.fails(frame).fillna(False).astype(bool).to_numpy()
                           for rule in ELIGIBILITY_RULES})
    matrix.index = pd.Index(frame["patient_id"], name="patient_id")
    return matrix


def assess_eligibility(screening: pd.DataFrame) -> pd.DataFrame:
    """Eligible or not, with every reason; `first_criterion` (registry order) is what a CONSORT box counts."""
    matrix = eligibility_matrix(screening)
    reasons_by_key = {rule.key: rule.reason for rule in ELIGIBILITY_RULES}
    criterion_by_key = {rule.key: rule.criterion for rule in ELIGIBILITY_RULES}
    keys = list(matrix.columns)
    values = matrix.to_numpy()
    reasons = ["; ".join(reasons_by_key[k] for k, hit in zip(keys, row, strict=True) if hit) for row in values]
    first = [next((criterion_by_key[k] for k, hit in zip(keys, row, strict=True) if hit), "") for row in values]
    return pd.DataFrame({
        "patient_id": matrix.index.to_numpy(),
        "eligible": ~values.any(axis=1),
        "n_reasons": values.sum(axis=1),
        "first_criterion": first,
        "reasons": reasons,
    })


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


# --------------------------------------------------------------------------------------------------
# 3. Design analysis: power, sample size, minimal detectable risk ratio
# --------------------------------------------------------------------------------------------------

def analytic_power(p_control, rr, n_supplement: float = N_SUPPLEMENT, n_placebo: float = N_PLACEBO,
                   loss: float = 0.0, alpha: float = 0.05, method: str = "pooled"):
    """Power of a two-sided test of equal CPSP risks; complete-case analysis after a share `loss` is lost.

    method "pooled": normal test of the risk difference with the pooled variance under the null
    (statsmodels `power_proportions_2indep`, the Fleiss formula without continuity correction);
    "arcsine": Cohen's h with `NormalIndPower`. Arrays broadcast.
    """
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import power_proportions_2indep, proportion_effectsize

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
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize, samplesize_proportions_2indep_onetail

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


# --------------------------------------------------------------------------------------------------
# 4. The results file: contract, loader, mock data
# --------------------------------------------------------------------------------------------------

RESULTS_CSV = paths.TRIAL / "results.csv"
#: Environment variable naming another results CSV (e.g. a private copy of the published data).
RESULTS_ENV = "DEXMOOD_TRIAL_RESULTS"
RESULTS_REQUIRED = ("patient_id", "arm", "cpsp_2y")
RESULTS_OPTIONAL = ("age_years", "sex", "weight_kg")
RESULTS_SCHEMA = pa.DataFrameSchema(
    {
        "patient_id": pa.Column(str, unique=True, nullable=False, coerce=True),
        "arm": pa.Column(str, pa.Check.isin(ARMS), nullable=False),
        "cpsp_2y": pa.Column(float, pa.Check.isin([0.0, 1.0]), nullable=True, coerce=True),
        "age_years": pa.Column(float, pa.Check.in_range(18, 120), nullable=True, coerce=True, required=False),
        "sex": pa.Column(str, pa.Check.isin(["F", "M"]), nullable=True, required=False),
        "weight_kg": pa.Column(float, pa.Check.in_range(40, 300), nullable=True, coerce=True, required=False),
    },
    strict=False,
)
_RESULTS_ALLOWED = {"arm": "supplement or placebo", "cpsp_2y": "0, 1 or empty", "sex": "F or M",
                    "age_years": "18–120", "weight_kg": "40–300 kg"}


def validate_results(frame: pd.DataFrame, source: str = "<results table>") -> pd.DataFrame:
    """Check a results table (one row per randomised patient); raise `TrialDataError` naming every problem."""
    validated = _validate(frame, RESULTS_SCHEMA, RESULTS_REQUIRED, source, _RESULTS_ALLOWED)
    problems = []
    for arm in ARMS:
        followed = validated.loc[validated["arm"] == arm, "cpsp_2y"].notna().sum()
        if followed == 0:
            problems.append(f"column 'arm': no patient of arm {arm!r} has a 2-year CPSP value")
    if problems:
        raise TrialDataError(source, problems)
    return validated


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a results CSV as text (validation, not the parser, judges the values)."""
    return read_csv_as_text(path, error=TrialDataError)


@dataclass(frozen=True)
class MockDesign:
    """Assumptions of the mock results (not a prediction of the trial)."""

    p_control: float = 0.30  # inside the registry's 10–50% background range
    rr: float = 0.80
    loss: float = 0.10  # missing completely at random
    n_supplement: int = N_SUPPLEMENT
    n_placebo: int = N_PLACEBO


def simulate_results(seed: int = TRIAL_SEED, design: MockDesign = MockDesign()) -> pd.DataFrame:
    """Mock results in the `results.csv` format, with arms shuffled as a randomisation list would be."""
    rng = np.random.default_rng([seed, 2])
    arm = np.array(["supplement"] * design.n_supplement + ["placebo"] * design.n_placebo)
    rng.shuffle(arm)
    n = arm.size
    risk = np.where(arm == "supplement", design.p_control * design.rr, design.p_control)
    cpsp = (rng.random(n) < risk).astype(float)
    cpsp[rng.random(n) < design.loss] = np.nan
    return pd.DataFrame({
        "patient_id": [f"T{i + 1:03d}" for i in range(n)],
        "arm": arm,
        "cpsp_2y": cpsp,
        "age_years": (18 + rng.gamma(2.0, 9.0, n)).clip(18, 80).round(0),
        "sex": np.where(rng.random(n) < 0.75, "F", "M"),
        "weight_kg": rng.normal(56.0, 9.0, n).clip(40, 110).round(1),
    })


@dataclass
class TrialResults:
    data: pd.DataFrame
    simulated: bool
    source: str
    design: MockDesign | None = None

    @property
    def label(self) -> str:
        return "MOCK results (simulated)" if self.simulated else f"results file {self.source}"


def show_data_banner(results: TrialResults) -> None:
    """Say at the top of the trial page whether the analysis runs on mock data or on a results file."""
    from IPython.display import Markdown, display

    if results.simulated:
        text = ("**Data: MOCK.** The trial's results are not published; the analysis below runs on results "
                "simulated under stated assumptions, not on patients. Fill in `data/trial/results.csv` (or set "
                f"`{RESULTS_ENV}`) and the same analysis runs on the real file.")
    else:
        text = f"**Data: {results.label}.** Results on this page come from this file, not from a simulation."
    display(Markdown(f"```{{important}}\n{text}\n```"))


def get_trial_results(seed: int = TRIAL_SEED, path: str | os.PathLike | None = None,
                      design: MockDesign = MockDesign()) -> TrialResults:
    """The results file when it holds rows (or `$DEXMOOD_TRIAL_RESULTS`), else mock data from `seed`.

    A header-only file is the template: the analysis then runs on mock data. A file with rows must pass
    `validate_results`; otherwise a `TrialDataError` says which column and rows are wrong.
    """
    chosen = Path(path) if path is not None else Path(os.environ.get(RESULTS_ENV, RESULTS_CSV))
    if chosen.exists() or path is not None or RESULTS_ENV in os.environ:
        frame = read_results(chosen)
        missing = [c for c in RESULTS_REQUIRED if c not in frame.columns]
        if missing:
            raise TrialDataError(str(chosen), ["required column" + "s" * (len(missing) != 1) + " missing: "
                                               + ", ".join(missing)])
        if len(frame):
            return TrialResults(validate_results(frame, str(chosen)), simulated=False, source=str(chosen))
    mock = validate_results(simulate_results(seed, design), "<mock results>")
    return TrialResults(mock, simulated=True, source="mock", design=design)


def write_template(path: str | os.PathLike = RESULTS_CSV) -> Path:
    """Write the header-only results template (required then optional columns)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(RESULTS_REQUIRED + RESULTS_OPTIONAL) + "\n")
    return path


# --------------------------------------------------------------------------------------------------
# 5. The book's proposed analysis: frequentist
# --------------------------------------------------------------------------------------------------

def risk_table(results: pd.DataFrame) -> pd.DataFrame:
    """Randomised, followed up, CPSP events and risk by arm."""
    rows = []
    for arm in ARMS:
        block = results[results["arm"] == arm]
        followed = block["cpsp_2y"].dropna()
        rows.append({"arm": arm, "randomised": len(block), "followed_up": len(followed),
                     "events": int(followed.sum()), "risk": float(followed.mean())})
    return pd.DataFrame(rows).set_index("arm")


def _counts(results: pd.DataFrame) -> tuple[int, int, int, int]:
    table = risk_table(results)
    return (int(table.loc["supplement", "events"]), int(table.loc["supplement", "followed_up"]),
            int(table.loc["placebo", "events"]), int(table.loc["placebo", "followed_up"]))


def frequentist_analysis(results: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """RR by modified Poisson (robust HC0 SE; Zou 2004) and log-binomial GLM; RD by a robust linear model.

    Complete cases (2-year CPSP observed). Log-binomial is reported only if it converges.
    """
    import statsmodels.api as sm
    import statsmodels.formula.api as smf
    from statsmodels.stats.proportion import confint_proportions_2indep

    data = results.dropna(subset=["cpsp_2y"]).assign(supplement=lambda f: (f["arm"] == "supplement").astype(int))
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []

    def add(method: str, estimand: str, estimate, low, high, p_value, converged=True) -> None:
        rows.append({"method": method, "estimand": estimand, "estimate": estimate, "ci_low": low,
                     "ci_high": high, "p_value": p_value, "converged": converged})

    poisson = smf.glm("cpsp_2y ~ supplement", data, family=sm.families.Poisson()).fit(cov_type="HC0")
    coef, se = poisson.params["supplement"], poisson.bse["supplement"]
    add("modified Poisson (robust SE)", "RR", math.exp(coef), math.exp(coef - z * se), math.exp(coef + z * se),
        float(poisson.pvalues["supplement"]))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            log_binomial = smf.glm("cpsp_2y ~ supplement", data,
                                   family=sm.families.Binomial(link=sm.families.links.Log())).fit(cov_type="HC0")
            ok = bool(log_binomial.converged) and np.isfinite(log_binomial.bse["supplement"])
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            ok = False
    if ok:
        coef, se = log_binomial.params["supplement"], log_binomial.bse["supplement"]
        add("log-binomial GLM (robust SE)", "RR", math.exp(coef), math.exp(coef - z * se),
            math.exp(coef + z * se), float(log_binomial.pvalues["supplement"]))
    else:
        add("log-binomial GLM (robust SE)", "RR", np.nan, np.nan, np.nan, np.nan, converged=False)

    linear = smf.glm("cpsp_2y ~ supplement", data, family=sm.families.Gaussian()).fit(cov_type="HC0")
    coef, se = linear.params["supplement"], linear.bse["supplement"]
    add("linear probability (robust SE)", "RD", coef, coef - z * se, coef + z * se,
        float(linear.pvalues["supplement"]))

    a, n1, c, n0 = _counts(results)
    low, high = confint_proportions_2indep(a, n1, c, n0, method="newcomb", compare="diff", alpha=alpha)
    add("Newcombe score interval", "RD", a / n1 - c / n0, float(low), float(high), np.nan)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# 6. The book's proposed analysis: Bayesian
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogRrPrior:
    """Normal prior on log RR (Spiegelhalter, Freedman & Parmar 1994)."""

    name: str
    mean: float
    sd: float
    why: str

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        z = stats.norm.ppf(0.5 + level / 2)
        return math.exp(self.mean - z * self.sd), math.exp(self.mean + z * self.sd)

    def prob_below(self, rr: float) -> float:
        return float(stats.norm.cdf((math.log(rr) - self.mean) / self.sd))


def prior_table(priors: list[LogRrPrior], threshold: float = CLINICAL_RR_THRESHOLD) -> pd.DataFrame:
    """Each prior as median RR, 95% interval, P(RR < 1), P(RR < threshold) and its meaning."""
    return pd.DataFrame([{"prior": p.name, "median RR": math.exp(p.mean), "2.5%": p.interval()[0],
                          "97.5%": p.interval()[1], "P(RR < 1)": p.prob_below(1.0),
                          f"P(RR < {threshold})": p.prob_below(threshold), "meaning": p.why} for p in priors])


def trial_priors(parent_rr: float = 0.76, parent_ci: tuple[float, float] = (0.65, 0.90)) -> list[LogRrPrior]:
    """Sceptical and enthusiastic priors built from the parent trial (Spiegelhalter et al. 1994).

    Both share sd = |log 0.76| / 1.645: the sceptical prior (centred on no effect) gives 5% to RR < 0.76;
    the enthusiastic one (centred on 0.76) gives 5% to RR > 1. The third prior moves the parent trial's
    full precision (its 95% CI) onto CPSP, which treats a 72-hour outcome as if it were the 2-year one.
    """
    sd = abs(math.log(parent_rr)) / stats.norm.ppf(0.95)
    parent_sd = (math.log(parent_ci[1]) - math.log(parent_ci[0])) / (2 * stats.norm.ppf(0.975))
    return [
        LogRrPrior("sceptical", 0.0, sd, "centred on no effect; 5% probability of RR < 0.76"),
        LogRrPrior("enthusiastic", math.log(parent_rr), sd, "centred on the parent RR 0.76; 5% probability of RR > 1"),
        LogRrPrior("parent CI transferred", math.log(parent_rr), parent_sd,
                   "parent acute-pain RR 0.76 (0.65–0.90) as if it measured CPSP"),
    ]


@dataclass
class GridPosterior:
    """Posterior of log RR on a grid (p_control integrated out)."""

    log_rr: np.ndarray
    density: np.ndarray  # normalised on the grid

    def cdf(self, log_rr_value: float) -> float:
        step = self.log_rr[1] - self.log_rr[0]
        cumulative = np.concatenate([[0.0], np.cumsum(self.density) * step])
        edges = np.concatenate([self.log_rr - step / 2, [self.log_rr[-1] + step / 2]])
        return float(np.interp(log_rr_value, edges, cumulative))

    def prob_rr_below(self, rr: float) -> float:
        return self.cdf(math.log(rr))

    def rr_quantile(self, q: float) -> float:
        step = self.log_rr[1] - self.log_rr[0]
        cumulative = np.concatenate([[0.0], np.cumsum(self.density) * step])
        edges = np.concatenate([self.log_rr - step / 2, [self.log_rr[-1] + step / 2]])
        return float(math.exp(np.interp(q, cumulative, edges)))

    def mean_log_rr(self) -> float:
        step = self.log_rr[1] - self.log_rr[0]
        return float(np.sum(self.log_rr * self.density) * step)


def grid_posterior(events_s: int, n_s: int, events_p: int, n_p: int, prior: LogRrPrior,
                   p_control_prior: tuple[float, float] = (1.0, 1.0), n_p_grid: int = 800,
                   log_rr_range: tuple[float, float] = (-3.0, 2.0), n_rr_grid: int = 1001) -> GridPosterior:
    """Exact binomial likelihood × Beta prior on the control risk × Normal prior on log RR, on a grid.

    p_supplement = p_control × RR must stay below 1; the joint prior is truncated there. Two parameters
    and a smooth posterior: a 800 × 1001 grid is exact to the printed precision and needs no MCMC.
    """
    p0 = (np.arange(n_p_grid) + 0.5) / n_p_grid
    theta = np.linspace(*log_rr_range, n_rr_grid)
    p1 = p0[:, None] * np.exp(theta)[None, :]
    inside = p1 < 1
    p1_safe = np.where(inside, p1, 0.5)
    log_post = (stats.binom.logpmf(events_s, n_s, p1_safe)
                + stats.binom.logpmf(events_p, n_p, p0)[:, None]
                + stats.beta.logpdf(p0, *p_control_prior)[:, None]
                + stats.norm.logpdf(theta, prior.mean, prior.sd)[None, :])
    log_post = np.where(inside, log_post, -np.inf)
    joint = np.exp(log_post - log_post.max())
    marginal = joint.sum(axis=0)
    step = theta[1] - theta[0]
    density = marginal / (marginal.sum() * step)
    return GridPosterior(theta, density)


def normal_posterior(log_rr_hat: float, se: float, prior: LogRrPrior) -> tuple[float, float]:
    """Conjugate normal update of log RR (Spiegelhalter et al. 1994): precision-weighted mean, sd."""
    precision = 1 / prior.sd**2 + 1 / se**2
    mean = (prior.mean / prior.sd**2 + log_rr_hat / se**2) / precision
    return mean, math.sqrt(1 / precision)


def beta_binomial_reference(events_s: int, n_s: int, events_p: int, n_p: int,
                            prior: tuple[float, float] = (1.0, 1.0), draws: int = 200_000,
                            seed: int = TRIAL_SEED, threshold: float = CLINICAL_RR_THRESHOLD) -> dict:
    """Conjugate Beta-binomial per arm with a flat prior: P(RR < 1) = P(p₁ < p₀) by 1-D quadrature (exact);
    RR quantiles and P(RR < threshold) from seeded draws of the two Beta posteriors."""
    post_s = stats.beta(prior[0] + events_s, prior[1] + n_s - events_s)
    post_p = stats.beta(prior[0] + events_p, prior[1] + n_p - events_p)
    prob_below_1, _ = integrate.quad(lambda x: post_s.pdf(x) * post_p.sf(x), 0, 1, limit=200)
    rng = np.random.default_rng([seed, 3])
    rr = post_s.rvs(draws, random_state=rng) / post_p.rvs(draws, random_state=rng)
    low, median, high = np.quantile(rr, [0.025, 0.5, 0.975])
    return {"prob_rr_below_1": float(prob_below_1), "prob_rr_below_threshold": float((rr < threshold).mean()),
            "rr_median": float(median), "rr_low": float(low), "rr_high": float(high)}


def bayesian_analysis(results: pd.DataFrame, threshold: float = CLINICAL_RR_THRESHOLD,
                      priors: list[LogRrPrior] | None = None, seed: int = TRIAL_SEED) -> pd.DataFrame:
    """Posterior RR under each prior: median, 95% CrI, P(RR < 1), P(RR < threshold)."""
    a, n1, c, n0 = _counts(results)
    rows = []
    for prior in priors or trial_priors():
        post = grid_posterior(a, n1, c, n0, prior)
        low, high = prior.interval()
        rows.append({"prior": prior.name, "prior_median_rr": math.exp(prior.mean), "prior_low": low,
                     "prior_high": high, "prior_prob_rr_below_1": prior.prob_below(1.0),
                     "rr_median": post.rr_quantile(0.5), "rr_low": post.rr_quantile(0.025),
                     "rr_high": post.rr_quantile(0.975), "prob_rr_below_1": post.prob_rr_below(1.0),
                     "prob_rr_below_threshold": post.prob_rr_below(threshold)})
    flat = beta_binomial_reference(a, n1, c, n0, seed=seed, threshold=threshold)
    rows.append({"prior": "flat Beta(1,1) per arm", "prior_median_rr": np.nan, "prior_low": np.nan,
                 "prior_high": np.nan, "prior_prob_rr_below_1": 0.5, "rr_median": flat["rr_median"],
                 "rr_low": flat["rr_low"], "rr_high": flat["rr_high"], "prob_rr_below_1": flat["prob_rr_below_1"],
                 "prob_rr_below_threshold": flat["prob_rr_below_threshold"]})
    return pd.DataFrame(rows)


def probability_curve(results: pd.DataFrame, thresholds, priors: list[LogRrPrior] | None = None) -> pd.DataFrame:
    """P(RR < t) for each prior over a range of thresholds t (for a figure)."""
    a, n1, c, n0 = _counts(results)
    rows = []
    for prior in priors or trial_priors():
        post = grid_posterior(a, n1, c, n0, prior)
        rows += [{"prior": prior.name, "threshold": float(t), "probability": post.prob_rr_below(float(t))}
                 for t in thresholds]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# 7. Figures
# --------------------------------------------------------------------------------------------------

PRIOR_COLORS = {"sceptical": "#D55E00", "enthusiastic": "#009E73", "parent CI transferred": "#CC79A7"}


def plot_implied_boluses(table: pd.DataFrame, protocol: PcaProtocol = REGISTRY_PCA):
    """Implied boluses per 24 h against weight, one line per drug, with the cap weight marked."""
    from dexmood import plots

    fig, ax = plots.new_figure()
    for (drug, block), color in zip(table.groupby("drug", sort=False), plots.OKABE_ITO, strict=False):
        rate = block["achieved_ug_per_kg_per_h"].iloc[0]
        ax.plot(block["weight_kg"], block["boluses_per_24h"], color=color, lw=2, label=f"{drug} ({rate:g} µg/kg/h)")
    ax.axhline(0, color="#333333", lw=0.8)
    ax.axvline(protocol.sufentanil_cap_weight_kg, color=plots.PUBLISHED_COLOR, ls="--", lw=1)
    ax.text(protocol.sufentanil_cap_weight_kg + 0.5, ax.get_ylim()[1] * 0.9, "sufentanil cap binds", fontsize=8,
            color=plots.PUBLISHED_COLOR)
    ax.set_xlabel("Body weight (kg)")
    ax.set_ylabel("Implied 2-ml boluses per 24 h")
    ax.legend(title="Published mean rate")
    return fig, ax


def plot_power_heatmap(table: pd.DataFrame, column: str = "power_pooled", loss: float = 0.1):
    """Heat map of power over control-arm CPSP risk × RR at one loss to follow-up."""
    import seaborn as sns

    from dexmood import plots

    block = table[np.isclose(table["loss"], loss)]
    grid = block.pivot(index="rr", columns="p_control", values=column).sort_index(ascending=False)
    grid.columns = [f"{p:.0%}" for p in grid.columns]
    fig, ax = plots.new_figure(height=5.2)
    sns.heatmap(grid, ax=ax, vmin=0, vmax=1, cmap="cividis", annot=(grid * 100).round().astype(int), fmt="d",
                annot_kws={"fontsize": 7}, cbar_kws={"label": "Power"})
    ax.set_xlabel("CPSP risk at 2 years in the placebo arm")
    ax.set_ylabel("True risk ratio (supplement / placebo)")
    ax.set_yticklabels([f"{float(t.get_text()):.2f}" for t in ax.get_yticklabels()], rotation=0)
    return fig, ax


def plot_mdrr(table: pd.DataFrame):
    """Minimal detectable RR against control-arm risk, one line per loss to follow-up."""
    from dexmood import plots

    fig, ax = plots.new_figure()
    for (loss, block), color in zip(table.groupby("loss"), plots.OKABE_ITO, strict=False):
        ax.plot(block["p_control"] * 100, block["mdrr"], color=color, lw=2, marker="o", ms=3,
                label=f"{loss:.0%} lost")
    ax.axhline(0.76, color=plots.PUBLISHED_COLOR, ls="--", lw=1)
    ax.text(11, 0.765, "parent trial acute-pain RR 0.76", fontsize=8, color=plots.PUBLISHED_COLOR, va="bottom")
    ax.set_xlabel("CPSP risk at 2 years in the placebo arm (%)")
    ax.set_ylabel("Minimal detectable RR (80% power)")
    ax.set_ylim(0, 0.85)
    ax.legend(title="Loss to follow-up")
    return fig, ax


def plot_probability_curve(curve: pd.DataFrame, threshold: float = CLINICAL_RR_THRESHOLD):
    """Posterior P(RR < t) against t, one line per prior."""
    from dexmood import plots

    fig, ax = plots.new_figure()
    for prior, block in curve.groupby("prior", sort=False):
        ax.plot(block["threshold"], block["probability"], lw=2, color=PRIOR_COLORS.get(prior, "#000000"),
                label=prior)
    ax.axvline(threshold, color=plots.PUBLISHED_COLOR, ls="--", lw=1)
    ax.axvline(1.0, color="#333333", lw=0.8)
    ax.set_xlabel("Risk ratio threshold t")
    ax.set_ylabel("Posterior P(RR < t)")
    ax.set_ylim(0, 1)
    ax.legend(title="Prior")
    return fig, ax


# --------------------------------------------------------------------------------------------------
# 8. results.json
# --------------------------------------------------------------------------------------------------

def results_section(seed: int = TRIAL_SEED, loss: float = 0.10) -> dict:
    """The trial stage's entry of results.json (JSON-able)."""
    from dexmood import cohort

    parent = cohort.published()["zhang2023_parent_rct"]["achieved_infusion_rates_mean"]
    esk_rate = parent["esketamine_ug_per_kg_per_h"]
    dex_rate = parent["dexmedetomidine_ug_per_kg_per_h"]
    limits = REGISTRY_PCA.limits()
    implied = implied_bolus_use(esk_rate, "esketamine", [50.0, 60.0])
    trial = get_trial_results(seed)
    freq = frequentist_analysis(trial.data).set_index("method")
    bayes = bayesian_analysis(trial.data, seed=seed).set_index("prior")
    rr_row = freq.loc["modified Poisson (robust SE)"]
    rd_row = freq.loc["linear probability (robust SE)"]

    def r(x: float, d: int = 3) -> float:
        return round(float(x), d)

    return {
        "trial_nct05718544": {
            "data": "mock" if trial.simulated else trial.source,
            "pca": {
                "sufentanil_cap_weight_kg": r(REGISTRY_PCA.sufentanil_cap_weight_kg, 2),
                "max_ml_per_h_sustained": r(limits["max_ml_per_h_sustained"], 2),
                "hours_to_empty_at_max": r(limits["hours_to_empty_at_max"], 2),
                "published_rates_consistent": achieved_rate_consistency(esk_rate, dex_rate)["consistent"],
                "esketamine_background_only_weight_kg": r(background_only_weight(esk_rate, "esketamine"), 1),
                "implied_boluses_per_24h_at_50_60_kg": [r(x, 2) for x in implied["boluses_per_24h"]],
            },
            "design": {
                "n_randomised": N_SUPPLEMENT + N_PLACEBO,
                "loss_assumed": loss,
                "minimal_detectable_rr_80pct": {f"{p:.1f}": r(minimal_detectable_rr(p, loss=loss))
                                                for p in (0.1, 0.2, 0.3, 0.4, 0.5)},
            },
            "analysis": {
                "rr": r(rr_row["estimate"]), "rr_ci95": [r(rr_row["ci_low"]), r(rr_row["ci_high"])],
                "rd": r(rd_row["estimate"]), "rd_ci95": [r(rd_row["ci_low"]), r(rd_row["ci_high"])],
                "clinical_rr_threshold": CLINICAL_RR_THRESHOLD,
                "posterior_prob_rr_below_1": {k: r(v) for k, v in bayes["prob_rr_below_1"].items()},
                "posterior_prob_rr_below_threshold": {k: r(v) for k, v in bayes["prob_rr_below_threshold"].items()},
            },
        }
    }
