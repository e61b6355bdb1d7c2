"""The registry's eligibility criteria as rules over a screening table, with reasons per patient."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa

from dexmood.trial.schema import _validate

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
