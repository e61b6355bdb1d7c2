"""No page, package file or data README points readers to a file outside the repository.

Readers of the book have the repository, not the folder it was built next to: sources are cited by bibliography
key and section/paragraph. Tests may use `dexmood.paths.SHARED` (to compare with the shared reference); the
book's pages, the package and the data documentation may not name such paths.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dexmood import paths

ROOT = paths.PROJECT_ROOT
#: Pointers to the shared folder (seeds, reference copies) or to absolute machine paths.
OUTSIDE = re.compile(r"shared/seeds|shared/reference|\.\./shared|seeds/\d{3}_[0-9a-f]{6,}|/work/|/home/|/tmp/")


def _page_files() -> list[Path]:
    files = sorted((ROOT / "notebooks").glob("*.ipynb"))
    files += sorted(p for p in ROOT.glob("*.md") if p.name != "README.md")  # intro, bibliography, checklist pages
    files += sorted((ROOT / "checklists").glob("*.md")) if (ROOT / "checklists").exists() else []
    files += sorted((ROOT / "src" / "dexmood").rglob("*.py"))
    files += sorted(p for p in paths.DATA.rglob("*") if p.suffix in {".md", ".csv", ".json"}
                    and "derived" not in p.parts and "private" not in p.parts and "reference_r" not in p.parts)
    return files


def _notebook_text(path: Path) -> str:
    """Cell sources and the text of stored outputs (both appear on the rendered page)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    parts = []
    for cell in notebook["cells"]:
        parts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            for key in ("text/plain", "text/markdown", "text/html"):
                parts.append("".join(output.get("data", {}).get(key, "")))
    return "\n".join(parts)


def _offending_lines(path: Path) -> list[str]:
    text = _notebook_text(path) if path.suffix == ".ipynb" else path.read_text(encoding="utf-8")
    return [line.strip()[:160] for line in text.splitlines() if OUTSIDE.search(line)]


def test_the_pattern_catches_what_it_should():
    for bad in ("see `shared/seeds/004_f4da0a1b8e7379f0.txt`", "../shared/reference/published.json",
                "/work/main/notebooks", "seeds/001_fca7fe6a392a72e7.txt"):
        assert OUTSIDE.search(bad), bad
    for fine in ("data/trial/registry.json", "{cite:p}`nct05718544` (Study Design)", "shared latent distress"):
        assert not OUTSIDE.search(fine), fine


def test_files_are_found():
    names = {p.name for p in _page_files()}
    assert {"06_case_report.ipynb", "dosing.py", "README.md", "published.json"} <= names


@pytest.mark.parametrize("path", _page_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_pointer_outside_the_repository(path):
    offending = _offending_lines(path)
    assert not offending, f"{path.relative_to(ROOT)} points outside the repository:\n" + "\n".join(offending)
