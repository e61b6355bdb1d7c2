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


BOOK_PDF = "book.pdf"  # written by `make pdf` (tools/build_pdf.py); checked by test_pdf.py when built


def test_every_internal_link_and_image_resolves(built_book):
    pdf_built = (HTML / BOOK_PDF).exists()
    broken = []
    parsed = {page: _parse(page) for page in content_pages()}
    for page, refs in parsed.items():
        for target in refs.links + refs.images:
            url = urlparse(target)
            if url.scheme or target.startswith(("mailto:", "javascript:")):
                continue
            path = (page.parent / unquote(url.path)).resolve() if url.path else page
            if path == (HTML / BOOK_PDF).resolve() and not pdf_built:
                continue
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


def _configured_repository_url() -> str:
    import yaml

    from dexmood import paths

    config = yaml.safe_load((paths.PROJECT_ROOT / "_config.yml").read_text())
    return (config.get("repository") or {}).get("url") or ""


def test_repository_and_launch_buttons_follow_the_one_url(built_book):
    """While repository.url is unset no page links to a repository or Binder; once set, every page does."""
    url = _configured_repository_url()
    buttons = re.compile(r'<a href="([^"]*)"[^>]*class="[^"]*(btn-source-repository-button|btn-launch|'
                         r'btn-source-issues-button|btn-source-edit-button)')
    for page in _book_pages():
        found = buttons.findall(page.read_text(encoding="utf-8"))
        if not url:
            assert not found, f"{page.relative_to(HTML)} has repository/launch buttons {found} while no URL is set"
        else:
            assert any(href.startswith(url) for href, _ in found), f"{page.relative_to(HTML)}: no repository button"


def _book_pages():
    """Content pages except the landing redirect (index.html refreshes to the first page)."""
    return [p for p in content_pages() if 'http-equiv="Refresh"' not in p.read_text(encoding="utf-8")]


def test_every_page_offers_the_whole_book_pdf(built_book):
    for page in _book_pages():
        refs = _parse(page)
        assert any(h.endswith(BOOK_PDF) for h in refs.links), f"{page.relative_to(HTML)}: no book.pdf download"


def test_placeholder_urls_hide_the_buttons():
    from conftest import load_ext

    publication = load_ext("publication")
    assert publication.repository_url({"repository_url": ""}) == ""
    assert publication.repository_url({"repository_url": "https://example.com/x/y"}) == ""
    assert publication.repository_url({"repository_url": "https://github.com/org/book"}) == "https://github.com/org/book"
    hidden, shown = publication.buttons_for(""), publication.buttons_for("https://github.com/org/book")
    assert not hidden["use_repository_button"] and not hidden["launch_buttons"]["binderhub_url"]
    assert shown["use_repository_button"] and shown["launch_buttons"]["binderhub_url"]
