"""Project paths, resolved from the package location (never from the working directory).

Jupyter Book, pytest and the CLI start in different folders; everything goes through here.

Two layouts give the same answers for the package's own data:
- **source checkout** (`src/dexmood/` inside the repository, editable install or `PYTHONPATH=src`):
  `PROJECT_ROOT` is the repository, `DATA` its `data/` folder, derived files go to `data/derived/`;
- **installed package** (`pip install .`, a wheel): the data files travel inside the package as
  `dexmood/data/` (package data, read through `importlib.resources`); there is no repository, so
  `PROJECT_ROOT` is the installed package folder and derived files go to the user's cache folder
  (platformdirs), never into site-packages.
In the repository `src/dexmood/data` is a symbolic link to `data/`, which is how the wheel gets its copy.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _source_root() -> Path | None:
    """The repository holding this package, if the package is imported from a source checkout."""
    candidate = _PACKAGE_DIR.parents[1]
    markers = (candidate / "pyproject.toml", candidate / "data", candidate / "src" / "dexmood")
    return candidate if all(m.exists() for m in markers) else None


def _package_data() -> Path:
    """`dexmood/data` of an installed package, through importlib.resources (a folder on disk)."""
    return Path(str(importlib.resources.files("dexmood").joinpath("data")))


#: The repository root in a source checkout; None when the package is installed (wheel, `pip install .`).
SOURCE_ROOT = _source_root()
#: True when the package runs from an installed wheel rather than a checkout.
INSTALLED = SOURCE_ROOT is None
PROJECT_ROOT = SOURCE_ROOT if SOURCE_ROOT is not None else _PACKAGE_DIR
DATA = PROJECT_ROOT / "data" if SOURCE_ROOT is not None else _package_data()


def _derived_folder() -> Path:
    if SOURCE_ROOT is not None:
        return DATA / "derived"
    import platformdirs  # only needed outside a checkout

    return Path(platformdirs.user_cache_dir("dexmood")) / "derived"


DERIVED = _derived_folder()
#: A user's private files (never committed); outside a checkout, the user's data folder.
PRIVATE = DATA / "private" if SOURCE_ROOT is not None else DERIVED.parent / "private"
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
