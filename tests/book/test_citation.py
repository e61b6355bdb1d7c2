"""Licence and citation metadata: LICENSE, LICENSE-text, CITATION.cff, .zenodo.json and the How-to-cite page.

CITATION.cff is validated against the rules of the Citation File Format 1.2.0 that apply to this file (written
below as a JSON schema: required keys, person/entity authors, SPDX licences, ISO dates, references). The
official validator (`cffconvert`) pins jsonschema<4, which conflicts with nbformat's, so it is not in the lock.
"""

from __future__ import annotations

import json
import re
import tomllib

import jsonschema
import pytest
import yaml

from dexmood import paths

ROOT = paths.PROJECT_ROOT
SPDX = {"MIT", "CC-BY-4.0", "Apache-2.0", "BSD-3-Clause", "CC0-1.0", "GPL-3.0-or-later"}
DATE = r"^\d{4}-\d{2}-\d{2}$"
PERSON = {"type": "object", "minProperties": 1, "additionalProperties": False, "properties": {
    "family-names": {"type": "string", "minLength": 1}, "given-names": {"type": "string", "minLength": 1},
    "name-particle": {"type": "string"}, "name-suffix": {"type": "string"}, "orcid": {
        "type": "string", "pattern": r"^https://orcid\.org/\d{4}-\d{4}-\d{4}-\d{3}[\dX]$"},
    "affiliation": {"type": "string"}, "email": {"type": "string"}, "website": {"type": "string"}},
    "anyOf": [{"required": ["family-names"]}, {"required": ["given-names"]}]}
ENTITY = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}}}
AUTHORS = {"type": "array", "minItems": 1, "items": {"oneOf": [PERSON, ENTITY]}}
LICENSE = {"oneOf": [{"enum": sorted(SPDX)}, {"type": "array", "minItems": 1, "items": {"enum": sorted(SPDX)}}]}
REFERENCE = {"type": "object", "required": ["type", "title", "authors"], "properties": {
    "type": {"enum": ["article", "software", "book", "report", "generic", "data", "website"]},
    "title": {"type": "string"}, "authors": AUTHORS, "year": {"type": "integer"},
    "doi": {"type": "string", "pattern": r"^10\.\d{4,9}(\.\d+)?/[A-Za-z0-9:/_;\-\.\(\)\[\]\\]+$"}}}
CFF_1_2_0 = {
    "type": "object", "required": ["cff-version", "message", "title", "authors"],
    "properties": {
        "cff-version": {"const": "1.2.0"}, "message": {"type": "string", "minLength": 1},
        "title": {"type": "string", "minLength": 1}, "abstract": {"type": "string"}, "authors": AUTHORS,
        "type": {"enum": ["software", "dataset"]}, "version": {"type": ["string", "number"]},
        "date-released": {"type": "string", "pattern": DATE}, "license": LICENSE,
        "keywords": {"type": "array", "items": {"type": "string"}},
        "repository-code": {"type": "string", "pattern": r"^https://"},
        "doi": {"type": "string"}, "references": {"type": "array", "items": REFERENCE},
        "preferred-citation": REFERENCE},
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def cff():
    # CFF dates must be strings; YAML would read an unquoted date as a date object.
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def test_citation_cff_is_valid(cff):
    jsonschema.validate(cff, CFF_1_2_0)


def test_the_schema_rejects_what_it_should(cff):
    for broken in ({**cff, "cff-version": "1.1.0"}, {k: v for k, v in cff.items() if k != "authors"},
                   {**cff, "license": "MIT-ish"}, {**cff, "date-released": "29.11.2026"}, {**cff, "autors": []}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, CFF_1_2_0)


def test_metadata_agree_with_the_book_and_the_package(cff):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    zenodo = json.loads((ROOT / ".zenodo.json").read_text())
    assert cff["title"] == config["title"] == zenodo["title"]
    assert str(cff["version"]) == project["version"] == zenodo["version"]
    assert cff["date-released"] == zenodo["publication_date"]
    assert set(cff["license"]) == {"MIT", "CC-BY-4.0"}
    assert zenodo["license"] in cff["license"] and zenodo["upload_type"] == "software"
    assert [a["name"] for a in zenodo["creators"]] == [a.get("name") for a in cff["authors"]]
    url = (config.get("repository") or {}).get("url") or ""
    assert cff.get("repository-code", url) == url, "CITATION.cff's repository-code must be _config.yml's URL"
    dois = {r["doi"] for r in cff["references"]}
    bib = (ROOT / "references.bib").read_text()
    assert all(doi in bib for doi in dois)
    assert {i["identifier"] for i in zenodo["related_identifiers"]} == dois


def test_licence_files_say_which_covers_what():
    licence = (ROOT / "LICENSE").read_text()
    assert "MIT License" in licence and "Permission is hereby granted, free of charge" in licence
    assert re.search(r"CODE: MIT", licence) and re.search(r"TEXT AND FIGURES: Creative Commons", licence)
    assert "SPDX-License-Identifier: MIT AND CC-BY-4.0" in licence
    text = (ROOT / "LICENSE-text").read_text()
    assert text.startswith("Creative Commons Attribution 4.0 International")
    assert "Section 1 – Definitions" in text and "Section 8 – Interpretation" in text
    assert "SIMULATED" in licence  # the data the book analyses by default are not patients' data


def test_how_to_cite_page_is_in_the_book():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert toc["chapters"][-1]["file"] == "citing"
    page = (ROOT / "citing.md").read_text()
    assert page.startswith("# How to cite")
    assert "{cite:p}`ren2025dex`" in page and "CC-BY-4.0" in page and "MIT" in page
