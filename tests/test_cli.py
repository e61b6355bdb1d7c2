"""`python -m dexmood analyze` writes every results.json section the book reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from dexmood import cli, pipeline
from dexmood import cohort as C
from dexmood.errors import AnalysisNotPossible, DiagnosticsError
from dexmood.settings import SETTINGS


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    return pipeline.analyze(C.simulate(seed=SETTINGS.seed), out, SETTINGS), out


def test_sections_and_types(results):
    payload, out = results
    stored = json.loads((out / "results.json").read_text())
    assert stored == json.loads(json.dumps(pipeline.json_safe(payload)))
    assert stored["settings"]["seed"] == SETTINGS.seed and stored["notes"] == []
    assert stored["n"] == {"DEX": 106, "LA": 184, "analysed": 290}
    matching = stored["matching"]
    assert set(matching) >= {"covariates", "pairs", "treated_unmatched", "max_abs_smd_before",
                             "max_abs_smd_after", "caliper_sd"}
    assert matching["pairs"] + matching["treated_unmatched"] == 106
    assert matching["caliper_sd"] == SETTINGS.caliper_sd
    assert matching["max_abs_smd_after"] < matching["max_abs_smd_before"]
    for outcome in ("gad7", "phq9", "nrs", "satisfaction"):
        effect = stored["effects"][outcome]
        low, high = effect["ci95"]
        assert low < effect["att"] < high
        assert len(stored["effects_by_estimator"][outcome]) >= 4
    for outcome in ("gad7", "phq9", "nrs"):
        block = stored["sensitivity"][outcome]
        assert block["evalue"] >= block["evalue_ci"] >= 1


def test_matched_csv_lists_the_matched_sets(results):
    payload, out = results
    matched = pd.read_csv(out / "matched.csv")
    assert list(matched.columns) == ["patient_id", "group", "subclass", "weight", "distance"]
    assert (matched["group"] == "DEX").sum() == payload["matching"]["pairs"]
    assert matched.groupby("subclass")["group"].agg(lambda g: "+".join(sorted(g))).eq("DEX+LA").all()


def test_no_overlap_is_a_readable_error(tmp_path):
    frame = C.simulate(seed=3).data.copy()
    dex = frame["group"] == "DEX"
    frame.loc[dex, "age"] = 85 + np.arange(dex.sum()) % 5
    frame.loc[~dex, "age"] = 20 + np.arange((~dex).sum()) % 5
    path = C.write_csv(frame, tmp_path / "separated.csv")
    run = subprocess.run([sys.executable, "-m", "dexmood", "analyze", "--cohort", str(path), "--out",
                          str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 2
    assert "no treated (DEX) patient has a control within the caliper" in run.stderr
    assert "Traceback" not in run.stderr


def test_mediation_section(results):
    payload, _ = results
    for outcome in ("gad7", "phq9"):
        block = payload["mediation"][outcome]
        for estimand in ("acme", "acme_control", "ade", "total", "proportion_mediated"):
            low, high = block[estimand]["ci95"]
            assert low <= block[estimand]["estimate"] <= high
        assert block["acme"]["estimate"] + block["ade"]["estimate"] == pytest.approx(
            block["total"]["estimate"], abs=0.05)


def test_version_and_help():
    version = subprocess.run([sys.executable, "-m", "dexmood", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("dexmood ")
    helptext = subprocess.run([sys.executable, "-m", "dexmood", "--help"], capture_output=True, text=True)
    assert "exit codes" in helptext.stdout and "examples" in helptext.stdout


def test_failed_diagnostics_exit_3(monkeypatch, tmp_path, capsys):
    def failing(*args, **kwargs):
        raise DiagnosticsError("sampler diagnostics failed: acme: R-hat 1.200 > 1.01")

    monkeypatch.setattr(pipeline, "fit_mediation", failing)
    path = C.write_csv(C.simulate(seed=5).data, tmp_path / "c.csv")
    code = cli.main(["analyze", "--cohort", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 3
    assert "R-hat" in capsys.readouterr().err
    written = json.loads((tmp_path / "out" / "results.json").read_text())  # the rest is still reported
    assert written["failed_diagnostics"] == ["mediation"] and "mediation" not in written
    assert "sensitivity" in written and "att" in written["effects"]["gad7"]


def test_progress_on_stderr_and_cache_under_out(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("DEXMOOD_CACHE_DIR", raising=False)
    def no_fit(*args, **kwargs):  # the mediation fit is tested elsewhere; here only progress and the cache
        raise AnalysisNotPossible("not fitted in this test")

    monkeypatch.setattr(pipeline, "fit_mediation", no_fit)
    path = C.write_csv(C.simulate(seed=6).data, tmp_path / "c.csv")
    assert cli.main(["analyze", "--cohort", str(path), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "matching:" in err and " s]" in err and "mediation: done" in err
    assert os.environ["DEXMOOD_CACHE_DIR"] == str((tmp_path / "out" / "cache").resolve())
    monkeypatch.delenv("DEXMOOD_CACHE_DIR")
