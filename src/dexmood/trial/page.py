"""What the trial page shows besides tables and figures: the banner saying which data it runs on."""

from __future__ import annotations

from IPython.display import Markdown, display

from dexmood.trial.results import RESULTS_ENV, TrialResults


def show_data_banner(results: TrialResults) -> None:
    """Say at the top of the trial page whether the analysis runs on mock data or on a results file."""
    if results.simulated:
        text = ("**Data: MOCK.** The trial's results are not published; the analysis below runs on results "
                "simulated under stated assumptions, not on patients. Fill in `data/trial/results.csv` (or set "
                f"`{RESULTS_ENV}`) and the same analysis runs on the real file.")
    else:
        text = f"**Data: {results.label}.** Results on this page come from this file, not from a simulation."
    display(Markdown(f"```{{important}}\n{text}\n```"))
