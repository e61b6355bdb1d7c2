"""The reporting-checklist tables: complete item lists, allowed statuses, and pages that number and cite them."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from dexmood import paths

CHECKLISTS = paths.DATA / "checklists"
PAGES = paths.PROJECT_ROOT / "checklists"


def _items(column: pd.Series) -> set[int]:
    """Item numbers of a column like '1', '2a–2b', '16a–16c' (sub-items grouped)."""
    return {int(re.match(r"\d+", str(value)).group()) for value in column}


def test_strobe_has_its_22_items_once_each():
    table = pd.read_csv(CHECKLISTS / "strobe.csv", dtype=str)
    assert _items(table["item"]) == set(range(1, 23)) and table["item"].is_unique


def test_care_has_its_13_items():
    table = pd.read_csv(CHECKLISTS / "care.csv", dtype=str)
    assert _items(table["item"]) == set(range(1, 14)) and table["item"].is_unique


def test_spirit_covers_items_1_to_33_with_a_status_each():
    table = pd.read_csv(CHECKLISTS / "spirit.csv", dtype=str)
    assert _items(table["item"]) == set(range(1, 34))
    assert set(table["status"]) <= {"present", "present, partial", "missing", "not applicable"}
    outcomes = table.set_index("item").loc["12"]
    assert outcomes["status"] == "missing"  # the registry record has no outcome-measures section


def test_target_trial_has_every_protocol_component():
    table = pd.read_csv(CHECKLISTS / "target_trial.csv", dtype=str)
    assert list(table["component"]) == ["Eligibility", "Treatment strategies", "Assignment", "Time zero",
                                        "Follow-up", "Outcome", "Causal contrast", "Analysis plan"]
    assert table.notna().all().all()


@pytest.mark.parametrize("name", ["strobe", "care", "spirit", "target_trial"])
def test_each_page_renders_its_table_numbered_and_is_in_the_toc(name):
    page = (PAGES / f"{name}.md").read_text()
    label = "tbl-" + name.replace("_", "-")
    assert f":file: ../data/checklists/{name}.csv" in page and f":name: {label}" in page
    assert "{numref}`" + label + "`" in page
    others = re.findall(r"\{numref\}`(tbl-[a-z-]+)`", page)
    assert set(others) - {label}, "each page cross-references another checklist"
    assert f"checklists/{name}" in (paths.PROJECT_ROOT / "_toc.yml").read_text()
    assert all(cell.strip() for cell in pd.read_csv(CHECKLISTS / f"{name}.csv", dtype=str).fillna("").to_numpy().ravel())
