"""The results file `data/trial/results.csv`: contract, loader, template and mock results.

`get_trial_results` picks the file when it has rows (or `$DEXMOOD_TRIAL_RESULTS`), else mock data from a seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from dexmood import paths
from dexmood.cohort import read_csv_as_text
from dexmood.errors import TrialDataError
from dexmood.trial.registry import ARMS, N_PLACEBO, N_SUPPLEMENT, TRIAL_SEED
from dexmood.trial.schema import _validate

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
