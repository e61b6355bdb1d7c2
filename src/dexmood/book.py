"""Small helpers shared by every notebook: set-up, data banner, glue, versions."""

from __future__ import annotations

import importlib.metadata
import platform
import warnings

import pandas as pd
from IPython.display import Markdown, display

from dexmood import plots, reproducibility, tables


def setup_notebook() -> None:
    """Warnings filters, figure theme and pandas display options (first cell of every notebook).

    ArviZ prints a FutureWarning once per day per user cache; filtering it keeps stored outputs stable.
    """
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*os.fork.*")
    warnings.filterwarnings("ignore", message=".*BLAS.*")  # PyTensor notice, only when a C module compiles

    pd.set_option("display.precision", 3)
    pd.set_option("display.width", 120)
    pd.set_option("display.max_columns", 30)
    plots.set_theme()


def data_banner(cohort) -> None:
    """Show, at the top of a page, which data the page analyses (simulated or the user's file)."""

    if cohort.simulated:
        text = ("**Data: SIMULATED.** This page analyses a synthetic cohort calibrated to the published "
                "study (Ren et al. 2025), not real patients. Set `DEXMOOD_COHORT` (or `make book COHORT=…`) "
                "to analyse your own file.")
    else:
        text = f"**Data: {cohort.label}.** Results on this page come from this file, not from a simulation."
    display(Markdown(f"```{{important}}\n{text}\n```"))


def glue_value(name: str, value, fmt: str = "{:.2f}", *, mcse: float | None = None,
               tolerance: float | None = None) -> str:
    """Glue a number as formatted text (for `{glue:text}` in prose) and return the text.

    A Monte-Carlo number (a posterior summary, a bootstrap bound) passes its Monte-Carlo SE `mcse` (in the
    displayed unit; 0 for a deterministic number glued in a Monte-Carlo cell) or an absolute `tolerance`: it is
    then recorded by `dexmood.reproducibility` and checked within its Monte-Carlo error, not digit by digit."""

    from myst_nb import glue  # the book's own dependency ([book] extra), not the package's

    if mcse is not None or tolerance is not None:
        text = reproducibility.record_value(name, value, fmt, mcse=mcse, tolerance=tolerance)
    else:
        text = tables.glue_text(value, fmt)
    glue(name, text, display=False)
    return text


def versions(packages: tuple[str, ...] = ("dexmood", "numpy", "pandas", "scipy", "statsmodels", "scikit-learn",
                                          "pymc", "pytensor", "arviz", "nutpie", "matplotlib", "seaborn")) -> str:
    """Python and package versions used to execute the page (the last cell of every notebook)."""
    lines = [f"Python {platform.python_version()}"]
    for name in packages:
        try:
            lines.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return "\n".join(lines)


def glue_all(values: dict[str, str]) -> None:
    """Glue every (key, text) pair of a page's computed values (see `dexmood.pages`)."""
    for name, text in values.items():
        glue_value(name, text)


def absent_box(cohort, column: str, what: str) -> None:
    """A note box where a section needs a column the analysed file does not have (nothing else shown)."""

    if not cohort.has(column):
        display(Markdown(f"```{{note}}\nThe column `{column}` is not in the data: the analysed file "
                         f"({cohort.source}) has none, so {what} cannot be estimated and this section shows "
                         "nothing.\n```"))
