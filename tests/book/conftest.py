"""Checks of the built book in `_build/html` (run by `make test` after `make book`)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from dexmood import paths

HTML = paths.PROJECT_ROOT / "_build" / "html"
SCREENSHOTS = paths.PROJECT_ROOT / "_build" / "screenshots"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
VIEWPORTS = {"desktop": {"width": 1280, "height": 1600}, "phone": {"width": 390, "height": 844}}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def content_pages() -> list[Path]:
    """Every page of the book a reader can navigate to (not Sphinx's search/index pages)."""
    skip = {"genindex.html", "search.html", "py-modindex.html"}
    return sorted(p for p in HTML.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts)


@pytest.fixture(scope="session")
def built_book() -> Path:
    if not (HTML / "index.html").exists():
        pytest.fail("the book is not built: run `make book` first (make test does it)")
    return HTML


@pytest.fixture(scope="session")
def chromium_path() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    if found:
        return found
    pytest.skip("Chromium is not installed and could not be installed (`make browser-setup` needs apt-get); "
                "browser checks skipped")


@pytest.fixture(scope="session")
def browser(chromium_path):
    """One headless Chromium (Debian's, never a downloaded one) for every browser check."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, page_path: Path, viewport_name: str = "desktop"):
    """(context, page) with `page_path` loaded and MathJax finished; the caller closes the context."""
    context = browser.new_context(viewport=VIEWPORTS[viewport_name])
    page = context.new_page()
    page.goto(page_path.as_uri(), wait_until="load")
    settle(page)
    return context, page


def settle(page) -> None:
    """Wait until a loaded page has its images and typeset math (robust on a busy 2-core machine)."""
    try:  # "networkidle" can take long when the machine is busy; "load" has fired, so wait for images instead
        page.wait_for_load_state("networkidle", timeout=20_000)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError
        page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
    # MathJax typesets asynchronously; wait until it says it is done (pages without math resolve at once).
    page.wait_for_function("() => !window.MathJax || !MathJax.startup || MathJax.startup.promise !== undefined")
    page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")


def load_ext(name: str):
    """Import `_ext/<name>.py` (the book's local Sphinx extensions)."""
    return load_tool(name, folder="_ext")


def load_tool(name: str, folder: str = "tools"):
    """Import `tools/<name>.py` (the tools are scripts, not a package)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, paths.PROJECT_ROOT / folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
