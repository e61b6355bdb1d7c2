"""Serve MathJax 3 from the build folder so that math renders offline.

The PyPI package `sphinx-mathjax-offline` (pinned in requirements.lock) ships MathJax 3 but installs under a
folder name that cannot be imported, so this extension finds its files through the package metadata and copies
them to `_static/mathjax/` after the build (copying at the end avoids one script tag per file).
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

from sphinx.util.fileutil import copy_asset


def _mathjax_dir() -> Path:
    dist = importlib.metadata.distribution("sphinx-mathjax-offline")
    for file in dist.files or []:
        if file.name == "tex-chtml.js":
            return Path(dist.locate_file(file)).parent
    raise RuntimeError("MathJax files of sphinx-mathjax-offline not found; reinstall from requirements.lock")


def _copy(app, exc):
    if exc is None and app.builder.format == "html":
        copy_asset(str(_mathjax_dir()), os.path.join(app.outdir, "_static", "mathjax"))


def setup(app):
    _mathjax_dir()  # fail early, with a clear message, if the files are missing
    app.config.mathjax_path = "mathjax/tex-chtml.js"
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
