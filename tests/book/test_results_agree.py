"""The landing page, notebook 09 and the command line report the same headline numbers (one pipeline).

`make book` executes notebook 09, which runs `pipeline.analyze` and writes `data/derived/results/results.json`;
here the command line is run again in a fresh process and both are compared with the numbers printed on the
landing page."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html import unescape

import pytest

from dexmood import paths

RESULTS = paths.DERIVED / "results" / "results.json"


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    run = subprocess.run([sys.executable, "-m", "dexmood", "analyze", "--out", str(out), "--quiet"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads((out / "results.json").read_text())


def _landing_text(built_book) -> str:
    html = (built_book / "intro.html").read_text()
    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_book_and_cli_agree(built_book, cli_results):
    book_results = json.loads(RESULTS.read_text())
    for key in ("n", "matching", "effects", "primary_estimator", "settings"):
        assert book_results[key] == cli_results[key], key
    for outcome in ("gad7", "phq9"):
        assert book_results["mediation"][outcome] == cli_results["mediation"][outcome]


def test_landing_page_shows_the_results(built_book, cli_results):
    text = " ".join(_landing_text(built_book).split())
    for outcome in ("gad7", "phq9", "nrs"):
        effect = cli_results["effects"][outcome]
        shown = f"{effect['att']:.2f} points (95% CI {effect['ci95'][0]:.2f} to {effect['ci95'][1]:.2f})"
        assert shown in text, (outcome, shown)
    share = cli_results["mediation"]["gad7"]["proportion_mediated"]
    assert f"{100 * share['estimate']:.0f}% of the anxiety effect" in text
    assert f"({cli_results['matching']['pairs']} DEX patients matched)" in text
