"""Print the single-page HTML build of the book to `_build/pdf/book.pdf` with headless Chromium (offline).

`make pdf` runs the notebooks into the execution cache, builds the book with Jupyter Book's `singlehtml` builder
into `_build/singlehtml/`, then calls this script. Chromium is the one the browser checks use (Debian's
`chromium`; never a downloaded one), driven by Playwright; MathJax (served offline from the build) finishes
typesetting before the page is printed, so the formulas, figures (embedded images) and tables come out as on
the web page. The PDF is also copied to `_build/html/book.pdf`, where every page's download menu links to it.

Why not LaTeX: Debian's TeX Live is a large install and Sphinx's LaTeX writer renders the notebooks' HTML
tables (pandas, glued DataFrames) as raw text or drops them; printing the HTML keeps what the reader sees.
Usage: python tools/build_pdf.py [--html _build/singlehtml/index.html] [--out _build/pdf/book.pdf]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
# Print-only adjustments: no navigation chrome, open every collapsed block (code, long tables).
PRINT_CSS = """
@page { size: A4; margin: 16mm 14mm 18mm 14mm; }
.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-header-article, .bd-footer, .prev-next-area,
.toggle-button, button.toggle-button, .headerlink, .copybtn, #pst-back-to-top, .search-button-field,
.skip-link, .bd-footer-article, .bd-footer-content { display: none !important; }
.bd-main .bd-content .bd-article-container { max-width: 100% !important; }
/* As on the web page: collapsed code stays out of the reader's way (not even its "Show code" line). */
.tag_hide-input > details, .tag_hide-input .cell_input, details.hide.above-input { display: none !important; }
/* Nothing is cut at the right margin: outputs do not scroll on paper, long code lines wrap, tables shrink. */
.cell_output, .output, div.highlight, .table-wrapper, .bd-article table { overflow: visible !important; }
pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
.bd-article table { display: table !important; max-width: 100% !important; font-size: 8pt; }
.bd-article table td, .bd-article table th { overflow-wrap: anywhere; padding: 0.15em 0.35em !important; }
table.dexmood-long-table { max-height: none !important; }
figure, img, .math { break-inside: avoid; }
h1, h2, h3, caption { break-after: avoid; }
"""


def find_chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    if not found:
        sys.exit("error: Chromium not found; install Debian's `chromium` (make browser-setup)")
    return found


def print_pdf(html: Path, out: Path, timeout_ms: int = 180_000) -> int:
    """Print `html` to `out`; returns the number of pages."""
    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader

    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1400})
        page.set_default_timeout(timeout_ms)
        page.goto(html.resolve().as_uri(), wait_until="load")
        # not "networkidle": on file:// pages Chromium may never report it (a missing optional file such as
        # searchindex.js, which the single-page builder does not write, leaves it pending); wait for what the
        # print needs instead: fonts, MathJax's typesetting and every image
        page.evaluate("() => document.fonts ? document.fonts.ready.then(() => true) : true")
        page.wait_for_function("() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)")
        page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => Promise.all(Array.from(document.images).map(i => i.complete ? null : "
                      "new Promise(r => { i.onload = i.onerror = r; })))")
        page.add_style_tag(content=PRINT_CSS)
        page.emulate_media(media="print")
        page.pdf(path=str(out), format="A4", print_background=True, display_header_footer=True,
                 header_template="<span></span>",
                 footer_template='<div style="font-size:8px;width:100%;text-align:center;color:#555">'
                                 '<span class="title"></span> — <span class="pageNumber"></span> / '
                                 '<span class="totalPages"></span></div>',
                 margin={"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"},
                 outline=True, tagged=True)
        browser.close()
    return len(PdfReader(str(out)).pages)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=None, help="default: the book's root page in _build/singlehtml")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "pdf" / "book.pdf")
    args = parser.parse_args(argv)
    if args.html is None:  # index.html only redirects to the root page, which holds the whole book
        import yaml

        root = yaml.safe_load((ROOT / "_toc.yml").read_text())["root"]
        args.html = ROOT / "_build" / "singlehtml" / f"{root}.html"
    if not args.html.exists():
        sys.exit(f"error: {args.html} not found; build it with `jupyter-book build . --builder singlehtml`")
    pages = print_pdf(args.html, args.out)
    site = ROOT / "_build" / "html"
    if site.is_dir():
        shutil.copy2(args.out, site / "book.pdf")
    print(f"PDF: {args.out} ({pages} pages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
