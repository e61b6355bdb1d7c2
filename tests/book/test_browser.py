"""Open every page of the built book in headless Chromium, at desktop and phone size.

Fails on JavaScript errors, images that do not load, or a page that renders blank; saves a screenshot per
page and viewport under `_build/screenshots/`.
"""

from __future__ import annotations

import pytest
from conftest import HTML, SCREENSHOTS, VIEWPORTS, content_pages, settle


def _visit(browser, page_path, viewport_name):
    context = browser.new_context(viewport=VIEWPORTS[viewport_name])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"JavaScript error: {exc}"))
    page.on("console", lambda msg: errors.append(f"console error: {msg.text}") if msg.type == "error" else None)
    page.goto(page_path.as_uri(), wait_until="load")
    settle(page)
    broken_images = page.evaluate(
        "() => Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
    unrendered_math = page.evaluate(
        "() => document.querySelectorAll('.math').length - document.querySelectorAll('mjx-container').length")
    name = page_path.relative_to(HTML).with_suffix("").as_posix().replace("/", "__")
    shot = SCREENSHOTS / f"{name}--{viewport_name}.png"
    page.screenshot(path=str(shot), full_page=False)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    context.close()
    return errors, broken_images, unrendered_math, shot, overflow


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_every_page_renders(built_book, browser, viewport_name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for page_path in content_pages():
        errors, broken_images, unrendered_math, shot, overflow = _visit(browser, page_path, viewport_name)
        where = page_path.relative_to(HTML)
        problems += [f"{where}: {e}" for e in errors]
        problems += [f"{where}: image did not load: {src}" for src in broken_images]
        if unrendered_math > 0:
            problems.append(f"{where}: {unrendered_math} math elements not typeset")
        if viewport_name == "phone" and overflow > 4:
            problems.append(f"{where}: page is {overflow}px wider than a phone screen")
        assert shot.exists()
    assert not problems, "\n".join(problems)


def test_screenshots_are_not_blank(built_book, browser):
    from PIL import Image, ImageStat

    shots = sorted(SCREENSHOTS.glob("*.png"))
    assert len(shots) >= 2 * len(content_pages()), "run the page test first (it writes the screenshots)"
    blank = []
    for shot in shots:
        image = Image.open(shot).convert("L")
        stat = ImageStat.Stat(image)
        colours = len(image.getcolors(maxcolors=1 << 16) or range(1 << 16))
        if stat.stddev[0] < 5 or colours < 8:
            blank.append(shot.name)
    assert not blank, f"blank screenshots: {blank}"
