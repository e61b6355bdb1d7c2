"""Live cross-check against R's MatchIt. Runs only where Rscript with MatchIt and jsonlite is installed
(Debian: r-base-core, r-cran-matchit); skipped otherwise, so `make test` never needs R."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess

import pytest

from dexmood import matching, paths

RSCRIPT = shutil.which("Rscript")


def _r_has_matchit() -> bool:
    if RSCRIPT is None:
        return False
    probe = subprocess.run([RSCRIPT, "-e", "library(MatchIt); library(jsonlite)"], capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _r_has_matchit(), reason="Rscript with MatchIt and jsonlite not installed")


@pytest.fixture(scope="module")
def fresh_reference(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("run_crosscheck", paths.DATA / "reference_r" / "run_crosscheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("r") / "matchit_crosscheck.json"
    return module.run(out=out, rscript=RSCRIPT)


def test_matched_sets_and_balance_equal_matchit(fresh_reference):
    table = matching.compare_with_r(fresh_reference)
    assert len(table) == len(matching.R_REFERENCE_CONFIGS)
    assert (table["identical_sets"] == table["treated"]).all(), table
    assert (table["matched_python"] == table["matched_r"]).all()
    assert (table["max_abs_logit_diff"].dropna() < 1e-6).all()
    assert (table["caliper_diff"] < 1e-6).all()
    assert (table["max_abs_balance_diff"] < 1e-6).all()


def test_stored_reference_is_up_to_date(fresh_reference):
    stored = json.loads((paths.DATA / matching.R_REFERENCE_FILE).read_text())
    for key, entry in fresh_reference["results"].items():
        assert stored["results"][key]["pairs"] == entry["pairs"], key
    for name, spec in fresh_reference["cohorts"].items():
        assert stored["cohorts"][name]["sha256"] == spec["sha256"], name
