"""Internal links, images and glued numbers of the built book."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import unquote, urlparse

from conftest import HTML, content_pages


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])


def _parse(page):
    refs = _Refs()
    refs.feed(page.read_text(encoding="utf-8"))
    return refs


def test_every_internal_link_and_image_resolves(built_book):
    broken = []
    parsed = {page: _parse(page) for page in content_pages()}
    for page, refs in parsed.items():
        for target in refs.links + refs.images:
            url = urlparse(target)
            if url.scheme or target.startswith(("mailto:", "javascript:")):
                continue
            path = (page.parent / unquote(url.path)).resolve() if url.path else page
            if not path.exists():
                broken.append(f"{page.relative_to(HTML)} -> {target}")
                continue
            if url.fragment and path.suffix == ".html":
                ids = parsed[path].ids if path in parsed else _parse(path).ids
                if url.fragment not in ids:
                    broken.append(f"{page.relative_to(HTML)} -> {target} (no such anchor)")
    assert not broken, "broken links or images:\n" + "\n".join(broken)


def test_no_unresolved_roles_or_placeholders(built_book):
    pattern = re.compile(r"\{glue:text\}|\{numref\}|\{cite:[tp]\}|\?\?|glue key .* not found")
    offenders = [str(p.relative_to(HTML)) for p in content_pages() if pattern.search(p.read_text(encoding="utf-8"))]
    assert not offenders, f"unrendered roles in: {offenders}"


def test_every_notebook_is_in_the_book(built_book):
    from dexmood import paths

    for notebook in sorted(paths.NOTEBOOKS.glob("*.ipynb")):
        assert (HTML / "notebooks" / f"{notebook.stem}.html").exists(), notebook.name


def test_math_is_served_offline(built_book):
    assert (HTML / "_static" / "mathjax" / "tex-chtml.js").exists()
    for page in content_pages():
        text = page.read_text(encoding="utf-8")
        assert "cdn.jsdelivr.net/npm/mathjax" not in text, page
        if "tex-chtml.js" in text:
            assert "_static/mathjax/tex-chtml.js" in text, page
