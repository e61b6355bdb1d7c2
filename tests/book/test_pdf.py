"""The whole-book PDF written by `make pdf` (`_build/pdf/book.pdf`): pages, chapter titles, embedded figures.

Skipped, with a message, when the PDF has not been built (`make test` does not build it; `make pdf` runs this).
"""

from __future__ import annotations

import json
import re
import unicodedata

import pytest

from dexmood import paths

PDF = paths.PROJECT_ROOT / "_build" / "pdf" / "book.pdf"
SITE_COPY = paths.PROJECT_ROOT / "_build" / "html" / "book.pdf"


def _squash(text: str) -> str:
    """Lower-case letters and digits only: robust to line breaks, hyphenation and ligatures in PDF text."""
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKC", text).lower())  # NFKC: "ﬀ" -> "ff"


def chapter_titles() -> list[str]:
    """The H1 of every page in the table of contents (Markdown pages and notebooks)."""
    import yaml

    toc = yaml.safe_load((paths.PROJECT_ROOT / "_toc.yml").read_text())
    files = [toc["root"], *(entry["file"] for entry in toc.get("chapters", []))]
    titles = []
    for name in files:
        md, nb = paths.PROJECT_ROOT / f"{name}.md", paths.PROJECT_ROOT / f"{name}.ipynb"
        if md.exists():
            lines = md.read_text(encoding="utf-8").splitlines()
        else:
            cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
            lines = [line for c in cells if c["cell_type"] == "markdown" for line in "".join(c["source"]).splitlines()]
        titles.append(next(line[2:].strip() for line in lines if line.startswith("# ")))
    return titles


def figure_outputs() -> int:
    """Image outputs stored in the notebooks (each should be an image in the PDF)."""
    count = 0
    for notebook in paths.NOTEBOOKS.glob("*.ipynb"):
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            if "remove-cell" in cell.get("metadata", {}).get("tags", []) or \
                    "remove-output" in cell.get("metadata", {}).get("tags", []):
                continue
            count += sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
    return count


@pytest.fixture(scope="module")
def reader():
    if not PDF.exists():
        pytest.skip("the PDF is not built: run `make pdf`")
    from pypdf import PdfReader

    return PdfReader(str(PDF))


def test_page_count(reader):
    pages = len(reader.pages)
    assert pages >= 2 * len(chapter_titles()), f"only {pages} pages for {len(chapter_titles())} chapters"


def test_every_chapter_title_is_in_the_text(reader):
    text = _squash(" ".join(page.extract_text() or "" for page in reader.pages))
    missing = [title for title in chapter_titles() if _squash(re.sub(r"[`*_]", "", title)) not in text]
    assert not missing, f"chapter titles not found in the PDF text: {missing}"


def test_figures_are_embedded(reader):
    images = sum(len(page.images) for page in reader.pages)
    expected = figure_outputs()
    assert expected > 0
    assert images >= expected, f"{images} images embedded in the PDF, {expected} figure outputs in the notebooks"


def test_math_is_typeset_not_raw(reader):
    text = " ".join(page.extract_text() or "" for page in reader.pages)
    assert "\\(" not in text and "\\frac" not in text and "$$" not in text


def test_the_site_offers_the_same_pdf():
    if not PDF.exists():
        pytest.skip("the PDF is not built: run `make pdf`")
    if not (SITE_COPY.parent / "index.html").exists():
        pytest.skip("the site is not built: `make book` copies the PDF into it")
    assert SITE_COPY.exists() and SITE_COPY.read_bytes() == PDF.read_bytes(), \
        "tools/build_pdf.py copies the PDF to _build/html/book.pdf, where the download button points"
