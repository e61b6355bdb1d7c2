"""Small fixes to the Jupyter Book 1.x page output, checked by the browser test.

Jupyter Book and sphinx-book-theme both emit sphinx-thebe's and togglebutton's inline configuration scripts,
so every page declared `const THEBE_JS_URL` twice and the browser reported a JavaScript error. After the
build, a repeated identical inline `<script>` line in a page's head is removed.
"""

from __future__ import annotations

import re
from pathlib import Path

INLINE_SCRIPT = re.compile(r"^\s*<script>[^<]*</script>\s*$")


def dedupe_inline_scripts(html: str) -> str:
    seen: set[str] = set()
    lines = []
    for line in html.splitlines(keepends=True):
        if INLINE_SCRIPT.match(line):
            if line.strip() in seen:
                continue
            seen.add(line.strip())
        lines.append(line)
    return "".join(lines)


def _fix_pages(app, exc):
    if exc is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        fixed = dedupe_inline_scripts(text)
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")


def setup(app):
    app.connect("build-finished", _fix_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
