"""The registered facts of NCT05718544 the book uses, and the design constants read from them.

The registry record (bib key nct05718544, version of 2025-07-30) is summarised in `data/trial/registry.json`,
one fact per key with the registry section it comes from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from dexmood import paths
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
