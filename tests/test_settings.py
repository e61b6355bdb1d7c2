"""One source for every setting: no literal copy of a setting's value in the package or the notebooks."""

from __future__ import annotations

import json
import re

import pytest

from dexmood import paths
from dexmood.settings import SETTINGS, outcome_label

#: (pattern, what it would duplicate). Literal numbers that happen to equal a setting elsewhere (e.g. 0.2 as
#: a probability) are not flagged: only the spellings that name the setting.
DUPLICATES = [
    (str(SETTINGS.seed), "the seed"),
    (rf"caliper_sd\s*[=:]\s*{SETTINGS.caliper_sd}\b", "the caliper"),
    (rf"rhat_max\s*[=:]\s*{SETTINGS.diagnostics.rhat_max}\b", "the R-hat threshold"),
    (rf"ess_min\s*[=:]\s*{SETTINGS.diagnostics.ess_min:g}\b", "the ESS threshold"),
    (rf"n_boot\s*[=:]\s*{SETTINGS.n_boot}\b", "the bootstrap size"),
    (r"N_BOOTSTRAP\s*=\s*\d", "the bootstrap size"),
    (r"RANDOM_SEED\s*=\s*\d", "the seed"),
]


def _sources():
    for path in sorted((paths.PROJECT_ROOT / "src" / "dexmood").rglob("*.py")):
        if path.name != "settings.py":
            yield path, path.read_text()
    for path in sorted(paths.NOTEBOOKS.glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        yield path, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("pattern,what", DUPLICATES)
def test_no_duplicated_setting(pattern, what):
    offenders = [p.relative_to(paths.PROJECT_ROOT).as_posix() for p, text in _sources() if re.search(pattern, text)]
    assert not offenders, f"{what} is written out in {offenders}; import it from dexmood.settings"


def test_settings_are_frozen_and_copyable():
    changed = SETTINGS.updated(caliper_sd=0.1)
    assert changed.caliper_sd == 0.1 and SETTINGS.caliper_sd != 0.1
    with pytest.raises(AttributeError):
        SETTINGS.seed = 1  # type: ignore[misc]
    assert json.loads(json.dumps(SETTINGS.key()))["seed"] == SETTINGS.seed


def test_outcome_labels():
    assert outcome_label("gad7") == "GAD-7"
    assert outcome_label("phq9", change=True) == "PHQ-9 change"
    assert outcome_label("nrs", construct=True) == "NRS pain (pain)"
    assert outcome_label("satisfaction", change=True) == "satisfaction (1–5)"
