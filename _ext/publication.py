"""The book as a publication: repository/launch buttons from one URL, and the whole-book PDF button.

* The repository URL is set in one place, `repository.url` in `_config.yml`. While it is empty the repository,
  issues and launch (Binder) buttons are hidden instead of pointing to a placeholder; once it is set they all
  appear, and the launch button starts the Binder configuration in `binder/`.
* The page's download menu offers the whole book as one PDF (`book.pdf` at the root of the site, written by
  `make pdf`, see `tools/build_pdf.py`) besides the theme's print-this-page entry.
"""

from __future__ import annotations

BINDERHUB_URL = "https://mybinder.org"
BOOK_PDF = "book.pdf"
PLACEHOLDER_HOSTS = ("example.com", "example.org")


def repository_url(theme_options: dict) -> str:
    """The configured repository URL, or "" when it is unset or an obvious placeholder."""
    url = str(theme_options.get("repository_url") or "").strip()
    if not url.startswith("https://") or any(host in url for host in PLACEHOLDER_HOSTS):
        return ""
    return url


def buttons_for(url: str) -> dict:
    """Theme options that show the repository buttons only when there is a repository to point to."""
    shown = bool(url)
    return {"use_repository_button": shown, "use_issues_button": shown, "use_edit_page_button": False,
            "launch_buttons": {"notebook_interface": "classic", "binderhub_url": BINDERHUB_URL if shown else ""}}


def _configure_buttons(app, config):
    options = dict(config.html_theme_options or {})
    url = repository_url(options)
    options.update(buttons_for(url))
    if not url:
        options.pop("repository_url", None)
    config.html_theme_options = options


def _add_pdf_button(app, pagename, templatename, context, doctree):
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            group["buttons"].insert(0, {
                "type": "link",
                "url": context["pathto"](BOOK_PDF, 1),
                "text": "book (.pdf)",
                "tooltip": "Download the whole book as one PDF",
                "icon": "fas fa-book",
                "label": "download-book-pdf-button",
            })


def setup(app):
    # Before sphinx-book-theme reads the options (builder-inited) and after Jupyter Book wrote them.
    app.connect("config-inited", _configure_buttons, priority=900)
    # After the theme fills the download menu (priority 501).
    app.connect("html-page-context", _add_pdf_button, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
