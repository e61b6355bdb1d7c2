"""Project paths, resolved from the package location (never from the working directory).

Jupyter Book, pytest and the CLI start in different folders; everything goes through here.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA = PROJECT_ROOT / "data"
DERIVED = DATA / "derived"
PRIVATE = DATA / "private"
CASE_REPORT = DATA / "case_report"
TRIAL = DATA / "trial"
NOTEBOOKS = PROJECT_ROOT / "notebooks"
COHORT_TRUTH = DATA / "cohort_truth.json"
# The shared folder next to the project holds the source documents and published figures.
SHARED = Path(os.environ.get("DEXMOOD_SHARED", PROJECT_ROOT.parent / "shared"))
PUBLISHED_JSON = DATA / "published.json"

#: Environment variable naming a user's cohort CSV; when set, every notebook analyses it.
COHORT_ENV = "DEXMOOD_COHORT"


def derived(name: str) -> Path:
    """Path of a regenerable derived file (the folder is created on demand)."""
    DERIVED.mkdir(parents=True, exist_ok=True)
    return DERIVED / name
