"""The book read as a report, in headless Chromium at desktop and phone size.

* no page shows a `glue` call (visible text only: code collapsed behind "Show code" does not count);
* every table has a caption (a number and text), no meaningless 0..n-1 index column, and is referred to from the
  text (a link to its anchor from some page);
* every figure image has alt text that says what it shows, not only its caption.
The counts are written to `_build/reader-view.json` (tables, captioned tables, figures with alt text).
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import HTML, VIEWPORTS, content_pages, open_page

GLUE_CALL = re.compile(r"\bglue(_value)?\(|\{glue:")
# What the page shows a reader (innerText skips collapsed and hidden elements).
VISIBLE_TEXT = "() => (document.querySelector('main') || document.body).innerText"
TABLES = """() => Array.from(document.querySelectorAll('main table')).map(t => ({
  id: t.id || (t.closest('[id]') || {}).id || '',
  caption: t.caption ? t.caption.innerText.trim() : '',
  numbered: !!(t.caption && t.caption.querySelector('.caption-number')),
  firstColumn: Array.from(t.querySelectorAll('tbody tr')).map(r => (r.cells[0] || {}).innerText || ''),
  firstIsHeader: Array.from(t.querySelectorAll('tbody tr')).every(r => r.cells[0] && r.cells[0].tagName === 'TH'),
}))"""
IMAGES = """() => Array.from(document.querySelectorAll('main img')).map(i => {
  const figure = i.closest('figure');
  const caption = figure && figure.querySelector('figcaption') ? figure.querySelector('figcaption').innerText : '';
  return {src: i.getAttribute('src'), alt: (i.getAttribute('alt') || '').trim(), caption: caption.trim()};
})"""
REPORT = HTML.parent / "reader-view.json"


def _survey(browser, viewport_name):
    pages = {}
    for page_path in content_pages():
        context, page = open_page(browser, page_path, viewport_name)
        pages[page_path.relative_to(HTML).as_posix()] = {
            "text": page.evaluate(VISIBLE_TEXT), "tables": page.evaluate(TABLES), "images": page.evaluate(IMAGES)}
        context.close()
    return pages


@pytest.fixture(scope="module")
def surveys(built_book, browser):
    return {name: _survey(browser, name) for name in VIEWPORTS}


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_no_page_shows_a_glue_call(surveys, viewport_name):
    shown = [f"{page}: …{m.string[max(0, m.start() - 60):m.end() + 40]!r}…"
             for page, found in surveys[viewport_name].items() for m in [GLUE_CALL.search(found["text"])] if m]
    assert not shown, "glue calls visible on the page (run tools/reader_view.py):\n" + "\n".join(shown)


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_every_table_is_numbered_and_captioned(surveys, viewport_name):
    problems, total, captioned = [], 0, 0
    for page, found in surveys[viewport_name].items():
        for number, table in enumerate(found["tables"], start=1):
            total += 1
            if table["caption"] and table["numbered"]:
                captioned += 1
            else:
                problems.append(f"{page}: table {number} has no numbered caption (first cells: "
                                f"{table['firstColumn'][:3]})")
            first = [c.strip() for c in table["firstColumn"]]
            if table["firstIsHeader"] and len(first) > 1 and first == [str(i) for i in range(len(first))]:
                problems.append(f"{page}: table {number} shows a 0..n-1 index column")
    REPORT.write_text(json.dumps({"viewport": viewport_name, "tables": total, "captioned": captioned}, indent=1))
    assert total > 0
    assert not problems, f"{captioned} of {total} tables captioned; use dexmood.tables.show:\n" + "\n".join(problems)


def test_every_table_is_referred_to_from_the_text(surveys):
    found = surveys["desktop"]
    targets = set()
    for page_path in content_pages():
        for href in re.findall(r'href="([^"]*#[^"]+)"', page_path.read_text(encoding="utf-8")):
            targets.add(href.rsplit("#", 1)[1])
    unreferenced = [f"{page}: {t['id'] or t['caption'][:40]}" for page, f in found.items() for t in f["tables"]
                    if t["caption"] and t["id"] not in targets]
    assert not unreferenced, "tables no text refers to ({numref}`tbl-…`):\n" + "\n".join(unreferenced)


def test_every_figure_has_alt_text(surveys):
    problems = []
    for page, found in surveys["desktop"].items():
        for image in found["images"]:
            if "logo" in (image["src"] or ""):
                continue
            alt = image["alt"]
            if not alt or re.fullmatch(r"[0-9a-f]{16,}.*|_images/.*|png|svg", alt):
                problems.append(f"{page}: {image['src']} has no alt text")
            elif image["caption"] and alt in image["caption"]:
                problems.append(f"{page}: {image['src']} alt text only repeats the caption")
    assert not problems, "figures without a description (cell metadata mystnb.image.alt, tools/figure_alt.py):\n" \
                         + "\n".join(problems)
