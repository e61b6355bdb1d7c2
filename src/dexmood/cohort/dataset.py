"""The `Cohort` object every stage receives, how it is built or loaded, and its CSV encoding."""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dexmood import paths
from dexmood.cohort.contract import OUTCOMES, load
from dexmood.cohort.prepare import flow_table, prepare_covariates


@dataclass
class Cohort:
    """A cohort ready for analysis, with its provenance.

    `data` is the analysis frame (`prepare_covariates` applied: every patient, covariates usable), `raw`
    the validated file as given (for descriptive tables), `preparation` what was done to covariates.
    Build one with `make_cohort`."""

    data: pd.DataFrame
    flow: pd.DataFrame
    source: str  # "simulated" or the user's file name
    simulated: bool
    truth: dict | None = None
    screening: list[tuple[str, int]] = field(default_factory=list)
    raw: pd.DataFrame | None = None
    preparation: pd.DataFrame | None = None

    def has(self, column: str) -> bool:
        """Is the column in the data with at least one value (e.g. the optional `satisfaction`)?"""
        return column in self.data.columns and bool(self.data[column].notna().any())

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The outcomes this cohort can answer: GAD-7, PHQ-9, NRS, and satisfaction if present."""
        return OUTCOMES + (("satisfaction",) if self.has("satisfaction") else ())

    @property
    def label(self) -> str:
        if self.simulated:
            return "SIMULATED data (synthetic cohort calibrated to Ren et al. 2025; not real patients)"
        return f"user-supplied cohort file {self.source}"

def make_cohort(validated: pd.DataFrame, source: str, *, simulated: bool = False, truth: dict | None = None,
                screening: list[tuple[str, int]] | None = None) -> Cohort:
    """A `Cohort` from a validated frame: covariates prepared, flow table with every row accounted for."""
    data, preparation = prepare_covariates(validated)
    return Cohort(data=data, flow=flow_table(validated, screening, preparation), source=source,
                  simulated=simulated, truth=truth, screening=list(screening or []), raw=validated,
                  preparation=preparation)


def load_cohort(path: str | os.PathLike) -> Cohort:
    """A user's cohort CSV, validated against the contract and prepared for analysis."""
    return make_cohort(load(path), Path(path).name)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The contract's CSV encoding (fixed float format, so the same seed gives byte-identical files)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.10g", lineterminator="\n")
    return buffer.getvalue().encode()


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_csv_bytes(frame))
    return path


def truth_json(truth: dict) -> str:
    return json.dumps(truth, indent=2, sort_keys=True) + "\n"


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_truth(truth: dict, path: str | os.PathLike = paths.COHORT_TRUTH) -> Path:
    path = Path(path)
    path.write_text(truth_json(truth))
    return path
